"""abm compare: common seeds, the table at chosen dates, charts, clean failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abm.cli import main
from abm.compare import compare, table
from abm.runner import run
from abm.scenario import ScenarioError
from tests.conftest import BASELINE, ROOT

NO_PEACE = ROOT / "configs" / "no_peace.yaml"


def test_compare_uses_the_same_seeds_as_single_runs(tmp_path):
    tab = compare([str(BASELINE), str(NO_PEACE)], tmp_path / "c", seeds=2, steps=4, dates=["2026-01-01"])
    series = pd.read_csv(tmp_path / "c" / "series.csv")
    for seed in (0, 1):
        alone = run(BASELINE, seed=seed, steps=4).model
        mine = series[(series["scenario"] == "baseline") & (series["seed"] == seed)]
        assert np.allclose(mine["fragmentation"].to_numpy(), alone["fragmentation"].to_numpy())
    assert set(tab["scenario"]) == {"baseline", "no_peace"}
    row = tab[tab["scenario"] == "baseline"].iloc[0]
    at = series[(series["scenario"] == "baseline") & (series["date"] == "2026-01-01")]["integration"]
    assert row["integration_mean"] == pytest.approx(at.mean())
    assert row["integration_sd"] == pytest.approx(at.std(ddof=1))
    for name in ("series.csv", "compare.csv", "compare.md", "compare.png", "compare.svg"):
        assert (tmp_path / "c" / name).stat().st_size > 0


def test_table_picks_the_first_step_on_or_after_each_date():
    series = pd.DataFrame(
        {"scenario": ["a"] * 4, "seed": [0, 0, 1, 1], "step": [0, 1, 0, 1], "date": ["2025-01-01", "2025-04-01"] * 2, "x": [1.0, 2.0, 3.0, 6.0]}
    )
    tab = table(series, ["2025-02-15"], ["x"])
    assert tab["date"].tolist() == ["2025-04-01"]
    assert tab["x_mean"].tolist() == [4.0]  # (2 + 6) / 2
    assert tab["x_sd"].iloc[0] == pytest.approx(np.std([2.0, 6.0], ddof=1))


def test_unknown_metric_is_a_clean_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ScenarioError, match="nonsense"):
        compare([str(BASELINE)], tmp_path / "c", seeds=1, steps=2, metrics=["nonsense"])
    assert not (tmp_path / "c").exists()
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "2", "--metrics", "nonsense", "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()


def test_same_named_scenarios_are_refused(tmp_path):
    with pytest.raises(ScenarioError, match="distinct names"):
        compare([str(BASELINE), str(BASELINE)], tmp_path / "c", seeds=1, steps=2)
