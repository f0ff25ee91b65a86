"""How freight chooses among the routes of a market, given their generalized costs.

Each rule turns a vector of generalized costs (USD per tonne) into shares summing to 1;
:func:`abm.corridors.assign` then caps the shares by capacity and spills the excess.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class RouteChoiceRule(Rule):
    family = "route_choice"

    @abstractmethod
    def shares(self, gcs: np.ndarray) -> np.ndarray:
        ...


@register
class Logit(RouteChoiceRule):
    """Multinomial logit, ``share_i = exp(-beta gc_i) / sum_j exp(-beta gc_j)``.

    Random-utility route choice: shippers see gc plus i.i.d. Gumbel noise of scale
    1/beta and pick the best, so cheaper routes get more but never all the freight
    (Ben-Akiva & Lerman 1985, ch. 5).
    """

    name = "logit"

    class Params(RuleParams):
        beta: float = Field(0.05, gt=0.0, le=100.0, description="cost sensitivity, per USD/t")

    def shares(self, gcs):
        gcs = np.asarray(gcs, dtype=float)
        w = np.exp(-self.params.beta * (gcs - gcs.min()))  # shift by min: no overflow, same shares
        return w / w.sum()


@register
class Cheapest(RouteChoiceRule):
    """All-or-nothing: all demand to the lowest-cost route, ties to the first listed."""

    name = "cheapest"

    def shares(self, gcs):
        gcs = np.asarray(gcs, dtype=float)
        out = np.zeros_like(gcs)
        out[int(np.argmin(gcs))] = 1.0
        return out


@register
class Proportional(RouteChoiceRule):
    """Shares proportional to 1 / gc: a gentler cost response than logit, scale-free.
    Routes that cost nothing (no cost, and time and risk unpriced or nil: an upgrade can
    cut a route's time to 0) take the whole market, split evenly: the limit of 1 / gc as
    a route's cost falls to 0."""

    name = "proportional"

    def shares(self, gcs):
        gcs = np.asarray(gcs, dtype=float)
        free = gcs <= 0
        if free.any():
            return free / free.sum()
        w = 1.0 / gcs
        return w / w.sum()
