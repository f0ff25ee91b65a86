"""How neighbouring regional states relate: conflict, peace and trade between them.

Relations live on pairs of neighbours (``model.pairs``): a relation in [-1, 1], an open
or closed border, and bilateral trade. The ``interdependence`` rule is the liberal
mechanism (trade grows with open borders and shared membership, and trade breeds
peace; Russett & Oneal 2001) set against the spill-over of the patrons' rivalry into
the neighbours' relations (a state aligned with one power and its neighbour with that
power's rival inherit the rivalry; @tolipov2025 on the South Caucasus). Both forces act
on changes since the pair's settlement, so a world where nothing changes keeps its
relations.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class NeighboursRule(Rule):
    family = "neighbours"

    @abstractmethod
    def update(self, pairs, model) -> None:
        """Advance relations one step; report clashes through ``model.clash``."""


@register
class StaticNeighbours(NeighboursRule):
    """Relations and trade stay where the scenario (and its events) put them."""

    name = "static"

    def update(self, pairs, model):
        pass


@register
class Interdependence(NeighboursRule):
    """Trade grows with open borders and shared membership, logistically toward a
    ceiling relative to the smaller economy. Relations move toward a target set by
    two forces on one scale, each measured from the pair's settlement (the start, or
    the last treaty): the peace dividend, ``peace_dividend`` times the rise in trade
    intensity as a share of its ceiling, and the spill-over of the patrons' rivalry,
    ``spillover`` times the rise in the rivalry the pair inherits from its patrons
    (scaled by a regional format's imported rivalry). With equal weights a pair whose
    trade filled its ceiling and whose patrons became full rivals is back where it
    started. Hostile pairs risk a clash, which also sours the settlement itself."""

    name = "interdependence"

    class Params(RuleParams):
        trade_growth: float = Field(0.01, ge=0.0, le=1.0, description="trade growth per step across an open border at peace")
        membership_boost: float = Field(0.5, ge=0.0, le=10.0, description="extra growth per shared organisation")
        closed_decay: float = Field(0.02, ge=0.0, le=1.0, description="trade lost per step across a closed border")
        peace_dividend: float = Field(0.5, ge=0.0, le=2.0, description="target relation gained per unit rise of trade intensity (share of its ceiling)")
        spillover: float = Field(0.5, ge=0.0, le=2.0, description="target relation lost per unit rise of inherited patron rivalry")
        adjustment: float = Field(0.05, ge=0.0, le=1.0, description="share of the gap to the target relation closed per step")
        conflict_hazard: float = Field(0.1, ge=0.0, le=1.0, description="chance of a clash per step at relation -1")
        conflict_damage: float = Field(0.2, ge=0.0, le=10.0, description="welfare damage to each side of a clash")
        max_intensity: float = Field(0.5, gt=0.0, le=10.0, description="bilateral trade / smaller GDP at which trade stops growing")

    def update(self, pairs, model):
        p = self.params
        if pairs.n == 0:
            return
        friendliness = (1.0 + pairs.relation) / 2.0
        room = np.maximum(0.0, 1.0 - pairs.intensity() / p.max_intensity)  # logistic
        growth = np.where(pairs.border_open, p.trade_growth * (1.0 + p.membership_boost * pairs.shared) * friendliness * room, -p.closed_decay)
        pairs.trade *= 1.0 + growth
        dividend = p.peace_dividend * (pairs.intensity() - pairs.settled_intensity) / p.max_intensity
        spill = p.spillover * (pairs.inherited_rivalry(model) - pairs.settled_rivalry)
        target = np.minimum(np.maximum(pairs.anchor + dividend - spill, -1.0), 1.0)  # np.clip's result, without its Python wrapper
        pairs.relation += p.adjustment * (target - pairs.relation)
        clashes = model.streams["clashes"].random(pairs.n) < p.conflict_hazard * np.maximum(0.0, -pairs.relation)
        for k in np.flatnonzero(clashes).tolist():
            pairs.relation[k] -= 0.1
            pairs.anchor[k] = max(-1.0, pairs.anchor[k] - 0.05)
            pairs.trade[k] *= 0.9
            model.clash(k, p.conflict_damage, model.streams["guarantees"])
        np.minimum(np.maximum(pairs.relation, -1.0, out=pairs.relation), 1.0, out=pairs.relation)  # clip in place
