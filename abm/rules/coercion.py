"""Whether and how a power coerces a state that defects to one of its rivals.

A defection is recorded when a state in a power's sphere accepts an offer from a
rival. Coercion hurts the target (welfare damage), makes it fear the coercer (which
raises the backlash it expects from accepting the coercer's rivals: pressure can
bring a state back) and lowers opinion of the coercer (pressure can push it away);
the Russia-Azerbaijan crisis of 2024-2025 shows both (@avdaliani2025b, @gusseinov2025).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class CoercionRule(Rule):
    family = "coercion"

    def respond(self, power, state, model) -> str | None:
        """Possibly coerce ``state``; return the tool used, or None."""
        raise NotImplementedError


@register
class NoCoercion(CoercionRule):
    """Powers never coerce (the control case)."""

    name = "none"

    def respond(self, power, state, model):
        return None


@register
class Punish(CoercionRule):
    """With probability ``propensity * strength``, hit the defector with one of the
    power's tools (restricted to ``tools`` if given)."""

    name = "punish"

    class Params(RuleParams):
        strength: float = Field(0.5, ge=0.0, le=1.0, description="scale of coercion effects and probability")
        backlash: float = Field(0.3, ge=0.0, description="opinion lost toward the coercer per unit of strength")
        tools: list[Tool] | None = Field(None, description="tools allowed; None: every tool the power has")
        sphere: float = Field(0.2, ge=0.0, le=1.0, description="share of a state's ties that puts it in a power's sphere")

    def respond(self, power, state, model):
        p = self.params
        tools = [t for t in power.tools if p.tools is None or t in p.tools]
        if not tools or state.alignment[power.index] < p.sphere:
            return None
        if model.rng.random() >= power.propensity * p.strength:
            return None
        tool = tools[int(model.rng.integers(len(tools)))]
        damage, fear, backlash = TOOL_EFFECTS[tool]
        state.suffer(power.index, damage * p.strength * power.capability)
        state.fear[power.index] += fear * p.strength * power.capability
        state.opinion[power.index] = max(-1.0, state.opinion[power.index] - backlash * p.backlash * p.strength)
        if tool in ("bases", "borderization"):
            state.threat = min(1.0, state.threat + 0.05 * p.strength)
        return tool
