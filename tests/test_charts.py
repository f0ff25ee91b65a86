"""Charts a reviewer accepts: figures returned (written only when asked), one uncertainty
convention stated, index scales anchored at 0-1 unless zoomed, boxes that do not pool a
swept factor unseen, unequal steps drawn to scale, Sobol warnings, a legend that never
covers the title, time axes ticked by the dates convention, alignment bands that stack the
run's shares, and a region map that is honest about where the powers are."""

from __future__ import annotations

import math

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection, QuadMesh
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure

from abm import chartstyle, charts, compare, experiment, report, sweep
from abm.results import Results
from abm.runner import run
from abm.scenario import load

try:
    from tests.test_sweep import BASELINE, tiny_spec
except ImportError:
    from test_sweep import BASELINE, tiny_spec


@pytest.fixture(scope="module")
def uneven(tmp_path_factory):
    """A 3 x 2 grid whose first axis has unequal steps (0, 0.3, 1), 2 replications."""
    spec = tiny_spec(
        name="uneven",
        set={"time.steps": 2},
        grid={"rules.coercion.strength": [0.0, 0.3, 1.0], "rules.decision.cap": [0.4, 1.0]},
        replications=2,
        charts=[
            {"type": "timeseries", "metrics": ["fragmentation", "offers_accepted"], "by": "rules.coercion.strength"},
            {"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"},
            {"type": "box", "metrics": ["integration_mean_last2"], "by": "rules.decision.cap"},
            {"type": "timeseries", "metrics": ["fragmentation"], "by": "rules.coercion.strength", "zoom": True},
        ],
    )
    out = tmp_path_factory.mktemp("charts") / "uneven"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 12
    return out


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for f in [fig, *fig.subfigs] for t in f.texts)


def test_report_charts_are_figures_and_write_nothing(uneven):
    def files():  # SQLite's own -wal/-shm files come and go with reading; charts write none
        return {p for p in uneven.rglob("*") if not p.name.endswith(("-wal", "-shm"))}

    before = files()
    figures = [report.figure(uneven, k) for k in range(4)]
    assert all(isinstance(f, Figure) for f in figures)
    assert files() == before


def test_every_report_chart_states_the_uncertainty_convention(uneven):
    ts, ph, bx, _ = (report.figure(uneven, k) for k in range(4))
    assert chartstyle.UNCERTAINTY in texts(ts)
    assert "95% confidence interval" in texts(ph)
    assert "not a confidence interval" in texts(bx)  # boxes show runs, and say so


def test_index_scales_are_anchored_at_0_1_unless_zoomed(uneven):
    anchored, zoomed = report.figure(uneven, 0), report.figure(uneven, 3)
    frag, offers = anchored.subfigs[1].axes[0], anchored.subfigs[1].axes[1]
    assert frag.get_ylim() == (0.0, 1.0)
    assert offers.get_ylim() != (0.0, 1.0)  # a count has no natural range
    low, high = zoomed.subfigs[1].axes[0].get_ylim()
    assert (low, high) != (0.0, 1.0) and f"zoomed to {low:.3g}-{high:.3g}" in " ".join(texts(zoomed).split())  # as wrapped


def test_phase_cells_keep_the_spacing_of_unequal_steps(uneven):
    fig = report.figure(uneven, 1)
    mesh = next(c for c in fig.subfigs[1].axes[0].collections if isinstance(c, QuadMesh))
    xs = np.unique(mesh.get_coordinates()[..., 0].round(6))
    assert np.allclose(xs, [-0.15, 0.15, 0.65, 1.35])  # cells meet half-way between 0, 0.3, 1 (the narrowest 0.6 of the mean width: drawn to scale)
    assert fig.subfigs[1].axes[0].get_xlabel() == "coercion strength"  # words, not the config path
    assert mesh.norm.vmin == 0 and mesh.norm.vmax == 1
    assert "drawn to scale" in texts(fig) and "not to scale" not in texts(fig)


def test_the_phase_note_says_which_axes_are_drawn_to_scale():
    """A labelled axis (EU money as 'none', '0.5 bn', '2 bn') gets equal cells: the note
    once said 'numeric axes drawn to scale' whenever the other axis was numeric."""
    assert report.scale_note([("coercion strength", "scale"), ("EU money", "labels")]) == (
        "coercion strength drawn to scale (cells meet half-way between the swept values); EU money: one equal cell per level, not to scale")
    assert report.scale_note([("a", "scale"), ("b", "scale")]).startswith("a and b drawn to scale")
    assert report.scale_note([("a", "labels"), ("b", "labels")]) is None
    assert report.scale_note([("a", "steps"), ("b", "labels")]) == "a: one equal cell per level, not to scale (its steps are too unequal to draw to scale)"


def test_a_doubling_grid_gets_equal_cells_whose_numbers_do_not_overlap(tmp_path):
    """Drawn to scale, a doubling grid (0, 0.25, 0.5, 1, 2, 4) squeezed its first three
    values into cells narrower than their printed means, which ran into each other (a
    modeler's audit); its levels now get equal cells, labelled with their values."""
    levels = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    spec = tiny_spec(name="doubling", set={"time.steps": 2}, grid={"rules.allocation.intensity": levels, "rules.decision.cap": [0.5]}, replications=2,
                     charts=[{"type": "phase", "x": "rules.allocation.intensity", "y": "rules.decision.cap", "metric": "fragmentation_final"}])
    assert sweep.run(spec, tmp_path / "d", workers=1, progress=False).ok == 12
    fig = report.figure(tmp_path / "d", 0)
    ax = fig.subfigs[1].axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert np.allclose(np.unique(mesh.get_coordinates()[..., 0].round(6)), np.arange(7) - 0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.25", "0.5", "1", "2", "4"]
    assert "contest intensity: one equal cell per level, not to scale (its steps are too unequal" in " ".join(texts(fig).split())
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    assert len(boxes) == len(levels) and all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))  # each cell's number clear of the next


