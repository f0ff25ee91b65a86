"""Reports of a sweep: a summary table (CSV and Markdown) and the charts its spec asks for.

Everything is read from the sweep directory alone (store and manifest), so a report can
be made on another machine, after the scenario files moved, or half-way through a sweep.
Series are aggregated in SQL (count, mean, mean of squares, min, max per group and
step), so memory does not grow with the number of runs.

Charts are meant to go into a paper as they are: a title, axis labels with units, a
legend, line styles and hatches that survive grayscale printing, PNG (300 dpi) and SVG,
and a footer saying which experiment, how many runs and which seeds produced them.
Sensitivity indices are computed only from complete designs: a missing or NaN output
makes the analysis refuse with a count (see :mod:`abm.sensitivity`), never a silent gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy import stats as st

from abm import sensitivity
from abm.experiment import CHARTS, BoxChart, Chart, MorrisChart, PhaseChart, SobolChart, Summary, TimeseriesChart
from abm.outputs import atomic_directory
from abm.results import Results
from abm.store import quote

LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "x", "P", "*"]
HATCHES = ["", "///", "...", "xx", "\\\\", "oo"]
MD_ROWS = 60
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "svg.fonttype": "none", "text.parse_math": False}

# Units of the model's metrics, by name prefix (docs/experiments.md lists them).
UNITS = [
    ("fragmentation", "index, 0-1"),
    ("integration", "index, 0-1"),
    ("polarization", "index, 0-1"),
    ("mean_dependency_hhi", "HHI, 0-1"),
    ("cohesion_", "index, 0-1"),
    ("influence_", "share of alignment, 0-1"),
    ("blocs", "number of blocs"),
    ("members_", "member states"),
    ("offers_", "offers per step"),
    ("coercion_events", "events per step"),
    ("conflict_events", "events per step"),
    ("transit_revenue_", "USD bn per year"),
    ("unmet_demand", "Mt per year"),
]


def unit(metric: str) -> str:
    if metric.endswith("_volume"):
        return "Mt per year"
    if metric.endswith("_share") or "_share_" in metric:
        return "share, 0-1"
    return next((u for prefix, u in UNITS if metric.startswith(prefix)), "model units")


class ReportContext:
    """What every chart needs: the results, the spec's summaries and the footer text."""

    def __init__(self, results: Results):
        self.results = results
        m = results.manifest
        self.spec = m["spec"]
        self.summaries = {Summary.model_validate(s).column: Summary.model_validate(s) for s in self.spec.get("metrics", {}).get("summaries", [])}
        status = results.runs["status"].value_counts()
        self.ok, self.failed, self.missing = (int(status.get(s, 0)) for s in ("ok", "failed", "missing"))
        reps = self.spec.get("replications", 1)
        counts = f"{self.ok} runs" + (f" ({self.failed} failed, {self.missing} not run)" if self.failed or self.missing else "")
        self.footer = (
            f"experiment {results.experiment} (spec {results.spec_hash[:10]}): {counts}, {len(results.params)} points x {reps} replication(s); "
            f"seeds: SeedSequence({self.spec.get('seed', 0)}).spawn({reps})"
        )

    def summary_unit(self, column: str) -> str:
        s = self.summaries.get(column)
        if s is None:
            return "model units"
        return "decimal year" if s.stat == "first_crossing" else unit(s.metric)

    def group_label(self, by: str | None) -> str:
        return "parameter point" if by in (None, "point") else "scenario" if by == "scenario" else short(by)


def short(path: str) -> str:
    """A readable parameter name: the last two parts of its path."""
    return ".".join(path.split(".")[-2:])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _finish(fig: Figure, ctx: ReportContext, title: str, out: Path, stem: str) -> list[Path]:
    fig.suptitle(title, fontsize=11, wrap=True)
    fig.get_layout_engine().set(rect=(0, 0.045, 1, 0.955))
    fig.text(0.5, 0.005, ctx.footer, ha="center", va="bottom", fontsize=7, color="0.25", wrap=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=300)
    fig.savefig(paths[1])
    return paths


