"""Bad input of every kind the issue found gets one clear line and exit status 2.

The one YAML reader (abm.yamlfile), numbers finite and bounded, and the size budgets
checked before anything starts (abm.budget)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from abm import budget, yamlfile
from abm.cli import main
from abm.runner import run as run_result
from abm.scenario import ScenarioError, load
from tests.conftest import BASELINE, tiny_scenario


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert len(err) < 1200
    return err


def validate(path, capsys, *extra) -> str:
    assert main(["run", str(path), "--steps", "1", "--no-charts", "--out", str(path.parent / "out"), *extra]) == 2
    assert not (path.parent / "out").exists()
    return one_line_error(capsys)


def write(path, text: str):
    path.write_text(text)
    return path


def tiny_text(**changes) -> str:
    return yaml.safe_dump({**tiny_scenario(), **changes}, sort_keys=False)


def test_the_reader_is_libyamls_c_parser_with_the_safe_constructor():
    assert issubclass(yamlfile.Loader, yaml.CSafeLoader)
    with pytest.raises(yamlfile.YamlError, match="could not determine a constructor"):
        yamlfile.parse("x: !!python/object/apply:os.system ['true']")


def test_a_duplicate_key_is_refused_naming_both_lines(tmp_path, capsys):
    text = tiny_text() + "rules:\n  decision: {name: hedging}\nrules:\n  decay: {name: none}\n"
    lines = text.splitlines()
    first, second = [k + 1 for k, line in enumerate(lines) if line.startswith("rules:")][:2]
    err = validate(write(tmp_path / "dup.yaml", text), capsys)
    assert f"key 'rules' is given twice, at lines {first} and {second}" in err


def test_a_merge_key_may_be_overridden():
    assert yamlfile.parse("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 3\n")["b"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")), "alias bomb"),
        ("a: &a [1, *a]\n", "recursive alias"),
        ("a: &a {b: *a}\n", "recursive alias"),
        ("a:\n" + "".join("  " * k + f"  k{k}:\n" for k in range(100)) + "  " * 101 + "v: 1\n", "nested more than 64 levels"),
        ("a: " + "[" * 80 + "]" * 80 + "\n", "nested more than 64 levels"),
    ],
    ids=["alias bomb", "recursive list", "recursive mapping", "deep block nesting", "deep flow nesting"],
)
def test_alias_bombs_recursion_and_deep_nesting_are_refused_with_a_line(tmp_path, capsys, text, message):
    err = validate(write(tmp_path / "bad.yaml", tiny_text() + "provenance:\n  " + text.replace("\n", "\n  ").rstrip() + "\n"), capsys)
    assert message in err and "line " in err


def test_a_fifo_a_directory_and_a_device_are_not_read(tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    for target, kind in ((tmp_path / "fifo.yaml", "a FIFO"), (tmp_path / "dir.yaml", "a directory"), ("/dev/zero", "a device")):
        path = write(tmp_path / "child.yaml", f"extends: {target}\nname: child\n")
        err = validate(path, capsys)
        assert kind in err and "not a regular file" in err


def test_a_file_over_the_size_limit_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(yamlfile, "MAX_BYTES", 1000)
    err = validate(write(tmp_path / "big.yaml", tiny_text(description="x" * 2000)), capsys)
    assert "larger than" in err


def test_a_file_that_is_not_a_scenario_is_never_echoed(tmp_path, capsys):
    write(tmp_path / "passwd", "root: x:0:0:root:/root:/bin/bash\ndaemon: x:1:1:daemon:/usr/sbin\nhunter2: the password\n")
    write(tmp_path / "shadow", "root:x:0:0:root:/root:/bin/bash\ndaemon: x:1:1:daemon:/usr/sbin\nhunter2: the password\n")
    for secret in ("passwd", "shadow"):
        err = validate(write(tmp_path / "child.yaml", f"extends: {secret}\nname: child\n"), capsys)
        assert "not a scenario" in err or "YAML syntax error" in err
        assert "hunter2" not in err and "daemon" not in err and "root:x" not in err and "/bin/bash" not in err


def test_an_extends_chain_is_bounded(tmp_path, capsys):
    for k in range(40):
        write(tmp_path / f"s{k}.yaml", f"extends: s{k + 1}.yaml\n" if k < 39 else tiny_text())
    err = validate(tmp_path / "s0.yaml", capsys)
    assert "a chain of more than" in err
    write(tmp_path / "ok.yaml", "extends: s37.yaml\n")  # three files: fine
    assert load(tmp_path / "ok.yaml").name == "tiny"


@pytest.mark.parametrize("setting", [
    "states.a.ties.trade.q=.inf", "states.a.neighbours.b.trade=1e308", "freight.value_of_time=.inf", "freight.risk_premium=1e308",
    "freight.transit_fee=.nan", "states.a.gdp=1.0e300", "rules.decision.noise=.inf", "rules.coercion.backlash=1.0e100",
    "seed=100000000000000000000000", "offers.max_targets=1000000000000", "freight.closure_steps=1000000000000",
])
def test_every_number_is_finite_and_bounded(setting):
    with pytest.raises(ScenarioError) as err:
        load(tiny_scenario(), [setting])
    assert setting.split("=")[0] in str(err.value)


def test_a_huge_value_is_cut_in_the_message(tmp_path, capsys):
    scn = tiny_scenario()
    scn["states"]["a"]["gdp"] = "9" * 1_000_000
    err = validate(write(tmp_path / "long.yaml", yaml.safe_dump(scn)), capsys)
    assert "states.a.gdp" in err and "..." in err


def test_many_problems_still_make_one_line(tmp_path, capsys):
    err = validate(write(tmp_path / "empty.yaml", tiny_text(powers={})), capsys)
    assert "more:" in err


def test_validate_lists_every_problem_on_its_own_line(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path / "empty.yaml", tiny_text(powers={})))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n  - ") > 3


def test_a_set_value_is_read_with_the_same_limits():
    with pytest.raises(ScenarioError, match="recursive alias"):
        load(tiny_scenario(), ["description=&a [*a]"])
    assert load(tiny_scenario(), ["description=2025-02-30"]).description == "2025-02-30"  # not YAML: text


# --------------------------------------------------------------------------- budgets


def test_a_world_too_large_for_memory_is_refused_before_it_is_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget, "memory_budget", lambda: 2 << 30)
    scn = {**tiny_scenario(), "states": {}, "powers": {}, "generated": {"n_states": 5000, "n_powers": 200}}
    err = validate(write(tmp_path / "huge.yaml", yaml.safe_dump(scn)), capsys)
    assert "generated" in err and "2.9 GiB" in err and "--allow-large" in err  # 64 x 5000^2 + 1536 x 5000 x 200 bytes


PEAK = """
import sys
from abm.runner import run
from abm.scenario import load

