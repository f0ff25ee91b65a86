"""Charts of one run, drawn from its stored tables (never from a live model).

* :func:`alignment_chart`: each state's alignment across the powers over time (stacked
  areas) in one run (one seed), with the events that concerned each state marked;
* :func:`fragmentation_chart`: fragmentation and integration, region and subregions;
* :func:`region_map`: states at their capitals' coordinates (marker area grows with
  population) coloured by main patron, ties to powers as edges whose width is the
  alignment share, neighbour relations as dashed lines (red hostile, green friendly); the
  external powers sit outside the map frame in their direction from the region.

Every function returns the matplotlib Figure and writes a PNG only when given a path, so
notebooks can show the figures directly.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from abm.chartstyle import RUN_CHARTS, date_axis, date_numbers, metric_label, set_range, unit
from abm.outputs import read_table

# Figures are built with the object API (Figure, not pyplot): no GUI backend is needed
# and the caller's backend (e.g. a notebook's inline one) is left alone.

HATCHES = ["", "//", "\\\\", "..", "xx", "--", "++", "oo", "||", "**", "O"]  # 11, against tab10's 10 colours: no two of the first 110 powers alike
PANELS = 24  # states an alignment chart draws at most (a generated world has hundreds)
OTHER_COLOR = "#d9d9d9"  # the partners a scenario does not name: light grey, no hatching


# Powers' colours when a scenario gives none: tab10's ten, then tab20's lighter tints of the
# same hues, so that an eleventh power recolours none of the first ten. tab20's greys, which
# the unnamed partners' light grey band and the map's grey tie samples would swallow, are
# tab20b's indigo and light indigo.
_TAB20 = dict(enumerate(matplotlib.colors.to_hex(c) for c in colormaps["tab20"].colors)) | {14: "#393b79", 15: "#9c9ede"}
POWER_CYCLE = [_TAB20[k] for k in range(0, 20, 2)] + [_TAB20[k] for k in range(1, 20, 2)]


def power_colors(scenario) -> dict[str, str]:
    """Each power's colour: the scenario's, or :data:`POWER_CYCLE`'s in turn. Past 20
    powers colours repeat; the alignment chart still tells every power apart by its hatching."""
    return {p: spec.color or POWER_CYCLE[k % len(POWER_CYCLE)] for k, (p, spec) in enumerate(scenario.powers.items())}


def hatch(k: int) -> str:
    """The k-th power's hatching in the alignment chart."""
    return HATCHES[k % len(HATCHES)]


def _dates(frame: pd.DataFrame) -> np.ndarray:
    return date_numbers(frame["date"])


def _margins(fig: Figure, left: float, right: float, bottom: float, top: float, wgap: float, hgap: float) -> None:
    """Place the subplot grid with margins and gaps in inches (a fixed layout for text of
    known sizes; tight_layout measures every tick label and costs a fifth of a chart)."""
    (width, height), grid = fig.get_size_inches(), fig.axes[0].get_subplotspec().get_gridspec()
    rows, cols = grid.get_geometry()
    axw = (width - left - right - wgap * (cols - 1)) / cols
    axh = (height - top - bottom - hgap * (rows - 1)) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height, wspace=wgap / axw, hspace=hgap / axh)


TITLE_LINE = 0.19  # inches a line of an 11-point title takes


def _suptitle(fig: Figure, text: str, fontsize: float = 11, **place) -> float:
    """Set ``text`` as the figure's title, wrapped to its width (about 0.6 em a character),
    and return the inches the wrapping added, which the caller's layout makes room for: a
    title naming several --set overrides ran off both edges of the chart."""
    width = int(fig.get_figwidth() * 72 / (0.6 * fontsize))
    lines = [line for part in text.split("\n") for line in textwrap.wrap(part, width) or [""]]
    fig.suptitle("\n".join(lines), fontsize=fontsize, **place)
    return TITLE_LINE * (len(lines) - len(text.split("\n")))