def test_boxes_are_split_by_the_swept_factor_they_would_pool(uneven):
    fig = report.figure(uneven, 2)
    ax = fig.subfigs[1].axes[0]
    assert len(ax.patches) == 2 * 3  # 2 caps x 3 coercion strengths, one box each
    legend = fig.subfigs[1].legends[0]
    assert legend.get_title().get_text() == "coercion strength"
    assert [t.get_text() for t in legend.get_texts()] == ["0", "0.3", "1"]
    # each mean in its level's colour: a box of runs that barely differ is a flat black bar (a modeler's audit)
    means = [line for line in ax.lines if line.get_marker() == "D"]
    assert len(means) == 2 * 3
    keys = [matplotlib.colors.to_hex(patch.get_facecolor()) for patch in legend.get_patches()]
    assert [matplotlib.colors.to_hex(line.get_markerfacecolor()) for line in means] == [k for k in keys for _ in range(2)]


def test_report_charts_name_metrics_and_summaries_in_words_as_compare_does(uneven):
    """A phase chart was titled "fragmentation_final by coercion strength ...", axes and
    difference panels named summaries by their ids, while abm compare named the same metric
    in words: both name them by chartstyle.metric_label."""
    ts, ph, bx, _ = (report.figure(uneven, k) for k in range(4))
    diff = report.figure(uneven, {"type": "difference", "metrics": ["fragmentation_final", "integration_mean_last2"], "by": "rules.coercion.strength", "against": 0.0})
    for fig in (ts, ph, bx, diff):
        seen = texts(fig) + "".join(t for ax in fig.axes for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
        assert not any(name in seen for name in ("fragmentation_", "integration_", "offers_")), seen
    assert "fragmentation, final, by coercion strength and hedging cap" in texts(ph)
    assert "mean of fragmentation, final\n(index, 0-1)" in [ax.get_ylabel() for ax in ph.axes]  # the colour bar
    assert bx.subfigs[1].axes[0].get_ylabel() == "integration, mean of the last 2 steps\n(index, 0-1)"
    assert "fragmentation, offers accepted over time by coercion strength" in texts(ts)
    assert [ax.get_title() for ax in diff.subfigs[1].axes] == ["fragmentation, final", "integration, mean of the last 2 steps"]
    offers = ts.subfigs[1].axes[1].get_ylabel()
    assert offers == "offers accepted\n(offers per step)"
    dates = pd.to_datetime(["2025-01-01", "2025-04-01"])
    series = pd.DataFrame({"scenario": ["a"] * 4 + ["b"] * 4, "seed": [0, 0, 1, 1] * 2, "date": list(dates) * 4, "offers_accepted": np.arange(8.0)})
    assert compare.overlay_chart(series, ["offers_accepted"]).axes[0].get_title() == offers.split("\n")[0]
    assert compare.difference_chart(series, ["offers_accepted"]).axes[0].get_title() == "offers accepted: scenario - a"


@pytest.mark.parametrize("summary, words", [
    ({"metric": "fragmentation_south_caucasus", "stat": "final"}, "fragmentation south caucasus, final"),
    ({"metric": "fragmentation", "stat": "at", "date": "2035-01-01"}, "fragmentation, 2035-01-01"),
    ({"metric": "fragmentation", "stat": "at", "date": "2035-06-30"}, "fragmentation, 2035-06-30"),
    ({"metric": "coercion_events", "stat": "mean"}, "coercion events, mean over the run"),
    ({"metric": "integration", "stat": "min", "last": 8}, "integration, minimum of the last 8 steps"),
    ({"metric": "offers_accepted", "stat": "max", "window": ["2030-01-01", "2035-12-31"]}, "offers accepted, maximum 2030-2035"),
    ({"metric": "division_central_asia", "stat": "first_crossing", "threshold": 0.35, "direction": "below"}, "division central asia, first at or below 0.35"),
    ({"metric": "mean_dependency_hhi", "stat": "final"}, "mean dependency hhi, final"),
    ({"metric": "fragmentation", "stat": "final", "name": "sc_split"}, "sc split"),
])
def test_a_summary_is_named_in_words_by_its_metric_and_statistic(summary, words):
    declared = experiment.Summary.model_validate(summary)
    assert chartstyle.metric_label(declared.column) == words
    assert chartstyle.metric_label(declared.column, [declared]) == words  # a report, which knows the declaration, words it alike


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """A 2 x 2 grid, 1 replication, whose summary of integration's mean is named
    ``integration_final``: a name that ends like a statistic it is not."""
    spec = tiny_spec(
        name="named",
        set={"time.steps": 2},
        replications=1,
        metrics={"series": ["integration"], "summaries": [{"metric": "integration", "stat": "mean", "name": "integration_final"}]},
        charts=[
            {"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "integration_final"},
            {"type": "box", "metrics": ["integration_final"], "by": "rules.decision.cap"},
        ],
    )
    out = tmp_path_factory.mktemp("charts") / "named"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 4
    return out


def test_a_summary_named_like_a_statistic_is_named_as_written_not_as_that_statistic(named):
    """``name: integration_final`` on a mean was labelled "integration, final", a value it
    does not hold: the report words a summary from its declaration, and a name of its own
    as the user wrote it."""
    ph, bx = report.figure(named, 0), report.figure(named, 1)
    assert "integration final, by coercion strength and hedging cap" in texts(ph)
    assert "mean of integration final\n(index, 0-1)" in [ax.get_ylabel() for ax in ph.axes]  # the colour bar
    assert bx.subfigs[1].axes[0].get_ylabel() == "integration final\n(index, 0-1)"
    assert "integration, final" not in texts(ph) + texts(bx)
    assert chartstyle.metric_label("integration_final", Results(named).summaries_spec) == "integration final"
    assert chartstyle.metric_label("integration_final") == "integration, final"  # no declaration (a model metric's name): read from the ending


def test_no_metric_of_the_model_is_read_as_a_summary():
    names = load(BASELINE).metric_names()
    assert [chartstyle.metric_label(m) for m in names] == [m.replace("_", " ") for m in names]


@pytest.fixture(scope="module")
def two_bases(tmp_path_factory):
    """A 2 x 2 grid run in two base scenarios (baseline and no_peace), 2 replications, with
    a first_crossing summary."""
    spec = tiny_spec(
        name="two_bases",
        scenario=None,
        scenarios={"baseline": str(BASELINE), "no_peace": str(BASELINE.parent / "no_peace.yaml")},
        set={"time.steps": 2},
        replications=2,
        charts=[
            {"type": "timeseries", "metrics": ["fragmentation"], "by": "rules.coercion.strength"},
            {"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"},
            {"type": "box", "metrics": ["fragmentation_final"], "by": "rules.decision.cap"},
        ],
    )
    del spec["scenario"]
    spec["metrics"]["summaries"].append({"metric": "fragmentation", "stat": "first_crossing", "threshold": 0.0})
    out = tmp_path_factory.mktemp("charts") / "two_bases"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 16
    return out


def test_a_chart_that_averages_over_base_scenarios_says_so(two_bases):
    """Every point of the grid runs in both bases: a phase cell or a line by one parameter
    averages baseline and no_peace runs, which the note must name as it names a pooled
    parameter; a box chart splits its boxes by the base instead of pooling it."""
    ts, ph, bx = (report.figure(two_bases, k) for k in range(3))
    assert "pooled over hedging cap, scenario" in " ".join(texts(ts).split())
    assert "reach every date" not in texts(ts)  # both bases keep the same calendar
    assert "pooled over scenario" in " ".join(texts(ph).split())
    cells = report.phase_cells(report.ReportContext(Results(two_bases)), report.CHARTS["phase"].model_validate(Results(two_bases).manifest["charts"][1]))
    assert (cells["valued"] == 4).all() and (cells["n"] == 2).all()  # 2 replications x 2 bases in every cell; the interval over the 2 seeds each base's runs share
    legend = bx.subfigs[1].legends[0]
    assert legend.get_title().get_text() == "coercion strength" and "pooled over scenario" in " ".join(texts(bx).split())


def test_runs_of_other_calendars_meet_on_their_dates_not_their_steps(tmp_path):
    """Pooled over a 2025 and a 2020 start, a line by decision cap shows each run's value at
    its own dates (step 0 of the 2025 run at 2025-01-01, not averaged into 2020-01-01),
    stops between the two periods and says that not every run reaches every date."""
    spec = tiny_spec(
        name="calendars",
        scenarios={"baseline": str(BASELINE), "start_2020": str(BASELINE.parent / "start_2020.yaml")},
        set={"time.steps": 2},
        grid={"rules.decision.cap": [0.4, 1.0]},
        replications=1,
        charts=[{"type": "timeseries", "metrics": ["integration"], "by": "rules.decision.cap"}],
    )
    del spec["scenario"]
    out = tmp_path / "calendars"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 4
    res = Results(out)
    series = res.series(["integration"], with_params=True)
    fig = report.figure(out, 0)
    line = fig.subfigs[1].axes[0].get_lines()[0]  # decision cap 0.4
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    drawn = dict(zip(np.round(x[~np.isnan(x)]), y[~np.isnan(x)]))
    for date in ("2020-01-01", "2025-01-01", "2025-07-01"):
        expected = series[(series["rules.decision.cap"] == 0.4) & (series["date"] == date)]["integration"]
        assert len(expected) == 1 and drawn[round(chartstyle.date_numbers([date])[0])] == pytest.approx(expected.item()), date
    assert len(drawn) == 6 and np.isnan(x).sum() == 1  # 3 dates of each run, and a break between them
    assert "each date averages the runs that reach it" in " ".join(texts(fig).split())


def test_parameters_of_two_powers_get_two_labels():
    """Swept side by side (docs/experiments.md's discovery sweeps three budgets), the same
    setting of two powers must not share a label on an axis or in a legend."""
    china, eu = chartstyle.label("powers.china.budget.investment"), chartstyle.label("powers.european_union.budget.investment")
    assert (china, eu) == ("china investment budget", "european union investment budget")
    assert chartstyle.label("states.armenia.opinion.russia") == "armenia opinion russia"
    assert chartstyle.label("shocks.iran_strike.hazard") == "iran strike hazard"
    # a rule's parameter by the title its rule declares, as the prose and the dashboard name it (a teacher's audit)
    assert [chartstyle.label(f"rules.{p}") for p in ("decision.cap", "allocation.intensity", "decision.noise", "coercion.strength")] == ["hedging cap", "contest intensity", "decision noise", "coercion strength"]


def test_summary_md_gives_years_to_the_quarter_and_says_when_a_mean_leaves_runs_out(two_bases, tmp_path):
    """A decimal year 2026.25 is not printed as "2026", and a point where one of two runs
    never crossed the threshold shows the other run's year with "(1 of 2 runs)", not as
    the mean of the point."""
    import shutil
    import sqlite3
    from contextlib import closing

    copy = tmp_path / "partial"
    shutil.copytree(two_bases, copy)
    res = Results(copy)
    column = next(c for c in res.summary_columns if "first" in c)
    first = res.runs.sort_values(["point", "replication"])
    with closing(sqlite3.connect(copy / "results.sqlite")) as conn, conn:
        conn.execute(f'UPDATE summaries SET "{column}" = 2026.25')
        conn.execute(f'UPDATE summaries SET "{column}" = NULL WHERE run = ?', (first["run"].iloc[0],))
    table = report.summary_table(Results(copy))
    assert table[f"{column}_n"].tolist() == [1] + [2] * 7 and (table["runs_ok"] == 2).all()
    assert report.make(copy).problems == []
    md = (copy / "report" / "summary.md").read_text()
    assert "| 2026.25 (1 of 2 runs) |" in md and "| 2026.25 ± 0 |" in md and "| 2026 " not in md
    assert "1 run(s) without a value" in " ".join(texts(report.figure(copy, {"type": "box", "metrics": [column], "by": "scenario"})).split())


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_legend_never_covers_the_title(uneven):
    fig = report.figure(uneven, 0)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    title = [t.get_window_extent(renderer) for t in fig.subfigs[0].texts]
    legend = fig.subfigs[1].legends[0].get_window_extent(renderer)
    assert not any(overlaps(legend, t) for t in title)
    panels = [ax.get_window_extent(renderer) for ax in fig.subfigs[1].axes]
    assert not any(overlaps(legend, p) for p in panels)


@pytest.mark.parametrize("n_states", [8, 40])
def test_the_alignment_chart_says_which_states_it_shows_and_keeps_its_caption_clear(n_states):
    """A world of more than 24 states was drawn as its first 24 under a title that said
    'each state', and in that tall figure the caption, placed at a fraction of the height,
    ran into the first row of panel titles."""
    r = run("configs/generated.yaml", steps=2, sets=[f"generated.n_states={n_states}"])
    fig = charts.alignment_chart(r.agents, r.scenario, events=r.events)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == min(n_states, charts.PANELS)
    assert ("(the first 24 of 40 states)" in fig._suptitle.get_text()) == (n_states > charts.PANELS)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    top = [fig._suptitle.get_window_extent(renderer), *(t.get_window_extent(renderer) for t in fig.texts)]
    titles = [ax.title.get_window_extent(renderer) for ax in drawn]
    assert not any(overlaps(a, b) for a in top for b in titles)


def test_a_title_naming_many_overrides_is_wrapped_inside_the_chart_and_clear_of_the_rest():
    """The fragmentation chart's and the map's titles ran off both edges when they named
    a few --set overrides (found by a provenance audit)."""
    sets = ["rules.decision.name=bandwagon", "powers.china.budget.investment=4", "powers.russia.budget.security=2", "rules.decay.name=expiry", "offers.duration=6",
            "powers.turkey.budget.trade=1", "powers.iran.budget.trade=1", "powers.japan.budget.investment=2", "powers.india.budget.trade=1"]
    r = run(BASELINE, steps=2, sets=sets)
    sets = [*sets, "description=two\nlines"]  # a newline of a value stays on the title's line
    for fig in (charts.alignment_chart(r.agents, r.scenario, events=r.events, overrides=sets), charts.fragmentation_chart(r.model, r.scenario, overrides=sets),
                charts.region_map(r.agents, r.scenario, relations=r.relations, overrides=sets)):
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        title = fig._suptitle.get_window_extent(renderer)
        assert "description=two lines" in " ".join(fig._suptitle.get_text().split()) and 0 <= title.x0 and title.x1 <= fig.bbox.width
        others = [t.get_window_extent(renderer) for t in fig.texts if t is not fig._suptitle] + [ax.get_window_extent(renderer) for ax in fig.axes if ax.axison]
        others += [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts if t.get_text()]  # the map's power labels, above its frame
        assert not any(overlaps(title, b) for b in others)


@pytest.mark.parametrize("config", sorted(p.name for p in BASELINE.parent.glob("*.yaml")))
def test_no_power_is_drawn_in_grey(config):
    """Israel was drawn in tab:gray beside the light grey band of the partners the model
    does not name, and like the map's grey tie samples; generated worlds took tab10's grey
    for their eighth power."""
    scenario = load(BASELINE.parent / config)
    for power, colour in charts.power_colors(scenario).items():
        r, g, b = to_rgba(colour)[:3]
        assert max(r, g, b) - min(r, g, b) > 0.2, f"{config}: {power} is drawn in a grey ({colour})"


def test_a_generated_world_draws_each_of_up_to_twenty_powers_in_its_own_colour_not_grey():
    """Powers k and k + 10 took one colour; an eleventh power must not recolour the first ten."""
    colours = {n: list(charts.power_colors(load(BASELINE.parent / "generated.yaml", [f"generated.n_powers={n}"])).values()) for n in (10, 11, 20)}
    assert len(set(colours[10])) == 10 and len(set(colours[20])) == 20
    assert colours[11][:10] == colours[20][:10] == colours[10]
    assert all(max(rgb := to_rgba(c)[:3]) - min(rgb) > 0.1 for c in colours[20])  # tab20's greys (no tint at all) are replaced


def test_the_alignment_chart_tells_apart_every_power_of_a_large_generated_world():
    """Hatches were cycled three times (30), so a world of 31 or more powers (200 are
    allowed) crashed the run's charts, and the run wrote nothing; and as colours and
    hatches both cycled by 10, powers k and k + 10 were drawn alike."""
    r = run(load(BASELINE.parent / "generated.yaml", ["generated.n_states=4", "generated.n_powers=35"]), steps=2)
    fig = charts.alignment_chart(r.agents, r.scenario)
    bands = [(to_hex(c.get_facecolor()[0]), c.get_hatch() or "") for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 36 and len(set(bands[:35])) == 35  # the powers, then the unnamed partners
    keys = [(to_hex(h.get_facecolor()), h.get_hatch() or "") for h in fig.legends[0].legend_handles[:36]]
    assert keys == bands  # each label beside its own band


def test_a_state_with_no_modelled_patron_is_grey_on_the_map(baseline_run):
    """argmax of a row of zeros is 0: such a state was coloured as the first power's client."""
    r = baseline_run
    last = r.agents[r.agents["step"] == r.agents["step"].max()]
    cut = r.agents.copy()
    cut.loc[cut.index.isin(last.index) & (cut["state"] == "turkmenistan"), [f"alignment_{p}" for p in r.scenario.powers]] = 0.0
    fig = charts.region_map(cut, r.scenario)
    colours = dict(zip(r.scenario.states, (to_hex(c) for c in fig.axes[0].collections[0].get_facecolor())))
    mine = charts.power_colors(r.scenario)
    assert colours["turkmenistan"] == charts.OTHER_COLOR
    assert all(colours[k] in mine.values() for k in r.scenario.states if k != "turkmenistan")


def test_every_metric_of_the_baseline_has_a_unit():
    """An axis that says "model units" says nothing; division (an index, 0-1) said it, and
    its scale was then not anchored at 0-1."""
    names = load(BASELINE).metric_names()
    assert "division_south_caucasus" in names
    assert [m for m in names if chartstyle.unit(m) == "model units"] == []


def test_the_ensemble_fan_chart_gives_every_panel_its_unit(baseline_run):
    from abm.runner import ensemble

    other = run("configs/baseline.yaml", seed=4, steps=12)
    fig = charts.ensemble_chart(ensemble([baseline_run.model, other.model]), baseline_run.scenario)
    panels = {ax.get_title(): ax.get_ylabel() for ax in fig.axes if ax.get_visible()}
    assert panels["division"] == "index, 0-1" and panels["influence russia"] == "mean share of each state's ties, 0-1"
    assert all(panels.values())


def test_the_fan_charts_spread_of_runs_stays_visible_under_a_wider_interval(baseline_run):
    """With 5 seeds the 95% CI of the mean (t, 4 degrees of freedom) can be wider than the
    runs' 5-95% spread, and its dark band covered the light one: the spread's edges are
    drawn on top, as lines at the 5th and 95th percentiles."""
    from abm.runner import ensemble

    spread = ensemble([baseline_run.model, run("configs/baseline.yaml", seed=4, steps=12).model])
    ax = charts.ensemble_chart(spread, baseline_run.scenario).axes[0]  # fragmentation
    part = spread[spread["metric"] == "fragmentation"]
    drawn = [line.get_ydata() for line in ax.get_lines()]
    for column in ("p05", "p95"):
        assert any(len(y) == len(part) and np.allclose(y, part[column]) for y in drawn)


def test_the_ensemble_fan_chart_shows_what_the_scenario_watches():
    # it drew the headline metrics only: a scenario about corridors had no corridor panel
    from abm.runner import ensemble

    runs = [run("configs/iran_strikes.yaml", seed=s, steps=6) for s in (0, 1)]
    fig = charts.ensemble_chart(ensemble([r.model for r in runs]), runs[0].scenario)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "fragmentation" and len(titles) == len(set(titles))
    assert [m.replace("_", " ") in titles for m in runs[0].scenario.watch] == [True] * 4


def test_zoom_fits_the_fan_chart_and_the_compare_chart_to_the_data(baseline_run, tmp_path, capsys):
    """Seeds move the headline indices by at most a hundredth and a half (s.d.), so on 0-1 the ensemble's and a
    comparison's bands were invisible, with no way to zoom from the command line."""
    from abm.cli import main
    from abm.runner import ensemble

    other = run("configs/baseline.yaml", seed=4, steps=12)
    spread = ensemble([baseline_run.model, other.model])
    anchored = [ax for ax in charts.ensemble_chart(spread, baseline_run.scenario).axes if ax.get_visible()]
    zoomed = [ax for ax in charts.ensemble_chart(spread, baseline_run.scenario, zoom=True).axes if ax.get_visible()]
    assert all(ax.get_ylim() == (0.0, 1.0) for ax in anchored)
    assert all(ax.get_ylim()[1] - ax.get_ylim()[0] < 0.5 and "scale zoomed to" in ax.get_title() for ax in zoomed)
    assert main(["run", str(BASELINE), "--seeds", "2", "--steps", "3", "--zoom", "--out", str(tmp_path / "r")]) == 0
    assert main(["run", str(BASELINE), "--steps", "3", "--zoom", "--out", str(tmp_path / "one")]) == 2  # one run draws no fan chart
    assert "--zoom only applies to the ensemble chart" in capsys.readouterr().err and not (tmp_path / "one").exists()
    assert main(["compare", str(BASELINE), "--seeds", "2", "--steps", "3", "--metrics", "fragmentation", "--zoom", "--out", str(tmp_path / "c")]) == 0
    assert "--zoom" in (tmp_path / "c" / "provenance.yaml").read_text()
    svg = (tmp_path / "c" / "compare.svg").read_text()
    assert "scale zoomed to" in svg


def test_summary_plus_minus_is_the_95_percent_interval(uneven):
    table = report.summary_table(Results(uneven))
    row = table.iloc[0]
    n = row["runs_ok"]
    expected = 12.706204736 * row["fragmentation_final_sd"] / math.sqrt(n)  # t(0.975, 1 df)
    assert n == 2 and row["fragmentation_final_ci95"] == pytest.approx(expected, rel=1e-6)


def test_summary_figures_keep_their_trailing_zeros():
    """summary.md printed 0.485 beside 0.4852 and ± 0.002 beside ± 0.0025: a column's
    precision seemed to vary with its values."""
    assert [report.significant(v, 4) for v in (0.485, 0.4852, 1234.0, 12.0, 0.0)] == ["0.4850", "0.4852", "1234", "12.00", "0"]
    assert [report.significant(v, 2) for v in (0.002, 0.0025, 0.1)] == ["0.0020", "0.0025", "0.10"]


def test_sobol_warnings_flag_what_a_small_sample_produces():
    clean = pd.DataFrame({"metric": "m", "parameter": ["a", "b"], "S1": [0.5, 0.2], "S1_conf": [0.05, 0.05], "ST": [0.6, 0.3], "ST_conf": [0.05, 0.05]})
    assert report.sobol_warnings(clean, 1024) == []
    noisy = pd.DataFrame({"metric": "m", "parameter": ["a", "b"], "S1": [1.2, 0.4], "S1_conf": [0.5, 0.1], "ST": [1.1, 0.2], "ST_conf": [0.5, 0.05]})
    notes = report.sobol_warnings(noisy, 16)
    assert any("small sample: N=16" in n for n in notes)
    assert any("above 1 (a)" in n for n in notes)
    assert any("S1 > ST (a, b)" in n for n in notes)
    # with two metrics, a warning says which metric's index it is about
    both = pd.concat([clean.assign(metric="calm"), noisy.assign(metric="wild")], ignore_index=True)
    notes = report.sobol_warnings(both, 1024)
    assert any("above 1 (wild: a)" in n for n in notes) and any("S1 > ST (wild: a, b)" in n for n in notes)


@pytest.fixture(scope="module")
def baseline_run():
    return run("configs/baseline.yaml", seed=3, steps=12)


def test_run_charts_return_figures_and_write_only_when_asked(baseline_run, tmp_path):
    r = baseline_run
    figs = [charts.alignment_chart(r.agents, r.scenario, events=r.events), charts.fragmentation_chart(r.model, r.scenario), charts.region_map(r.agents, r.scenario)]
    assert all(isinstance(f, Figure) for f in figs) and not list(tmp_path.iterdir())
    charts.region_map(r.agents, r.scenario, tmp_path / "map.png")
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]


def test_a_runs_charts_name_its_command_line_overrides(baseline_run, tmp_path):
    """A run made with --set drew charts titled as the plain scenario ("— baseline"), so
    its figures passed for the baseline's; every chart's title now names the overrides."""
    r = baseline_run
    r.model.to_csv(tmp_path / "model.csv", index=False)
    r.agents.to_csv(tmp_path / "agents.csv", index=False)
    overrides = ["rules.decision.name=bandwagon", "powers.china.budget.investment=4"]
    named = "baseline with rules.decision.name=bandwagon, powers.china.budget.investment=4"
    with pytest.MonkeyPatch.context() as mp:
        drawn = []
        mp.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
        charts.run_charts(tmp_path, r.scenario, overrides)
    spread = pd.DataFrame([{"step": s, "date": d, "metric": m, "mean": 0.5, "p05": 0.4, "p95": 0.6, "ci95_low": 0.45, "ci95_high": 0.55, "runs": 2}
                           for s, d in zip(r.model["step"], r.model["date"]) for m in ("fragmentation", "division", "integration", "influence_russia")])
    drawn.append(charts.ensemble_chart(spread, r.scenario, overrides=overrides))
    assert len(drawn) == 4
    for fig in drawn:
        assert named in " ".join(fig._suptitle.get_text().split()), fig._suptitle.get_text()  # wrapped to the chart's width
    plain = charts.fragmentation_chart(r.model, r.scenario)
    assert "— baseline, one run" in plain._suptitle.get_text()


def test_alignment_chart_says_it_is_one_seed_and_marks_events(baseline_run):
    r = baseline_run
    fig = charts.alignment_chart(r.agents, r.scenario, events=r.events)
    assert "One run, seed 3" in texts(fig)
    dashed = lambda ax: [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]  # noqa: E731
    # a state's panel is marked exactly when a logged event names it (drawn shocks included)
    named = set()
    for column in ("state", "target", "node", "states", "nodes"):
        if column in r.events:
            named |= {k for cell in r.events[column].dropna() for k in str(cell).split(";")}
    assert "kyrgyzstan" in named and set(r.scenario.states) - named  # the Kyrgyz-Tajik treaty; some state untouched
    for key, state in r.scenario.states.items():
        ax = next(ax for ax in fig.axes if ax.get_title() == state.name)
        assert bool(dashed(ax)) == (key in named), key
    assert "kg_tj_border_treaty" in texts(fig)


def test_alignment_chart_names_each_event_by_its_own_date_or_its_period(baseline_run):
    """The caption names a scheduled event by the date the scenario gives it (am_az_peace,
    2025-08-08), not by the end of the quarter in which the model applied it (2025-10);
    an event without a date of its own by its period."""
    import re

    caption = " ".join(texts(charts.alignment_chart(baseline_run.agents, baseline_run.scenario, events=baseline_run.events)).split())
    assert re.search(r"\b\d+ 2025-08-08 am_az_peace\b", caption) and re.search(r"\b\d+ 2025-03-13 kg_tj_border_treaty\b", caption), caption
    assert "2025-10 am_az_peace" not in caption


def test_the_alignment_charts_event_numbers_never_overprint():
    """Numbers of events less than a year apart shared one label, but labels further apart
    overprinted when the first was long: '2,4,7,8' on Azerbaijan's panel runs two years
    of the axis. Five events a quarter apart, then one 13 months on, are drawn here."""
    from tests.test_structure import baseline_with

    dates = ["2026-02-01", "2026-05-01", "2026-08-01", "2026-11-01", "2027-12-01"]
    extra = {f"crisis_{k}": {"type": "incident", "date": d, "power": "russia", "state": "kazakhstan", "opinion": -0.01} for k, d in enumerate(dates)}
    scenario = load(baseline_with(**extra))
    r = run(scenario, seed=3)
    fig = charts.alignment_chart(r.agents, scenario, events=r.events)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        numbers = [t for t in ax.texts if t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in numbers]
        assert not any(overlaps(a, b) for k, a in enumerate(boxes) for b in boxes[k + 1:]), [t.get_text() for t in numbers]
    kazakh = next(ax for ax in fig.axes if ax.get_title() == "Kazakhstan")
    assert len([t for t in kazakh.texts if t.get_text()]) >= 2  # later events keep labels of their own


def test_the_alignment_chart_lists_apart_the_events_it_marks_on_no_panel():
    """A strike on Iran or a US election concerns no state on the panels: the caption
    numbered them among the marked events, and no panel carried their numbers."""
    r = run(load(BASELINE), seed=3)
    caption = " ".join(texts(charts.alignment_chart(r.agents, r.scenario, events=r.events)).split())
    marked, unmarked = caption.split("Not marked, as they concern no state shown (routes, nodes): ")
    assert "us_election_2028 2028-11-07" in unmarked and "us_election" not in marked
    assert "kg_tj_border_treaty" in marked and "kg_tj_border_treaty" not in unmarked


@pytest.mark.parametrize(("start", "step", "name"), [("2025-01-01", 3, "2025Q3"), ("2025-01-01", 1, "2025Q1"), ("2024-10-01", 2, "2025Q1"), ("2025-02-01", 1, "2025-02 to 2025-04")])
def test_an_event_without_a_date_is_named_by_its_quarter(start, step, name):
    from tests.conftest import tiny_scenario

    scenario = load(tiny_scenario(time={"start": start, "steps": 12, "step_months": 3}))
    assert charts.period_name(scenario, step) == name


def _relation_lines(fig: Figure) -> np.ndarray:
    """The colours of the map's dashed neighbour lines."""
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection) and c.get_linestyle()[0][1] is not None]
    return lines.get_colors()


