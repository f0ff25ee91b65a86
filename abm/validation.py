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
from abm.scenario import Scenario


def one_run(scenario: Scenario, observations: list[pat.Pattern], seed: int) -> dict[str, float]:
    return simulate(scenario, [seed], observations, scenario.time.steps, True)  # with posterior: the run draws its parameters


def compare(scenario: Scenario, observations: list[pat.Pattern], seeds: int, executor) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run's values (one row per seed 0..seeds-1) and the table: per observation the
    target, the simulated 5%, 50% and 95% quantiles and the share of runs within tolerance."""
    runs = list(executor.map(functools.partial(one_run, scenario, observations), range(seeds)))
    values = pd.DataFrame(runs)
    values.insert(0, "seed", range(seeds))
    rows = []
    for o in observations:
        x = values[o.id].to_numpy(dtype=float)
        rows.append({"observation": o.id, "observed": f"{o.target.describe()} (tolerance {o.tolerance:g})", "q05": float(np.nanquantile(x, 0.05)),
                     "median": float(np.nanmedian(x)), "q95": float(np.nanquantile(x, 0.95)), "reproduced": float(np.mean([o.score(v) <= 1 for v in x]))})
    return values, pd.DataFrame(rows)
