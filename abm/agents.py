"""The two kinds of agent: regional states and the external powers that court them.

States hold their ties to every power per domain (a 3 x M array of tie strengths and
the step each tie expires), the share of each domain held by partners the model does
not name ("other"), domestic opinion toward each power, memberships, and the memory of
who coerced them. Ties are in one unit: a domain's share of the state's flows at the
start, so the start's shares and the stock that offers build are the same quantity.
Their *material* alignment is their share of all tie strength (other partners
included) with each power; their *declared* alignment tilts it by opinion and
autonomy, so a state can talk distance from a patron while keeping practical ties
(@abrahamyan2025).

A state's arrays are views into the model's N x ... arrays, so the model can value and
settle a whole step's offers at once while rules and events still act on one state.

Powers hold budgets per domain, interests in states, rivalries, conditions and coercive
tools, and learn which states accept their offers.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.offers import DOMAIN_INDEX, DOMAINS
from abm.units import LIMIT

# Per-state arrays the model holds for all states at once (name -> shape after N).
STATE_ARRAYS = {
    "ties": ("domains", "powers"),  # tie strength per domain and power
    "other": ("domains",),  # tie strength held by partners the model does not name
    "expiry": ("domains", "powers"),  # step at which each tie's offer runs out
    "credibility": ("powers",),  # belief that each power keeps its commitments, 0 .. 1
    "opinion": ("powers",),  # domestic opinion toward each power, -1 .. 1
    "opinion_anchor": ("powers",),  # long-run opinion (history, identity)
    "fear": ("powers",),  # expected punishment from each power, raised by coercion
    "gained": ("powers",),  # tie strength gained from each power this step
    "harmed": ("powers",),  # coercion suffered from each power this step
    "defections": ("powers",),  # remembered defections from each power (decaying): reported, read by no rule
}


class RegionalState(mesa.Agent):
    """A regional state: weighs offers, keeps ties, and hedges or aligns."""

    def __init__(self, model, key: str, index: int, spec, power_index: dict[str, int]):
        super().__init__(model)
        self.key = key
        self.index = index
        self.name = spec.name
        self.subregion = spec.subregion
        self.lat, self.lon = spec.lat, spec.lon
        self.gdp_growth = spec.gdp_growth
        self.borders = set(spec.borders)
        self.bases = set(spec.bases)
        self.population = spec.population
        self.governance = spec.governance
        self.autonomy = spec.autonomy
        self.threat = spec.threat
        self.needs = np.array([spec.needs.get(d) for d in DOMAINS])
        self.memberships = set(spec.memberships)
        for name in STATE_ARRAYS:
            setattr(self, name, getattr(model, name)[index])  # a view: writes go to the model
        for p, value in spec.opinion.items():
            self.opinion[power_index[p]] = value
        self.opinion_anchor[:] = self.opinion
        for domain, shares in spec.ties.items():
            for p, value in shares.items():
                self.ties[DOMAIN_INDEX[domain], power_index[p]] = value
        self.other[:] = np.maximum(0.0, 1.0 - self.ties.sum(axis=1))  # a domain without data is all 'other'
        self.expiry[:] = np.where(self.ties > 0, model.config.offers.duration, 0)
        self.damage = 0.0  # welfare lost to coercion and conflict, decays

    @property
    def gdp(self) -> float:
        """GDP now, USD bn: the scenario's on its growth path (the model keeps the array)."""
        return float(self.model.gdp[self.index])

    @property
    def external_trade(self) -> float:
        """Trade with partners outside the region now, USD bn a year: the scenario's, grown with GDP."""
        return float(self.model.external_trade[self.index] * self.model.gdp[self.index] / self.model.gdp0[self.index])

    @property
    def alignment(self) -> np.ndarray:
        """Material alignment: share of the state's tie strength with each power."""
        return self.model.alignment[self.index]

    @property
    def declared(self) -> np.ndarray:
        """Declared alignment: material alignment tilted by ``exp(autonomy * opinion)``."""
        return self.model.declared[self.index]

    @property
    def dependency_hhi(self) -> float:
        """Herfindahl-Hirschman index of the state's ties over the modelled powers
        (0 with no ties to any of them, 1 with all ties to one)."""
        a = self.alignment
        return float(a @ a)

    @property
    def welfare(self) -> float:
        """Benefit from ties (concave in strength, weighted by need) plus regional trade
        and transit revenue relative to GDP, minus damage from coercion and conflict.
        An index, not money; as of the last measurement (``RegionModel.measure``)."""
        return float(self.row[-1])

    @property
    def row(self) -> np.ndarray:
        """The state's values of the per-state columns (:func:`abm.scenario.state_columns`),
        as of the last measurement."""
        return self.model.state_table[self.index]

    def suffer(self, power: int, harm: float) -> None:
        self.damage += harm
        self.harmed[power] += harm


class ExternalPower(mesa.Agent):
    """An external power: allocates budgets, attaches conditions, coerces defectors."""

    def __init__(self, model, key: str, index: int, spec, state_index: dict[str, int], power_index: dict[str, int]):
        super().__init__(model)
        self.key = key
        self.index = index
        self.name = spec.name
        self.color = spec.color
        self.budget = np.array([spec.budget.get(d) for d in DOMAINS])  # new money per step
        self.commitment = np.ones(len(DOMAINS))  # standing offers kept, relative to the start
        self.inward = False  # turned inward by an election (abm.events.Election) ...
        self.course = 1.0  # ... which then spends this share of its commitments and budget
        # views into the model's powers x states arrays
        self.interests = model.interests[index]
        self.offers_to = model.offers_to[index]  # offers made to each state (discounted), for adaptive allocation
        self.accepted_by = model.accepted_by[index]  # of which accepted
        self.interests[:] = spec.default_interest
        for s, value in spec.interests.items():
            self.interests[state_index[s]] = value
        self.rivals = np.zeros(len(power_index))
        for r, value in spec.rivals.items():
            self.rivals[power_index[r]] = value
        self.governance_demand = spec.conditions.governance
        self.exclusivity = [power_index[r] for r in spec.conditions.exclusivity]
        self.club = spec.conditions.club
        self.credibility = spec.credibility  # base credibility; each state's belief is model.credibility
        self.capability = spec.capability
        self.propensity = spec.coercion.propensity
        self.tools = list(spec.coercion.tools)

    def scale_spending(self, factor: float, domains=DOMAINS) -> None:
        """Multiply the power's spending in ``domains``: its standing offers (commitment)
        and its new money (budget) alike, each up to ``LIMIT``, the bound of every input:
        a shock that fires every step compounds, and took spending past float range."""
        for d in domains:
            for spending in (self.budget, self.commitment):
                spending[DOMAIN_INDEX[d]] = min(spending[DOMAIN_INDEX[d]] * factor, LIMIT)
