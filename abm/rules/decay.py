"""How ties fade unless renewed. Applied to every state's 3 x M tie array each step."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class DecayParams(RuleParams):
    rate: float = Field(0.02, ge=0.0, lt=1.0, description="fraction of its strength a tie loses per step (below 1: at 1 every tie would vanish each step, whatever renewed it)")


class DecayRule(Rule):
    family = "decay"
    Params = DecayParams

    @abstractmethod
    def apply(self, ties: np.ndarray, expiry: np.ndarray, step: int) -> None:
        ...

    def upkeep(self, ties: np.ndarray) -> np.ndarray:
        """Tie strength per step that keeps ``ties`` where they are: what standing offers
        must add, once accepted, for the start to be in balance (docs/ODD.md section 5).
        A step adds what states take before the ties decay, so the decay also drains the
        renewal: ``(t + u)(1 - rate) = t`` gives ``u = rate t / (1 - rate)``."""
        rate = self.params.rate
        return rate / (1.0 - rate) * ties


@register
class Exponential(DecayRule):
    """Every tie loses ``rate`` of its strength each step; renewal adds new strength."""

    name = "exponential"
    carried = ("rate",)  # a share per step, as under expiry: a switch between them keeps it

    def apply(self, ties, expiry, step):
        ties *= 1.0 - self.params.rate


@register
class Expiry(DecayRule):
    """A tie keeps its strength until its offer's duration runs out, then fades at ``rate``.
    Renewed ties do not fade, so the standing offers (sized as for exponential decay)
    make them grow: the start is in balance under exponential and linear decay only."""

    name = "expiry"
    carried = ("rate",)

    def apply(self, ties, expiry, step):
        ties[expiry < step] *= 1.0 - self.params.rate


@register
class Linear(DecayRule):
    """Every tie loses a fixed amount ``rate`` of strength per step, down to zero."""

    name = "linear"

    class Params(DecayParams):
        rate: float = Field(0.001, ge=0.0, le=1.0, description="tie strength lost per step (an amount, not a share)")

    def apply(self, ties, expiry, step):
        np.maximum(ties - self.params.rate, 0.0, out=ties)

    def upkeep(self, ties):
        """The amount drained from every tie: a renewal added before the decay keeps even
        a tie weaker than ``rate`` (``max(0, t + rate - rate) = t``). A refused one lets
        the decay take such a tie to zero, a loss of ``t``, not ``rate``: ties weaker than
        ``rate`` drift up in expectation (ODD 7.6)."""
        return np.where(ties > 0, self.params.rate, 0.0)


@register
class NoDecay(DecayRule):
    """Ties never fade (for teaching and tests)."""

    name = "none"
    Params = RuleParams  # none: a rate set here would be ignored

    def apply(self, ties, expiry, step):
        pass

    def upkeep(self, ties):
        return np.zeros_like(ties)