def peak():  # VmHWM: this process's own peak (ru_maxrss starts at the parent's)
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))

world = lambda states, powers, steps: load(sys.argv[1], [f"generated.n_states={states}", f"generated.n_powers={powers}", f"time.steps={steps}"])
run(world(10, 2, 2), tables=False)  # what any run imports
before = peak()
run(world(*sys.argv[2:5]), tables=True)
print(peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's peak memory from Linux's /proc")
@pytest.mark.parametrize("states, powers, steps", [(2000, 1, 2), (700, 150, 12), (300, 50, 40), (100, 200, 2), (200, 1, 2)])
def test_the_world_estimate_covers_what_a_run_uses(states, powers, steps):
    """The budget counted 8 x states^2 x powers bytes, the tensor the distances no longer
    build, and nothing for the records a run keeps: a world of 5000 states and one power
    was estimated at 190 MB and used 1.1 GB, one of 1500 x 200 at 3.4 GB and used 0.36.
    Measured in a fresh process, a run keeping its tables stays under the estimate, and
    not so far under that the estimate would refuse worlds that fit."""
    done = subprocess.run([sys.executable, "-c", PEAK, str(BASELINE.parent / "generated.yaml"), str(states), str(powers), str(steps)], capture_output=True, text=True, timeout=300)
    used, estimate = int(done.stdout), budget.world_bytes(states, powers, steps)
    assert used <= estimate <= 3 * used, (used, estimate)


def test_the_memory_budget_is_lifted_by_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget, "memory_budget", lambda: 100)
    args = ["run", str(BASELINE), "--steps", "1", "--no-charts", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "of memory, over the budget" in one_line_error(capsys)
    assert main([*args, "--allow-large"]) == 0


PEAK_OF = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)  # the command's peak (Linux counts kB)
"""


MORE = 400  # runs added: their tens of MB stand above the few MB by which a peak varies


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux")
@pytest.mark.parametrize("command", [["run", str(BASELINE), "--no-charts"], ["compare", str(BASELINE), str(BASELINE.parent / "us_withdraws.yaml")]])
def test_the_kept_series_estimate_covers_what_ensembles_and_comparisons_use(tmp_path, command):
    """abm run --seeds and abm compare keep every run's series; a million seeds passed
    the run-count budget and would have failed hours in, for want of memory (an audit).
    What 400 more runs add to the command's peak memory stays under the estimate, and not
    so far under that the estimate would refuse ensembles that fit. (With 100, the peak's
    noise of several MB once made compare's runs look like 47 KB each, not their 115.)"""
    abm = Path(sys.executable).parent / "abm"
    scenarios = len(command) - 1 - (command[0] == "run")
    peaks = [int(subprocess.run([sys.executable, "-c", PEAK_OF, str(abm), *command, "--seeds", str(seeds), "--steps", "20", "--out", str(tmp_path / str(seeds))],
                                capture_output=True, text=True, timeout=600, check=True).stdout) for seeds in (10, 10 + MORE // scenarios)]
    used = (peaks[1] - peaks[0]) / MORE
    estimate = budget.kept_bytes(1, 21 * len(load(BASELINE).metric_names()))
    assert used <= estimate <= 4 * used, (used, estimate)


@pytest.mark.parametrize("command", ["run", "compare"])
def test_seeds_whose_series_exceed_the_memory_budget_are_refused_before_running(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr(budget, "memory_budget", lambda: 8 << 20)  # the world fits; 200 runs' series (about 10 MB) do not
    args = [command, str(BASELINE), "--seeds", "200", "--steps", "1", "--out", str(tmp_path / "o"), *(["--no-charts"] if command == "run" else [])]
    with monkeypatch.context() as before:  # refused before the first run
        for where in ("abm.compare.run", "abm.runner.run"):  # compare first: importing it takes runner.run as it is
            before.setattr(where, lambda *a, **k: pytest.fail("a run started before the budget was checked"))
        assert main(args) == 2
    assert "metric values of its runs" in one_line_error(capsys) and not (tmp_path / "o").exists()
    assert main([*args, "--allow-large"]) == 0


def test_compare_refuses_a_billion_seeds_before_running(tmp_path, capsys):
    assert main(["compare", str(BASELINE), "--seeds", "1000000000", "--out", str(tmp_path / "c")]) == 2
    assert "1,000,000,000 runs" in one_line_error(capsys)
    assert not (tmp_path / "c").exists()


def write_experiment(tmp_path, **spec):
    base = write(tmp_path / "tiny.yaml", tiny_text())
    return write(tmp_path / "exp.yaml", yaml.safe_dump({"name": "x", "scenario": base.name, "metrics": {"series": ["fragmentation"]}, **spec}))


@pytest.mark.parametrize("spec, message", [
    ({"sample": {"method": "sobol", "n": 2**30, "ranges": {"rules.decision.noise": [0.0, 0.3]}}}, "3,221,225,472 runs"),
    ({"grid": {"rules.decision.noise": [0.1] * 1000, "rules.decision.threshold": [0.0] * 1000, "rules.coercion.strength": [0.5] * 1000}}, "1,000,000,000 runs"),
    ({"sample": {"method": "latin", "n": 4, "ranges": {"rules.decision.noise": [0.0, float("inf")]}}}, "finite"),
    ({"sample": {"method": "latin", "n": 4, "ranges": {"rules.decision.noise": [0.0, 1e300]}}}, "must be at most 1000000000"),
])
def test_an_oversized_or_infinite_plan_is_refused_in_a_dry_run(tmp_path, capsys, spec, message):
    assert main(["sweep", str(write_experiment(tmp_path, **spec)), "--dry-run"]) == 2
    assert message in one_line_error(capsys)


@pytest.mark.parametrize("workers, message", [("10000000000", f"at most 4096, and without --allow-large at most 8 per CPU ({8 * (os.cpu_count() or 1)} on this machine)"), ("4000", "per CPU")])
def test_absurd_worker_counts_are_refused(tmp_path, capsys, workers, message):
    assert main(["sweep", str(write_experiment(tmp_path)), "--workers", workers, "--out", str(tmp_path / "o")]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_the_worker_budget_counts_a_swept_world_size(tmp_path, capsys, monkeypatch):
    """The memory per worker was taken from the base scenario alone, so a sweep of
    ``generated.n_states`` up to 5,000 passed with --workers 8 where the same size set
    in ``set:`` was refused."""
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "scenario": str(BASELINE.parent / "generated.yaml"), "grid": {"generated.n_states": [10, 300]}, "metrics": {"series": ["fragmentation"]}}))
    small, large = budget.world_bytes(10, 5, 20), budget.world_bytes(300, 5, 20)
    monkeypatch.setattr(budget, "memory_budget", lambda: (small + large))  # two small worlds fit, two large ones do not
    assert main(["sweep", str(spec), "--workers", "2", "--dry-run"]) == 2
    assert "each holds a world of about" in one_line_error(capsys)
    assert main(["sweep", str(spec), "--workers", "1", "--dry-run"]) == 0
    grid = {"generated.n_states": [10, 300], "generated.n_powers": [5, 40], "generated.seed": list(range(600))}  # 2,400 points, checked value by value
    spec.write_text(yaml.safe_dump({"name": "x", "scenario": str(BASELINE.parent / "generated.yaml"), "grid": grid, "metrics": {"series": ["fragmentation"]}}))
    from abm import experiment

    assert experiment.load(spec).world == budget.world_bytes(300, 40, 20)  # its largest sizes together, though no point checked pairs them


def test_a_whole_number_rule_setting_is_bounded_as_quantities_are(capsys):
    """``rules.membership.every`` took a 31-digit number, which a sweep then failed to
    store (OverflowError from SQLite, with a traceback); it is a count of steps, so it
    stops at 10^6 as the ODD's counts do (it stopped at 1e9)."""
    for too_many in (10**30, 1_000_001):
        assert main(["validate", str(BASELINE), "--set", f"rules.membership.every={too_many}"]) == 2
        assert f"rules.membership.every: must be in [1, 1000000] (got {too_many})" in capsys.readouterr().err
    assert main(["validate", str(BASELINE), "--set", "rules.membership.every=1000000"]) == 0


def test_a_vanishing_offer_scale_is_refused_before_the_run(capsys):
    """Gains scale with its inverse: at 1e-160 they squared past 1e308 to inf, and every
    offer was refused without a word."""
    assert main(["validate", str(BASELINE), "--set", "offers.scale=1e-160"]) == 2
    assert "offers.scale: must be in [1e-06, 1000000000]" in capsys.readouterr().err
    assert run_result(load(BASELINE, ["offers.scale=1e-6", "time.steps=4"])).model.drop(columns="date").notna().all().all()


@pytest.mark.parametrize("credibility", ["1e-200", "1e-320", "0"])
def test_a_vanishing_credibility_runs_and_its_ties_fade(credibility):
    """Standing offers are sized by dividing by the belief in the power: 1e-200 overflowed
    them, and the run crashed ('Probabilities contain NaN'); 1e-320 wrote inf spending.
    A belief under model.BELIEF_FLOOR is none, and the power's ties fade."""
    r = run_result(load(BASELINE, [f"powers.russia.credibility={credibility}", "time.steps=8"]))
    numbers = r.model.drop(columns="date").to_numpy(dtype=float)
    assert np.isfinite(numbers).all()
    assert r.model["influence_russia"].iloc[-1] < r.model["influence_russia"].iloc[0]


def test_a_scheduler_argument_naming_another_file_is_refused(tmp_path, capsys):
    pytest.importorskip("distributed")
    assert main(["sweep", str(write_experiment(tmp_path)), "--scheduler", str(BASELINE), "--out", str(tmp_path / "o")]) == 2
    assert "not a Dask scheduler file" in one_line_error(capsys)


@pytest.mark.parametrize("scheduler", ["nowhere/scheduler.json", "scheduler.json"])
def test_a_scheduler_file_that_is_not_there_is_named_as_such(tmp_path, capsys, scheduler):
    """It was read as an address: "missing port number in address '.../scheduler.json'"."""
    pytest.importorskip("distributed")
    assert main(["sweep", str(write_experiment(tmp_path)), "--scheduler", scheduler, "--out", str(tmp_path / "o")]) == 2
    assert "no such scheduler file" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- charts and disks


def test_a_colour_matplotlib_rejects_is_refused_before_the_run(tmp_path, capsys):
    scn = tiny_scenario()
    scn["powers"]["p"]["color"] = "notacolour"
    err = validate(write(tmp_path / "c.yaml", yaml.safe_dump(scn)), capsys)
    assert "powers.p.color" in err and "not a colour" in err
    scn["powers"]["p"]["color"] = "tab:red"
    assert load(scn).powers["p"].color == "tab:red"


def test_dollar_signs_in_names_are_drawn_as_text(tmp_path):
    scn = tiny_scenario()
    scn["name"] = "a$x^{$b"
    scn["powers"]["p"]["name"] = r"$\frac{$"
    path = write(tmp_path / "d.yaml", yaml.safe_dump(scn))
    assert main(["run", str(path), "--steps", "2", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "alignment.png").stat().st_size > 0
    assert main(["compare", str(path), "--seeds", "1", "--steps", "2", "--out", str(tmp_path / "c")]) == 0


def test_a_full_disk_during_a_sweep_is_a_clean_error_that_keeps_what_was_stored(tmp_path, capsys, monkeypatch):
    import sqlite3

    from abm import store

    calls = []
    real = store.Store.commit

    def commit(self, outcomes):
        calls.append(1)
        if len(calls) > 2:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, outcomes)

    monkeypatch.setattr(store.Store, "commit", commit)
    out = tmp_path / "o"
    assert main(["sweep", str(write_experiment(tmp_path, grid={"rules.decision.noise": [0.0, 0.1, 0.2, 0.3]}, set={"time.steps": 2})), "--workers", "1", "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "disk is full" in err and "--resume" in err
    assert (out / "results.sqlite").exists()


@pytest.mark.parametrize("error, said", [(OSError(28, "No space left on device"), "No space left on device"),
                                         ("database or disk is full", "database or disk is full"), ("no such table: runs", None)])
def test_a_sweep_reports_a_disk_problem_in_one_line_and_lets_a_bug_show(tmp_path, capsys, monkeypatch, error, said):
    """abm sweep reported every SQLite error as one it cannot write ("fix that, then
    continue with --resume"), a bug in the store's SQL too; abm calibrate reported only the
    disk's. Both now ask outputs.disk_error."""
    import sqlite3

    from abm import store

    def commit(self, outcomes):
        raise error if isinstance(error, OSError) else sqlite3.OperationalError(error)

    monkeypatch.setattr(store.Store, "commit", commit)
    args = ["sweep", str(write_experiment(tmp_path, set={"time.steps": 2})), "--workers", "1", "--out", str(tmp_path / "o")]
    if said is None:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            main(args)
        return
    assert main(args) == 2
    assert f"cannot write to {tmp_path / 'o'}: {said}; every committed run is kept" in one_line_error(capsys)


def test_a_sweep_into_a_read_only_place_is_a_clean_error(tmp_path, capsys, monkeypatch):
    import errno

    def fail(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("abm.outputs.tempfile.mkdtemp", fail)
    assert main(["sweep", str(write_experiment(tmp_path)), "--workers", "1", "--out", str(tmp_path / "o")]) == 2
    assert "Read-only file system" in one_line_error(capsys)
