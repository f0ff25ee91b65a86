"""The two kinds of agent: regional states and the external powers that court them.

States hold their ties to every power per domain (a 3 x M array of tie strengths and
the step each tie expires), domestic opinion toward each power, memberships, and the
memory of who coerced them. Their *material* alignment is their share of tie strength
with each power; their *declared* alignment tilts it by opinion and autonomy, so a state
can talk distance from a patron while keeping practical ties (seed 003, Abrahamyan).

Powers hold budgets per domain, interests in states, rivalries, conditions and coercive
tools, and learn which states accept their offers.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.offers import DOMAIN_INDEX, DOMAINS


class RegionalState(mesa.Agent):
    """A regional state: weighs offers, keeps ties, and hedges or aligns."""

    def __init__(self, model, key: str, index: int, spec, power_keys: list[str]):
        super().__init__(model)
        m = len(power_keys)
        self.key = key
        self.index = index
        self.label = spec.name
        self.subregion = spec.subregion
        self.lat, self.lon = spec.lat, spec.lon
        self.gdp = spec.gdp
        self.population = spec.population
        self.governance = spec.governance
        self.autonomy = spec.autonomy
        self.threat = spec.threat
        self.needs = np.array([spec.needs.get(d) for d in DOMAINS])
        self.memberships = set(spec.memberships)
        self.external_trade = spec.external_trade
        self.opinion = np.zeros(m)
        for p, value in spec.opinion.items():
            self.opinion[power_keys.index(p)] = value
        self.opinion_anchor = self.opinion.copy()
        self.ties = np.zeros((len(DOMAINS), m))
        for domain, shares in spec.ties.items():
            for p, value in shares.items():
                self.ties[DOMAIN_INDEX[domain], power_keys.index(p)] = value
        self.expiry = np.where(self.ties > 0, model.config.offers.duration, 0)
        self.fear = np.zeros(m)  # expected punishment from each power, raised by coercion
        self.damage = 0.0  # welfare lost to coercion and conflict, decays
        self.gained = np.zeros(m)  # tie strength gained from each power this step
        self.harmed = np.zeros(m)  # coercion suffered from each power this step
        self.rejections = np.zeros(m)  # remembered refusals (decaying)
        self.defections = np.zeros(m)  # remembered defections from each power (decaying)
        self.refresh()

    # ------------------------------------------------------------------ derived state
    def refresh(self) -> None:
        """Recompute aggregates after ties change (once per step, O(M))."""
        self.strength = self.ties.sum(axis=0)
        self.total = float(self.strength.sum())
        self.sumsq = float(self.strength @ self.strength)
        m = len(self.strength)
        self.alignment = self.strength / self.total if self.total > 0 else np.full(m, 1.0 / m)
        tilt = self.alignment * np.exp(self.autonomy * self.opinion)
        self.declared = tilt / tilt.sum()

    @property
    def dependency_hhi(self) -> float:
        """Herfindahl-Hirschman index of the state's ties over patrons (1/M .. 1)."""
        return float(self.alignment @ self.alignment)

    @property
    def welfare(self) -> float:
        """Benefit from ties (concave in strength, weighted by need) plus regional trade
        and transit revenue relative to GDP, minus damage from coercion and conflict.
        An index, not money."""
        benefit = float(self.needs @ np.log1p(self.ties.sum(axis=1)))
        earnings = self.model.regional_trade_of(self.index) + self.model.network.revenue[self.index]
        return benefit + earnings / self.gdp - self.damage

    def need(self, domain: int) -> float:
        need = self.needs[domain]
        return max(need, self.threat) if domain == DOMAIN_INDEX["security"] else need

    def hhi_increase(self, power: int, gain: float) -> float:
        """Change in patron HHI if ``gain`` tie strength is added with ``power``: O(1)."""
        before = self.sumsq / self.total**2 if self.total > 0 else 1.0 / len(self.strength)
        s = self.strength[power]
        after = (self.sumsq - s * s + (s + gain) ** 2) / (self.total + gain) ** 2
        return after - before

    def share_after(self, power: int, gain: float) -> float:
        return (self.strength[power] + gain) / (self.total + gain)

    # ------------------------------------------------------------------ actions
    def accept(self, offer, gain: float) -> None:
        """Turn an accepted offer into a tie (or renew the existing one)."""
        d, p = offer.domain, offer.power
        self.ties[d, p] += gain
        self.expiry[d, p] = max(self.expiry[d, p], self.model.steps + offer.duration)
        self.strength[p] += gain
        self.sumsq += (self.strength[p]) ** 2 - (self.strength[p] - gain) ** 2
        self.total += gain
        self.gained[p] += gain

    def reject(self, offer) -> None:
        self.rejections[offer.power] += 1

    def suffer(self, power: int, harm: float) -> None:
        self.damage += harm
        self.harmed[power] += harm


class ExternalPower(mesa.Agent):
    """An external power: allocates budgets, attaches conditions, coerces defectors."""

    def __init__(self, model, key: str, index: int, spec, state_keys: list[str], power_keys: list[str]):
        super().__init__(model)
        n = len(state_keys)
        self.key = key
        self.index = index
        self.label = spec.name
        self.color = spec.color
        self.budget = np.array([spec.budget.get(d) for d in DOMAINS])
        self.interests = np.full(n, spec.default_interest)
        for s, value in spec.interests.items():
            self.interests[state_keys.index(s)] = value
        self.rivals = np.zeros(len(power_keys))
        for r, value in spec.rivals.items():
            self.rivals[power_keys.index(r)] = value
        self.governance_demand = spec.conditions.governance
        self.exclusivity = [power_keys.index(r) for r in spec.conditions.exclusivity]
        self.club = spec.conditions.club
        self.credibility = spec.credibility
        self.capability = spec.capability
        self.propensity = spec.coercion.propensity
        self.tools = list(spec.coercion.tools)
        self.offers_to = np.zeros(n)  # offers made to each state (decaying), for adaptive allocation
        self.accepted_by = np.zeros(n)  # of which accepted

    def condition_cost(self, state: RegionalState) -> float:
        """What complying with this power's conditions would cost ``state``."""
        gap = max(0.0, self.governance_demand - state.governance)
        exclusive = float(state.alignment[self.exclusivity].sum()) if self.exclusivity else 0.0
        club = 0.5 if self.club is not None and self.club not in state.memberships else 0.0
        return state.autonomy * (gap + club) + exclusive
