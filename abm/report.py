"""Reports of a sweep: a summary table (CSV and Markdown) and the charts its spec asks for;
and a calibration's charts (:func:`posterior_figures`), drawn to the same conventions.

Everything is read from the sweep directory alone (store and manifest), so a report can
be made on another machine, after the scenario files moved, or half-way through a sweep.
Series are aggregated in SQL (count, mean, mean of squares, min, max per group and
step), so memory does not grow with the number of runs.

Charts are meant to go into a paper as they are: a title, a line saying what the marks
mean (one uncertainty convention, :mod:`abm.chartstyle`), axis labels with units, metrics,
summaries and parameters in words, index scales anchored at 0-1 unless zoomed, a legend under the panels,
a categorical palette with line styles that survive grayscale printing, PNG (300 dpi) and
SVG, and a footer saying which experiment, how many runs and which seeds produced them.
Every chart function returns a matplotlib Figure and writes nothing; :func:`make` writes.
Sensitivity indices are computed only from complete designs: a missing or NaN output
makes the analysis refuse with a count (see :mod:`abm.sensitivity`), never a silent gap.
"""

from __future__ import annotations

import contextlib
import math
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm import chartstyle as cs
from abm import discovery, sensitivity
from abm.experiment import CHARTS, BoxChart, Chart, DifferenceChart, MorrisChart, PhaseChart, SobolChart, TimeseriesChart, flow
from abm.outputs import atomic_directory
from abm.results import OK_RUNS, Results, commit_text
from abm.runner import environment, source_hash, write_yaml
from abm.scenario import as_sets
from abm.scenario import load as load_scenario
from abm.store import quote

MD_ROWS = 60
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "svg.fonttype": "none", "text.parse_math": False}
unit = cs.unit  # kept as report.unit for callers
SEED_SHARE = 0.1  # above this share of the variance between points, a metric's indices are flagged as possibly seed noise
BOOTSTRAP = "normal approximation, as SALib gives them: 1.96 bootstrap standard deviations"
SEEDS_FIXED = "seeds fixed (the indices are of the mean over replications)"
INDEX_COLUMNS = {  # what a sensitivity table's columns hold: the first note under its .md table (SALib's defaults: 100 bootstrap resamples)
    "sobol": "S1, ST: first-order and total Sobol indices, shares of the variance of the mean over replications (0-1 in theory); "
             f"S1_conf, ST_conf: half-widths of their 95% bootstrap intervals (100 resamples of the base sample's rows; {BOOTSTRAP})",
    "morris": "mu, mu_star, sigma: the mean, mean absolute value and standard deviation of a parameter's elementary effects, in the output's units "
              "per the parameter's full range (a move from its lower to its upper bound; mu* can exceed an index's 0-1); "
              f"mu_star_conf: half-width of mu*'s 95% bootstrap interval (100 resamples of the parameter's elementary effects, one per trajectory; {BOOTSTRAP})",
}
SEEDS_NOTE = ("seed_share: the seeds' part of the variance between design points of the mean over replications, which the indices divide "
              "(an index near or below it may be seed noise alone); <index>_seed_min/_max: the index computed from each replication alone, "
              "over analysed_alone of the replications (one whose outputs never vary has no indices)")
SOBOL_SMALL_N = 512  # below this base sample size Sobol estimates are noisy (SALib's examples use 1,024+)
MORRIS_FEW_R = 10  # screening designs use 10 trajectories or more (Campolongo et al. 2007)


class ReportContext:
    """What every chart needs: the results, the spec's summaries and the footer text."""

    def __init__(self, results: Results):
        self.results = results
        m = results.manifest
        self.spec = m["spec"]
        status = results.runs["status"].value_counts()
        self.ok, self.failed, self.missing = (int(status.get(s, 0)) for s in ("ok", "failed", "missing"))
        reps = self.spec.get("replications", 1)
        # identical points (a Morris trajectory revisiting one) share their runs: say how many were computed
        computed = results.runs.loc[results.runs["status"] == "ok", "run"].nunique()
        notes = [f"{computed} distinct: identical points share their runs"] if computed < self.ok else []
        notes += [f"{self.failed} failed, {self.missing} not run"] if self.failed or self.missing else []
        counts = f"{self.ok} runs" + (f" ({'; '.join(notes)})" if notes else "")
        self.footer = (
            f"experiment {results.experiment} (spec {results.spec_hash[:10]}): {counts}, {len(results.params)} points x {reps} replication(s); "
            f"seeds: SeedSequence({self.spec.get('seed', 0)}).spawn({reps})"
        )
        self.overrides = self.spec.get("overrides", [])  # abm sweep --set: the spec file alone does not describe these runs
        if self.overrides:
            self.footer += f"; spec overridden by abm sweep {as_sets(self.overrides)}"

    def summary_unit(self, column: str) -> str:
        return self.results.summary_units.get(column, "model units")

    def metric_label(self, name: str) -> str:
        """A metric or summary in words (:func:`abm.chartstyle.metric_label`), a summary
        worded from the spec's declaration of it rather than guessed from its name."""
        return cs.metric_label(name, self.results.summaries_spec)

    def group_label(self, by: str | None) -> str:
        return cs.label("point" if by is None else by)

    def group_axis(self, by: str | None) -> str:
        """The group's label with its unit, for an axis or a legend's title."""
        return cs.axis_label("point" if by is None else by)


