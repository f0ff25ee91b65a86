"""How a state decides on an offer, given its utility (see :func:`abm.offers.evaluate`).

Every variant adds decision noise: ``utility + noise * e`` with ``e ~ N(0, 1)`` drawn
from the model's generator, a random-utility choice (McFadden 1974) that stands for
what the model does not see.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class DecisionParams(RuleParams):
    threshold: float = Field(0.0, description="utility an offer must exceed")
    noise: float = Field(0.05, ge=0.0, description="standard deviation of decision noise")


class DecisionRule(Rule):
    """Decides a whole batch of offers (:class:`abm.offers.Offers`) at once."""

    family = "decision"
    Params = DecisionParams

    def accept(self, offers, utility: np.ndarray, shocks: np.ndarray, model) -> np.ndarray:
        """Boolean array: which offers are accepted."""
        return self.adjust(offers, utility, model) + self.params.noise * shocks > self.params.threshold

    def adjust(self, offers, utility, model) -> np.ndarray:
        return utility


@register
class Threshold(DecisionRule):
    """Accept any offer whose (noisy) utility exceeds the threshold."""

    name = "threshold"


@register
class Hedging(DecisionRule):
    """Multi-vector hedging: as threshold, but refuse the offers of a patron whose
    share of the state's ties would rise above ``cap`` if all it offers this period
    were taken (@gusseinov2025: diversification equals resilience). A state with a single
    patron, or none yet, cannot hedge and is exempt."""

    name = "hedging"

    class Params(DecisionParams):
        cap: float = Field(0.4, gt=0.0, le=1.0, description="largest share of ties one patron may hold")

    def accept(self, offers, utility, shocks, model):
        n, m = len(model.states), len(model.powers)
        s, p = offers.state, offers.power
        offered = np.bincount(s * m + p, offers.terms["gain"], n * m).reshape(n, m)[s, p]
        share = (model.strength[s, p] + offered) / (model.total[s] + offered)
        too_much = (share > self.params.cap) & (model.alignment[s, p] < 1.0) & (model.total[s] > 0)
        return super().accept(offers, utility, shocks, model) & ~too_much


@register
class Bandwagon(DecisionRule):
    """Align with the strongest: offers gain ``bonus`` from the most influential power
    and lose it from the least, in proportion to influence relative to the leader's
    (``bonus * (2 * relative - 1)``), and dependence on the strong is not feared."""

    name = "bandwagon"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility bonus for the most influential power")

    def adjust(self, offers, utility, model):
        influence = model.influence
        relative = influence[offers.power] / influence.max() if influence.max() > 0 else 0.0
        dependence = model.config.utility.dependence * offers.terms["dependence"]
        return utility + dependence + self.params.bonus * (2.0 * relative - 1.0)


@register
class Balance(DecisionRule):
    """Balance against the main threat: penalise offers from the state's most
    threatening power and reward offers from that power's rivals (Walt 1987)."""

    name = "balance"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility shift toward the threat's rivals")

    def adjust(self, offers, utility, model):
        threat = model.main_threat[offers.state]
        is_threat = offers.power == threat
        toward_rivals = model.rivalry[threat, offers.power]
        return utility + np.where(is_threat, -self.params.bonus, self.params.bonus * toward_rivals)
