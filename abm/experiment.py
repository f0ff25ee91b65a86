"""Experiment specs: a YAML file in, a validated plan of runs out.

An experiment names a base scenario (or several), fixed overrides, a parameter space
(a grid of values, ranges drawn by a named sampler, or named scenarios), replications,
a master seed, the metrics to keep and the charts to draw. :func:`load` checks all of it
before anything runs, with the same kind of messages as scenarios (field path, what is
wrong, the closest valid name), because a sweep that dies on its 900th run over a typo
wastes an afternoon. Every point of the space is turned into ``--set`` overrides and
validated against the base scenario, so a parameter path that does not exist or a value
out of range is caught here too.

The plan is deterministic: replication ``r`` of every point gets the seed
``SeedSequence(seed).spawn(R)[r]`` (common random numbers across points, so that
differences between points are not masked by seed noise), and each run is keyed by a
hash of its resolved base scenario, its parameters and its seed. The key, not a counter,
identifies a run in the store: resuming, re-running one run alone and comparing results
across executors all rely on it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from abm import budget, discovery, posterior, sensitivity, yamlfile
from abm.scenario import Scenario, ScenarioError, _blame_overrides, apply_overrides, blame_parents, build, in_force, inert, labels_only, parse_set, pydantic_problems, read_yaml, resolve_chain, set_path, state_columns, under
from abm.units import Bool, Date, Finite, Int, PlainName, Real, Seed, repeated
from abm.yamlfile import choices, did_you_mean

SPEC_VERSION = 1
GRID_CHECKED = 2_000  # grid points validated one by one; a larger grid is checked value by value (check_points)
RESERVED = {"run", "point", "replication", "seed", "scenario", "step", "date", "status"}
MAX_PROBLEMS = 25


class ExperimentError(ScenarioError):
    """An experiment spec that cannot be run, with every problem found (path, message).

    A subclass of :class:`ScenarioError` so that the CLI's one handler for bad input
    (exit status 2, one readable message) covers experiments as well."""

    def listing(self, limit: int = MAX_PROBLEMS) -> str:
        return super().listing(limit)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --------------------------------------------------------------------------- the spec


class Summary(Strict):
    """One number per run computed from a metric's series (see docs/experiments.md)."""

    metric: str
    stat: Literal["final", "mean", "min", "max", "at", "first_crossing"] = "final"
    name: PlainName | None = None  # a column, and part of chart file names
    window: tuple[Date, Date] | None = None  # mean/min/max over the steps dated within
    last: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None  # mean/min/max over the last N steps
    date: Date | None = None  # at: value in force at this date
    threshold: Finite | None = None  # first_crossing
    direction: Literal["above", "below"] = "above"

    @property
    def column(self) -> str:
        if self.name:
            return self.name
        m, s = self.metric, self.stat
        if s in ("mean", "min", "max"):
            if self.window:
                return f"{m}_{s}_{self.window[0].year}_{self.window[1].year}"
            return f"{m}_{s}_last{self.last}" if self.last else f"{m}_{s}"
        if s == "at" and self.date is not None:
            return f"{m}_{self.date.year}" if (self.date.month, self.date.day) == (1, 1) else f"{m}_{self.date.isoformat()}"
        if s == "first_crossing" and self.threshold is not None:
            return f"{m}_first_{self.direction}_{self.threshold:g}"
        return f"{m}_{s}"  # final, or an incomplete spec that validation reports

    def describe(self) -> str:
        """What the column holds, in words (summary.md defines every column with it);
        :func:`summarise` computes it."""
        m = f"`{self.metric}`"
        if self.stat == "final":
            return f"{m} at the end of the run"
        if self.stat in ("mean", "min", "max"):
            over = (f"the steps dated {self.window[0]} to {self.window[1]}" if self.window
                    else f"the last {self.last} steps" if self.last else "every step, the start included")
            taken = {"mean": "mean", "min": "least value", "max": "greatest value"}[self.stat]
            return f"{taken} of {m} over {over}"
        if self.stat == "at":
            return f"{m} in force on {self.date} (at the last step dated on or before it)"
        return f"decimal year of the first step with {m} at or {self.direction} {self.threshold:g} (blank if never)"


class Metrics(Strict):
    series: list[str] | Literal["all"] = []  # metrics kept at every step
    summaries: list[Summary] = []  # one value per run
    states: list[str] | Literal["all"] = []  # per-state columns kept at every step (or a family: alignment = alignment_<every power>)


class Sample(Strict):
    method: str
    n: Annotated[Int, Field(ge=1)] | None = None
    ranges: dict[str, tuple[Finite, Finite]]
    levels: Annotated[Int, Field(ge=2, le=1000)] = 4  # factorial: values per range; morris: grid levels
    second_order: Bool = False  # sobol: also draw the points for second-order indices

    @field_validator("ranges", mode="before")
    @classmethod
    def _paths_not_mappings(cls, ranges: Any) -> Any:
        # a nested mapping (rules: {coercion: ...}) otherwise fails as "not a valid tuple"
        nested = [k for k, v in ranges.items() if isinstance(v, dict)] if isinstance(ranges, dict) else []
        if nested:
            raise ValueError(f"each key is one whole dotted path to a number, with [low, high] (e.g. rules.coercion.strength: [0, 1]); '{nested[0]}' holds a mapping")
        return ranges


class Spec(Strict):
    name: PlainName  # names the default output folder
    description: str = ""
    scenario: str | None = None
    scenarios: list[str] | dict[str, str] | None = None
    set: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    sample: Sample | None = None
    replications: Annotated[Int, Field(ge=1, le=1_000_000)] = 1
    seed: Seed = 0
    metrics: Metrics = Metrics()
    outcomes: dict[str, str] = {}  # outcome class name -> expression over summaries (abm.discovery)
    overrides: list[str] = []  # the command line's --set overrides, already applied (kept for the manifest)
    charts: list[dict[str, Any]] = []


class Chart(Strict):
    title: str | None = None
    file: PlainName | None = None  # file name stem
    zoom: Bool = False  # fit value scales to the data instead of 0-1 (the chart then states the range)


class TimeseriesChart(Chart):
    """Mean of each metric over replications with its 95% confidence band, one line per group."""

    type: Literal["timeseries"]
    metrics: Annotated[list[str], Field(min_length=1)]
    by: str | None = None
    facet: str | None = None
    band: Literal["ci95"] = "ci95"  # the one convention (abm.chartstyle); kept so older stores still load


class PhaseChart(Chart):
    """A summary over two swept parameters: mean and its 95% confidence interval per cell."""

    type: Literal["phase"]
    x: str
    y: str
    metric: str
    facet: str | None = None


class BoxChart(Chart):
    """Distribution of a summary over runs, one box per group."""

    type: Literal["box"]
    metrics: Annotated[list[str], Field(min_length=1)]
    by: str | None = None


class DifferenceChart(Chart):
    """Paired differences of summaries from a reference level of ``by``: each level's runs
    minus the reference's with the same seed (and the same other swept values), as a forest
    plot and a table. Replications share their seeds across points, so the pairs cancel
    the seed noise that a box chart's spread still holds."""

    type: Literal["difference"]
    metrics: Annotated[list[str], Field(min_length=1)]
    by: str  # a grid parameter, or scenario when there are several
    against: str | int | float | bool  # the reference level, as tables label it


class SobolChart(Chart):
    type: Literal["sobol"]
    metrics: Annotated[list[str], Field(min_length=1)]


