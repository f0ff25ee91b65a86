"""Runs that carry parameter uncertainty: ``posterior: PATH`` in a scenario.

PATH is a posterior written by ``abm calibrate`` (posterior.csv or posterior.parquet: one
column per parameter, named by its ``--set`` path, and a ``weight`` column). Each run draws
one particle, with probability its weight, from a stream seeded by the run's seed alone, and
runs with those parameter values: the same seed gives the same draw, and N seeds give N
draws, so ``abm run --seeds``, ``abm compare`` and sweeps spread over parameter and seed
uncertainty together.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is loaded only when a posterior is read, so `abm validate` stays light
    import pandas as pd

STREAM = 0x9057  # a stream of its own: the draw does not consume the model's random numbers


class PosteriorError(ValueError):
    """A posterior file that cannot be used."""


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> pd.DataFrame:
    import pandas as pd  # here: validating a scenario with a posterior must not load pandas

    p = Path(path)
    frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    if "weight" not in frame.columns or len(frame.columns) < 2 or frame.empty:
        raise PosteriorError(f"posterior {path}: needs a 'weight' column and at least one parameter column (as abm calibrate writes)")
    weights = frame["weight"].to_numpy(dtype=float)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise PosteriorError(f"posterior {path}: weights must be non-negative numbers with a positive sum")
    return frame


def table(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise PosteriorError(f"posterior file not found: {path}")
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


def problems(scenario) -> list[tuple[str, str]]:
    """Validation of a scenario's ``posterior:`` (called by abm.scenario)."""
    if scenario.posterior is None:
        return []
    try:
        table(scenario.posterior)
    except PosteriorError as exc:
        return [("posterior", str(exc))]
    return []


def apply(scenario, seed: int):
    """``scenario`` with the parameters of run ``seed``'s draw (unchanged without ``posterior:``)."""
    if scenario.posterior is None:
        return scenario
    from abm.scenario import ScenarioError, load

    try:
        row, values = draw(scenario.posterior, seed)
    except PosteriorError as exc:
        raise ScenarioError([("posterior", str(exc))]) from None
    drawn = load(scenario, [f"{k}={v!r}" for k, v in values.items()])
    drawn.provenance = {**(scenario.provenance or {}), "posterior_draw": {"file": scenario.posterior, "row": row, "values": values}}
    return drawn
