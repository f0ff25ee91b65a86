"""The CLI never destroys files it did not write, and turns bad input into exit 2."""

from __future__ import annotations

import json
import os

import pytest

from abm import budget
from abm.cli import main
from abm.scenario import ScenarioError, load
from tests.conftest import BASELINE


def run_tiny(out) -> int:
    return main(["run", str(BASELINE), "--steps", "1", "--no-charts", "--out", str(out)])


def test_an_earlier_output_is_replaced(tmp_path):
    assert run_tiny(tmp_path / "r") == 0
    (tmp_path / "r" / "model.csv").write_text("stale")
    assert run_tiny(tmp_path / "r") == 0
    assert (tmp_path / "r" / "model.csv").read_text() != "stale"


def test_a_folder_of_other_files_is_never_replaced(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert run_tiny(tmp_path / "mine") == 2
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    assert "not an earlier output" in capsys.readouterr().err


def test_the_working_directory_is_never_an_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    assert run_tiny(".") == 2
    assert (tmp_path / "keep.txt").exists()


def test_a_symlinked_output_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert run_tiny(tmp_path / "link") == 2


def test_compare_rejects_bad_dates_before_writing(tmp_path):
    args = ["compare", str(BASELINE), "--seeds", "1", "--steps", "4", "--out", str(tmp_path / "c"), "--dates"]
    with pytest.raises(SystemExit) as err:  # argparse: not a date
        main([*args, "2030-13-01"])
    assert err.value.code == 2
    assert main([*args, "2050-01-01"]) == 2  # after the horizon
    assert not (tmp_path / "c").exists()


def test_a_file_that_is_not_utf8_is_a_clean_error(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert main(["validate", str(bad)]) == 2


def test_report_on_a_damaged_store_is_a_clean_error(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "results.sqlite").write_text("not a database")
    assert main(["report", str(tmp_path / "s")]) == 2


@pytest.mark.parametrize("repeats", ["0", "101", "100000"])
def test_bench_repeats_are_bounded(repeats, capsys):
    # 100000 was accepted and would have run for days
    assert main(["bench", "--repeats", repeats]) == 2
    assert f"--repeats must be from 1 to 100 (got {repeats})" in capsys.readouterr().err


def test_an_unknown_rule_name_gets_the_closest_suggestion():
    with pytest.raises(ScenarioError) as err:
        load(BASELINE, ["rules.decision.name=hedgin"])
    assert "did you mean 'hedging'" in str(err.value)


@pytest.mark.parametrize("out", ["", "  "])
@pytest.mark.parametrize("command", [
    ["run", str(BASELINE), "--steps", "1", "--no-charts"],
    ["compare", str(BASELINE), "--seeds", "1", "--steps", "1"],
    ["report", "runs/baseline"],
    ["export", "runs/baseline"],
    ["sweep", "experiments/rules.yaml", "--dry-run"],
    ["calibrate", "experiments/calibrate/baseline.yaml", "--resume"],
])
def test_an_empty_out_is_refused_and_the_default_folder_kept(tmp_path, monkeypatch, capsys, command, out):
    """``--out ""`` is bad input, not "the default folder, replace allowed": without a
    folder named, an earlier output is never replaced."""
    assert run_tiny(tmp_path / "runs" / "baseline") == 0  # an earlier output in the default place
    (tmp_path / "runs" / "baseline" / "model.csv").write_text("mine")
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out")
    assert (tmp_path / "runs" / "baseline" / "model.csv").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"] and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["baseline"]


RULES = BASELINE.parents[1] / "experiments" / "rules.yaml"
CALIBRATION = BASELINE.parents[1] / "experiments" / "calibrate" / "baseline.yaml"


@pytest.mark.parametrize("args, said", [
    (["run", RULES], f"{RULES} is an experiment spec, not a scenario: abm sweep {RULES} runs it"),
    (["validate", RULES], f"{RULES} is an experiment spec, not a scenario: abm sweep {RULES} runs it"),
    (["compare", BASELINE, RULES], f"{RULES} is an experiment spec, not a scenario: abm sweep {RULES} runs it"),
    (["sweep", BASELINE], f"{BASELINE} is a scenario, not an experiment spec: abm run {BASELINE} runs it"),
    (["calibrate", BASELINE], f"{BASELINE} is a scenario, not a calibration spec: abm run {BASELINE} runs it"),
    (["calibrate", RULES], f"{RULES} is an experiment spec, not a calibration spec: abm sweep {RULES} runs it"),
    (["sweep", CALIBRATION, "--dry-run"], f"{CALIBRATION} is a calibration spec, not an experiment spec: abm calibrate {CALIBRATION} runs it"),
    (["run", CALIBRATION], f"{CALIBRATION} is a calibration spec, not a scenario: abm calibrate {CALIBRATION} runs it"),
])
def test_a_file_given_to_the_wrong_command_is_named_for_what_it_is(capsys, args, said):
    """Not a list of its keys as unknown ones: what the file is and which command runs it."""
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and "unknown key" not in err


@pytest.mark.parametrize("setting, said", [
    ("time.steps=4", "--set time...: time is a scenario's setting, not an experiment spec's; override it under set., as in --set set.time.<path>=VALUE (or set.time=VALUE for the whole key)"),
    ("population=4", "population: unknown key"),
])
def test_a_sweeps_set_of_another_kinds_key_is_not_called_a_file_of_that_kind(capsys, setting, said):
    """--set is no file: it was called "a scenario, not an experiment spec: abm run --set runs
    it" (and a calibration's key sent the user to abm calibrate --set, which does not exist)."""
    assert main(["sweep", str(RULES), "--set", setting, "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and said in err and "runs it" not in err


@pytest.mark.parametrize("command", [["run"], ["sweep"], ["calibrate"]])
@pytest.mark.parametrize("record, said", [
    ({"experiment": "tipping", "description": "", "plan": {}, "sessions": []}, "the manifest of a sweep's results, not {kind}: abm report {folder} reports them"),
    ({"calibration": "baseline", "description": "", "base_scenario": {}, "sessions": []}, "the manifest of a calibration's results, not {kind}: its spec is {folder}/calibration.yaml"),
])  # fmt: skip
def test_a_results_manifest_given_as_a_spec_is_named_for_what_it_is(tmp_path, capsys, command, record, said):
    """A sweep's manifest.json was called a calibration spec by abm sweep, and an experiment
    spec by abm calibrate: each sent the user to the other (found by a provenance audit)."""
    (tmp_path / "manifest.json").write_text(json.dumps(record))
    assert main([*command, str(tmp_path / "manifest.json")]) == 2
    kind = {"run": "a scenario", "sweep": "an experiment spec", "calibrate": "a calibration spec"}[command[0]]
    assert capsys.readouterr().err == f"error: {tmp_path / 'manifest.json'} is {said.format(kind=kind, folder=tmp_path)}\n"


def test_sweep_refuses_an_existing_folder_before_printing_its_plan(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "results.sqlite").touch()
    assert main(["sweep", str(RULES), "--out", str(tmp_path / "s"), "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "already exists; use --resume to complete that sweep" in err


@pytest.mark.parametrize("command, spec, kind", [("sweep", RULES, "sweep"), ("calibrate", CALIBRATION, "calibration")])
def test_a_users_folder_or_file_as_out_is_refused_without_suggesting_resume(command, spec, kind, tmp_path, capsys):
    """--resume would fail there too: the hint is another --out, given before any plan."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    for out in ("mine", "notes.txt"):
        for resume in ([], ["--resume"]):
            assert main([command, str(spec), "--out", str(tmp_path / out), *resume]) == 2
            printed, err = capsys.readouterr()
            assert printed == "" and err == f"error: {tmp_path / out} exists and is not a {kind} folder; choose another --out\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "notes.txt"] and not any((tmp_path / "mine").iterdir())


def test_one_commands_folder_given_to_the_other_says_what_it_holds(tmp_path, capsys):
    """A calibration's folder given to abm sweep (or a sweep's to abm calibrate) is not
    resumable by it: no --resume hint, with or without --resume, and nothing touched."""
    for folder, key in (("cal", "calibration"), ("swp", "experiment")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "manifest.json").write_text(f'{{"{key}": "x"}}')
    for command, spec, folder, kind, other in (("sweep", RULES, "cal", "sweep", "calibration"), ("calibrate", CALIBRATION, "swp", "calibration", "sweep")):
        for resume in ([], ["--resume"]):
            assert main([command, str(spec), "--out", str(tmp_path / folder), *resume]) == 2
            printed, err = capsys.readouterr()
            assert printed == "" and err == f"error: {tmp_path / folder} exists and is not a {kind} folder; it holds a {other}; choose another --out\n"
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == ["manifest.json"]


def test_a_folder_that_is_not_a_sweep_gets_a_hint_that_works(tmp_path, capsys):
    """abm sweep refuses an existing folder, so the hint for one names a new folder."""
    for command in ("report", "export"):
        assert main([command, str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "abm sweep EXPERIMENT --out NEW_FOLDER" in err and f"--out {tmp_path}" not in err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert f"abm sweep EXPERIMENT --out {tmp_path / 'missing'}" in capsys.readouterr().err


@pytest.mark.parametrize("args, said", [
    (["sweep", str(RULES), "--set", "replicatons=2", "--dry-run"], "1 problem(s) in --set: replicatons: unknown key; did you mean 'replications'?"),
    (["sweep", str(RULES), "--set", "set.time.steps=0", "--dry-run"], "1 problem(s) in --set: set.time.steps: must be in [1, 10000] (got 0)"),
    (["sweep", str(RULES.parent / "sensitivity.yaml"), "--set", "sample.n=1048576", "--dry-run"], "1 problem(s) in --set: sample.n: the plan (9,437,184 points x 2 replication(s) x 1 base scenario(s)): 18,874,368 runs, over the budget"),
    (["sweep", str(RULES), "--set", "charts.9.type=box", "--dry-run"], "1 problem(s) in --set: charts.9.type: '9' is not an item of the list at charts: give an index from 0 to"),
    (["sweep", str(RULES), "--set", "metrics.summaries.x.stat=final", "--dry-run"], "1 problem(s) in --set: metrics.summaries.x.stat: 'x' is not an item of the list at metrics.summaries"),
    (["sweep", str(RULES), "--set", "metrics.summaries.-1.stat=final", "--dry-run"], "1 problem(s) in --set: metrics.summaries.-1.stat: '-1' is not an item"),
    (["run", str(BASELINE.parent / "generated.yaml"), "--set", "generated.n_states=5000", "--set", "generated.n_powers=200"], "1 problem(s) in --set: generated: 5000 states x 200 powers needs about"),
])  # fmt: skip
def test_problems_caused_by_set_are_blamed_on_set_not_the_file(args, said, capsys, monkeypatch):
    monkeypatch.setattr(budget, "memory_budget", lambda: 2 << 30)  # the world is over budget on any machine
    assert main(args) == 2
    err = capsys.readouterr().err
    assert said in err and err.startswith("error: 1 problem(s) in --set")  # not in the spec or scenario file


def test_resume_of_a_folder_that_does_not_exist_says_it_starts_there(tmp_path, capsys):
    """--resume starts a missing folder (a cluster job's retry is one command), and says so,
    in case --out was mistyped; a plain sweep says nothing of the kind."""
    assert main(["sweep", str(RULES), "--resume", "--dry-run", "--out", str(tmp_path / "typo")]) == 0
    assert f"nothing to resume in {tmp_path / 'typo'} (no such folder): starting there" in capsys.readouterr().err
    assert main(["sweep", str(RULES), "--dry-run", "--out", str(tmp_path / "new")]) == 0
    assert "nothing to resume" not in capsys.readouterr().err


def test_problems_an_override_may_have_caused_elsewhere_say_the_file_was_read_with_it(capsys):
    """`--set sample.n=64` on a grid spec leaves sample.method missing: no problem sits at
    the path set, so each is the file's, but the header must say the file was read with
    the override, or the reader looks for the fault in the file alone."""
    assert main(["sweep", str(RULES), "--set", "sample.n=64", "--dry-run"]) == 2
    assert f"problem(s) in {RULES} read with --set sample.n=64:" in capsys.readouterr().err
    assert main(["sweep", str(RULES), "--set", "replicatons=2", "--dry-run"]) == 2
    assert "read with" not in capsys.readouterr().err  # blamed on --set itself


def test_validate_checks_every_file_given_and_fails_if_any_is_invalid(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASELINE}\nname: bad\ntime: {{steps: 0}}\n")
    assert main(["validate", str(BASELINE), str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"{BASELINE}: valid" in captured.out and f"problem(s) in {bad}" in captured.err and "time.steps" in captured.err
    assert main(["validate", str(BASELINE), str(BASELINE.parent / "no_peace.yaml")]) == 0
    assert capsys.readouterr().out.count(": valid (") == 2


def test_names_too_long_for_the_file_system_are_refused_not_a_traceback(tmp_path, capsys):
    """A 300-byte folder name, or a scenario named in 80 CJK characters (240 bytes, the
    name of its default folder): OSError 'File name too long', a traceback, exit 1."""
    long = "x" * 300
    assert main(["run", str(BASELINE), "--steps", "2", "--out", str(tmp_path / long)]) == 2
    assert "--out: a folder name of 300 bytes" in capsys.readouterr().err
    assert main(["report", str(tmp_path / long)]) == 2
    assert "a path is too long for the file system" in capsys.readouterr().err
    wide = tmp_path / "wide.yaml"
    wide.write_text(f"extends: {BASELINE}\nname: {'漢' * 80}\n", encoding="utf-8")
    assert main(["validate", str(wide)]) == 2
    assert "at most 200 bytes in UTF-8" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name != "wide.yaml"]
