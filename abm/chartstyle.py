"""Conventions shared by every chart and table of the project (runs, reports, comparisons,
the dashboard), so that a reader learns them once:

* **uncertainty**: a line or a table cell is the mean over runs; a band and a "±" are the
  95% confidence interval of that mean (Student t over the runs; none with a single run).
  Differences between scenarios are paired by seed. A share of runs (in an outcome class)
  has its 95% Wilson interval. Box charts show the spread of runs (quartiles), which is a
  distribution, not an interval, and say so;
* **scales**: an index, share or HHI is drawn on its natural range 0-1 unless a chart is
  asked to zoom, and then the range shown is stated on the chart;
* **groups**: a categorical palette (Okabe-Ito, safe for colour-blind readers) together with
  line styles and markers, so that lines stay distinct in grayscale print;
* **parameters and metrics**: charts name parameters in words (``rules.decision.cap`` ->
  "hedging cap", the title its rule declares; ``rules.decision.noise`` -> "decision
  noise"), not by their configuration path, and metrics and summaries too
  (``fragmentation_south_caucasus_final`` -> "fragmentation south caucasus, final");
* **dates**: time axes are ticked on 1 January every 1, 2, 5 or 10 years (on the first of
  every 1, 2, 3, 6 or 12 months for spans of three years or less) and labelled by year (year-month).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

# the charts of a run's folder: named here, so that the CLI checks its output folder
# before a run without importing matplotlib
RUN_CHARTS = ("alignment.png", "fragmentation_integration.png", "region_map.png")


def save(fig, path, **kwargs) -> None:
    """``fig.savefig`` without what varies from one save of the same figure to the next, so
    a figure committed with a paper changes only when its content does. A PNG carries
    nothing variable (matplotlib's version only). An SVG gets no ``<dc:date>``, and its ids
    (hashes of coordinates at full precision, or random) are renumbered in order of
    appearance. Left: constrained layout's solver can move a coordinate by ~1e-13, which
    shifts the sixth decimal written when it sits on a rounding tie."""
    if not str(path).endswith(".svg"):
        fig.savefig(path, **kwargs)
        return
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, **kwargs)
    text = buffer.getvalue()
    ids = {old: f"{old[:-10]}{k}" for k, old in enumerate(dict.fromkeys(re.findall(r'id="([a-z]+[0-9a-f]{10})"', text)))}
    text = re.sub(r'(?<=["#])([a-z]+[0-9a-f]{10})(?=[")])', lambda m: ids.get(m.group(1), m.group(1)), text)
    Path(path).write_text(text, encoding="utf-8")


UNCERTAINTY = "mean over runs; bands and ± are 95% confidence intervals of the mean (t, over runs)"
UNCERTAINTY_TABLE = "each cell: mean over runs ± half-width of the 95% confidence interval of that mean (t, over runs; no ± with a single run)"
PAIRED = "differences paired by seed; bands and ± are the 95% confidence interval of the mean difference (t, over seeds)"


def starred(lows) -> str:
    """What a table's * means: each cell's own interval, with no correction for the many
    cells of a table read at once (compare.md, a report's difference tables). ``lows``:
    the cells' lower bounds; a cell without an interval (one seed, no pairs) counts for none."""
    cells = int(np.isfinite(np.asarray(lows, dtype=float)).sum())
    if not cells:
        return "no cell has an interval (one seed each), so none is starred"
    return (f"* marks an interval that excludes 0: each cell's own 95% interval, not adjusted for the table's {cells} cells "
            "(with no effect anywhere, about 1 in 20 would be starred)")

# Okabe & Ito (2008), "Color Universal Design": distinct for the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)), (0, (3, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "x", "P", "*"]

# Units of the model's metrics, by name prefix (docs/experiments.md lists them).
UNITS = [
    ("fragmentation", "index, 0-1"),
    ("division", "index, 0-1"),
    ("integration", "index, 0-1"),
    ("polarization", "index, 0-1"),
    ("mean_dependency_hhi", "HHI, 0-1"),
    ("cohesion_", "index, 0-1"),
    ("influence_", "mean share of each state's ties, 0-1"),  # ODD 7.8: the mean of the states' own shares, as the dashboard says
    ("regional_trade_share", "share, 0-1"),
    ("blocs", "number of blocs"),
    ("members_", "member states"),
    ("offers_", "offers per step"),
    ("coercion_events", "events per step"),
    ("conflict_events", "events per step"),
    ("transit_revenue_", "USD bn per year"),
    ("spending_", "USD bn per quarter"),
    ("unmet_demand", "Mt per year"),
]


def unit(metric: str) -> str:
    """The unit of a model metric (series or summary base name)."""
    if metric.endswith("_volume"):
        return "Mt per year"
    if metric.endswith("_share") or "_share_" in metric:
        return "share, 0-1"
    return next((u for prefix, u in UNITS if metric.startswith(prefix)), "model units")


# Units of the per-state columns (agents.csv, sweeps' metrics.states), by column or
# per-power family (ODD 7.15.3 defines them).
STATE_UNITS = {
    **dict.fromkeys(("alignment", "alignment_other", "investment", "security", "trade", "declared"), "share, 0-1"),
    "opinion": "index, -1 to 1",
    "dependency_hhi": "HHI, 0-1",
    "defections": "remembered defections (x0.9 per step)",
}  # welfare (7.14) is an index with no unit of its own


def state_unit(column: str) -> str:
    """The unit of a per-state column or family (``alignment`` for ``alignment_<power>``)."""
    return STATE_UNITS.get(column, "model units")


def summary_unit(metric: str, stat: str) -> str:
    """The unit of a sweep summary: its metric's, but a year for a ``first_crossing``
    (the decimal year of the crossing)."""
    return "decimal year" if stat == "first_crossing" else unit(metric)


def natural_range(metric_unit: str) -> tuple[float, float] | None:
    """(0, 1) for indices, shares and HHIs; None for counts and money."""
    return (0.0, 1.0) if metric_unit.endswith("0-1") else None


def sd(values):
    """Sample standard deviation (n - 1) of a Series, of each column of a DataFrame or of
    each group of a groupby; NaN under 2 values. Exactly 0 where every value is the same:
    numpy's two-pass formula leaves about 1e-17 there when the mean is off in its last
    bit, printed as a spread between runs that agree ("0.171 ± 2.8e-17")."""
    spread, same = values.std(ddof=1), (values.max() == values.min()) & (values.count() > 1)
    return spread.mask(same, 0.0) if hasattr(spread, "mask") else 0.0 if same else spread  # a Series' s.d. is a number


def ci95(sd, n):
    """Half-width of the 95% confidence interval of a mean of ``n`` values with standard
    deviation ``sd``; NaN where ``n`` < 2 (no interval from a single run)."""
    from scipy.special import stdtrit  # the Student t quantile stats.t.ppf computes, without importing scipy.stats (0.4 s)

    sd, n = np.asarray(sd, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stdtrit(np.maximum(n - 1, 1), 0.975) * sd / np.sqrt(n)
    return np.where(n >= 2, half, np.nan)


def figure(x: float, sign: bool = False) -> str:
    """``x`` with at least two significant digits: three decimals, four below 0.01, and
    scientific notation below 0.001 (+3.1e-05), so that a small effect, which may well be
    clear, never reads as 0.000. Exactly 0 stays 0.000."""
    plus = "+" if sign else ""
    if x == 0 or abs(x) >= 0.01:
        return f"{x:{plus}.3f}"
    return f"{x:{plus}.4f}" if abs(x) >= 0.001 else f"{x:{plus}.1e}"


def cell(value) -> str:
    """Text for one cell of a Markdown table: a label or an error message may hold ``|``
    or a line break, which would end the cell or the row and shift every later column."""
    return " ".join(str(value).split("\n")).replace("|", "\\|")


def estimate(mean: float, half: float, sign: bool = False) -> str:
    """A mean ± the half-width of its 95% interval; the mean alone when there is no
    interval (one seed)."""
    return figure(mean, sign) + (f" ± {figure(half)}" if np.isfinite(half) else "")


def wilson95(k, n) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the 95% Wilson score interval of a share of ``k`` in ``n``, elementwise:
    scipy's ``binomtest(k, n).proportion_ci(method="wilson")`` in its arithmetic, without
    a call per share (a test checks the two agree); NaN where ``n`` is 0."""
    from scipy.special import ndtri

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = ndtri(0.975)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 2 * (n + z**2)
        centre, half = (2 * n * p + z**2) / denom, z * np.sqrt(4 * n * p * (1 - p) + z**2) / denom
    return centre - half, centre + half


def palette(n: int) -> list:
    """``n`` categorical colours: Okabe-Ito up to 8, then a qualitative colormap."""
    if n <= len(OKABE_ITO):
        return OKABE_ITO[:n]
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(k % 20) for k in range(n)]


def line_style(k: int, n: int) -> dict:
    """Colour, line style and marker of line ``k`` of ``n``."""
    return {"color": palette(n)[k], "linestyle": LINESTYLES[k % len(LINESTYLES)], "marker": MARKERS[k % len(MARKERS)]}


# Scenario sections keyed by an entity: a path into one keeps the entity's key in its label,
# since the same setting of two powers (or states...) is swept side by side.
ENTITIES = ("powers", "states", "corridors", "organisations", "events", "shocks")


def rule_title(family: str, parameter: str) -> str | None:
    """The title a rule's parameter declares for readers (``Field(title="hedging cap")``),
    where the family's name would mislead: only the hedging rule takes a cap."""
    from abm.rules import registry

    titles = {rule.Params.model_fields[parameter].title for rule in registry.REGISTRY.get(family, {}).values() if parameter in rule.Params.model_fields}
    return titles.pop() if len(titles) == 1 else None


def label(path: str) -> str:
    """A parameter path in words: ``rules.decision.cap`` -> "hedging cap" (the title its rule
    declares), ``rules.decision.noise`` -> "decision noise",
    ``rules.decision.name`` -> "decision rule", ``utility.dependence`` -> "utility dependence",
    ``powers.china.budget.investment`` -> "china investment budget" (the entity kept, so that
    China's and the EU's budgets are told apart on a chart)."""
    if path in ("scenario", "point"):
        return "parameter point" if path == "point" else path
    parts = path.split(".")
    if parts[0] == "rules":
        parts = parts[1:]
        if len(parts) == 2 and (title := rule_title(*parts)):
            return title
    if len(parts) > 1 and parts[-1] == "name":
        parts = parts[:-2] + [f"{parts[-2]} rule"]
    if parts[0] in ENTITIES and len(parts) > 2:
        owner, setting = parts[1], parts[2:]
        if setting[0] == "budget" and len(setting) == 2:  # budget.<domain>: new money of that domain
            setting = [setting[1], "budget"]
        return " ".join([owner, *setting[-2:]]).replace("_", " ")
    return " ".join(parts[-2:]).replace("_", " ")


STAT_WORDS = {"mean": "mean", "min": "minimum", "max": "maximum"}

# The statistic ending a summary column, as abm.experiment.Summary.column names it, in words;
# the most specific ending first.
SUMMARY_ENDINGS = [
    (r"_(mean|min|max)_(\d{4})_(\d{4})", lambda stat, first, last: f"{STAT_WORDS[stat]} {first}-{last}"),
    (r"_(mean|min|max)_last(\d+)", lambda stat, steps: f"{STAT_WORDS[stat]} of the last {steps} steps"),
    (r"_(mean|min|max)", lambda stat: f"{STAT_WORDS[stat]} over the run"),
    (r"_final", lambda: "final"),
    (r"_(\d{4})", lambda year: f"{year}-01-01"),  # at 1 January
    (r"_(\d{4}-\d\d-\d\d)", lambda date: date),
    (r"_first_(above|below)_([-+.\de]+)", lambda direction, threshold: f"first at or {direction} {threshold}"),
]


def metric_label(name: str, summaries=()) -> str:
    """A model metric or a sweep summary in words, as every chart names it:
    ``fragmentation_south_caucasus`` -> "fragmentation south caucasus",
    ``fragmentation_south_caucasus_final`` -> "fragmentation south caucasus, final",
    ``fragmentation_2035`` -> "fragmentation, 2035-01-01", ``integration_mean_last8`` ->
    "integration, mean of the last 8 steps".

    ``summaries`` are the sweep's declarations (:class:`abm.experiment.Summary`). A summary
    declared there is worded from its declaration, since its name alone can mislead: a
    ``name`` of its own is shown as written, in words (``name: x_final`` on a mean is "x
    final", not "x, final"), and a derived column splits at its declared metric. Without a
    declaration (a model metric, a series of abm compare) the statistic is read from the
    name's ending."""
    declared = next((s for s in summaries if s.column == name), None)
    if declared is not None and declared.name:
        return name.replace("_", " ")
    head = f"({re.escape(declared.metric)})" if declared is not None else "(.+?)"
    for ending, words in SUMMARY_ENDINGS:
        if m := re.fullmatch(head + ending, name):
            return f"{m.group(1).replace('_', ' ')}, {words(*m.groups()[1:])}"
    return name.replace("_", " ")


# Units of swept settings that are quantities (ODD 7.16); indices, shares and weights have none.
PARAMETER_UNITS = [
    (lambda parts: parts[-1] == "budget", "USD bn per quarter and domain"),  # the whole mapping, or a generated world's mean
    (lambda parts: parts[-2:-1] == ["budget"], "USD bn per quarter"),  # budget.<domain>
    (lambda parts: parts[-1] == "gdp", "USD bn"),
    (lambda parts: parts[-1] == "population", "million"),
    (lambda parts: parts[-1] == "external_trade" or (parts[-1] == "trade" and "neighbours" in parts), "USD bn per year"),
    (lambda parts: parts[-1] == "gdp_growth" or parts[:2] == ["freight", "growth"], "per year"),
    (lambda parts: parts[-1] == "capacity" or parts[:2] == ["freight", "demand"], "Mt per year"),
    (lambda parts: parts[-1] in ("steps", "duration"), "quarters"),
    (lambda parts: parts[-1] == "hazard", "per quarter"),
    (lambda parts: parts[-1] == "time" and "segments" in parts, "days"),
    (lambda parts: parts[-1] == "cost" and "segments" in parts, "USD per t"),
]


def parameter_unit(path: str) -> str | None:
    """The unit of a swept setting (``powers.china.budget.investment``: USD bn per quarter),
    None for an index, share or weight."""
    parts = [p.split("[")[0] for p in path.split(".")]
    return next((u for matches, u in PARAMETER_UNITS if matches(parts)), None)


def axis_label(path: str) -> str:
    """:func:`label` with the setting's unit, for an axis or a legend's title."""
    u = parameter_unit(path)
    return f"{label(path)} ({u})" if u else label(path)


def zoom_note(low: float, high: float) -> str:
    return f"scale zoomed to {low:.3g}-{high:.3g}"


def set_range(ax, metric_unit: str, zoom: bool, axis: str = "y") -> str:
    """Anchor the value axis at the metric's natural range, or leave it fitted to the
    data when ``zoom``; returns the note to add to the chart ("" when anchored)."""
    bounds = natural_range(metric_unit)
    setter, getter = (ax.set_ylim, ax.get_ylim) if axis == "y" else (ax.set_xlim, ax.get_xlim)
    if bounds and not zoom:
        setter(*bounds)
        return ""
    return zoom_note(*getter()) if bounds else ""


def date_numbers(dates) -> np.ndarray:
    """Dates (ISO strings, datetime64, Timestamps) as matplotlib date numbers: plain floats
    skip the unit conversion of every artist and tick."""
    from matplotlib import dates as mdates

    return mdates.date2num(np.asarray(dates, dtype="datetime64[D]"))


def date_axis(ax, first: float, last: float) -> None:
    """Ticks of a time axis between two date numbers (for ``ax`` and the axes sharing its x
    axis), as the **dates** convention says: 8 or 9 at most, at fixed dates, which costs far less
    than matplotlib's automatic date ticks (a third of a chart's time, more under a layout
    engine that asks for them again and again). The view keeps autoscaling's margins."""
    from matplotlib import dates as mdates, rcParams
    from matplotlib.ticker import FixedLocator

    pad = rcParams["axes.xmargin"] * (last - first)
    ax.set_xlim(first - pad, last + pad)
    start, end = mdates.num2date(first), mdates.num2date(last)
    months = range(start.year * 12 + start.month - 1, end.year * 12 + end.month)
    if len(months) > 36:
        step = next(k * 10**e for e in range(6) for k in (1, 2, 5) if (end.year - start.year) / (k * 10**e) <= 8)
        ticks, label = [f"{y}-01-01" for y in range(start.year, end.year + 1) if y % step == 0], "%Y"
    else:
        step = next(k for k in (1, 2, 3, 6, 12) if len(months) / k <= 8)
        ticks, label = [f"{m // 12}-{m % 12 + 1:02d}-01" for m in months if m % step == 0], "%Y-%m"
    at = date_numbers(ticks)
    ax.xaxis.set_major_locator(FixedLocator(at[(at >= first) & (at <= last)]))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(label))
