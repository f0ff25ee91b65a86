"""How a power's credibility in each state rises and falls with what it delivers.

A patron's offers are worth what its commitments are believed to be (@dipirro2025).
Credibility is held per state and power (``model.credibility``, states x
powers): Armenia's belief in Russia's guarantee need not be Kazakhstan's. It scales
the ties an accepted offer adds (:func:`abm.offers.evaluate`) and the worth of a club's
guarantees in the membership calculus, so a patron that fails to deliver loses ties
and members, and one that delivers gains them.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from abm.offers import DOMAIN_INDEX
from abm.rules.registry import Rule, RuleParams, register


class CredibilityRule(Rule):
    family = "credibility"

    def update(self, model) -> None:
        """Move credibility once a step (after offers were made)."""

    def guarantee_called(self, model, victim: int, attacker: int, rng: np.random.Generator) -> list[tuple[str, dict]]:
        """A clash hit ``victim``: the security guarantees it holds are called on, each
        decided by a draw from ``rng`` (the model's ``guarantees`` stream, or a clash
        event's own, so that an event does not move the draws of the model's clashes).
        Returns what happened, for the event log: (kind, parameters)."""
        return []


@register
class Fixed(CredibilityRule):
    """Credibility changes only through scenario events (the control case)."""

    name = "fixed"


@register
class Delivery(CredibilityRule):
    """Credibility follows delivery.

    * Commitments: each step credibility moves by ``recovery`` toward the power's base
      credibility times the share of its standing offers it still makes to the state
      (a patron that cuts its commitments after an election is believed less where it
      cut them; one that keeps them slowly regains belief lost earlier).
    * Guarantees: when a member of a club with security benefits suffers a clash, the
      club's leader comes to its help with probability ``interest(victim) /
      (interest(victim) + interest(attacker))``: a patron torn between the two sides
      hesitates (the CSTO and Armenia, 2020-2023, @abrahamyan2025). Honoured, the victim's
      belief rises by ``honoured`` of the room left; failed, it falls by ``failed`` of
      its level; the club's other members learn ``spread`` of the lesson.
    """

    name = "delivery"

    class Params(RuleParams):
        recovery: float = Field(0.02, ge=0.0, le=1.0, description="share of the gap to the delivered level closed per step")
        honoured: float = Field(0.1, ge=0.0, le=1.0, description="rise, as a share of the room to 1, when a guarantee is honoured")
        failed: float = Field(0.3, ge=0.0, le=1.0, description="fall, as a share of the level, when a guarantee fails")
        spread: float = Field(0.3, ge=0.0, le=1.0, description="share of the lesson the club's other members learn")

    def update(self, model):
        base = np.array([p.credibility for p in model.powers])
        target = base[None, :] * np.minimum(1.0, model.delivery)
        model.credibility += self.params.recovery * (target - model.credibility)

    def guarantee_called(self, model, victim, attacker, rng):
        p = self.params
        log = []
        security = DOMAIN_INDEX["security"]
        for org in model.organisations:
            if org.leader is None or victim not in org.active or org.benefits[security] <= 0:
                continue
            leader = org.leader
            want_victim = model.interests[leader, victim]
            want_attacker = model.interests[leader, attacker]
            chance = want_victim / (want_victim + want_attacker) if want_victim + want_attacker > 0 else 0.0
            honoured = bool(rng.random() < chance)
            others = [s for s in org.active if s != victim]
            c = model.credibility[:, leader]
            if honoured:
                c[victim] += p.honoured * (1.0 - c[victim])
                c[others] += p.spread * p.honoured * (1.0 - c[others])
            else:
                c[victim] -= p.failed * c[victim]
                c[others] -= p.spread * p.failed * c[others]
            kind = "guarantee_honoured" if honoured else "guarantee_failed"
            log.append((kind, {"organisation": org.key, "power": model.power_keys[leader], "state": model.state_keys[victim]}))
        return log
