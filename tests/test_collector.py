"""The model's DataCollector shortcut gives exactly what Mesa's own collector gives."""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

from abm import metrics
from abm.agents import RegionalState
from abm.model import RegionModel
from tests.conftest import BASELINE


def test_collector_matches_mesas_datacollector():
    model = RegionModel(BASELINE, rng=3, steps=6)
    reference = mesa.DataCollector(
        model_reporters=metrics.model_reporters(list(model.metrics)),
        agenttype_reporters={RegionalState: metrics.state_reporters(model.power_keys)},
    )
    reference.collect(model)
    while model.running:
        model.step()
        reference.collect(model)
    pd.testing.assert_frame_equal(model.datacollector.get_model_vars_dataframe(), reference.get_model_vars_dataframe(), check_exact=True)
    pd.testing.assert_frame_equal(
        model.datacollector.get_agenttype_vars_dataframe(RegionalState), reference.get_agenttype_vars_dataframe(RegionalState), check_exact=True
    )
    steps, columns = model.datacollector.agent_columns(RegionalState)
    assert steps == [s for s in range(7) for _ in model.states]
    assert list(columns) == ["state", *metrics.state_columns(model.power_keys)]


@pytest.mark.parametrize("config", ["baseline.yaml", "us_withdraws.yaml"])
def test_a_run_without_tables_keeps_only_the_model_rows_and_the_same_ones(config):
    """tables=False (sweeps, calibrations) kept every step's per-state and pair records
    unread: half the peak memory of a 500-state world. Dropping them must not change a
    model row."""
    for seed in (0, 1):
        full, lean = (RegionModel(BASELINE.parent / config, rng=seed, steps=12, tables=tables) for tables in (True, False))
        for model in (full, lean):
            while model.running:
                model.step()
        pd.testing.assert_frame_equal(full.datacollector.get_model_vars_dataframe(), lean.datacollector.get_model_vars_dataframe(), check_exact=True)
        assert len(full.datacollector.get_agenttype_vars_dataframe(RegionalState)) == 13 * len(full.states)
        assert lean.datacollector.agent_columns(RegionalState)[0] == []
        assert lean.datacollector.pair_columns(lean)[0] == []
