"""benchmarks/compare_tables.py, the check that speed work moved the tables only by
rounding, must pass a last-bit change and fail everything else."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import compare_tables  # noqa: E402


def agents(a: float, b: float, events: str = "accession") -> pd.DataFrame:
    return pd.DataFrame({"step": [0, 1], "state": ["x", "y"], "alignment_p": [a, 0.2], "alignment_q": [b, 0.8], "blocs": [2, 2], "event": [events, "exit"]})


def test_a_last_bit_change_passes_and_reports_its_size():
    old = agents(0.3, 0.7)
    new = agents(np.nextafter(0.3, 1.0), 0.7)
    failures, worst = compare_tables.compare_table("case", "agents", old, new)
    assert failures == []
    assert 0 < worst < 1e-15


def test_a_change_beyond_the_tolerance_fails():
    failures, worst = compare_tables.compare_table("case", "agents", agents(0.3, 0.7), agents(0.3 + 1e-7, 0.7))
    assert len(failures) == 1 and "alignment_p" in failures[0]
    assert worst > 1e-9


def test_a_discrete_change_fails_however_small_the_floats_move():
    failures, _ = compare_tables.compare_table("case", "agents", agents(0.3, 0.7), agents(0.3, 0.7, events="exit"))
    assert len(failures) == 1 and "event" in failures[0]


def test_a_patron_that_changes_within_the_tolerance_fails():
    # two patrons tied to the last bits: rounding may not decide which one a state follows
    tie = 0.5
    failures, _ = compare_tables.compare_table("case", "agents", agents(tie, np.nextafter(tie, 0.0)), agents(np.nextafter(tie, 0.0), tie))
    assert failures == ["case / agents: a state's patron (largest alignment) differs"]


def test_nan_must_stay_where_it_was():
    old = pd.DataFrame({"x": [1.0, np.nan]})
    failures, _ = compare_tables.compare_table("case", "model", old, pd.DataFrame({"x": [np.nan, 1.0]}))
    assert failures and "NaN" in failures[0]
    assert compare_tables.compare_table("case", "model", old, old.copy())[0] == []
