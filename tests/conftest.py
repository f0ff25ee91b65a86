"""Shared fixtures: paths to the shipped scenarios and a tiny hand-built world.

The tiny world (3 states, 2 rival powers) is small enough that every number a rule
produces from it can be computed by hand in the test that checks it:

* states ``a`` and ``b`` in subregion ``north``, ``c`` in ``south``;
* ``a`` has ties p 0.6 (security) and q 0.2 (trade): material alignment (0.75, 0.25);
* ``b`` has a tie q 0.5 (investment): alignment (0, 1);
* ``c`` has ties p 0.3 and q 0.3 (trade): alignment (0.5, 0.5);
* neighbour pairs a-b (relation 0.2, open, trade 1.0) and b-c (relation -0.5, closed,
  trade 0.5);
* powers ``p`` and ``q`` are rivals (0.8 both ways); ``p`` can coerce (capability 0.8,
  propensity 0.6, tools energy and bases), ``q`` cannot.

Its default rules are the quiet ones (threshold decision without noise, no coercion,
no decay, static opinion and neighbours) so a test switches on only what it studies.
"""

from __future__ import annotations

import copy
import gc
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "configs" / "baseline.yaml"
GENERATED = ROOT / "configs" / "generated.yaml"


def pytest_configure(config):
    """The test process collects cyclic garbage as an ``abm`` command does
    (abm.cli.script: every 10,000 allocations). With Python's default threshold the
    suite's few hundred thousand long-lived objects (pandas, matplotlib, pyabc, Dask and
    the test modules, all loaded at collection) were walked again in every full
    collection: about a twelfth of the suite's time, spent in the collector. Only when
    unreachable cycles are freed changes; no test depends on that."""
    gc.set_threshold(10_000, 10, 10)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups
def pytest_collection_modifyitems(config, items):
    """The suite runs in parallel (pytest-xdist, ``--dist loadgroup`` in pyproject.toml).
    Tests that share a module-scoped fixture (a whole sweep, a notebook's run, a script's
    tables: up to a minute each) are put in one group, which one worker runs, so that the
    fixture is computed once rather than once in every worker. Fixtures used by the same
    test join one group. Cheap module fixtures group their tests too (``kernel_name``
    keeps the notebooks on one worker), which costs nothing on a few cores."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    shared = {}
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        names = [f"{item.path.stem}.{name}" for name, d in (defs.name2fixturedefs.items() if defs else ()) if d[-1].scope == "module"]
        for name in names[1:]:
            parent[root(name)] = root(names[0])
        shared[item] = names
    for item, names in shared.items():
        if names:
            item.add_marker(pytest.mark.xdist_group(root(names[0])))


TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "time": {"start": "2025-01-01", "steps": 8, "step_months": 3},
    "states": {
        "a": {
            "name": "A",
            "subregion": "north",
            "lat": 41.0,
            "lon": 45.0,
            "gdp": 10.0,
            "population": 3.0,
            "governance": 0.5,
            "autonomy": 0.5,
            "threat": 0.5,
            "opinion": {"p": 0.1, "q": -0.2},
            "ties": {"security": {"p": 0.6}, "trade": {"q": 0.2}},
            "neighbours": {"b": {"relation": 0.2, "border_open": True, "trade": 1.0}},
        },
        "b": {
            "name": "B",
            "subregion": "north",
            "lat": 41.5,
            "lon": 47.0,
            "gdp": 20.0,
            "population": 5.0,
            "opinion": {"p": -0.4, "q": 0.6},
            "ties": {"investment": {"q": 0.5}},
            "neighbours": {"c": {"relation": -0.5, "border_open": False, "trade": 0.5}},
        },
        "c": {
            "name": "C",
            "subregion": "south",
            "lat": 40.0,
            "lon": 60.0,
            "gdp": 40.0,
            "population": 8.0,
            "opinion": {"p": 0.3, "q": 0.3},
            "ties": {"trade": {"p": 0.3, "q": 0.3}},
        },
    },
    "powers": {
        "p": {
            "name": "P",
            "budget": {"investment": 1.0, "security": 1.0, "trade": 1.0},
            "interests": {"a": 1.0, "b": 0.5},
            "default_interest": 0.2,
            "rivals": {"q": 0.8},
            "credibility": 0.8,
            "capability": 0.8,
            "coercion": {"propensity": 0.6, "tools": ["energy", "bases"]},
        },
        "q": {
            "name": "Q",
            "budget": {"investment": 1.0, "security": 0.5, "trade": 1.0},
            "interests": {"a": 0.5, "b": 1.0, "c": 0.8},
            "rivals": {"p": 0.8},
            "credibility": 0.8,
            "capability": 0.5,
            "coercion": {"propensity": 0.0, "tools": []},
        },
    },
    "rules": {
        "allocation": {"name": "interest"},
        "decision": {"name": "threshold", "noise": 0.0},
        "coercion": {"name": "none"},
        "decay": {"name": "none"},
        "opinion": {"name": "static"},
        "neighbours": {"name": "static"},
    },
}


def script(name: str):
    """scripts/<name>.py loaded as a module, so that a test calls its main() in-process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_scenario(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the tiny world; keyword arguments replace top-level sections
    (mappings are merged one level deep, so ``rules={"decay": {...}}`` keeps the rest)."""
    out = copy.deepcopy(TINY)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def tiny_model(seed: int = 0, scenario: dict[str, Any] | None = None, **changes: Any):
    """A RegionModel (not stepped) of ``scenario``, or of the tiny world with ``changes``."""
    from abm.model import RegionModel

    return RegionModel(scenario if scenario is not None else tiny_scenario(**changes), rng=seed)


@pytest.fixture
def tiny() -> dict[str, Any]:
    return tiny_scenario()


@pytest.fixture
def baseline_path() -> Path:
    return BASELINE


@pytest.fixture
def generated_path() -> Path:
    return GENERATED


@pytest.fixture
def restore_start_method():
    """mesa.batch_run forces the 'spawn' start method globally; put the old one back."""
    previous = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(previous, force=True)


def report_other_code(change: dict[str, Any]) -> None:
    """Run in a worker process (a pool initializer, Dask's Client.run): from now on it
    reports ``change`` over its real code identity, as a worker on a stale checkout or in
    another environment would."""
    from abm import runner

    real = runner.code_identity
    runner.code_identity = lambda: {**real(), **change}
    runner._process_identity = (0, {})  # a Dask worker has worked it out already


def other_code_pool(change: dict[str, Any]):
    """An abm.sweep.Pool of one worker process whose code identity differs by ``change``
    (its own process: only the worker is patched, never the test's)."""
    import concurrent.futures as cf

    from abm import sweep

    ctx = multiprocessing.get_context("forkserver")
    return sweep.Pool(lambda: cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=report_other_code, initargs=(change,)), 1, "one worker with other code")


def stopped_while_shutting_down(signum: int):
    """An abm.sweep.Pool of one thread whose shutdown receives ``signum`` (Ctrl-C or
    SIGTERM) in its middle, before its executor is shut down."""
    import concurrent.futures as cf
    import signal

    from abm import sweep

    executor = cf.ThreadPoolExecutor(1)
    return sweep.Pool(None, 1, "threads", executor=executor, close=lambda: (signal.raise_signal(signum), executor.shutdown()))
