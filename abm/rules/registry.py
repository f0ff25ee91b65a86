"""Registry of named rule variants.

Every behavioural rule of the model is a small class registered under a *family*
(``allocation``, ``decision``, ``coercion``, ``decay``, ``opinion``, ``neighbours``,
``route_choice``, ``membership``, ``credibility``, ``spending``; and ``event`` for event types) and a *name*. Scenarios pick a variant by name, so comparing rules is a matter of
configuration, as in the Axelrod library's strategy registry. Each rule declares its
parameters as a pydantic model, which gives defaults, ranges and clear errors.
"""

from __future__ import annotations

import typing
from abc import ABCMeta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from abm.units import bool_only, number_only, within_limit
from abm.yamlfile import choices

FAMILIES = ("allocation", "decision", "coercion", "decay", "opinion", "neighbours", "route_choice", "membership", "credibility", "spending")

# Dated and stochastic events use the same registry under the family "event".
REGISTRY: dict[str, dict[str, type[Rule]]] = {family: {} for family in (*FAMILIES, "event")}


class RuleParams(BaseModel):
    """Base class of rule parameters: unknown keys are errors, never ignored; every
    number finite and at most abm.units.LIMIT in size, and never true or false (which
    pydantic would read as 1 and 0: membership ``every: true`` reviewed every step) nor
    text (``"0.4"``); a yes/no parameter true or false, not the text 'no' (abm.units)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _bounded = field_validator("*")(within_limit)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_only(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if annotation is bool:
            return bool_only(value)
        numeric = {int, float} & set(typing.get_args(annotation) or (annotation,))  # float, int | None, ...
        return number_only(value) if numeric else value


class Rule(metaclass=ABCMeta):
    """A named rule variant. Subclasses set ``family``, ``name`` and ``Params``, and
    implement the family's abstract methods (``register`` refuses a rule that does not)."""

    family: ClassVar[str]
    name: ClassVar[str]
    Params: ClassVar[type[RuleParams]] = RuleParams
    # Parameters that mean the same under every rule of the family that lists them: a
    # scenario that switches between two such rules keeps their values, so that rules are
    # compared at equal settings (a decision rule's noise and threshold, the rate of
    # exponential and expiry decay); all others restart from defaults.
    carried: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: RuleParams | None = None):
        self.params = params if params is not None else self.Params()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: make ``cls`` selectable by ``cls.name`` in its family."""
    family = REGISTRY[cls.family]
    if cls.name in family:
        raise ValueError(f"rule {cls.family}.{cls.name} registered twice")
    if cls.__abstractmethods__:  # refused on import, not when a scenario first runs it (abm validate would pass it)
        raise TypeError(f"rule {cls.family}.{cls.name} does not implement {', '.join(sorted(cls.__abstractmethods__))}, which every rule of the {cls.family} family must")
    family[cls.name] = cls
    return cls


class UnknownRuleError(KeyError):
    """Raised for a rule name that is not registered; lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0])


def known(family: str) -> list[str]:
    return sorted(REGISTRY[family])


def get(family: str, name: str) -> type[Rule]:
    try:
        return REGISTRY[family][name]
    except KeyError:
        noun = "type" if family == "event" else "rule"
        raise UnknownRuleError(f"unknown {family} {noun} '{name}'; {choices(name, known(family), f'known {family} {noun}s:')}") from None


def switched(family: str, old: dict[str, Any], name: Any) -> dict[str, Any]:
    """The entry of a rule switched from ``old`` to the rule ``name``: its own defaults,
    but for the parameters both rules carry (``Rule.carried``), which keep ``old``'s
    values. An unknown name carries nothing (validation reports it)."""
    try:
        shared = set(get(family, str(old.get("name"))).carried) & set(get(family, str(name)).carried)
    except UnknownRuleError:
        shared = set()
    return {"name": name, **{k: v for k, v in old.items() if k in shared}}


def make(family: str, spec: dict[str, Any], key: str = "name") -> Rule:
    """Build a rule from a scenario entry ``{name: ..., <param>: ...}`` (events: ``type``)."""
    spec = dict(spec)
    cls = get(family, spec.pop(key))
    return cls(cls.Params.model_validate(spec))
