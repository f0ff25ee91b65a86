"""posterior: PATH in a scenario or experiment: each run draws its parameters from a stored
posterior, deterministically from its seed."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from abm import calibrate, compare, posterior, runner, sweep
from abm.cli import main
from abm.scenario import ScenarioError, load
from tests.conftest import BASELINE, ROOT


def posterior_file(tmp_path, rows) -> str:
    path = tmp_path / "posterior.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def scenario_file(tmp_path, posterior: str = "posterior.csv") -> str:
    path = tmp_path / "uncertain.yaml"
    path.write_text(yaml.safe_dump({"extends": str(BASELINE), "name": "uncertain", "posterior": posterior, "time": {"steps": 4}}))
    return str(path)


TWO = [
    {"rules.coercion.strength": 0.0, "rules.decision.cap": 0.3, "weight": 0.5},
    {"rules.coercion.strength": 1.0, "rules.decision.cap": 1.0, "weight": 0.5},
    {"rules.coercion.strength": 0.5, "rules.decision.cap": 0.6, "weight": 0.0},  # never drawn
]


def test_each_seed_draws_a_particle_by_weight_and_the_same_seed_the_same_one(tmp_path):
    posterior_file(tmp_path, TWO)
    path = scenario_file(tmp_path)  # posterior relative to the scenario file
    drawn = {}
    for seed in range(12):
        run = runner.run(path, seed=seed, steps=1, tables=False)
        strength = run.scenario.rules.coercion["strength"]
        assert run.scenario.rules.decision["cap"] == {0.0: 0.3, 1.0: 1.0}[strength]
        assert run.scenario.provenance["posterior_draw"]["values"]["rules.coercion.strength"] == strength
        drawn[seed] = strength
    assert set(drawn.values()) == {0.0, 1.0}
    again = runner.run(path, seed=5, steps=1, tables=False)
    assert again.scenario.rules.coercion["strength"] == drawn[5]


def test_the_written_run_records_its_draw_and_re_runs_to_the_same_result(tmp_path):
    posterior_file(tmp_path, TWO)
    out = tmp_path / "run"
    assert main(["run", scenario_file(tmp_path), "--seed", "3", "--no-charts", "--out", str(out)]) == 0
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["provenance"]["posterior_draw"]["row"] in (0, 1) and "packages" in resolved["provenance"]
    rerun = runner.run(out / "scenario.resolved.yaml", seed=3)
    pd.testing.assert_frame_equal(rerun.model, pd.read_csv(out / "model.csv"), check_dtype=False, rtol=1e-9)


def test_an_ensemble_records_every_seeds_row(tmp_path):
    """With --seeds, only the first seed's draw was recorded: the other runs' rows were
    nowhere (a calibration publisher's audit)."""
    posterior_file(tmp_path, TWO)
    out = tmp_path / "ensemble"
    assert main(["run", scenario_file(tmp_path), "--seed", "3", "--seeds", "6", "--steps", "1", "--no-charts", "--out", str(out)]) == 0
    rows = yaml.safe_load((out / "scenario.resolved.yaml").read_text())["provenance"]["posterior_rows"]
    assert rows == {s: runner.run(scenario_file(tmp_path), seed=s, steps=1, tables=False).scenario.provenance["posterior_draw"]["row"] for s in range(3, 9)}
    assert set(rows.values()) == {0, 1}  # six seeds drew both rows of the posterior
    again = tmp_path / "again"  # a re-run of one seed does not carry the ensemble's rows (a review)
    assert main(["run", str(out / "scenario.resolved.yaml"), "--seeds", "1", "--no-charts", "--out", str(again)]) == 0
    assert "posterior_rows" not in yaml.safe_load((again / "scenario.resolved.yaml").read_text())["provenance"]


def test_a_run_folder_names_its_posterior_relatively_and_moves_with_it(tmp_path):
    # it recorded the absolute path and no hash: a project moved elsewhere could not re-run it
    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    posterior_file(project, TWO)
    out = project / "runs" / "run"
    assert main(["run", scenario_file(project), "--seed", "3", "--no-charts", "--out", str(out)]) == 0
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    digest = hashlib.sha256((project / "posterior.csv").read_bytes()).hexdigest()
    assert resolved["posterior"] == resolved["provenance"]["posterior_draw"]["file"] == "../../posterior.csv"
    assert resolved["provenance"]["posterior_sha256"] == digest
    moved = tmp_path / "elsewhere"
    (project / "runs").rename(tmp_path / "runs")  # the project moved, its run folder and posterior with it
    project.rename(moved)
    (tmp_path / "runs").rename(moved / "runs")
    rerun = runner.run(moved / "runs" / "run" / "scenario.resolved.yaml", seed=3)
    pd.testing.assert_frame_equal(rerun.model, pd.read_csv(moved / "runs" / "run" / "model.csv"), check_dtype=False, rtol=1e-9)


def test_a_run_whose_posterior_changed_since_is_not_re_run(tmp_path, capsys):
    posterior_file(tmp_path, TWO)
    out = tmp_path / "run"
    assert main(["run", scenario_file(tmp_path), "--seed", "3", "--no-charts", "--out", str(out)]) == 0
    resolved = out / "scenario.resolved.yaml"
    posterior_file(tmp_path, [{**row, "weight": 1.0} for row in TWO])  # the same columns, other weights
    capsys.readouterr()
    assert main(["run", str(resolved), "--no-charts", "--out", str(tmp_path / "again")]) == 2
    printed = capsys.readouterr().err
    assert "posterior: the posterior file changed after the run (sha256 " in printed
    assert "restore it, or delete provenance.posterior_sha256; the file: " in printed and not (tmp_path / "again").exists()
    assert main(["validate", str(resolved)]) == 2
    with pytest.raises(ScenarioError) as err:
        load(resolved)
    assert err.value.problems[0][1].endswith(f"the file: {out / '../posterior.csv'}")
    # another posterior chosen on purpose is not "the file changed": the hash is of the run's file
    shutil.copy(tmp_path / "posterior.csv", tmp_path / "other.csv")
    assert main(["run", str(resolved), "--set", f"posterior={tmp_path / 'other.csv'}", "--no-charts", "--out", str(tmp_path / "other")]) == 0
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {resolved}\nposterior: other.csv\n")
    assert load(child).posterior == str(tmp_path / "other.csv")
    assert set(load(child).provenance) == {"posterior_sha256", "posterior_file"}  # not the parent run's command, nor its drawn row
    child.write_text(f"extends: {resolved}\nname: child\n")  # inherits the run's posterior, and the check of its file
    with pytest.raises(ScenarioError, match="the posterior file changed after the run"):
        load(child)
    text = resolved.read_text()
    resolved.write_text("\n".join(line for line in text.splitlines() if "posterior_sha256" not in line))
    assert main(["run", str(resolved), "--no-charts", "--out", str(tmp_path / "again")]) == 0  # with the file as it is


def test_a_re_run_without_the_posterior_carries_no_record_of_it(tmp_path):
    posterior_file(tmp_path, TWO)
    out = tmp_path / "run"
    assert main(["run", scenario_file(tmp_path), "--no-charts", "--out", str(out)]) == 0
    assert main(["run", str(out / "scenario.resolved.yaml"), "--set", "posterior=null", "--no-charts", "--out", str(tmp_path / "plain")]) == 0
    record = yaml.safe_load((tmp_path / "plain" / "scenario.resolved.yaml").read_text())["provenance"]
    assert "posterior_sha256" not in record and "posterior_draw" not in record


def test_parameter_uncertainty_widens_the_spread_across_seeds(tmp_path):
    posterior_file(tmp_path, TWO)
    with_post = scenario_file(tmp_path)
    tab = compare.compare([str(BASELINE), with_post], tmp_path / "cmp", seeds=6, steps=20, metrics=["fragmentation"])  # five years: the balanced world moves slowly
    last = tab[tab["date"] == tab["date"].max()].set_index("scenario")
    assert last.loc["uncertain", "fragmentation_sd"] > 3 * last.loc["baseline", "fragmentation_sd"]


def test_a_sweep_carries_the_draws(tmp_path):
    posterior_file(tmp_path, TWO)  # named in the experiment, relative to it
    spec = {"name": "unc", "scenario": str(BASELINE), "set": {"posterior": "posterior.csv", "time.steps": 2}, "replications": 6,
            "metrics": {"series": ["fragmentation"]}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    with cf.ThreadPoolExecutor(1) as ex:
        assert sweep.run(path, tmp_path / "out", executor=ex, progress=False).ok == 6
    from abm import results

    stored = results.load(tmp_path / "out")
    runs = stored.runs.set_index("run")
    series = stored.series()
    final = series[series["step"] == 2].set_index("run")["fragmentation"]
    uncertain = load(BASELINE, [f"posterior={tmp_path / 'posterior.csv'}", "time.steps=2"])
    differs = 0
    for key, value in final.items():
        seed = int(runs.loc[key, "seed"])
        assert value == pytest.approx(runner.run(uncertain, seed=seed, tables=False).model["fragmentation"].iloc[-1], abs=1e-12)
        differs += abs(value - runner.run(BASELINE, seed=seed, steps=2, tables=False).model["fragmentation"].iloc[-1]) > 1e-9
    assert differs >= 3  # the draws changed the runs (a particle at the baseline's values would not)
    from abm import report

    report.make(tmp_path / "out", tmp_path / "report")  # the summary named no posterior, though its ± held the draws' spread
    digest = hashlib.sha256((tmp_path / "posterior.csv").read_bytes()).hexdigest()
    said = (tmp_path / "report" / "summary.md").read_text()
    assert "The runs of baseline drew their parameters from the posterior `" in said and f"posterior.csv` (sha256 `{digest[:12]}`)" in said


@pytest.mark.parametrize("command", ["run", "compare", "validate"])
@pytest.mark.parametrize("setting", ["rules.coercion.strength=0.7", 'rules.decision={"name": "hedging", "noise": 0.2, "cap": 0.5}'])
def test_an_override_of_a_drawn_setting_is_refused(tmp_path, capsys, command, setting):
    """Each run's draw replaces what the posterior holds: a value given for it would be
    named in titles and provenance yet never used, so it is refused, naming the field."""
    posterior_file(tmp_path, TWO)
    scenario = scenario_file(tmp_path)

    def args(out: str) -> list[str]:
        return {"run": ["run", scenario, "--no-charts", "--out", out], "compare": ["compare", str(BASELINE), scenario, "--seeds", "2", "--steps", "2", "--out", out], "validate": ["validate", scenario]}[command]

    assert main([*args(str(tmp_path / "refused")), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert setting.split("=")[0] in err and "drawn from the posterior" in err and "Traceback" not in err
    assert not (tmp_path / "refused").exists()
    assert main([*args(str(tmp_path / "own")), "--set", "posterior=null", "--set", setting]) == 0  # the scenario's own values, with the user's


@pytest.mark.parametrize("command", ["run", "compare", "validate"])
def test_an_override_of_a_setting_the_posterior_does_not_draw_applies(tmp_path, command):
    """The counterpart of the refusals above (it does not depend on which drawn setting
    they try, so it runs once per command)."""
    posterior_file(tmp_path, TWO)
    scenario = scenario_file(tmp_path)
    out = str(tmp_path / "free")
    args = {"run": ["run", scenario, "--no-charts", "--out", out], "compare": ["compare", str(BASELINE), scenario, "--seeds", "2", "--steps", "2", "--out", out], "validate": ["validate", scenario]}[command]
    assert main([*args, "--set", "rules.decision.noise=0.2"]) == 0  # not drawn: applies


@pytest.mark.parametrize("section", ["grid", "set"])
def test_a_sweep_of_a_drawn_setting_is_refused(tmp_path, capsys, section):
    posterior_file(tmp_path, TWO)
    spec = {"name": "unc", "scenario": scenario_file(tmp_path), "replications": 2, "set": {"time.steps": 2}}
    if section == "grid":
        spec["grid"] = {"rules.coercion.strength": [0.1, 0.9]}
    else:
        spec["set"]["rules.coercion.strength"] = 0.1
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert f"{section}.rules.coercion.strength: drawn from the posterior" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_posterior_set_by_an_experiment_is_found_from_any_directory(tmp_path, monkeypatch):
    """A posterior named in an experiment's set: is relative to the experiment, and the
    runs get it as an absolute path: a Dask worker started in another directory finds it."""
    from abm import experiment

    (tmp_path / "here").mkdir()
    posterior_file(tmp_path / "here", TWO)
    spec = {"name": "unc", "scenario": str(BASELINE), "set": {"posterior": "posterior.csv", "time.steps": 2}, "replications": 2}
    (tmp_path / "here" / "exp.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    exp = experiment.load("here/exp.yaml")
    monkeypatch.chdir(tmp_path / "here")  # a worker elsewhere: the path must not depend on where it starts
    assert Path(exp.bases["baseline"].scenario.posterior) == (tmp_path / "here" / "posterior.csv").resolve()
    assert len(runner.run(exp.bases["baseline"].scenario, seed=exp.seeds[0], tables=False).model) == 3  # it reads the file from here


def test_a_worker_whose_posterior_differs_from_the_planned_one_fails_its_runs(tmp_path):
    """A cluster node with a stale copy of the posterior must not run other draws under the
    planned run keys: each run checks the file's sha256 against the plan's."""
    from abm import experiment

    posterior_file(tmp_path, TWO)
    spec = {"name": "unc", "scenario": str(BASELINE), "set": {"posterior": "posterior.csv", "time.steps": 2}, "replications": 1}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(spec))
    base = experiment.load(tmp_path / "exp.yaml").bases["baseline"]
    for planned, status in ((base.posterior_sha256, "ok"), ("0" * 64, "failed")):
        chunk = sweep.Chunk(base.raw, [("k", (), 7)], ["fragmentation"], [], sweep.run_model, posterior_sha256=planned)
        (outcome,) = sweep.execute(chunk)
        assert outcome.status == status
    assert "is not the one the sweep planned with (sha256" in outcome.error and "planned 00000000" in outcome.error


def test_a_sweep_moved_with_its_posterior_resumes_and_one_whose_posterior_changed_is_refused(tmp_path):
    """A sweep's runs are named by its posterior's content, not its path: the folder moved
    with its experiment (another clone, a cluster's disk) resumes, and a posterior re-fitted
    under the same name cannot mix its runs with the old ones."""
    here = tmp_path / "here"
    here.mkdir()
    posterior_file(here, TWO)
    spec = {"name": "unc", "scenario": str(BASELINE), "set": {"posterior": "posterior.csv", "time.steps": 2}, "replications": 3,
            "metrics": {"series": ["fragmentation"]}}
    (here / "exp.yaml").write_text(yaml.safe_dump(spec))
    with cf.ThreadPoolExecutor(1) as ex:
        assert sweep.run(here / "exp.yaml", here / "out", executor=ex, progress=False).ok == 3
    there = tmp_path / "there"
    shutil.copytree(here, there)
    with cf.ThreadPoolExecutor(1) as ex:
        resumed = sweep.run(there / "exp.yaml", there / "out", executor=ex, progress=False, resume=True)
    assert (resumed.ok, resumed.already) == (0, 3)
    posterior_file(there, [{**row, "rules.coercion.strength": 0.25} for row in TWO])
    with pytest.raises(sweep.SweepError, match=r"posterior: the file's content changed \(sha256 [0-9a-f]{8} -> [0-9a-f]{8}\)"):
        sweep.run(there / "exp.yaml", there / "out", executor=cf.ThreadPoolExecutor(1), progress=False, resume=True)


@pytest.mark.parametrize(
    "rows, expected",
    [
        (None, "not found"),
        ([{"rules.decay.rate": 0.1}], "weight"),
        ([{"weight": -1.0, "rules.decay.rate": 0.1}], "non-negative"),
        ([{"weight": 1.0, "rules.decay.rate": "fast"}], "column 'rules.decay.rate' must hold a finite number"),
        # what runs refused, blaming a --set the user never gave: a column that is no setting, a value out of range
        ([{"weight": 1.0, "rules.decision.noyse": 0.1}], "column rules.decision.noyse: no such setting 'noyse'; did you mean 'noise'?"),
        ([{"weight": 1.0, "rules.decay.rate": 0.1}, {"weight": 1.0, "rules.decay.rate": 5.0}], "column rules.decay.rate: row 1: must be in [0, 1) (got 5.0)"),  # the range whole, not pydantic's "Input should be less than 1"
        # a seed or horizon drawn per run would override --seed and --steps, or be ignored while provenance recorded it
        ([{"weight": 1.0, "time.steps": 10}], "column time.steps: not a real-valued setting"),
        ([{"weight": 1.0, "seed": 3}], "column seed: not a real-valued setting"),
        ([{"weight": 1.0, "offers.duration": 4}], "column offers.duration: not a real-valued setting"),
    ],
)
def test_a_bad_posterior_is_one_problem_naming_the_field(tmp_path, rows, expected, capsys):
    if rows is not None:
        posterior_file(tmp_path, rows)
    path = scenario_file(tmp_path)
    with pytest.raises(ScenarioError) as err:
        load(path)
    assert len(err.value.problems) == 1
    assert err.value.problems[0][0] == "posterior" and expected in err.value.problems[0][1]
    assert str(tmp_path / "posterior.csv") in err.value.problems[0][1] or rows is None
    assert main(["validate", path]) == 2
    printed = capsys.readouterr().err
    assert expected in printed and "--set" not in printed and "Traceback" not in printed


def test_a_repeated_column_or_a_folder_is_named_as_such(tmp_path):
    """A repeated column was reported as 'column rules.decay.rate.1: no such setting', pandas'
    renaming; a folder as 'file not found'."""
    (tmp_path / "posterior.csv").write_text("rules.decay.rate,rules.decay.rate,weight\n0.1,0.2,1\n")
    with pytest.raises(ScenarioError, match="column 'rules.decay.rate' appears twice"):
        load(scenario_file(tmp_path))
    (tmp_path / "posterior.csv").unlink()
    (tmp_path / "posterior.csv").mkdir()
    with pytest.raises(ScenarioError, match="posterior.csv: a folder, not a file"):
        load(scenario_file(tmp_path))


@pytest.mark.parametrize("row, fields", [("1,0.1,9", 3), ("1", 1)])
def test_a_row_whose_length_differs_from_the_header_is_refused(tmp_path, row, fields):
    """pandas read a row one field longer than the header as an index and the values,
    every value one column to the left: the weight 1 was dropped and the rate read as 9."""
    (tmp_path / "posterior.csv").write_text(f"weight,rules.decay.rate\n1,0.1\n{row}\n")
    with pytest.raises(ScenarioError, match=f"posterior.csv: line 3 has {fields} fields, the header 2"):
        load(scenario_file(tmp_path))
    (tmp_path / "posterior.csv").write_text("weight,rules.decay.rate\n1,0.1\n   \n\n")  # blank lines, which pandas skips, are no rows
    assert load(scenario_file(tmp_path)).posterior is not None


def test_a_posterior_path_the_file_system_cannot_hold_is_one_problem_naming_the_field(tmp_path):
    """Path.is_file() raises for a name too long (it answers False for a missing file only):
    loading let the OSError out."""
    with pytest.raises(ScenarioError) as err:
        load(scenario_file(tmp_path, "x" * 300 + ".csv"))
    assert [path for path, _ in err.value.problems] == ["posterior"]
    assert "posterior: posterior file cannot be opened (File name too long): " in str(err.value) and "\n" not in str(err.value)


def test_a_draw_refused_by_a_rule_across_settings_names_the_posterior_and_row(tmp_path, capsys):
    # each value is in range, so validate passes; armenia's own trade ties make both rows sum over 1
    posterior_file(tmp_path, [{"weight": 1.0, "states.armenia.ties.trade.japan": 0.9}])
    path = scenario_file(tmp_path)
    assert main(["run", path, "--seed", "0", "--no-charts", "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr().err
    assert f"posterior {tmp_path / 'posterior.csv'}, row 0: states.armenia.ties" in printed and "--set" not in printed
    assert not (tmp_path / "out").exists()


def test_the_committed_posterior_is_the_one_its_provenance_describes():
    """data/posterior_baseline.csv is the shipped spec's posterior: its parameters, its
    checksum and the spec it records match the files in the repository."""
    path = ROOT / "data" / "posterior_baseline.csv"
    meta = json.loads((ROOT / "data" / "posterior_baseline.json").read_text())
    spec = calibrate.load_spec(ROOT / "experiments" / "calibrate" / "baseline.yaml").spec
    frame = pd.read_csv(path)
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(c for c in frame.columns if c != "weight") == sorted(spec.parameters) == sorted(meta["spec"]["parameters"])
    assert len(frame) == spec.population and frame["weight"].gt(0).any()
    for name, prior in spec.parameters.items():
        assert frame[name].between(prior.low, prior.high).all(), name


def test_the_calibrated_baseline_draws_its_parameters_from_the_committed_posterior():
    frame = pd.read_csv(ROOT / "data" / "posterior_baseline.csv")
    draws = [runner.run(ROOT / "configs" / "baseline_calibrated.yaml", seed=s, steps=1, tables=False).scenario.provenance["posterior_draw"] for s in range(4)]
    assert len({d["row"] for d in draws}) > 1  # different seeds, different particles
    for d in draws:
        assert d["values"] == pytest.approx({c: frame[c].iloc[d["row"]] for c in frame.columns if c != "weight"})


def test_a_model_built_directly_is_the_run_abm_run_makes():
    """RegionModel(scenario) ignored the scenario's posterior and, without rng, its seed:
    the calibrated baseline built in a notebook or the dashboard ran as the plain one,
    and two such models of one scenario differed (model review)."""
    from abm.model import RegionModel

    calibrated = ROOT / "configs" / "baseline_calibrated.yaml"
    for seed in (0, 3):
        model = RegionModel(calibrated, rng=seed, steps=4)
        while model.running:
            model.step()
        ran = runner.run(calibrated, seed=seed, steps=4, tables=False)
        pd.testing.assert_frame_equal(runner.collect(model, seed, tables=False).model, ran.model)
        assert model.config.provenance["posterior_draw"] == ran.scenario.provenance["posterior_draw"]
    plain = RegionModel(BASELINE, rng=0, steps=4)
    assert plain.config.rules.coercion != RegionModel(calibrated, rng=0, steps=4).config.rules.coercion
    unseeded = [RegionModel(calibrated, steps=1) for _ in range(6)]  # Mesa's None: runs of their own, each with a draw
    assert len({m.config.provenance["posterior_draw"]["row"] for m in unseeded}) > 1


def test_mesa_batch_run_replications_without_seeds_differ(restore_start_method):
    """mesa.batch_run's iterations build models with rng=None, meant as runs of their own:
    taking the scenario's seed for None made its replications identical (diff review)."""
    import mesa

    from abm.model import RegionModel

    rows = mesa.batch_run(RegionModel, {"scenario": str(BASELINE), "steps": 6}, rng=[None] * 3, max_steps=6, number_processes=1, display_progress=False)
    finals = {round(r["fragmentation"], 12) for r in rows if r["Step"] == 6}
    assert len(finals) == 3


def test_a_posterior_needs_an_integer_seed_to_draw_by():
    import numpy as np

    from abm.model import RegionModel

    with pytest.raises(ValueError, match="integer seed"):
        RegionModel(ROOT / "configs" / "baseline_calibrated.yaml", rng=np.random.default_rng(0))


def sweep_with_posterior(tmp_path, **metrics):
    """A sweep in tmp_path/here drawing from here/posterior.csv, and a copy of the whole
    folder in tmp_path/there (the project moved, or copied to another machine)."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    posterior_file(here, TWO)
    spec = {"name": "unc", "scenario": str(BASELINE), "set": {"posterior": "posterior.csv", "time.steps": 2}, "replications": 3,
            "metrics": {"series": ["fragmentation"], **metrics}}
    (here / "exp.yaml").write_text(yaml.safe_dump(spec))
    with cf.ThreadPoolExecutor(1) as ex:
        assert sweep.run(here / "exp.yaml", here / "out", executor=ex, progress=False).ok == 3
    shutil.copytree(here, there)
    return here, there


def test_a_stored_run_is_rerun_with_its_posterior_or_refused(tmp_path):
    """Results.rerun re-runs a run of a sweep with a posterior from the file the sweep drew
    from, checked by the sha256 the manifest records: a posterior re-fitted under the
    same name since (whose draws would silently differ) is refused, and so is a file no
    longer where the sweep found it; ``posterior=`` names the file where it is now."""
    from abm import results

    here, there = sweep_with_posterior(tmp_path)
    stored = results.load(here / "out")
    series = stored.series()
    key = stored.runs["run"].iloc[0]
    ran = series.loc[series["run"] == key, "fragmentation"].to_numpy()
    assert (stored.rerun(key).model["fragmentation"].to_numpy() == ran).all()
    posterior_file(here, [{**row, "weight": w} for row, w in zip(TWO, (0.0, 0.5, 0.5))])  # re-fitted under the same name
    with pytest.raises(ValueError, match=r"is not the posterior the sweep drew from \(sha256 [0-9a-f]{8} there, [0-9a-f]{8} recorded\).*posterior=PATH"):
        stored.rerun(key)
    moved = results.load(there / "out")
    with pytest.raises(ValueError, match="is not the posterior the sweep drew from"):  # the copy's manifest names the file it was made beside
        moved.rerun(key)
    assert (moved.rerun(key, posterior=there / "posterior.csv").model["fragmentation"].to_numpy() == ran).all()
    shutil.rmtree(here)
    with pytest.raises(ValueError, match=r"not found.*posterior=PATH"):
        moved.rerun(key)


def test_the_arrays_of_a_moved_sweep_with_a_posterior_export_and_name_its_content(tmp_path):
    """A sweep's per-state arrays take their dates from the calendar alone: its folder,
    moved away from the posterior file it drew from, still exports; the export names that
    file's content (sha256), which a shared NetCDF file could not otherwise tell."""
    from abm import results

    here, there = sweep_with_posterior(tmp_path, states=["alignment"])
    digest = hashlib.sha256((here / "posterior.csv").read_bytes()).hexdigest()
    shutil.rmtree(here)
    ds = results.load(there / "out").to_xarray()
    assert ds.sizes["run"] == 3 and str(ds["date"].values[0])[:10] == "2025-01-01"
    assert ds.attrs["posterior_sha256"] == f"baseline {digest}"


@pytest.mark.parametrize("setting", ['rules.decision={"noise": 0.2}', 'rules.decision={"name": "hedging", "noise": 0.2, "threshold": 0.1}'])
def test_a_whole_entry_that_gives_none_of_the_drawn_settings_applies(tmp_path, setting):
    """A mapping given above a drawn setting was refused even when it held none of the
    drawn values, while the same settings given one by one applied; the draw of cap and
    strength stands in every run."""
    posterior_file(tmp_path, TWO)
    scenario = load(scenario_file(tmp_path), [setting])
    assert scenario.rules.decision["noise"] == 0.2
    for seed in (0, 1):
        drawn = posterior.apply(scenario, seed)
        assert drawn.rules.decision["noise"] == 0.2 and (drawn.rules.coercion["strength"], drawn.rules.decision["cap"]) in ((0.0, 0.3), (1.0, 1.0))
    with pytest.raises(ScenarioError, match="holds rules.decision.cap, drawn from the posterior"):  # gives a drawn setting: refused
        load(scenario_file(tmp_path), ['rules.decision={"cap": 0.5}'])


def test_a_header_without_rows_is_named_as_such(tmp_path):
    """A header with both a weight and a parameter column, and no rows, was told it
    'needs a weight column and at least one parameter column' (a publisher's audit)."""
    (tmp_path / "posterior.csv").write_text("rules.decay.rate,weight\n")
    with pytest.raises(ScenarioError, match="posterior.csv: a header and no rows"):
        load(scenario_file(tmp_path))