def _save(fig: Figure, path: Path | None, dpi: int = 130) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def event_states(events: pd.DataFrame | None, states, scenario) -> list[tuple[np.datetime64, str, list[str], str]]:
    """(date, label, states concerned, when) for every logged event that changed something
    (not one logged with ``no_effect``, such as an exit by a non-member); the states are read
    from the event's parameter columns ``state``, ``target``, ``node``, ``states`` and
    ``nodes`` (lists joined with ';'). ``date`` is the log's, the end of the period in
    which the event fired (ODD 7.13), where the model shows its effect; ``when`` is what a
    reader is told: a scheduled event's own date from the scenario, else the period
    (:func:`period_name`), since a date a quarter late reads as the wrong month."""
    found = []
    for row in (events if events is not None else pd.DataFrame()).to_dict("records"):
        if isinstance(row.get("no_effect"), str) and row["no_effect"]:
            continue
        cells = [row.get(k) for k in ("state", "target", "node", "states", "nodes")]
        named = [name for cell in cells if isinstance(cell, str) for name in cell.split(";")]
        ident = row["id"] if isinstance(row.get("id"), str) and row["id"] else None
        label = ident or str(row["type"]).replace("_", " ")
        own = (scenario.events.get(ident) or {}).get("date") if ident else None
        when = pd.Timestamp(own).date().isoformat() if own is not None else period_name(scenario, int(row["step"]))
        found.append((np.datetime64(row["date"], "D"), label, [k for k in named if k in states], when))
    return found


def titled(scenario, overrides=()) -> str:
    """The scenario's name as a chart's title gives it: with the command line's ``--set``
    overrides, without which a run's figures would pass for the plain scenario's."""
    return f"{scenario.name} with {', '.join(' '.join(o.split()) for o in overrides)}" if overrides else scenario.name  # on one line: the layout makes room for the lines wrapping adds


def period_name(scenario, step: int) -> str:
    """The quarter (the model's only step length) that ends at ``step``: 2025Q3 for a
    calendar quarter, else its first and last month (a run started on 2025-02-01)."""
    start = scenario.date(step - 1)
    if start.day == 1 and start.month % 3 == 1:
        return f"{start.year}Q{start.month // 3 + 1}"
    last = scenario.date(step).replace(day=1) - dt.timedelta(days=1)
    return f"{start:%Y-%m} to {last:%Y-%m}"


def _stack(x: np.ndarray, ys: np.ndarray) -> list[np.ndarray]:
    """Polygons of stacked areas: band k lies between the sums of rows < k and <= k of ``ys``."""
    top = np.cumsum(ys, axis=0)
    bottom = np.vstack([np.zeros_like(x), top[:-1]])
    return [np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([low, high[::-1]])]) for low, high in zip(bottom, top)]


CAPTION_EVENTS = 60  # marked events the alignment chart's caption lists by name, and as many periods of unmarked ones; the rest are counted
NUMBER_EM = 6.5 / 72 * 0.64  # inches an event number's digit (or comma) takes at 6.5 points, at most


def event_labels(here: dict[float, list[str]], days_per_inch: float, edge: float) -> dict[float, str]:
    """The numbers printed above a panel, by the date number of the line they stand at: a
    label holds what fits between its line and the panel's right ``edge`` (the rest cut to
    "…": the caption lists every one), and an event whose line falls under the previous
    label (its width in days of the time axis, one digit's room after it) joins that
    label, so labels never overprint each other nor the next panel's."""
    labels: dict[float, str] = {}
    last = None

    def room(at: float) -> float:  # characters from ``at`` to the edge
        return (edge - at) / days_per_inch / NUMBER_EM

    for when in sorted(here):
        if last is not None and when - last < (len(labels[last]) + 1) * NUMBER_EM * days_per_inch:
            if not labels[last].endswith("…"):  # a cut label reaches the edge already
                labels[last] = fitted(f"{labels[last]},{','.join(here[when])}", room(last))
        else:
            last, labels[when] = when, fitted(",".join(here[when]), room(when))
    return labels


