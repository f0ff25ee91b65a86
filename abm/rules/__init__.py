"""Behavioural rules, one module per family, each variant registered by name.

Importing this package registers every built-in variant; :func:`make` builds one from
a scenario entry such as ``{name: hedging, cap: 0.5, noise: 0.1}``.
"""

from abm.rules import allocation, coercion, credibility, decay, decision, membership, neighbours, opinion, route_choice, spending  # noqa: F401  (registration)
from abm.rules.registry import FAMILIES, REGISTRY, Rule, UnknownRuleError, get, known, make, register

from abm import events  # noqa: E402, F401  (registers the event types: registry.known("event") is complete)

__all__ = ["FAMILIES", "REGISTRY", "Rule", "UnknownRuleError", "get", "known", "make", "register"]