def _style(k: int, n: int) -> dict:
    """Colour, line style and marker of line ``k`` of ``n``: distinct in grayscale too."""
    colour = colormaps["cividis"](0.75 * k / max(n - 1, 1)) if n > 1 else "0.1"
    return {"color": colour, "linestyle": LINESTYLES[k % len(LINESTYLES)], "marker": MARKERS[k % len(MARKERS)]}


def _group_column(by: str | None) -> str:
    return "p.point" if by in (None, "point") else f"p.{quote(by)}"


def _group_names(ctx: ReportContext, by: str | None, values) -> dict:
    """Legend text for each group value."""
    if by not in (None, "point"):
        return {v: _fmt(v) for v in values}
    params = ctx.results.params.set_index("point")
    cols = [c for c in params.columns if c != "scenario" or params["scenario"].nunique() > 1]
    return {v: ", ".join(f"{short(c)}={_fmt(params.at[v, c])}" for c in cols) or f"point {v}" for v in values}


# --------------------------------------------------------------------------- charts


def timeseries(ctx: ReportContext, chart: TimeseriesChart, out: Path, stem: str) -> list[Path]:
    res = ctx.results
    group, facet = _group_column(chart.by), _group_column(chart.facet) if chart.facet else "NULL"
    stats = ", ".join(
        f"COUNT(s.{quote(m)}) AS n{k}, AVG(s.{quote(m)}) AS mean{k}, AVG(s.{quote(m)} * s.{quote(m)}) AS sq{k}, MIN(s.{quote(m)}) AS lo{k}, MAX(s.{quote(m)}) AS hi{k}"
        for k, m in enumerate(chart.metrics)
    )
    frame = res.sql(
        f"SELECT {group} AS grp, {facet} AS facet, s.step, MIN(s.date) AS date, {stats} FROM series s "
        "JOIN design d ON d.run = s.run JOIN points p ON p.point = d.point "
        "GROUP BY grp, facet, s.step ORDER BY facet, grp, s.step"
    )
    frame["date"] = pd.to_datetime(frame["date"])
    groups = _levels(ctx, chart.by or "point", frame["grp"])
    facets = _levels(ctx, chart.facet, frame["facet"]) if chart.facet else [None]
    names = _group_names(ctx, chart.by, groups)
    fig = Figure(layout="constrained", figsize=(4.8 * len(facets) + 1.0, 2.9 * len(chart.metrics) + 0.8))
    axes = fig.subplots(len(chart.metrics), len(facets), squeeze=False, sharex=True, sharey="row")

    for row, metric in enumerate(chart.metrics):
        for col, fv in enumerate(facets):
            ax = axes[row][col]
            for k, gv in enumerate(groups):
                part = frame[(frame["grp"] == gv) & ((frame["facet"] == fv) if fv is not None else frame["facet"].isna())]
                if part.empty:
                    continue
                n, mean = part[f"n{row}"].to_numpy(float), part[f"mean{row}"].to_numpy(float)
                var = np.clip(part[f"sq{row}"].to_numpy(float) - mean**2, 0, None) * n / np.maximum(n - 1, 1)
                sd = np.sqrt(var)
                if chart.band == "sd":
                    low, high = mean - sd, mean + sd
                elif chart.band == "range":
                    low, high = part[f"lo{row}"].to_numpy(float), part[f"hi{row}"].to_numpy(float)
                else:
                    half = st.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
                    low, high = mean - half, mean + half
                style = _style(k, len(groups))
                ax.plot(part["date"], mean, label=names[gv], linewidth=1.4, markersize=3.5, markevery=max(1, len(part) // 8), **style)
                ax.fill_between(part["date"], low, high, color=style["color"], alpha=0.18, linewidth=0)
            ax.set_ylabel(f"{metric}\n({unit(metric)})", fontsize=9)
            if fv is not None and row == 0:
                ax.set_title(f"{short(chart.facet)} = {_fmt(fv)}", fontsize=10)
            if row == len(chart.metrics) - 1:
                ax.set_xlabel("date")
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            ax.grid(True, color="0.9", linewidth=0.6)
    band = {"ci95": "95% confidence interval of the mean", "sd": "mean +/- 1 standard deviation", "range": "min-max over replications"}[chart.band]
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title=ctx.group_label(chart.by), loc="outside right upper", fontsize=8, title_fontsize=8)
    title = chart.title or f"{', '.join(chart.metrics)} over time by {ctx.group_label(chart.by)}; mean over replications, band: {band}{_pooled(ctx, [chart.by or "point", chart.facet])}"
    return _finish(fig, ctx, title, out, stem)


def _run_values(ctx: ReportContext, metric: str, columns: list[str]) -> pd.DataFrame:
    """One row per successful run: the chosen point columns and the summary's value."""
    cols = ", ".join(f"p.{quote(c)} AS {quote(c)}" for c in dict.fromkeys(columns))
    return ctx.results.sql(
        f"SELECT d.point AS point_id, {cols + ', ' if cols else ''}s.{quote(metric)} AS value FROM summaries s "
        "JOIN design d ON d.run = s.run JOIN points p ON p.point = d.point"
    )


def phase(ctx: ReportContext, chart: PhaseChart, out: Path, stem: str) -> list[Path]:
    cols = [chart.x, chart.y] + ([chart.facet] if chart.facet else [])
    frame = _run_values(ctx, chart.metric, cols)
    keys = cols
    cells = frame.groupby(keys, dropna=False)["value"].agg(mean="mean", sd="std", n="count").reset_index()
    cells.to_csv(out / f"{stem}.csv", index=False)
    facets = _levels(ctx, chart.facet, cells[chart.facet]) if chart.facet else [None]
    xs = _levels(ctx, chart.x, cells[chart.x])
    ys = _levels(ctx, chart.y, cells[chart.y])
    fig = Figure(layout="constrained", figsize=(9.5, 3.6 * len(facets) + 0.9))
    axes = fig.subplots(len(facets), 2, squeeze=False)
    what = f"{chart.metric} ({ctx.summary_unit(chart.metric)})"
    for row, fv in enumerate(facets):
        part = cells if fv is None else cells[cells[chart.facet] == fv]
        for col, (stat, label, cmap) in enumerate((("mean", f"mean of {what}", "cividis"), ("sd", f"s.d. over replications of {chart.metric}", "Greys"))):
            grid = np.full((len(ys), len(xs)), np.nan)
            for _, c in part.iterrows():
                grid[ys.index(c[chart.y]), xs.index(c[chart.x])] = c[stat]
            ax = axes[row][col]
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, vmin=cells[stat].min(), vmax=cells[stat].max())  # one scale for all panels
            ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs], fontsize=8)
            ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys], fontsize=8)
            ax.set_xlabel(chart.x)
            ax.set_ylabel(chart.y)
            bar = fig.colorbar(image, ax=ax)
            bar.set_label(label, fontsize=8)
            if len(xs) * len(ys) <= 64:
                middle = (cells[stat].min() + cells[stat].max()) / 2
                for i in range(len(ys)):
                    for j in range(len(xs)):
                        if np.isfinite(grid[i, j]):
                            light = (grid[i, j] < middle) == (cmap == "cividis")
                            ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=7, color="white" if light else "black")
            ax.set_title(("mean" if stat == "mean" else "replication spread (s.d.)") + (f", {short(chart.facet)} = {_fmt(fv)}" if fv is not None else ""), fontsize=10)
    title = chart.title or f"{chart.metric} over {short(chart.x)} and {short(chart.y)}{_pooled(ctx, cols)}"
    return [out / f"{stem}.csv"] + _finish(fig, ctx, title, out, stem)