def fitted(text: str, room: float) -> str:
    """``text`` (numbers joined by commas) within ``room`` characters: whole numbers, then "…"."""
    if len(text) <= room:
        return text
    kept = text[: max(int(room) - 1, 0)]
    return (kept[: kept.rfind(",") + 1] if "," in kept else "") + "…"
CAPTION_LINE = 0.135  # inches a caption line takes at 8 points


def alignment_chart(agents: pd.DataFrame, scenario, path: Path | None = None, events: pd.DataFrame | None = None, overrides=()) -> Figure:
    """Each state's alignment over time in ONE run (the scenario's seed): a single
    stochastic path, not an average. The bands stack the powers' shares of the state's
    ties, then the share of the partners the scenario does not name (grey), up to 1.
    Dotted lines mark the events that concerned the state."""
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    states = list(scenario.states)
    shown = f" (the first {PANELS} of {len(states)} states)" if len(states) > PANELS else ""  # a generated world: said in the title
    states = states[:PANELS]
    cols = min(4, len(states))
    rows = math.ceil(len(states) / cols)
    marked = event_states(events, set(states), scenario)
    number, told, elsewhere = {}, {}, {}  # an event's number on the chart, when the caption says it happened; the periods of events no panel marks
    for when, label, concerned, said in marked:
        if concerned:
            number.setdefault((when, label), len(number) + 1)
            told.setdefault((when, label), said)
        elif said not in elsewhere.setdefault(label, []):
            elsewhere[label].append(said)
    listed = "; ".join(f"{n} {told[key]} {key[1]}" for key, n in list(number.items())[:CAPTION_EVENTS])
    listed += f"; and {len(number) - CAPTION_EVENTS} more (events.csv)" if len(number) > CAPTION_EVENTS else ""
    unmarked = [(label, said) for label, times in elsewhere.items() for said in times]
    off = "; ".join(f"{label} {', '.join(s for k, s in unmarked[:CAPTION_EVENTS] if k == label)}" for label in dict.fromkeys(k for k, _ in unmarked[:CAPTION_EVENTS]))
    off += f"; and {len(unmarked) - CAPTION_EVENTS} more (events.csv)" if len(unmarked) > CAPTION_EVENTS else ""
    caption = f"One run, seed {scenario.seed}: a single stochastic path, not an average over seeds." + (f"\nEvents: {listed}." if listed else "")
    caption += f"\nNot marked, as they concern no state shown (routes, nodes): {off}." if off else ""
    caption = "\n".join(textwrap.fill(line, int(3.2 * cols * 13)) for line in caption.split("\n"))
    lines = caption.count("\n") + 1
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows + 1.4 + CAPTION_LINE * max(0, lines - 3)))  # a long run's caption gets room, not the panels' (whose height would go negative)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    key_of = agents["state"].to_numpy()
    # the powers' shares, then the partners the model does not name, so that a band reaches 1
    shares = agents[[f"alignment_{p}" for p in powers] + ["alignment_other"]].to_numpy(dtype=float)
    fills = [colors[p] for p in powers] + [OTHER_COLOR]
    hatching = [hatch(k) for k in range(len(powers))] + [""]  # the unnamed partners' band is not hatched
    dates = _dates(agents)
    left, right, wgap = 0.57, 0.17, 0.22  # inches: room for the y labels, and between panels
    axes[0, 0].set_ylim(0, 1)
    date_axis(axes[0, 0], dates.min(), dates.max())  # shared by every panel
    low, high = axes[0, 0].get_xlim()
    days_per_inch = (high - low) / ((fig.get_figwidth() - left - right - wgap * (cols - 1)) / cols)  # a panel's width, as _margins sets it
    for ax, key in zip(axes.flat, states):
        mine = key_of == key
        x = dates[mine]
        # one collection per power (hatching is set per collection), added without autoscaling: the limits are known
        for k, polygon in enumerate(_stack(x, shares[mine].T)):
            ax.add_collection(PolyCollection([polygon], facecolors=fills[k], edgecolors="white", linewidths=0.3, hatch=hatching[k] or None), autolim=False)
        here = {}
        for when, label, concerned, _ in marked:
            if key in concerned and str(number[(when, label)]) not in here.setdefault(x := mdates.date2num(when), []):  # two logs of one event (two targets) share its number
                here[x].append(str(number[(when, label)]))
        for when in here:
            ax.axvline(when, color="black", linestyle=":", linewidth=0.9)
        for when, text in event_labels(here, days_per_inch, high).items():
            ax.text(when, 1.01, text, transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=6.5, color="black")
        ax.set_title(scenario.states[key].name, fontsize=9, pad=10)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(states):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of ties", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, facecolor=colors[p], hatch=h, edgecolor="white") for p, h in zip(powers, hatching)]
    handles.append(Rectangle((0, 0), 1, 1, facecolor=OTHER_COLOR, edgecolor="white"))
    handles.append(Line2D([], [], color="black", linestyle=":", linewidth=0.9))
    legend_rows = math.ceil((len(powers) + 2) / 6)
    names = [scenario.powers[p].name for p in powers] + ["other partners (not modelled)", "event concerning the state (number)"]
    fig.legend(handles, names, loc="lower center", ncol=min(6, len(powers) + 2), fontsize=8, frameon=False)
    height = fig.get_figheight()  # title and caption at fixed inches from the top, as the margins are: in a tall figure a fraction put the caption over the first panels
    added = _suptitle(fig, f"Alignment of each state over time{shown} — {titled(scenario, overrides)}", y=1 - 0.031 / height)
    fig.text(0.5, 1 - (0.279 + added) / height, caption, ha="center", va="top", fontsize=8)
    # inches: room for the titles with the event numbers above them, the caption and the legend
    _margins(fig, left=left, right=right, bottom=0.36 + 0.3 * legend_rows, top=0.76 + CAPTION_LINE * lines + added, wgap=wgap, hgap=0.45)
    return _save(fig, path)


