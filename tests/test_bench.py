"""``abm bench`` smoke test: it runs, and prints every row with positive finite numbers.

Nothing here is timed against a target (the machine is shared and noisy); the targets
are printed by the benchmark as PASS/FAIL for a person to read.
"""

from __future__ import annotations

import math
import re

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
    run = re.search(r"^\s+baseline run\(\) < 50 ms: (PASS|FAIL) \(([0-9.]+) ms, [0-9.]+x the target; wall ([0-9.]+) ms\)$", quick_output, flags=re.M)
    assert run and float(run.group(2)) > 0 and float(run.group(3)) > 0
    first, last = bench.QUICK_SIZES[0], bench.QUICK_SIZES[-1]
    line = re.search(rf"^\s+us/offer {last[0]}x{last[1]} / {first[0]}x{first[1]} <= 2: (PASS|FAIL) \(ratio ([0-9.]+):", quick_output, flags=re.M)
    assert line and float(line.group(2)) > 0


def test_measure_returns_medians():
    result = bench.measure(repeats=1, quick=True)
    assert result.repeats == 1
    assert result.baseline.steps == 60 and result.baseline.states == 8
    for timing in (result.baseline.load, result.baseline.model, result.baseline.run):
        assert timing.wall > 0 and timing.cpu > 0
    assert [w.label for w in result.worlds] == [f"{n}x{m}" for n, m in bench.QUICK_SIZES]
    assert all(w.steps == bench.QUICK_STEPS for w in result.worlds)
    assert math.isfinite(result.scaling_ratio) and result.scaling_ratio > 0
