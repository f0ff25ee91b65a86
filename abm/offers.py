"""Offers: one power's proposal to one state in one domain, and how a state values it.

An offer carries a size (USD bn) and a duration (steps the tie lasts before renewal);
the offerer's conditions are the model's, per (state, power) (``RegionModel.conditions``).
A step's offers are held together in an :class:`Offers` batch (one array entry per
offer) and valued at once by :func:`evaluate`, so that the cost of a step grows linearly
with the number of offers. States consider the offers of a period together, against the
ties they had at its start: no offer's fate depends on the order in which offers happen
to be listed.

The utility decomposes into the five terms of the design brief (need, dependence,
conditions, backlash, opinion) plus the organisations' and corridors' terms; the
decision rules in :mod:`abm.rules.decision` turn it into accept or reject.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DOMAINS = ("investment", "security", "trade")
DOMAIN_INDEX = {d: i for i, d in enumerate(DOMAINS)}


@dataclass(slots=True)
class Offers:
    """A batch of offers, one entry per offer in each array."""

    power: np.ndarray  # index of the offering power
    state: np.ndarray  # index of the recipient state
    domain: np.ndarray  # index into DOMAINS
    size: np.ndarray  # USD bn
    duration: np.ndarray  # steps
    maintenance: np.ndarray | None = None  # part of the size that renews the start's ties, at most the standing offer (USD bn); the rest is new spending
    accepted: np.ndarray | None = None
    terms: dict[str, np.ndarray] = field(default_factory=dict)  # utility terms, for inspection

    def __len__(self) -> int:
        return len(self.power)

    @classmethod
    def of(cls, power, state, domain, size, duration=8) -> Offers:
        """Offers from scalars or sequences (e.g. one offer, to inspect its terms)."""
        arrays = np.broadcast_arrays(*(np.atleast_1d(x) for x in (power, state, domain, size, duration)))
        p, s, d, size_, dur = arrays
        return cls(p.astype(int), s.astype(int), d.astype(int), size_.astype(float), dur.astype(int))



def pair_terms(model) -> dict[str, np.ndarray]:
    """The utility terms that depend only on (state, power), as states x powers arrays."""
    return {
        "conditions": model.conditions + model.organisations.obligation,
        "backlash": model.backlash,
        "opinion": model.opinion,
        "leverage": model.network.leverage,
    }


def evaluate(offers: Offers, model) -> np.ndarray:
    """Utility of each offer to its recipient, per unit of tie strength it adds.

    Measuring utility per unit keeps the decision independent of how a budget happens
    to be split into offers, and keeps noise and thresholds on a fixed scale.

    * need: the state's need in the domain (security need rises with threat), times
      ``log(1 + gain) / gain``, the diminishing return of a large offer; ``gain`` is
      the offer's size relative to GDP, discounted by the state's belief in the
      offerer's credibility (a patron that walked away is believed less, @dipirro2025);
    * dependence: the marginal rise of the state's patron concentration (HHI over the
      modelled powers, in shares of all its ties) per unit gained, scaled by the
      state's preference for autonomy. It is negative, a bonus, for offers from minor
      partners, which diversify ("diversification equals resilience", @gusseinov2025);
    * conditions: the governance gap the offerer demands and joining its club, scaled by
      autonomy, plus the share of ties to rivals that exclusivity would cost, plus the
      obligation of a club the state belongs to that excludes the offerer;
    * backlash: the punishment the state expects from the offerer's rivals present in it;
    * opinion: domestic opinion toward the offerer;
    * leverage: the offerer's leverage as sponsor of the corridors crossing the state;
    * organisations also raise the value of their patrons' offers to members (bonus).

    ``offers.terms`` keeps ``gain``, ``value`` and ``dependence`` per offer; see
    :func:`explain` for every term of a few offers.
    """
    w = model.config.utility
    s, p, d = offers.state, offers.power, offers.domain
    gain = model.credibility[s, p] * offers.size / (model.gdp[s] * model.config.offers.scale)
    valid = gain > 0
    safe = np.where(valid, gain, 1.0)
    need = model.needs[s, d]
    need = np.where(d == DOMAIN_INDEX["security"], np.maximum(need, model.threat[s]), need)
    value = need * np.log1p(safe) / safe * (1.0 + model.organisations.bonus[s, p, d])
    strength, sumsq = model.strength[s, p], model.sumsq[s]
    everything = model.total[s] + model.other_total[s]  # other partners dilute dependence too
    before = sumsq / np.where(everything > 0, everything, 1.0) ** 2
    after = (sumsq - strength**2 + (strength + safe) ** 2) / (everything + safe) ** 2
    # a state with no partners at all has no dependence to fear: its first patron is not a risk
    dependence = np.where(everything > 0, model.autonomy[s] * (after - before) / safe, 0.0)
    t = pair_terms(model)
    pair = -w.conditions * t["conditions"] - w.backlash * t["backlash"] + w.opinion * t["opinion"] + w.corridor * t["leverage"]
    utility = w.need * value - w.dependence * dependence + pair[s, p]
    offers.terms = {"gain": np.where(valid, gain, 0.0), "value": value, "dependence": dependence}
    return np.where(valid, utility, -np.inf)


def explain(offers: Offers, model) -> dict[str, np.ndarray]:
    """Every term of each offer's utility, weighted as in :func:`evaluate`, and their
    sum (``utility``): for reading a decision, not for the hot path."""
    w = model.config.utility
    utility = evaluate(offers, model)
    s, p = offers.state, offers.power
    t = pair_terms(model)
    return {
        "gain": offers.terms["gain"],
        "need": w.need * offers.terms["value"],
        "dependence": -w.dependence * offers.terms["dependence"],
        "conditions": -w.conditions * t["conditions"][s, p],
        "backlash": -w.backlash * t["backlash"][s, p],
        "opinion": w.opinion * t["opinion"][s, p],
        "leverage": w.corridor * t["leverage"][s, p],
        "utility": utility,
    }
