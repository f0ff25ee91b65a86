"""How a state decides on an offer, given its utility (see :func:`abm.offers.evaluate`).

Every variant adds decision noise: ``utility + noise * e`` with ``e ~ N(0, 1)`` drawn
from the model's generator, a random-utility choice (McFadden 1974) that stands for
what the model does not see. A rule returns, for each offer, the share of it taken
(0 refused, 1 taken whole; hedging can take part of an offer).
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
    carried = ("threshold", "noise")

    def accept(self, offers, utility: np.ndarray, shocks: np.ndarray, model) -> np.ndarray:
        """Share of each offer taken, in [0, 1]."""
        return (self.adjust(offers, utility, model) + self.params.noise * shocks > self.params.threshold).astype(float)

    def probability(self, offers, utility: np.ndarray, model) -> np.ndarray:
        """Chance that each offer clears the threshold, before any cap: used to size
        the standing offers so that the start is in balance (``RegionModel``)."""
        from scipy.special import ndtr  # here, not at import: validating a scenario needs no scipy

        margin = self.adjust(offers, utility, model) - self.params.threshold
        if self.params.noise == 0:
            return (margin > 0).astype(float)
        return ndtr(margin / self.params.noise)

    def adjust(self, offers, utility, model) -> np.ndarray:
        return utility


@register
class Threshold(DecisionRule):
    """Accept any offer whose (noisy) utility exceeds the threshold."""

    name = "threshold"


@register
class Hedging(DecisionRule):
    """Multi-vector hedging: as threshold, but take from any one patron only what
    keeps its share of the state's ties at or below ``cap`` (@gusseinov2025:
    diversification equals resilience). Offers that would carry a patron past the cap
    are taken in part, up to it; a patron already above the cap gets nothing until
    its share falls back. The room is reckoned against the ties at the start of the
    period (other patrons' offers of the same period are not counted). A state with
    no other partner at all cannot hedge and takes what it is offered."""

    name = "hedging"

    class Params(DecisionParams):
        cap: float = Field(0.4, gt=0.0, le=1.0, title="hedging cap", description="largest share of ties one patron may hold")

    def accept(self, offers, utility, shocks, model):
        n, m = len(model.states), len(model.powers)
        s, p = offers.state, offers.power
        taken = super().accept(offers, utility, shocks, model)
        wanted = np.bincount(s * m + p, offers.terms["gain"] * taken, n * m).reshape(n, m)
        cap = self.params.cap
        everything = (model.total + model.other_total)[:, None]
        room = (cap * everything - model.strength) / (1.0 - cap) if cap < 1 else np.full((n, m), np.inf)
        room = np.where(everything > model.strength, room, np.inf)  # no one else to turn to
        fraction = np.minimum(1.0, np.maximum(0.0, room) / np.where(wanted > 0, wanted, 1.0))
        return taken * fraction[s, p]


@register
class Bandwagon(DecisionRule):
    """Align with the strongest: offers gain ``bonus`` from the most influential power
    and lose it from the least, in proportion to influence relative to the leader's
    (``bonus * (2 * relative - 1)``), and dependence is not feared: the dependence term
    is added back for every power, the leader or not."""

    name = "bandwagon"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility bonus for the most influential power")

    def adjust(self, offers, utility, model):
        influence = model.influence
        relative = influence[offers.power] / influence.max() if influence.max() > 0 else 1.0  # no power has influence: all tie for the lead, as equal influence does
        dependence = model.config.utility.dependence * offers.terms["dependence"]
        return utility + dependence + self.params.bonus * (2.0 * relative - 1.0)


@register
class Balance(DecisionRule):
    """Balance against the main threat: penalise offers from the state's most
    threatening power and reward offers from that power's rivals (Walt 1987). A state that
    no power menaces has nothing to balance against: its offers are left as they are."""

    name = "balance"

    class Params(DecisionParams):
        bonus: float = Field(0.5, ge=0.0, description="utility shift toward the threat's rivals")

    def adjust(self, offers, utility, model):
        threat = model.main_threat[offers.state]
        is_threat = offers.power == threat
        toward_rivals = model.rivalry[threat, offers.power]
        return utility + np.where(is_threat, -self.params.bonus, self.params.bonus * toward_rivals) * model.threatened[offers.state]
