"""Samplers and sensitivity analysis: thin wrappers over SALib.

Sampling designs and their analyses are taken from SALib (Herman and Usher 2017) rather
than written here, because getting them right is subtle (Saltelli's cross-sampling
order, Morris trajectories, bootstrap confidence intervals) and SALib is the reference
implementation modellers cite. What this module adds is what SALib leaves to its caller:

- one table of samplers with the number of points each produces, so an experiment can
  say up front how many runs it will make;
- a refusal to analyse outputs with missing or NaN values. SALib does not check: a NaN
  in ``Y`` propagates into indices that come back as NaN or, after its internal
  normalisation, as zeros, without a word. A sensitivity table built on silently
  dropped runs is worse than none. The same holds for Sobol indices of an output that
  never varies: shares of no variance, which SALib's normalisation (0/0) also returns
  as zeros;
- the second-order indices SALib computes when the design was drawn for them, as pairs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

Ranges = dict[str, tuple[float, float]]


class UnusableOutputError(ValueError):
    """Outputs an analysis cannot use were handed to it: missing or NaN values, or (Sobol)
    the same value at every point."""


@dataclass(frozen=True)
class Sampler:
    """A named design: how many points it makes and how to draw them."""

    name: str
    description: str
    count: Callable[[int, int, int, bool], int]  # (n, dimensions, levels, second_order) -> points
    draw: Callable[[dict, int, int, int, bool], np.ndarray]  # (problem, n, seed, levels, second_order)
    needs_n: bool = True
    analysis: str | None = None  # the analysis this design supports
    uniform: bool = False  # draws anywhere in the box (not on a grid of levels)


def _factorial(problem, n, seed, levels, second_order):
    axes = [np.linspace(lo, hi, levels) for lo, hi in problem["bounds"]]
    return np.array(list(itertools.product(*axes)), dtype=float)


def _latin(problem, n, seed, levels, second_order):
    from SALib.sample import latin

    return latin.sample(problem, n, seed=seed)


def _sobol(problem, n, seed, levels, second_order):
    from SALib.sample import sobol

    return sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed)


def _morris(problem, n, seed, levels, second_order):
    from SALib.sample import morris

    return morris.sample(problem, n, num_levels=levels, seed=seed)


SAMPLERS: dict[str, Sampler] = {
    s.name: s
    for s in (
        Sampler("factorial", "full factorial: `levels` evenly spaced values per range", lambda n, d, lv, so: lv**d, _factorial, needs_n=False),
        Sampler("latin", "Latin hypercube of `n` points", lambda n, d, lv, so: n, _latin, uniform=True),
        Sampler("sobol", "Saltelli/Sobol' sequence for Sobol indices: n*(D+2) points, n*(2D+2) with second order", lambda n, d, lv, so: n * (2 * d + 2 if so else d + 2), _sobol, analysis="sobol", uniform=True),
        Sampler("morris", "Morris elementary-effects design: `n` trajectories of D+1 points", lambda n, d, lv, so: n * (d + 1), _morris, analysis="morris"),
    )
}


def problem(ranges: Ranges) -> dict:
    """SALib's problem dictionary for named ranges (order kept)."""
    return {"num_vars": len(ranges), "names": list(ranges), "bounds": [[float(lo), float(hi)] for lo, hi in ranges.values()]}


def expected_points(method: str, n: int | None, dimensions: int, levels: int = 4, second_order: bool = False) -> int:
    """How many points ``method`` draws: the documented count, known before sampling."""
    return SAMPLERS[method].count(n or 0, dimensions, levels, second_order)


