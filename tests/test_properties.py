"""Property-based tests: whatever a user does to a scenario, the loader either accepts it
or explains what is wrong with a ScenarioError, never any other exception; and a
scenario the loader accepts can be run."""

from __future__ import annotations

import copy
import math
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from abm import metrics
from abm.scenario import Scenario, ScenarioError, load

try:  # tests/ on sys.path (no tests/__init__.py) ...
    from conftest import BASELINE, tiny_scenario
except ImportError:  # ... or tests/ is a package
    from tests.conftest import BASELINE, tiny_scenario

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@cache
def baseline_text() -> str:
    return BASELINE.read_text(encoding="utf-8")


def baseline() -> dict[str, Any]:
    return yaml.safe_load(baseline_text())


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node of a YAML tree (keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for k, value in enumerate(tree):
            out += paths(value, (*prefix, k))
    return out


@cache
def baseline_paths() -> list[tuple]:
    return paths(baseline())


@cache
def tiny_paths() -> list[tuple]:
    return paths(tiny_scenario())


def parent_of(tree: Any, path: tuple) -> Any:
    node = tree
    for key in path[:-1]:
        node = node[key]
    return node


RULE_FAMILIES = ("allocation", "decision", "coercion", "decay", "opinion", "neighbours")

odd_numbers = st.sampled_from([-1e9, -1.0, -0.5, -1e-9, 0, 0.0, 1e-9, 0.999999, 1.000001, 1.5, 2, 100, 1e12, math.inf, -math.inf, math.nan])
odd_values = st.one_of(
    odd_numbers,
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dates().map(str),
)
names = st.one_of(st.text(max_size=20), st.sampled_from(["hedging", "hedgin", "", " ", "none", "None", "threshold\n", "BANDWAGON", "__init__", "name"]))


@st.composite
def mutation(draw, tree_paths):
    kind = draw(st.sampled_from(["delete", "insert", "retype", "range", "rule_name", "rule_param"]))
    if kind in ("rule_name", "rule_param"):
        family = draw(st.sampled_from(RULE_FAMILIES))
        if kind == "rule_name":
            return (kind, ("rules", family, "name"), draw(names))
        return (kind, ("rules", family, draw(st.sampled_from(["cap", "noise", "rate", "bonus", "strength", "tools", "intensity", "x"]))), draw(odd_values))
    path = draw(st.sampled_from(tree_paths))
    if kind == "insert":
        return (kind, (*path, draw(st.text(min_size=1, max_size=10))), draw(odd_values))
    if kind == "range":
        return (kind, path, draw(odd_numbers))
    return (kind, path, draw(odd_values))


def apply(tree: dict, mutations) -> dict:
    tree = copy.deepcopy(tree)
    for kind, path, value in mutations:
        try:
            if kind in ("rule_name", "rule_param"):
                rules = tree.setdefault("rules", {})
                if not isinstance(rules, dict):
                    continue
                entry = rules.setdefault(path[1], {})
                if isinstance(entry, dict):
                    entry[path[2]] = value
                continue
            parent = parent_of(tree, path)
            key = path[-1]
            if kind == "delete":
                del parent[key]
            elif kind == "insert":
                if isinstance(parent, dict):
                    parent[key] = value
            else:
                parent[key] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return tree


def loads_or_explains(source, sets=()) -> Scenario | None:
    """The property: a Scenario, or a ScenarioError with problems naming fields."""
    try:
        return load(source, list(sets))
    except ScenarioError as exc:
        assert exc.problems
        assert all(isinstance(p, str) and isinstance(m, str) and m for p, m in exc.problems)
        assert "Traceback" not in str(exc)
        return None


# =========================================================================== loader


@SETTINGS
@given(st.lists(mutation(baseline_paths()), min_size=1, max_size=4))
def test_mutated_baseline_loads_or_raises_scenario_error(mutations):
    loads_or_explains(apply(baseline(), mutations))


@SETTINGS
@given(st.lists(mutation(tiny_paths()), min_size=1, max_size=3))
def test_mutated_tiny_world_loads_or_raises_scenario_error(mutations):
    loads_or_explains(apply(tiny_scenario(), mutations))


set_paths = st.one_of(
    st.sampled_from([".".join(map(str, p)) for p in paths(tiny_scenario()) if all(isinstance(k, str) for k in p)]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.=", max_size=25),
    st.sampled_from(["rules.decision.name", "rules.decision.cap", "rules.coercion.tools", "time", "rules", "", ".", "..", "states.a.", "generated.n_states"]),
)
set_values = st.one_of(st.text(max_size=15), odd_numbers.map(str), st.sampled_from(["[1, 2]", "{a: 1}", "{", "null", "~", "!!python/none", "hedging", "true", "2025-13-01"]))


@SETTINGS
@given(st.lists(st.tuples(set_paths, set_values), min_size=1, max_size=3))
def test_any_set_override_loads_or_raises_scenario_error(overrides):
    loads_or_explains(tiny_scenario(), [f"{p}={v}" for p, v in overrides])


@SETTINGS
@given(st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_any_set_string_loads_or_raises_scenario_error(items):
    loads_or_explains(tiny_scenario(), items)


@SETTINGS
@given(st.integers(min_value=0, max_value=len(baseline_text())), st.text(max_size=8), st.integers(min_value=0, max_value=40))
def test_edited_yaml_text_loads_or_raises_scenario_error(position, inserted, deleted):
    text = baseline_text()
    edited = text[:position] + inserted + text[position + deleted :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edited.yaml"
        path.write_text(edited, encoding="utf-8")
        loads_or_explains(path)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["n_states", "n_powers", "n_subregions", "budget", "seed", "other"]), odd_values, max_size=4))
def test_generated_section_loads_or_raises_scenario_error(generated):
    loads_or_explains({"generated": generated})


# =========================================================================== accepted scenarios run


@cache
def numeric_paths() -> list[tuple]:
    tree = tiny_scenario()
    return [p for p in tiny_paths() if isinstance(parent_of(tree, p)[p[-1]], int | float) and not isinstance(parent_of(tree, p)[p[-1]], bool)]


boundary = st.sampled_from([0, 0.0, 1e-12, 0.5, 1, 1.0, -1.0, -0.5, 2.0, 1e6])
rule_choices = st.sampled_from(
    [
        ("allocation", {"name": "random"}),
        ("allocation", {"name": "adaptive", "memory": 0.0}),
        ("allocation", {"name": "contest", "intensity": 0.0}),
        ("allocation", {"name": "consolidate", "floor": 0.0}),
        ("decision", {"name": "hedging", "cap": 1e-9}),
        ("decision", {"name": "bandwagon", "noise": 0.0, "bonus": 1e6}),
        ("decision", {"name": "balance", "noise": 10.0}),
        ("coercion", {"name": "punish", "strength": 1.0, "sphere": 0.0}),
        ("decay", {"name": "linear", "rate": 1.0}),
        ("decay", {"name": "expiry", "rate": 1.0}),
        ("decay", {"name": "exponential", "rate": 1.0}),
        ("opinion", {"name": "social", "rate": 1.0, "social": 1.0}),
        ("neighbours", {"name": "interdependence", "trade_growth": 1.0, "conflict_hazard": 1.0, "spillover": 1.0}),
    ]
)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(numeric_paths()), boundary), max_size=4),
    st.lists(rule_choices, max_size=3),
    st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
)
def test_an_accepted_scenario_runs(edits, rules, seed):  # seed None: the scenario's own
    from abm.runner import run

    raw = tiny_scenario()
    for path, value in edits:
        parent_of(raw, path)[path[-1]] = value
    for family, spec in rules:
        raw["rules"][family] = dict(spec)
    scn = loads_or_explains(raw, ["time.steps=3"])
    event("accepted" if scn is not None else "rejected")
    if scn is None:
        return
    result = run(scn, seed=seed)
    assert len(result.model) == 4
    numbers = result.model.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(numbers).all()
    agents = result.agents.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(agents).all()


