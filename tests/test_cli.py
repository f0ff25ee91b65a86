"""The command line, through the installed ``abm`` entry point: what ``abm run`` writes
and prints, and how every kind of bad input is turned away (exit 2, one message naming
the field, no traceback, no output directory)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from abm import cli

try:  # tests/ on sys.path (no tests/__init__.py) ...
    from conftest import BASELINE, ROOT, tiny_scenario
except ImportError:  # ... or tests/ is a package
    from tests.conftest import BASELINE, ROOT, tiny_scenario

ABM = Path(sys.executable).parent / "abm"
COMMAND = [str(ABM)] if ABM.exists() else [sys.executable, "-m", "abm.cli"]

TABLES = ("model.csv", "agents.csv", "coercions.csv", "relations.csv", "scenario.resolved.yaml")
CHARTS = ("alignment.png", "fragmentation_integration.png", "region_map.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def abm(*args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed command in a fresh process."""
    return subprocess.run([*COMMAND, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def abm_main(capsys, monkeypatch):
    """Call ``abm.cli.main`` in this process (fast); same result shape as :func:`abm`.
    An exception escaping ``main`` fails the test, as a traceback would."""

    def call(*args, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return call


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def assert_rejected(proc: subprocess.CompletedProcess, *fields: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stderr.startswith("error:"), proc.stderr
    for field in fields:
        assert field in proc.stderr, (field, proc.stderr)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# =========================================================================== abm run


def test_run_writes_every_documented_file_and_a_summary(tmp_path):
    out = tmp_path / "out"
    proc = abm("run", BASELINE, "--seed", 3, "--steps", 6, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in (*TABLES, *CHARTS):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    for name in CHARTS:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert leftovers(tmp_path) == ["out"]  # no temporary directory left behind
    # the summary names the run and the headline metrics
    assert "baseline" in proc.stdout and "seed 3" in proc.stdout
    for metric in ("fragmentation", "integration", "polarization", "blocs", "mean_dependency_hhi"):
        assert metric in proc.stdout
    assert "influence" in proc.stdout
    assert str(out) in proc.stdout
    # a count reads as one: "blocs 3 -> 3", not "3.000 -> 3.000"
    blocs = re.search(r"^  blocs +(\S+) -> +(\S+)$", proc.stdout, re.M).groups()
    assert all(value.isdigit() for value in blocs), blocs
    # the tables hold the requested run
    model = (out / "model.csv").read_text().splitlines()
    assert model[0].startswith("step,date,")
    assert len(model) == 1 + 7  # header, steps 0..6
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["seed"] == 3
    assert resolved["time"]["steps"] == 6


def test_run_with_seeds_writes_the_ensemble_spread(tmp_path):
    import numpy as np
    import pandas as pd

    from abm.runner import run

    out = tmp_path / "ens"
    proc = abm("run", BASELINE, "--seed", 2, "--seeds", 3, "--steps", 4, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "ensemble.png").read_bytes()[:8] == PNG_MAGIC
    spread = pd.read_csv(out / "ensemble.csv")
    assert (spread["runs"] == 3).all() and sorted(spread["step"].unique()) == list(range(5))
    # the statistics are those of the three runs with seeds 2, 3 and 4, computed here independently
    finals = np.array([run(BASELINE, seed=s, steps=4).model["fragmentation"].iloc[-1] for s in (2, 3, 4)])
    row = spread[(spread["metric"] == "fragmentation") & (spread["step"] == 4)].iloc[0]
    assert row["mean"] == pytest.approx(finals.mean())
    assert row["sd"] == pytest.approx(finals.std(ddof=1))
    assert row["p05"] <= row["ci95_low"] + 1e-12 or row["p05"] <= row["mean"] <= row["p95"]
    assert row["p05"] == pytest.approx(np.percentile(finals, 5)) and row["p95"] == pytest.approx(np.percentile(finals, 95))
    assert "5%-95% of runs" in proc.stdout
    # the tables are the first seed's run; the provenance names every seed, the command and the model's commit
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["seed"] == 2 and resolved["provenance"]["seeds"] == [2, 3, 4]
    assert resolved["provenance"]["argv"][1:] == ["run", str(BASELINE), "--seed", "2", "--seeds", "3", "--steps", "4", "--out", str(out)]
    assert re.fullmatch(r"[0-9a-f]{40}", resolved["provenance"]["model"]["commit"]) and isinstance(resolved["provenance"]["model"]["dirty"], bool)
    numpys = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["version"]  # the BLAS and its kernels, which can move a product's last bits
    assert f"openblas {numpys} (" in resolved["provenance"]["blas"] and "kernels)" in resolved["provenance"]["blas"]
    assert abm("run", BASELINE, "--seeds", 0, "--out", tmp_path / "none", cwd=tmp_path).returncode == 2
    past = abm("run", BASELINE, "--seed", 2**63 - 2, "--seeds", 3, "--out", tmp_path / "none", cwd=tmp_path)  # the seed is valid, the last one is not
    assert past.returncode == 2 and past.stderr.strip() == f"error: --seeds 3 from seed {2**63 - 2} runs past the largest seed, {2**63 - 1}: start at {2**63 - 3} or lower"
    assert not (tmp_path / "none").exists()


def test_run_with_overrides_and_no_charts(tmp_path, abm_main):
    out = tmp_path / "o"
    proc = abm_main("run", BASELINE, "--steps", 4, "--no-charts", "--set", "powers.china.budget.investment=4", "--set", "rules.decay.rate=0.1", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in TABLES:
        assert (out / name).is_file()
    assert not list(out.glob("*.png"))
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["powers"]["china"]["budget"]["investment"] == 4
    assert resolved["rules"]["decay"]["rate"] == 0.1
    assert "baseline with powers.china.budget.investment=4, rules.decay.rate=0.1: seed 0" in proc.stdout


def test_run_default_output_directory(tmp_path, abm_main):
    config = write(tmp_path / "mine.yaml", tiny_scenario())
    proc = abm_main("run", config, "--steps", 2, "--no-charts", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "tiny" / "model.csv").is_file()  # named after the scenario, not the file


def test_run_is_reproducible_from_the_command_line(tmp_path, abm_main):
    for name in ("a", "b"):
        assert abm_main("run", BASELINE, "--seed", 5, "--steps", 5, "--no-charts", "--out", tmp_path / name, cwd=tmp_path).returncode == 0
    for table in ("model.csv", "agents.csv", "coercions.csv", "relations.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


# =========================================================================== bad input


BAD_YAML = "name: broken\ntime: {steps: 5\n"


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    """name -> (arguments after 'abm run', fields the message must name)."""
    unknown_key = tiny_scenario()
    unknown_key["powers"]["p"]["budgett"] = unknown_key["powers"]["p"].pop("budget")
    wrong_type = tiny_scenario()
    wrong_type["states"]["a"]["gdp"] = "big"
    out_of_range = tiny_scenario()
    out_of_range["states"]["b"]["governance"] = 1.5
    unknown_rule = tiny_scenario(rules={"decision": {"name": "hedgin"}})
    unknown_ref = tiny_scenario()
    unknown_ref["states"]["a"]["opinion"]["r"] = 0.2
    files = {
        "yaml_syntax": (write(tmp_path / "syntax.yaml", BAD_YAML), ("YAML syntax error", "line")),
        "unknown_key": (write(tmp_path / "key.yaml", unknown_key), ("powers.p.budgett", "did you mean 'budget'")),
        "wrong_type": (write(tmp_path / "type.yaml", wrong_type), ("states.a.gdp",)),
        "out_of_range": (write(tmp_path / "range.yaml", out_of_range), ("states.b.governance",)),
        "unknown_rule": (write(tmp_path / "rule.yaml", unknown_rule), ("rules.decision.name", "hedging", "threshold")),
        "unknown_reference": (write(tmp_path / "ref.yaml", unknown_ref), ("states.a.opinion.r",)),
        "missing_file": (tmp_path / "does_not_exist.yaml", ("does_not_exist.yaml", "not found")),
    }
    cases = {name: ([path], fields) for name, (path, fields) in files.items()}
    good = write(tmp_path / "good.yaml", tiny_scenario())
    cases["set_nonexistent_path"] = ([good, "--set", "time.stpes=4"], ("time.stpes", "did you mean 'steps'"))
    cases["set_bad_value"] = ([good, "--set", "time.steps=0"], ("time.steps",))
    cases["set_unknown_rule"] = ([good, "--set", "rules.decision.name=hedgin"], ("rules.decision.name", "hedging"))
    cases["set_without_equals"] = ([good, "--set", "time.steps"], ("time.steps",))
    return cases


CASES = ["yaml_syntax", "unknown_key", "wrong_type", "out_of_range", "unknown_rule", "unknown_reference", "missing_file", "set_nonexistent_path", "set_bad_value", "set_unknown_rule", "set_without_equals"]  # --steps 0: tests/test_compare.py


@pytest.mark.parametrize("case", CASES)
def test_bad_input_to_run_exits_2_with_one_clear_message(tmp_path, abm_main, case):
    args, fields = bad_inputs(tmp_path)[case]
    before = leftovers(tmp_path)
    out = tmp_path / "out"
    proc = abm_main("run", *args, "--out", out, cwd=tmp_path)
    assert_rejected(proc, *fields)
    assert len(proc.stderr.strip().splitlines()) == 1 and "<top>" not in proc.stderr  # one message, in the reader's words
    assert "1 problem" in proc.stderr or case in ("yaml_syntax", "missing_file")  # a whole file's problem is said as it is
    assert not out.exists()
    assert leftovers(tmp_path) == before  # nothing written, not even a temporary directory
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", ["unknown_key", "set_nonexistent_path", "missing_file"])
def test_bad_input_to_validate_exits_2(tmp_path, abm_main, case):
    args, fields = bad_inputs(tmp_path)[case]
    assert_rejected(abm_main("validate", *args, cwd=tmp_path), *fields)


@pytest.mark.parametrize("case", ["yaml_syntax", "set_nonexistent_path"])
def test_bad_input_in_a_fresh_process_has_no_traceback(tmp_path, case):
    args, fields = bad_inputs(tmp_path)[case]
    before = leftovers(tmp_path)
    proc = abm("run", *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert_rejected(proc, *fields)
    assert leftovers(tmp_path) == before


def test_bad_input_keeps_an_existing_output_directory(tmp_path, abm_main):
    out = tmp_path / "out"
    assert abm_main("run", BASELINE, "--steps", 2, "--no-charts", "--out", out, cwd=tmp_path).returncode == 0
    before = (out / "model.csv").read_bytes()
    proc = abm_main("run", BASELINE, "--steps", 2, "--set", "time.stpes=2", "--out", out, cwd=tmp_path)
    assert_rejected(proc, "time.stpes")
    assert (out / "model.csv").read_bytes() == before


def test_validate_reports_every_problem(tmp_path, abm_main):
    scn = tiny_scenario(rules={"decay": {"name": "exponentail"}})
    scn["states"]["a"]["gdp"] = "big"
    scn["states"]["b"]["governance"] = 2
    scn["powers"]["p"]["budgett"] = {}
    scn["time"]["steps"] = -1
    f = write(tmp_path / "many.yaml", scn)
    proc = abm_main("validate", f, cwd=tmp_path)
    assert_rejected(proc, "states.a.gdp", "states.b.governance", "powers.p.budgett", "time.steps")
    assert "4 problem" in proc.stderr or "5 problem" in proc.stderr
    reference = tiny_scenario(rules={"decay": {"name": "exponentail"}})
    reference["states"]["a"]["opinion"]["r"] = 0.1
    reference["powers"]["q"]["interests"]["zz"] = 0.5
    g = write(tmp_path / "refs.yaml", reference)
    assert_rejected(abm_main("validate", g, cwd=tmp_path), "rules.decay.name", "states.a.opinion.r", "powers.q.interests.zz", "3 problem")


def test_validate_reports_a_null_that_drops_nothing_the_fields_and_the_ids_in_one_pass(tmp_path, abm_main):
    """Each mistake hid the next: the null alone (the file named by its absolute path), then
    the two fields, then the event's unknown power."""
    write(tmp_path / "multi.yaml", {
        "extends": str(BASELINE),
        "powers": {"china": {"budget": {"investmnt": 1.5}}},
        "rules": {"decision": {"name": "bandwagon", "cap": 0.3}},
        "events": {"eu_summit": {"date": "2026-01-01", "type": "reconciliation", "power": "eu", "state": "armenia", "opinion": 0.1}},
        "shocks": {"leadership_chnage": None},
    })
    proc = abm_main("validate", "multi.yaml", cwd=tmp_path)
    assert_rejected(proc, "shocks.leadership_chnage: null drops", "powers.china.budget.investmnt: unknown key", "rules.decision.cap: the decision rule 'bandwagon' has no parameter 'cap'", "events.eu_summit.power: unknown power 'eu'")
    assert proc.stderr.startswith("error: 4 problem(s) in multi.yaml:\n")


def test_validate_accepts_a_good_scenario(tmp_path, abm_main):
    proc = abm_main("validate", BASELINE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
    assert "8 states" in proc.stdout
    assert not leftovers(tmp_path)


def test_usage_errors_exit_2_in_one_line_naming_the_command(tmp_path, abm_main):
    """As every other bad input: argparse printed its usage block first, and named abm,
    not the command, for an option the command does not have."""
    for args, said in ((("run", BASELINE, "--seed", "abc"), "error: abm run: argument --seed: invalid int value: 'abc' (see abm run --help)"),
                       (("run", BASELINE, "--sed", "3"), "error: abm run: unrecognized arguments: --sed 3 (see abm run --help)"),
                       (("compare", BASELINE, "--dates", "2025-13-01"), "error: abm compare: argument --dates: '2025-13-01' is not a date; write YYYY-MM-DD (see abm compare --help)")):
        proc = abm_main(*args, cwd=tmp_path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", said + "\n")
    proc = abm_main("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: abm: argument command: invalid choice: 'frobnicate'") and proc.stderr.count("\n") == 1


def test_negative_seed_exits_2(tmp_path, abm_main):
    proc = abm_main("run", BASELINE, "--seed", "-1", "--steps", 2, "--no-charts", "--out", tmp_path / "out", cwd=tmp_path)
    assert_rejected(proc, "seed")
    assert not (tmp_path / "out").exists()


def test_impossible_date_exits_2(tmp_path, abm_main):
    text = yaml.safe_dump(tiny_scenario()).replace("start: '2025-01-01'", "start: 2025-13-01")
    config = write(tmp_path / "date.yaml", text)
    assert_rejected(abm_main("validate", config, cwd=tmp_path), "2025-13-01", "time.start: line")  # named by its key, not <top>


def test_out_that_is_a_file_exits_2(tmp_path, abm_main):
    target = tmp_path / "taken"
    target.write_text("keep me")
    proc = abm_main("run", BASELINE, "--steps", 2, "--no-charts", "--out", target, cwd=tmp_path)
    assert_rejected(proc, "taken")
    assert target.read_text() == "keep me"
    assert leftovers(tmp_path) == ["taken"]


@pytest.mark.parametrize("thread", [False, True])
def test_the_scripts_quick_exit_keeps_output_exit_handlers_and_threads(tmp_path, thread):
    """The console script skips the interpreter's teardown but not the exit handlers or the
    buffered output of a command (stdout is a pipe here), and leaves the normal exit, which
    waits for them, when a thread is still running."""
    code = (
        "import atexit, sys, threading, time\n"
        "from abm.cli import script\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        + ("threading.Thread(target=lambda: (time.sleep(0.3), print('thread finished'))).start()\n" if thread else "")
        + f"sys.argv = ['abm', 'validate', {str(BASELINE)!r}]\nscript()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "valid (8 states" in proc.stdout and "exit handler ran" in proc.stdout
    assert ("thread finished" in proc.stdout) == thread


ENTRY = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]["abm"]


def console_script(prelude: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``abm ARGS`` as the wrapper pip generates for the entry point does, after
    ``prelude``; the entry point is read from pyproject.toml (an installed wrapper may
    predate a change to it)."""
    module, attr = ENTRY.split(":")
    code = f"{prelude}\nimport sys\nfrom {module} import {attr}\nsys.argv = ['abm', *{list(map(str, args))!r}]\nsys.exit({attr}())\n"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_reader_that_goes_away_does_not_stop_the_command(tmp_path):
    """abm run with its output piped into a reader that has already exited (``| true``,
    a killed tee): the run still writes its files and ends with status 0; the broken pipe
    used to abort it before anything was written, with status 0."""
    module, attr = ENTRY.split(":")
    code = f"import sys\nfrom {module} import {attr}\nsys.argv = ['abm', 'run', {str(ROOT / 'configs' / 'iran_strikes.yaml')!r}, '--steps', '2', '--no-charts', '--out', 'out']\nsys.exit({attr}())\n"
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()  # gone before the command writes its first warning
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, stdout=reader.stdin, stderr=reader.stdin, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    reader.stdin.close()
    assert proc.returncode == 0
    assert {"model.csv", "agents.csv", "events.csv", "scenario.resolved.yaml"} <= {p.name for p in (tmp_path / "out").iterdir()}


class _Terminal:
    """A stream on a real file descriptor whose writes fail as ``error`` says."""

    def __init__(self, fd: int, error: int):
        self.fd, self.error = fd, error

    def write(self, text=""):
        raise OSError(self.error, os.strerror(self.error))

    flush = write

    def fileno(self):
        return self.fd


def test_a_closed_terminal_silences_the_output_and_other_write_errors_still_raise():
    """A hung-up terminal fails writes with EIO: the sweep stopped by its SIGHUP then ended
    in a traceback (status 1) while printing that it was interrupted."""
    import errno

    read, write = os.pipe()
    try:
        out = cli.Unbroken(_Terminal(write, errno.EIO))
        assert out.write("interrupted") == len("interrupted")
        out.flush()
        os.write(write, b"x")  # the descriptor now leads to /dev/null, not the pipe
        os.close(write)
        assert os.read(read, 10) == b""
        with pytest.raises(OSError, match="No space left"):
            cli.Unbroken(_Terminal(read, errno.ENOSPC)).write("x")
    finally:
        os.close(read)


# Ctrl-C while the package is imported: the interrupt is raised within the import of the
# scenario module (which every command loads), as a real one may be at any point of it.
CTRL_C_WHILE_IMPORTING = """
import signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "abm.scenario":
            signal.raise_signal(signal.SIGINT)
sys.meta_path.insert(0, Interrupt())
"""


def test_ctrl_c_while_the_package_is_imported_exits_quietly_as_interrupted(tmp_path):
    """The first half second of any command imports the package, before the CLI handles
    Ctrl-C: it printed a traceback. It ends quietly, killed by SIGINT (status 130 in a shell)."""
    proc = console_script(CTRL_C_WHILE_IMPORTING, "run", BASELINE, "--out", tmp_path / "r", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (-signal.SIGINT, "", "")
    assert not list(tmp_path.iterdir())


# SIGTERM (timeout, a batch scheduler) while abm run draws its charts, its files staged in
# a hidden folder beside the output
SIGTERM_WHILE_DRAWING = """
import os, signal
import abm.charts
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
abm.charts.run_charts = killed
"""


def test_sigterm_stops_a_run_as_cleanly_as_ctrl_c(tmp_path):
    """A SIGTERM killed abm run (and abm report) outright, leaving the hidden staging folder
    of its output beside it until a later command cleared it; it now stops the command as
    Ctrl-C does, the staging folder removed, and the process still ends by SIGTERM."""
    proc = console_script(SIGTERM_WHILE_DRAWING, "run", BASELINE, "--steps", "2", "--out", tmp_path / "r", cwd=tmp_path)
    assert proc.returncode == -signal.SIGTERM and proc.stderr.strip().endswith("interrupted")
    assert not list(tmp_path.iterdir())


def test_ctrl_c_while_the_command_line_is_read_ends_as_interrupted(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_known_args", interrupted)
    try:
        status = cli.main(["validate", str(BASELINE)])
    except KeyboardInterrupt:  # would stop the test session
        pytest.fail("Ctrl-C while the command line was read escaped main")
    assert status == 130
    assert capsys.readouterr().err == "interrupted\n"


# A stop signal once the command has printed its result: while its output is flushed, or
# while the exit handlers run. A handler registered earlier (run later) shows they all run.
AT_THE_END = {
    "flush": "import signal, sys\nclass Out:\n    def __init__(self, out): self.out = out\n    def write(self, text): return self.out.write(text)\n"
             "    def flush(self):\n        signal.raise_signal(SIGNUM)\n        self.out.flush()\nsys.stdout = Out(sys.stdout)\n",
    "exit handler": "import atexit, signal\natexit.register(lambda: signal.raise_signal(SIGNUM))\n",
}


@pytest.mark.parametrize("moment", sorted(AT_THE_END))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_after_the_result_waits_for_the_exit_handlers_then_sets_the_status(tmp_path, moment, signum):
    """It printed a traceback, or 'Exception ignored' with status 0, or killed the process
    in the middle of its exit handlers (-15); now the exit handlers all run, and then the
    signal ends the process (a shell shows 128 + its number: 130 for Ctrl-C)."""
    prelude = "import atexit\natexit.register(lambda: print('exit handler ran', flush=True))\n" + AT_THE_END[moment].replace("SIGNUM", str(int(signum)))
    proc = console_script(prelude, "validate", BASELINE, cwd=tmp_path)
    assert proc.returncode == -signum and proc.stderr == "", proc.stderr
    assert "valid (8 states" in proc.stdout and "exit handler ran" in proc.stdout


def test_a_second_ctrl_c_ends_an_exit_handler_that_hangs(tmp_path):
    """Holding the first Ctrl-C must not leave a hung exit handler with no way out."""
    prelude = "import atexit, signal, time\natexit.register(lambda: (signal.raise_signal(signal.SIGINT), signal.raise_signal(signal.SIGINT), time.sleep(600)))\n"  # longer than console_script's timeout
    proc = console_script(prelude, "validate", BASELINE, cwd=tmp_path)
    assert proc.returncode == -signal.SIGINT and proc.stderr == "" and "valid (8 states" in proc.stdout


# Ctrl-C at a terminal goes to the whole foreground process group: the shell running a
# loop and the command alike. The command's importer sends it so, at the moment named.
CTRL_C_TO_THE_GROUP = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            os.killpg(0, signal.SIGINT)
sys.meta_path.insert(0, Interrupt())
"""


@pytest.mark.parametrize("module", ["abm.scenario", "abm.model"], ids=["while the package imports", "while the command runs"])
def test_ctrl_c_stops_a_shell_loop_of_commands(tmp_path, module):
    """``for f in ...; do abm run $f; done``: a shell goes on to the next command when the
    interrupted one exits with status 130 (it reads as a command that handled Ctrl-C and
    carried on), and stops when the command was killed by SIGINT. The command must end by
    the signal once it has cleaned up."""
    module_name, attr = ENTRY.split(":")
    code = CTRL_C_TO_THE_GROUP.replace("MODULE", repr(module)) + (
        f"from {module_name} import {attr}\nsys.argv = ['abm', 'run', {str(BASELINE)!r}, '--steps', '1', '--no-charts', '--out', 'out']\nsys.exit({attr}())\n")
    loop = 'for i in 1 2; do "$PY" -c "$CODE"; echo "status $? after $i"; done; echo "loop went on"'
    proc = subprocess.run(["bash", "-c", loop], cwd=tmp_path, capture_output=True, text=True, timeout=120, start_new_session=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PY": sys.executable, "CODE": code})
    assert (proc.returncode, proc.stdout) == (-signal.SIGINT, ""), (proc.returncode, proc.stdout, proc.stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("prelude", "expected"), [
    ("", -signal.SIGINT),
    ("signal.signal(signal.SIGINT, signal.SIG_IGN)\n", 130),  # a signal the process ignores does not end it
    ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n", -signal.SIGINT),
])
def test_an_interrupted_status_ends_the_process_by_its_signal_unless_ignored(prelude, expected):
    code = f"import signal\n{prelude}from abm.processes import end\nend(130)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == expected, proc.stderr


# A command started with Ctrl-C ignored (`abm sweep ... &` from a non-interactive shell
# script, which starts background commands with SIGINT ignored) must go on ignoring it, at
# either moment where the console script holds Ctrl-C: while the package imports, and after
# the command returned.
IGNORED_CTRL_C = {
    "in an exit handler": "import atexit, signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                          "atexit.register(lambda: signal.raise_signal(signal.SIGINT))\n",
    "while the package imports": "import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + CTRL_C_WHILE_IMPORTING,
}


@pytest.mark.parametrize("moment", sorted(IGNORED_CTRL_C))
def test_a_command_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path, moment):
    proc = console_script(IGNORED_CTRL_C[moment], "validate", BASELINE, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, ""), (proc.returncode, proc.stderr)
    assert "valid (8 states" in proc.stdout


def test_a_daemon_thread_does_not_cost_the_quick_exit(tmp_path):
    """A daemon thread (tqdm's monitor, after a sweep's progress bar) does not hold up a
    normal exit either, so it must not send the script to the slow one: the interpreter's
    teardown, which a module-level object's __del__ shows, is skipped."""
    code = (
        "import sys, threading, time\n"
        "from abm.cli import script\n"
        "class Witness:\n    def __del__(self):\n        print('torn down', flush=True)\n"
        "witness = Witness()\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        f"sys.argv = ['abm', 'validate', {str(BASELINE)!r}]\nscript()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "valid (8 states" in proc.stdout and "torn down" not in proc.stdout


def test_a_rerun_written_from_python_does_not_inherit_the_earlier_command(tmp_path, abm_main):
    from abm.runner import run

    assert abm_main("run", BASELINE, "--seeds", 2, "--steps", 1, "--no-charts", "--out", tmp_path / "a", cwd=tmp_path).returncode == 0
    earlier = yaml.safe_load((tmp_path / "a" / "scenario.resolved.yaml").read_text())
    run(tmp_path / "a" / "scenario.resolved.yaml", steps=1).write(tmp_path / "b")
    prov = yaml.safe_load((tmp_path / "b" / "scenario.resolved.yaml").read_text())["provenance"]
    assert prov["argv"] is None and prov["seeds"] == [earlier["seed"]] != earlier["provenance"]["seeds"]
    assert earlier["provenance"]["cwd"] == str(tmp_path) and "cwd" not in prov  # the folder the earlier command ran in, not this one's


def test_a_run_and_a_comparison_name_their_code_by_its_source_fingerprint(tmp_path, abm_main):
    """Outside git (an installed copy), or with uncommitted changes, a commit cannot say
    which code made an output; the fingerprint of the model's files, which a sweep's and a
    calibration's manifests record, can."""
    from abm.runner import source_hash

    assert abm_main("run", BASELINE, "--steps", 1, "--no-charts", "--out", tmp_path / "run", cwd=tmp_path).returncode == 0
    assert abm_main("compare", BASELINE, "--seeds", 1, "--steps", 1, "--out", tmp_path / "cmp", cwd=tmp_path).returncode == 0
    run = yaml.safe_load((tmp_path / "run" / "scenario.resolved.yaml").read_text())["provenance"]["model"]
    compared = yaml.safe_load((tmp_path / "cmp" / "provenance.yaml").read_text())["model"]
    assert run["source"] == compared["source"] == source_hash()


def test_rerunning_a_resolved_file_made_with_overrides_draws_the_same_charts(tmp_path, abm_main):
    """Its tables came out the same, but its charts were titled as the plain scenario's:
    the --set overrides the values came from were lost (found by a provenance audit). The
    summary it prints names them too. A re-run with overrides of its own records both."""
    sets = ["--set", "rules.decision.name=bandwagon", "--set", "powers.china.budget.investment=4"]
    assert abm_main("run", BASELINE, *sets, "--seed", 5, "--steps", 2, "--out", tmp_path / "a", cwd=tmp_path).returncode == 0
    again = abm_main("run", tmp_path / "a" / "scenario.resolved.yaml", "--out", tmp_path / "b", cwd=tmp_path)
    assert again.returncode == 0 and "baseline with rules.decision.name=bandwagon, powers.china.budget.investment=4: seed 5" in again.stdout  # printed "baseline: seed 5"
    for name in ("alignment.png", "fragmentation_integration.png", "region_map.png", "model.csv", "agents.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert abm_main("run", tmp_path / "b" / "scenario.resolved.yaml", "--set", "offers.duration=6", "--out", tmp_path / "c", cwd=tmp_path).returncode == 0
    prov = yaml.safe_load((tmp_path / "c" / "scenario.resolved.yaml").read_text())["provenance"]
    assert prov["overrides"] == [*sets[1::2], "offers.duration=6"]
    assert abm_main("run", tmp_path / "b" / "scenario.resolved.yaml", "--set", "rules.decision.name=hedging", "--no-charts", "--out", tmp_path / "d", cwd=tmp_path).returncode == 0
    assert yaml.safe_load((tmp_path / "d" / "scenario.resolved.yaml").read_text())["provenance"]["overrides"] == ["rules.decision.name=hedging", sets[3]]  # set again: its last value


def test_a_file_extending_a_resolved_one_does_not_inherit_its_command(tmp_path, abm_main):
    """The --set overrides and seeds in a scenario.resolved.yaml were its run's: a file that
    extends it is another scenario, whose record and chart titles name only its own
    overrides (the parent's time.steps=2 would contradict the child's 3 steps), and which
    was not written by an ensemble."""
    assert abm_main("run", BASELINE, "--set", "time.steps=2", "--seeds", 2, "--no-charts", "--out", tmp_path / "a", cwd=tmp_path).returncode == 0
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: a/scenario.resolved.yaml\nname: child\ntime:\n  steps: 3\n")
    proc = abm_main("run", child, "--set", "offers.duration=6", "--no-charts", "--out", tmp_path / "b", cwd=tmp_path)
    assert proc.returncode == 0 and notices(proc) == [], proc.stderr
    record = yaml.safe_load((tmp_path / "b" / "scenario.resolved.yaml").read_text())["provenance"]
    assert record["overrides"] == ["offers.duration=6"] and record["seeds"] == [0]
    assert len((tmp_path / "b" / "model.csv").read_text().splitlines()) == 1 + 4  # a header, the start and the child's 3 steps


def test_rerunning_an_ensembles_resolved_file_says_how_to_rerun_the_ensemble(tmp_path, abm_main):
    """An ensemble's scenario.resolved.yaml holds its first seed; the others are only in
    its provenance. Run as it is, it runs that seed alone (unchanged), with a notice that
    names the options that re-run the ensemble; given --seeds, or from a one-seed run, no notice."""
    assert abm_main("run", BASELINE, "--seed", 3, "--seeds", 3, "--steps", 1, "--no-charts", "--out", tmp_path / "ens", cwd=tmp_path).returncode == 0
    resolved = tmp_path / "ens" / "scenario.resolved.yaml"
    proc = abm_main("run", resolved, "--steps", 1, "--no-charts", "--out", tmp_path / "again", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert notices(proc) == [f"notice: {resolved} was written by an ensemble of 3 seeds (3..5); this runs seed 3 alone; to re-run the ensemble, add --seed 3 --seeds 3"]
    assert not (tmp_path / "again" / "ensemble.csv").exists()  # what runs is unchanged
    proc = abm_main("run", resolved, "--seed", 3, "--seeds", 3, "--steps", 1, "--no-charts", "--out", tmp_path / "ensemble", cwd=tmp_path)
    assert proc.returncode == 0 and notices(proc) == []
    assert (tmp_path / "ensemble" / "ensemble.csv").read_bytes() == (tmp_path / "ens" / "ensemble.csv").read_bytes()
    proc = abm_main("run", tmp_path / "again" / "scenario.resolved.yaml", "--steps", 1, "--no-charts", "--out", tmp_path / "once", cwd=tmp_path)
    assert proc.returncode == 0 and notices(proc) == []


def notices(proc: subprocess.CompletedProcess) -> list[str]:
    """The notices printed (not the warnings about events after a shortened run's end)."""
    return [line for line in proc.stderr.splitlines() if line.startswith("notice:")]


def test_the_readmes_bad_input_examples_print_what_the_cli_prints(tmp_path, abm_main):
    """Each ```text block of the README that shows `$ abm ...` and then `error: ...` is run
    (from a folder that sees the repository's configs/ and experiments/, so nothing is
    written into the repository) and must print that first error line, word for word."""
    blocks = re.findall(r"```text\n\$ (abm .+)\n(error: .+)\n", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README shows no bad-input example any more"
    for folder in ("configs", "experiments"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    for command, shown in blocks:
        proc = abm_main(*command.split()[1:], cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.splitlines()[0] == shown, (command, proc.stderr)


# =========================================================================== abm dashboard's server process


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# A child that prints its pid, then sleeps; "stubborn" ignores SIGTERM, SIGHUP and SIGINT.
CHILD = "import os, signal, time\n{ignore}print(os.getpid(), flush=True)\ntime.sleep(60)\n"
IGNORE = "for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT): signal.signal(s, signal.SIG_IGN)\n"


@contextlib.contextmanager
def serving(tmp_path, code: str):
    """Run ``code`` (a command calling cli.serve) in a session of its own; yield it and the
    pid its child prints once running (so the command's handlers are in place), and kill
    whatever is left of the command's process group and the child's afterwards."""
    with subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as parent:
        child_pid = None
        try:
            child_pid = int(parent.stdout.readline())
            yield parent, child_pid
        finally:
            for pid in (parent.pid, child_pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, TypeError):
                    pass


@pytest.mark.parametrize("stubborn", [False, True])
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_stop_signal_to_the_dashboard_command_stops_its_server(tmp_path, signum, status, stubborn):
    """abm dashboard runs Solara as a child (cli.serve): a signal sent to the command alone
    (kill PID, a closed terminal) must stop the child too, a stubborn one after the grace
    period, instead of leaving it running and holding the port."""
    child = CHILD.format(ignore=IGNORE if stubborn else "")
    code = (  # Ctrl-C leaves serve as KeyboardInterrupt, which cli.main turns into status 130
        "import sys\nfrom abm.cli import serve\ntry:\n"
        f"    sys.exit(serve([sys.executable, '-c', {child!r}], grace=1.0))\nexcept KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    with serving(tmp_path, code) as (parent, child_pid):
        parent.send_signal(signum)
        assert parent.wait(timeout=20) == status, parent.stderr.read()
        assert not alive(child_pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's (prctl)")
def test_a_dashboard_command_killed_outright_takes_its_server_with_it(tmp_path):
    """SIGKILL (kill -9, the out-of-memory killer) runs no handler in the command, so
    nothing can pass a signal on: the kernel's parent-death signal must stop the child."""
    code = f"import sys\nfrom abm.cli import serve\nsys.exit(serve([sys.executable, '-c', {CHILD.format(ignore='')!r}], grace=1.0))\n"
    with serving(tmp_path, code) as (parent, child_pid):
        parent.kill()
        parent.wait(timeout=20)
        deadline = time.monotonic() + 10
        while alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child_pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's (prctl)")
def test_a_server_whose_command_died_before_it_started_does_not_start(monkeypatch):
    """If the command dies between fork and the kernel request, the child must stop itself:
    it inherits serve()'s own SIGTERM handler, which did nothing there."""
    from abm import cli

    arm = cli.die_with
    monkeypatch.setattr(cli, "die_with", lambda parent: arm(parent + 1))  # as if the parent were gone
    assert cli.serve([sys.executable, "-c", "print('the server started')"]) == 128 + signal.SIGTERM


def test_ctrl_c_at_the_terminal_reaches_the_server_once(tmp_path):
    """A terminal's Ctrl-C is SIGINT to the whole foreground process group: the child must
    get it once, passed on by the command, not a second time directly."""
    got = tmp_path / "got"
    child = ("import os, signal, sys, time\n"
             f"signal.signal(signal.SIGINT, lambda *a: open({str(got)!r}, 'a').write('int\\n'))\n"
             "print(os.getpid(), flush=True)\nfor _ in range(20):\n    time.sleep(0.1)\n    if os.path.exists(" + repr(str(got)) + "):\n        time.sleep(1.0)\n        sys.exit(0)\n")
    code = f"import sys\nfrom abm.cli import serve\ntry:\n    sys.exit(serve([sys.executable, '-c', {child!r}], grace=5.0))\nexcept KeyboardInterrupt:\n    sys.exit(130)\n"
    with serving(tmp_path, code) as (parent, _):
        os.killpg(parent.pid, signal.SIGINT)  # what the terminal does
        assert parent.wait(timeout=20) == 130, parent.stderr.read()
        assert got.read_text().splitlines() == ["int"]


def test_a_run_cut_short_warns_once_per_event_it_leaves_out(tmp_path, abm_main):
    """--steps 4 and --set time.steps=4 end the run at the same date, so both warn about
    the same events after it, each once."""
    by_steps = abm_main("run", BASELINE, "--steps", 4, "--no-charts", "--out", tmp_path / "a", cwd=tmp_path)
    by_set = abm_main("run", BASELINE, "--set", "time.steps=4", "--no-charts", "--out", tmp_path / "b", cwd=tmp_path)
    assert by_steps.returncode == by_set.returncode == 0
    warned = by_steps.stderr.splitlines()
    assert warned == by_set.stderr.splitlines()
    assert len(warned) == len(set(warned)) >= 3 and all(line.startswith("warning: events.") and line.endswith("after the run's end 2026-01-01; it will not fire") for line in warned)
    assert any(line.startswith("warning: events.us_election_2028:") for line in warned)


@pytest.mark.parametrize("command", ["run", "validate", "compare"])
def test_an_override_that_acts_under_another_rule_is_warned_of(tmp_path, capsys, command):
    """offers.duration acts only under expiry decay: a sweep refuses it as an axis, and a
    run, a check or a comparison given it warns that the run is the same without it."""
    args = {"run": ["run", str(BASELINE), "--steps", "1", "--no-charts", "--out", str(tmp_path / "r")],
            "validate": ["validate", str(BASELINE)],
            "compare": ["compare", str(BASELINE), str(BASELINE.parent / "no_peace.yaml"), "--seeds", "2", "--steps", "1", "--out", str(tmp_path / "c")]}[command]
    warning = "--set offers.duration: acts only under rules.decay.name=expiry (here 'exponential'); this run is the same without it"
    assert cli.main([*args, "--set", "offers.duration=6"]) == 0
    assert warning in capsys.readouterr().err
    again = args if command == "validate" else [*args[:-1], args[-1] + "_expiry"]
    assert cli.main([*again, "--set", "offers.duration=6", "--set", "rules.decay.name=expiry"]) == 0
    assert "offers.duration" not in capsys.readouterr().err


@pytest.mark.parametrize("item", ["=3", ".=3", "rules..decay.rate=0.1"])
@pytest.mark.parametrize("command", [["validate", "configs/baseline.yaml"], ["sweep", "experiments/rules.yaml", "--dry-run"]])
def test_an_override_with_an_empty_path_is_refused_in_words(item, command, abm_main):
    """--set '=3' was blamed on the spec file by abm sweep ("unknown key; allowed: ...")
    and named an empty setting elsewhere; every command now says what is wrong with it, once."""
    done = abm_main(*command, "--set", item, cwd=ROOT)
    err = done.stderr
    assert done.returncode == 2 and err.count(f"the path before '=' in '{item}' is empty or has an empty part") == 1 and "Traceback" not in err


@pytest.mark.parametrize("where", ["set", "out", "file"])
@pytest.mark.parametrize("command", ["run", "compare"])
def test_an_argument_that_is_not_utf8_is_refused_before_anything_runs(tmp_path, capsys, command, where):
    """Bytes that are not UTF-8 in a file name, --out or a --set value (kept by Python as
    surrogates) once ran the whole model and then crashed writing the provenance, which is
    UTF-8: now one message, exit 2, nothing written (a bad-input audit)."""
    bad = os.fsdecode(b"x\xff")
    config = str(BASELINE)
    if where == "file":
        config = str(tmp_path / f"{bad}.yaml")
        Path(config).write_bytes(BASELINE.read_bytes())
    out = tmp_path / (bad if where == "out" else "o")
    args = [command, config, *(["--seeds", "1"] if command == "compare" else ["--no-charts"]), "--steps", "2", "--out", str(out)]
    args += ["--set", f"description={bad}"] if where == "set" else []
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "\\xff" in err and "Traceback" not in err
    assert not out.exists()


def test_a_long_argument_that_is_not_utf8_is_shown_where_its_bad_byte_is(tmp_path, capsys):
    """The argument was cut to its first 80 characters, so in a long path the bad byte
    the message is about was not shown."""
    deep = "a" * 120 + os.fsdecode(b"b\xffc") + "d" * 40
    assert cli.main(["run", str(BASELINE), "--no-charts", "--out", str(tmp_path / "o"), "--set", f"description={deep}"]) == 2
    err = capsys.readouterr().err
    shown = re.search(r"argument '(.*)' is not UTF-8 text", err).group(1)
    assert shown.startswith("...aaa") and "ab\\xffcd" in shown and shown.endswith("d...") and len(shown) <= 90 and not (tmp_path / "o").exists()
    two_lines = os.fsdecode(b"line1\nline2\xff")
    assert cli.main(["run", str(BASELINE), "--no-charts", "--out", str(tmp_path / "o"), "--set", f"description={two_lines}"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.around_first_bad_byte("é".encode()) == "é"  # surrogates that make valid UTF-8 (the caller's case) are shown as it


def test_a_command_that_writes_no_provenance_takes_any_file_name(tmp_path, capsys):
    """validate records no command line, so a file name that is not UTF-8 is no problem
    for it (the refusal above is for the commands that write one)."""
    config = tmp_path / os.fsdecode(b"b\xff.yaml")
    config.write_bytes(BASELINE.read_bytes())
    done = subprocess.run([*COMMAND, "validate", str(config)], cwd=tmp_path, capture_output=True, timeout=120)  # bytes: the name is printed back as it came
    assert done.returncode == 0 and b"b\xff.yaml: valid" in done.stdout, done.stderr


def test_validate_refuses_an_override_that_is_not_utf8(capsys):
    """Its value goes into the scenario whatever the command: validate showed Python's
    "surrogates not allowed" for it (a bad-input audit)."""
    assert cli.main(["validate", str(BASELINE), "--set", f"description={os.fsdecode(b'x\xff')}"]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "surrogates" not in err


def test_validate_names_the_file_an_override_fails_on(tmp_path, capsys):
    """With several files, an override that fits one and not another was reported as a
    problem "in --set", leaving the reader to guess which file it failed on."""
    assert cli.main(["validate", str(ROOT / "configs" / "generated.yaml"), str(BASELINE), "--set", "generated.n_states=20"]) == 2
    out, err = capsys.readouterr()
    assert "generated.yaml: valid" in out and f"in --set on {BASELINE}:" in err, err
    assert cli.main(["validate", str(ROOT / "configs" / "generated.yaml"), str(BASELINE), "--set", "name=["]) == 2
    err = capsys.readouterr().err
    assert err.count("is not a valid YAML mapping") == 1 and "1 problem(s) in --set:" in err, err  # refused alike by every file: said once, naming none


def test_the_blas_record_does_not_depend_on_the_order_the_libraries_are_listed(monkeypatch):
    """threadpoolctl listed scipy's and numpy's OpenBLAS in either order, so identical runs
    wrote scenario.resolved.yaml files that differed (found by a provenance audit)."""
    import threadpoolctl

    from abm.runner import blas

    libraries = [{"user_api": "blas", "internal_api": "openblas", "version": v, "architecture": "Haswell"} for v in ("0.3.31", "0.3.34")]
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: libraries)
    forward = blas()
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: libraries[::-1])
    assert blas() == forward == "openblas 0.3.31 (Haswell kernels); openblas 0.3.34 (Haswell kernels)"


def test_runs_of_several_seeds_show_progress_on_a_terminal_only(tmp_path, monkeypatch, abm_main):
    """``abm run --seeds N`` and ``abm compare`` can run for minutes: on a terminal a bar
    counts the runs (the first seed's included), as ``abm sweep``'s does; piped, nothing."""
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    commands = {"3/3": ("run", BASELINE, "--seeds", 3, "--steps", 1, "--no-charts", "--out", tmp_path / "r"),
                "4/4": ("compare", BASELINE, ROOT / "configs" / "no_peace.yaml", "--seeds", 2, "--steps", 1, "--out", tmp_path / "c")}
    for count, args in commands.items():
        piped = abm_main(*args, cwd=tmp_path)
        assert piped.returncode == 0 and count not in piped.stderr and "run/s" not in piped.stderr
        with monkeypatch.context() as m:
            m.setattr(sys, "stderr", Terminal())
            assert cli.main([str(a) for a in args]) == 0  # the same output again: replaced, as --out allows
            shown = sys.stderr.getvalue()
        assert re.search(rf"{count} \[.*run", shown), shown