def fragmentation_chart(model: pd.DataFrame, scenario, path: Path | None = None, overrides=()) -> Figure:
    fig = Figure(figsize=(14, 4))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    left = axes[0]
    dates = _dates(model)
    styles = ["-", "--", ":", "-."]
    subregions = sorted({s.subregion for s in scenario.states.values()})
    for ax, metric in zip(axes, ("fragmentation", "division", "integration")):
        ax.plot(dates, model[metric].to_numpy(), color="black", linestyle="-", linewidth=2, label="region")
        for k, r in enumerate(subregions):
            ax.plot(dates, model[f"{metric}_{r}"].to_numpy(), linestyle=styles[(k + 1) % 4], linewidth=1.5, label=r.replace("_", " "))
        ax.set_title(metric.capitalize())
        ax.set_xlabel("date")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylim(0, 1)
    date_axis(left, dates.min(), dates.max())
    left.set_ylabel("index (0-1)")
    added = _suptitle(fig, f"Fragmentation (mean JS distance of alignments), division (between rival camps) and integration — {titled(scenario, overrides)}, one run (seed {scenario.seed})")
    _margins(fig, left=0.67, right=0.18, bottom=0.59, top=0.67 + added, wgap=0.23, hgap=0)
    return _save(fig, path)


def ensemble_chart(spread: pd.DataFrame, scenario, path: Path | None = None, overrides=(), zoom: bool = False) -> Figure:
    """Fan chart of an ensemble (:func:`abm.runner.ensemble`): for each headline metric, and
    then each metric the scenario's ``watch`` names, the mean over runs, the 95% confidence
    interval of that mean (dark band) and the spread of the runs themselves, 5th to 95th
    percentile (light band). Index scales on 0-1 unless ``zoom`` (narrow bands then show;
    each panel states its range)."""
    subregions = sorted({s.subregion for s in scenario.states.values()})
    final = spread[spread["step"] == spread["step"].max()].set_index("metric")["mean"]
    leaders = sorted((m for m in final.index if m.startswith("influence_")), key=lambda m: -final[m])[:3]
    headline = ["fragmentation", "division", "integration", *(f"integration_{r}" for r in subregions), *leaders]
    metrics = list(dict.fromkeys([*headline, *(m for m in scenario.watch if m in final.index)]))  # the question's metrics too
    cols = 3
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows + 0.6))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        part = spread[spread["metric"] == metric]
        dates = _dates(part)
        ax.fill_between(dates, part["p05"].to_numpy(), part["p95"].to_numpy(), color="tab:blue", alpha=0.15, linewidth=0, label="5-95% of runs (dotted edges)")
        ax.fill_between(dates, part["ci95_low"].to_numpy(), part["ci95_high"].to_numpy(), color="tab:blue", alpha=0.45, linewidth=0, label="95% CI of the mean")
        # with few runs (t of 4 degrees of freedom) the CI can be wider than the runs' spread and cover its band: its edges stay drawn
        ax.plot(dates, part["p05"].to_numpy(), dates, part["p95"].to_numpy(), color="tab:blue", linewidth=0.7, linestyle=":")
        ax.plot(dates, part["mean"].to_numpy(), color="tab:blue", linewidth=1.5, label="mean")
        note = set_range(ax, unit(metric), zoom)
        ax.set_title(metric_label(metric) + (f" ({note})" if note else ""), fontsize=9)
        ax.set_ylabel(unit(metric), fontsize=8)
        ax.grid(alpha=0.3)
    date_axis(axes[0, 0], dates.min(), dates.max())
    for k in range(len(metrics), rows * cols):
        axes.flat[k].set_visible(False)
        axes.flat[k - cols].tick_params(labelbottom=True)  # the panel above an empty slot shows the dates
    axes.flat[0].legend(fontsize=7, loc="upper left")
    runs = int(spread["runs"].iloc[0])
    fig.suptitle(f"{titled(scenario, overrides)}: {runs} runs (seeds {scenario.seed}..{scenario.seed + runs - 1}); line: mean over runs; "
                 "dark band: 95% CI of the mean; light band, dotted edges: 5-95% of runs", fontsize=10)
    room = 0.2 if zoom else 0.0  # zoomed ticks carry more digits
    _margins(fig, left=0.62 + room, right=0.15, bottom=0.39, top=0.64, wgap=0.67 + room, hgap=0.43)
    return _save(fig, path)


