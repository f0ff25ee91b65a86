"""Fixed-seed runs give exactly the tables they gave when tests/data/regression.json was
written: performance work must not move a single value.

The fixture is a fingerprint (row counts and SHA-256 of each table's CSV) written by
``scripts/regression_fixture.py``. A deliberate change of the model's behaviour moves it:
regenerate it with that script and commit it with the change. Both run the cases in a
fresh interpreter with OpenBLAS's kernels pinned (``regression_fixture.KERNEL``), since
the last bits of a matrix product depend on the kernels OpenBLAS picks for the CPU.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import regression_fixture  # noqa: E402

STORED = json.loads(regression_fixture.FIXTURE.read_text(encoding="utf-8"))["cases"]
HOW = "if the model's behaviour or its columns changed on purpose, regenerate the fixture: .venv/bin/python scripts/regression_fixture.py (and commit tests/data/regression.json with the change)"


def test_fixture_covers_every_case():
    assert [c["label"] for c in STORED] == [label for label, *_ in regression_fixture.CASES], HOW


@pytest.fixture(scope="module")
def made() -> dict:
    return regression_fixture.fingerprints()


def test_the_runs_use_the_kernels_the_fixture_was_written_with(made):
    assert made["kernel"] == regression_fixture.KERNEL, f"OpenBLAS ran {made['kernel']} kernels: the fixture holds {regression_fixture.KERNEL}'s (an x86-64 machine)"


@pytest.mark.parametrize("case", STORED, ids=[c["label"] for c in STORED])
def test_tables_unchanged(case, made):
    now = next(c for c in made["cases"] if c["label"] == case["label"])
    moved = {c: (case["final"][c], now["final"][c]) for c in case["final"] if case["final"][c] != now["final"][c]}
    what = f"final values stored -> now: {moved}" if moved else f"the final {', '.join(case['final'])} are unchanged: a column added or removed, or values moved elsewhere"
    assert now["rows"] == case["rows"], f"{case['label']}: row counts {now['rows']} != stored {case['rows']}; {HOW}"
    assert now["sha256"] == case["sha256"], f"{case['label']}: tables differ from the stored run ({what}); {HOW}"


@pytest.mark.parametrize("config", ["baseline.yaml", "iran_strikes.yaml", "us_withdraws.yaml"])
def test_a_run_leaves_the_callers_scenario_untouched(config):
    """Runs share the caller's Scenario instead of copying it (a copy is made only when
    the seed or horizon changes): safe only because a run never writes to its scenario,
    events and coercion included."""
    from abm.runner import run
    from abm.scenario import load

    scenario = load(ROOT / "configs" / config)
    before = scenario.to_dict()
    for seed in (scenario.seed, 5):
        run(scenario, seed=seed)
        assert scenario.to_dict() == before
