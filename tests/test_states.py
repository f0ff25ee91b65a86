"""Per-state series kept by a sweep (``metrics.states``): the spec, the store's guarantees
(atomic, resumable, same values on any number of workers, damage found), and the export
to an xarray Dataset with dimensions (run, step, state, power)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from abm import experiment, results, store, sweep
from abm.cli import main

try:
    from tests.conftest import GENERATED
    from tests.test_sweep import kill_part_way, tiny_spec
except ImportError:
    from conftest import GENERATED
    from test_sweep import kill_part_way, tiny_spec

KEPT = ["alignment", "opinion_russia", "opinion_china", "dependency_hhi", "welfare"]


def states_spec(states=KEPT, **changes) -> dict:
    spec = tiny_spec(**{"name": "tiny_states", **changes})
    spec["metrics"] = {**spec["metrics"], "states": states}
    return spec


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The tiny sweep keeping per-state series, with one worker and with two."""
    root = tmp_path_factory.mktemp("states")
    for workers in (1, 2):
        result = sweep.run(states_spec(), root / f"w{workers}", workers=workers, progress=False)
        assert result.ok == 12 and result.failed == 0
    return root


# --------------------------------------------------------------------------- the spec


def test_families_expand_to_one_column_per_power_in_table_order():
    exp = experiment.load(states_spec(states=["welfare", "alignment", "opinion_china"]))
    powers = list(exp.bases["baseline"].scenario.powers)
    assert exp.states == [f"alignment_{p}" for p in powers] + ["opinion_china", "welfare"]
    assert experiment.load(states_spec(states="all")).states == list(exp.bases["baseline"].states)


def test_keeping_no_states_leaves_the_spec_hash_as_before():
    """Sweeps made before metrics.states existed must still resume: the field enters the
    hash only when it keeps something."""
    plain = experiment.load(tiny_spec())
    assert "states" not in plain.hashed["metrics"]
    kept = experiment.load(states_spec())
    assert kept.hashed["metrics"]["states"] == KEPT and kept.hash != plain.hash


@pytest.mark.parametrize("bad, field, says, listed", [
    (["alignment_rusia"], "metrics.states.0", "did you mean 'alignment_russia'", 0),
    (["welfare", "happiness"], "metrics.states.1", "a family (alignment, ", 0),
    ("some", "metrics.states", "all", 0),
    (["alignment_rusia", "happiness"], "metrics.states.1", "did you mean 'alignment_russia'", 2),
])  # fmt: skip
def test_an_unknown_column_is_refused_naming_the_field_and_exit_2(tmp_path, capsys, bad, field, says, listed):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(states_spec(states=bad)))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    head, *items = capsys.readouterr().err.splitlines()
    err = "\n".join([head, *items])
    # one problem on one line, several listed one per line
    assert head.startswith("error: ") and all(line.startswith("  - ") for line in items) and "Traceback" not in err
    assert field in err and says in err, err
    assert len(items) == listed
    assert not (tmp_path / "out").exists()


def test_a_family_of_scenarios_that_share_no_power_is_refused_as_such(tmp_path, capsys):
    """The baseline and a generated world have no power in common, so a family has no
    column every run records: said so, not called an unknown column."""
    spec = states_spec(states=["welfare", "alignment"])
    spec["scenarios"] = {"baseline": spec.pop("scenario"), "generated": str(GENERATED)}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "metrics.states.1: per-state family 'alignment' has one column per power every base scenario has, and they share none; give 'all' or columns: " in err, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- values


def test_stored_values_equal_the_runners_agents_table(swept):
    res = results.load(swept / "w1")
    ds = res.to_xarray()
    long = res.states()
    for key in res.runs["run"].iloc[[0, 5, 11]]:  # three points, three seeds
        agents = res.rerun(key).agents  # abm.runner.run of the run's scenario and seed
        n_states = agents["state"].nunique()
        assert list(ds["state"].values) == agents["state"].iloc[:n_states].tolist()
        one = ds.sel(run=key)
        for p in ds["power"].values:
            np.testing.assert_array_equal(one["alignment"].sel(power=p).values.reshape(-1), agents[f"alignment_{p}"].to_numpy())
        for column in ("opinion_russia", "opinion_china"):
            np.testing.assert_array_equal(one["opinion"].sel(power=column.split("_", 1)[1]).values.reshape(-1), agents[column].to_numpy())
        for column in ("dependency_hhi", "welfare"):
            np.testing.assert_array_equal(one[column].values.reshape(-1), agents[column].to_numpy())
        rows = long[long["run"] == key].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[["step", "state", *res.state_columns]], agents[["step", "state", *res.state_columns]], check_dtype=False)
        assert (rows["date"] == pd.to_datetime(agents["date"])).all()


