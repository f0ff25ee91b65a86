"""Difference charts of a sweep report: paired differences from a reference level, checked
against an independent computation from the stored runs and against abm compare's own
pairing of runs made as abm compare makes them."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from abm import chartstyle as cs
from abm import compare, report, results, sweep
from abm.cli import main
from abm.experiment import DifferenceChart
from abm.runner import run
from abm.scenario import load as load_scenario

try:
    from tests.test_charts import texts
    from tests.test_sweep import BASELINE, reference, tiny_spec  # noqa: F401  (reference is a fixture)
except ImportError:
    from test_charts import texts
    from test_sweep import BASELINE, reference, tiny_spec  # noqa: F401

SCENARIOS = {"baseline": BASELINE, "no_peace": BASELINE.parent / "no_peace.yaml", "iran_strikes": BASELINE.parent / "iran_strikes.yaml"}
STEPS = 8  # the strike of iran_strikes fires in the fifth quarter (2026-01-15)
SUMMARIES = [{"metric": "integration", "stat": "final"}, {"metric": "fragmentation", "stat": "final"}, {"metric": "integration", "stat": "mean", "last": 2}]
CHART = {"type": "difference", "metrics": ["integration_final", "fragmentation_final"], "by": "scenario", "against": "baseline"}


def scenarios_spec(**changes) -> dict:
    """Three library scenarios, no grid, 4 replications of 8 quarters (12 runs)."""
    spec = tiny_spec(name="paired", scenarios={k: str(v) for k, v in SCENARIOS.items()}, set={"time.steps": STEPS}, grid={}, replications=4, charts=[CHART])
    spec["metrics"] = {"series": [], "summaries": SUMMARIES}
    del spec["scenario"]
    return spec | changes


def failing_baseline(scenario, seed):
    """Fails every baseline run (a sweep whose reference never finished)."""
    if scenario.name == "baseline":
        raise RuntimeError("injected failure for the test")
    return run(scenario, seed)


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    out = tmp_path_factory.mktemp("differences") / "paired"
    assert sweep.run(scenarios_spec(), out, workers=1, progress=False).ok == 12
    return out


def chart_of(spec: dict) -> DifferenceChart:
    return DifferenceChart.model_validate(spec)


def independent(table: pd.DataFrame, by: str, against, metric: str, within: list[str]) -> pd.DataFrame:
    """Paired differences with pandas and scipy from the wide per-run table: one column per
    level, one row per (seed, other factors), each run once; the interval over the seeds,
    each seed's differences averaged over the other factors first (they share its draws)."""
    wide = table.drop_duplicates("run").pivot_table(index=["seed", *within], columns=by, values=metric)
    rows = []
    for level in wide.columns.drop(against):
        pairs = (wide[level] - wide[against]).dropna()
        d = pairs.groupby(level="seed").mean()
        sem = stats.sem(d)  # 0 where a level never moves the summary: scipy has no interval for that
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sem) if sem > 0 else (d.mean(), d.mean())
        rows.append({by: level, "pairs": len(pairs), "seeds": len(d), "difference": d.mean(), "ci95_low": low, "ci95_high": high})
    return pd.DataFrame(rows)


def test_the_paired_differences_match_an_independent_computation(paired):
    res = results.load(paired)
    table = report.difference_table(report.ReportContext(res), chart_of(CHART))
    for metric in CHART["metrics"]:
        mine = table[table["metric"] == metric].reset_index(drop=True)
        theirs = independent(res.table(), "scenario", "baseline", metric, [])
        assert mine["scenario"].tolist() == ["no_peace", "iran_strikes"]  # the spec's order
        theirs = theirs.set_index("scenario").loc[mine["scenario"]].reset_index()
        assert (mine["pairs"] == 4).all() and (mine["unpaired"] == 0).all()
        pd.testing.assert_frame_equal(mine[theirs.columns], theirs, check_dtype=False, rtol=1e-12)
    assert (table["ci95_high"] > table["ci95_low"]).sum() >= 3  # the premise: differences that vary by seed (before its first strike iran_strikes is the baseline, run for run)