class MorrisChart(Chart):
    type: Literal["morris"]
    metrics: Annotated[list[str], Field(min_length=1)]


class DiscoveryChart(Chart):
    """Scenario discovery of an outcome class: PRIM, CART and feature scores (abm.discovery)."""

    type: Literal["discovery"]
    outcome: str  # a class declared under 'outcomes'
    parameters: Annotated[list[str], Field(min_length=1)] | None = None  # the inputs searched (default, left out: every swept parameter)
    density: Annotated[Real, Field(gt=0, le=1)] = 0.8  # chosen box: the largest coverage at this density or more
    mass_min: Annotated[Real, Field(gt=0, lt=0.5)] = 0.05  # smallest box (and CART leaf), share of runs
    depth: Annotated[Int, Field(ge=1, le=8)] = 3  # CART tree depth
    holdout: Annotated[Int, Field(ge=0, le=100)] = discovery.HOLDOUT_FITS  # PRIM refitted on this many random halves, each box tested on the other half (0: none)


CHARTS: dict[str, type[Chart]] = {"timeseries": TimeseriesChart, "phase": PhaseChart, "box": BoxChart, "difference": DifferenceChart, "sobol": SobolChart, "morris": MorrisChart, "discovery": DiscoveryChart}


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Base:
    """A base scenario after ``extends`` and the experiment's fixed overrides."""

    name: str
    path: str
    raw: dict[str, Any]
    scenario: Scenario
    hash: str
    metrics: tuple[str, ...]
    states: tuple[str, ...] = ()  # per-state columns of its agents table, in output order
    powers: tuple[str, ...] = ()
    posterior_sha256: str | None = None  # of its posterior's file, which its hash stands for (abm.posterior.identity)


