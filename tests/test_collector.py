"""The model's DataCollector shortcut gives exactly what Mesa's own collector gives."""

from __future__ import annotations

import mesa
import pandas as pd

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
