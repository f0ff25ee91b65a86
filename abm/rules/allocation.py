"""How powers spread their spending over the states: one attention weight per state.

Each rule returns non-negative weights for every power and state at once (a powers x
states array; row p is power p's attention). They are used twice (docs/ODD.md 7.1):

* standing offers, which sustain the ties a power holds at the start, are reallocated
  by the weights *relative to the rule's reference* (its weights at the start): a
  power moves its standing spending toward states whose attention rose since then and
  away from those whose attention fell, keeping its total. Under a rule whose weights
  do not move, the standing offers stay as they started;
* new money (the scenario's ``budget``) is split by the weights themselves: the model
  normalises each row, drops states below ``offers.min_weight``, keeps the
  ``offers.max_targets`` largest (and any tied with the last), and splits each domain's budget in proportion.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class AllocationRule(Rule):
    family = "allocation"
    learns = False  # whether the model must report offers' outcomes to it

    @abstractmethod
    def weights(self, model) -> np.ndarray:
        """Attention weights, powers x states."""

    def reference(self, model) -> np.ndarray:
        """The weights against which later weights reallocate standing offers (called
        once, when the model is built): by default the start's own."""
        return np.asarray(self.weights(model), dtype=float)

    def learn(self, power, state, accepted, offered=1) -> None:
        """Hear the outcomes of a step's offers to ``state`` (an index or an array of
        distinct indices): how many were ``offered`` and how many ``accepted``. Only
        learning rules use it."""


@register
class Interest(AllocationRule):
    """Spend where the power's standing interests lie, ignoring rivals: the standing offers never move."""

    name = "interest"

    def weights(self, model):
        return model.interests


@register
class Contest(AllocationRule):
    """Spend more where rivals are present: ``interest * (1 + intensity * rival share)``."""

    name = "contest"

    class Params(RuleParams):
        intensity: float = Field(2.0, ge=0.0, title="contest intensity", description="extra weight per unit of rival presence")

    def weights(self, model):
        rival_share = model.rivalry @ model.observed.T  # [p, s] = sum_r rivalry(p, r) * alignment(s, r)
        return model.interests * (1.0 + self.params.intensity * rival_share)


@register
class Consolidate(AllocationRule):
    """Defend the existing sphere: weight by the power's own share in each state."""

    name = "consolidate"

    class Params(RuleParams):
        floor: float = Field(0.05, ge=0.0, le=1.0, description="weight kept for states outside the sphere")

    def weights(self, model):
        return model.interests * (self.params.floor + model.observed.T)


@register
class Adaptive(AllocationRule):
    """Learn where offers are accepted: weight by a Beta-Bernoulli estimate of the
    acceptance rate, with the prior as a pseudo-count and old outcomes forgotten."""

    name = "adaptive"
    learns = True

    class Params(RuleParams):
        prior: float = Field(0.5, gt=0.0, lt=1.0, description="prior acceptance rate")
        strength: float = Field(2.0, gt=0.0, description="pseudo-count of the prior")
        memory: float = Field(0.9, ge=0.0, le=1.0, description="discount of past outcomes per step")

    def weights(self, model):
        p = self.params
        rate = (p.prior * p.strength + model.accepted_by) / (p.strength + model.offers_to)
        return model.interests * rate

    def learn(self, power, state, accepted, offered=1):
        memory = self.params.memory
        power.offers_to[state] = memory * power.offers_to[state] + offered
        power.accepted_by[state] = memory * power.accepted_by[state] + np.asarray(accepted, dtype=float)


@register
class Random(AllocationRule):
    """Null model: attention drawn uniformly at random each step, interests ignored."""

    name = "random"

    def weights(self, model):
        return model.streams["allocation"].random(model.interests.shape)

    def reference(self, model):
        return np.full(model.interests.shape, 0.5)  # the mean weight: reallocation is pure noise
