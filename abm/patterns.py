"""Observed patterns (``data/patterns.yaml``): what they compare, and how far a run is from them.

A pattern reads one number from a run (a metric at a date, or its change between two
dates), and scores it against a target with a tolerance: ``score = miss / tolerance``, the
miss being 0 inside the target. The distance of a run from a set of patterns is the
weighted root mean square of the scores (docs/calibration.md).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from abm.scenario import ScenarioError, in_force, pydantic_problems, read_yaml
from abm.units import Date, Real


class PatternError(Exception):
    """A patterns file that cannot be used (one line: where, and what is allowed)."""


class UnknownPatternError(PatternError):
    """A pattern asked for by id that the file does not hold: the asker's error, not the file's."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN target or an infinite tolerance scores every run alike


class Source(_Strict):
    author: str
    title: str
    outlet: str
    date: str | dt.date


class Operand(_Strict):
    table: Literal["model", "agents"] = "model"
    column: str
    state: str | None = None  # agents table: the state whose row is read

    @model_validator(mode="after")
    def _state_iff_agents(self):
        if (self.table == "agents") != (self.state is not None):
            raise ValueError("give state: for table: agents, and only then")
        return self


class Output(Operand):
    at: Date | None = None
    start: Date | None = Field(None, alias="from")
    to: Date | None = None
    relative: bool = False  # change as a ratio of the first value
    minus: Operand | None = None  # subtracted, at the same dates

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _dates(self):
        if (self.at is None) == (self.start is None or self.to is None):
            raise ValueError("give either at: DATE, or from: DATE and to: DATE")
        if self.at is not None and (self.start is not None or self.to is not None):
            raise ValueError("give either at: DATE, or from: DATE and to: DATE, not both")
        if self.start is not None and self.to <= self.start:
            raise ValueError("to: must be after from:")
        if self.relative and self.at is not None:
            raise ValueError("relative: true needs from: and to:")
        return self

    def dates(self) -> list[dt.date]:
        return [self.at] if self.at is not None else [self.start, self.to]

    def describe(self) -> str:
        """What is measured, in words: the column (and state), at a date or as a change."""
        what = self.column + (f" of {self.state}" if self.state else "")
        if self.minus is not None:
            what += f" minus {self.minus.column}" + (f" of {self.minus.state}" if self.minus.state else "")
        if self.at is not None:
            return f"{what} at {self.at}"
        return f"{what}, {'relative ' if self.relative else ''}change {self.start} to {self.to}"


class Target(_Strict):
    value: Real | None = None
    above: Real | None = None
    below: Real | None = None
    between: Annotated[list[Real], Field(min_length=2, max_length=2)] | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("value", "above", "below", "between") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, above, below, between")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("between: [low, high] needs low <= high")
        return self

    def bounds(self) -> tuple[float | None, float | None]:
        """(low, high) of the values that hit the target; None for an open side."""
        if self.value is not None:
            return self.value, self.value
        return tuple(self.between) if self.between is not None else (self.above, self.below)

    def miss(self, x: float) -> float:
        low, high = self.bounds()
        low = -math.inf if low is None else low
        high = math.inf if high is None else high
        return max(low - x, 0.0, x - high)

    def direction(self) -> int:
        """The way the target asks a change to go: +1 for a rise (it admits no fall, and
        some rise), -1 for a fall, 0 where it admits both or only no change (a band around
        zero: "stable"). ``above: 0`` asks for a rise, though a change of exactly 0 meets it too."""
        low, high = self.bounds()
        if low is not None and low >= 0 and (high is None or high > 0):
            return 1
        if high is not None and high <= 0 and (low is None or low < 0):
            return -1
        return 0

    def describe(self) -> str:
        if self.value is not None:
            return f"= {self.value:g}"
        if self.between is not None:
            return f"in [{self.between[0]:g}, {self.between[1]:g}]"
        return f">= {self.above:g}" if self.above is not None else f"<= {self.below:g}"  # the bound itself hits (miss 0)


class Pattern(_Strict):
    id: str = ""  # its key under patterns:, set by load
    description: str
    source: Annotated[list[Source], Field(min_length=1)]
    output: Output
    target: Target
    tolerance: Annotated[Real, Field(gt=0)]
    weight: Annotated[Real, Field(gt=0)] = 1.0
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _id_is_the_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" in data:  # it was accepted, then overwritten by the key
            raise ValueError("a pattern's id is its key under patterns:, not a field")
        return data

    def score(self, x: float) -> float:
        """Miss in tolerances (0 inside the target; a missing value scores infinity)."""
        return self.target.miss(x) / self.tolerance if np.isfinite(x) else math.inf

    def reproduced(self, x: float) -> bool:
        """Within one tolerance of the target: what calibration's predictive check and the
        validation count as reproducing the pattern."""
        return self.score(x) <= 1


