"""Experiment specs: validated up front with clear messages, expanded into a deterministic plan."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm import experiment, sensitivity
from abm.cli import main
from abm.experiment import ExperimentError, Summary, summarise

try:  # tests/ as a package or not
    from tests.test_sweep import BASELINE, ROOT, tiny_spec
except ImportError:
    from test_sweep import BASELINE, ROOT, tiny_spec

SHIPPED = sorted((ROOT / "experiments").glob("*.yaml"))
LIBRARY = ["baseline", "no_peace", "russia_joins_regional_format", "iran_strikes", "us_withdraws", "northern_route_reopens", "japan_minerals"]


# --------------------------------------------------------------------------- shipped experiments


def test_the_four_experiments_are_shipped():
    assert {p.stem for p in SHIPPED} >= {"fragmentation_phase", "sensitivity", "rules", "scenarios"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiment_is_valid_and_states_its_question(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and any(line.startswith("# Question:") for line in lines[:12])
    exp = experiment.load(path)
    spec = yaml.safe_load(path.read_text())
    if "grid" in spec:
        assert len(exp.points) == math.prod(len(v) for v in spec["grid"].values())
    assert len(exp.runs) == len(exp.points) * spec["replications"]
    assert len(exp.runs) <= 10_000, "shipped experiments must run in minutes on a laptop (9,216 baseline runs took 3 minutes on 2 cores)"
    assert exp.charts, "every shipped experiment draws charts"


def test_the_scenario_library_experiment_covers_every_library_scenario():
    exp = experiment.load(ROOT / "experiments" / "scenarios.yaml")
    assert set(LIBRARY) <= set(exp.bases)
    for name in LIBRARY:
        assert (ROOT / "configs" / f"{name}.yaml").exists(), name


def test_the_phase_experiment_sweeps_the_rivalry_and_hedging_parameters():
    exp = experiment.load(ROOT / "experiments" / "fragmentation_phase.yaml")
    assert set(exp.parameters) == {"rules.coercion.strength", "rules.allocation.intensity", "rules.decision.cap"}
    base = exp.bases["baseline"].scenario.rules
    assert base.allocation["name"] == "contest" and base.decision["name"] == "hedging"


def test_a_shipped_experiment_runs_in_a_tiny_version(tmp_path):
    """The rules experiment end to end, cut to 2 quarters and 1 replication."""
    spec = yaml.safe_load((ROOT / "experiments" / "rules.yaml").read_text())
    spec.update(replications=1, set={"time.steps": 2}, scenario=str(BASELINE))
    spec["metrics"]["summaries"] = [s for s in spec["metrics"]["summaries"] if "last" not in s]
    spec["charts"] = [c for c in spec["charts"] if c["type"] == "phase"][:1]  # one chart keeps the test fast
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "2"]) == 0
    assert main(["report", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report" / "phase_fragmentation_final.svg").exists()


# --------------------------------------------------------------------------- bad specs


def _write(tmp_path: Path, spec: dict | str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec))
    return path


def _change(**changes):
    return tiny_spec(**changes)


def _nested(section: str, **changes):
    spec = tiny_spec()
    spec[section] = {**spec[section], **changes}
    return spec


def _difference(**changes):
    return {"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 0.4} | changes


BAD = {
    "unknown key": (_change(replication=3), "replication: unknown key; did you mean 'replications'?"),
    "wrong type": (_change(replications="many"), "replications: a number is expected, not the text 'many'"),
    "true as a count": (_change(replications=True), "replications: a number is expected here, not true or false"),
    "true as a sample size": (_change(grid={}, sample={"method": "latin", "n": True, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.n: a number is expected here, not true or false"),
    "true as a window": (_nested("metrics", summaries=[{"metric": "integration", "stat": "mean", "last": True}]), "metrics.summaries.0.last: a number is expected here, not true or false"),
    "true as a tree depth": (_change(outcomes={"high": "integration_final > 0.5"}, charts=[{"type": "discovery", "outcome": "high", "depth": True}]), "charts.0.depth: a number is expected here, not true or false"),
    "text as a yes/no": (_change(grid={}, sample={"method": "sobol", "n": 8, "second_order": "yes", "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.second_order: true or false is expected"),
    "out of range": (_change(replications=0), "replications: must be in [1, 1000000] (got 0)"),
    "unknown sampler": (_change(grid={}, sample={"method": "sobel", "n": 8, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.method: unknown sampler 'sobel'; did you mean 'sobol'?"),
    "sobol n": (_change(grid={}, sample={"method": "sobol", "n": 100, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.n: the sobol sampler needs a power of 2 (got 100; try 64 or 128)"),
    "empty range": (_change(grid={}, sample={"method": "latin", "n": 8, "ranges": {"rules.coercion.strength": [1, 0]}}), "sample.ranges.rules.coercion.strength: the lower bound must be below the upper bound"),
    "missing parameter path": (_change(grid={"rules.coercion.strenght": [0, 1]}), "grid.rules.coercion.strenght: no such setting 'strenght'; did you mean 'strength'?"),
    "nested ranges": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"rules": {"coercion": {"strength": [0, 1]}}}}), "sample.ranges: each key is one whole dotted path to a number, with [low, high] (e.g. rules.coercion.strength: [0, 1]); 'rules' holds a mapping"),
    "a rule's parameter crossed with rules the base lacks it under": (_change(grid={"rules.decision.name": ["threshold", "hedging"], "rules.decision.cap": [0.3, 0.5]}), "grid.rules.decision.cap: no such setting at the points where rules.decision.name = threshold; sweep rules.decision whole instead, as labelled entries (label -> {name: ..., cap: ...})"),  # blamed the base, which has cap
    "a rule's parameter that the spec's set: chose a rule without": (_change(set={"rules.decision": {"name": "threshold", "noise": 0.1}}, grid={"rules.decision.cap": [0.3, 0.5]}), "grid.rules.decision.cap: no such setting 'cap': the decision rule 'threshold' has no such parameter (available there: name, noise, threshold), as set: rules.decision makes it"),  # blamed the base file, which has cap
    "a rule's parameter that set: chose a rule without, by name": (_change(set={"rules.decision.name": "threshold"}, grid={"rules.decision.cap": [0.3, 0.5]}), "has no such parameter (available there: name, noise, threshold), as set: rules.decision.name makes it"),
    "missing path in ranges": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"utility.dependance": [0, 1]}}), "sample.ranges.utility.dependance: no such setting 'dependance'; did you mean 'dependence'?"),
    "grid value out of range": (_change(grid={"rules.coercion.strength": [0.5, 1.5]}), "grid.rules.coercion.strength: value 1.5: must be in [0, 1] (got 1.5)"),
    "range out of range": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"rules.decision.cap": [0.2, 1.2]}}), "sample.ranges.rules.decision.cap: value 1.2: must be in (0, 1] (got 1.2)"),
    "fixed override": (_change(set={"time.stpes": 4}), "set.time.stpes: no such setting 'stpes'; did you mean 'steps'?"),
    "a value of neither shape a union allows": (_nested("metrics", series="alll"), "1 problem(s) in"),  # one problem, in words, not one per member type
    "neither shape, said in words": (_nested("metrics", series="alll"), "metrics.series: expected a list or 'all' (got 'alll')"),
    "a list item of the wrong type": (_nested("metrics", series=[1]), "metrics.series.0: text is expected (got 1)"),
    "a choice not offered": (_nested("metrics", summaries=[{"metric": "integration", "stat": "first_crossing", "threshold": 0.5, "direction": "down"}]), "metrics.summaries.0.direction: must be one of: 'above', 'below' (got 'down')"),
    "the one choice": (_change(charts=[{"type": "timeseries", "metrics": ["fragmentation"], "band": "sd"}]), "charts.0.band: must be 'ci95' (got 'sd')"),
    "a fraction for a count": (_change(replications=2.5), "replications: a whole number is expected (got 2.5)"),
    "a typo inside a mapping given in set": (_change(set={"time.steps": 4, "powers.european_union.budget": {"investmnt": 1.0}}), "set.powers.european_union.budget.investmnt: unknown key; did you mean 'investment'?"),
    "unknown metric": (_nested("metrics", series=["fragmentaton"]), "metrics.series.0: unknown metric 'fragmentaton'; did you mean 'fragmentation'?"),
    "a window partly outside the run": (_nested("metrics", summaries=[{"metric": "integration", "stat": "mean", "window": ["2024-01-01", "2025-04-01"]}]), "metrics.summaries.0.window: 2024-01-01 to 2025-04-01 is not within the simulated period"),  # averaged over the part inside
    "a window between two steps": (_nested("metrics", summaries=[{"metric": "integration", "stat": "mean", "window": ["2025-02-01", "2025-03-01"]}]), "metrics.summaries.0.window: 2025-02-01 to 2025-03-01 holds no step of"),  # every value blank
    "a metric kept twice": (_nested("metrics", series=["fragmentation", "fragmentation"]), "metrics.series.1: 'fragmentation' is listed twice"),  # SQLite refused the second column after the plan was printed
    "date outside the run": (_nested("metrics", summaries=[{"metric": "integration", "stat": "at", "date": "2035-01-01"}]), "metrics.summaries.0.date: 2035-01-01 is outside the simulated period"),
    "a summary name that is no file name": (_nested("metrics", summaries=[{"metric": "fragmentation", "name": "frag/final"}]), "metrics.summaries.0.name: letters, digits, '_', '.' and '-' only"),
    "unknown chart": (_change(charts=[{"type": "heatmap"}]), "charts.0.type: unknown chart type 'heatmap'"),
    "chart of an unknown summary": (_change(charts=[{"type": "box", "metrics": ["fragmentation_finl"]}]), "charts.0.metrics: 'fragmentation_finl' is not a summary; did you mean 'fragmentation_final'?"),
    "n of a factorial sample": (_change(grid={}, sample={"method": "factorial", "n": 64, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.n: does not apply to the factorial sampler"),
    "levels of a latin sample": (_change(grid={}, sample={"method": "latin", "n": 4, "levels": 6, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.levels: applies to the factorial and morris samplers, not to latin"),
    "second order of a morris sample": (_change(grid={}, sample={"method": "morris", "n": 4, "second_order": True, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.second_order: applies to the sobol sampler, not to morris"),
    "second order, even false, of a latin sample": (_change(grid={}, sample={"method": "latin", "n": 4, "second_order": False, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample.second_order: applies to the sobol sampler, not to latin"),
    "integer morris levels off whole numbers": (_change(grid={}, sample={"method": "morris", "n": 4, "levels": 4, "ranges": {"offers.duration": [4, 12]}}), "sample.ranges.offers.duration: an integer parameter's 4 morris levels must fall on whole numbers: make high - low a multiple of 3 (got [4, 12]; try [4, 13])"),
    "an axis no point lets act": (_change(grid={"offers.duration": [4, 12]}), "grid.offers.duration: acts only under rules.decay.name=expiry (here 'exponential'), in every point: sweeping it changes nothing; set or sweep that rule too"),
    "a label as an axis": (_change(grid={"powers.russia.color": ["#aa0000", "#0000aa"]}), "grid.powers.russia.color: names, describes or places something (powers.*.color); no mechanism reads it: sweeping it changes nothing"),
    "the scenario's name as an axis": (_change(grid={"name": ["a", "b"]}), "grid.name: names, describes or places something (name)"),
    "a sampled place": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"states.armenia.lat": [30, 50]}}), "sample.ranges.states.armenia.lat: names, describes or places something (states.*.lat)"),
    "a sampled box with points a rule refuses": (_change(grid={}, sample={"method": "latin", "n": 8, "ranges": {"rules.membership.join": [-0.3, 0.3], "rules.coercion.strength": [0, 1], "rules.membership.leave": [-0.5, 0.1]}}), "leave (0.1) must not exceed join (-0.3)"),  # passed: only the all-low and all-high corners were checked, and 2 of 8 runs failed
    "a sampled axis no corner lets act": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"offers.duration": [4, 12]}}), "sample.ranges.offers.duration: acts only under rules.decay.name=expiry (here 'exponential'), in every point"),
    "phase chart of a latin sample": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"rules.coercion.strength": [0, 1], "rules.decision.cap": [0.4, 1]}}, charts=[{"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"}]), "charts.0.type: a phase chart needs a grid or sample.method: factorial, not latin"),
    "difference by an unswept parameter": (_change(charts=[_difference(by="rules.decision.noise")]), "charts.0.by: 'rules.decision.noise' is not a grid parameter or scenario; did you mean 'rules.decision.cap'? choose from rules.coercion.strength, rules.decision.cap"),
    "difference by the one scenario": (_change(charts=[_difference(by="scenario", against="baseline")]), "charts.0.by: there is one base scenario (give several under scenarios); choose from rules.coercion.strength, rules.decision.cap"),
    "difference by a sampled parameter": (_change(grid={}, sample={"method": "latin", "n": 4, "ranges": {"rules.coercion.strength": [0, 1]}}, charts=[_difference(by="rules.coercion.strength")]), "charts.0.by: 'rules.coercion.strength' is sampled, so no two runs share its values; a difference chart compares levels of a grid parameter or scenarios"),
    "difference against no level": (_change(charts=[_difference(against=0.5)]), "charts.0.against: 0.5 is not a level of rules.decision.cap; did you mean '0.4'? levels: 0.4, 1.0"),
    "difference against a quoted number": (_change(charts=[_difference(against="0.4")]), "charts.0.against: '0.4' is text, the level 0.4 of rules.decision.cap a number: write it without quotes"),
    "difference against a missing reference": (_change(charts=[{"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap"}]), "charts.0.against: required field is missing"),
    "difference of one level": (_change(grid={"rules.coercion.strength": [0.0, 1.0], "rules.decision.cap": [0.4]}, charts=[_difference()]), "charts.0.by: 'rules.decision.cap' has a single level (0.4): nothing to compare with it"),
    "difference zoomed": (_change(charts=[_difference(zoom=True)]), "charts.0.zoom: a difference chart's scale always fits the differences around 0: remove zoom"),
    "a seed in set": (_change(set={"time.steps": 4, "seed": 5}), "set.seed: a sweep's runs take their seeds from the spec's 'seed' and 'replications', not the scenario's: set those"),
    "a swept seed": (_change(grid={"seed": [0, 1, 2]}), "grid.seed: a sweep's runs take their seeds from the spec's 'seed' and 'replications'"),
    "a summary named as a swept parameter": (_change(metrics={"series": ["fragmentation"], "summaries": [{"metric": "fragmentation", "stat": "final", "name": "rules.decision.cap"}]}), "metrics.summaries: 'rules.decision.cap' is a swept parameter's column; give the summary another 'name'"),
    "a swept posterior": (_change(grid={"posterior": ["a.csv", "b.csv"]}), "grid.posterior: a posterior cannot be swept: give one scenario per posterior under 'scenarios' (each may set its own posterior:)"),
    "sobol chart without sobol design": (_change(charts=[{"type": "sobol", "metrics": ["fragmentation_final"]}]), "charts.0.type: a sobol chart needs sample.method: sobol"),
    "missing scenario file": (_change(scenario="no_such.yaml"), "scenario: no_such.yaml: file not found"),
    "two space kinds": (_change(sample={"method": "latin", "n": 4, "ranges": {"rules.coercion.strength": [0, 1]}}), "sample: a sampled space cannot be combined with 'grid'"),
    "yaml syntax": ("name: x\ngrid: [unclosed\n", "YAML syntax error at line"),
    "not a finite value": (_change(grid={"rules.decision.threshold": [0.0, float("nan")]}), "grid.rules.decision.threshold: values must be numbers, text, lists or mappings, and finite"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_spec_exits_2_with_a_clear_message_and_writes_nothing(case, tmp_path, capsys):
    spec, message = BAD[case]
    path = _write(tmp_path, spec)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(path) in err.splitlines()[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]


@pytest.mark.parametrize("k", range(1, 41))
def test_the_corners_checked_set_every_pair_of_ranges_to_each_of_its_four_bound_combinations(k):
    """experiment.box_corners: a rule on two settings holds in a sampled box if it holds at
    every combination of their bounds, so each pair must meet all four; the extreme
    corners are there too; and the corners stay few (a build each)."""
    ranges = {f"p{i}": (-i - 1.0, i + 1.0) for i in range(k)}
    corners = experiment.box_corners(ranges)
    for a, b in itertools.combinations(ranges, 2):
        assert {(c[a], c[b]) for c in corners} == set(itertools.product(ranges[a], ranges[b])), (a, b)
    for side in (0, 1):
        assert {p: bounds[side] for p, bounds in ranges.items()} in corners
    assert all(set(c) == set(ranges) and all(c[p] in ranges[p] for p in c) for c in corners)
    assert len(corners) == len({tuple(c.values()) for c in corners}) <= math.ceil(math.log2(k + 1)) + 4  # 10 for 40 ranges


def test_a_set_key_that_does_not_choose_the_rule_is_not_blamed_for_its_missing_parameter(tmp_path):
    """Over a base whose rule lacks the swept parameter, the base file is blamed, not a
    set: key that only tunes that rule (blaming set: holds only where it chose the rule)."""
    base = tmp_path / "threshold.yaml"
    base.write_text(yaml.safe_dump({"extends": str(BASELINE), "rules": {"decision": {"name": "threshold"}}}))
    spec = _change(scenario=str(base), set={"rules.decision.noise": 0.1}, grid={"rules.decision.cap": [0.3, 0.5]})
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert info.value.problems == [("grid.rules.decision.cap", f"no such setting 'cap': the decision rule 'threshold' has no such parameter (available there: name, noise, threshold) in {base}")]


def test_every_problem_is_listed_at_once():
    spec = _change(charts=[{"type": "heatmap"}], grid={"rules.coercion.strength": [2.0], "rules.decision.cap": [0.0]})
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    paths = sorted(p for p, _ in info.value.problems)
    assert paths == ["charts.0.type", "grid.rules.coercion.strength", "grid.rules.decision.cap"]


@pytest.mark.parametrize("values", [None, [], 5, "x"], ids=repr)
def test_a_grid_axis_without_values_is_one_problem_though_a_difference_chart_is_by_it(values):
    """The chart took its levels from the refused values: a TypeError for null, an
    IndexError for [], and for 'x' problems that only echoed the refusal."""
    spec = _change(grid={"rules.coercion.strength": [0.0, 1.0], "rules.decision.cap": values}, charts=[_difference()])
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert [path for path, _ in info.value.problems] == ["grid.rules.decision.cap"]


def test_one_number_spelt_two_ways_on_a_grid_axis_is_refused():
    # 1 and 1.0 set the same value under two labels and two run keys: the runs of the point ran twice
    # (a value listed twice as written shares its runs: test_sweep.py::test_identical_points_are_run_once)
    grid = {"rules.coercion.strength": [1, 0.5, 1.0], "rules.decision.cap": [0.4, 1.0]}
    with pytest.raises(ExperimentError) as info:
        experiment.load(_change(grid=grid))
    assert info.value.problems == [("grid.rules.coercion.strength", "1 and 1.0 are the same value, which would be run twice under two labels; list it once")]
    assert len(experiment.load(_change(grid={**grid, "rules.coercion.strength": [1, 0.5, 1]})).points) == 6  # as written twice: allowed, run once


def test_a_summary_dated_outside_the_runs_is_one_problem_not_one_per_chart_naming_it():
    """A summary's column is named by its date: moved outside the runs, its charts named
    a column that 'is not a summary' and suggested one that cannot exist."""
    spec = _change(charts=[{"type": "box", "metrics": ["fragmentation_2025-10-01"]}, {"type": "box", "metrics": ["integration_2025-10-01"]}])
    spec["metrics"] = {**spec["metrics"], "summaries": [{"metric": "fragmentation", "stat": "at", "date": "2035-01-01"}, {"metric": "integration", "stat": "at", "date": "2025-10-01"}]}
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert [p for p, _ in info.value.problems] == ["metrics.summaries.0.date"]
    spec["metrics"]["summaries"][0]["date"] = "2025-07-01"  # inside: the chart naming the old column is told the new one
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert info.value.problems == [("charts.0.metrics", "'fragmentation_2025-10-01' is not a summary; did you mean 'fragmentation_2025-07-01'? summaries: fragmentation_2025-07-01, integration_2025-10-01")]


def test_problems_of_independent_checks_are_listed_in_one_pass(tmp_path, capsys):
    """A field refused by its type (replications, a summary's stat) no longer hides the
    problems of the scenario, the points, the metrics and the charts; --dry-run lists them
    all, one per line, with each chart's index in the spec even after a refused chart."""
    spec = _change(replications=0, grid={"rules.coercion.strength": [0.5, 1.5]})
    spec["metrics"] = {"series": ["fragmentaton", "fragmentation"], "summaries": [{"metric": "fragmentation", "stat": "fnal"}]}
    spec["charts"] = [{"type": "heatmap"}, {"type": "timeseries", "metrics": ["fragmentation"], "by": "nothing"}]
    expected = ["replications", "metrics.summaries.0.stat", "charts.0.type", "grid.rules.coercion.strength", "metrics.series.0", "charts.1.by"]
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert [p for p, _ in info.value.problems] == expected
    assert main(["sweep", str(_write(tmp_path, spec)), "--dry-run"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("error: 6 problem(s) in ") and [line.split(":")[0] for line in lines[1:]] == [f"  - {p}" for p in expected]


def test_a_long_listing_counts_every_problem_and_shows_the_first_ones(tmp_path, capsys):
    """Past experiment.MAX_PROBLEMS the listing is cut with "... and N more"; its header
    counted that line as a problem of its own (26 for 30)."""
    spec = _change()
    spec["metrics"] = {**spec["metrics"], "summaries": [{"metric": f"nothing_{i}"} for i in range(30)]}
    assert main(["sweep", str(_write(tmp_path, spec)), "--dry-run"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("error: 30 problem(s) in ")
    assert len(lines) == 1 + experiment.MAX_PROBLEMS + 1 and lines[-1] == f"  - ... and {30 - experiment.MAX_PROBLEMS} more"


def test_a_misspelt_swept_path_is_not_blamed_on_the_chart_that_spells_it_right():
    """grid names rules.decision.cpa, the phase chart rules.decision.cap: one problem, on the
    grid; the chart's "did you mean 'rules.decision.cpa'?" would echo it and point the wrong way."""
    spec = _change(grid={"rules.coercion.strength": [0.0, 1.0], "rules.decision.cpa": [0.4, 1.0]})
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert [p for p, _ in info.value.problems] == ["grid.rules.decision.cpa"]


def test_a_sweep_folders_copy_run_from_there_says_where_its_scenarios_are(tmp_path, capsys):
    """`abm sweep DIR/experiment.yaml`: the copy keeps its scenario paths relative to the
    spec's own folder, so from DIR they are not found; the message names that folder and,
    however deep it lies, keeps the remedy (the message was cut at 200 characters, and the
    remedy came after the folder)."""
    tmp_path = tmp_path / ("deep_" * 20)
    (tmp_path / "specs").mkdir(parents=True)
    (tmp_path / "specs" / "mine.yaml").write_text(f"extends: {BASELINE}\nname: mine\n")
    spec = tiny_spec(scenario="mine.yaml", charts=[])
    sweep_dir = tmp_path / "runs" / "tiny"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "experiment.yaml").write_text(f"{experiment.PATHS_HEAD}{tmp_path / 'specs'}\n" + yaml.safe_dump(spec))
    assert main(["sweep", str(sweep_dir / "experiment.yaml"), "--dry-run"]) == 2
    assert f"scenario: mine.yaml: not found beside this copy of a sweep's spec; to run it, copy it to the folder its scenario paths are relative to, {tmp_path / 'specs'}\n" in capsys.readouterr().err
    assert experiment.load(sweep_dir / "experiment.yaml", base_dir=tmp_path / "specs").bases["mine"].scenario.name == "mine"


# --------------------------------------------------------------------------- samplers and plan


def _sampled(method: str, n: int | None, dims: int, **extra) -> experiment.Experiment:
    ranges = dict(list({"rules.coercion.strength": [0.0, 1.0], "rules.decision.cap": [0.3, 1.0], "offers.duration": [4, 13]}.items())[:dims])
    sample = {"method": method, "ranges": ranges, **extra} | ({"n": n} if n else {})
    under = {"rules.decay.name": "expiry"} if "offers.duration" in ranges else {}  # the decay rule that reads it
    return experiment.load(_change(grid={}, sample=sample, replications=1, charts=[], set=tiny_spec()["set"] | under))


@pytest.mark.parametrize(
    "method, n, dims, extra, points",
    [
        ("factorial", None, 2, {"levels": 3}, 9),  # levels ** D
        ("latin", 7, 3, {}, 7),  # n
        ("sobol", 8, 3, {}, 40),  # n * (D + 2)
        ("sobol", 8, 3, {"second_order": True}, 64),  # n * (2D + 2)
        ("morris", 5, 3, {"levels": 4}, 20),  # n * (D + 1)
    ],
)
def test_samplers_draw_the_documented_number_of_points(method, n, dims, extra, points):
    exp = _sampled(method, n, dims, **extra)
    assert len(exp.points) == points
    assert sensitivity.expected_points(method, n, dims, extra.get("levels", 4), extra.get("second_order", False)) == points
    values = pd.DataFrame([p.values for p in exp.points])
    assert values["rules.coercion.strength"].between(0.0, 1.0).all()
    if dims == 3:  # offers.duration is an integer setting: sampled values are rounded to integers
        assert all(isinstance(v, int) and 4 <= v <= 13 for v in values["offers.duration"])


@pytest.mark.parametrize("method, n", [("sobol", 64), ("latin", 200)])
def test_every_whole_number_in_a_sampled_range_is_as_likely(method, n):
    """Rounding uniform draws over [4, 13] gave 4 and 13 half the weight of 5 to 12, so
    the indices described that lopsided distribution (found by the audit of the
    sensitivity path)."""
    exp = _sampled(method, n, 3)
    counts = pd.Series([p.values["offers.duration"] for p in exp.points]).value_counts()
    assert sorted(counts.index) == list(range(4, 14))
    assert counts.min() >= 0.75 * counts.max()  # half the weight at the ends would give 0.5


@pytest.mark.parametrize("method", ["latin", "sobol", "morris"])
def test_a_whole_number_range_that_holds_none_is_refused_in_words(method):
    """[4.2, 4.8] holds no whole number: drawing it over whole numbers handed SALib
    reversed bounds, and a bare ValueError came out instead of the experiment's message
    (found by the review)."""
    sample = {"method": method, "n": 4, "ranges": {"offers.duration": [4.2, 4.8]}}
    with pytest.raises(experiment.ExperimentError, match="whole number"):
        experiment.load(_change(grid={}, sample=sample, replications=1, charts=[], set=tiny_spec()["set"] | {"rules.decay.name": "expiry"}))


def test_factorial_levels_are_evenly_spaced():
    exp = _sampled("factorial", None, 2, levels=3)
    assert sorted({p.values["rules.coercion.strength"] for p in exp.points}) == [0.0, 0.5, 1.0]
    assert sorted({p.values["rules.decision.cap"] for p in exp.points}) == pytest.approx([0.3, 0.65, 1.0])


def test_the_plan_is_deterministic_and_seeds_come_from_the_master_seed():
    a, b = experiment.load(tiny_spec()), experiment.load(tiny_spec())
    assert [r.key for r in a.runs] == [r.key for r in b.runs] and a.hash == b.hash
    assert len({r.key for r in a.runs}) == 12
    children = np.random.SeedSequence(11).spawn(3)
    assert a.seeds == [int(c.generate_state(1, dtype=np.uint64)[0]) >> 1 for c in children]
    more = experiment.load(tiny_spec(replications=5))
    assert more.seeds[:3] == a.seeds, "adding replications keeps the existing seeds"
    other = experiment.load(tiny_spec(seed=12))
    assert not set(other.seeds) & set(a.seeds)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"rules.decay.rate": 0.05, "offers.scale": np.float64(0.2)},
        {"events.x": {"date": __import__("datetime").date(2026, 3, 1), "type": "power_joins", "power": "russia"}, "a.b": [1, 2.5, None]},
        {"powers.eu.budget": {"trade": 1.0, "investment": 0.5}, "states.ge.name": "Sakartvelo / საქართველო", "z": True},
    ],
)
def test_run_keys_are_the_canonical_hash_of_base_params_and_seed(values):
    """A run's key is defined as the hash of {base, params, seed}; the plan writes a
    point's part once and appends each seed, which must give the same keys, or a resumed
    sweep would run again what it has stored."""
    seeds = [0, 7, 2**62 + 3, np.int64(123456789)]
    expected = [experiment.canonical_hash({"base": "f" * 64, "params": values, "seed": int(s)})[:16] for s in seeds]
    assert experiment.run_keys("f" * 64, values, seeds) == expected


def test_run_keys_follow_the_resolved_scenario_not_the_spelling(tmp_path):
    """The same resolved parameters give the same keys; a change in the base scenario changes them."""
    plain = experiment.load(tiny_spec())
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"extends": str(BASELINE), "time": {"steps": 4}}))
    via_extends = experiment.load(tiny_spec(scenario="child.yaml", set={}), base_dir=tmp_path)
    assert [r.key for r in via_extends.runs] == [r.key for r in plain.runs]
    changed = experiment.load(tiny_spec(set={"time.steps": 4, "rules.decay.rate": 0.05}))
    assert not {r.key for r in changed.runs} & {r.key for r in plain.runs}


