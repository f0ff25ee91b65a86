"""The store: separate tables, atomic batches, one-call loading, CSV and Parquet export.

These tests write synthetic outcomes so that every stored number is known in advance.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abm import experiment, results, runner, sweep
from abm.experiment import TimeseriesChart
from abm.store import Outcome, Store, write_json

ROOT = Path(__file__).resolve().parents[1]

try:
    from tests.test_sweep import tiny_spec
except ImportError:
    from test_sweep import tiny_spec


def outcome(key: str, value: float, steps: int = 3) -> Outcome:
    """A successful run whose summaries are (value, value + 1, NaN) and series value + step."""
    series = np.array([[value + s, 10 * value + s, s] for s in range(steps)], dtype=float)
    dates = [f"{2025 + s // 4}-{1 + 3 * (s % 4):02d}-01" for s in range(steps)]  # quarterly, valid dates
    return Outcome(key, "ok", 0.5, "host:1", "2026-01-01T00:00:00", [value, value + 1, float("nan")], list(range(steps)), dates, series)


@pytest.fixture
def store(tmp_path):
    exp = experiment.load(tiny_spec())
    with Store.create(tmp_path, exp) as s:
        yield exp, s


def test_parameters_summaries_and_series_are_separate_tables(store, tmp_path):
    exp, s = store
    first = exp.runs[0]
    s.commit([outcome(first.key, 0.25)])
    res = results.load(tmp_path)
    assert list(res.params.columns) == ["point", "scenario", "rules.coercion.strength", "rules.decision.cap"]
    assert len(res.params) == 4  # one row per point, not per run or step
    assert list(res.summaries.columns) == ["point", "replication", "seed", "run", "fragmentation_final", "integration_mean_last2", "offers_accepted_max"]
    assert list(res.series().columns) == ["point", "replication", "seed", "run", "step", "date", "fragmentation", "integration", "offers_accepted"]
    row = res.summaries.iloc[0]
    assert (row["point"], row["replication"], row["seed"], row["run"]) == (first.point, first.replication, first.seed, first.key)
    assert row["fragmentation_final"] == 0.25 and row["integration_mean_last2"] == 1.25
    assert np.isnan(row["offers_accepted_max"])  # NaN is stored as NULL and comes back as NaN
    assert res.series()["integration"].tolist() == [2.5, 3.5, 4.5]
    table = res.table()
    assert len(table) == 1 and table.loc[0, "rules.coercion.strength"] == exp.points[first.point].values["rules.coercion.strength"]
    runs = res.runs
    assert len(runs) == 12 and runs["status"].value_counts().to_dict() == {"missing": 11, "ok": 1}


def test_a_batch_is_committed_whole_or_not_at_all(store, tmp_path):
    exp, s = store
    good, bad = outcome(exp.runs[0].key, 0.1), outcome(exp.runs[1].key, 0.2)
    bad.summaries = bad.summaries[:2]  # one value short: the insert fails half-way through the batch
    with pytest.raises(sqlite3.Error):
        s.commit([good, bad])
    with closing(sqlite3.connect(tmp_path / "results.sqlite")) as conn:
        assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "summaries", "series")] == [0, 0, 0]
    assert s.completed() == set()
    s.commit([good])
    assert s.completed() == {exp.runs[0].key}


def test_a_failed_run_is_replaced_when_it_succeeds_later(store):
    exp, s = store
    key = exp.runs[0].key
    s.commit([Outcome(key, "failed", 0.1, "host:1", "t", error="ValueError: boom", traceback="Traceback ...")])
    assert s.completed() == set()
    s.commit([outcome(key, 0.3)])
    assert s.completed() == {key}
    assert s.conn.execute("SELECT COUNT(*), MAX(error) FROM runs").fetchone() == (1, None)


def test_a_run_that_fails_when_run_again_keeps_no_results(store, tmp_path):
    """A run re-run by --resume (its rows partly lost) that fails this time: its old
    summaries and series went on being read as its results, and reports averaged them."""
    exp, s = store
    key, other = exp.runs[0].key, exp.runs[1].key
    s.commit([outcome(key, 0.3), outcome(other, 0.4)])
    s.commit([Outcome(key, "failed", 0.1, "host:1", "t", error="ValueError: boom", traceback="Traceback ...")])
    res = results.load(tmp_path)
    assert res.summaries["run"].tolist() == [other] and set(res.series()["run"]) == {other}
    assert res.runs.set_index("run").loc[key, "status"] == "failed"


def test_a_failed_run_left_with_rows_by_older_code_is_not_read(store, tmp_path):
    """Stores written before Store.commit deleted a failed run's rows may still hold them:
    every reader (summaries, series, per-state arrays, the report's timeseries and box
    values) reads successful runs only."""
    from abm import report

    exp, s = store
    key, other = exp.runs[0].key, exp.runs[1].key
    s.commit([outcome(key, 0.3), outcome(other, 0.4)])
    s.conn.execute("UPDATE runs SET status = 'failed' WHERE run = ?", (key,))  # as older code left it
    s.conn.commit()
    res = results.load(tmp_path)
    assert res.summaries["run"].tolist() == [other] and set(res.series()["run"]) == {other}
    cells, _ = report.timeseries_cells(res, TimeseriesChart(type="timeseries", metrics=["fragmentation"]))
    assert cells["reached"].tolist() == [1] * len(cells)
    assert report._run_values(SimpleNamespace(results=res), "fragmentation_final", [])["run"].tolist() == [other]


def test_results_can_be_read_while_the_sweep_writes(store, tmp_path):
    exp, s = store
    s.commit([outcome(exp.runs[0].key, 0.1)])
    reader = results.load(tmp_path)
    assert len(reader.summaries) == 1
    s.commit([outcome(exp.runs[1].key, 0.2)])
    assert len(results.load(tmp_path).summaries) == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(store, tmp_path, fmt):
    exp, s = store
    s.commit([outcome(r.key, 0.1 * k) for k, r in enumerate(exp.runs[:5])])
    res = results.load(tmp_path)
    written = res.export(tmp_path / "export", fmt)
    assert sorted(p.name for p in written) == sorted(f"{n}.{fmt}" for n in ("params", "runs", "summaries", "series"))
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    series = read(tmp_path / "export" / f"series.{fmt}")
    assert len(series) == 5 * 3
    np.testing.assert_allclose(series["fragmentation"], res.series()["fragmentation"])
    summaries = read(tmp_path / "export" / f"summaries.{fmt}")
    np.testing.assert_allclose(summaries["fragmentation_final"], [0.0, 0.1, 0.2, 0.3, 0.4])
    assert list(read(tmp_path / "export" / f"params.{fmt}")["rules.decision.cap"]) == list(res.params["rules.decision.cap"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / f"runs.{fmt}").write_text("my own table")
    with pytest.raises(FileExistsError, match=f"runs.{fmt} already exists"):
        res.export(tmp_path / "mine", fmt)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == [f"runs.{fmt}"]  # nothing written
    assert (tmp_path / "mine" / f"runs.{fmt}").read_text() == "my own table"
    res.export(tmp_path / "mine", fmt, overwrite=True)
    assert len(read(tmp_path / "mine" / f"runs.{fmt}")) == len(res.runs)


def test_series_stream_in_chunks(store, tmp_path):
    exp, s = store
    s.commit([outcome(r.key, 1.0, steps=5) for r in exp.runs])
    sizes = [len(chunk) for chunk in results.load(tmp_path).iter_series(["fragmentation"], chunksize=7)]
    assert sum(sizes) == 12 * 5 and max(sizes) == 7


def two_worlds(replications: int = 1, summaries: list | None = None) -> dict:
    """A 2-quarter sweep of two base scenarios with different states, keeping welfare."""
    return {
        "name": "two_worlds",
        "scenarios": {"caucasus": str(ROOT / "configs" / "baseline.yaml"), "generated": str(ROOT / "configs" / "generated.yaml")},
        "set": {"time.steps": 2},
        "replications": replications,
        "seed": 3,
        "metrics": {"series": ["fragmentation"], "summaries": summaries or [{"metric": "fragmentation", "stat": "final"}], "states": ["welfare"]},
    }


def test_per_state_arrays_of_a_sweep_whose_runs_cover_some_scenarios_only(tmp_path):
    """Part-way through a sweep of two base scenarios with different states, only the
    first had finished runs: reading the per-state arrays failed on a state of the
    second ('s0000' is not in list)."""
    with ThreadPoolExecutor(1) as ex:
        sweep.run(two_worlds(replications=2), tmp_path / "out", executor=ex, runner=generated_not_yet, progress=False)
    arrays = results.load(tmp_path / "out").state_arrays()
    assert len(arrays.runs) == 2 and set(arrays.runs["scenario"]) == {"caucasus"}
    assert arrays.values["welfare"].shape == (2, 3, 8) and not np.isnan(arrays.values["welfare"]).any()


def test_per_state_tables_and_arrays_of_two_worlds_and_two_horizons(tmp_path):
    """Audit of the exports: the long table gave every run rows for the other base
    scenario's states (all NaN); a summary named like a coordinate ('state') broke
    to_xarray; a first run shorter than the others put `date` on (run, step) though all
    runs keep one calendar."""
    spec = two_worlds(summaries=[{"metric": "fragmentation", "stat": "mean", "name": "summary_state"}, {"metric": "fragmentation", "stat": "final", "name": "state"}])
    with ThreadPoolExecutor(1) as ex:
        sweep.run(spec, tmp_path / "worlds", executor=ex, progress=False)
    res = results.load(tmp_path / "worlds")
    table = res.states()
    own = {name: set(res.state_keys[name]) for name in ("caucasus", "generated")}
    for run, rows in table.merge(res.runs[["run"]]).groupby("run"):
        scenario = res.sql("SELECT p.scenario FROM design d JOIN points p ON p.point = d.point WHERE d.run = ?", (run,))["scenario"].iloc[0]
        assert set(rows["state"]) == own[scenario] and len(rows) == 3 * len(own[scenario]) and rows["welfare"].notna().all()
    ds = res.to_xarray()
    kept = res.summaries.set_index("run").loc[ds["run"].values]
    assert list(ds["summary_state"].values) == list(kept["summary_state"]) and list(ds["summary_summary_state"].values) == list(kept["state"])  # neither overwrites the other
    assert list(ds["state"].values) == list(dict.fromkeys([*res.state_keys["caucasus"], *res.state_keys["generated"]]))

    spec = {**spec, "scenarios": None, "scenario": str(ROOT / "configs" / "baseline.yaml"), "set": {}, "grid": {"time.steps": [2, 3]}}
    spec["metrics"] = {**spec["metrics"], "summaries": [{"metric": "fragmentation", "stat": "final"}]}
    del spec["scenarios"]
    with ThreadPoolExecutor(1) as ex:
        sweep.run(spec, tmp_path / "horizons", executor=ex, progress=False)
    ds = results.load(tmp_path / "horizons").to_xarray()
    assert ds["date"].dims == ("step",) and not np.isnat(ds["date"].values).any()  # one calendar: the longer run's dates

    def failing(scenario, seed):
        raise RuntimeError("no run finishes")

    with ThreadPoolExecutor(1) as ex:
        sweep.run(spec, tmp_path / "none", executor=ex, runner=failing, progress=False)
    assert results.load(tmp_path / "none").to_xarray().sizes["run"] == 0  # not an IndexError while no run has finished


def generated_not_yet(scenario, seed):
    """The baseline's runs succeed; the generated world's have not finished (they fail)."""
    if "s0000" in scenario.states:
        raise RuntimeError("not run yet")
    return runner.run(scenario, seed)


def test_a_json_record_that_cannot_be_written_leaves_the_old_one_and_nothing_else(tmp_path, monkeypatch):
    """A full disk stopped a sweep while it wrote manifest.json and left the half-written
    copy (.manifest.json.tmp) beside it."""
    path = tmp_path / "manifest.json"
    write_json(path, {"sessions": []})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_json(path, {"sessions": [{"started": "now"}]})
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"] and json.loads(path.read_text()) == {"sessions": []}


def test_a_swept_switch_reads_true_and_false_in_tables_and_arrays(tmp_path):
    """SQLite keeps a boolean as 1 or 0: a sweep over whether a club takes applications
    showed 1 and 0 in the report's tables and exported 1.0 and 0.0."""
    spec = {**two_worlds(), "scenarios": None, "scenario": str(ROOT / "configs" / "baseline.yaml"), "grid": {"organisations.EAEU.open": [True, False]}}
    del spec["scenarios"]
    with ThreadPoolExecutor(1) as ex:
        sweep.run(spec, tmp_path / "switch", executor=ex, progress=False)
    res = results.load(tmp_path / "switch")
    assert res.params["organisations.EAEU.open"].tolist() == [True, False]
    assert res.to_xarray()["organisations.EAEU.open"].values.tolist() == ["True", "False"]
    from abm import report

    assert report.summary_table(res)["organisations.EAEU.open"].tolist() == [True, False]
