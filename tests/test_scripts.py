"""The maintainers' scripts in scripts/ and benchmarks/: their --help says what their
docstring says, and a bad number is refused in one line with exit status 2 before any work
starts; setup.sh refuses what it cannot do alike."""

import ast
import subprocess
import sys

import pytest

from tests import harness

SCRIPTS = sorted([*(harness.ROOT / "scripts").glob("*.py"), *(harness.ROOT / "benchmarks").glob("*.py")])


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    """scripts/NAME, or benchmarks/NAME for a name given as benchmarks/NAME."""
    path = harness.ROOT / name if "/" in name else harness.ROOT / "scripts" / name
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, cwd=harness.ROOT, timeout=120)


def squeezed(text: str) -> str:
    return "".join(text.split())  # argparse wraps at spaces and hyphens


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_help_gives_the_docstrings_first_paragraph_whole(path):
    """fuzz.py and gallery.py cut theirs at the first line break, mid-sentence."""
    first = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))).split("\n\n")[0]
    done = script(str(path.relative_to(harness.ROOT)), "--help")
    assert done.returncode == 0 and squeezed(first) in squeezed(done.stdout), done.stdout


@pytest.mark.parametrize("name, args, says", [
    ("common_random_numbers.py", ["--seeds", "1"], "--seeds must be at least 2"),  # one seed: a table of nan
    ("common_random_numbers.py", ["--seeds", "-2"], "--seeds must be at least 2"),  # an IndexError traceback
    ("common_random_numbers.py", ["--workers", "0"], "--workers must be at least 1"),
    ("common_random_numbers.py", ["--workers", "100000"], "--workers 100000: at most"),
    ("fuzz.py", ["--runs", "-5"], "--runs must be at least 1"),  # "0 cases ... 0 failures" and exit 0
    ("fuzz.py", ["--experiments", "nan"], "--experiments is a share, in [0, 1]"),
    ("fuzz.py", ["--full-runs", "2"], "--full-runs is a share, in [0, 1]"),
    ("benchmarks/bench_sweep.py", ["--runs", "15"], "--runs must be a positive multiple of 10"),  # ran 10 runs, divided by 15
    ("benchmarks/bench_sweep.py", ["--steps", "0"], "--steps must be at least 1"),
    ("benchmarks/bench_calibrate.py", ["--population", "0"], "population: must be at least 2"),
    ("benchmarks/cli_phases.py", ["--repeats", "0"], "--repeats must be at least 1"),
    ("benchmarks/bench_state_store.py", ["--runs", "0", "--sweep-runs", "0"], "--runs must be at least 1"),  # a ZeroDivisionError
    ("benchmarks/bench_state_store.py", ["--sweep-runs", "-1"], "--sweep-runs must be at least 0"),
    ("benchmarks/cli_before_after.py", ["--before", "HEAD", "--repeats", "0"], "--repeats must be at least 1"),
    ("benchmarks/step_phases.py", ["--runs", "0"], "--runs must be at least 1"),
    ("benchmarks/step_phases.py", ["/nonexistent.yaml"], "file not found: /nonexistent.yaml"),
    ("benchmarks/compare_tables.py", ["compare", "/nonexistent"], "/nonexistent/tables.pkl not found"),
])  # fmt: skip
def test_a_bad_number_is_refused_before_any_work(name, args, says):
    done = script(name, *args)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""


def test_compare_tables_never_replaces_a_saved_reference(tmp_path):
    """`save` into a folder holding tables.pkl replaced it (a user's file, or the reference
    taken before a change that a comparison needs)."""
    (tmp_path / "tables.pkl").write_text("mine")
    done = script("benchmarks/compare_tables.py", "save", str(tmp_path))
    assert done.returncode == 2 and "tables.pkl exists" in done.stderr and (tmp_path / "tables.pkl").read_text() == "mine"


@pytest.mark.parametrize(
    "args, env, says",
    [
        (["--dev"], {}, "error: unknown argument '--dev': give none (runtime only) or dev"),  # did the runtime-only install
        ([], {"PYTHON": "/nonexistent/python3.12"}, "error: PYTHON=/nonexistent/python3.12 is not a Python >= 3.12"),  # was passed over for another
        ([], {"PATH": "{bin}"}, "error: Python >= 3.12 not found"),  # then ': command not found', exit 127
        ([], {"PYTHON": "my py/python3.12"}, "error: PYTHON={cwd}/my py/python3.12 is not"),  # relative to where it was typed, not to the project
    ],
)
def test_setup_refuses_what_it_cannot_do_in_one_line_with_exit_2_and_makes_no_venv(tmp_path, args, env, says):
    """setup.sh in a copy of the project's scripts/ (it works in the folder above its own),
    with a PATH that holds only what it needs before choosing a Python where none is wanted."""
    import os
    import shutil

    (tmp_path / "scripts").mkdir()
    shutil.copy(harness.ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dirname").symlink_to(shutil.which("dirname"))
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)} | {k: v.format(bin=tmp_path / "bin") for k, v in env.items()}
    (typed_in := tmp_path / "elsewhere").mkdir()
    done = subprocess.run(["/bin/bash", str(tmp_path / "scripts" / "setup.sh"), *args], capture_output=True, text=True, env=environment, cwd=typed_in, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith(says.format(cwd=typed_in)) and done.stderr.count("\n") == 1, (done.returncode, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "elsewhere", "scripts"] and not any(typed_in.iterdir())