def test_a_base_scenarios_parent_is_named_with_its_mistakes(tmp_path):
    (tmp_path / "mid.yaml").write_text(yaml.safe_dump({"extends": str(BASELINE), "sed": 1}))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"extends": "mid.yaml", "time": {"steps": 4}}))
    with pytest.raises(experiment.ExperimentError, match=r"child.yaml: sed \(in .*mid.yaml\): unknown key"):
        experiment.load(tiny_spec(scenario="child.yaml", set={}), base_dir=tmp_path)


def test_colours_and_map_positions_do_not_change_run_keys():
    """A power recoloured for a figure, or a state moved on the map, computes the same runs:
    the keys stay, so such a sweep still resumes (recolouring Israel had changed every key
    of every sweep of the baseline)."""
    plain = experiment.load(tiny_spec())
    drawn = experiment.load(tiny_spec(set={"time.steps": 4, "powers.israel.color": "#000000", "powers.russia.lat": 10.0, "states.armenia.lon": 1.0}))
    assert [r.key for r in drawn.runs] == [r.key for r in plain.runs]
    stronger = experiment.load(tiny_spec(set={"time.steps": 4, "powers.israel.capability": 0.5}))
    assert not {r.key for r in stronger.runs} & {r.key for r in plain.runs}


def test_a_resolved_base_written_again_elsewhere_keeps_its_run_keys(tmp_path):
    """A run's scenario.resolved.yaml records its command, machine and commit; none of
    that changes a run. The same file written again at another commit or on a cluster's
    node (its provenance changed, its values not) keeps its runs' keys, so a sweep over it
    resumes; a changed value still changes them."""
    from abm import runner
    from abm.scenario import load as load_scenario

    written = runner.run(load_scenario(BASELINE, ["time.steps=4"]), seed=0).write(tmp_path / "run") / "scenario.resolved.yaml"
    raw = yaml.safe_load(written.read_text())
    raw["provenance"] = {**raw["provenance"], "argv": ["abm", "run", "elsewhere"], "model": {"commit": "0" * 40, "dirty": True}, "platform": "another node"}
    (tmp_path / "again.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    raw["rules"]["decay"]["rate"] = 0.05
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    keys = {name: [r.key for r in experiment.load(tiny_spec(scenario=name, set={}), base_dir=tmp_path).runs] for name in (str(written), "again.yaml", "changed.yaml")}
    assert keys["again.yaml"] == keys[str(written)]
    assert not set(keys["changed.yaml"]) & set(keys[str(written)])


def test_a_scenario_whose_states_are_reordered_is_another_scenario(tmp_path):
    """The order of states (and powers, corridors, shocks) sets array indices and the order
    of draws, so reordered states give other runs: they must have other keys, or two such
    scenarios in one sweep would share runs, and a resume after reordering would mix them."""
    raw = yaml.safe_load(BASELINE.read_text())
    raw["states"] = dict(reversed(raw["states"].items()))
    (tmp_path / "reordered.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    spec = _change(scenario=None, scenarios={"original": str(BASELINE), "reordered": "reordered.yaml"}, grid={}, charts=[])
    exp = experiment.load(spec, base_dir=tmp_path)
    assert exp.distinct_runs == len(exp.runs)
    from abm import runner

    original, reordered = (runner.run(b.scenario, seed=exp.seeds[0], tables=False).model["fragmentation"].iloc[-1] for b in exp.bases.values())
    assert original != reordered  # the premise: the order changes the run
    assert "states: order armenia" in "\n".join(experiment.differences(exp.bases["original"].scenario.to_dict(), exp.bases["reordered"].scenario.to_dict()))


def test_series_all_keeps_the_metrics_every_scenario_produces(tmp_path):
    """A scenario with an extra subregion has extra metrics; 'all' keeps only the shared ones,
    and naming an extra one explicitly is an error that says which scenario lacks it."""
    (tmp_path / "caspian.yaml").write_text(yaml.safe_dump({"extends": str(BASELINE), "states": {"azerbaijan": {"subregion": "caspian"}}}))
    spec = _change(scenario=None, scenarios={"baseline": str(BASELINE), "caspian": "caspian.yaml"}, grid={}, charts=[], metrics={"series": "all"})
    exp = experiment.load(spec, base_dir=tmp_path)
    assert "fragmentation_caspian" in exp.bases["caspian"].metrics
    assert "fragmentation_caspian" not in exp.series and "fragmentation_south_caucasus" in exp.series
    spec["metrics"] = {"series": ["fragmentation_caspian"]}
    with pytest.raises(ExperimentError, match="metric 'fragmentation_caspian' is not produced by scenario\\(s\\) baseline"):
        experiment.load(spec, base_dir=tmp_path)


def test_grid_values_may_be_labelled_mappings():
    spec = _change(grid={"rules.decision": {"cautious": {"name": "hedging", "cap": 0.3}, "open": {"name": "threshold"}}}, charts=[])
    exp = experiment.load(spec)
    assert [p.labels["rules.decision"] for p in exp.points] == ["cautious", "open"]
    assert exp.points[0].sets == ("rules.decision={name: hedging, cap: 0.3}",)


# --------------------------------------------------------------------------- summaries


FRAME = pd.DataFrame(
    {
        "date": ["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01", "2026-01-01"],
        "x": [0.1, 0.4, 0.2, 0.7, 0.5],
    }
)


@pytest.mark.parametrize(
    "summary, expected",
    [
        ({"stat": "final"}, 0.5),
        ({"stat": "mean"}, 0.38),
        ({"stat": "mean", "last": 2}, 0.6),
        ({"stat": "mean", "window": ["2025-04-01", "2025-10-01"]}, (0.4 + 0.2 + 0.7) / 3),
        ({"stat": "max", "window": ["2025-01-01", "2025-07-01"]}, 0.4),
        ({"stat": "min", "last": 3}, 0.2),
        ({"stat": "at", "date": "2025-08-15"}, 0.2),  # the value in force on that date
        ({"stat": "first_crossing", "threshold": 0.6}, 2025 + 273 / 365),  # 1 October 2025
        ({"stat": "first_crossing", "threshold": 0.15, "direction": "below"}, 2025.0),
        ({"stat": "first_crossing", "threshold": 0.9}, float("nan")),  # never crossed
    ],
)
@pytest.mark.parametrize("form", ["frame", "arrays"])  # a sweep worker passes the columns as arrays
def test_summaries(summary, expected, form):
    frame = FRAME if form == "frame" else {c: FRAME[c].to_numpy() for c in FRAME.columns}
    (value,) = summarise(frame, [Summary.model_validate({"metric": "x", **summary})])
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(expected)


def test_summary_columns_are_named_after_metric_and_statistic():
    names = [Summary.model_validate(s).column for s in (
        {"metric": "integration", "stat": "at", "date": "2035-01-01"},
        {"metric": "fragmentation", "stat": "mean", "window": ["2030-01-01", "2035-01-01"]},
        {"metric": "fragmentation", "stat": "first_crossing", "threshold": 0.5},
        {"metric": "x", "name": "mine"},
    )]  # fmt: skip
    assert names == ["integration_2035", "fragmentation_mean_2030_2035", "fragmentation_first_above_0.5", "mine"]
    assert all(re.fullmatch(r"[\w.]+", n) for n in names)


def test_sweep_overrides_shrink_the_experiment_and_are_recorded(tmp_path, capsys):
    rules = ROOT / "experiments" / "rules.yaml"
    base = experiment.load(rules)
    small = experiment.load(rules, sets=["replications=1", "set.time.steps=8"])
    assert base.spec.replications > 1 and small.spec.replications == 1
    assert len(small.runs) == len(small.points) < len(base.runs)
    assert small.spec.set["time.steps"] == 8 and small.hash != base.hash
    assert small.spec.overrides == ["replications=1", "set.time.steps=8"]
    # the sweep's manifest carries them, and a resume must repeat them
    out = tmp_path / "out"
    assert main(["sweep", str(rules), "--set", "replications=1", "--set", "set.time.steps=8", "--out", str(out), "--workers", "1"]) == 0
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["overrides"] == ["replications=1", "set.time.steps=8"] and manifest["spec"]["replications"] == 1
    # a mistyped field is one clear line, exit 2, nothing written
    bad = tmp_path / "bad"
    assert main(["sweep", str(rules), "--set", "replicatons=1", "--out", str(bad)]) == 2
    assert "did you mean 'replications'" in capsys.readouterr().err and not bad.exists()


def test_a_copied_spec_whose_values_left_its_overrides_is_refused(tmp_path, capsys):
    """A results folder's experiment.yaml copied and edited keeps its ``overrides:``;
    reports quote them, so values that no longer agree would misdescribe the design."""
    out = tmp_path / "out"
    assert main(["sweep", str(ROOT / "experiments" / "rules.yaml"), "--set", "replications=1", "--set", "set.time.steps=8", "--out", str(out), "--workers", "1"]) == 0
    kept = out / "experiment.yaml"
    assert experiment.load(kept, base_dir=ROOT / "experiments").spec.overrides == ["replications=1", "set.time.steps=8"]  # the folder's own copy agrees
    edited = yaml.safe_load(kept.read_text())
    edited["set"]["time.steps"] = 12
    (tmp_path / "copy.yaml").write_text(yaml.safe_dump(edited))
    with pytest.raises(experiment.ExperimentError) as caught:
        experiment.load(tmp_path / "copy.yaml", base_dir=ROOT / "experiments")
    assert caught.value.problems == [("overrides", "records --set set.time.steps=8, but the spec has set.time.steps: 12; the list records abm sweep --set and is not read: delete it from a spec edited by hand")]
    assert experiment.load(tmp_path / "copy.yaml", base_dir=ROOT / "experiments", sets=["set.time.steps=12"]).spec.set["time.steps"] == 12  # a new --set is recorded after it
    del edited["overrides"]
    (tmp_path / "copy.yaml").write_text(yaml.safe_dump(edited))
    assert experiment.load(tmp_path / "copy.yaml", base_dir=ROOT / "experiments").spec.set["time.steps"] == 12
    assert [p for p, _ in experiment.stale_overrides({"overrides": ["bogus"]})] == ["overrides"]
    # a later override of the whole mapping replaces what an earlier one set inside it
    assert experiment.stale_overrides({"overrides": ["set.time.steps=2", "set={time.steps: 3}"], "set": {"time.steps": 3}}) == []
    assert experiment.stale_overrides({"overrides": ["set={time.steps: 3}", "set.time.steps=2"], "set": {"time.steps": 2}}) == []


def test_an_override_into_a_list_item_is_taken_and_recorded(capsys):
    """--set charts.0.outcome or metrics.summaries.2.last sets a list item (set_path), but
    the record check walked mappings only and refused every such override as stale."""
    sets = ["set.time.steps=4", "metrics.summaries.2.last=4", "charts.0.metrics=[integration_final, fragmentation_mean_last4]"]
    exp = experiment.load(ROOT / "experiments" / "sensitivity.yaml", sets=sets)
    assert exp.spec.metrics.summaries[2].last == 4 and exp.spec.overrides == sets
    assert experiment.stale_overrides({"overrides": ["charts.0.outcome=divided"], "charts": [{"outcome": "divided"}]}) == []
    ranges = experiment.load(ROOT / "experiments" / "sensitivity.yaml", sets=["sample.ranges.rules.decay.rate=[0, 0.05]"]).spec.sample.ranges
    assert ranges["rules.decay.rate"] == (0.0, 0.05) and "rules" not in ranges  # a scenario path, one key, as under set:
    assert [p for p, _ in experiment.stale_overrides({"overrides": ["charts.1.outcome=divided"], "charts": [{"outcome": "divided"}]})] == ["overrides"]


@pytest.mark.parametrize("prefix, spec", [("", experiment.Spec), ("metrics.", experiment.Metrics)])
def test_every_experiment_field_has_a_row_in_the_spec_table(prefix, spec):
    text = (Path(__file__).resolve().parents[1] / "docs" / "experiments.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    missing = [f"{prefix}{field}" for field in spec.model_fields if not any(re.match(rf"\| `{re.escape(prefix + field)}[`.]", row) or f"/ `{prefix + field}`" in row for row in rows)]
    assert not missing, f"experiment fields without a row in docs/experiments.md: {missing}"


def test_an_axis_acts_where_some_point_selects_its_rule():
    """offers.duration is refused as an axis only where no point can let it act: swept
    with the decay rule that reads it, or with that rule set, it is a design like any."""
    crossed = experiment.load(_change(grid={"offers.duration": [4, 12], "rules.decay.name": ["exponential", "expiry"]}, charts=[]), base_dir=ROOT / "experiments")
    assert len(crossed.points) == 4
    under_expiry = experiment.load(_change(set={"time.steps": 4, "rules.decay.name": "expiry"}, grid={"offers.duration": [4, 12]}, charts=[]), base_dir=ROOT / "experiments")
    assert len(under_expiry.points) == 2


@pytest.mark.parametrize(("summary", "words"), [
    ({"metric": "integration", "stat": "at", "date": "2035-01-01"}, "`integration` in force on 2035-01-01 (at the last step dated on or before it)"),
    ({"metric": "integration", "stat": "first_crossing", "threshold": 0.6, "direction": "below"}, "decimal year of the first step with `integration` at or below 0.6 (blank if never)"),
    ({"metric": "fragmentation", "stat": "min", "window": ["2030-01-01", "2035-01-01"]}, "least value of `fragmentation` over the steps dated 2030-01-01 to 2035-01-01"),
])
def test_a_summary_says_in_words_what_its_column_holds(summary, words):
    from abm.experiment import Summary

    assert Summary.model_validate(summary).describe() == words


def test_a_missing_parameter_path_does_not_hide_another_values_problem(tmp_path, capsys):
    """A grid with an unknown path and a value out of range on another: the value showed
    only once the path was mended, the points being checked with all their values at once
    (newcomer review)."""
    spec = _change(grid={"rules.decision.cap": [0.5, 1.5], "rules.coercion.strenght": [0, 1]})
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(tmp_path / "exp.yaml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "grid.rules.coercion.strenght: no such setting" in err and "grid.rules.decision.cap: value 1.5: must be in (0, 1] (got 1.5)" in err


def test_a_swept_date_after_the_runs_end_is_refused_not_run_as_an_absence(tmp_path, capsys):
    """Sweeping a treaty's date to 2045 in runs that end in 2040 would run that point
    without the treaty and chart the absence as an effect of the date."""
    spec = {"name": "late", "scenario": str(Path(__file__).parents[1] / "configs" / "baseline.yaml"), "replications": 1,
            "grid": {"events.am_az_peace.date": ["2026-01-01", "2045-01-01"]},
            "metrics": {"summaries": [{"metric": "fragmentation", "stat": "final"}]}}
    path = tmp_path / "late.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "grid.events.am_az_peace.date: value '2045-01-01': events.am_az_peace dated 2045-01-01, after the run's end 2040-01-01; it will not fire" in err
    assert "2026-01-01" not in err
    path.write_text(yaml.safe_dump({**spec, "grid": {"events.am_az_peace.date": ["2026-01-01", "2039-10-01"]}}))
    assert main(["sweep", str(path), "--dry-run"]) == 0


def test_a_summary_metric_typo_is_one_problem_not_an_echo_in_every_chart(tmp_path, capsys):
    """'divison' in a summary made every chart naming 'division_final' a problem too, each
    told 'did you mean divison_final?', the typo itself."""
    spec = {"name": "typo", "scenario": str(Path(__file__).parents[1] / "configs" / "baseline.yaml"), "replications": 2,
            "grid": {"rules.coercion.strength": [0.0, 1.0]},
            "metrics": {"summaries": [{"metric": "divison", "stat": "final"}]},
            "charts": [{"type": "box", "metrics": ["division_final"], "by": "rules.coercion.strength"}]}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "error: 1 problem(s)" in err and "did you mean 'division'?" in err and "divison_final" not in err
    spec["metrics"]["summaries"][0]["metric"] = "division"
    spec["charts"][0]["metrics"] = ["divisoin_final"]  # a chart's own typo is still its problem
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert "charts.0.metrics: 'divisoin_final' is not a summary; summaries: division_final\n" in capsys.readouterr().err


def test_a_summary_with_its_window_reversed_is_one_problem_not_an_echo_in_charts_and_classes(tmp_path, capsys):
    """Its column is named by the reversed dates: a chart and a class naming the column
    meant were told 'is not a summary; summaries: fragmentation_mean_2028_2026', the
    broken name, as if it were the one to use."""
    spec = {"name": "window", "scenario": str(Path(__file__).parents[1] / "configs" / "baseline.yaml"), "replications": 2,
            "grid": {"rules.coercion.strength": [0.0, 1.0]},
            "metrics": {"summaries": [{"metric": "fragmentation", "stat": "mean", "window": ["2028-01-01", "2026-01-01"]}]},
            "outcomes": {"high": "fragmentation_mean_2026_2028 >= q50"},
            "charts": [{"type": "box", "metrics": ["fragmentation_mean_2026_2028"], "by": "rules.coercion.strength"}]}
    path = tmp_path / "window.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err == f"error: 1 problem(s) in {path}: metrics.summaries.0.window: the window ends before it starts (2028-01-01 > 2026-01-01)\n"


def test_a_swept_path_inside_another_is_refused(tmp_path, capsys):
    """grid: {rules.coercion.strength: [0, 1], rules.coercion: {weak: {...}}}: the mapping
    overwrote the strength at every point, so 'strength 1' ran as 0 under its label (and in
    the other key order the mapping's strength was lost)."""
    base = {"name": "overlap", "scenario": str(Path(__file__).parents[1] / "configs" / "baseline.yaml"), "replications": 1,
            "metrics": {"summaries": [{"metric": "fragmentation", "stat": "final"}]}}
    for grid in ({"rules.coercion.strength": [0.0, 1.0], "rules.coercion": {"weak": {"name": "punish", "strength": 0.0}}},
                 {"rules.coercion": {"weak": {"name": "punish", "strength": 0.0}}, "rules.coercion.strength": [0.0, 1.0]}):
        path = tmp_path / "overlap.yaml"
        path.write_text(yaml.safe_dump({**base, "grid": grid}, sort_keys=False))
        assert main(["sweep", str(path), "--dry-run"]) == 2
        assert "grid.rules.coercion.strength: lies inside grid.rules.coercion" in capsys.readouterr().err


def test_a_large_grid_is_checked_value_by_value_and_still_finds_a_bad_value(tmp_path, capsys, monkeypatch):
    """Every point of a grid was resolved whole to be checked (5 ms and 140 KB each: a
    100,000-run grid took 4.5 minutes and 7 GB for --dry-run). Above GRID_CHECKED points
    each value of each axis is checked in one point at least; a bad value is still found."""
    monkeypatch.setattr(experiment, "GRID_CHECKED", 4)
    checked = []
    build = experiment.build
    monkeypatch.setattr(experiment, "build", lambda *a, **k: checked.append(1) or build(*a, **k))
    spec = {"name": "wide", "scenario": str(Path(__file__).parents[1] / "configs" / "baseline.yaml"), "replications": 1,
            "grid": {"rules.decision.noise": [0.05, 0.1, 0.2], "rules.coercion.strength": [0.0, 0.5, 7.0]},
            "metrics": {"summaries": [{"metric": "fragmentation", "stat": "final"}]}}
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert "grid.rules.coercion.strength: value 7.0: must be in [0, 1]" in capsys.readouterr().err
    assert len(checked) <= 3 + 3  # not the 9 points


def test_a_single_summary_is_named_once_in_the_message():
    """With one summary, "did you mean 'x'? summaries: x" named it twice; the list alone
    answers. With two, the hint comes back (the test above)."""
    spec = _change(charts=[{"type": "box", "metrics": ["fragmentation_2025-10-01"]}])
    spec["metrics"] = {**spec["metrics"], "summaries": [{"metric": "fragmentation", "stat": "at", "date": "2025-07-01"}]}
    with pytest.raises(ExperimentError) as info:
        experiment.load(spec)
    assert info.value.problems == [("charts.0.metrics", "'fragmentation_2025-10-01' is not a summary; summaries: fragmentation_2025-07-01")]