def test_the_paired_differences_are_abm_compares_for_the_same_runs(paired):
    """abm compare's pairing (compare.differences) of runs made as it makes them (the
    scenario files with runner.run), on the sweep's seeds: the same mean and interval. A
    final summary is the value at the last date, which compare takes at that date."""
    res = results.load(paired)
    seeds = sorted(res.runs["seed"].unique())
    frames = []
    for name, path in SCENARIOS.items():
        scenario = load_scenario(path, [f"time.steps={STEPS}"])
        frames += [run(scenario, seed=int(seed)).model.assign(scenario=name, seed=int(seed)) for seed in seeds]
    series = pd.concat(frames, ignore_index=True)
    last = series["date"].max()
    theirs = compare.differences(series, [str(last)], ["integration", "fragmentation"]).set_index(["metric", "scenario"])
    mine = report.difference_table(report.ReportContext(res), chart_of(CHART))
    mine = mine.assign(metric=mine["metric"].str.removesuffix("_final")).set_index(["metric", "scenario"])
    assert len(mine) == 4 and (theirs.loc[mine.index, "seeds"] == mine["pairs"]).all() and (theirs["reference"] == "baseline").all()
    for column in ("difference", "ci95_low", "ci95_high"):
        np.testing.assert_allclose(mine[column], theirs.loc[mine.index, column], rtol=1e-12)