def power_directions(scenario) -> dict[str, float]:
    """The angle (radians, counter-clockwise from east) at which the map places each power:
    the direction from the region's centre to the power's configured position, else evenly
    spread; powers closer than a minimum angle are pushed apart."""
    lon = np.array([s.lon for s in scenario.states.values()])
    lat = np.array([s.lat for s in scenario.states.values()])
    cx, cy = lon.mean(), lat.mean()
    powers = list(scenario.powers)
    angles = {}
    for k, (p, spec) in enumerate(scenario.powers.items()):
        if spec.lat is not None and spec.lon is not None:
            angles[p] = math.atan2(spec.lat - cy, (spec.lon - cx) * math.cos(math.radians(cy)))
        else:
            angles[p] = 2 * math.pi * k / len(powers) + math.pi / 2
    gap = 2 * math.pi / (1.6 * max(len(powers), 1))
    order = sorted(powers, key=lambda p: angles[p])
    for _ in range(200):  # relax: push neighbours apart until every gap is wide enough
        moved = False
        for a, b in zip(order, order[1:] + order[:1]):
            d = (angles[b] - angles[a]) % (2 * math.pi)
            if d < gap:
                angles[a] -= (gap - d) / 2
                angles[b] += (gap - d) / 2
                moved = True
        if not moved:
            break
    return angles


# How far outside the map frame the powers sit (axes fraction), clear of the tick labels.
OUTSIDE = {"left": 0.17, "right": 0.09, "bottom": 0.2, "top": 0.1}


