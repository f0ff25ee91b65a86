"""A damaged or incomplete sweep folder is found out before it is resumed or reported on:
one line saying what is wrong and what to do, exit status 2; lost rows are run again."""

from __future__ import annotations

import json
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
import yaml

from abm import experiment, results
from abm.cli import main

try:
    from tests.test_sweep import stored, tiny_spec
except ImportError:
    from test_sweep import stored, tiny_spec


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    spec = root / "tiny.yaml"
    kept = tiny_spec()
    kept["metrics"]["states"] = ["dependency_hhi"]  # per-state blobs, and the meta that reads them
    spec.write_text(yaml.safe_dump(kept))
    assert main(["sweep", str(spec), "--out", str(root / "sweep"), "--workers", "1"]) == 0
    return spec, root / "sweep"


def _sql(db, *statements):
    with closing(sqlite3.connect(db)) as conn, conn:
        for s in statements:
            conn.execute(s)


def truncate(d):
    data = (d / "results.sqlite").read_bytes()
    (d / "results.sqlite").write_bytes(data[: len(data) // 3])


def zero_bytes(d):
    (d / "results.sqlite").write_bytes(b"")


def empty_meta(d):
    _sql(d / "results.sqlite", "DELETE FROM meta")


def garbage_manifest(d):
    (d / "manifest.json").write_text("\x00garbage{")


def manifest_not_the_sweeps(d):
    (d / "manifest.json").write_text(json.dumps([1, 2, 3]))


def directory_for_store(d):
    (d / "results.sqlite").unlink()
    (d / "results.sqlite").mkdir()


def directory_for_manifest(d):
    (d / "manifest.json").unlink()
    (d / "manifest.json").mkdir()


def dropped_table(d):
    _sql(d / "results.sqlite", "DROP TABLE series")


def overwritten(d):
    (d / "results.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)


def _edit_manifest(d, edit):
    manifest = json.loads((d / "manifest.json").read_text())
    edit(manifest)
    (d / "manifest.json").write_text(json.dumps(manifest))


# damage by hand that a bad-input audit found to end in tracebacks, or worse
def manifest_without_spec(d):
    _edit_manifest(d, lambda m: m.pop("spec"))


def manifest_without_spec_hash(d):  # was taken for a top-up stopped part-way
    _edit_manifest(d, lambda m: m.pop("spec_hash"))


def manifest_seeds_not_a_list(d):
    _edit_manifest(d, lambda m: m.update(seeds="x"))


def manifest_charts_not_mappings(d):
    _edit_manifest(d, lambda m: m.update(charts=["x"]))


def manifest_experiment_a_path(d):
    _edit_manifest(d, lambda m: m.update(experiment="../victim"))


def meta_experiment_a_path(d):  # export named its file after it: ../victim.nc landed outside its folder
    _sql(d / "results.sqlite", "UPDATE meta SET value = '../victim' WHERE key = 'experiment'")


def meta_hashed_not_json(d):
    _sql(d / "results.sqlite", "UPDATE meta SET value = 'not json' WHERE key = 'hashed'")


# values no reader could use, which pandas or matplotlib met as tracebacks: name -> the statement that does it
UNREADABLE = {
    "summary_not_a_number": "UPDATE summaries SET fragmentation_final = 'abc'",
    "series_not_a_number": "UPDATE series SET integration = 'abc' WHERE step = 2",
    "points_lost": "DELETE FROM points",
    "a_point_lost": "DELETE FROM points WHERE point = 1",
    "design_seed_not_a_number": "UPDATE design SET seed = 'abc' WHERE point = 0",
    "meta_summaries_not_the_columns": """UPDATE meta SET value = '["nope"]' WHERE key = 'summaries'""",
    "meta_series_not_names": "UPDATE meta SET value = '[1, 2]' WHERE key = 'series'",
    "meta_state_keys_not_lists": """UPDATE meta SET value = '{"baseline": 5}' WHERE key = 'state_keys'""",
    "meta_state_keys_lost": "UPDATE meta SET value = '{}' WHERE key = 'state_keys'",
}


def _by_sql(name: str, statement: str):
    def damage(d):
        _sql(d / "results.sqlite", statement)

    damage.__name__ = name
    return damage


DAMAGE = [truncate, zero_bytes, empty_meta, garbage_manifest, manifest_not_the_sweeps, directory_for_store, directory_for_manifest, dropped_table, overwritten,
          manifest_without_spec, manifest_without_spec_hash, manifest_seeds_not_a_list, manifest_charts_not_mappings, manifest_experiment_a_path, meta_experiment_a_path, meta_hashed_not_json,
          *(_by_sql(name, statement) for name, statement in UNREADABLE.items())]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_damaged_store_is_refused_by_resume_and_report(finished, tmp_path, capsys, damage):
    spec, reference = finished
    out = tmp_path / "sweep"
    shutil.copytree(reference, out)
    (out / "results.sqlite-wal").unlink(missing_ok=True)
    damage(out)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for args in (["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1"], ["report", str(out)], ["export", str(out)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "damaged" in err or "not a readable results database" in err
        assert "another --out" in err  # what to do
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no report, no arrays, nothing beside the folder


@pytest.mark.parametrize("lost", ["DELETE FROM series WHERE step = 2 AND run IN (SELECT run FROM series LIMIT 1)", "DELETE FROM series WHERE step > 1", "DELETE FROM summaries WHERE run IN (SELECT run FROM summaries LIMIT 2)"])
def test_runs_with_lost_rows_are_refused_by_report_and_run_again_by_resume(finished, tmp_path, capsys, lost):
    spec, reference = finished
    out = tmp_path / "sweep"
    shutil.copytree(reference, out)
    _sql(out / "results.sqlite", lost)
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "have lost rows" in err and f"run them again with: abm sweep {spec} --out {out} --resume\n" in err, err  # the spec its manifest recorded
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1"]) == 0
    for got, want in zip(stored(out), stored(reference)):
        pd.testing.assert_frame_equal(got.drop(columns=["seconds", "worker", "finished"], errors="ignore"), want.drop(columns=["seconds", "worker", "finished"], errors="ignore"))
    assert main(["report", str(out)]) == 0
    assert len(results.load(out).summaries) == 12


def test_a_sweep_with_no_finished_run_is_refused_by_report_and_export_and_leaves_nothing(tmp_path, capsys):
    """A sweep stopped at once (or just started, or whose runs all failed) has no run to
    show: report and export used to fail with tracebacks (NaN axis limits, a state not
    found), and reading it left -wal and -shm files beside the store."""
    from abm import sweep

    out = tmp_path / "sweep"
    with ThreadPoolExecutor(1) as ex:
        sweep.run(tiny_spec(), out, executor=ex, runner=failing_everywhere, progress=False)
    before = sorted(p.name for p in out.iterdir())
    for args in (["report", str(out)], ["export", str(out)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "no run has finished successfully yet" in err and "--resume" in err, err
    assert sorted(p.name for p in out.iterdir()) == before == ["experiment.yaml", "manifest.json", "results.sqlite"]
    sweep._create(tmp_path / "new", experiment.load(tiny_spec()))  # as a sweep stopped before its first session leaves it
    assert main(["report", str(tmp_path / "new")]) == 2
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["experiment.yaml", "manifest.json", "results.sqlite"]


def failing_everywhere(scenario, seed):
    raise RuntimeError("every run fails")


def test_the_resume_command_is_rebuilt_from_the_manifest(tmp_path, monkeypatch):
    """report's refusals said "abm sweep EXPERIMENT ..." though the manifest names the spec
    and its --set overrides; the path is given as seen from the current folder."""
    from abm.cli import resume_command

    (tmp_path / "runs" / "x").mkdir(parents=True)
    manifest = {"sessions": [{"cwd": str(tmp_path / "runs")}], "source": "../experiments/e.yaml", "spec": {"overrides": ["replications=4"]}}
    (tmp_path / "runs" / "x" / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(tmp_path)
    assert resume_command(Path("runs/x")) == "abm sweep experiments/e.yaml --out runs/x --resume --set replications=4"


def test_the_python_api_will_not_export_under_a_name_that_is_a_path(tmp_path):
    """abm export checks the folder first; Results.export_arrays, called from Python, must
    not let a damaged store's experiment name choose where its file goes either."""
    spec = tmp_path / "tiny.yaml"
    kept = tiny_spec(replications=1)
    kept["metrics"]["states"] = ["dependency_hhi"]
    spec.write_text(yaml.safe_dump(kept))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--workers", "1"]) == 0
    meta_experiment_a_path(tmp_path / "s")
    with pytest.raises(ValueError, match="not a plain name"):
        results.load(tmp_path / "s").export_arrays(tmp_path / "out")
    assert not (tmp_path / "victim.nc").exists() and not (tmp_path / "out").exists()
