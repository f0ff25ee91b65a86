"""Out-of-sample validation: simulated changes against observed ones, over many runs.

Observations use the schema of the patterns (:mod:`abm.patterns`): an output of a run, the
observed direction or size as the target, and a tolerance. Each run is one seed (with
``posterior:``, one draw of the parameters too), so the spread carries both uncertainties.
scripts/validate_2020.py applies it to configs/start_2020.yaml.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from abm import patterns as pat
from abm.calibrate import simulate
from abm.chartstyle import wilson95
from abm.scenario import Scenario


def one_run(scenario: Scenario, observations: list[pat.Pattern], seed: int) -> dict[str, float]:
    return simulate(scenario, [seed], observations, scenario.time.steps, True)  # with posterior: the run draws its parameters


def compare(scenario: Scenario, observations: list[pat.Pattern], seeds: int, executor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's values (one row per seed 0..seeds-1) and the table: per observation the
    target, the simulated 5%, 50% and 95% quantiles, the share of runs within tolerance
    with its 95% Wilson interval, whether a change of zero is within tolerance too (a
    model in which nothing moves: the benchmark a share must beat), and the share of runs
    that move the observed way (none for a target of no change)."""
    runs = list(executor.map(functools.partial(one_run, scenario, observations), range(seeds)))
    values = pd.DataFrame(runs)
    values.insert(0, "seed", range(seeds))
    rows = []
    for o in observations:
        x = values[o.id].to_numpy(dtype=float)
        hits = sum(map(o.reproduced, x))
        low, high = wilson95(hits, len(x))
        way = o.target.direction()
        rows.append({"observation": o.id, "observed": f"{o.target.describe()} (tolerance {o.tolerance:g})", "q05": float(np.nanquantile(x, 0.05)),
                     "median": float(np.nanmedian(x)), "q95": float(np.nanquantile(x, 0.95)), "reproduced": hits / len(x),
                     "reproduced_ci95": f"{low:.2f}-{high:.2f}", "no_change": "yes" if o.reproduced(0.0) else "no",
                     "right_way": f"{np.mean(np.sign(x[np.isfinite(x)]) == way):.2f}" if way else "none observed"})  # over the runs with a value, as the quantiles
    return values, pd.DataFrame(rows)


def counts(values: pd.DataFrame, observations: list[pat.Pattern]) -> str:
    """How many observations each run reproduces, against a change of zero everywhere:
    the line under the table that says whether the model beats standing still."""
    per_run = sum(values[o.id].map(o.reproduced).astype(int) for o in observations)
    spread = ", ".join(f"{k} in {n} run{'s' if n > 1 else ''}" for k, n in per_run.value_counts().sort_index().items())
    still = [o.id for o in observations if o.reproduced(0.0)]
    return (f"Observations reproduced per run (of {len(observations)}): {spread}. A change of zero everywhere reproduces {len(still)}: "
            f"{', '.join(still)}.")