def _outside(angle: float) -> tuple[float, float]:
    """The point in direction ``angle`` from the frame's centre on a rectangle around the
    frame (axes fraction)."""
    dx, dy = math.cos(angle), math.sin(angle)
    half_x = 0.5 + (OUTSIDE["right"] if dx > 0 else OUTSIDE["left"])
    half_y = 0.5 + (OUTSIDE["top"] if dy > 0 else OUTSIDE["bottom"])
    t = min(half_x / abs(dx) if dx else math.inf, half_y / abs(dy) if dy else math.inf)
    return 0.5 + t * dx, 0.5 + t * dy


def _label_offsets(ax, points: list[tuple[float, float, float, str]], fontsize: float) -> list[tuple[float, float, str, str]]:
    """Offsets (in points) for the state names so that they overlap neither each other nor
    the markers: for each (x, y, radius in points, name), the first of eight positions
    around the marker with the least overlap, largest states placed first. A candidate's
    overlap with every marker and every label placed so far is one array operation: a
    loop over the boxes made a map of 2,000 states take over a minute."""
    ax.apply_aspect()
    to_px = ax.figure.dpi / 72
    n = len(points)
    xy = ax.transData.transform([(x, y) for x, y, _, _ in points])
    radius = np.array([r for _, _, r, _ in points]) * to_px
    boxes = np.empty((2 * n, 4))  # x0, y0, x1, y1: the markers, then the labels as they are placed
    boxes[:n] = np.column_stack([xy[:, 0] - radius, xy[:, 1] - radius, xy[:, 0] + radius, xy[:, 1] + radius])

    placed = {}
    for count, k in enumerate(sorted(range(n), key=lambda k: -points[k][2]), start=n):
        (px, py), (_, _, r, name) = xy[k], points[k]
        w, h = 0.58 * fontsize * len(name) * to_px, 1.25 * fontsize * to_px
        pad = r + 2
        candidates = [(0, -pad, "center", "top"), (0, pad, "center", "bottom"), (pad, 0, "left", "center"), (-pad, 0, "right", "center"),
                      (pad * 0.8, -pad * 0.8, "left", "top"), (-pad * 0.8, -pad * 0.8, "right", "top"), (pad * 0.8, pad * 0.8, "left", "bottom"), (-pad * 0.8, pad * 0.8, "right", "bottom")]
        others = boxes[:count]
        best = None
        for dx, dy, ha, va in candidates:
            x0 = px + dx * to_px - {"center": w / 2, "left": 0, "right": w}[ha]
            y0 = py + dy * to_px - {"center": h / 2, "bottom": 0, "top": h}[va]
            box = (x0, y0, x0 + w, y0 + h)
            wide = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
            high = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
            area = np.maximum(wide, 0.0) * np.maximum(high, 0.0)
            area[k] = 0.0  # its own marker
            cost = float(area.sum())
            if best is None or cost < best[0]:
                best = (cost, (dx, dy, ha, va), box)
            if cost == 0:
                break
        placed[k] = best[1]
        boxes[count] = best[2]
    return [placed[k] for k in range(len(points))]


@dataclass
class RegionArtists:
    """The map's changing parts (three collections), so that a live view updates their
    colours and widths without redrawing the rest."""

    states: Any  # PathCollection, one marker per state, in ``state_keys`` order
    edges: Any  # LineCollection, one tie per (state, power), in ``edge_keys`` order
    relations: Any  # LineCollection, one dashed line per neighbour pair, in ``pair_keys`` order
    state_keys: list
    edge_keys: list
    pair_keys: list
    scale: float = 1.0

    @property
    def dynamic(self) -> list:
        return [self.relations, self.edges, self.states]


def _relation_rgba(rel: float) -> tuple:
    return matplotlib.colors.to_rgba("tab:red" if rel < 0 else "tab:green", 0.3 + 0.6 * min(1.0, abs(rel)))