def sample(method: str, ranges: Ranges, n: int | None, seed: int, levels: int = 4, second_order: bool = False, whole: list[bool] | None = None) -> np.ndarray:
    """Draw the design; one row per point, one column per range, in the ranges' order.

    The ranges flagged in ``whole`` take whole numbers. A design on a grid of levels
    (factorial, morris) rounds its levels. One drawn anywhere in the box (latin, sobol)
    draws such a range over [low, high + 1) and floors, so that every whole number in it
    is as likely as another: rounding draws over [low, high] would give the two ends half
    the weight of the values between, and the indices would describe that distribution.
    """
    sampler = SAMPLERS[method]
    whole = [bool(w) and np.ceil(lo) <= np.floor(hi) for (lo, hi), w in zip(ranges.values(), whole or [False] * len(ranges))]  # a range holding no whole number is drawn as given: the experiment's checks refuse it
    bounds = [(np.ceil(lo), np.floor(hi)) if w else (lo, hi) for (lo, hi), w in zip(ranges.values(), whole)]
    drawn = {p: (lo, hi + 1) if w and sampler.uniform else (lo, hi) for p, (lo, hi), w in zip(ranges, bounds, whole)}
    points = sampler.draw(problem(drawn), n or 0, seed, levels, second_order)
    expected = expected_points(method, n, len(ranges), levels, second_order)
    if len(points) != expected:  # a SALib change of convention must not go unnoticed
        raise RuntimeError(f"{method} sampler drew {len(points)} points, expected {expected}")
    for j in np.flatnonzero(whole):
        points[:, j] = np.minimum(np.floor(points[:, j]), bounds[j][1]) if sampler.uniform else np.round(points[:, j])
    return points


def require_complete(y: np.ndarray, what: str, missing: int = 0) -> np.ndarray:
    """Refuse outputs with gaps. ``y`` holds NaN wherever there is no usable value;
    ``missing`` says how many of those are points without a finished run (failed or not
    yet run), so the message can tell them from runs whose summary is NaN."""
    y = np.asarray(y, dtype=float)
    nan = int(np.isnan(y).sum()) - missing
    if missing or nan:
        remedy = " or ".join(r for r, needed in (("re-run the missing runs (abm sweep ... --resume)", missing), ("choose a summary defined for every run", nan)) if needed)
        raise UnusableOutputError(
            f"{what}: refused, {missing + nan} of {len(y)} design points have no usable value "
            f"({missing} without a finished run, {nan} NaN); SALib would silently return wrong indices. {remedy[0].upper()}{remedy[1:]}"
        )
    return y


def sobol_indices(ranges: Ranges, y: np.ndarray, seed: int, second_order: bool = False, conf_level: float = 0.95, what: str = "output") -> pd.DataFrame:
    """First-order and total Sobol indices with bootstrap confidence half-widths; with
    ``second_order``, ``attrs["second_order"]`` holds each pair's S2 and half-width."""
    from SALib.analyze import sobol

    y = require_complete(y, what)
    if np.ptp(y) == 0:
        raise UnusableOutputError(f"{what}: refused, the same value ({y[0]:.6g}) at every design point: no parameter moves it within these ranges, "
                                  "and Sobol indices, shares of its variance, are undefined (SALib would return zeros); choose a summary that varies, or a longer horizon")
    res = sobol.analyze(problem(ranges), y, calc_second_order=second_order, conf_level=conf_level, seed=seed)
    names = list(ranges)
    table = pd.DataFrame({"parameter": names, "S1": res["S1"], "S1_conf": res["S1_conf"], "ST": res["ST"], "ST_conf": res["ST_conf"]})
    if second_order:  # each pair once: SALib fills the upper triangle
        i, j = np.triu_indices(len(names), 1)
        table.attrs["second_order"] = pd.DataFrame({"parameter": [names[a] for a in i], "with": [names[b] for b in j], "S2": res["S2"][i, j], "S2_conf": res["S2_conf"][i, j]})
    return table


def morris_indices(ranges: Ranges, x: np.ndarray, y: np.ndarray, seed: int, levels: int = 4, conf_level: float = 0.95, what: str = "output") -> pd.DataFrame:
    """Morris screening: mean absolute elementary effect mu* (with confidence) and sigma."""
    from SALib.analyze import morris

    y = require_complete(y, what)
    res = morris.analyze(problem(ranges), np.asarray(x, dtype=float), y, num_levels=levels, conf_level=conf_level, seed=seed)
    return pd.DataFrame(
        {
            "parameter": list(ranges),
            "mu": np.asarray(res["mu"], dtype=float),
            "mu_star": np.asarray(res["mu_star"], dtype=float),
            "mu_star_conf": np.asarray(res["mu_star_conf"], dtype=float),
            "sigma": np.asarray(res["sigma"], dtype=float),
        }
    )