def test_dataset_dimensions_and_coordinates(swept):
    res = results.load(swept / "w1")
    ds = res.to_xarray()
    exp = experiment.load(states_spec())
    powers = list(exp.bases["baseline"].scenario.powers)
    assert dict(ds.sizes) == {"run": 12, "step": 5, "state": 8, "power": len(powers)}
    assert ds["alignment"].dims == ("run", "step", "state", "power") and ds["welfare"].dims == ("run", "step", "state")
    assert ds["fragmentation"].dims == ("run", "step") and ds["fragmentation_final"].dims == ("run",)
    assert list(ds["power"].values) == powers
    # the opinion family keeps two powers: the others are NaN, not zeros
    assert np.isnan(ds["opinion"].sel(power="turkey")).all() and not np.isnan(ds["opinion"].sel(power="china")).any()
    runs = res.runs.set_index("run")
    assert list(ds["seed"].values) == runs.loc[ds["run"].values, "seed"].tolist()
    assert list(ds["replication"].values) == runs.loc[ds["run"].values, "replication"].tolist()
    params = res.params.set_index("point").loc[ds["point"].values]
    for p in res.parameters:
        np.testing.assert_array_equal(ds[p].values, params[p].to_numpy(dtype=float))
        assert ds[p].dims == ("run",)
    assert np.issubdtype(ds["date"].dtype, np.datetime64) and ds["date"].dims == ("step",)
    assert list(pd.to_datetime(ds["date"].values)) == [pd.Timestamp(2025, 1, 1) + pd.DateOffset(months=3 * s) for s in range(5)]
    np.testing.assert_array_equal(ds["fragmentation"].sel(run=runs.index[0]).values, res.series().query("run == @runs.index[0]")["fragmentation"].to_numpy())


def test_one_and_two_workers_store_identical_values(swept):
    one, two = results.load(swept / "w1").to_xarray(), results.load(swept / "w2").to_xarray()
    xr.testing.assert_identical(one, two)
    query = "SELECT name, run, data FROM states ORDER BY name, run"
    with closing(sqlite3.connect(swept / "w1" / store.FILE)) as a, closing(sqlite3.connect(swept / "w2" / store.FILE)) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_export_writes_the_dataset(swept, tmp_path, capsys, fmt):
    out = tmp_path / "arrays"
    assert main(["export", str(swept / "w1"), "--format", fmt, "--out", str(out)]) == 0
    assert "run 12, step 5, state 8" in capsys.readouterr().out
    if fmt == "netcdf":
        back = xr.open_dataset(out / "tiny_states.nc", engine="h5netcdf")
    else:
        back = xr.open_zarr(out / "tiny_states.zarr", consolidated=False)
    xr.testing.assert_identical(back.load(), results.load(swept / "w1").to_xarray())
    back.close()
    copy = tmp_path / "sweep"
    shutil.copytree(swept / "w1", copy)
    assert main(["export", str(copy), "--format", fmt]) == 0  # default: DIR/arrays, written once ...
    assert main(["export", str(copy), "--format", fmt]) == 2  # ... and never replaced without --out
    assert "--out" in capsys.readouterr().err


def test_an_array_format_whose_library_is_missing_says_how_to_install_it_into_the_projects_environment(swept, tmp_path, monkeypatch):
    """The README runs everything as .venv/bin/...; a bare ``pip install`` typed in a shell
    where the environment is not active installs into another Python, and abm still fails."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "h5netcdf" else real(name, *a))
    with pytest.raises(ImportError) as raised:
        results.load(swept / "w1").export_arrays(tmp_path, "netcdf")
    assert str(raised.value) == "--format netcdf needs h5netcdf: in the project's folder, .venv/bin/pip install -e '.[arrays]' (bash scripts/setup.sh dev installs every extra)"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_export_arrays_from_python_refuses_to_overwrite_unless_asked(swept, tmp_path, fmt):
    """As Results.export: the folder may hold the user's own files (NetCDF overwrote them)."""
    res = results.load(swept / "w1")
    mine = tmp_path / "mine" / f"tiny_states.{'nc' if fmt == 'netcdf' else 'zarr'}"
    mine.parent.mkdir()
    mine.write_text("my own file")
    with pytest.raises(FileExistsError, match="already exists"):
        res.export_arrays(mine.parent, fmt)
    assert mine.read_text() == "my own file" and [p.name for p in mine.parent.iterdir()] == [mine.name]
    if fmt == "zarr":
        mine.unlink()  # Zarr replaces a store (a folder), not a file
        res.export_arrays(mine.parent, fmt)
    path, _ = res.export_arrays(mine.parent, fmt, overwrite=True)
    back = xr.open_dataset(path, engine="h5netcdf") if fmt == "netcdf" else xr.open_zarr(path, consolidated=False)
    xr.testing.assert_identical(back.load(), res.to_xarray())
    back.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_report_export_writes_the_per_state_table(swept, tmp_path, fmt):
    """`abm report --export` carries the per-state series too, as the long table of
    Results.states(): one row per run, step and state."""
    copy = tmp_path / "sweep"
    shutil.copytree(swept / "w1", copy)
    assert main(["report", str(copy), "--export", fmt]) == 0
    path = copy / "report" / "export" / f"states.{fmt}"
    back = pd.read_csv(path, parse_dates=["date"]) if fmt == "csv" else pd.read_parquet(path)
    expected = results.load(swept / "w1").states()
    assert len(back) == 12 * 5 * 8
    assert list(back.columns) == list(expected.columns)
    np.testing.assert_allclose(back["alignment_russia"], expected["alignment_russia"], rtol=1e-12)
    assert (back["state"] == expected["state"]).all() and (back["run"] == expected["run"]).all()
    assert (pd.to_datetime(back["date"]) == expected["date"]).all()


