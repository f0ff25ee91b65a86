"""Runs that carry parameter uncertainty: ``posterior: PATH`` in a scenario.

PATH is a posterior written by ``abm calibrate`` (posterior.csv or posterior.parquet: one
column per parameter, named by its ``--set`` path, and a ``weight`` column). Each run draws
one particle, with probability its weight, from a stream seeded by the run's seed alone, and
runs with those parameter values: the same seed gives the same draw, and N seeds give N
draws, so ``abm run --seeds``, ``abm compare`` and sweeps spread over parameter and seed
uncertainty together.

A run's ``scenario.resolved.yaml`` names the file relative to the run's folder where both
lie under one folder below the file system's root (a project moved or copied whole still
re-runs), and records its sha256 as ``provenance.posterior_sha256``: a re-run whose file
has changed since is refused, not run with other parameters.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abm.units import repeated

if TYPE_CHECKING:  # pandas is loaded only when a posterior is read, so `abm validate` stays light
    import pandas as pd

STREAM = 0x9057  # a stream of its own: the draw does not consume the model's random numbers


class PosteriorError(ValueError):
    """A posterior file that cannot be used."""


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> pd.DataFrame:
    import pandas as pd  # here: validating a scenario with a posterior must not load pandas

    p = Path(path)
    if p.suffix != ".parquet":
        with p.open(newline="", encoding="utf-8") as f:  # pandas renames a repeated column (x, x.1), which then reads as no setting
            rows = csv.reader(f)
            header = next(rows, [])
            if twice := repeated(header):
                raise PosteriorError(f"posterior {path}: column '{twice[0]}' appears twice; each parameter has one column")
            for row in rows:  # pandas reads a row one field longer than the header as index + values, every value one column to the left
                if any(field.strip() for field in row) and len(row) != len(header):  # pandas skips blank lines
                    raise PosteriorError(f"posterior {path}: line {rows.line_num} has {len(row)} fields, the header {len(header)}" + (" (a row name or index? remove it)" if len(row) == len(header) + 1 else ""))
    frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    if frame.empty and "weight" in frame.columns and len(frame.columns) > 1:
        raise PosteriorError(f"posterior {path}: a header and no rows; abm calibrate writes one row per particle")
    if "weight" not in frame.columns or len(frame.columns) < 2 or frame.empty:
        raise PosteriorError(f"posterior {path}: needs a 'weight' column and at least one parameter column (as abm calibrate writes)")
    weights = frame["weight"].to_numpy(dtype=float)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise PosteriorError(f"posterior {path}: weights must be non-negative numbers with a positive sum")
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or not np.all(np.isfinite(frame[column].to_numpy(dtype=float))):
            raise PosteriorError(f"posterior {path}: column '{column}' must hold a finite number in every row (abm calibrate's parameters are numbers)")
    return frame


def table(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    try:
        found = p.is_file()
    except OSError as exc:  # is_file() is False for a missing file only; a name too long or an unreadable folder raises
        raise PosteriorError(f"posterior file cannot be opened ({exc.strerror}): {path}") from None  # the path last: a long one is cut
    if not found:
        raise PosteriorError(f"posterior file not found: {path}" if not p.is_dir() else f"posterior {path}: a folder, not a file")
    try:
        return _read(str(p), p.stat().st_mtime)
    except (OSError, ValueError) as exc:
        if isinstance(exc, PosteriorError):
            raise
        raise PosteriorError(f"posterior {path}: cannot read it as {'Parquet' if p.suffix == '.parquet' else 'CSV'}: {exc}") from None


def draw(path: str | Path, seed: int) -> tuple[int, dict[str, float]]:
    """The particle (row, parameter values) that run ``seed`` uses."""
    frame = table(path)
    weights = frame["weight"].to_numpy(dtype=float)
    row = int(np.random.default_rng([STREAM, seed]).choice(len(frame), p=weights / weights.sum()))
    return row, {c: float(frame[c].iloc[row]) for c in frame.columns if c != "weight"}


@functools.lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sha256(path: str | Path) -> str:
    info = os.stat(path)
    return _sha256(str(path), info.st_mtime_ns, info.st_size)


def identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """``resolved`` (a scenario as plain data) as its runs' identity, for hashing: its
    posterior named by the file's sha256 rather than by its path, so that a sweep moved
    with its project (another clone, a cluster's disk) still resumes, and one whose
    posterior was re-fitted under the same name does not mix runs of the two. Without a
    posterior, ``resolved`` itself."""
    if resolved.get("posterior") is None:
        return resolved
    return {**resolved, "posterior": {"sha256": sha256(resolved["posterior"])}}


def portable(resolved: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """``resolved`` (a scenario with its provenance) as written into the output folder
    ``folder``: its posterior named relative to ``folder`` where they share a folder
    below the root (as given otherwise), the file's sha256 in its provenance. Without a
    posterior, no posterior record carried over from a re-run file."""
    record = resolved.get("provenance") or {}
    if resolved.get("posterior") is None:
        for key in ("posterior_sha256", "posterior_draw", "posterior_file"):
            record.pop(key, None)
        return resolved
    path, here = Path(resolved["posterior"]).resolve(), Path(folder).resolve()
    name = os.path.relpath(path, here) if os.path.commonpath([path, here]) != path.anchor else resolved["posterior"]
    resolved["provenance"] = record  # a scenario as loaded has none yet
    record.pop("posterior_file", None)  # a note of the loader's, for the file it read (the path below is the folder's)
    record["posterior_sha256"] = sha256(path)
    if (draw := record.get("posterior_draw") or {}).get("file") == resolved["posterior"]:
        record["posterior_draw"] = {**draw, "file": name}
    resolved["posterior"] = name
    return resolved


def problems(scenario) -> list[tuple[str, str]]:
    """Validation of a scenario's ``posterior:`` (called by abm.scenario): the file
    unchanged since the run that recorded its sha256 (``provenance.posterior_sha256``),
    its shape, every column a real-valued setting of the scenario and every value within
    that setting's range, so that ``abm validate`` refuses what runs would. Rules
    across settings (a domain's tie shares sum to at most 1) are checked on each run's draw."""
    from pydantic import TypeAdapter, ValidationError

    from abm.scenario import find_setting, not_real_valued, pydantic_problems

    if scenario.posterior is None:
        return []
    try:
        frame = table(scenario.posterior)
    except PosteriorError as exc:
        return [("posterior", str(exc))]
    record = scenario.provenance or {}
    recorded = record.get("posterior_sha256")  # of the file the run used, which --set or an extending file may replace
    if recorded is not None and record.get("posterior_file") == scenario.posterior and recorded != (now := sha256(scenario.posterior)):
        return [("posterior", f"the posterior file changed after the run (sha256 {now[:8]}, recorded {str(recorded)[:8]}): "
                              f"restore it, or delete provenance.posterior_sha256; the file: {scenario.posterior}")]  # the path last: a long one is cut
    reference = scenario.to_dict()
    found = []
    for column in frame.columns.drop("weight"):
        problem, kind = find_setting(reference, column.split("."))
        if not_real_valued(reference, column):
            problem = "not a real-valued setting; a posterior draws real-valued settings only, as abm calibrate calibrates them"
        if problem is None:
            adapter = TypeAdapter(kind)
            for row, value in enumerate(frame[column].tolist()):
                try:
                    adapter.validate_python(value)
                except ValidationError as exc:
                    problem = f"row {row}: {pydantic_problems(exc, kind)[0][1]}"  # in the scenario's words, its range whole
                    break
        if problem is not None:
            found.append(("posterior", f"posterior {scenario.posterior}: column {column}: {problem}"))
    return found


def overridden(scenario, given: dict[str, list]) -> list[tuple[str, str]]:
    """The settings given a value (``--set``, an experiment's ``set:`` or axes: path ->
    the values given to it) that the scenario's posterior draws: every run's draw would
    replace them, while titles and provenance said they were used. A mapping given above
    a drawn setting counts where it holds that setting (``rules.decision={cap: 0.3, noise:
    0.2}`` where noise is drawn), not otherwise: its other settings apply, as they would
    one by one."""
    from abm.scenario import under

    if scenario.posterior is None or not given:
        return []
    try:
        drawn = [c for c in table(scenario.posterior).columns if c != "weight"]
    except PosteriorError:
        return []  # reported by problems()
    found = []
    for path, values in given.items():
        held = [c for c in drawn if under(c, path) and any(_holds(v, c[len(path) + 1:].split(".") if c != path else []) for v in values)]
        if held:
            what = "" if held == [path] else f"holds {', '.join(held)}, "
            found.append((path, f"{what}drawn from the posterior in every run, which replaces this value; leave it to the posterior, or set posterior=null"))
    return found


def _holds(value: Any, keys: list[str]) -> bool:
    """Whether ``value``, given to a setting, holds the setting ``keys`` below it (a value
    that is not a mapping replaces everything below)."""
    for key in keys:
        if not isinstance(value, dict):
            return True
        if key not in value:
            return False
        value = value[key]
    return True


def apply(scenario, seed: int):
    """``scenario`` with the parameters of run ``seed``'s draw (unchanged without
    ``posterior:``). It is loaded without its posterior, checked already (loading it
    with it would check the file again, in every run). A refusal here (a rule across
    settings) names the posterior file and row, not --set, which the user never gave."""
    if scenario.posterior is None:
        return scenario
    from abm.scenario import ScenarioError, load

    try:
        row, values = draw(scenario.posterior, seed)
    except PosteriorError as exc:
        raise ScenarioError([("posterior", str(exc))]) from None
    try:
        drawn = load(scenario.model_copy(update={"posterior": None}), [f"{k}={v!r}" for k, v in values.items()])
    except ScenarioError as exc:
        raise ScenarioError([("posterior", f"posterior {scenario.posterior}, row {row}: {path}: {message}") for path, message in exc.problems]) from None
    drawn.posterior = scenario.posterior
    drawn.provenance = {**(scenario.provenance or {}), "posterior_draw": {"file": scenario.posterior, "row": row, "values": values}}
    return drawn
