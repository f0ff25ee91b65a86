"""Offers: one power's proposal to one state in one domain, and how a state values it.

An offer carries a size (USD bn), a duration (steps the tie lasts before renewal) and
the offerer's conditions. Its value to the recipient is decomposed into the five terms
of the design brief (need, dependence, conditions, backlash, opinion); the decision
rules in :mod:`abm.rules.decision` turn that utility into accept or reject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DOMAINS = ("investment", "security", "trade")
DOMAIN_INDEX = {d: i for i, d in enumerate(DOMAINS)}


@dataclass(slots=True)
class Offer:
    power: int  # index of the offering power
    state: int  # index of the recipient state
    domain: int  # index into DOMAINS
    size: float  # USD bn
    duration: int  # steps
    accepted: bool = False
    terms: dict[str, float] = field(default_factory=dict)  # utility terms, for inspection


def evaluate(state, power, offer: Offer, model) -> float:
    """Utility of ``offer`` to ``state`` per unit of tie strength it adds.

    Measuring utility per unit keeps the decision independent of how a budget happens
    to be split into offers, and keeps noise and thresholds on a fixed scale.

    * need: the state's need in the domain (security need rises with threat), times
      ``log(1 + gain) / gain``, the diminishing return of a large offer; ``gain`` is
      the offer's size relative to GDP, discounted by the offerer's credibility (a
      patron that walked away is believed less, seed 001);
    * dependence: the marginal rise of the state's patron concentration (HHI) per unit
      gained, scaled by the state's preference for autonomy. It is negative, a bonus,
      for offers from minor partners, which diversify ("diversification equals
      resilience", seed 004);
    * conditions: the governance gap the offerer demands and joining its club, scaled by
      autonomy, plus the share of ties to rivals that exclusivity would cost;
    * backlash: the punishment the state expects from the offerer's rivals present in it;
    * opinion: domestic opinion toward the offerer;
    * organisations: a club's or format's bonus raises the value of its patrons' offers
      to members; a club's exclusion of the offerer adds an obligation cost;
    * corridors: the offerer's leverage as sponsor of the routes crossing the state.
    """
    w = model.config.utility
    gain = power.credibility * offer.size / (state.gdp * model.config.offers.scale)
    if gain <= 0:
        offer.terms = {"gain": 0.0, "dependence": 0.0}
        return float("-inf")
    s, p = state.index, offer.power
    orgs = model.organisations
    value = state.need(offer.domain) * math.log1p(gain) / gain * (1.0 + orgs.bonus[s, p, offer.domain])
    dependence = state.autonomy * state.hhi_increase(offer.power, gain) / gain
    conditions = power.condition_cost(state) + orgs.obligation[s, p]
    backlash = model.backlash[s, p]
    opinion = state.opinion[offer.power]
    offer.terms = {"gain": gain, "dependence": dependence}
    return (
        w.need * value
        - w.dependence * dependence
        - w.conditions * conditions
        - w.backlash * backlash
        + w.opinion * opinion
        + w.corridor * model.network.leverage[s, p]
    )