def test_export_refuses_a_column_not_kept_in_one_line(swept, tmp_path, capsys):
    assert main(["export", str(swept / "w1"), "--columns", "welfare", "defections", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--columns: defections not kept" in err and "welfare" in err
    assert not (tmp_path / "a").exists()
    # a family kept for some powers only is listed with them: its name does not promise the rest
    assert main(["export", str(swept / "w1"), "--columns", "opinion_turkey", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "opinion_turkey not kept" in err and "opinion (russia, china)" in err and "alignment (every power)" in err, err
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- guarantees


def test_a_killed_sweep_resumes_to_exactly_the_uninterrupted_values(swept, tmp_path):
    spec = states_spec(name="killed_states", replications=12)  # 48 runs
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    done = kill_part_way(path, out)
    assert 0 < len(done) < 48, "the sweep must be killed part-way"
    kept = len(experiment.load(spec).states)
    with closing(sqlite3.connect(out / store.FILE)) as conn:  # what was reported done is whole
        assert conn.execute("SELECT COUNT(*) FROM states").fetchone()[0] == len(done) * kept

    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--resume"]) == 0
    assert (results.load(out).runs.set_index("run").loc[done.index, "finished"] == done).all(), "finished runs were run again"
    reference = tmp_path / "reference"
    sweep.run(spec, reference, workers=1, progress=False)
    xr.testing.assert_identical(results.load(out).to_xarray(), results.load(reference).to_xarray())
    with closing(sqlite3.connect(out / store.FILE)) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run || name) FROM states").fetchone() == (48 * kept, 48 * kept)


def test_lost_state_rows_are_refused_by_report_and_run_again_by_resume(swept, tmp_path, capsys):
    out = tmp_path / "sweep"
    shutil.copytree(swept / "w1", out)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(states_spec()))
    with closing(sqlite3.connect(out / store.FILE)) as conn, conn:
        conn.execute("DELETE FROM states WHERE name = 'welfare' AND run IN (SELECT run FROM runs LIMIT 2)")
    assert len(store.check(out)) == 2
    for args in (["report", str(out)], ["export", str(out)]):
        assert main(args) == 2
        assert "lost rows" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--workers", "1"]) == 0
    assert store.check(out) == []
    xr.testing.assert_identical(results.load(out).to_xarray(), results.load(swept / "w1").to_xarray())


def test_tables_follow_a_store_being_written_and_to_xarray_reads_one_state_of_it(swept, tmp_path, monkeypatch):
    """While a sweep wrote, a Results object kept the summaries it had read first (the
    documentation says each property reads the store as it is then), and to_xarray read
    its series after the arrays' snapshot had closed: a run committed in between had no
    row in the arrays and the series could not be placed (IndexError)."""
    copy = tmp_path / "running"
    shutil.copytree(swept / "w1", copy)
    tables = ("runs", "summaries", "series", "states")
    with closing(sqlite3.connect(copy / store.FILE)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")  # as while a sweep writes
        late = writer.execute("SELECT run FROM runs LIMIT 1").fetchone()[0]
        rows = {t: writer.execute(f"SELECT * FROM {t} WHERE run = ?", (late,)).fetchall() for t in tables}
        for t in tables:
            writer.execute(f"DELETE FROM {t} WHERE run = ?", (late,))
        writer.commit()

        def commit_late():  # the sweep commits the late run
            for t, kept in rows.items():
                writer.executemany(f"INSERT INTO {t} VALUES ({', '.join('?' * len(kept[0]))})", kept)
            writer.commit()

        res = results.load(copy)
        assert len(res.summaries) == 11
        arrays = results.Results.state_arrays
        monkeypatch.setattr(results.Results, "state_arrays", lambda self, columns=None: (arrays(self, columns), commit_late())[0])
        ds = res.to_xarray()
        assert ds.sizes["run"] == 11 and late not in ds["run"].values
        assert not np.isnan(ds["fragmentation"].values).any() and not np.isnan(ds["fragmentation_final"].values).any()
        assert len(res.summaries) == 12 and (res.runs["status"] == "ok").sum() == 12  # outside a snapshot, the store as it now is


def test_a_damaged_state_store_is_found(swept, tmp_path, capsys):
    out = tmp_path / "sweep"
    shutil.copytree(swept / "w1", out)
    with closing(sqlite3.connect(out / store.FILE)) as conn, conn:
        conn.execute("UPDATE states SET data = X'00FF00FF' WHERE rowid = (SELECT MIN(rowid) FROM states)")
    for args in (["export", str(out)], ["report", str(out), "--export", "csv"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "damaged" in err and "Traceback" not in err
        assert not (out / "report").exists()
    with closing(sqlite3.connect(out / store.FILE)) as conn, conn:
        conn.execute("DROP TABLE states")
    for args in (["report", str(out)], ["export", str(out)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "lacks the table states" in err


def test_a_sweep_without_states_says_how_to_keep_them(tmp_path, capsys):
    out = tmp_path / "plain"
    sweep.run(tiny_spec(replications=1), out, workers=1, progress=False)
    assert main(["export", str(out)]) == 2
    assert "metrics.states" in capsys.readouterr().err
    with pytest.raises(KeyError, match="metrics.states") as info:
        results.load(out).to_xarray()
    assert str(info.value).startswith("this sweep kept no per-state series")  # its message, not a quoted key


def test_export_takes_the_specs_family_names_and_names_its_code_and_seeds(swept, tmp_path):
    """--columns alignment, as the spec and the exported variable call it; a shared file
    names the commit, package versions and seeds its manifest records."""
    out = tmp_path / "a"
    assert main(["export", str(swept / "w1"), "--columns", "alignment", "welfare", "--out", str(out)]) == 0
    back = xr.open_dataset(out / "tiny_states.nc", engine="h5netcdf")
    manifest = results.load(swept / "w1").manifest
    assert {"alignment", "welfare"} <= set(back.data_vars) and "dependency_hhi" not in back.data_vars
    assert list(back["power"].values) == [c.removeprefix("alignment_") for c in results.load(swept / "w1").state_columns if c.startswith("alignment_")]
    assert back.attrs["model_commit"].startswith(manifest["model"]["commit"]) and back.attrs["model_source"] == manifest["model"]["source"]
    assert f"numpy {manifest['packages']['numpy']}" in back.attrs["packages"] and back.attrs["seed"] == 11
    assert list(np.atleast_1d(back.attrs["replication_seeds"])) == manifest["seeds"]
    back.close()


def test_an_exported_file_gives_its_sweeps_overrides_as_they_were_typed(tmp_path):
    """The overrides were joined with ", ", which their values also hold: a file shared
    alone could not be split back into the --set options that made it."""
    import shlex

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(states_spec()))
    given = ["grid={rules.coercion.strength: [0.0, 0.5]}", "replications=1", "charts=[]"]
    assert main(["sweep", str(spec), *[a for item in given for a in ("--set", item)], "--out", str(tmp_path / "s"), "--workers", "1"]) == 0
    assert main(["export", str(tmp_path / "s"), "--out", str(tmp_path / "a")]) == 0
    with xr.open_dataset(tmp_path / "a" / "tiny_states.nc", engine="h5netcdf") as back:
        typed = back.attrs["overrides"]
    assert typed == "--set 'grid={rules.coercion.strength: [0.0, 0.5]}' --set replications=1 --set 'charts=[]'"
    assert shlex.split(typed)[1::2] == given


def test_an_exported_metric_or_summary_carries_its_unit(swept, tmp_path):
    """A NetCDF file shared alone says what its numbers measure (CF's ``units``), as the
    charts' axes do; a quantity without a known unit gets no made-up one."""
    out = tmp_path / "u"
    assert main(["export", str(swept / "w1"), "--columns", "welfare", "alignment", "opinion", "dependency_hhi", "--out", str(out)]) == 0
    back = xr.open_dataset(out / "tiny_states.nc", engine="h5netcdf")
    assert back["alignment"].attrs["units"] == "share, 0-1" and back["opinion"].attrs["units"] == "index, -1 to 1" and back["dependency_hhi"].attrs["units"] == "HHI, 0-1"
    assert back["fragmentation"].attrs["units"] == "index, 0-1" and back["integration_mean_last2"].attrs["units"] == "index, 0-1"
    assert back["offers_accepted_max"].attrs["units"] == "offers per step" and back["offers_accepted"].attrs["units"] == "offers per step"
    assert "units" not in back["welfare"].attrs and back["fragmentation"].attrs["long_name"] == "model metric fragmentation"
    back.close()
