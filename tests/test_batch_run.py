"""Mesa's own batch runner drives the model: keyword parameters in, rows of metrics out."""

from __future__ import annotations

import multiprocessing

import mesa
import numpy as np
import pandas as pd
import pytest

from abm.model import RegionModel
from abm.runner import run

try:  # tests/ on sys.path (no tests/__init__.py) ...
    from conftest import BASELINE
except ImportError:  # ... or tests/ is a package
    from tests.conftest import BASELINE

METRICS = ("fragmentation", "integration", "polarization", "blocs", "mean_dependency_hhi", "regional_trade_share", "offers_made", "coercion_events")


@pytest.fixture(scope="module", autouse=True)
def start_method():
    """The start method before this file's first batch_run: read at import, it was the one
    before any test, which another file's sweep may since have fixed."""
    return multiprocessing.get_start_method(allow_none=True)


def batch(**kwargs) -> pd.DataFrame:
    rows = mesa.batch_run(RegionModel, number_processes=1, display_progress=False, max_steps=100, **kwargs)
    return pd.DataFrame(rows)


def test_batch_run_returns_metric_rows(restore_start_method):
    frame = batch(parameters={"scenario": str(BASELINE), "steps": 5}, rng=[1, 2])
    scn = RegionModel(str(BASELINE), rng=0).config
    n_states = len(scn.states)
    assert len(frame) == 2 * n_states  # final step only; one row per state and run
    assert set(frame["rng"]) == {1, 2}
    assert (frame["Step"] == 5).all()
    for column in (*METRICS, *(f"influence_{p}" for p in scn.powers), "state", *(f"alignment_{p}" for p in scn.powers)):
        assert column in frame.columns, column
    for column in ("fragmentation", "integration", "polarization", "mean_dependency_hhi"):
        assert frame[column].between(0.0, 1.0).all()
    influence = frame[[f"influence_{p}" for p in scn.powers]].to_numpy()
    assert np.all(influence.sum(axis=1) <= 1.0) and np.all(influence.sum(axis=1) > 0.5)  # the rest is other partners
    assert sorted(frame.groupby("rng")["state"].apply(sorted).iloc[0]) == sorted(scn.states)


def test_batch_run_matches_the_runner(restore_start_method):
    frame = batch(parameters={"scenario": str(BASELINE), "steps": 4}, rng=[3])
    reference = run(BASELINE, seed=3, steps=4).model.iloc[-1]
    row = frame.iloc[0]
    for column in METRICS:
        assert row[column] == pytest.approx(reference[column]), column


# The EU brings new money: states in Russia's orbit defect, and Russia coerces them.
PUSH = tuple(f"powers.european_union.budget.{d}=3.0" for d in ("investment", "security", "trade"))


def test_batch_run_sweeps_a_parameter_every_step(restore_start_method):
    frame = batch(
        parameters={"scenario": str(BASELINE), "steps": 6, "sets": [PUSH, (*PUSH, "rules.coercion.name=none")]},
        rng=[0, 1],
        data_collection_period=1,
    )
    per_run = frame.drop_duplicates(["RunId", "Step"])
    assert sorted(per_run["Step"].unique()) == list(range(7))
    assert per_run["RunId"].nunique() == 4
    quiet = per_run[per_run["sets"].map(len) == len(PUSH) + 1]
    loud = per_run[per_run["sets"].map(len) == len(PUSH)]
    assert (quiet["coercion_events"] == 0).all()
    assert loud["coercion_events"].sum() > 0


def test_start_method_is_restored_after_batch_runs(start_method):
    # runs after the tests above (file order): batch_run forced "spawn", the fixture undid it
    assert multiprocessing.get_start_method(allow_none=True) == start_method
