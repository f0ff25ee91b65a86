"""One function from (scenario, seed) to results: the only way callers run the model.

The CLI, the experiment runner, notebooks and the dashboard all go through :func:`run`,
so a result is always reproducible from the scenario and the seed it records.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from abm.agents import RegionalState
from abm.model import RegionModel
from abm.outputs import atomic_directory
from abm.scenario import Scenario, load, with_run_settings

PACKAGES = ("abm-caucasus", "mesa", "numpy", "pandas", "networkx", "scipy", "pydantic", "pyyaml", "matplotlib")


@dataclass
class RunResult:
    """What one run produced: per-step model metrics, per-step state data, and logs."""

    scenario: Scenario
    seed: int
    model: pd.DataFrame  # step, date, then one column per metric
    agents: pd.DataFrame | None  # step, date, state, then per-state columns (None: tables=False)
    coercions: pd.DataFrame | None  # step, date, power, state, tool
    events: pd.DataFrame | None  # step, date, id, type, source, then one column per event parameter

    def write(self, out: str | Path, charts: bool = True) -> Path:
        """Write every output into ``out`` atomically: all files appear, or none."""
        if self.agents is None:
            raise ValueError("this result was run with tables=False: only the model table exists")
        with atomic_directory(out, marker="scenario.resolved.yaml") as tmp:
            self.model.to_csv(tmp / "model.csv", index=False)
            self.agents.to_csv(tmp / "agents.csv", index=False)
            self.coercions.to_csv(tmp / "coercions.csv", index=False)
            self.events.to_csv(tmp / "events.csv", index=False)
            with open(tmp / "scenario.resolved.yaml", "w", encoding="utf-8") as fh:
                yaml.safe_dump(provenance(self.scenario, self.seed), fh, sort_keys=False, allow_unicode=True)
            if charts:
                from abm import charts as charting  # matplotlib only when charts are wanted

                charting.run_charts(tmp, self.scenario)
        return Path(out)


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def provenance(scenario: Scenario, seed: int) -> dict[str, Any]:
    """The resolved scenario with the seed and what produced it: enough to re-run."""
    data = scenario.to_dict()
    data["seed"] = seed
    data["provenance"] = {"python": platform.python_version(), "platform": platform.platform(), "packages": versions()}
    return data


def run(scenario: str | Path | dict | Scenario, seed: int | None = None, steps: int | None = None, sets=(), tables: bool = True) -> RunResult:
    """Run ``scenario`` with ``seed`` (default: the scenario's own) to its horizon.

    ``tables=False`` builds only the per-step model table, not the per-state, coercion
    and event tables: a sweep that keeps model metrics saves a third of a short run."""
    cfg = with_run_settings(load(scenario, list(sets)), seed=seed, steps=steps)  # a negative seed is a clean error
    seed = cfg.seed
    model = RegionModel(cfg, rng=seed)
    while model.running:
        model.step()
    return collect(model, seed, tables)


def collect(model: RegionModel, seed: int, tables: bool = True) -> RunResult:
    """Tidy a finished (or paused) model's data into a :class:`RunResult`."""
    cfg = model.config
    collector = model.datacollector
    # Each table is built in one DataFrame call from the collector's columns (the same
    # values as Mesa's get_*_dataframe, without the copies that reshaping those costs).
    steps = list(range(len(next(iter(collector.model_vars.values()), []))))
    dates = [cfg.date(s).isoformat() for s in steps]
    frame = pd.DataFrame({"step": steps, "date": dates, **collector.model_vars})
    if not tables:
        return RunResult(cfg, seed, frame, None, None, None)
    step_of, columns = collector.agent_columns(RegionalState)
    agents = pd.DataFrame({"step": np.array(step_of, dtype=int), "date": [dates[s] for s in step_of], **columns})
    coercions = pd.DataFrame(model.coercions, columns=["step", "power", "state", "tool"])
    coercions.insert(1, "date", [dates[s] for s in coercions["step"].tolist()])
    return RunResult(cfg, seed, frame, agents, coercions, event_table(model.event_log))


EVENT_COLUMNS = ["step", "date", "id", "type", "source"]


def event_table(log) -> pd.DataFrame:
    """One row per event fired: step, date, id, type, source, then one column per parameter
    (lists joined with ';'; empty where an event has no such parameter)."""
    rows = []
    for *head, params in log:
        row = dict(zip(EVENT_COLUMNS, head))
        for key, value in json.loads(params).items():
            row[key if key not in EVENT_COLUMNS else f"param_{key}"] = ";".join(map(str, value)) if isinstance(value, list) else value
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else EVENT_COLUMNS)
