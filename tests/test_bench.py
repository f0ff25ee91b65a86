"""``abm bench`` smoke test: it runs, and prints every row with positive finite numbers.

Nothing here is timed against a target (the machine is shared and noisy); the targets
are printed by the benchmark as PASS/FAIL for a person to read.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from abm import bench
from abm.cli import main as cli_main


def numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan)", line)]


@pytest.fixture(scope="module")
def quick_output() -> str:
    """One quick run through the command line, shared by the tests below."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli_main(["bench", "--quick", "--repeats", "1"])
    assert status == 0
    return out.getvalue()


def test_baseline_rows(quick_output):
    for name in ("scenario load (YAML + validation)", "model only (construct + 60 steps)", "run() incl. DataFrames"):
        row = re.search(rf"^\s+{re.escape(name)}\s+(.*)$", quick_output, flags=re.M)
        assert row, f"no '{name}' row in:\n{quick_output}"
        values = numbers(row.group(1))
        assert len(values) >= 2  # wall ms, cpu ms (and cpu ms/step for the model row)
        assert all(math.isfinite(v) and v > 0 for v in values), name


def test_world_rows(quick_output):
    for n, m in bench.QUICK_SIZES:
        row = re.search(rf"^\s+{n}x{m}\s+(.*)$", quick_output, flags=re.M)
        assert row, f"no {n}x{m} row in:\n{quick_output}"
        values = numbers(row.group(1))
        assert len(values) == 6  # build ms, offers/step, ms/step, us/offer, cpu ms/step, cpu us/offer
        assert all(math.isfinite(v) and v > 0 for v in values)
        assert values[1] == 3 * n * m  # min_weight=0: every power courts every state in every domain


def test_target_lines(quick_output):
    run = re.search(r"^\s+(PASS|FAIL)\s+runner.run of the baseline <= 20 ms \(([0-9.]+) ms, [0-9.]+x the target; wall ([0-9.]+) ms\)$", quick_output, flags=re.M)
    assert run and float(run.group(2)) > 0 and float(run.group(3)) > 0
    first, last = bench.QUICK_SIZES[0], bench.QUICK_SIZES[-1]
    line = re.search(rf"^\s+----\s+us/offer {last[0]}x{last[1]} / {first[0]}x{first[1]} <= 2 \(ratio ([0-9.]+):.*\): not judged", quick_output, flags=re.M)
    assert line and float(line.group(1)) > 0


def test_baseline_and_worlds_are_medians():
    baseline = bench.bench_baseline(repeats=1)
    assert baseline.steps == 60 and baseline.states == 8
    for timing in (baseline.load, baseline.model, baseline.run):
        assert timing.wall > 0 and timing.cpu > 0
    n, m = bench.QUICK_SIZES[0]
    world = bench.bench_world(n, m, steps=bench.QUICK_STEPS, repeats=2)
    assert world.label == f"{n}x{m}" and world.steps == bench.QUICK_STEPS
    assert world.offers_per_step == 3 * n * m and world.per_offer.cpu > 0


def test_command_line_sweep_and_large_world_rows(quick_output):
    for name in ("abm run baseline.yaml --out DIR (tables + 3 charts)", "abm run baseline.yaml --no-charts --out DIR", "abm validate baseline.yaml", f"floor: python -c '{bench.FLOOR}'"):
        row = re.search(rf"^\s+{re.escape(name)}\s+([0-9.]+) s$", quick_output, flags=re.M)
        assert row and float(row.group(1)) > 0, f"no '{name}' row in:\n{quick_output}"
    for name in ("plain loop", "abm sweep, 1 worker", "abm sweep, 2 workers"):
        row = re.search(rf"^\s+{re.escape(name)}\s+([0-9.]+)\s+([0-9.]+)$", quick_output, flags=re.M)
        assert row and float(row.group(1)) > 0 and float(row.group(2)) > 0, f"no '{name}' row in:\n{quick_output}"
    n, m, steps = bench.QUICK_LARGE
    assert re.search(rf"^large world: generated.yaml {n}x{m}, {steps} steps", quick_output, flags=re.M)
    assert re.search(r"^\s+[0-9.]+ s wall, [0-9.]+ s cpu \([0-9.]+ cpu ms/step\), peak RSS [1-9][0-9]* MB$", quick_output, flags=re.M)