def update_region(artists: RegionArtists, scenario, alignment: dict[str, np.ndarray], relations) -> None:
    """Set the map's colours, tie widths and relation lines to ``alignment`` and ``relations``."""
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    rel = {}
    for a, b, value in relations:
        rel[(a, b)] = rel[(b, a)] = value
    artists.relations.set_color([_relation_rgba(rel.get(pair, 0.0)) for pair in artists.pair_keys])
    share = {(key, p): v for key, shares in alignment.items() for p, v in zip(powers, shares)}
    artists.edges.set_linewidth([6 * share.get(k, 0.0) * artists.scale if share.get(k, 0.0) >= 0.05 else 0.0 for k in artists.edge_keys])
    artists.states.set_facecolor([colors[powers[int(np.nanargmax(alignment[k]))]] if np.nanmax(alignment[k], initial=0.0) > 0 else OTHER_COLOR for k in artists.state_keys])  # argmax of no ties would name the first power


def plot_region(ax, scenario, alignment: dict[str, np.ndarray], relations, names: bool = True, scale: float = 1.0, legend: bool = True, relations_when: str = "") -> RegionArtists:
    """Draw the region on ``ax``: states at their capitals' longitude and latitude (marker
    area grows with population) coloured by main patron; the external powers outside the
    map frame, in their direction from the region (not at a position: they are far away);
    ties to the powers as edges as wide as their share (``alignment``: state -> shares over
    the powers); neighbour ``relations`` ((state, state, relation) triples) as dashed
    lines, red hostile, green friendly (``relations_when`` qualifies them in the legend).
    Used for stored runs (:func:`region_map`) and live models (the dashboard, through the
    returned :class:`RegionArtists`)."""
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    states = scenario.states
    lon = np.array([s.lon for s in states.values()])
    lat = np.array([s.lat for s in states.values()])
    margin = max(2.0, 0.12 * max(np.ptp(lon), np.ptp(lat)))
    (x0, x1), (y0, y1) = (lon.min() - margin, lon.max() + margin), (lat.min() - margin, lat.max() + margin)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1 / math.cos(math.radians(lat.mean())), adjustable="box")  # degrees of longitude shrink with latitude
    anchor = {p: _outside(a) for p, a in power_directions(scenario).items()}
    at = {p: (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)) for p, (fx, fy) in anchor.items()}  # the same points in data units
    pair_keys = [(a, b) for a, b, _ in relations]
    lines = LineCollection([[(states[a].lon, states[a].lat), (states[b].lon, states[b].lat)] for a, b in pair_keys], linestyles="--", linewidths=1.2 * scale, zorder=1)
    state_keys = list(alignment)
    edge_keys = [(k, p) for k in state_keys for p in powers]
    edges = LineCollection([[(states[k].lon, states[k].lat), at[p]] for k, p in edge_keys], colors=[matplotlib.colors.to_rgba(colors[p], 0.5) for _, p in edge_keys], zorder=2, clip_on=False)
    sizes = [(200 + 40 * states[k].population**0.5) * scale for k in state_keys]
    markers = ax.scatter([states[k].lon for k in state_keys], [states[k].lat for k in state_keys], s=sizes, edgecolor="black", zorder=3)
    ax.add_collection(lines, autolim=False)
    ax.add_collection(edges, autolim=False)
    artists = RegionArtists(markers, edges, lines, state_keys, edge_keys, pair_keys, scale)
    radius = {k: math.sqrt(size) / 2 for k, size in zip(state_keys, sizes)}
    update_region(artists, scenario, alignment, relations)
    if names:
        keys = list(alignment)
        points = [(states[k].lon, states[k].lat, radius[k], states[k].name) for k in keys]
        for (x, y, _, name), (dx, dy, ha, va) in zip(points, _label_offsets(ax, points, 8 * scale)):
            ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=8 * scale, zorder=4)
    for p in powers:
        fx, fy = anchor[p]
        ax.scatter(fx, fy, marker="s", s=200 * scale, color=colors[p], edgecolor="black", zorder=3, transform=ax.transAxes, clip_on=False)
        ax.annotate(scenario.powers[p].name, (fx, fy), xycoords="axes fraction", xytext=(0, 9 * scale), textcoords="offset points", ha="center", va="bottom", fontsize=8 * scale, weight="bold", annotation_clip=False)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(alpha=0.2)
    if legend:
        share = [Line2D([], [], color="0.4", alpha=0.5, linewidth=6 * v * scale) for v in (0.25, 0.5, 1.0)]
        rel = [Line2D([], [], color=c, linestyle="--", linewidth=1.2 * scale) for c in ("tab:green", "tab:red")]
        pops = [Line2D([], [], linestyle="", marker="o", markersize=math.sqrt((200 + 40 * v**0.5) * scale), markerfacecolor="white", markeredgecolor="black") for v in (3, 30)]
        labels = ["tie, 25% of a state's ties", "tie, 50%", "tie, 100%", f"friendly neighbours{relations_when}", f"hostile neighbours{relations_when}", "3 m people", "30 m people"]
        ax.legend(share + rel + pops, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, fontsize=7 * max(scale, 0.8), frameon=False,
                  title="state colour = its main patron (the power's colour; grey: none); squares: external powers, placed in their direction, not to scale", title_fontsize=7 * max(scale, 0.8))
    return artists