# =========================================================================== metrics


alignments = st.integers(min_value=1, max_value=6).flatmap(
    lambda m: st.lists(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=m, max_size=m).filter(lambda row: sum(row) > 1e-6), min_size=1, max_size=6)
)


@SETTINGS
@given(alignments)
def test_js_distance_is_a_bounded_metric(rows):
    a = np.array(rows)
    a = a / a.sum(axis=1, keepdims=True)
    d = metrics.js_distance_matrix(a)
    assert np.all(d >= 0.0) and np.all(d <= 1.0 + 1e-9)
    assert np.allclose(d, d.T)
    assert np.allclose(np.diag(d), 0.0, atol=1e-6)
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-6)


@SETTINGS
@given(alignments, st.floats(min_value=1.0, max_value=1.6), st.sampled_from(["louvain", "single_linkage", "main_patron"]))
def test_bloc_metrics_stay_in_range(rows, alpha, method):
    a = np.array(rows)
    a = a / a.sum(axis=1, keepdims=True)
    d = metrics.js_distance_matrix(a)
    labels = metrics.blocs(a, d, method, 0.5)
    assert len(labels) == len(a)
    assert 1 <= len(set(labels.tolist())) <= len(a)
    assert 0.0 <= metrics.polarization(d, alpha, 0.25) <= 1.0
    h = metrics.hhi(a)
    assert np.all(h >= 1.0 / a.shape[1] - 1e-9) and np.all(h <= 1.0 + 1e-9)
    assert 0.0 <= metrics.mean_pairwise(d) <= 1.0