def test_pairs_are_matched_within_the_other_swept_values(reference):
    """By decision cap, pooled over coercion strength: a pair is one seed at one strength
    (3 seeds x 2 strengths), never a run of one strength against the other's; the chart
    says what it pooled."""
    res = results.load(reference)
    spec = {"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0}
    mine = report.difference_table(report.ReportContext(res), chart_of(spec))
    theirs = independent(res.table(), "rules.decision.cap", 1.0, "fragmentation_final", ["rules.coercion.strength"])
    assert mine["pairs"].tolist() == [6] and mine["seeds"].tolist() == [3]
    pd.testing.assert_frame_equal(mine[theirs.columns], theirs, check_dtype=False, rtol=1e-12)
    wide = res.table().drop_duplicates("run").pivot_table(index=["seed", "rules.coercion.strength"], columns="rules.decision.cap", values="fragmentation_final")
    pairs = wide[wide.columns[0]] - wide[1.0]
    as_if_independent = 2 * stats.t.ppf(0.975, len(pairs) - 1) * stats.sem(pairs)  # the 6 pairs taken as 6 draws, as the report once did
    assert (mine["ci95_high"] - mine["ci95_low"]).iloc[0] != pytest.approx(as_if_independent)
    text = " ".join(t.get_text() for f in report.figure(reference, spec).subfigs for t in f.texts)
    assert "same seed and the same coercion strength" in " ".join(text.split())


def test_with_a_run_missing_the_difference_is_its_sides_means_and_the_intervals_centre(reference, tmp_path):
    """Pooled over coercion strength, one seed left with one pair of two (a run failed, or
    not run yet): the difference was the mean over the seeds, its sides' means the means
    over the pairs, so one row's difference was not level_mean - reference_mean."""
    import shutil

    copy = tmp_path / "partial"
    shutil.copytree(reference, copy)
    table = results.load(copy).table().drop_duplicates("run")
    gone = table[table["rules.decision.cap"] != 1.0]["run"].iloc[0]
    with closing(sqlite3.connect(copy / "results.sqlite")) as conn, conn:
        conn.execute("DELETE FROM summaries WHERE run = ?", (gone,))
        conn.execute("DELETE FROM runs WHERE run = ?", (gone,))
    spec = {"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0}
    row = report.difference_table(report.ReportContext(results.load(copy)), chart_of(spec)).iloc[0]
    assert row["pairs"] == 5 and row["seeds"] == 3
    wide = table[table["run"] != gone].pivot_table(index=["seed", "rules.coercion.strength"], columns="rules.decision.cap", values="fragmentation_final").dropna()
    seeds = wide.groupby(level="seed").mean()
    level = next(c for c in wide.columns if c != 1.0)
    assert row["level_mean"] == pytest.approx(seeds[level].mean(), rel=1e-12) and row["reference_mean"] == pytest.approx(seeds[1.0].mean(), rel=1e-12)
    assert row["difference"] == pytest.approx(row["level_mean"] - row["reference_mean"], rel=1e-9, abs=1e-15)
    assert row["difference"] == pytest.approx((row["ci95_low"] + row["ci95_high"]) / 2, rel=1e-9, abs=1e-15)


def test_a_long_note_on_a_narrow_chart_stays_above_the_panels(reference):
    """A one-panel chart pooled over another parameter wraps its note to seven lines,
    which ran over the panel's title: the head band now grows with the text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    spec = {"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0}
    fig = report.figure(reference, spec)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    head, body, _ = fig.subfigs
    note = head.texts[1]
    assert note.get_text().count("\n") >= 5, "the premise: a note of many lines"
    lowest_text = note.get_window_extent(renderer).y0
    highest_panel = max(ax.title.get_window_extent(renderer).y1 for ax in body.axes)
    assert lowest_text > highest_panel
    assert head.texts[0].get_window_extent(renderer).y1 <= fig.bbox.y1  # the title stays inside the figure


def test_the_report_draws_the_chart_and_lists_its_table(paired, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(paired), "--out", str(out)]) == 0
    stem = "difference_integration_final_fragmentation_final"
    assert {f"{stem}.png", f"{stem}.svg", f"{stem}.csv"} <= {p.name for p in out.iterdir()}
    table = pd.read_csv(out / f"{stem}.csv")
    assert list(table.columns[:3]) == ["metric", "scenario", "reference"] and len(table) == 4
    md = (out / "summary.md").read_text()
    assert f"![{stem}]({stem}.png)" in md and f"[{stem}.csv]({stem}.csv)" in md
    assert "| scenario | integration_final | fragmentation_final |" in md and "(n=4)" in md
    assert "not adjusted for the table's 4 cells" in md  # 2 scenarios x 2 metrics, each * one cell's own interval
    row = table[(table["metric"] == "integration_final") & (table["scenario"] == "no_peace")].iloc[0]
    cell = f"{cs.estimate(row['difference'], (row['ci95_high'] - row['ci95_low']) / 2, sign=True)}"
    assert f"| no_peace | {cell}" in md
    svg = " ".join((out / f"{stem}.svg").read_text().split())
    assert "Paired differences from scenario = baseline" in svg and "95% confidence interval" in svg and "SeedSequence(11).spawn(4)" in svg


def test_a_missing_reference_run_leaves_its_pairs_out_and_says_so(paired, tmp_path):
    import shutil

    copy = tmp_path / "partial"
    shutil.copytree(paired, copy)
    res = results.load(copy)
    gone = res.runs[res.runs["point"] == 0]["run"].iloc[0]  # a baseline run
    with closing(sqlite3.connect(copy / "results.sqlite")) as conn, conn:
        conn.execute("DELETE FROM summaries WHERE run = ?", (gone,))
        conn.execute("DELETE FROM runs WHERE run = ?", (gone,))
    table = report.difference_table(report.ReportContext(results.load(copy)), chart_of(CHART))
    assert (table["pairs"] == 3).all() and (table["unpaired"] == 1).all()
    text = " ".join(" ".join(t.get_text() for f in report.figure(copy, CHART).subfigs for t in f.texts).split())
    assert "3 pairs per level" in text and "left out (up to 1 per level and summary)" in text


def test_levels_that_share_no_seed_are_reported_not_drawn(tmp_path, capsys):
    out = tmp_path / "no_reference"
    assert sweep.run(scenarios_spec(replications=2), out, workers=1, runner=failing_baseline, progress=False).failed == 2
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no run of no_peace, iran_strikes shares its seed with a finished run of scenario = baseline: nothing to pair" in err
    assert not list((out / "report").glob("difference_*"))
    assert "## Charts not made" in (out / "report" / "summary.md").read_text()


def test_a_snapshot_reads_one_state_of_a_store_that_is_being_written(reference, tmp_path):
    """A report of a sweep still running read its run counts, summaries and per-state
    arrays in separate reads, with runs committed in between (a mean over 6 runs labelled
    3; an export indexed arrays by runs it had not listed). Inside snapshot() every read
    sees the state of the first."""
    import shutil

    copy = tmp_path / "running"
    shutil.copytree(reference, copy)
    path = copy / "results.sqlite"
    with closing(sqlite3.connect(path)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")  # as while a sweep writes: readers do not block it
        res = results.load(copy)
        ok = int((res.sql("SELECT status FROM runs")["status"] == "ok").sum())
        with res.snapshot():
            assert len(res.summaries) == ok
            writer.execute("DELETE FROM summaries WHERE run = (SELECT run FROM summaries LIMIT 1)")
            writer.commit()  # a commit between two reads of the report
            assert len(res.sql("SELECT run FROM summaries")) == ok and len(res.sql("SELECT run FROM runs")) == ok
        assert len(res.sql("SELECT run FROM summaries")) == ok - 1  # outside, the store as it now is


def test_the_axes_say_what_the_difference_is_from_and_each_tick_in_full(reference):
    """'difference from 1.0' read as 'from one'; the ticks of small differences carried a
    multiplier in the axis corner (1e-2) that a reader missed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    spec = {"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0}
    fig = report.figure(reference, spec)
    FigureCanvasAgg(fig).draw()
    ax = fig.subfigs[1].axes[0]
    assert ax.get_xlabel().startswith("difference from hedging cap = 1")
    assert ax.xaxis.get_offset_text().get_text() == ""
    shown = [(float(t.get_text().replace("\u2212", "-")), v) for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if t.get_text()]
    assert shown and all(abs(text - value) <= 1e-2 * abs(value) + 1e-12 for text, value in shown)  # the values themselves, not scaled


def test_swept_quantities_carry_their_units_on_the_axes():
    assert cs.axis_label("powers.china.budget.investment") == "china investment budget (USD bn per quarter)"
    assert cs.axis_label("corridors.middle_corridor.segments.0.capacity").endswith("(Mt per year)")
    assert cs.axis_label("states.armenia.neighbours.georgia.trade").endswith("(USD bn per year)")
    assert cs.axis_label("time.steps") == "time steps (quarters)"
    assert cs.axis_label("rules.decision.cap") == "hedging cap"  # an index has no unit


def test_a_long_parameter_label_fits_beside_a_panel_of_few_levels(reference, monkeypatch):
    """'eu investment budget (USD bn per quarter)' ran off the top and bottom of a panel of
    two levels; the label now wraps to the panel's height."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ctx = report.ReportContext(results.load(reference))
    monkeypatch.setattr(ctx, "group_axis", lambda by: "eu investment budget (USD bn per quarter)")
    chart = DifferenceChart.model_validate({"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0})
    fig = report.difference(ctx, chart)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    label = fig.subfigs[1].axes[0].yaxis.label
    box, page = label.get_window_extent(renderer), fig.bbox
    assert label.get_text().replace("\n", " ") == "eu investment budget (USD bn per quarter)"
    assert page.y0 <= box.y0 and box.y1 <= page.y1 and page.x0 <= box.x0


def test_a_summary_with_no_pair_is_left_out_of_the_chart_alone(paired, monkeypatch, capsys):
    """A summary no run reached (a threshold never crossed) has no pair at any level: its
    panel was drawn empty and the report exited 0. It is now left out, named in the
    chart's note and the report's problems, as sobol and morris leave out a metric."""
    real = report._run_values

    def never_reached(ctx, metric, columns):
        frame = real(ctx, metric, columns)
        return frame.assign(value=np.nan) if metric == "fragmentation_final" else frame

    monkeypatch.setattr(report, "_run_values", never_reached)
    ctx = report.ReportContext(results.load(paired))
    table = report.difference_table(ctx, chart_of(CHART))
    assert list(table.attrs["refused"]) == ["fragmentation_final"] and (table.loc[table["metric"] == "fragmentation_final", "pairs"] == 0).all()
    fig = report.difference(ctx, chart_of(CHART), table)
    drawn = [ax for ax in fig.subfigs[1].axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["integration, final"]
    assert "not drawn: fragmentation, final" in " ".join(texts(fig).split())
    assert main(["report", str(paired), "--out", str(paired / "gap_report")]) == 1
    assert "fragmentation_final: no pair has a value at any level" in capsys.readouterr().err
    assert "## Charts not made" in (paired / "gap_report" / "summary.md").read_text()


def test_a_level_without_pairs_in_one_panel_only_says_so_in_that_panel(paired, monkeypatch):
    """A level with pairs in one summary and none in another drew an empty row there,
    which read as a difference too small to see; its label says "(no pairs)" only when no
    panel has any."""
    real = report._run_values
    levels = list(scenarios_spec()["scenarios"])
    gone = levels[1]

    def unreached_in(ctx, metric, columns):
        frame = real(ctx, metric, columns)
        return frame.assign(value=np.where(frame["scenario"] == gone, np.nan, frame["value"])) if metric == "fragmentation_final" else frame

    monkeypatch.setattr(report, "_run_values", unreached_in)
    ctx = report.ReportContext(results.load(paired))
    fig = report.difference(ctx, chart_of(CHART))
    integration, fragmentation = (ax for ax in fig.subfigs[1].axes if ax.axison)
    assert [t.get_text() for t in integration.texts] == []
    marks = [t for t in fragmentation.texts if t.get_text() == "no pairs"]
    rows = {t.get_text(): y for t, y in zip(integration.get_yticklabels(), integration.get_yticks())}
    assert len(marks) == 1 and marks[0].get_position()[1] == rows[gone], rows  # on the row of the level without pairs
    assert not any("(no pairs)" in label for label in rows)


def test_a_level_with_no_pairs_is_not_counted_among_the_starred_cells(paired, tmp_path):
    """The * note counts the cells a reader could find starred; a level whose runs all
    failed (or have not run) has "no pairs" cells, which no interval can star."""
    import shutil

    copy = tmp_path / "partial"
    shutil.copytree(paired, copy)
    table = results.load(copy).table().drop_duplicates("run")
    gone = table[table["scenario"] == "no_peace"]["run"].tolist()
    with closing(sqlite3.connect(copy / "results.sqlite")) as conn, conn:
        conn.executemany("DELETE FROM summaries WHERE run = ?", [(r,) for r in gone])
        conn.executemany("DELETE FROM runs WHERE run = ?", [(r,) for r in gone])
    main(["report", str(copy), "--out", str(tmp_path / "report")])
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "no pairs" in md and "not adjusted for the table's 2 cells" in md  # 2 metrics x the one level with pairs


def test_a_cell_counts_its_pairs_and_seeds_in_words():
    chart = chart_of({"type": "difference", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "against": 1.0})
    table = pd.DataFrame({"rules.decision.cap": [0.5, 2.0], "metric": "fragmentation_final", "difference": [0.1, 0.2],
                          "ci95_low": [0.05, -0.1], "ci95_high": [0.15, 0.5], "pairs": [1, 3], "seeds": [2, 1]})
    md = report.difference_markdown(chart, table)
    assert "(1 pair, 2 seeds)" in md and "(3 pairs, 1 seed)" in md


def test_the_star_note_counts_only_cells_with_an_interval():
    """One seed gives a cell a mean and no interval: no * can mark it, and a note counting
    it among "the table's N cells" promised a 1-in-20 chance of stars it cannot have."""
    assert "not adjusted for the table's 1 cells" in cs.starred([0.1, np.nan])
    assert cs.starred([np.nan, np.nan]) == "no cell has an interval (one seed each), so none is starred"
