"""How a state decides on an offer, given its utility (see :func:`abm.offers.evaluate`).

Every variant adds decision noise: ``utility + noise * e`` with ``e ~ N(0, 1)`` drawn
from the model's generator, a random-utility choice (McFadden 1974) that stands for
what the model does not see.
"""

from __future__ import annotations

from pydantic import Field

from abm.rules.registry import Rule, RuleParams, register


class DecisionParams(RuleParams):
    threshold: float = Field(0.0, description="utility an offer must exceed")
    noise: float = Field(0.05, ge=0.0, description="standard deviation of decision noise")


class DecisionRule(Rule):
    family = "decision"
    Params = DecisionParams

    def accept(self, state, power, offer, utility: float, shock: float, model) -> bool:
        return self.adjust(state, power, offer, utility, model) + self.params.noise * shock > self.params.threshold

    def adjust(self, state, power, offer, utility, model) -> float:
        return utility


@register
class Threshold(DecisionRule):
    """Accept any offer whose (noisy) utility exceeds the threshold."""

    name = "threshold"


@register
class Hedging(DecisionRule):
    """Multi-vector hedging: as threshold, but refuse any offer that would lift one
    patron's share of the state's ties above ``cap`` (seed 004: diversification
    equals resilience)."""

    name = "hedging"

    class Params(DecisionParams):
        cap: float = Field(0.4, gt=0.0, le=1.0, description="largest share of ties one patron may hold")

    def accept(self, state, power, offer, utility, shock, model):
        gain = offer.terms["gain"]
        if state.share_after(offer.power, gain) > self.params.cap and state.alignment[offer.power] < 1.0:
            return False
        return super().accept(state, power, offer, utility, shock, model)


@register
class Bandwagon(DecisionRule):
    """Align with the strongest: a bonus in proportion to the offerer's regional
    influence relative to the leader's, and dependence on it is not feared."""

    name = "bandwagon"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility bonus for the most influential power")

    def adjust(self, state, power, offer, utility, model):
        influence = model.influence
        relative = influence[offer.power] / influence.max() if influence.max() > 0 else 0.0
        dependence = model.config.utility.dependence * offer.terms["dependence"]
        return utility + dependence + self.params.bonus * relative


@register
class Balance(DecisionRule):
    """Balance against the main threat: penalise offers from the state's most
    threatening power and reward offers from that power's rivals (Walt 1987)."""

    name = "balance"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility shift toward the threat's rivals")

    def adjust(self, state, power, offer, utility, model):
        threat = model.main_threat[state.index]
        if offer.power == threat:
            return utility - self.params.bonus
        return utility + self.params.bonus * model.powers[threat].rivals[offer.power]
