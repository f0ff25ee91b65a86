"""How much new money a power brings each period beyond its scenario's budget.

A scenario gives each power its new money (``powers.<p>.budget``, USD bn a quarter per
domain). Under ``fixed`` that is all it ever brings: competition moves standing offers
between states (the allocation rule) and coerces defectors, but cannot escalate, since no
power answers a rival's money with more of its own. The design brief asks for powers
that "react to acceptances and defections: they renew, outbid, or coerce"; ``outbid`` is
the outbidding, a race of offers whose gain decides whether it settles or runs away.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class SpendingRule(Rule):
    family = "spending"

    def answer(self, model) -> np.ndarray:
        """The new money each power adds next period to its budget, powers x domains (USD
        bn a quarter), from what the states took this period."""
        return model.answered


@register
class Fixed(SpendingRule):
    """New money is the scenario's budget, changed only by events (the control case)."""

    name = "fixed"


@register
class Outbid(SpendingRule):
    """A power answers its rivals' new money, in kind, in the states it cares about.

    Next period, in each domain, it adds ``response`` times the new money its rivals had
    taken in that domain this period, each state weighted by the power's interest in it
    (``sum_s interest[p, s] * sum_r rival[r, p] * taken[s, d, r]``; new money is what an
    offer brings beyond renewing the start's ties, :meth:`abm.model.RegionModel.decide_offers`),
    up to ``ceiling``. The answer is to the last period only, so it stops when the rivals
    stop. Answers taken are new money the rivals answer in turn: the loop settles at a
    finite level while ``response`` times the largest eigenvalue of the network that carries
    money taken into answers (rivals, interests, allocation shares, shares taken) stays
    below 1, and every power races to the ceiling above it (docs/ODD.md 7.18).
    """

    name = "outbid"

    class Params(RuleParams):
        response: float = Field(1.0, ge=0.0, le=10.0, description="new money added per USD bn of rivals' new money taken in the power's states (interest-weighted)")
        ceiling: float = Field(1.0, ge=0.0, le=100.0, description="most new money a power adds in answer, USD bn a quarter per domain")

    def answer(self, model) -> np.ndarray:
        rivals = model.new_money_taken @ model.rival_mask  # [s, d, p]: new money of p's rivals taken by s in domain d
        weighted = np.einsum("ps,sdp->pd", model.interests, rivals)
        return np.minimum(self.params.response * weighted, self.params.ceiling)