def short(path: str) -> str:
    """A readable parameter name (see :func:`abm.chartstyle.label`)."""
    return cs.label(path)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _wrap(text: str, fig: Figure, fontsize: float, width: float | None = None, least: int = 30) -> str:
    """Break ``text`` into lines that fit the figure's width (or ``width`` inches) at
    ``fontsize``, of ``least`` characters at the least."""
    chars = max(least, int((fig.get_figwidth() if width is None else width) * 72 / (0.56 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


HEAD, FOOT = 0.95, 0.35  # inches above the panels (title, note) and below them (footer), at least
NOTE_LINE = 8 * 1.2 / 72  # inches: a line of the 8-point note at matplotlib's line spacing


class _Banded(Figure):
    """A report figure: its three bands' grid kept, so that :func:`_decorate` can grow the
    head band (matplotlib's SubFigure has no public getter for the grid it sits in)."""

    bands = None


def _canvas(width: float, height: float) -> tuple[_Banded, Figure]:
    """A figure of three bands: title and note, the panels (``height`` inches, with their
    legend and colour bars laid out by matplotlib), the footer. Returns the figure and the
    panels' subfigure."""
    fig = _Banded(layout="constrained", figsize=(width, height + HEAD + FOOT))
    fig.bands = fig.add_gridspec(3, 1, height_ratios=[HEAD, height, FOOT], left=0, right=1, bottom=0, top=1)  # as Figure.subfigures makes it
    _, body, _ = (fig.add_subfigure(fig.bands[k]) for k in range(3))
    return fig, body


def _decorate(fig: _Banded, footer: str, title: str, note: str) -> Figure:
    """Title, a smaller line saying what the marks mean, and the footer naming what produced it.
    The head band grows with the lines they wrap to, so that a long note on a narrow figure
    never runs into the panels' titles."""
    head, _, foot = fig.subfigs
    title, note = _wrap(title, fig, 10.5), _wrap(note, fig, 8)
    note_top = 0.03 * HEAD + 0.2 + 0.17 * title.count("\n")  # inches below the band's top
    needed = note_top + (note.count("\n") + 1) * NOTE_LINE + 0.08
    band = max(HEAD, needed)
    if band > HEAD:
        heights = [band, fig.get_figheight() - HEAD - FOOT, FOOT]
        fig.bands.set_height_ratios(heights)
        fig.set_figheight(sum(heights))
    head.text(0.5, 1 - 0.03 * HEAD / band, title, ha="center", va="top", fontsize=10.5)
    head.text(0.5, 1 - note_top / band, note, ha="center", va="top", fontsize=8, color="0.2")
    foot.text(0.5, 0.5, _wrap(footer, fig, 7), ha="center", va="center", fontsize=7, color="0.3")
    return fig


def save(fig: Figure, out: Path, stem: str) -> list[Path]:
    """Write a report figure as PNG (300 dpi) and SVG."""
    paths = [Path(out) / f"{stem}.png", Path(out) / f"{stem}.svg"]
    cs.save(fig, paths[0], dpi=300)
    cs.save(fig, paths[1])
    return paths


def _group_column(by: str | None) -> str:
    return "p.point" if by in (None, "point") else f"p.{quote(by)}"


def _group_names(ctx: ReportContext, by: str | None, values) -> dict:
    """Legend text for each group value."""
    if by not in (None, "point"):
        return {v: _fmt(v) for v in values}
    params = ctx.results.params.set_index("point")
    cols = [c for c in params.columns if c != "scenario" or params["scenario"].nunique() > 1]
    return {v: ", ".join(f"{short(c)}={_fmt(params.at[v, c])}" for c in cols) or f"point {v}" for v in values}


def _legend_below(fig: Figure, handles, labels, title: str) -> None:
    """The legend under the panels (never over the title), in as many columns as fit."""
    entry = 0.6 + 0.075 * max(map(len, labels), default=1)  # inches: handle + text at 8 pt
    ncol = max(1, min(len(labels), int(fig.figure.get_figwidth() * 0.95 / entry)))
    fig.legend(handles, labels, title=title, loc="outside lower center", ncol=ncol, fontsize=8, title_fontsize=8, frameon=False)


def _metrics(ctx: ReportContext, names) -> str:
    """Metrics or summaries in words, for a title or a note: "; " between them where a
    summary's words hold a comma ("fragmentation, final; integration, final")."""
    words = [ctx.metric_label(n) for n in names]
    return ("; " if any("," in w for w in words) else ", ").join(words)


def _value_axis(ctx: ReportContext, metric: str, metric_unit: str, fig: Figure, height: float) -> str:
    """A value axis's label: the metric in words and its unit, wrapped to the panel's
    ``height`` (inches), as long summaries ("..., first at or above 0.35") outgrow it."""
    return _wrap(f"{ctx.metric_label(metric)}\n({metric_unit})", fig, 9, height)


# --------------------------------------------------------------------------- charts


def timeseries_cells(res: Results, chart: TimeseriesChart) -> tuple[pd.DataFrame, bool]:
    """One row per line, panel and date: ``reached`` (runs), and for each metric k
    ``valued{k}`` (runs with a value), ``n{k}`` (seeds with a value), ``mean{k}`` and
    ``sq{k}`` (mean of squares) over the seeds; and
    whether some line's runs do not all reach every date. A line pooled over other swept
    parameters holds several runs of each seed, which share its draws: each seed's runs
    are averaged first, and the band is taken over the seeds (with nothing pooled, a seed
    is one run)."""
    group, facet = _group_column(chart.by), _group_column(chart.facet) if chart.facet else "NULL"
    # by date, not by step: runs of base scenarios with other calendars (a 2020 start) meet
    # on the dates they share, never step 0 of one with step 0 of the other
    # each run once per line and panel: identical points (a value listed twice) share a run
    joined = (f"FROM series s JOIN (SELECT DISTINCT d.run AS run, d.seed AS seed, {group} AS grp, {facet} AS facet "
              f"FROM design d {OK_RUNS} JOIN points p ON p.point = d.point) g ON g.run = s.run")
    per_seed = ", ".join(f"AVG(s.{quote(m)}) AS v{k}, COUNT(s.{quote(m)}) AS c{k}" for k, m in enumerate(chart.metrics))
    stats = ", ".join(f"SUM(c{k}) AS valued{k}, COUNT(v{k}) AS n{k}, AVG(v{k}) AS mean{k}, AVG(v{k} * v{k}) AS sq{k}" for k in range(len(chart.metrics)))
    frame = res.sql(
        f"SELECT grp, facet, date, SUM(runs) AS reached, {stats} FROM "
        f"(SELECT g.grp AS grp, g.facet AS facet, s.date AS date, g.seed AS seed, COUNT(*) AS runs, {per_seed} {joined} GROUP BY grp, facet, s.date, g.seed) "
        "GROUP BY grp, facet, date ORDER BY facet, grp, date"
    )
    runs = res.sql(f"SELECT g.grp AS grp, g.facet AS facet, COUNT(DISTINCT s.run) AS runs {joined} GROUP BY grp, facet")
    return frame, bool((frame.merge(runs, on=["grp", "facet"], how="left").eval("reached < runs")).any())


def _readable(count: int, most: int, what: str) -> None:
    """Refuse a chart of more lines or boxes than can be told apart (one per point of a
    256-point sample drew a legend over the panels and collapsed the layout)."""
    if count > most:
        raise ChartNotMadeError(f"{count} {what} in a panel, more than the {most} that can be told apart: "
                                "chart by a swept parameter with fewer levels, or draw a box or phase chart of a summary")


def timeseries(ctx: ReportContext, chart: TimeseriesChart) -> Figure:
    frame, uneven = timeseries_cells(ctx.results, chart)
    frame["date"] = cs.date_numbers(frame["date"])
    groups = _levels(ctx, chart.by or "point", frame["grp"])
    _readable(len(groups), MAX_LINES, "lines")
    facets = _levels(ctx, chart.facet, frame["facet"]) if chart.facet else [None]
    names = _group_names(ctx, chart.by, groups)
    fig, body = _canvas(max(7.0, (4.6 if len(facets) <= 3 else 3.6) * len(facets) + 1.0), 2.6 * len(chart.metrics) + 1.0)
    axes = body.subplots(len(chart.metrics), len(facets), squeeze=False, sharex=True, sharey="row")
    zoomed, single = [], False
    for row, metric in enumerate(chart.metrics):
        for col, fv in enumerate(facets):
            ax = axes[row][col]
            for k, gv in enumerate(groups):
                part = frame[(frame["grp"] == gv) & ((frame["facet"] == fv) if fv is not None else frame["facet"].isna())]
                if part.empty:
                    continue
                n, mean = part[f"n{row}"].to_numpy(float), part[f"mean{row}"].to_numpy(float)
                sd = np.sqrt(np.clip(part[f"sq{row}"].to_numpy(float) - mean**2, 0, None) * n / np.maximum(n - 1, 1))
                half = cs.ci95(sd, n)
                single |= bool(np.isnan(half).all())
                style = cs.line_style(k, len(groups))
                x, mean, half = _broken(part["date"].to_numpy(float), mean, half)
                ax.plot(x, mean, label=names[gv], linewidth=1.4, markersize=3.5, markevery=max(1, len(part) // 8), **style)
                ax.fill_between(x, mean - half, mean + half, color=style["color"], alpha=0.18, linewidth=0)
            if col == 0:
                ax.set_ylabel(_value_axis(ctx, metric, cs.unit(metric), fig, 2.6), fontsize=9)
            if fv is not None and row == 0:
                ax.set_title(f"{short(chart.facet)} = {_fmt(fv)}", fontsize=10)
            if row == len(chart.metrics) - 1:
                ax.set_xlabel("date")
            ax.grid(True, color="0.9", linewidth=0.6)
        note = cs.set_range(axes[row][0], cs.unit(metric), chart.zoom)
        if note:
            zoomed.append(f"{ctx.metric_label(metric)}: {note}")
    cs.date_axis(axes[0][0], frame["date"].min(), frame["date"].max())
    handles, labels = axes[0][0].get_legend_handles_labels()
    _legend_below(body, handles, labels, ctx.group_axis(chart.by))
    title = chart.title or f"{_metrics(ctx, chart.metrics)} over time by {ctx.group_label(chart.by)}"
    pooled = _pooled(ctx, [chart.by or "point", chart.facet], "the band is over the seeds, each seed's runs averaged over them first")
    # the band is over seeds: a group pooled over many runs of one seed has none either
    notes = [cs.UNCERTAINTY + ((" (one seed per group: no band)" if pooled else " (one run per group: no band)") if single else "")]
    notes += [pooled] if pooled else []
    notes += zoomed
    notes += ["a line's runs do not all reach every date (other calendars or horizons): each date averages the runs that reach it"] if uneven else []
    blank = [ctx.metric_label(m) for k, m in enumerate(chart.metrics) if (frame[f"valued{k}"] < frame["reached"]).any()]
    notes += [f"{', '.join(blank)}: some runs have no value at some dates, which average the runs that have one"] if blank else []
    return _decorate(fig, ctx.footer, title, "; ".join(notes))


def _broken(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """A line's dates and values with a NaN wherever dates jump by more than 1.5 times their
    usual spacing (pooled runs of disjoint periods, a 2020 start beside a 2025 one), so the
    line stops there instead of drawing values no run has."""
    gaps = np.diff(x)
    cut = np.flatnonzero(gaps > 1.5 * np.median(gaps)) + 1 if len(gaps) > 1 else np.array([], dtype=int)
    return tuple(np.insert(np.asarray(v, dtype=float), cut, np.nan) for v in (x, *ys))


def _run_values(ctx: ReportContext, metric: str, columns: list[str], per_point: bool = False) -> pd.DataFrame:
    """One row per successful run and value of the chosen point columns (per point with
    ``per_point``): the columns, the run's seed (``run_seed``) and the summary's value.
    Identical points (a value listed twice, a Morris trajectory revisiting a point) share a
    run, which counts once in a group, or the group's n and confidence interval would count
    it twice."""
    cols = ", ".join(f"p.{quote(c)} AS {quote(c)}" for c in dict.fromkeys(columns))
    frame = ctx.results.sql(
        f"SELECT d.run AS run, d.point AS point_id, d.seed AS run_seed, {cols + ', ' if cols else ''}s.{quote(metric)} AS value FROM summaries s "
        f"JOIN design d ON d.run = s.run {OK_RUNS} JOIN points p ON p.point = d.point"
    )
    return frame.drop_duplicates(["run", *(["point_id"] if per_point else []), *dict.fromkeys(columns)])


def phase_cells(ctx: ReportContext, chart: PhaseChart) -> pd.DataFrame:
    """One row per cell (x, y and facet values): mean, s.d., the number of seeds with a
    value (``n``, what the interval is taken over), of runs with a value (``valued``) and
    of successful runs (``runs``), and the half-width of the 95% confidence interval of
    the mean. A cell pooled over other swept parameters holds several runs of each seed,
    which share its draws (common random numbers): each seed's runs are averaged first, as
    in the timeseries and difference charts, or the interval would count them as
    independent and come out too narrow. With nothing pooled a seed is one run."""
    cols = [chart.x, chart.y] + ([chart.facet] if chart.facet else [])
    frame = _run_values(ctx, chart.metric, cols)
    seeds = frame.groupby([*cols, "run_seed"], dropna=False)["value"].agg(value="mean", valued="count", runs="size").reset_index()
    cells = seeds.groupby(cols, dropna=False).agg(mean=("value", "mean"), sd=("value", "std"), n=("value", "count"), valued=("valued", "sum"), runs=("runs", "sum")).reset_index()
    cells["ci95"] = cs.ci95(cells["sd"], cells["n"])
    return cells


def _edges(levels: list) -> tuple[np.ndarray, np.ndarray, str]:
    """Cell edges and centres of an axis, and how it is drawn (:func:`scale_note`).
    Numeric levels keep their spacing (cells meet half-way between levels) unless a cell
    would be less than half as wide as equal cells: a doubling grid (0, 0.25, 0.5, 1, 2,
    4) drawn to scale squeezes its first values into cells too narrow for their numbers.
    Such levels, and labelled ones, get equal cells."""
    numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in levels)
    if numeric and len(levels) > 1:
        centres = np.asarray(levels, dtype=float)
        mids = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])
        widths = np.diff(edges)
        if widths.min() >= 0.5 * widths.mean():
            return edges, centres, "scale"
    return np.arange(len(levels) + 1) - 0.5, np.arange(len(levels), dtype=float), "steps" if numeric and len(levels) > 1 else "labels"


def scale_note(axes: list[tuple[str, str]]) -> str | None:
    """What a phase chart's note says of its axes, (name, how each is drawn): numeric
    levels drawn to scale ('scale'), numeric levels in equal cells because their steps are
    too unequal ('steps'), labelled levels (a grid mapping's keys, names) in equal cells
    ('labels'). The note must not let a reader take equal cells for a scale; labelled
    levels beside no scaled axis need no word."""
    scaled = [a for a, how in axes if how == "scale"]
    notes = [f"{' and '.join(scaled)} drawn to scale (cells meet half-way between the swept values)"] if scaled else []
    notes += [f"{a}: one equal cell per level, not to scale" + (" (its steps are too unequal to draw to scale)" if how == "steps" else "") for a, how in axes if how == "steps" or (how == "labels" and scaled)]
    return "; ".join(notes) or None


def phase(ctx: ReportContext, chart: PhaseChart, cells: pd.DataFrame | None = None) -> Figure:
    cells = phase_cells(ctx, chart) if cells is None else cells
    if not cells["n"].any():
        raise ChartNotMadeError(f"no run has a value of {chart.metric} (a threshold never crossed): an empty chart is not drawn")
    facets = _levels(ctx, chart.facet, cells[chart.facet]) if chart.facet else [None]
    xs, ys = _levels(ctx, chart.x, cells[chart.x]), _levels(ctx, chart.y, cells[chart.y])
    (xe, xc, xhow), (ye, yc, yhow) = _edges(xs), _edges(ys)
    metric_unit = ctx.summary_unit(chart.metric)
    bounds = cs.natural_range(metric_unit)
    fig, body = _canvas(9.5, 3.4 * len(facets))
    axes = body.subplots(len(facets), 2, squeeze=False)
    scales = {
        "mean": (bounds if bounds and not chart.zoom else _span(cells["mean"].min(), cells["mean"].max(), metric_unit), "cividis", _wrap(f"mean of {ctx.metric_label(chart.metric)}\n({metric_unit})", fig, 8, 3.4)),
        "ci95": ((0.0, np.nanmax(cells["ci95"]) if cells["ci95"].notna().any() else 1.0), "Greys", f"95% CI half-width of the mean\n({metric_unit})"),
    }
    full = int(cells["valued"].max())  # runs with a value in the best-filled cell: fewer elsewhere is flagged
    for row, fv in enumerate(facets):
        part = cells if fv is None else cells[cells[chart.facet] == fv]
        for col, stat in enumerate(("mean", "ci95")):
            (vmin, vmax), cmap, bar_label = scales[stat]
            grid, counts = np.full((len(ys), len(xs)), np.nan), np.zeros((len(ys), len(xs)), dtype=int)
            for _, c in part.iterrows():
                i, j = ys.index(c[chart.y]), xs.index(c[chart.x])
                grid[i, j], counts[i, j] = c[stat], c["valued"]
            ax = axes[row][col]
            mesh = ax.pcolormesh(xe, ye, grid, cmap=cmap, vmin=vmin, vmax=vmax, edgecolors="white", linewidth=0.5)
            for i, j in zip(*np.nonzero((counts > 0) & (counts < full))):
                ax.add_patch(matplotlib.patches.Rectangle((xe[j], ye[i]), xe[j + 1] - xe[j], ye[i + 1] - ye[i], fill=False, hatch="///", edgecolor="0.5", linewidth=0))
            ax.set_xticks(xc, [_fmt(v) for v in xs], fontsize=8, rotation=30 if xhow == "labels" and len(xs) > 3 else 0, ha="right" if xhow == "labels" and len(xs) > 3 else "center")
            ax.set_yticks(yc, [_fmt(v) for v in ys], fontsize=8)
            ax.set_xlabel(cs.axis_label(chart.x))
            ax.set_ylabel(cs.axis_label(chart.y))
            body.colorbar(mesh, ax=ax).set_label(bar_label, fontsize=8)
            if len(xs) * len(ys) <= 64:
                norm = mesh.norm
                for i in range(len(ys)):
                    for j in range(len(xs)):
                        if np.isfinite(grid[i, j]):
                            shade = norm(grid[i, j])
                            dark = shade < 0.55 if stat == "mean" else shade > 0.45
                            few = f"\nruns={counts[i, j]}" if counts[i, j] < full else ""
                            digits = 3 if stat == "mean" else 2  # a half-width to 2 figures, as summary.md gives it: 3 ran into the next cell
                            ax.text(xc[j], yc[i], value_text(ctx.summary_unit(chart.metric), grid[i, j], digits, zeros=False) + few, ha="center", va="center", fontsize=7, color="white" if dark else "black")
            what = "mean" if stat == "mean" else "95% confidence interval (half-width)"
            ax.set_title(what + (f", {short(chart.facet)} = {_fmt(fv)}" if fv is not None else ""), fontsize=10)
    title = chart.title or f"{ctx.metric_label(chart.metric)}, by {short(chart.x)} and {short(chart.y)}"
    pooled = bool((cells["valued"] > cells["n"]).any())  # several runs of a seed in a cell: other parameters pooled
    notes = [("cell: mean over the seeds of each seed's runs in the cell (other parameters pooled); right: half-width of its 95% confidence interval (t, over seeds)" if pooled
              else "cell: mean over the runs of that cell; right: half-width of its 95% confidence interval (t)")]
    notes += [n for n in (scale_note([(short(chart.x), xhow), (short(chart.y), yhow)]),) if n]
    if bounds and chart.zoom:
        notes.append("colour " + cs.zoom_note(*scales["mean"][0]))
    notes += [p for p in (_pooled(ctx, [chart.x, chart.y, chart.facet]), _without_value(int((cells["runs"] - cells["valued"]).sum()))) if p]
    if cells["ci95"].isna().all():
        notes.append("no interval: no cell has a value in two runs")
    fewer = cells[(cells["valued"] > 0) & (cells["valued"] < full)]
    if len(fewer):
        notes.append(f"hatched: {len(fewer)} cell(s) from fewer runs than the others' {full} (as few as {int(fewer['valued'].min())}" + ("; runs written in the cell)" if len(xs) * len(ys) <= 64 else ")"))
    return _decorate(fig, ctx.footer, title, "; ".join(notes))


def _span(low: float, high: float, metric_unit: str) -> tuple[float, float]:
    """An axis or colour scale fitted to the values: a single value of a date gets a year
    around it, where matplotlib widens a flat scale by 5% of the value (1925-2125)."""
    return (low - 0.5, high + 0.5) if metric_unit == "decimal year" and low == high else (low, high)


def _factors(ctx: ReportContext) -> list[str]:
    """What varies between points: the swept parameters, and the base scenario when there
    are several (every point of a grid runs in each)."""
    several = ctx.results.params["scenario"].nunique() > 1
    return [*ctx.results.parameters, *(["scenario"] if several else [])]


def _without_value(missing: int) -> str:
    """Note on the runs a chart leaves out because their summary has no value."""
    return f"{missing} run(s) without a value (threshold never crossed) left out" if missing else ""


def _pooled(ctx: ReportContext, shown: list[str | None], how: str = "their effect is in the spread") -> str:
    """Note naming the swept parameters (and base scenarios) a chart averages over."""
    if "point" in shown:
        return ""
    pooled = [p for p in _factors(ctx) if p not in shown]
    return f"pooled over {', '.join(map(short, pooled))} ({how})" if pooled else ""


def _levels(ctx: ReportContext, column: str, present) -> list:
    """The values of a swept column in reading order: numbers ascending, anything else
    (rule names, scenarios) in the order the spec lists them."""
    order = ctx.results.params["point" if column == "point" else column]
    present = set(present)
    values = [v for v in dict.fromkeys(order) if v in present]
    return sorted(values) if all(pd.api.types.is_number(v) for v in values) else values


MAX_LINES = 20  # a timeseries chart's lines at most: tab20's distinct colours (abm.chartstyle.palette)
MAX_BOXES = 40  # a box chart's boxes in a panel at most

MIN_BOX = 5  # runs: fewer are drawn as dots, since their quartiles would look like any box's


HIDDEN_SPREAD = 0.02  # of the anchored axis: runs closer than this draw their boxes as black bars


def _hidden_spread(values: pd.Series, metric_unit: str, zoom: bool) -> str:
    """Note for runs too close together to see on the metric's anchored 0-1 axis."""
    bounds = cs.natural_range(metric_unit)
    spread = float(np.ptp(values)) if len(values) else 0.0
    limit = HIDDEN_SPREAD * (bounds[1] - bounds[0]) if bounds else 0.0
    if zoom or not 0 < spread < limit:
        return ""
    shown = next(text for digits in range(2, 18) if float(text := f"{spread:.{digits}g}") < limit)  # 0.0198 is not "0.02", the limit itself
    return f"the runs span only {shown}, too little to see on this scale (zoom: true fits the axis to them)"


def box(ctx: ReportContext, chart: BoxChart) -> Figure:
    """One box per group of ``by``; when another swept parameter would be pooled, boxes
    are split by it (colour), so no box mixes its levels unseen."""
    params = ctx.results.parameters
    by = chart.by or ("scenario" if ctx.results.params["scenario"].nunique() > 1 and not params else "point")
    # a point fixes every factor: boxes by point have none to split by
    hue = None if by == "point" else next((p for p in _factors(ctx) if p != by and ctx.results.params[p].nunique() <= len(cs.OKABE_ITO)), None)
    hues = _levels(ctx, hue, ctx.results.params[hue]) if hue else [None]
    colours = cs.palette(len(hues)) if hue else [cs.OKABE_ITO[0]]
    fig, body = _canvas(max(6.5, 0.9 * len(ctx.results.params) + 2) if by == "point" else 8.0, 2.8 * len(chart.metrics) + 0.8)
    axes = body.subplots(len(chart.metrics), 1, squeeze=False, sharex=True)
    width, missing, zoomed, dots, boxed, uneven = 0.8 / len(hues), {}, [], False, False, False
    for row, metric in enumerate(chart.metrics):
        frame = _run_values(ctx, metric, [c for c in (by, hue) if c not in (None, "point")], per_point=by == "point")
        missing[metric] = int(frame["value"].isna().sum())
        key = "point_id" if by == "point" else by
        groups = _levels(ctx, by, frame[key])
        _readable(len(groups) * len(hues), MAX_BOXES, "boxes")
        names = _group_names(ctx, None if by == "point" else by, groups)
        ax = axes[row][0]
        sizes = []  # (positions, runs per group) of each hue
        for h, (level, colour) in enumerate(zip(hues, colours)):
            part = frame if hue is None else frame[frame[hue] == level]
            data = [part.loc[part[key] == g, "value"].dropna().to_numpy() for g in groups]
            pos = np.arange(len(groups)) + (h - (len(hues) - 1) / 2) * width
            drawn = ax.boxplot([d if len(d) >= MIN_BOX else [] for d in data], positions=pos, widths=width * 0.85, patch_artist=True, showmeans=True, manage_ticks=False,
                               meanprops={"marker": "D", "markerfacecolor": colour, "markeredgecolor": "black", "markersize": 4},  # the level's colour: a box of runs that barely differ is a flat black bar, and its mean alone shows which level it is
                               medianprops={"color": "black"}, flierprops={"marker": ".", "markersize": 3})
            for patch in drawn["boxes"]:
                patch.set(facecolor=colour, edgecolor="black", linewidth=0.7)
            for x, d in zip(pos, data):
                if 0 < len(d) < MIN_BOX:  # quartiles of so few runs would look as sure as any box: the runs themselves, side by side (equal values stay apart)
                    ax.scatter(x + np.linspace(-0.25, 0.25, len(d)) * width * (len(d) > 1), d, s=14, facecolor=colour, edgecolor="black", linewidth=0.6, zorder=3)
                    dots = True
                boxed |= len(d) >= MIN_BOX
            sizes.append((pos, [len(d) for d in data]))
        ax.set_xticks(range(len(groups)), [names[g] for g in groups], rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center", fontsize=8)
        ax.set_ylabel(_value_axis(ctx, metric, ctx.summary_unit(metric), fig, 2.8), fontsize=9)
        ax.set_xlabel(ctx.group_axis(by) if row == len(chart.metrics) - 1 else "")
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        if len({n for _, ns in sizes for n in ns}) > 1:  # groups of unequal runs (failures, thresholds never crossed): each says how many
            uneven = True
            for pos, ns in sizes:
                for x, n in zip(pos, ns):
                    ax.text(x, 1.01, f"n={n}", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=6, color="0.3")
        values = frame["value"].dropna()
        if ctx.summary_unit(metric) == "decimal year" and len(values) and values.min() == values.max():
            ax.set_ylim(*_span(values.min(), values.max(), "decimal year"))
        note = cs.set_range(ax, ctx.summary_unit(metric), chart.zoom) or _hidden_spread(values, ctx.summary_unit(metric), chart.zoom)
        if note:
            zoomed.append(f"{ctx.metric_label(metric)}: {note}")
    if hue:
        handles = [matplotlib.patches.Patch(facecolor=c, edgecolor="black", linewidth=0.7) for c in colours]
        _legend_below(body, handles, [_fmt(v) for v in hues], cs.axis_label(hue))
    title = chart.title or f"{_metrics(ctx, chart.metrics)}, by {ctx.group_label(by)}" + (f" and {short(hue)}" if hue else "")
    notes = ["boxes: spread of the runs (quartiles; whiskers 1.5 x IQR, runs beyond them small black dots), diamond: mean; a distribution of runs, not a confidence interval"] if boxed else []
    notes += [f"a group of fewer than {MIN_BOX} runs: each run a dot, no box" + ("" if boxed else "; a spread of runs, not a confidence interval")] if dots else []
    notes += ["n: a group's runs with a value"] if uneven else []
    counts = set(missing.values())  # each panel's own: summed over panels, 36 runs read as 70 left out
    left_out = _without_value(counts.pop()) if len(counts) == 1 else "; ".join(f"{ctx.metric_label(m)}: {_without_value(n)}" for m, n in missing.items() if n)
    notes += [p for p in (_pooled(ctx, [by, hue]), left_out) if p] + zoomed
    return _decorate(fig, ctx.footer, title, "; ".join(notes))


def _paired_within(ctx: ReportContext, by: str) -> list[str]:
    """What else a pair of runs must share besides the seed: every other factor."""
    return [f for f in _factors(ctx) if f != by]


class ChartNotMadeError(Exception):
    """A chart that would show nothing or could not be read: no level of a difference chart
    shares a seed with a finished run of the reference, no run of a phase chart has a value,
    or a timeseries or box chart has more lines or boxes than can be told apart. The report
    lists it under "Charts not made" rather than drawing it."""


def difference_table(ctx: ReportContext, chart: DifferenceChart) -> pd.DataFrame:
    """One row per summary and level of ``by`` other than ``against``: the mean of
    (level - reference), a pair being two runs with the same seed and the same values of
    every other factor (swept parameters, and the base scenario when there are several);
    its s.d. and 95% confidence interval (Student t, as :func:`abm.compare.differences`) over
    ``seeds``, each seed's differences averaged over the other factors first: runs with one
    seed meet the same draws at every value of the other factors (common random numbers),
    so their differences are not independent, and a t over all ``pairs`` would be too
    narrow. The difference and the means of both sides are means over the seeds of each
    seed's means, so that the difference is the one the interval is centred on and is
    ``level_mean - reference_mean`` (where some seeds have fewer pairs, failed or unrun, a
    mean over pairs would be neither); with every pair present they are the means over
    the pairs. ``unpaired``: runs of either
    side left out, their counterpart failed, not run, or without a value. Raises
    :class:`ChartNotMadeError` when no level has a pair, so no empty chart is drawn."""
    by, others = chart.by, _paired_within(ctx, chart.by)
    key = ["run_seed", *others]
    rows = []
    for metric in chart.metrics:
        frame = _run_values(ctx, metric, [by, *others])
        reference = frame[frame[by] == chart.against].set_index(key)["value"]
        for level in _levels(ctx, by, ctx.results.params[by]):  # every planned level: one with no finished run has no pairs
            if level == chart.against:
                continue
            side = frame[frame[by] == level].set_index(key)["value"]
            both = pd.concat([side.rename("level"), reference.rename("reference")], axis=1, join="inner").dropna()
            # pairs that share a seed share its draws at every value of the other factors:
            # one mean per seed is the independent unit the interval is taken over
            seeds = both.groupby(level="run_seed").mean()
            d = seeds["level"] - seeds["reference"]
            sd = cs.sd(d)
            mean, half = d.mean(), float(cs.ci95(sd, len(d)))
            rows.append({"metric": metric, by: level, "reference": chart.against, "pairs": len(both), "seeds": len(d), "unpaired": len(side) + len(reference) - 2 * len(both),
                         "reference_mean": seeds["reference"].mean(), "level_mean": seeds["level"].mean(),
                         "difference": mean, "sd": sd, "ci95_low": mean - half, "ci95_high": mean + half})  # fmt: skip
    table = pd.DataFrame(rows)
    if not table["pairs"].any():
        raise ChartNotMadeError(f"no run of {', '.join(map(_fmt, table[by].unique()))} shares its seed{' and other settings' if others else ''} with a finished run of {by} = {_fmt(chart.against)}: "
                           "nothing to pair (complete the sweep with abm sweep EXPERIMENT --out DIR --resume)")
    table.attrs["refused"] = {m: f"{m}: no pair has a value at any level (a summary that no run reached, such as a threshold never crossed): its panel is left out"
                              for m in chart.metrics if not table.loc[table["metric"] == m, "pairs"].any()}  # an empty panel read as a chart of nothing
    return table


def difference(ctx: ReportContext, chart: DifferenceChart, table: pd.DataFrame | None = None) -> Figure:
    """Forest plot of :func:`difference_table`: one panel per summary, a row per level,
    the mean paired difference and its 95% interval, and the zero line."""
    table = difference_table(ctx, chart) if table is None else table
    by, others = chart.by, _paired_within(ctx, chart.by)
    metrics = [m for m in chart.metrics if m not in table.attrs.get("refused", {})]
    levels = list(dict.fromkeys(table[by]))
    names = _group_names(ctx, by, levels)
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, body = _canvas(2.9 * cols + 0.1 * max(len(str(n)) for n in names.values()) + 1.0, rows * (0.32 * len(levels) + 1.1))
    axes = body.subplots(rows, cols, squeeze=False, sharey=True)
    y = np.arange(len(levels))[::-1]  # the first level on top, in _levels' order (numbers ascending, anything else as the spec lists it)
    colour = cs.OKABE_ITO[0]
    paired = table.groupby(by, sort=False)["pairs"].max()  # a level with no pair in any panel says so in its label
    for k, metric in enumerate(metrics):
        ax = axes.flat[k]
        part = table[table["metric"] == metric].set_index(by).loc[levels]
        for row in y[(part["pairs"].to_numpy() == 0) & (paired.loc[levels].to_numpy() > 0)]:  # ... one with none in this panel only, here
            ax.text(0.02, row, "no pairs", transform=ax.get_yaxis_transform(), va="center", fontsize=7, color="0.4")
        low, high = part["ci95_low"].to_numpy(float), part["ci95_high"].to_numpy(float)
        shown = np.isfinite(low)
        ax.hlines(y[shown], low[shown], high[shown], color=colour, linewidth=1.6)
        for end in (low, high):  # caps, so that an interval reads as one even where it is short
            ax.plot(end[shown], y[shown], linestyle="none", marker="|", markersize=7, color=colour)
        ax.plot(part["difference"].to_numpy(float), y, linestyle="none", marker="o", markersize=5, color=colour, markeredgecolor="black", markeredgewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))  # each tick in full (0.0075, 2e-05): no multiplier in the corner
        metric_unit = ctx.summary_unit(metric)
        ax.set_title(_wrap(ctx.metric_label(metric), fig, 9, 2.9), fontsize=9)
        reference = _fmt(chart.against) if by == "scenario" else f"{short(by)} = {_fmt(chart.against)}"
        ax.set_xlabel(f"difference from {reference}\n({'years' if metric_unit == 'decimal year' else metric_unit})", fontsize=8)
        ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    labels = [names[v] + (" (no pairs)" if paired[v] == 0 else "") for v in levels]
    for ax in axes[:, 0]:
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_ylabel(_wrap(ctx.group_axis(by), fig, 10, 0.32 * len(levels) + 0.5, least=12))  # a budget's label with its unit outgrew a panel of few levels
    axes[0][0].set_ylim(-0.6, len(levels) - 0.4)
    title = chart.title or f"Paired differences from {ctx.group_label(by)} = {_fmt(chart.against)}"
    within = f" and the same {', '.join(map(short, others))}" if others else ""
    over = f"over the seeds, each seed's differences averaged over {', '.join(map(short, others))} first" if others else "over the pairs"
    point = "mean over the seeds of each seed's mean difference" if others else "mean of the differences"
    notes = [f"point: {point} (level - {_fmt(chart.against)}) between runs with the same seed{within}; bar: its 95% confidence interval (t, {over})"]
    counts = sorted(set(table.loc[table["pairs"] > 0, "pairs"]))
    seeds = sorted(set(table.loc[table["pairs"] > 0, "seeds"]))
    pooled = f", pooled over {', '.join(map(short, others))} (how the difference varies with them widens the interval)" if others else ""
    notes.append((f"{counts[0]} pairs per level" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} pairs per level and summary (the table gives each)")
                 + (f" from {seeds[0]} seed(s)" if others and len(seeds) == 1 else f" from {seeds[0]} to {seeds[-1]} seeds" if others else "") + pooled)
    notes += ["one seed: no interval"] if (table["seeds"] == 1).any() else []
    if table["unpaired"].any():
        notes.append(f"runs whose counterpart failed, has not run or has no value are left out (up to {int(table['unpaired'].max())} per level and summary)")
    return _decorate(fig, ctx.footer, title, "; ".join(notes + _refused_note(ctx, table)))


def difference_markdown(chart: DifferenceChart, table: pd.DataFrame) -> str:
    """The table of a difference chart for summary.md: a row per level, a column per
    summary, each cell the mean difference ± the half-width of its 95% interval and the
    pairs, as abm compare prints them (* where the interval excludes 0)."""

    by = chart.by
    lines = [f"| {by} | " + " | ".join(chart.metrics) + " |", "|" + "---|" * (len(chart.metrics) + 1)]
    for level, rows in table.groupby(by, sort=False):
        cells = []
        for r in rows.set_index("metric").loc[chart.metrics].itertuples():
            half = (r.ci95_high - r.ci95_low) / 2
            clear = r.ci95_low > 0 or r.ci95_high < 0
            n = f"n={r.pairs}" if r.pairs == r.seeds else f"{r.pairs} pair{'s' * (r.pairs != 1)}, {r.seeds} seed{'s' * (r.seeds != 1)}"
            cells.append("no pairs" if r.pairs == 0 else f"{cs.estimate(r.difference, half, sign=True)}{'*' if clear else ''} ({n})")
        lines.append(f"| {cs.cell(_fmt(level))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _design_outputs(ctx: ReportContext, metric: str) -> tuple[np.ndarray, int]:
    """Mean of a summary over replications at each design point, NaN where any
    replication failed or has not run; and how many points lack a finished run."""
    res = ctx.results
    runs = res.runs[["point", "run", "status"]]
    values = res.summaries[["run", metric]].drop_duplicates("run")
    merged = runs.merge(values, on="run", how="left")
    by_point = merged.groupby("point").agg(
        incomplete=("status", lambda s: bool((s != "ok").any())),
        any_nan=(metric, lambda v: bool(v.isna().any())),
        mean=(metric, "mean"),
    ).reindex(res.params["point"])
    y = np.where(by_point["incomplete"] | by_point["any_nan"], np.nan, by_point["mean"].to_numpy(dtype=float))
    return y, int(by_point["incomplete"].sum())


def _by_replication(ctx: ReportContext, metric: str) -> np.ndarray:
    """A summary at each design point (rows) and replication (columns); NaN where a run
    failed, has not run or has no value."""
    res = ctx.results
    merged = res.runs[["point", "replication", "run"]].merge(res.summaries[["run", metric]].drop_duplicates("run"), on="run", how="left")
    return merged.pivot(index="point", columns="replication", values=metric).reindex(res.params["point"]).to_numpy(dtype=float)


def seed_spread(ctx: ReportContext, metric: str, compute: Callable[..., pd.DataFrame], key: str) -> pd.DataFrame | None:
    """How much of a metric's sensitivity indices the seeds could make. The indices are
    those of the mean over the replications at each point, with the seeds held fixed: their
    bootstrap intervals are over the design points, and say nothing of the seeds. So:

    * ``seed_share``: the seeds' part of the variance between the point means that the
      indices divide (an index near it or below may be seed noise alone). Every point runs
      the same seeds, so what a seed does alike at every point (a shock drawn from its own
      stream) moves all the means together and no index; what it does differently from
      point to point is the residual of a two-way (point x replication) decomposition,
      whose variance over R is that noise in a mean;
    * each parameter's index ``key`` computed from each replication alone
      (``<key>_seed_min``, ``<key>_seed_max``: how far the seed moves it).

    None with one replication."""
    runs = _by_replication(ctx, metric)
    p, r = runs.shape
    if r < 2 or np.isnan(runs).any():
        return None
    means = runs.mean(axis=1)
    residual = runs - means[:, None] - runs.mean(axis=0)[None, :] + runs.mean()
    between = means.var(ddof=1)
    share = (residual**2).sum() / ((p - 1) * (r - 1)) / r / between if between > 0 else np.nan
    alone = []
    for column in runs.T:
        with contextlib.suppress(sensitivity.UnusableOutputError):  # one seed's outputs may not vary: its indices are undefined
            alone.append(compute(metric, column, False).set_index("parameter")[key])
    spread = pd.concat(alone, axis=1) if alone else pd.DataFrame(index=list(_ranges(ctx)))
    return pd.DataFrame({"metric": metric, "parameter": spread.index, "replications": r, "analysed_alone": len(alone), "seed_share": share,
                         f"{key}_seed_min": spread.min(axis=1).to_numpy(), f"{key}_seed_max": spread.max(axis=1).to_numpy()})


def seed_warnings(table: pd.DataFrame, label: Callable[[str], str] = cs.metric_label) -> list[str]:
    """The metrics whose indices the seeds could make in good part (``attrs["seeds"]`` of
    an index table: :func:`seed_spread`), or a note that nobody can tell (one replication)."""
    seeds = table.attrs.get("seeds")
    if seeds is None:
        return ["one replication per point: how much of the indices the seeds make is unknown (run 2 or more)"]
    shares = seeds.drop_duplicates("metric").set_index("metric")["seed_share"]
    noisy = shares[shares > SEED_SHARE]
    return [f"seeds make {share:.0%} of the variance between points of {label(m)}: an index near or below that may be seed noise alone; add replications (each index by seed: the _seeds table)"
            for m, share in noisy.items()]


def _ranges(ctx: ReportContext) -> dict[str, tuple[float, float]]:
    return {p: tuple(b) for p, b in ctx.spec["sample"]["ranges"].items()}


def _table_files(frame: pd.DataFrame, out: Path, stem: str, notes: list[str] = ()) -> list[Path]:
    frame.to_csv(out / f"{stem}.csv", index=False)
    text = markdown(frame) + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    (out / f"{stem}.md").write_text(text, encoding="utf-8")
    return [out / f"{stem}.csv", out / f"{stem}.md"]


def sobol_table(ctx: ReportContext, chart: SobolChart) -> pd.DataFrame:
    """First-order and total indices; a design drawn for second-order indices adds each
    pair's in ``attrs["second_order"]`` (written beside the table)."""
    ranges, sample, pairs = _ranges(ctx), ctx.spec["sample"], []

    def indices(metric: str, y: np.ndarray, kept: bool = True) -> pd.DataFrame:
        table = sensitivity.sobol_indices(ranges, y, seed=ctx.spec.get("seed", 0), second_order=sample.get("second_order", False), what=f"Sobol analysis of {metric}")
        second = table.attrs.pop("second_order", None)  # taken out: pandas compares the attrs of the tables it concatenates
        if second is not None and kept:
            pairs.append(second.assign(metric=metric))
        return table

    table = _indices(ctx, chart, "Sobol", indices, ["S1", "S1_conf", "ST", "ST_conf"], "ST")
    if pairs:
        table.attrs["second_order"] = pd.concat(pairs, ignore_index=True)[["metric", "parameter", "with", "S2", "S2_conf"]]
    return table


def _indices(ctx: ReportContext, chart: SobolChart | MorrisChart, method: str, compute: Callable[..., pd.DataFrame], columns: list[str], key: str) -> pd.DataFrame:
    """Each metric's sensitivity indices, one block of rows per metric. A metric whose
    design has gaps is refused (:func:`abm.sensitivity.require_complete`) without taking
    the others with it, as is one the analysis cannot use (a Sobol output that never
    varies): ``attrs["refused"]`` maps it to the refusal, which the chart and the report's
    problems state. Every metric refused: UnusableOutputError. ``attrs["seeds"]``: what
    the seeds could make of index ``key`` (:func:`seed_spread`), absent with one replication."""
    tables, refused, seeds = [], {}, []
    for metric in chart.metrics:
        y, missing = _design_outputs(ctx, metric)
        try:
            sensitivity.require_complete(y, f"{method} analysis of {metric}", missing)
            tables.append(compute(metric, y).assign(metric=metric))
        except sensitivity.UnusableOutputError as exc:
            refused[metric] = str(exc)
            continue
        seeds.append(seed_spread(ctx, metric, compute, key))
    if not tables:
        raise sensitivity.UnusableOutputError("; ".join(refused.values()))
    table = pd.concat(tables, ignore_index=True)[["metric", "parameter", *columns]]
    table.attrs["refused"] = refused
    if seeds and all(part is not None for part in seeds):
        table.attrs["seeds"] = pd.concat(seeds, ignore_index=True)
    return table


def _refused_note(ctx: ReportContext, table: pd.DataFrame) -> list[str]:
    refused = table.attrs.get("refused", {})
    return [f"not drawn: {_metrics(ctx, refused)} (values the analysis cannot use; see the report's problems)"] if refused else []


def sobol_warnings(table: pd.DataFrame, n: int, label: Callable[[str], str] = cs.metric_label) -> list[str]:
    """What a reader must know before trusting the indices: a small base sample, indices
    above 1, first-order above total, negative beyond their confidence intervals. Each
    names the parameters, after their metric (in words by ``label``, a report's
    :meth:`ReportContext.metric_label`) when the chart has several ("fragmentation,
    final: coercion strength, decision noise; integration, final: ...")."""
    several = table["metric"].nunique() > 1

    def where(rows: pd.DataFrame) -> str:
        named = {m: ", ".join(sorted(set(map(short, part["parameter"])))) for m, part in rows.groupby("metric", sort=False)}
        return "; ".join(f"{label(m)}: {ps}" if several else ps for m, ps in named.items())

    notes = []
    if n < SOBOL_SMALL_N:
        notes.append(f"small sample: N={n} (below {SOBOL_SMALL_N}); indices are rough, the intervals wide")
    above = table[(table["S1"] > 1) | (table["ST"] > 1)]
    if len(above):
        notes.append(f"indices above 1 ({where(above)}): impossible for a share of variance, sampling error; increase sample.n")
    inverted = table[table["S1"] > table["ST"]]
    if len(inverted):
        notes.append(f"S1 > ST ({where(inverted)}): impossible in theory, a sign of too few samples")
    negative = table[(table["S1"] + table["S1_conf"] < 0) | (table["ST"] + table["ST_conf"] < 0)]
    if len(negative):
        notes.append(f"negative indices beyond their intervals ({where(negative)}): sampling error")
    return notes


def morris_warnings(n: int) -> list[str]:
    """A design of few trajectories: mu* is a mean over ``n`` elementary effects per
    parameter, and its bootstrap resamples those same few, so the interval understates
    what another design would give."""
    if n >= MORRIS_FEW_R:
        return []
    return [f"few trajectories: n={n} (below {MORRIS_FEW_R}); mu* and its ranking are rough, and a bootstrap over {n} trajectories understates their uncertainty"]


def index_warnings(ctx: ReportContext, kind: str, table: pd.DataFrame) -> list[str]:
    """What a ``sobol`` or ``morris`` chart and its table warn of: the design's own
    weaknesses, then the seeds'."""
    n = ctx.spec["sample"].get("n")
    own = sobol_warnings(table, n, ctx.metric_label) if kind == "sobol" else morris_warnings(n)
    return own + seed_warnings(table, ctx.metric_label)


def sobol(ctx: ReportContext, chart: SobolChart, table: pd.DataFrame | None = None) -> Figure:
    table = sobol_table(ctx, chart) if table is None else table
    n = ctx.spec["sample"].get("n")
    metrics = list(dict.fromkeys(table["metric"]))
    fig, body = _canvas(7.5, 2.8 * len(metrics))
    axes = body.subplots(len(metrics), 1, squeeze=False)
    for row, metric in enumerate(metrics):
        part = table[table["metric"] == metric]
        ax = axes[row][0]
        x = np.arange(len(part))
        ax.bar(x - 0.2, part["S1"], 0.4, yerr=part["S1_conf"], capsize=3, color=cs.OKABE_ITO[0], edgecolor="black", linewidth=0.5, label="first order S1")
        ax.bar(x + 0.2, part["ST"], 0.4, yerr=part["ST_conf"], capsize=3, color=cs.OKABE_ITO[1], edgecolor="black", linewidth=0.5, label="total ST")
        ax.set_xticks(x, [short(p) for p in part["parameter"]], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(_wrap(f"Sobol index of\n{ctx.metric_label(metric)}\n(share of variance)", fig, 9, 2.8), fontsize=9)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axhline(1, color="0.5", linewidth=0.6, linestyle=":")
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
    _legend_below(body, *axes[0][0].get_legend_handles_labels(), "")
    title = chart.title or f"Sobol sensitivity indices, base sample N={n}"
    notes = [f"error bars: 95% bootstrap confidence intervals over the design points ({BOOTSTRAP}), {SEEDS_FIXED}"] + [f"WARNING: {w}" for w in index_warnings(ctx, "sobol", table)] + _refused_note(ctx, table)
    return _decorate(fig, ctx.footer, title, "; ".join(notes))


def morris_table(ctx: ReportContext, chart: MorrisChart) -> pd.DataFrame:
    ranges, sample = _ranges(ctx), ctx.spec["sample"]
    x = ctx.results.params[list(ranges)].to_numpy(float)

    def indices(metric: str, y: np.ndarray, kept: bool = True) -> pd.DataFrame:
        return sensitivity.morris_indices(ranges, x, y, seed=ctx.spec.get("seed", 0), levels=sample.get("levels", 4), what=metric)

    return _indices(ctx, chart, "Morris", indices, ["mu", "mu_star", "mu_star_conf", "sigma"], "mu_star")


def morris(ctx: ReportContext, chart: MorrisChart, table: pd.DataFrame | None = None) -> Figure:
    table = morris_table(ctx, chart) if table is None else table
    metrics = list(dict.fromkeys(table["metric"]))
    fig, body = _canvas(10, 3.0 * len(metrics))
    axes = body.subplots(len(metrics), 2, squeeze=False)
    coincide = False
    for row, metric in enumerate(metrics):
        part = table[table["metric"] == metric]
        what = f"{ctx.metric_label(metric)} ({ctx.summary_unit(metric)})"
        ax = axes[row][0]
        pos = np.arange(len(part))
        low = np.minimum(part["mu_star_conf"], part["mu_star"])  # mu* is a mean of absolute effects: its interval stops at 0
        ax.bar(pos, part["mu_star"], 0.6, yerr=[low, part["mu_star_conf"]], capsize=3, color=cs.OKABE_ITO[0], edgecolor="black", linewidth=0.5)
        ax.set_xticks(pos, [short(p) for p in part["parameter"]], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(_wrap(f"mu* of {what}\nper parameter range", fig, 9, 3.0), fontsize=9)
        ax.set_ylim(bottom=0)  # mu* >= 0: every mu* at 0 would otherwise centre the axis on 0
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax = axes[row][1]
        colours = cs.palette(len(part))
        points = list(zip(part["mu_star"], part["sigma"]))
        for k, (_, r) in enumerate(part.iterrows()):
            under = points[k + 1:].count(points[k])  # parameters drawn later on the same point: this marker rings theirs
            coincide |= under > 0
            ax.scatter(r["mu_star"], r["sigma"], s=36 * (1 + 1.2 * under), marker=cs.MARKERS[k % len(cs.MARKERS)], color=colours[k], edgecolor="black", linewidth=0.4, label=short(r["parameter"]), clip_on=False, zorder=3)  # a marker at mu* = 0 sits on the axis, whole
        ax.set_xlabel(f"mu*: change over a parameter's full range\n({ctx.summary_unit(metric)})", fontsize=9)  # "(index, 0-1 per range)" read as a 0-1 scale per range
        ax.set_ylabel("sigma (non-linearity,\ninteractions)", fontsize=9)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, color="0.9", linewidth=0.6)
    _legend_below(body, *axes[0][1].get_legend_handles_labels(), "parameter")
    n = ctx.spec["sample"].get("n")
    title = chart.title or f"Morris elementary effects, {n} trajectories"
    coincident = ["parameters on the same point are drawn as nested markers, the first-listed largest"] if coincide else []
    return _decorate(fig, ctx.footer, title, "; ".join([f"left: mu* with error bars = 95% bootstrap confidence intervals ({BOOTSTRAP}), {SEEDS_FIXED}; right: mu* against sigma", *coincident, *[f"WARNING: {w}" for w in index_warnings(ctx, "morris", table)], *_refused_note(ctx, table)]))


def discovery_chart(ctx: ReportContext, chart: Chart) -> Figure:
    """The PRIM peeling trajectory of a discovery chart (every figure: abm.discovery.figures)."""
    from abm import discovery

    return discovery.figures(ctx, chart)["prim"]


DRAW = {"timeseries": timeseries, "phase": phase, "box": box, "difference": difference, "sobol": sobol, "morris": morris, "discovery": discovery_chart}
TABLES = {"phase": phase_cells, "difference": difference_table, "sobol": sobol_table, "morris": morris_table}


def figure(directory: str | Path, chart: int | dict) -> Figure:
    """One chart of a sweep as a matplotlib Figure (nothing written): ``chart`` is the
    index of a chart in the experiment's ``charts`` list, or a chart spec of its own."""
    results = Results(directory)
    spec = results.manifest.get("charts", [])[chart] if isinstance(chart, int) else chart
    chart = CHARTS[spec["type"]].model_validate(spec)
    with results.snapshot(), matplotlib.rc_context(STYLE):
        return DRAW[chart.type](ReportContext(results), chart)


# --------------------------------------------------------------------------- calibration


def posterior_figures(priors: dict, post: pd.DataFrame, patterns: list, predictive: pd.DataFrame, check: pd.DataFrame, footer: str, weights_note: str) -> dict[str, Figure]:
    """A calibration's charts, framed as a report's (title, what the marks mean, footer):
    ``marginals`` (each parameter's weighted posterior over its prior range, prior density
    dashed), ``pairs`` (a corner plot of the weighted particles) and ``predictive`` (each
    pattern's simulated values under the posterior against its target and tolerance).
    ``weights_note`` says how many particles the weights amount to (and warns when too few)."""
    return {"marginals": _marginals(priors, post, footer, weights_note), "pairs": _pairs(priors, post, footer, weights_note),
            "predictive": _predictive(patterns, predictive, check, footer)}


def _parameter_axis(ax, prior, axis: str) -> None:
    """A parameter's axis: its prior range, log for a log-uniform prior, three ticks at most."""
    getattr(ax, f"set_{axis}scale")("log" if prior.prior == "loguniform" else "linear")
    getattr(ax, f"set_{axis}lim")(prior.low, prior.high)
    scale = getattr(ax, f"{axis}axis")
    if prior.prior == "loguniform":  # labelled minor ticks overlap on a small panel: decades, or 1-2-5 steps within fewer than two
        decades = math.floor(math.log10(prior.high)) - math.ceil(math.log10(prior.low)) + 1
        scale.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0,) if decades >= 2 else (1.0, 2.0, 5.0), numticks=4))
        scale.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        scale.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        scale.set_major_locator(matplotlib.ticker.MaxNLocator(3))


def _marginals(priors: dict, post: pd.DataFrame, footer: str, weights_note: str) -> Figure:
    names, w = list(priors), post["weight"].to_numpy()
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, body = _canvas(3.0 * cols, 2.4 * rows)
    for k, (name, prior) in enumerate(priors.items()):
        ax = body.add_subplot(rows, cols, k + 1)
        ax.hist(post[name], bins=prior.grid(21), weights=w, density=True, color=cs.OKABE_ITO[0], alpha=0.75, label="posterior")
        xs = prior.grid(100)
        ax.plot(xs, prior.density(xs), "k--", lw=1, label="prior")
        _parameter_axis(ax, prior, "x")
        ax.set_xlabel(_wrap(cs.axis_label(name), fig, 8, 3.0), fontsize=8)
        ax.set_ylabel("density" if k % cols == 0 else "", fontsize=8)
        ax.tick_params(labelsize=7)
    _legend_below(body, *body.axes[0].get_legend_handles_labels(), "")
    return _decorate(fig, footer, "Posterior of each parameter against its prior",
                     f"bars: posterior density of the final generation's particles, weighted; dashed: prior density; {weights_note}")


def _pairs(priors: dict, post: pd.DataFrame, footer: str, weights_note: str) -> Figure:
    names, w = list(priors), post["weight"].to_numpy()
    n = len(names)
    fig, body = _canvas(1.9 * max(n, 2), 1.9 * max(n, 2))
    for i in range(n):
        for j in range(i + 1):
            ax = body.add_subplot(n, n, i * n + j + 1)
            if i == j:  # the parameter's own histogram: its height is weight, not a parameter, so no ticks
                ax.hist(post[names[i]], bins=priors[names[i]].grid(21), weights=w, color=cs.OKABE_ITO[0], alpha=0.75)
                ax.set_yticks([])
            else:
                ax.scatter(post[names[j]], post[names[i]], s=60 * w / w.max(), alpha=0.5, color=cs.OKABE_ITO[0], linewidths=0)
                _parameter_axis(ax, priors[names[i]], "y")
                ax.set_ylabel(_wrap(cs.label(names[i]), fig, 7, 1.6) if j == 0 else "", fontsize=7)
                if j:
                    ax.set_yticklabels([])
            _parameter_axis(ax, priors[names[j]], "x")
            ax.set_xlabel(_wrap(cs.label(names[j]), fig, 7, 1.6) if i == n - 1 else "", fontsize=7)
            if i < n - 1:
                ax.set_xticklabels([])
            ax.tick_params(labelsize=6)
    return _decorate(fig, footer, "Pairs of parameters in the posterior",
                     f"points: the final generation's particles, area by weight; diagonal: each parameter's weighted histogram; axes span the prior ranges; {weights_note}")


def _predictive(patterns: list, predictive: pd.DataFrame, check: pd.DataFrame, footer: str) -> Figure:
    cols = min(3, len(patterns))
    rows = math.ceil(len(patterns) / cols)
    fig, body = _canvas(3.2 * cols, 2.5 * rows)
    shares = dict(zip(check["pattern"], check["reproduced_share"]))
    for k, p in enumerate(patterns):
        ax = body.add_subplot(rows, cols, k + 1)
        x = predictive[p.id].to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        t, tol = p.target, p.tolerance
        low, high = t.bounds()
        edges = [v for v in (low, high, None if low is None else low - tol, None if high is None else high + tol) if v is not None]
        edges += [high - 2 * tol] if low is None else [low + 2 * tol] if high is None else []  # a one-sided target shows some of its side
        span = [*edges, *((finite.min(), finite.max()) if len(finite) else ())]  # the target shows even when no draw comes near it
        lo_x, hi_x = min(span), max(span)
        pad = 0.05 * (hi_x - lo_x or abs(hi_x) or 1.0)
        lo_x, hi_x = lo_x - pad, hi_x + pad
        ax.hist(finite, bins=20, range=(lo_x, hi_x), color="0.45", zorder=2)
        ax.axvspan(lo_x if low is None else low - tol, hi_x if high is None else high + tol, color=cs.OKABE_ITO[2], alpha=0.15, lw=0, zorder=0)
        if t.value is not None:
            ax.axvline(t.value, color=cs.OKABE_ITO[2], lw=2, zorder=1)
        else:
            ax.axvspan(lo_x if low is None else low, hi_x if high is None else high, color=cs.OKABE_ITO[2], alpha=0.3, lw=0, zorder=1)
        ax.set_xlim(lo_x, hi_x)
        ax.set_ylim(0, None if len(finite) else 1)
        if not len(finite):
            ax.text(0.5, 0.5, "no draw has a value", transform=ax.transAxes, ha="center", va="center", fontsize=8)
        missing = len(x) - len(finite)
        ax.set_title(_wrap(f"{p.id}: target {t.describe()}, tolerance {tol:g}; reproduced in {shares[p.id]:.0%} of draws" + (f" ({missing} without a value)" if missing else ""), fig, 7, 2.8), fontsize=7)  # narrower than the panel's 3.2 in: a title of the right column reached past the figure
        ax.set_xlabel(_wrap(p.output.describe(), fig, 7, 3.2), fontsize=7)
        ax.set_ylabel("draws" if k % cols == 0 else "", fontsize=7)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.tick_params(labelsize=6)
    return _decorate(fig, footer, "Posterior predictive check: the patterns under the calibrated model",
                     "bars: each pattern's value in fresh runs at draws from the posterior; green line or dark band: the target; "
                     "light band: the target widened by the tolerance, inside which a draw counts as reproducing the pattern")


# --------------------------------------------------------------------------- tables


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cells = frame.map(lambda v: cs.cell(_fmt(v))) if len(frame) else frame
    lines = ["| " + " | ".join(map(cs.cell, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.astype(str).itertuples(index=False)]
    return "\n".join(lines)


def summary_table(results: Results) -> pd.DataFrame:
    """One row per point: parameters, run counts, and for every summary its mean, s.d.,
    the half-width of the 95% confidence interval of the mean (``_ci95``) and the number of
    runs they are computed from (``_n``): fewer than ``runs_ok`` where a run has no value
    (a ``first_crossing`` threshold it never crossed), so the mean is over the others;
    then the shares of the spec's outcome classes (:func:`class_shares`, whose
    ``attrs["classes"]`` and ``attrs["undefined"]`` the table keeps)."""
    counts = results.runs.pivot_table(index="point", columns="status", values="run", aggfunc="count", fill_value=0)
    counts = counts.reindex(columns=["ok", "failed", "missing"], fill_value=0).add_prefix("runs_")
    table = results.params.set_index("point").join(counts)
    grouped = results.summaries.groupby("point")[results.summary_columns]
    mean, sd, n = grouped.mean(), cs.sd(grouped), grouped.count()
    columns = {}
    for metric in results.summary_columns:
        columns[f"{metric}_mean"], columns[f"{metric}_sd"] = mean[metric], sd[metric]
        columns[f"{metric}_ci95"] = pd.Series(cs.ci95(sd[metric], n[metric]), index=mean.index)
        columns[f"{metric}_n"] = n[metric]
    shares = class_shares(results)
    table = table.join(pd.DataFrame(columns)).join(shares).reset_index()
    # a point with no successful run has none; an undefined class's counts stay blank
    counts = [f"{m}_n" for m in results.summary_columns] + [f"{c}_runs" for c in shares.attrs["classes"] if c not in shares.attrs["undefined"]]
    table[counts] = table[counts].fillna(0).astype(int)
    table.attrs |= shares.attrs
    return table


def class_shares(results: Results) -> pd.DataFrame:
    """Per point, for each outcome class of the spec: the point's runs in the class
    (``_runs``), their share of its successful runs (``_share``) and the 95% Wilson interval
    of that share (``_ci95_low``, ``_ci95_high``). Runs are classed as the discovery charts
    class them, over every successful run of the sweep: a quantile threshold (q80) is the
    sweep's, not the point's. ``attrs["classes"]`` gives each class's definition, its
    quantiles as the numbers they came to. A class that cannot be decided (a quantile of a
    summary no run has: :func:`abm.discovery.thresholds`) gets blank columns, not a share
    of 0 that no run decided, and ``attrs["undefined"]`` says why, for the report to warn."""
    outcomes = results.manifest["spec"].get("outcomes", {})
    runs = discovery.runs(results)
    inside, undefined = {}, {}
    for c, e in outcomes.items():
        try:
            inside[c] = discovery.classify(runs, e)
        except discovery.ClassError as exc:
            undefined[c] = str(exc)
    grouped = results.summaries[["point", "run"]].join(pd.DataFrame(inside, index=runs["run"]), on="run").groupby("point")[list(inside)]
    k, n = grouped.sum(), grouped.size()
    columns = {}
    for c in outcomes:
        if c in undefined:
            columns |= dict.fromkeys([f"{c}_runs", f"{c}_share", f"{c}_ci95_low", f"{c}_ci95_high"], np.nan)
            continue
        low, high = cs.wilson95(k[c], n)
        columns |= {f"{c}_runs": k[c], f"{c}_share": k[c] / n, f"{c}_ci95_low": pd.Series(low, index=n.index), f"{c}_ci95_high": pd.Series(high, index=n.index)}
    shares = pd.DataFrame(columns, index=n.index)
    shares.attrs["classes"] = {c: f"{e} (undefined: {undefined[c]}; the share is left blank)" if c in undefined else _class_definition(runs, e, results.summary_units) for c, e in outcomes.items()}
    shares.attrs["undefined"] = undefined
    return shares


def _class_definition(runs: pd.DataFrame, expression: str, units: dict[str, str]) -> str:
    """An outcome class's expression, and with quantiles the thresholds they came to over
    ``runs`` (those with a value: a threshold never crossed leaves a run without one),
    each written as the summary's values are."""
    terms = discovery.thresholds(runs, expression)
    if not any(t.quantile for t, _ in terms):
        return expression

    def term(t, v) -> str:
        text = f"{t.summary} {t.op} {value_text(units.get(t.summary, ''), v)}"
        if not t.quantile:
            return text
        n = int(runs[t.summary].notna().sum())
        return f"{text}: q{t.value * 100:g} over the sweep's {len(runs)} successful runs" + (f", the {n} with a value" if n < len(runs) else "")

    return f"{expression} (" + "; ".join(term(t, v) for t, v in terms) + ")"


def summary_dictionary(results: Results, table: pd.DataFrame) -> pd.DataFrame:
    """columns.csv: every column of summary.csv with its unit and what it holds, in its
    order; the unit is empty for the point, the scenario and a swept setting without one
    (an index, a share or a weight: :func:`abm.chartstyle.parameter_unit`)."""
    described = {s.column: s.describe() for s in results.summaries_spec}
    units = results.summary_units
    rows = {
        "point": ("", "the design point (its parameters in the columns that follow; results.sqlite, table points)"),
        "scenario": ("", "the base scenario the point's runs start from"),
        "runs_ok": ("runs", "runs of the point that finished"),
        "runs_failed": ("runs", "runs of the point that raised an error (abm.results.load(DIR).failures)"),
        "runs_missing": ("runs", "runs of the point not run yet (an interrupted sweep: complete it with --resume)"),
    }
    labelled = {p for p, levels in ((results.manifest.get("spec") or {}).get("grid") or {}).items() if isinstance(levels, dict)}
    for p in results.parameters:
        rows[p] = (cs.parameter_unit(p) or "", f"the swept setting {p} (a --set path of the scenario)" + ("; a label, whose value summary.md gives" if p in labelled else ""))
    for m in results.summary_columns:
        unit = units.get(m, "model units")
        what = described.get(m, m).replace("`", "")
        rows[f"{m}_mean"] = (unit, f"mean over the point's runs of {what}")
        rows[f"{m}_sd"] = (unit, "standard deviation over the point's runs (n - 1 in the denominator)")
        rows[f"{m}_ci95"] = (unit, "half-width of the 95% confidence interval of the mean (Student t, n - 1 degrees of freedom; empty for n < 2)")
        rows[f"{m}_n"] = ("runs", "runs with a value (fewer than runs_ok where a run never crossed a first_crossing threshold)")
    for c, definition in table.attrs["classes"].items():
        rows[f"{c}_runs"] = ("runs", f"runs of the point in the outcome class {c}: {definition}")
        rows[f"{c}_share"] = ("share, 0-1", f"{c}_runs / runs_ok: share of the point's runs in the outcome class {c}")
        rows[f"{c}_ci95_low"] = ("share, 0-1", "lower bound of the 95% Wilson interval of the share")
        rows[f"{c}_ci95_high"] = ("share, 0-1", "upper bound of the 95% Wilson interval of the share")
    return pd.DataFrame([(c, *rows[c]) for c in table.columns], columns=["column", "unit", "meaning"])


@dataclass
class Report:
    out: Path
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    missing: int = 0  # planned runs not run yet (an interrupted sweep): the report covers the rest
    planned: int = 0


def make(directory: str | Path, out: str | Path | None = None, exports: tuple[str, ...] = (), argv: list[str] | None = None) -> Report:
    """Write the summary table and every chart of the sweep in ``directory``, into
    ``out`` (default ``directory/report``) all at once, under :mod:`abm.outputs`' rule:
    the files of an earlier report in an explicit ``out`` are replaced, nothing else.
    ``exports`` (csv, parquet) adds the sweep's tables in ``export/`` within the same
    write: exported after it, a report stopped mid-export kept files its listing did not
    name, which the next report then refused to replace. provenance.yaml records what drew
    the report (``argv``, the command; the code, whose presentation modules the sweep's
    source fingerprint leaves out; versions), which the results' own record cannot say."""
    results = Results(directory)
    drawn = {"argv": argv, "cwd": os.getcwd(), "results": str(Path(directory).resolve()), **environment(), "presentation": source_hash(presentation=True)}
    final = Path(out) if out else Path(directory) / "report"
    with results.snapshot(), matplotlib.rc_context(STYLE), atomic_directory(final, "report", replace=out is not None) as out:  # one state of a sweep still running
        report = Report(final)
        ctx = ReportContext(results)
        runs = results.runs.drop_duplicates("run")  # identical points share a run (Morris revisits): count each once, as abm sweep does
        report.missing, report.planned = int((runs["status"] == "missing").sum()), len(runs)
        table = summary_table(results)
        table.to_csv(out / "summary.csv", index=False)
        summary_dictionary(results, table).to_csv(out / "columns.csv", index=False)
        written = [out / "summary.csv", out / "columns.csv"]
        charts: list[Chart] = [CHARTS[c["type"]].model_validate(c) for c in results.manifest.get("charts", [])]
        used: set[str] = set()
        sections = []
        for k, chart in enumerate(charts):
            stem = chart.file or _stem(chart)
            stem = stem if stem not in used else f"{stem}_{k}"
            used.add(stem)
            if chart.type == "discovery":  # several figures and tables (abm.discovery)
                from abm import discovery

                try:
                    files = discovery.write(ctx, chart, out, stem)
                except discovery.ClassError as exc:  # an undefined class's reason is said once, with its share
                    why = f"outcome '{chart.outcome}' is undefined: nothing to discover" if chart.outcome in table.attrs["undefined"] else exc
                    report.problems.append(f"chart {k} (discovery): {why}")
                    continue
                written += files
                sections += [f"### {stem}_{s}\n\n![{stem}_{s}]({stem}_{s}.png)\n" for s in ("prim", "box", "cart", "scores")]
                continue
            try:
                data = TABLES[chart.type](ctx, chart) if chart.type in TABLES else None
                fig = DRAW[chart.type](ctx, chart, data) if data is not None else DRAW[chart.type](ctx, chart)
            except (sensitivity.UnusableOutputError, ChartNotMadeError) as exc:
                report.problems.append(f"chart {k} ({chart.type}): {exc}")
                continue
            report.problems += [f"chart {k} ({chart.type}): {why}" for why in getattr(data, "attrs", {}).get("refused", {}).values()]
            if chart.type in ("phase", "difference"):
                data.to_csv(out / f"{stem}.csv", index=False)
                written.append(out / f"{stem}.csv")
            elif data is not None:
                notes = [INDEX_COLUMNS[chart.type], *index_warnings(ctx, chart.type, data)]  # sobol or morris: the tables left
                written += _table_files(data, out, stem, notes)
                if "seeds" in data.attrs:
                    written += _table_files(data.attrs["seeds"], out, f"{stem}_seeds", [SEEDS_NOTE])
                if "second_order" in data.attrs:
                    written += _table_files(data.attrs["second_order"], out, f"{stem}_second_order", ["S2: second-order Sobol index of the pair (their joint effect beyond their first-order ones), with the half-width of its 95% bootstrap interval"])
            written += save(fig, out, stem)
            sections.append(f"### {stem}\n\n![{stem}]({stem}.png)\n")
            if chart.type == "difference":
                sections.append(f"Paired differences from {chart.by} = {_fmt(chart.against)}: mean ± half-width of its 95% confidence interval "
                                f"(t over the seeds, each seed's differences averaged over the other swept settings first: runs with one seed share its draws), "
                                f"and the number of pairs; {cs.starred(data['ci95_low'])}. All columns in [{stem}.csv]({stem}.csv).\n\n{difference_markdown(chart, data)}\n")
        (out / "summary.md").write_text(_summary_markdown(ctx, table, sections, report.problems, drawn), encoding="utf-8")
        write_yaml(out / "provenance.yaml", drawn)
        written.append(out / "provenance.yaml")
        # summary.md gives an undefined class's reason in its definition (its problems are charts not made); the command line warns of it first
        report.problems[:0] = [f"outcome '{c}' ({ctx.spec['outcomes'][c]}) is undefined: {why}; its share is left blank (summary.csv) or 'undefined' (summary.md), not 0"
                               for c, why in table.attrs["undefined"].items()]
        written.insert(2, out / "summary.md")
        for fmt in dict.fromkeys(exports):  # --export csv twice: once
            written += results.export(out / "export", fmt)
    report.files = [final / path.relative_to(out) for path in written]
    return report


def _stem(chart: Chart) -> str:
    """Default file name: chart type and metric names, shortened at a name boundary."""
    if chart.type == "discovery":
        return f"discovery_{chart.outcome}"
    names = [chart.metric] if isinstance(chart, PhaseChart) else list(chart.metrics)
    stem = f"{chart.type}_{names[0]}"
    for k, name in enumerate(names[1:], start=1):
        if len(stem) + 1 + len(name) > 80:
            return f"{stem}_and_{len(names) - k}_more"
        stem += f"_{name}"
    return stem


def value_text(unit: str, value: float, digits: int = 4, zeros: bool = True) -> str:
    """A summary's value (in ``unit``) as tables and cells print it: ``digits`` significant
    digits, but a decimal year (``first_crossing``) to the hundredth, since a quarter is
    0.25 of a year and 4 digits would round 2026.25 to 2026. ``zeros=False`` drops trailing
    zeros, for a chart's cells, where every character counts."""
    if unit == "decimal year":
        return f"{value:.2f}"
    return significant(value, digits) if zeros else f"{value:.{digits}g}"


def significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros kept (0.4850, not 0.485),
    so that a column's figures show the same precision; exactly 0 stays 0."""
    return "0" if value == 0 else f"{value:#.{digits}g}".rstrip(".")


def _cell(ctx: ReportContext, summary: str, mean: float, half: float, n: int, ok: int) -> str:
    """A summary.md cell: mean ± half-width of its 95% interval, and how many runs it
    averages when some runs have no value (they never crossed the threshold)."""
    text = "no value" if n == 0 else value_text(ctx.summary_unit(summary), mean) + ("" if math.isnan(half) else f" ± {significant(half, 2)}")
    return text + (f" ({n} of {ok} runs)" if n < ok else "")


def _shared_settings(ctx: ReportContext) -> str:
    """What every run shares but the tables do not show: the spec's ``set:`` and each base
    scenario's period, so that "at the end of the run" has a date and a fixed setting is
    not mistaken for the base scenario's."""
    fixed = ctx.spec.get("set") or {}
    said = "Every run shares the spec's `set:` " + ", ".join(f"`{k}: {v}`" for k, v in fixed.items()) + "." if fixed else "The spec fixes nothing beyond its base scenario(s) (no `set:`)."
    swept = [p for p in ctx.results.parameters if p.startswith("time.")]
    periods = []
    for name, base in ctx.results.manifest.get("bases", {}).items():
        scenario = load_scenario(base["resolved"])
        periods.append(f"{name} from {scenario.time.start} to {scenario.date(scenario.time.steps)}, every {scenario.time.step_months} month(s)")
    runs = f" Runs: {'; '.join(periods)}" + (f" (at the base's horizon; {', '.join(swept)} is swept)" if swept else "") + "." if periods else ""
    return said + runs


def _labelled_levels(ctx: ReportContext) -> list[str]:
    """What each label of a labelled grid axis stands for (``hedging`` for ``{name: hedging,
    cap: 0.5}``): the tables and charts show the labels alone."""
    grid = ctx.spec.get("grid") or {}
    return [f"`{path}`: " + "; ".join(f"`{label}` = `{flow(value)}`" for label, value in levels.items()) for path, levels in grid.items() if isinstance(levels, dict)]


def _summary_markdown(ctx: ReportContext, table: pd.DataFrame, sections: list[str], problems: list[str], drawn: dict) -> str:
    res = ctx.results
    m = res.manifest
    lines = [f"# {res.experiment}", "", m.get("description") or "", "", f"_{ctx.footer}._", ""]
    if ctx.overrides:
        lines += ["The spec was overridden on the command line (`abm sweep --set`): " + ", ".join(f"`{o}`" for o in ctx.overrides) + "; `experiment.yaml` is the spec with them applied.", ""]
    lines += [_shared_settings(ctx), ""]
    if labelled := _labelled_levels(ctx):
        lines += ["What each label of a labelled swept setting stands for:", "", *(f"- {line}" for line in labelled), ""]
    code = res.provenance()
    lines += [f"Model commit `{code['model_commit']}`, source fingerprint `{code['model_source']}`; created {m.get('created')}.", ""]
    if len(versions := res.session_code()) > 1:  # resumed with --allow-model-change
        lines += [f"The runs were made by {len(versions)} versions of the model's code (manifest.json, sessions): " + "; ".join(f"`{v}`" for v in versions) + ".", ""]
    for name, base in m.get("bases", {}).items():
        if base.get("posterior_sha256"):
            lines += [f"The runs of {name} drew their parameters from the posterior `{base['resolved'].get('posterior')}` (sha256 `{base['posterior_sha256'][:12]}`), each the row "
                      "its seed chooses (the row `abm run --seed` records from that file); their spread and ± hold that parameter uncertainty as well as the seeds'.", ""]
    lines += [f"Report drawn at commit `{commit_text(drawn['model'])}`, presentation fingerprint `{drawn['presentation']}`; provenance.yaml has the command and versions.", ""]
    partial = any((table[f"{m}_n"] < table["runs_ok"]).any() for m in res.summary_columns)
    partial = '; "(n of N runs)": only n of the point\'s N runs have a value (the others never crossed the threshold), and the mean is theirs' if partial else ""
    classes = table.attrs["classes"]
    quantiles = any(t.quantile for e in m["spec"].get("outcomes", {}).values() for t in discovery.parse(e))
    shares = (" A `<class>_share` cell: the share of the point's runs in that outcome class (defined below), with its 95% Wilson interval in brackets"
              + ("; a quantile threshold (such as q80) is taken over every run of the sweep, not the point's." if quantiles else ".")) if classes else ""
    lines += ["## Summary by point", "", f"{cs.UNCERTAINTY_TABLE[0].upper()}{cs.UNCERTAINTY_TABLE[1:]}{partial}.{shares} summary.csv also has the s.d. over runs and their number n; columns.csv gives every column of it with its unit.", ""]
    shown = table.head(MD_ROWS)
    compact = shown.drop(columns=[f"{m}_{k}" for m in res.summary_columns for k in ("mean", "sd", "ci95", "n")] + [f"{c}_{k}" for c in classes for k in ("runs", "share", "ci95_low", "ci95_high")])
    for m in res.summary_columns:
        compact[m] = [_cell(ctx, m, *row) for row in zip(shown[f"{m}_mean"], shown[f"{m}_ci95"], shown[f"{m}_n"], shown["runs_ok"])]
    for c in classes:
        compact[f"{c}_share"] = ["no run" if ok == 0 else "undefined" if c in table.attrs["undefined"] else f"{share:.2f} ({low:.2f}-{high:.2f})" for share, low, high, ok in zip(shown[f"{c}_share"], shown[f"{c}_ci95_low"], shown[f"{c}_ci95_high"], shown["runs_ok"])]
    lines += [markdown(compact), ""]
    if len(table) > MD_ROWS:
        lines += [f"First {MD_ROWS} of {len(table)} points; all of them are in summary.csv.", ""]
    units = res.summary_units
    lines += ["Columns:", ""] + [f"- `{s.column}`: {s.describe()}; {units.get(s.column, 'model units')}" for s in res.summaries_spec]
    lines += [f"- `{c}_share`: share of the point's runs in the outcome class `{c}`: {definition}" for c, definition in classes.items()] + [""]
    if ctx.failed:
        fails = res.failures
        lines += ["## Failed runs", "", f"{ctx.failed} run(s) failed; tracebacks: `abm.results.load(DIR).failures`.", ""]
        lines += [markdown(fails[["point", "replication", "seed", "error"]].head(20)), ""]
    if problems:
        lines += ["## Charts not made", ""] + [f"- {p}" for p in problems] + [""]
    if sections:
        lines += ["## Charts", ""] + sections
    return "\n".join(lines)
