"""How domestic opinion toward each power moves.

Opinion is pulled toward a target set by what the power did to the state this step
around a long-run anchor (the initial opinion: history and identity): benefits beyond
the usual (ties gained above what the start's standing offers bring; a patron that
cuts its offers brings less than usual) and harm it caused. Opinion returns to its
anchor when nothing changes.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class OpinionParams(RuleParams):
    rate: float = Field(0.1, ge=0.0, le=1.0, description="share of the gap to the target closed per step")
    benefit: float = Field(1.0, ge=0.0, description="target shift per unit of tie strength gained beyond the usual")
    harm: float = Field(2.0, ge=0.0, description="target shift per unit of coercion suffered")


class OpinionRule(Rule):
    family = "opinion"
    Params = OpinionParams

    @abstractmethod
    def update(self, model) -> None:
        """Move the opinions of all states (``model.opinion``, states x powers)."""

    def target(self, model) -> np.ndarray:
        p = self.params
        target = model.opinion_anchor + p.benefit * (model.gained - model.usual_gain) - p.harm * model.harmed
        return np.minimum(np.maximum(target, -1.0), 1.0)  # np.clip's result, without its Python wrapper


@register
class Static(OpinionRule):
    """Opinion does not move (except through coercion backlash)."""

    name = "static"
    Params = RuleParams  # none: a rate, benefit or harm set here would be ignored

    def update(self, model):
        pass


@register
class Benefit(OpinionRule):
    """Opinion follows benefits and harms: ``o += rate * (target - o)``."""

    name = "benefit"

    def update(self, model):
        model.opinion += self.params.rate * (self.target(model) - model.opinion)


@register
class Social(OpinionRule):
    """As ``benefit``, then a DeGroot step toward the mean opinion of the state's
    neighbours: publics watch their neighbours (DeGroot 1974)."""

    name = "social"

    class Params(OpinionParams):
        social: float = Field(0.1, ge=0.0, le=1.0, description="weight of neighbours' mean opinion")

    def update(self, model):
        model.opinion += self.params.rate * (self.target(model) - model.opinion)
        peers = model.neighbour_mean(model.opinion)
        has_peers = model.neighbour_count() > 0
        model.opinion[has_peers] += self.params.social * (peers[has_peers] - model.opinion[has_peers])
