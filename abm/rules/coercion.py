"""Whether and how a power coerces a state that defects to one of its rivals.

A defection is recorded when a state takes, in a step, more than
``offers.defection_tolerance`` of all its ties from the new spending of a power's rivals
(their offers beyond the upkeep of the start's ties). A power coerces where it has stakes (its
interest in the state), with a tool the geography allows (borderization needs a land
border or occupied territory, the bases tool a base; energy and trade cut-offs need
trade ties). Coercion hurts the target; then the state either complies or defies:

* it complies (fear of the coercer rises, which raises the backlash it expects from
  taking the coercer's rivals' offers: pressure brings it back) the more it depends
  on the coercer and the fewer its alternatives;
* it defies (opinion of the coercer falls, the long-run anchor of that opinion falls
  with it, and opinion of the coercer's rivals rises: pressure pushes it away) the
  more it has alternatives, the more it values autonomy and the worse its public
  already thinks of the coercer.

Trade interdependence pulls both sides back part-way: a coercer that trades much with
the state coerces it less often, and a defiant state's lasting grudge is smaller.
The Russia-Azerbaijan crisis of 2024-2025 shows the defiant branch, and the
reconciliation that interdependence brought (@avdaliani2025b, @gusseinov2025).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import numpy as np
from pydantic import Field

from abm.offers import DOMAIN_INDEX
from abm.rules.registry import Rule, RuleParams, register

# Relative effect of each coercive tool: (damage, fear, opinion backlash).
TOOL_EFFECTS = {
    "bases": (0.5, 1.5, 1.0),
    "energy": (1.5, 1.0, 1.0),
    "trade_cutoff": (1.2, 0.8, 1.0),
    "borderization": (1.0, 1.5, 1.5),
    "diaspora": (0.6, 0.8, 1.2),
    "information": (0.2, 0.5, 0.5),
}
Tool = Literal[tuple(TOOL_EFFECTS)]  # the coercive tools a scenario may give a power


def usable(tool: str, power, state, model) -> bool:
    """Whether geography and ties let ``power`` use ``tool`` on ``state``."""
    if tool == "borderization":
        return power.key in state.borders
    if tool == "bases":
        return power.key in state.bases
    if tool in ("energy", "trade_cutoff"):
        return state.ties[DOMAIN_INDEX["trade"], power.index] > 0
    return True


class CoercionRule(Rule):
    family = "coercion"

    @abstractmethod
    def respond(self, power, state, model, draws) -> tuple[str, str] | None:
        """Possibly coerce ``state``; return (tool, 'complied' or 'defied'), or None.
        ``draws``: three uniforms in [0, 1), the pair's own for the step (whether the
        power coerces, which tool, whether the state complies), so that a defection in one
        scenario and not in another shifts no other pair's draws."""


@register
class NoCoercion(CoercionRule):
    """Powers never coerce (the control case)."""

    name = "none"

    def respond(self, power, state, model, draws):
        return None


@register
class Punish(CoercionRule):
    """With probability ``propensity * strength * (1 - interdependence)``, hit a
    defector in which the power has stakes with one of its usable tools; the state
    complies with probability ``logistic(steepness * (dependence - alternatives -
    resolve))`` (see the module docstring), else defies."""

    name = "punish"

    class Params(RuleParams):
        strength: float = Field(0.5, ge=0.0, le=1.0, description="scale of coercion effects and probability")
        backlash: float = Field(0.3, ge=0.0, le=5.0, description="opinion lost toward the coercer per unit of strength")
        tools: list[Tool] | None = Field(None, description="tools allowed; None: every tool the power has")
        stakes: float = Field(0.5, ge=0.0, le=1.0, description="interest in a state from which a power coerces defectors there")
        steepness: float = Field(5.0, ge=0.0, le=100.0, description="how sharply compliance follows dependence against alternatives")

    def respond(self, power, state, model, draws):
        p = self.params
        s, k = state.index, power.index
        if model.interests[k, s] < p.stakes:
            return None
        tools = [t for t in power.tools if (p.tools is None or t in p.tools) and usable(t, power, state, model)]
        if not tools:
            return None
        interdependence = model.trade_alignment[s, k]
        if draws[0] >= power.propensity * p.strength * (1.0 - interdependence):
            return None
        tool = tools[int(draws[1] * len(tools))]
        damage, fear, backlash = TOOL_EFFECTS[tool]
        state.suffer(k, damage * p.strength * power.capability)
        if tool in ("bases", "borderization"):
            state.threat = min(1.0, state.threat + 0.05 * p.strength)
        if draws[2] < self.compliance(power, state, model):
            state.fear[k] += fear * p.strength * power.capability
            state.opinion[k] = max(-1.0, state.opinion[k] - 0.5 * backlash * p.backlash * p.strength)
            return tool, "complied"
        hit = backlash * p.backlash * p.strength
        state.opinion[k] = max(-1.0, state.opinion[k] - hit)
        state.opinion_anchor[k] = max(-1.0, state.opinion_anchor[k] - hit * (1.0 - interdependence))
        rivals = model.rivalry[k]
        state.opinion[:] = np.minimum(1.0, state.opinion + 0.5 * hit * rivals)
        return tool, "defied"

    def compliance(self, power, state, model) -> float:
        """Chance that ``state`` gives in to ``power``: dependence on the coercer
        against the rivals' presence (its alternatives) and its resolve (autonomy,
        raised by a hostile public)."""
        s, k = state.index, power.index
        dependence = model.alignment[s, k]
        alternatives = float(model.rivalry[k] @ model.alignment[s])
        resolve = state.autonomy * (1.0 + max(0.0, -state.opinion[k])) / 2.0
        return float(1.0 / (1.0 + np.exp(-self.params.steepness * (dependence - alternatives - resolve))))