def box_corners(ranges: dict[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The corners of a sampled box at which its points are validated: the two extreme
    corners, and corners that set every pair of parameters to each of its four
    combinations of bounds (a covering array of strength 2). A rule on one or two settings
    that is linear or monotone in each (a bound, ``leave <= join``) then holds in the
    whole box if it holds there; the extreme corners alone let join's low meet leave's
    high inside the box, and those runs failed. Each corner costs a build of about 8 ms,
    so not all 2^k: discovery.yaml's 15 ranges take 8 corners, not 32,768.

    Corner r sets a parameter high when r is in the parameter's code, a distinct w-subset
    of 1..n-1 with 2w > n - 1: two codes of one size each hold an element the other lacks
    (high-low, low-high), they overlap (high-high), and corner 0 is in neither (low-low)."""
    n = 2
    while math.comb(n - 1, (n + 1) // 2) < len(ranges):
        n += 1
    codes = dict(zip(ranges, itertools.combinations(range(1, n), (n + 1) // 2)))
    rows = [{path: bounds[1 if r in codes[path] else 0] for path, bounds in ranges.items()} for r in range(n)]
    rows.append({path: high for path, (_, high) in ranges.items()})
    return list({tuple(row.values()): row for row in rows}.values())


@dataclass(frozen=True)
class Point:
    """One point of the parameter space: a base scenario and parameter values."""

    index: int
    scenario: str
    values: dict[str, Any]  # parameter path -> value set in the scenario
    labels: dict[str, Any]  # parameter path -> what tables and charts show

    @property
    def sets(self) -> tuple[str, ...]:
        return tuple(override(path, value) for path, value in self.values.items())


@dataclass(frozen=True, slots=True)  # a plan holds one per run: a million of them in a large sweep
class RunConfiguration:
    """One run: a point, a replication and its seed, under its content key."""

    key: str
    point: int
    replication: int
    seed: int


@dataclass
class Experiment:
    """A validated experiment and its plan. Build it with :func:`load`."""

    spec: Spec
    source: str | None
    bases: dict[str, Base]
    parameters: list[str]
    points: list[Point]
    seeds: list[int]
    runs: list[RunConfiguration]
    charts: list[Chart]
    hashed: dict[str, Any]
    hash: str
    summaries: list[Summary] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # per-state columns kept (metrics.states, families expanded)
    world: int = 0  # bytes a run holds (budget.world_bytes) at the most states, powers and steps checked, each: a swept size counts, and a large grid checked value by value never pairs its largest sizes

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def distinct_runs(self) -> int:
        return len({r.key for r in self.runs})

    def describe(self) -> str:
        space = f"{len(self.points)} point(s) x {self.spec.replications} replication(s) = {len(self.runs)} runs"
        distinct = self.distinct_runs
        return space + (f" ({distinct} distinct)" if distinct != len(self.runs) else "")

    def resolved(self) -> dict[str, Any]:
        """Everything needed to re-create the plan, as plain JSON (for the manifest)."""
        return {
            "spec": plain(self.spec.model_dump(exclude_none=True)),
            "source": self.source,
            "hash": self.hash,
            "bases": {n: {"path": b.path, "hash": b.hash, "resolved": b.scenario.to_dict(), **({"posterior_sha256": b.posterior_sha256} if b.posterior_sha256 else {})} for n, b in self.bases.items()},
            "seeds": self.seeds,
        }


# --------------------------------------------------------------------------- helpers


def plain(value: Any) -> Any:
    """JSON-ready copy: dates as ISO strings, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: keys sorted, no spaces, no NaN."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


DISPLAY_ONLY = ("color", "lat", "lon")  # of a state or a power: where and how charts draw it, which no run computes with


def scenario_hash(resolved: dict[str, Any]) -> str:
    """Hash of a resolved scenario as its runs depend on it: its posterior by the file's
    content (:func:`abm.posterior.identity`), and every mapping in its order, which
    :func:`canonical_hash` sorts away: the order of states, powers, corridors and shocks
    sets the arrays' indices and the order of random draws, so a scenario reordered is
    another scenario (its runs differ), not the same one. A state's or power's colour and
    map position (:data:`DISPLAY_ONLY`) are left out: recolouring a power for a figure
    must not stop a sweep from resuming or change its runs' keys. So is ``provenance``, a
    run's record (its command, machine, commit) that no run reads: a base that is a run's
    ``scenario.resolved.yaml``, written again on another machine or at another commit with
    the same values, keeps its runs' keys and its sweeps resume."""
    runs_on = {**posterior.identity(resolved), "provenance": None}
    for group in ("states", "powers"):
        if isinstance(runs_on.get(group), dict):
            runs_on[group] = {k: {f: v for f, v in spec.items() if f not in DISPLAY_ONLY} if isinstance(spec, dict) else spec for k, spec in runs_on[group].items()}
    text = json.dumps(plain(runs_on), separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def flow(value: Any) -> str:
    """``value`` as one line of YAML that reads back exactly as ``value`` (``{name: hedging, cap: 0.5}``)."""
    text = yamlfile.dump(plain(value), default_flow_style=True, width=10**9, sort_keys=False)
    return text.removesuffix("..." + chr(10)).strip()


def override(path: str, value: Any) -> str:
    """A ``--set`` string whose YAML value reads back exactly as ``value``."""
    return f"{path}={flow(value)}"


def run_keys(base_hash: str, values: dict[str, Any], seeds: list[int]) -> list[str]:
    """The key of a point's run with each seed: the first 16 hex digits of
    ``canonical_hash({"base": base_hash, "params": values, "seed": seed})``. The point's
    part of that text is written once and each seed appended (JSON's sorted keys put
    ``seed`` last): hashing the whole mapping again for every replication took 13 of the
    17 s a 1,000,000-run plan cost."""
    head = canonical_json({"base": base_hash, "params": values}).removesuffix("}") + ',"seed":'
    return [hashlib.sha256(f"{head}{int(seed)}}}".encode()).hexdigest()[:16] for seed in seeds]


def replication_seeds(master: int, replications: int) -> list[int]:
    """Seed of each replication, drawn from ``SeedSequence(master).spawn``; 63 bits so it
    fits SQLite's integers. Child ``r`` does not depend on how many are spawned, so adding
    replications keeps the seeds of existing ones."""
    children = np.random.SeedSequence(master).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def grid_levels(values: list | dict) -> list[tuple[Any, Any]]:
    """(label, value) of every value of a grid axis: a mapping's keys label its values, a
    listed value labels itself (a list or mapping as its JSON text). Tables, charts and a
    difference chart's ``against`` name levels by these labels."""
    pairs = values.items() if isinstance(values, dict) else [(v if not isinstance(v, dict | list) else json.dumps(plain(v)), v) for v in values]
    return [(plain(label), plain(value)) for label, value in pairs]


def _read(path: Path) -> dict[str, Any]:
    """Read an experiment file with the scenario reader (same checks, same messages)."""
    try:
        return read_yaml(path, what="an experiment")
    except ScenarioError as exc:
        raise ExperimentError(exc.problems, exc.source) from None


def _lookup(tree: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _attribute(problem_path: str, keys: list[str]) -> str | None:
    """The override key a scenario problem comes from, if any."""
    for key in keys:
        if under(problem_path, key) or under(key, problem_path):
            return key
    return None


def base_problems(exc: ScenarioError, where: str, rel: str, keys: list[str]) -> list[tuple[str, str]]:
    """The problems of a spec's base scenario (file ``rel``, read under the spec's ``set:``
    ``keys``) named as the spec's own: ``set.<key>`` for what ``set:`` wrote, the scenario
    file named, and ``where`` (the spec's scenario entry) for the file's. abm sweep and abm
    calibrate word them alike."""
    out = []
    for p, msg in exc.problems:
        key = _attribute(p, keys) if exc.source != "--set" else p
        if key is not None:  # a problem inside the key's value (a typo in a mapping given there) is named by its own path
            out.append((f"set.{p if p.startswith(key + '.') else key}", msg if exc.source == "--set" else f"{msg} (in {rel})"))
        else:
            out.append((where, f"{rel}: {p + ': ' if p else ''}{msg}"))
    return out


# --------------------------------------------------------------------------- loading

# The first lines of the spec a sweep keeps in its folder name the folder its scenario paths
# are relative to (abm.sweep writes it; a scenario not found points there).
PATHS_HEAD = "# scenario paths below are relative to "


def kept_from(where: str | None, root: Path) -> str | None:
    """The folder a spec's paths are relative to, when the spec is the copy a results
    folder keeps (``abm sweep``'s experiment.yaml, ``abm calibrate``'s calibration.yaml:
    their head names that folder, :data:`PATHS_HEAD`) and it is loaded from elsewhere than
    that folder (``root``): None otherwise."""
    try:
        with open(where or "", encoding="utf-8") as f:
            head = [f.readline() for _ in range(2)]
    except OSError:
        return None
    folder = next((line[len(PATHS_HEAD):].strip() for line in head if line.startswith(PATHS_HEAD)), None)
    return None if folder is None or Path(folder) == root.resolve() else folder


def load(source: str | Path | dict[str, Any] | Experiment, base_dir: str | Path | None = None, allow_large: bool = False, sets=()) -> Experiment:
    """Load and validate an experiment; scenario paths are relative to the spec file
    (or to ``base_dir`` for a mapping). Raises :class:`ExperimentError` listing every
    problem. ``allow_large`` lifts the plan and world budgets (:mod:`abm.budget`).
    ``sets`` are ``path=value`` overrides of the spec itself (``abm sweep --set``), applied
    before validation, so that a sweep can be shrunk or varied without copying the file."""
    if isinstance(source, Experiment):
        return source
    if isinstance(source, dict):
        raw, where, root = copy.deepcopy(source), None, Path(base_dir or ".")
    else:
        path = Path(source)
        raw, where, root = _read(path), str(path), Path(base_dir) if base_dir else path.parent
    raw = override_spec(raw, list(sets))
    try:
        return _validate(raw, root, where, allow_large)
    except ExperimentError as exc:  # problems that --set caused are the command line's, not the file's
        raise _blame_overrides(exc, sets) from None


def _validate(raw: Any, root: Path, where: str | None, allow_large: bool) -> Experiment:
    problems: list[tuple[str, str]] = []
    broken: set[str] = set()
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        # The spec's fields are validated independently, so the sound ones are checked further
        # in the same pass (every problem at once); checks that need a broken field are skipped.
        problems = pydantic_problems(exc, Spec)
        broken = {_field(e["loc"]) for e in exc.errors() if e["loc"]}
        if not isinstance(raw, dict) or not broken:
            raise ExperimentError(problems, where) from None
        try:
            spec = Spec.model_validate(_without(raw, broken))
        except ValidationError:
            raise ExperimentError(problems, where) from None
    if "overrides" not in broken:
        problems += stale_overrides(raw)
    return _Builder(spec, root, where, allow_large, problems, broken).build()


def stale_overrides(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """``overrides:`` items that the spec's values no longer agree with. The list is abm
    sweep's record of its ``--set`` (reports and footers quote it); a copy of a results
    folder's ``experiment.yaml`` edited by hand kept it, and every chart then described
    a design the spec no longer had. The overrides are replayed in order onto the spec,
    so that one setting a whole mapping and one setting a key inside it agree whichever
    came last: a spec that agrees with them is left as it is."""
    problems, items, replayed = [], {}, copy.deepcopy(raw)
    for item in raw.get("overrides") or []:
        try:
            path, value = parse_set(item)
        except ScenarioError:
            problems.append(("overrides", f"{item!r} is not path=value"))
            continue
        if (problem := set_path(replayed, spec_keys(path), value)) is not None:
            problems.append(("overrides", f"records --set {item}, which this spec cannot take: {problem}"))
            continue
        items[path] = item
    for path, item in items.items():
        wanted, found = _at(replayed, path), _at(raw, path)
        if wanted != found:
            problems.append(("overrides", f"records --set {item}, but the spec has {path}: {found}"))
    if problems:
        problems[-1] = (problems[-1][0], problems[-1][1] + "; the list records abm sweep --set and is not read: delete it from a spec edited by hand")
    return problems


def _at(spec: dict[str, Any], path: str) -> Any:
    """The value at an override's ``path`` in ``spec``, walked as :func:`set_path` walks
    (a key into a list is its index), or "(not given)"."""
    node: Any = spec
    for key in spec_keys(path):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            node = node.get(key, "(not given)") if isinstance(node, dict) else "(not given)"
    return node


def _field(loc: tuple) -> str:
    """The field an error is in: a top-level one, or one of ``metrics`` (its series,
    summaries and states are checked apart)."""
    if loc[0] == "metrics" and len(loc) > 1 and loc[1] in Metrics.model_fields:
        return f"metrics.{loc[1]}"
    return str(loc[0])


def _without(raw: dict[str, Any], broken: set[str]) -> dict[str, Any]:
    """The spec with its broken fields left to their defaults (a placeholder name)."""
    out = {k: v for k, v in raw.items() if k not in broken}
    inner = {b.split(".")[1] for b in broken if b.startswith("metrics.")}
    if inner and isinstance(out.get("metrics"), dict):
        out["metrics"] = {k: v for k, v in out["metrics"].items() if k not in inner}
    return out | ({"name": "_"} if "name" in broken else {})


# Spec sections whose keys are scenario paths (dotted themselves): ``set.time.steps=20``
# sets the key ``time.steps`` of ``set:``, not a nested mapping.
FLAT_SECTIONS = (("set",), ("grid",), ("sample", "ranges"))


def spec_keys(path: str) -> list[str]:
    """The keys a spec override's ``path`` walks: ``set.time.steps`` is ``set`` then
    ``time.steps``; ``sample.ranges.rules.decay.rate`` is ``sample``, ``ranges``, ``rules.decay.rate``."""
    keys = path.split(".")
    for section in FLAT_SECTIONS:
        if tuple(keys[: len(section)]) == section and len(keys) > len(section):
            return [*section, ".".join(keys[len(section):])]
    return keys


def override_spec(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply ``path=value`` overrides to an experiment spec (values read as YAML, as for
    scenarios): ``replications=2``, ``sample.n=64``, ``set.time.steps=20``,
    ``grid.rules.decision.cap=[0.3, 0.6]``. Unknown fields are then refused by validation
    with the allowed names; the overrides are kept in the spec (and so in the manifest)."""
    if not sets:
        return raw
    out = set_in_spec(raw, sets, lambda path, _: spec_keys(path))
    earlier = out.get("overrides", [])  # a spec written by an earlier sweep with --set lists its own
    out["overrides"] = [*earlier, *sets] if isinstance(earlier, list) else earlier
    return out


def set_in_spec(raw: dict[str, Any], sets: list[str], keys: Callable[[str, Any], list[str]]) -> dict[str, Any]:
    """A copy of a spec (an experiment's, a calibration's) with ``path=value`` overrides
    applied; ``keys(path, value)`` splits a path into the keys it walks (the spec's sections
    keyed by dotted scenario paths). Every path that cannot be set is refused at once, blamed on --set."""
    out = copy.deepcopy(raw)
    problems = []
    for item in sets:
        path, value = parse_set(item)
        if problem := set_path(out, keys(path, value), value):
            problems.append((path, problem))
    if problems:
        raise ExperimentError(problems, "--set")
    return out


# Fields that define the points of the space: they are made only when all of them are sound
# (replications only multiply them: with broken replications the budget counts one).
SPACE = {"scenario", "scenarios", "set", "grid", "sample", "seed"}


class _Builder:
    """Validation in one pass that collects every problem: a check runs unless something it
    needs is broken (``broken``: fields that failed validation), so that a spec with nine
    errors is fixed in one round rather than five, without problems that only echo another."""

    def __init__(self, spec: Spec, root: Path, where: str | None, allow_large: bool = False, problems=(), broken=frozenset()):
        self.spec, self.root, self.where, self.allow_large = spec, root, where, allow_large
        self.problems: list[tuple[str, str]] = list(problems)
        self.broken = set(broken)
        self.missing: set[str] = set()  # swept paths that do not exist in a base scenario
        self.misnamed_summaries = False  # a summary names an unknown metric (check_metrics)

    def sound(self, *fields: str) -> bool:
        """Whether these fields (``grid``, ``metrics.series``) passed validation."""
        return not any(under(f, b) for f in fields for b in self.broken)

    def fail_if_problems(self) -> None:
        if self.problems:  # the count heads the listing, which shows MAX_PROBLEMS of them
            raise ExperimentError(self.problems, self.where)

    def problem(self, path: str, msg: str) -> None:
        if (path, msg) not in self.problems:
            self.problems.append((path, msg))

    def build(self) -> Experiment:
        spec = self.spec
        start = len(self.problems)
        self.check_space()
        space = self.problems[start:]
        sound = not space and self.sound(*SPACE)
        if sound:  # the plan's size, before a single point is made
            bases, points = self.planned_size()
            try:
                budget.check_runs(bases * points * spec.replications, f"the plan ({points:,} points x {spec.replications} replication(s) x {bases} base scenario(s))", self.allow_large)
            except budget.BudgetError as exc:  # blamed on what sets the number of points, which --set may have changed
                self.problem("grid" if spec.sample is None else "sample.n", str(exc))
                sound = False
        charts = self.check_outputs()
        bases: dict[str, Base] = {}
        if self.sound("scenario", "scenarios", "set") and not any(p.split(".")[0] in ("scenario", "scenarios", "set") for p, _ in space):
            bases = self.resolve_bases()
        parameters = list(spec.grid) if spec.sample is None else list(spec.sample.ranges)
        points: list[Point] = []
        checked: list[Scenario] = []
        if bases and len(bases) == len(self.base_names()):  # the rest needs every base scenario
            checked = list(b.scenario for b in bases.values())
            if sound:
                points = self.make_points(bases)
                checked = self.check_points(bases, points)
            series = self.check_metrics(bases, checked)
            states = self.check_states(bases) if self.sound("metrics.states") else []
            if self.sound("grid", "sample", "outcomes"):
                self.check_charts(charts, parameters, series, doubtful=bool(self.missing))
        self.fail_if_problems()

        seeds = replication_seeds(spec.seed, spec.replications)
        runs = [
            RunConfiguration(key, p.index, r, seeds[r])
            for p in points
            for r, key in enumerate(run_keys(bases[p.scenario].hash, p.values, seeds))
        ]
        hashed = {
            "version": SPEC_VERSION,
            "bases": {n: b.hash for n, b in bases.items()},
            "set": plain(spec.set),
            "grid": plain(spec.grid),
            "sample": plain(spec.sample.model_dump()) if spec.sample else None,
            "replications": spec.replications,
            "seed": spec.seed,
            "metrics": plain(spec.metrics.model_dump(exclude={"states"} if not spec.metrics.states else None)),  # sweeps made before metrics.states keep their hash
        }
        return Experiment(
            spec=spec, source=self.where, bases=bases, parameters=parameters, points=points, seeds=seeds, runs=runs,
            charts=[c for c in charts if c is not None], hashed=hashed, hash=canonical_hash(hashed),
            summaries=list(spec.metrics.summaries), series=series, states=states,
            world=budget.world_bytes(max(len(s.states) for s in checked), max(len(s.powers) for s in checked), max(s.time.steps for s in checked)),
        )  # fmt: skip

    # -- stage 1: the spec's own structure
    def check_space(self) -> None:
        spec = self.spec
        if (spec.scenario is None) == (spec.scenarios is None) and self.sound("scenario", "scenarios"):
            self.problem("scenario", "give exactly one of 'scenario' (a base scenario file) or 'scenarios' (named scenario files)")
        if isinstance(spec.scenarios, list | dict) and not spec.scenarios:
            self.problem("scenarios", "must name at least one scenario")
        if isinstance(spec.scenarios, list):
            stems = [Path(p).stem for p in spec.scenarios]
            for stem in sorted(repeated(stems)):
                self.problem("scenarios", f"two files are both named '{stem}'; give them names (scenarios: {{name: path}})")
        for path, values in spec.grid.items():
            if not isinstance(values, list | dict) or not values:
                self.problem(f"grid.{path}", f"give a non-empty list of values or a mapping of label: value (got {values!r})")
                self.broken.add(f"grid.{path}")  # a difference chart by it has no levels to check
            elif isinstance(values, list):  # a value listed twice runs once (one run key), but 1 and 1.0 are two keys for the same runs
                seen: dict[int | float, int | float] = {}
                for value in (v for v in values if isinstance(v, int | float) and not isinstance(v, bool)):
                    if repr(first := seen.setdefault(value, value)) != repr(value):
                        self.problem(f"grid.{path}", f"{first!r} and {value!r} are the same value, which would be run twice under two labels; list it once")
                        break
        swept = spec.sample.ranges if spec.sample is not None else {}
        for section, entries in (("grid", spec.grid), ("sample.ranges", swept)):  # one path inside another: the later one overwrites the earlier at every point
            for outer in entries:
                for inner in (p for p in entries if p.startswith(f"{outer}.")):
                    self.problem(f"{section}.{inner}", f"lies inside {section}.{outer}, which sets it too at every point, so one of the two axes would be lost; sweep {outer} alone (its mappings may vary {inner[len(outer) + 1:]})")
        for section, entries in (("set", spec.set), ("grid", spec.grid), ("sample.ranges", swept)):
            if "seed" in entries:  # the scenario's seed is abm run's default; a sweep's runs take theirs from the plan
                self.problem(f"{section}.seed", "a sweep's runs take their seeds from the spec's 'seed' and 'replications', not the scenario's: set those")
            if "posterior" in entries and section != "set":  # its runs must be keyed by the file's content, as a base scenario's are
                self.problem(f"{section}.posterior", "a posterior cannot be swept: give one scenario per posterior under 'scenarios' (each may set its own posterior:)")
        for section, entries in (("set", spec.set), ("grid", spec.grid)):
            for path, value in entries.items():
                try:  # run keys hash the values: they must be plain, finite data
                    json.dumps(plain(value), allow_nan=False)
                except (TypeError, ValueError):
                    self.problem(f"{section}.{path}", f"values must be numbers, text, lists or mappings, and finite (got {value!r})")
        if spec.sample is not None:
            self.check_sample(spec.sample)

    def planned_size(self) -> tuple[int, int]:
        """The plan's base scenarios and points, before a point is made."""
        spec = self.spec
        bases = 1 if spec.scenario is not None else len(spec.scenarios or ())
        if spec.sample is None:
            return bases, math.prod(len(v) for v in spec.grid.values())
        s = spec.sample
        return bases, sensitivity.expected_points(s.method, s.n, len(s.ranges), s.levels, s.second_order)

    def check_outputs(self) -> list[Chart | None]:
        """Check summaries, outcomes and charts; return the charts, None where one is invalid
        (so that later problems keep the chart's index in the spec)."""
        spec = self.spec
        names = [s.column for s in spec.metrics.summaries]
        for name in names:
            if names.count(name) > 1:
                self.problem("metrics.summaries", f"two summaries are named '{name}'; give one a 'name'")
            if name in RESERVED:
                self.problem("metrics.summaries", f"'{name}' is reserved for a column of the results; choose another name")
            if name in (spec.grid if spec.sample is None else spec.sample.ranges):
                self.problem("metrics.summaries", f"'{name}' is a swept parameter's column; give the summary another 'name'")
        for k, s in enumerate(spec.metrics.summaries):
            found = len(self.problems)
            self.check_summary(f"metrics.summaries.{k}", s)
            if len(self.problems) > found:  # its column's name is not the one meant (a window's dates reversed): names of summaries are not checked
                self.broken.add("metrics.summaries")
        for name, expression in spec.outcomes.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                self.problem(f"outcomes.{name}", "class names use letters, digits, _ . -")
            try:
                terms = discovery.parse(expression)
            except discovery.ClassError as exc:
                self.problem(f"outcomes.{name}", str(exc))
                continue
            for t in terms if self.sound("metrics.summaries") else ():
                if t.summary not in names:
                    self.problem(f"outcomes.{name}", f"'{t.summary}' is not a summary; {choices(t.summary, names, 'summaries:')}")
        charts: list[Chart | None] = []
        for k, raw in enumerate(spec.charts):
            kind = raw.get("type")
            model = CHARTS.get(kind) if isinstance(kind, str) else None
            charts.append(None)
            if model is None:
                self.problem(f"charts.{k}.type", f"unknown chart type {kind!r}; {choices(kind, CHARTS, 'known:')}")
                continue
            try:
                charts[k] = model.model_validate(raw)
            except ValidationError as exc:
                for path, msg in pydantic_problems(exc, model, at=f"charts.{k}"):
                    self.problem(path, msg)
        return charts

    def check_sample(self, s: Sample) -> None:
        if s.method not in sensitivity.SAMPLERS:
            self.problem("sample.method", f"unknown sampler '{s.method}'; {choices(s.method, sensitivity.SAMPLERS, 'known:')}")
            return
        if self.spec.grid:
            self.problem("sample", "a sampled space cannot be combined with 'grid'; put every swept parameter in sample.ranges")
        if s.method in ("sobol", "morris") and isinstance(self.spec.scenarios, list | dict) and len(self.spec.scenarios) > 1:
            self.problem("sample", f"a {s.method} sample needs a single base 'scenario' (sensitivity indices are per scenario)")
        if not s.ranges:
            self.problem("sample.ranges", "give at least one parameter range")
        for path, (lo, hi) in s.ranges.items():
            if not lo < hi:
                self.problem(f"sample.ranges.{path}", f"the lower bound must be below the upper bound (got [{lo}, {hi}])")
        sampler = sensitivity.SAMPLERS[s.method]
        if sampler.needs_n and s.n is None:
            self.problem("sample.n", f"required by the {s.method} sampler ({sampler.description})")
        if s.method == "sobol" and s.n is not None and s.n & (s.n - 1):
            up = 1 << (s.n - 1).bit_length()
            self.problem("sample.n", f"the sobol sampler needs a power of 2 (got {s.n}; try {up // 2} or {up})")
        if s.method == "morris" and s.levels % 2:
            self.problem("sample.levels", f"the morris sampler needs an even number of levels (got {s.levels})")
        # a setting the chosen sampler ignores would let the reader believe it shaped the design
        given = s.model_fields_set
        if "n" in given and not sampler.needs_n:
            self.problem("sample.n", f"does not apply to the {s.method} sampler ({sampler.description}); remove it")
        if "levels" in given and s.method not in ("factorial", "morris"):
            self.problem("sample.levels", f"applies to the factorial and morris samplers, not to {s.method}")
        if "second_order" in given and s.method != "sobol":
            self.problem("sample.second_order", f"applies to the sobol sampler, not to {s.method}")

    def check_summary(self, where: str, s: Summary) -> None:
        if s.stat in ("mean", "min", "max"):
            if s.window and s.last:
                self.problem(where, "give either 'window' or 'last', not both")
            if s.window and s.window[0] > s.window[1]:
                self.problem(f"{where}.window", f"the window ends before it starts ({s.window[0]} > {s.window[1]})")
        elif s.window or s.last:
            self.problem(where, f"'window' and 'last' apply to mean, min and max, not to {s.stat}")
        if s.stat == "at" and s.date is None:
            self.problem(f"{where}.date", "required for stat 'at' (the date whose value is kept)")
        if s.stat != "at" and s.date is not None:
            self.problem(f"{where}.date", f"applies to stat 'at', not to {s.stat}")
        if s.stat == "first_crossing" and s.threshold is None:
            self.problem(f"{where}.threshold", "required for stat 'first_crossing'")
        if s.stat != "first_crossing" and s.threshold is not None:
            self.problem(f"{where}.threshold", f"applies to stat 'first_crossing', not to {s.stat}")

    # -- stage 2: base scenarios
    def base_names(self) -> dict[str, tuple[str, str]]:
        """Scenario name -> (where in the spec, path relative to the spec)."""
        spec = self.spec
        if spec.scenario is not None:
            return {Path(spec.scenario).stem: ("scenario", spec.scenario)}
        if isinstance(spec.scenarios, list):
            return {Path(p).stem: (f"scenarios.{k}", p) for k, p in enumerate(spec.scenarios)}
        return {name: (f"scenarios.{name}", p) for name, p in spec.scenarios.items()}

    def resolve_bases(self) -> dict[str, Base]:
        spec = self.spec
        named = self.base_names()
        # a posterior named here is relative to the experiment file, as scenario paths are
        fixed = [override(path, str((self.root / value).resolve()) if path == "posterior" and isinstance(value, str) else value) for path, value in spec.set.items()]  # not relative to where the sweep started: a Dask worker runs elsewhere
        bases = {}
        for name, (where, rel) in named.items():
            path = self.root / rel
            try:
                raw, found, files = resolve_chain(path)
            except ScenarioError as exc:
                elsewhere = kept_from(self.where, self.root) if not path.exists() else None
                for p, msg in exc.problems:
                    self.problem(where, f"{rel}: not found beside this copy of a sweep's spec; to run it, copy it to the folder its scenario paths are relative to, {elsewhere}" if elsewhere else f"{rel}: {p + ': ' if p else ''}{msg}")
                continue
            try:
                raw = apply_overrides(raw, fixed)
                scenario = build(raw, str(path), self.allow_large, found)
            except ScenarioError as exc:
                for field, msg in base_problems(blame_parents(exc, files, spec.set), where, rel, list(spec.set)):
                    self.problem(field, msg)
                continue
            for p, msg in posterior.overridden(scenario, {p: [v] for p, v in spec.set.items()}):
                self.problem(f"set.{p}", f"{msg} (in {rel})")
            powers = tuple(scenario.powers)  # the model's columns, named from the scenario: the main process need not import the model
            digest = posterior.sha256(scenario.posterior) if scenario.posterior is not None else None
            bases[name] = Base(name, rel, raw, scenario, scenario_hash(scenario.to_dict()), tuple(scenario.metric_names()), tuple(state_columns(list(powers))), powers, digest)
        return bases

    # -- stage 3: the points of the space
    def make_points(self, bases: dict[str, Base]) -> list[Point]:
        spec = self.spec
        if spec.sample is None:
            axes = [[(path, label, value) for label, value in grid_levels(values)] for path, values in spec.grid.items()]
            combos = list(itertools.product(*axes))
            points = []
            for name in bases:
                for combo in combos:
                    points.append(Point(len(points), name, {p: v for p, _, v in combo}, {p: lb for p, lb, _ in combo}))
            return points
        s = spec.sample
        defaults = next(iter(bases.values())).scenario.to_dict()  # a setting's type is the schema's: the same in every base
        integer = [isinstance(v := _lookup(defaults, p), int) and not isinstance(v, bool) for p in s.ranges]
        if s.method == "morris":
            self.check_whole_levels([p for p, is_int in zip(s.ranges, integer) if is_int])
        sampled = sensitivity.sample(s.method, s.ranges, s.n, spec.seed, s.levels, s.second_order, integer)
        points = []
        for name in bases:  # several bases (latin, factorial): the same sample in each
            for row in sampled:
                values = {p: (int(v) if is_int else float(v)) for p, v, is_int in zip(s.ranges, row, integer)}
                points.append(Point(len(points), name, values, values))
        return points

    def check_whole_levels(self, integers: list[str]) -> None:
        """A Morris elementary effect divides a change of output by the nominal step between
        levels; an integer parameter is rounded to whole numbers, so unless its levels fall
        on them the step taken is not the step divided by (a linear response's mu* came out
        6% low over [4, 12] at 4 levels, taken as 4, 7, 9, 12)."""
        s = self.spec.sample
        gaps = s.levels - 1
        for path in integers:
            lo, hi = s.ranges[path]
            if lo != int(lo) or (hi - lo) % gaps:
                wide = math.ceil((hi - lo) / gaps) * gaps
                self.problem(f"sample.ranges.{path}", f"an integer parameter's {s.levels} morris levels must fall on whole numbers: make high - low a multiple of {gaps} (got [{lo:g}, {hi:g}]; try [{math.floor(lo):g}, {math.floor(lo) + wide:g}])")

    def check_points(self, bases: dict[str, Base], points: list[Point]) -> list[Scenario]:
        """Validate the points against their base; return the scenarios checked. Sampled
        spaces are boxes, checked at the corners :func:`box_corners` picks. A grid of
        more than :data:`GRID_CHECKED` points is checked value by value (each value of each
        axis in one point at least): every point, resolved whole, cost 5 ms and 140 KB, so
        that a 100,000-run grid took minutes and gigabytes to validate, even with
        --dry-run; a problem that only a combination of values makes then shows when its
        runs fail."""
        spec = self.spec
        section = "grid" if spec.sample is None else "sample.ranges"
        if spec.sample is not None:
            probes = [Point(-1, name, corner, corner) for name in bases for corner in box_corners(spec.sample.ranges)]
        elif len(points) > GRID_CHECKED:
            seen: set[tuple[str, str, str]] = set()
            probes = []
            for point in points:
                keys = {(point.scenario, path, json.dumps(plain(value), sort_keys=True)) for path, value in point.values.items()} or {(point.scenario, "", "")}
                if not keys <= seen:
                    probes.append(point)
                    seen |= keys
        else:
            probes = points
        checked = list(b.scenario for b in bases.values())
        for point in probes:
            base = bases[point.scenario]
            while True:  # a path that does not exist is reported, then the point is checked without it, so its other values are too
                sets = [item for path, item in zip(point.values, point.sets) if path not in self.missing]
                try:
                    checked.append(build(apply_overrides(base.raw, sets), base.path, self.allow_large))
                    self.check_late_events(checked[-1], point, section)
                    break
                except ScenarioError as exc:
                    if exc.source != "--set":
                        self.report_values(exc, point, section)
                        break
                    for p, msg in exc.problems:  # the parameter path itself does not exist
                        self.problem(f"{section}.{p}", self.missing_at(base, point, p, msg, list(spec.set)))
                        self.missing.add(p)
                    if not any(p in point.values for p, _ in exc.problems):
                        break
            if len(self.problems) >= MAX_PROBLEMS:
                break
        swept = list(spec.grid) if spec.sample is None else list(spec.sample.ranges)
        for path in swept:  # an axis that no point lets act would claim an effect of zero
            if label := labels_only(path):
                self.problem(f"{section}.{path}", f"{label}: sweeping it changes nothing")
                continue
            why = [inert(scn, path) for scn in checked[len(bases):]]
            if why and all(why):
                self.problem(f"{section}.{path}", f"{why[0]}, in every point: sweeping it changes nothing; set or sweep that rule too")
        for name, base in bases.items():  # a base whose posterior draws a swept setting would run the draw at every point
            given = {p: [v for _, v in grid_levels(values)] for p, values in spec.grid.items()} if spec.sample is None else {p: list(bounds) for p, bounds in spec.sample.ranges.items()}
            for path, msg in posterior.overridden(base.scenario, given):
                self.problem(f"{section}.{path}", f"{msg} (scenario {name})")
        return checked

    @staticmethod
    def missing_at(base: Base, point: Point, path: str, msg: str, fixed: list[str]) -> str:
        """Why ``path`` names no setting: ``msg``, in the base scenario, or in the rule (or
        event type) that the spec's ``set:`` (the ``fixed`` paths) chose for it; or, where
        the base has it, at ``point``, whose other values choose a rule without it, as
        ``rules.decision.name: [threshold, hedging]`` crossed with ``rules.decision.cap``."""
        entry, name = ".".join(path.split(".")[:2]), path.split(".")[-1]
        try:
            apply_overrides(base.raw, [item for key, item in zip(point.values, point.sets) if key == path])
        except ScenarioError:
            chosen = [key for key in fixed if under(entry, key) or key == f"{entry}.name"]  # the whole entry, or its rule's name
            return f"{msg}, as set: {', '.join(chosen)} makes it" if chosen else f"{msg} in {base.path}"
        choosing = [key for key in point.values if key != path and (under(key, entry) or under(entry, key))] or [key for key in point.values if key != path]  # the axes that choose the rule
        others = ", ".join(f"{key} = {point.labels[key]}" for key in choosing)
        return f"no such setting at the points where {others}; sweep {entry} whole instead, as labelled entries (label -> {{name: ..., {name}: ...}})"

    def check_late_events(self, scn: Scenario, point: Point, section: str) -> None:
        """A swept value that dates an event (or a shock's start) at or after the run's
        end: that point would run without it, and the sweep would chart the absence as an
        effect of the date. ``abm run`` only warns of such an event, because a scenario
        extending it may reach the date; a sweep's points are the runs themselves. (A swept
        horizon leaves out what comes after it by design, and is not blamed.)"""
        for field, why in scn.late_entries():
            key = next((k for k in point.values if k.startswith(f"{field}.")), None)
            if key is not None:
                self.problem(f"{section}.{key}", f"value {point.labels[key]!r}: {field} {why}")

    def report_values(self, exc: ScenarioError, point: Point, section: str) -> None:
        """A point's refusal, blamed on the swept value that caused each problem."""
        for p, msg in exc.problems:
            key = _attribute(p, list(point.values))
            if key is not None:
                self.problem(f"{section}.{key}", f"value {point.labels[key]!r}: {msg}")
            else:
                self.problem(section, f"point {point.labels}: {p}: {msg}")

    # -- stage 4: metrics and charts
    def check_metrics(self, bases: dict[str, Base], checked: list[Scenario]) -> list[str]:
        spec = self.spec
        known = {n: set(b.metrics) for n, b in bases.items()}
        every = sorted(set.intersection(*known.values()))
        ordered = [m for b in bases.values() for m in b.metrics]
        if spec.metrics.series == "all":  # every metric that every base scenario produces
            series = [m for m in dict.fromkeys(ordered) if all(m in names for names in known.values())]
        else:
            series = list(spec.metrics.series)
            for k, metric in enumerate(series):
                if metric in series[:k]:  # a second column of one name: the store's table could not be made
                    self.problem(f"metrics.series.{k}", f"'{metric}' is listed twice; list each once")
                else:
                    self.check_metric(f"metrics.series.{k}", metric, known, every)
        unfit = False
        for k, s in enumerate(spec.metrics.summaries):  # empty when broken
            self.check_metric(f"metrics.summaries.{k}.metric", s.metric, known, every)
            unfit |= self.check_horizon(f"metrics.summaries.{k}", s, checked)
        # a summary of a metric not produced (a typo), or dated outside the runs (its column
        # is named by its date), names a column the charts cannot know: a chart naming the
        # column it would have once fixed is not a problem of its own
        self.misnamed_summaries = unfit or any(s.metric not in every for s in spec.metrics.summaries)
        return series

    def check_states(self, bases: dict[str, Base]) -> list[str]:
        """The per-state columns ``metrics.states`` keeps, families expanded to one column
        per power (``alignment``: ``alignment_<power>`` for every power), in the agents
        table's order; each must exist in every base scenario."""
        wanted = self.spec.metrics.states
        first = next(iter(bases.values()))
        common = [c for c in first.states if all(c in b.states for b in bases.values())]
        families = state_families(bases)
        if wanted == "all":
            return common
        chosen: list[str] = []
        for k, name in enumerate(wanted):
            where = f"metrics.states.{k}"
            if name in families:
                chosen += families[name]
            elif name in common:
                chosen.append(name)
            elif any(name in b.states for b in bases.values()):
                lacking = [n for n, b in bases.items() if name not in b.states]
                self.problem(where, f"per-state column '{name}' is not produced by scenario(s) {', '.join(lacking)}")
            elif any(name in state_families({n: b}) for n, b in bases.items()):  # a family of each scenario's own powers
                self.problem(where, f"per-state family '{name}' has one column per power every base scenario has, and they share none; give 'all' or columns: {', '.join(common)}")
            else:
                family = f"a family ({', '.join(families)}: one column per power) " if families else ""
                self.problem(where, f"unknown per-state column '{name}'; {did_you_mean(name, [*families, *common])}give 'all', {family}or columns: {', '.join(common)}")
        return [c for c in common if c in set(chosen)]  # the agents table's order, each once

    def check_metric(self, where: str, metric: str, known: dict[str, set[str]], every: list[str]) -> None:
        lacking = [n for n, names in known.items() if metric not in names]
        if len(lacking) == len(known):
            self.problem(where, f"unknown metric '{metric}'; {choices(metric, every, 'known:')}")
        elif lacking:
            self.problem(where, f"metric '{metric}' is not produced by scenario(s) {', '.join(lacking)}")

    def check_horizon(self, where: str, s: Summary, checked: list[Scenario]) -> bool:
        """Whether the summary asks for a step some run does not record (a problem, said)."""
        for scn in checked:
            first, last = scn.date(0), scn.date(scn.time.steps)
            span = f"{first} to {last}"
            if s.date is not None and not first <= s.date <= last:
                self.problem(f"{where}.date", f"{s.date} is outside the simulated period of {scn.name} ({span})")
                return True
            start, end = s.window if s.window is not None and s.window[0] <= s.window[1] else (None, None)  # a reversed window is said already
            if start is not None and not first <= start <= end <= last:  # a part outside would be averaged over the rest
                self.problem(f"{where}.window", f"{start} to {end} is not within the simulated period of {scn.name} ({span})")
                return True
            if start is not None and not any(start <= scn.date(k) <= end for k in range(scn.time.steps + 1)):
                self.problem(f"{where}.window", f"{start} to {end} holds no step of {scn.name}, so every run's value would be blank")
                return True
            if s.last is not None and s.last > scn.time.steps + 1:
                self.problem(f"{where}.last", f"{s.last} steps asked, {scn.name} records {scn.time.steps + 1}")
                return True
        return False

    def check_charts(self, charts: list[Chart | None], parameters: list[str], series: list[str], doubtful: bool = False) -> None:
        """Every chart's metrics and parameters. With ``doubtful`` (a swept path does not
        exist) a chart's parameter missing from the space is not reported: the chart likely
        names the path the space misspells, and the problem is already reported (fixing it
        may reveal more)."""
        spec = self.spec
        summaries = [s.column for s in spec.metrics.summaries]
        groups = ["scenario", "point", *parameters]
        factorial = spec.sample is not None and spec.sample.method == "factorial"
        for k, chart in enumerate(charts):
            if chart is None:  # already refused
                continue
            where = f"charts.{k}"
            if isinstance(chart, DiscoveryChart):
                if chart.outcome not in spec.outcomes:
                    self.problem(f"{where}.outcome", f"'{chart.outcome}' is not an outcome class; {choices(chart.outcome, spec.outcomes, 'declared:', 'none (add outcomes:)')}")
                for p in chart.parameters or []:
                    if p not in parameters and not doubtful:
                        self.problem(f"{where}.parameters", f"'{p}' is not swept; {choices(p, parameters, 'swept:')}")
                if not parameters and len(self.base_names()) < 2:
                    self.problem(where, "a discovery needs a swept parameter or several scenarios to search")
            elif isinstance(chart, TimeseriesChart):
                for metric in chart.metrics if self.sound("metrics.series") else ():
                    if metric not in series:
                        self.problem(f"{where}.metrics", f"'{metric}' is not kept at every step; {did_you_mean(metric, series)}add it to metrics.series")
            else:
                names = [chart.metric] if isinstance(chart, PhaseChart) else chart.metrics
                for metric in names if self.sound("metrics.summaries") else ():
                    if metric not in summaries and not self.misnamed_summaries:
                        self.problem(f"{where}.metric{'s' if not isinstance(chart, PhaseChart) else ''}", f"'{metric}' is not a summary; {choices(metric, summaries, 'summaries:')}")
            if isinstance(chart, DifferenceChart):
                self.check_difference(where, chart, doubtful)
            for attr in ("by", "facet") if not isinstance(chart, DifferenceChart) else ():
                value = getattr(chart, attr, None)
                if value is not None and value not in groups and not doubtful:
                    self.problem(f"{where}.{attr}", f"'{value}' is not swept; {choices(value, groups, 'choose from')}")
            if isinstance(chart, PhaseChart):
                if not (spec.sample is None or factorial):  # scattered points make no cells
                    self.problem(f"{where}.type", f"a phase chart needs a grid or sample.method: factorial, not {spec.sample.method}")
                for attr in ("x", "y"):
                    value = getattr(chart, attr)
                    if value not in parameters and not doubtful:
                        self.problem(f"{where}.{attr}", f"'{value}' must be a grid parameter (or a factorial range); {choices(value, parameters, 'swept:')}")
                if chart.x == chart.y:
                    self.problem(where, "x and y must be different parameters")
            for kind in ("sobol", "morris"):
                if getattr(chart, "type") == kind and (spec.sample is None or spec.sample.method != kind):
                    self.problem(f"{where}.type", f"a {kind} chart needs sample.method: {kind}")


    def check_difference(self, where: str, chart: DifferenceChart, doubtful: bool) -> None:
        """A difference chart's ``by`` must have levels that share their seeds: a grid
        parameter, or the base scenarios when there are several (every point runs the same
        replication seeds, so any two levels pair up; a sampled parameter has no levels);
        ``against`` must be one of them, and another level must be there to compare."""
        spec = self.spec
        bases = list(self.base_names())
        grid = list(spec.grid) if spec.sample is None else []
        if chart.by == "scenario" and len(bases) > 1:
            levels = bases
        elif chart.by in grid:
            if not self.sound(f"grid.{chart.by}"):
                return  # its values are refused already: it has no levels to compare
            levels = list(dict.fromkeys(label for label, _ in grid_levels(spec.grid[chart.by])))
        else:
            comparable = grid + (["scenario"] if len(bases) > 1 else [])
            listed = ", ".join(comparable) or "none: sweep a grid parameter or several scenarios"
            if spec.sample is not None and chart.by in spec.sample.ranges:
                why = f"'{chart.by}' is sampled, so no two runs share its values; a difference chart compares levels of a grid parameter or scenarios"
            elif chart.by == "scenario":
                why = f"there is one base scenario (give several under scenarios); choose from {listed}"
            elif doubtful:  # likely the path the space misspells, which is reported already
                return
            else:
                why = f"'{chart.by}' is not a grid parameter or scenario; {choices(chart.by, comparable, 'choose from', listed)}"
            self.problem(f"{where}.by", why)
            return
        if chart.zoom:
            self.problem(f"{where}.zoom", "a difference chart's scale always fits the differences around 0: remove zoom")
        if len(levels) < 2:
            self.problem(f"{where}.by", f"'{chart.by}' has a single level ({levels[0]}): nothing to compare with it")
        if chart.against not in levels:
            shown = [str(v) for v in levels]
            if isinstance(chart.against, str) and chart.against in shown:  # against: '0.4' for the level 0.4
                self.problem(f"{where}.against", f"'{chart.against}' is text, the level {chart.against} of {chart.by} a number: write it without quotes")
            else:
                self.problem(f"{where}.against", f"{chart.against!r} is not a level of {chart.by}; {choices(chart.against, shown, 'levels:')}")


def state_families(bases: dict[str, Base]) -> dict[str, list[str]]:
    """Per-power families of per-state columns (``alignment``, each domain's share,
    ``declared``, ``opinion``)
    and their columns for the powers every base scenario has."""
    from abm.store import family_of

    powers = [p for p in next(iter(bases.values())).powers if all(p in b.powers for b in bases.values())]
    families: dict[str, list[str]] = {}
    for column in next(iter(bases.values())).states:
        if found := family_of(column, powers):
            families.setdefault(found[0], []).append(column)
    return families


# --------------------------------------------------------------------------- summaries


def decimal_year(iso: str) -> float:
    day = dt.date.fromisoformat(iso)
    start = dt.date(day.year, 1, 1)
    return day.year + (day - start).days / (dt.date(day.year + 1, 1, 1) - start).days


def summarise(frame: pd.DataFrame | dict[str, np.ndarray], summaries: list[Summary]) -> list[float]:
    """One value per summary from a run's per-step frame (``date`` then metric columns),
    or the same columns as arrays (what a sweep worker extracts once per run).

    ``at`` takes the value in force at the date (the last step dated on or before it);
    ``first_crossing`` gives the decimal year of the first step at or beyond the
    threshold, NaN if it is never crossed."""
    dates = np.asarray(frame["date"]).astype(str)
    out = []
    for s in summaries:
        values = np.asarray(frame[s.metric], dtype=float)
        if s.stat == "final":
            out.append(float(values[-1]))
        elif s.stat in ("mean", "min", "max"):
            if s.window:
                chosen = values[(dates >= s.window[0].isoformat()) & (dates <= s.window[1].isoformat())]
            else:
                chosen = values[-s.last :] if s.last else values
            out.append(float(getattr(np, s.stat)(chosen)) if len(chosen) else float("nan"))
        elif s.stat == "at":
            row = in_force(dates, s.date)
            out.append(float(values[row]) if row >= 0 else float("nan"))
        else:
            hit = np.flatnonzero(values >= s.threshold if s.direction == "above" else values <= s.threshold)
            out.append(decimal_year(dates[hit[0]]) if len(hit) else float("nan"))
    return out


# --------------------------------------------------------------------------- changes


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON trees differ, with both values for leaves."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        if list(old) != list(new) and set(old) == set(new):  # scenario hashes count the order (scenario_hash)
            out.append(f"{prefix or '<top>'}: order {', '.join(map(str, old))[:60]} -> {', '.join(map(str, new))[:60]}")
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{path}: added")
            elif key not in new:
                out.append(f"{path}: removed")
            else:
                out += differences(old[key], new[key], path)
        return out
    if old == new and isinstance(old, list) and isinstance(new, list):  # as [0, 1] and [0.0, 1.0] are: each item's type counts
        return [d for k, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{prefix}[{k}]")]
    if old != new or type(old) is not type(new):  # 8 and 8.0 are equal but hash apart: a resume refused with no field named
        same = " (the same value written another way: write it as the sweep was made)" if old == new else ""
        return [f"{prefix or '<top>'}: {json.dumps(old)[:60]} -> {json.dumps(new)[:60]}{same}"]
    return []