SMOKE_SIZED = ("us/offer", "sweep, 1 worker / plain loop <= 1.05", "sweep, 2 workers / 1 worker >= 1.85", "{}x{} x {} steps < 4 s and < 400 MB".format(*bench.QUICK_LARGE))


def test_quick_judges_only_the_targets_it_measures_at_full_size(quick_output):
    """A 20-run sweep of 4 quarters is mostly start-up: --quick must not print FAIL for it."""
    for text in ("runner.run of the baseline <= 20 ms", "RegionModel without tables <= 15 ms", "abm run < 1 s", "abm validate < 0.4 s"):
        assert re.search(rf"^\s+(PASS|FAIL)\s+{re.escape(text)} \(", quick_output, flags=re.M), f"no verdict on '{text}' in:\n{quick_output}"
    for text in SMOKE_SIZED:
        assert re.search(rf"^\s+----\s+{re.escape(text)} .*: not judged, --quick measures it at a smaller size$", quick_output, flags=re.M), f"'{text}' judged in:\n{quick_output}"


def test_the_full_benchmark_judges_every_target():
    t = bench.Timing(0.01, 0.01)
    worlds = [bench.WorldTimes(n, m, 10, t, 3 * n * m, t, t) for n, m in bench.SIZES]
    sweep = bench.SweepTimes(200, 1, *({"seconds": 1.0, "cpu": 1.0, "steps": 20} for _ in range(3)))
    result = bench.BenchResult(1, bench.BaselineTimes(8, 9, 60, t, t, t), worlds=worlds, cli=bench.CliTimes(0.5, 0.3, 0.2, 0.4), sweep=sweep,
                               large={"states": 500, "powers": 50, "steps": 60, "wall": 2.0, "cpu": 2.0, "peak_mb": 300.0})
    text = bench.report(result)
    verdicts = re.findall(r"^\s+(PASS|FAIL|----)\s", text, flags=re.M)
    assert len(verdicts) == 8 and "----" not in verdicts, text
    assert re.search(r"^\s+FAIL\s+sweep, 2 workers / 1 worker >= 1.85 \(1.00", text, flags=re.M), text


def test_fresh_interpreters_are_timed_with_their_bytecode_cached(monkeypatch):
    """Where the environment switches bytecode caching off, each timed process would
    compile the package anew, which no user pays: the bench gives them a cache of their
    own, filled before the timings, outside the checkout, and gone afterwards."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    package = Path(bench.__file__).parent
    before = sorted(package.rglob("__pycache__"))
    with bench.cached_bytecode() as (env, where):
        assert "PYTHONDONTWRITEBYTECODE" not in env and "temporary folder" in where
        cache = Path(env["PYTHONPYCACHEPREFIX"])
        compiled = {p.name.split(".")[0] for p in cache.rglob("*.pyc") if package.name in p.parts}
        assert {"cli", "model", "runner", "charts", "sweep"} <= compiled  # the warm-up loaded them
        probe = "import sys, abm.model; print(abm.model.__cached__, sys.flags.dont_write_bytecode)"
        cached, off = bench._python(probe, env=env).split()
        assert Path(cached).is_file() and cache in Path(cached).parents and off == "0"
    assert not cache.exists()
    assert sorted(package.rglob("__pycache__")) == before


def test_with_caching_on_the_environment_is_left_alone(monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    with bench.cached_bytecode() as (env, where):
        assert env == dict(bench.os.environ) and "beside the sources" in where