def _pooled(ctx: ReportContext, shown: list[str | None]) -> str:
    """Title note naming the swept parameters a chart averages over."""
    if "point" in shown:
        return ""
    pooled = [p for p in ctx.results.parameters if p not in shown]
    return f"; pooled over {', '.join(map(short, pooled))}" if pooled else ""


def _levels(ctx: ReportContext, column: str, present) -> list:
    """The values of a swept column in reading order: numbers ascending, anything else
    (rule names, scenarios) in the order the spec lists them."""
    order = ctx.results.params["point" if column == "point" else column]
    present = set(present)
    values = [v for v in dict.fromkeys(order) if v in present]
    return sorted(values) if all(pd.api.types.is_number(v) for v in values) else values


def box(ctx: ReportContext, chart: BoxChart, out: Path, stem: str) -> list[Path]:
    by = chart.by or ("scenario" if ctx.results.params["scenario"].nunique() > 1 and not ctx.results.parameters else "point")
    fig = Figure(layout="constrained", figsize=(max(5.5, 0.9 * len(ctx.results.params) + 2) if by == "point" else 7.5, 3.2 * len(chart.metrics) + 1.0))
    axes = fig.subplots(len(chart.metrics), 1, squeeze=False)
    for row, metric in enumerate(chart.metrics):
        frame = _run_values(ctx, metric, [by] if by != "point" else [])
        key = "point_id" if by == "point" else by
        groups = _levels(ctx, by, frame[key])
        names = _group_names(ctx, None if by == "point" else by, groups)
        data = [frame.loc[frame[key] == g, "value"].dropna().to_numpy() for g in groups]
        ax = axes[row][0]
        parts = ax.boxplot(data, patch_artist=True, showmeans=True, meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 4}, medianprops={"color": "black"})
        for k, patch in enumerate(parts["boxes"]):
            patch.set_facecolor(str(0.55 + 0.4 * (k % 2)))
            patch.set_hatch(HATCHES[k % len(HATCHES)])
        ax.set_xticks(range(1, len(groups) + 1), [names[g] for g in groups], rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center", fontsize=8)
        ax.set_ylabel(f"{metric}\n({ctx.summary_unit(metric)})", fontsize=9)
        ax.set_xlabel(ctx.group_label(by))
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
    title = chart.title or f"{', '.join(chart.metrics)} by {ctx.group_label(by)} (box: quartiles over runs; diamond: mean){_pooled(ctx, [by])}"
    return _finish(fig, ctx, title, out, stem)


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


def _ranges(ctx: ReportContext) -> dict[str, tuple[float, float]]:
    return {p: tuple(b) for p, b in ctx.spec["sample"]["ranges"].items()}


def _table_files(frame: pd.DataFrame, out: Path, stem: str) -> list[Path]:
    frame.to_csv(out / f"{stem}.csv", index=False)
    (out / f"{stem}.md").write_text(markdown(frame) + "\n", encoding="utf-8")
    return [out / f"{stem}.csv", out / f"{stem}.md"]


def sobol(ctx: ReportContext, chart: SobolChart, out: Path, stem: str) -> list[Path]:
    ranges, sample = _ranges(ctx), ctx.spec["sample"]
    tables = []
    for metric in chart.metrics:
        y, missing = _design_outputs(ctx, metric)
        sensitivity.require_complete(y, f"Sobol analysis of {metric}", missing)
        table = sensitivity.sobol_indices(ranges, y, seed=ctx.spec.get("seed", 0), second_order=sample.get("second_order", False), what=metric)
        tables.append(table.assign(metric=metric))
    table = pd.concat(tables, ignore_index=True)[["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]]
    files = _table_files(table, out, stem)
    fig = Figure(layout="constrained", figsize=(7.5, 3.0 * len(chart.metrics) + 1.0))
    axes = fig.subplots(len(chart.metrics), 1, squeeze=False)
    for row, metric in enumerate(chart.metrics):
        part = table[table["metric"] == metric]
        ax = axes[row][0]
        x = np.arange(len(part))
        ax.bar(x - 0.2, part["S1"], 0.4, yerr=part["S1_conf"], capsize=3, color="0.35", edgecolor="black", label="first order S1")
        ax.bar(x + 0.2, part["ST"], 0.4, yerr=part["ST_conf"], capsize=3, color="0.85", edgecolor="black", hatch="///", label="total ST")
        ax.set_xticks(x, [short(p) for p in part["parameter"]], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(f"Sobol index of\n{metric}\n(share of variance)", fontsize=9)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax.legend(fontsize=8)
    title = chart.title or f"Sobol sensitivity indices (bars: 95% bootstrap confidence intervals), N={sample.get('n')}"
    return files + _finish(fig, ctx, title, out, stem)


def morris(ctx: ReportContext, chart: MorrisChart, out: Path, stem: str) -> list[Path]:
    ranges, sample = _ranges(ctx), ctx.spec["sample"]
    x = ctx.results.params[list(ranges)].to_numpy(float)
    tables = []
    for metric in chart.metrics:
        y, missing = _design_outputs(ctx, metric)
        sensitivity.require_complete(y, f"Morris analysis of {metric}", missing)
        table = sensitivity.morris_indices(ranges, x, y, seed=ctx.spec.get("seed", 0), levels=sample.get("levels", 4), what=metric)
        tables.append(table.assign(metric=metric))
    table = pd.concat(tables, ignore_index=True)[["metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"]]
    files = _table_files(table, out, stem)
    fig = Figure(layout="constrained", figsize=(10, 3.2 * len(chart.metrics) + 1.0))
    axes = fig.subplots(len(chart.metrics), 2, squeeze=False)
    for row, metric in enumerate(chart.metrics):
        part = table[table["metric"] == metric]
        what = f"{metric} ({ctx.summary_unit(metric)})"
        ax = axes[row][0]
        pos = np.arange(len(part))
        ax.bar(pos, part["mu_star"], 0.6, yerr=part["mu_star_conf"], capsize=3, color="0.6", edgecolor="black", hatch="//")
        ax.set_xticks(pos, [short(p) for p in part["parameter"]], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(f"mu* of {what}\nper parameter range", fontsize=9)
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)
        ax = axes[row][1]
        for k, (_, r) in enumerate(part.iterrows()):
            ax.scatter(r["mu_star"], r["sigma"], marker=MARKERS[k % len(MARKERS)], color="black", label=short(r["parameter"]))
        ax.set_xlabel(f"mu* ({ctx.summary_unit(metric)} per range)")
        ax.set_ylabel("sigma (non-linearity,\ninteractions)", fontsize=9)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.legend(fontsize=7)
    title = chart.title or f"Morris elementary effects: mu* (bars: 95% bootstrap CI) and sigma, {sample.get('n')} trajectories"
    return files + _finish(fig, ctx, title, out, stem)


DRAW = {"timeseries": timeseries, "phase": phase, "box": box, "sobol": sobol, "morris": morris}


# --------------------------------------------------------------------------- tables


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cells = frame.map(_fmt) if len(frame) else frame
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.astype(str).itertuples(index=False)]
    return "\n".join(lines)


def summary_table(results: Results) -> pd.DataFrame:
    """One row per point: parameters, run counts, and mean and s.d. of every summary."""
    counts = results.runs.pivot_table(index="point", columns="status", values="run", aggfunc="count", fill_value=0)
    counts = counts.reindex(columns=["ok", "failed", "missing"], fill_value=0).add_prefix("runs_")
    table = results.params.set_index("point").join(counts)
    stats = results.summaries.groupby("point")[results.summary_columns].agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat.replace('std', 'sd')}" for metric, stat in stats.columns]
    return table.join(stats).reset_index()


@dataclass
class Report:
    out: Path
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def make(directory: str | Path, out: str | Path | None = None) -> Report:
    """Write the summary table and every chart of the sweep in ``directory``, into
    ``out`` (default ``directory/report``) all at once, under :mod:`abm.outputs`' rule:
    the files of an earlier report in an explicit ``out`` are replaced, nothing else."""
    results = Results(directory)
    final = Path(out) if out else Path(directory) / "report"
    with matplotlib.rc_context(STYLE), atomic_directory(final, "report", replace=out is not None) as out:
        report = Report(final)
        ctx = ReportContext(results)
        table = summary_table(results)
        table.to_csv(out / "summary.csv", index=False)
        written = [out / "summary.csv"]
        charts: list[Chart] = [CHARTS[c["type"]].model_validate(c) for c in results.manifest.get("charts", [])]
        used: set[str] = set()
        sections = []
        for k, chart in enumerate(charts):
            stem = chart.file or _stem(chart)
            stem = stem if stem not in used else f"{stem}_{k}"
            used.add(stem)
            try:
                files = DRAW[chart.type](ctx, chart, out, stem)
            except sensitivity.MissingValuesError as exc:
                report.problems.append(f"chart {k} ({chart.type}): {exc}")
                continue
            written += files
            sections.append(f"### {stem}\n\n![{stem}]({stem}.png)\n")
        (out / "summary.md").write_text(_summary_markdown(ctx, table, sections, report.problems), encoding="utf-8")
        written.insert(1, out / "summary.md")
    report.files = [final / path.relative_to(out) for path in written]
    return report


def _stem(chart: Chart) -> str:
    """Default file name: chart type and metric names, shortened at a name boundary."""
    names = [chart.metric] if isinstance(chart, PhaseChart) else list(chart.metrics)
    stem = f"{chart.type}_{names[0]}"
    for k, name in enumerate(names[1:], start=1):
        if len(stem) + 1 + len(name) > 80:
            return f"{stem}_and_{len(names) - k}_more"
        stem += f"_{name}"
    return stem


def _summary_markdown(ctx: ReportContext, table: pd.DataFrame, sections: list[str], problems: list[str]) -> str:
    res = ctx.results
    m = res.manifest
    lines = [f"# {res.experiment}", "", m.get("description") or "", "", f"_{ctx.footer}._", ""]
    lines += [f"Model commit `{m.get('model', {}).get('commit')}`" + (" (with uncommitted changes)" if m.get("model", {}).get("dirty") else "") + f"; created {m.get('created')}.", ""]
    lines += ["## Summary by point", ""]
    shown = table.head(MD_ROWS)
    means = [c for c in table.columns if c.endswith("_mean")]
    compact = shown.drop(columns=[c for c in table.columns if c.endswith("_mean") or c.endswith("_sd")])
    for c in means:
        base = c[: -len("_mean")]
        compact[base] = [f"{a:.4g} ± {b:.2g}" if not math.isnan(b) else f"{a:.4g}" for a, b in zip(shown[c], shown[f"{base}_sd"])]
    lines += [markdown(compact), ""]
    if len(table) > MD_ROWS:
        lines += [f"First {MD_ROWS} of {len(table)} points; all of them are in summary.csv.", ""]
    if ctx.failed:
        fails = res.failures
        lines += ["## Failed runs", "", f"{ctx.failed} run(s) failed; tracebacks: `abm.results.load(DIR).failures`.", ""]
        lines += [markdown(fails[["point", "replication", "seed", "error"]].head(20)), ""]
    if problems:
        lines += ["## Charts not made", ""] + [f"- {p}" for p in problems] + [""]
    if sections:
        lines += ["## Charts", ""] + sections
    return "\n".join(lines)