def test_the_region_map_draws_the_relations_of_its_step(baseline_run):
    """The map of 2040 drew the relations of 2025 (the scenario file's), under a 2040 title:
    Armenia and Azerbaijan hostile after their peace treaty. It now reads the run's own
    relations (relations.csv) at the map's step; without them it says they are the start's."""
    r = baseline_run
    table = r.relations
    start, end = table[table["step"] == 0], table[table["step"] == table["step"].max()]
    assert len(end) == len(start) > 0
    declared = {(k, o): rel.relation for k, spec in r.scenario.states.items() for o, rel in spec.neighbours.items()}
    assert all(declared.get((a, b), declared.get((b, a))) == v for a, b, v in zip(start["state"], start["neighbour"], start["relation"]))
    last = int(table["step"].max())
    friendly_then = table.assign(relation=np.where(table["step"] == last - 1, 1.0, -1.0))  # friendliest at one step only, hostile at every other
    assert np.allclose(_relation_lines(charts.region_map(r.agents, r.scenario, step=last - 1, relations=friendly_then)), to_rgba("tab:green", 0.9))
    assert np.allclose(_relation_lines(charts.region_map(r.agents, r.scenario, relations=friendly_then)), to_rgba("tab:red", 0.9))  # the last step's
    hostile_at_start = _relation_lines(charts.region_map(r.agents, r.scenario))
    assert not np.allclose(hostile_at_start, to_rgba("tab:green", 0.9))
    assert "friendly neighbours at the start" in _legend(charts.region_map(r.agents, r.scenario))
    assert "friendly neighbours" in _legend(charts.region_map(r.agents, r.scenario, relations=table))