def region_map(agents: pd.DataFrame, scenario, path: Path | None = None, step: int | None = None, overrides=(), relations: pd.DataFrame | None = None) -> Figure:
    """The region at ``step`` (default: the last) of a stored run: alignments from
    ``agents``, neighbour relations from ``relations`` (the run's relations.csv) at the
    same step. Without that table the relations are the scenario's at the start, and the
    legend says so (a treaty or a clash moves them during a run)."""
    powers = list(scenario.powers)
    step = int(agents["step"].max()) if step is None else step
    now = agents[agents["step"] == step].set_index("state")
    alignment = {k: now.loc[k, [f"alignment_{p}"for p in powers]].to_numpy(dtype=float) for k in scenario.states if k in now.index}
    if relations is not None:
        pairs = relations[relations["step"] == step]
        relations = list(zip(pairs["state"], pairs["neighbour"], pairs["relation"].astype(float)))
        when = ""
    else:
        relations = [(key, other, rel.relation) for key, spec in scenario.states.items() for other, rel in spec.neighbours.items()]
        when = " at the start"
    fig = Figure(figsize=(10, 9.5))
    fig.subplots_adjust(left=0.17, right=0.87, top=0.82, bottom=0.3)
    ax = fig.subplots()
    plot_region(ax, scenario, alignment, relations, relations_when=when)
    if added := _suptitle(fig, f"The region at {scenario.date(step).isoformat()}, one run (seed {scenario.seed}) — {titled(scenario, overrides)}\nstates coloured by main patron, ties to the powers as edges"):
        fig.subplots_adjust(top=0.82 - added / fig.get_figheight())  # the powers' labels above the frame stay clear of it
    return _save(fig, path)


def run_charts(directory: Path, scenario, overrides=()) -> list[Path]:
    """Draw every chart of a run from the CSV files in ``directory``; ``overrides`` (the
    command line's ``--set``) are named in the titles."""
    directory = Path(directory)
    model = read_table(directory / "model.csv")
    agents = read_table(directory / "agents.csv")
    events = read_table(directory / "events.csv") if (directory / "events.csv").exists() else None
    relations = read_table(directory / "relations.csv") if (directory / "relations.csv").exists() else None  # runs written before it existed: the start's
    paths = [directory / name for name in RUN_CHARTS]
    with matplotlib.rc_context({"text.parse_math": False}):  # a '$' in a name is text, not TeX
        alignment_chart(agents, scenario, paths[0], events=events, overrides=overrides)
        fragmentation_chart(model, scenario, paths[1], overrides=overrides)
        region_map(agents, scenario, paths[2], overrides=overrides, relations=relations)
    return paths