class PatternFile(_Strict):
    patterns: Annotated[dict[str, Pattern], Field(min_length=1)]


def load(path: str | Path, only: list[str] | None = None) -> list[Pattern]:
    """The patterns of a YAML file (all, or the ids in ``only``, in that order)."""
    try:
        raw = read_yaml(Path(path), "a patterns file")
    except ScenarioError as exc:
        problem = exc.problems[0][1]
        raise PatternError(problem if str(path) in problem else f"{path}: {problem}") from None  # "file not found: PATH" names it
    try:
        parsed = PatternFile.model_validate(raw)
    except ValidationError as exc:
        where, msg = pydantic_problems(exc, PatternFile)[0]
        raise PatternError(f"{path}: {where}: {msg}") from None
    for key, pattern in parsed.patterns.items():
        pattern.id = key
    if only is None:
        return list(parsed.patterns.values())
    unknown = [k for k in only if k not in parsed.patterns]
    if unknown:
        raise UnknownPatternError(f"{path}: unknown pattern '{unknown[0]}'; known: {', '.join(parsed.patterns)}")
    return [parsed.patterns[k] for k in only]


def last_date(patterns: list[Pattern]) -> tuple[dt.date, str]:
    """The last date any pattern reads, and the id of the pattern that reads it."""
    return max((d, p.id) for p in patterns for d in p.output.dates())


def needs_agents(patterns: list[Pattern]) -> bool:
    return any(p.output.table == "agents" or (p.output.minus and p.output.minus.table == "agents") for p in patterns)


def readable(model: pd.DataFrame, agents: pd.DataFrame | None = None) -> dict[str, set[str]]:
    """The columns a pattern can read, by table: the numeric ones (a date or a state's
    name is no output to measure)."""
    return {name: set(frame.select_dtypes(include=["number", "bool"]).columns) for name, frame in (("model", model), ("agents", agents)) if frame is not None}


def check(patterns: list[Pattern], columns: dict[str, set[str]], states: set[str], start: dt.date, end: dt.date) -> str | None:
    """The first reason these patterns cannot be read from a run, or None. ``columns``:
    the readable columns of each table (:func:`readable`); a column of the other table
    failed in every run (KeyError)."""
    for p in patterns:
        for op in filter(None, (p.output, p.output.minus)):
            if op.column not in columns.get(op.table, set()):
                elsewhere = next((table for table, names in columns.items() if op.column in names), None)
                return f"pattern {p.id}: output.column '{op.column}' is not a numeric output of the {op.table} table" + (f" (the {elsewhere} table has it)" if elsewhere else "")
            if op.state is not None and op.state not in states:
                return f"pattern {p.id}: output.state '{op.state}' is not a state of the scenario; states: {', '.join(sorted(states))}"
        for d in p.output.dates():
            if d < start:  # (the run's end is then beside the point: a run cut to the last date ends where it starts)
                return f"pattern {p.id}: date {d} is before the scenario starts ({start})"
            if d > end:
                return f"pattern {p.id}: date {d} is outside the run ({start} to {end})"
    return None


def _read(op: Operand, model: pd.DataFrame, agents: pd.DataFrame | None, rows: list[int]) -> np.ndarray:
    if op.table == "model":
        return model[op.column].to_numpy(dtype=float)[rows]
    mine = agents[agents["state"] == op.state]
    return mine[op.column].to_numpy(dtype=float)[rows]


def measure(patterns: list[Pattern], model: pd.DataFrame, agents: pd.DataFrame | None = None) -> dict[str, float]:
    """Each pattern's output in one run (``model``: model.csv's frame; ``agents``: agents.csv's)."""
    dates = model["date"].astype(str).to_numpy()
    out = {}
    for p in patterns:
        o = p.output
        rows = [in_force(dates, d) for d in o.dates()]
        if min(rows) < 0:
            out[p.id] = math.nan
            continue
        values = _read(o, model, agents, rows)
        if o.minus is not None:
            values = values - _read(o.minus, model, agents, rows)
        if o.at is not None:
            out[p.id] = float(values[0])
        elif o.relative:
            out[p.id] = float(values[1] / values[0] - 1.0) if values[0] != 0 else math.nan
        else:
            out[p.id] = float(values[1] - values[0])
    return out


def scores(patterns: list[Pattern], stats: dict[str, float]) -> dict[str, float]:
    return {p.id: p.score(stats[p.id]) for p in patterns}


def distance(patterns: list[Pattern], stats: dict[str, float]) -> float:
    """Weighted root mean square of the pattern scores."""
    total = sum(p.weight for p in patterns)
    return math.sqrt(sum(p.weight * p.score(stats[p.id]) ** 2 for p in patterns) / total)