def _legend(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_region_map_keeps_powers_off_the_map_and_labels_apart(baseline_run):
    r = baseline_run
    fig = charts.region_map(r.agents, r.scenario, relations=r.relations)
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    frame = ax.get_window_extent(renderer)
    power_marks = [c for c in ax.collections if c.get_transform() == ax.transAxes or c.get_offset_transform() == ax.transAxes]
    assert len(power_marks) == len(r.scenario.powers)
    for mark in power_marks:  # every power sits outside the longitude-latitude frame
        x, y = mark.get_offset_transform().transform(mark.get_offsets()[0])
        assert not (frame.x0 < x < frame.x1 and frame.y0 < y < frame.y1)
    names = {s.name for s in r.scenario.states.values()}
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text() in names]
    assert len(boxes) == len(names)
    assert not any(overlaps(a, b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "hostile neighbours" in labels and any(label.startswith("tie, 25%") for label in labels)


def test_alignment_chart_stacks_each_states_shares_in_power_order(baseline_run):
    """Band k of a state's panel runs from the sum of the shares of the powers before k to
    the sum up to k, step by step; each power keeps its colour and its own hatching. The
    last band, grey and named in the legend, is the partners the model does not name, so
    that the bands reach 1 (it was left white, unexplained: a fifth to a third of a
    state's ties)."""
    r = baseline_run
    fig = charts.alignment_chart(r.agents, r.scenario, events=r.events)
    powers, colors = list(r.scenario.powers), charts.power_colors(r.scenario)
    for key, spec in r.scenario.states.items():
        ax = next(ax for ax in fig.axes if ax.get_title() == spec.name)
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        shares = r.agents[r.agents["state"] == key][[f"alignment_{p}" for p in powers] + ["alignment_other"]].to_numpy()
        n = len(shares)
        assert len(bands) == len(powers) + 1 and n == 13
        for k, band in enumerate(bands):
            outline = band.get_paths()[0].vertices  # the lower edge forwards, then the upper edge backwards
            np.testing.assert_allclose(outline[:n, 1], shares[:, :k].sum(axis=1), atol=1e-12)
            np.testing.assert_allclose(outline[n:2 * n, 1][::-1], shares[:, :k + 1].sum(axis=1), atol=1e-12)
        np.testing.assert_allclose(bands[-1].get_paths()[0].vertices[n:2 * n, 1], 1.0, atol=1e-12)
        assert [to_hex(b.get_facecolor()[0]) for b in bands] == [to_hex(colors[p]) for p in powers] + [charts.OTHER_COLOR]
        assert len({b.get_hatch() for b in bands[:-1]}) == len(powers)  # told apart in grayscale too
    assert "other partners (not modelled)" in [t.get_text() for t in fig.legends[0].get_texts()]


@pytest.mark.parametrize(("first", "last", "labels"), [
    ("2025-01-01", "2040-01-01", ["2026", "2028", "2030", "2032", "2034", "2036", "2038", "2040"]),
    ("2020-04-01", "2027-01-01", ["2021", "2022", "2023", "2024", "2025", "2026", "2027"]),
    ("2000-01-01", "2050-01-01", ["2000", "2010", "2020", "2030", "2040", "2050"]),
    ("2025-01-01", "2025-10-01", ["2025-01", "2025-03", "2025-05", "2025-07", "2025-09"]),
    ("2024-07-01", "2026-04-01", ["2024-07", "2024-10", "2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04"]),
])
def test_time_axes_are_ticked_by_the_dates_convention(first, last, labels):
    ax = Figure().subplots()
    low, high = chartstyle.date_numbers([first, last])
    chartstyle.date_axis(ax, low, high)
    ticks = ax.xaxis.get_major_locator()()
    assert [ax.xaxis.get_major_formatter()(t) for t in ticks] == labels
    view = ax.get_xlim()
    assert view[0] < low and view[1] > high  # autoscaling's margins kept


def test_a_long_runs_alignment_chart_gives_its_caption_room_and_counts_what_it_does_not_list():
    """700 quarters drew some 230 events: the caption grew until the panels' height went
    negative (ValueError: bottom cannot be >= top) and abm run lost the computed run."""
    from abm.scenario import load

    scenario = load(BASELINE, ["time.steps=700"])
    result = run(scenario, seed=0)
    fig = charts.alignment_chart(result.agents, scenario, events=result.events)
    caption = next(t.get_text() for t in fig.texts if t.get_text().startswith("One run"))
    numbered, unmarked = " ".join(caption.split("\n")).split("Not marked")
    assert len(numbered.split(";")) == charts.CAPTION_EVENTS + 1 and numbered.endswith("more (events.csv). ")
    assert "iran_strike 2031Q1, 2035Q3" in unmarked  # the strikes on Iran, under one name
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    assert all(ax.get_position().height > 0.15 for ax in fig.axes)  # the panels keep their height
    for ax in fig.axes:  # a label absorbing 72 numbers ran across two panels and off the figure (a review)
        edge = ax.get_window_extent(renderer).x1
        drawn = [t.get_text() for t in ax.texts if t.get_text()]
        assert all(t.get_window_extent(renderer).x1 <= edge for t in ax.texts if t.get_text()), drawn
        assert all(text.count("…") <= 1 and len(set(text.split(","))) == len(text.split(",")) for text in drawn), drawn


def test_a_pooled_timeseries_band_is_taken_over_the_seeds(uneven):
    """Lines by coercion strength pool the two decision caps, whose runs of one seed share
    its draws: the band took every run as independent (n = 4 here). Each seed's runs are
    now averaged over the caps first, and n counts seeds; checked against pandas."""
    from abm.experiment import TimeseriesChart

    res = Results(uneven)
    chart = TimeseriesChart.model_validate({"type": "timeseries", "metrics": ["fragmentation"], "by": "rules.coercion.strength"})
    cells, _ = report.timeseries_cells(res, chart)
    series = res.series(["fragmentation"], with_params=True)
    per_seed = series.groupby(["rules.coercion.strength", "date", "seed"])["fragmentation"].mean()
    expected = per_seed.groupby(level=[0, 1]).agg(["count", "mean", lambda v: (v**2).mean()])
    expected.columns = ["n0", "mean0", "sq0"]
    got = cells.assign(date=pd.to_datetime(cells["date"])).set_index(["grp", "date"])[["n0", "mean0", "sq0"]]
    got.index.names = expected.index.names
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_dtype=False, rtol=1e-12)
    assert (cells["n0"] == 2).all() and (cells["reached"] == 4).all()  # 2 seeds, each of 2 runs (the caps)


AGREED = 0.17105265965299693  # seven runs of this value: numpy's s.d. of them is 3e-17


def test_runs_that_agree_have_no_spread_not_a_rounding_one():
    """Seven seeds with one value at the start of a run: the s.d. was 3e-17 (the mean off
    in its last bit), and compare.md printed "0.171 ± 2.8e-17" where others had ± 0.000."""
    from abm.runner import ensemble

    assert pd.Series([AGREED] * 7).std(ddof=1) > 0, "the premise: numpy's rounding"
    frame = pd.DataFrame({"g": [1] * 7 + [2] * 2, "x": [AGREED] * 7 + [1.0, 2.0], "y": [AGREED] * 9})
    assert chartstyle.sd(frame.loc[frame["g"] == 1, "x"]) == 0.0 and math.isnan(chartstyle.sd(pd.Series([AGREED])))
    by_group = chartstyle.sd(frame.groupby("g"))
    assert by_group.loc[1].tolist() == [0.0, 0.0] and by_group.loc[2, "x"] == pytest.approx(math.sqrt(0.5)) and by_group.loc[2, "y"] == 0.0
    assert chartstyle.sd(frame.groupby("g")["x"]).tolist() == [0.0, pytest.approx(math.sqrt(0.5))]
    assert chartstyle.sd(frame[frame["g"] == 2].head(1)[["x", "y"]]).isna().all()  # one run: no spread to estimate
    models = [pd.DataFrame({"step": [0, 1], "date": ["2025-01-01", "2025-04-01"], "m": [AGREED, float(k)]}) for k in range(7)]
    spread = ensemble(models)
    start = spread[spread["step"] == 0].iloc[0]
    assert start["sd"] == 0.0 and start["ci95_low"] == start["ci95_high"] == start["mean"]
    assert spread[spread["step"] == 1]["sd"].iloc[0] == pytest.approx(pd.Series(range(7)).std())
