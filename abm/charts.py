"""Charts of one run, drawn from its stored CSV files (never from a live model).

* ``alignment.png``: each state's alignment across the powers over time (stacked areas);
* ``fragmentation_integration.png``: fragmentation and integration, region and subregions;
* ``region_map.png``: states at their capitals' coordinates (marker area grows with
  population) coloured by main patron,
  ties to powers as edges whose width is the alignment share, neighbour relations as
  dashed lines (red hostile, green friendly).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FormatStrFormatter

# Figures are built with the object API (Figure, not pyplot): no GUI backend is needed
# and the caller's backend (e.g. a notebook's inline one) is left alone.


def power_colors(scenario) -> dict[str, str]:
    cmap = colormaps["tab10"]
    return {p: spec.color or matplotlib.colors.to_hex(cmap(k % 10)) for k, (p, spec) in enumerate(scenario.powers.items())}


def _years(frame: pd.DataFrame) -> np.ndarray:
    """Dates as decimal years: a plain numeric axis with fixed ticks is far cheaper to lay
    out than a date axis (whose locator enumerates dates on every draw)."""
    dates = pd.to_datetime(frame["date"])
    return (dates.dt.year + (dates.dt.dayofyear - 1) / 365.25).to_numpy()


def _year_axis(ax, years: np.ndarray) -> None:
    first, last = math.floor(years.min()), math.ceil(years.max())
    step = 5 if last - first > 10 else 1
    ax.set_xlim(years.min(), years.max())
    ax.xaxis.set_major_locator(FixedLocator([y for y in range(first, last + 1) if y % step == 0]))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%d"))


def _margins(fig: Figure, left: float, right: float, bottom: float, top: float, **space) -> None:
    """Fixed margins given in inches (``tight_layout`` would lay out every text twice)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, **space)


def alignment_chart(agents: pd.DataFrame, scenario, path: Path) -> None:
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    states = list(scenario.states)
    if len(states) > 24:  # a generated world: show the first 24
        states = states[:24]
    cols = min(4, len(states))
    rows = math.ceil(len(states) / cols)
    legend_rows = math.ceil(len(powers) / 5)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows + 0.2 * legend_rows))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    facecolors = [colors[p] for p in powers]
    shares = agents[[f"alignment_{p}" for p in powers]].to_numpy()
    for ax, key in zip(axes.flat, states):
        rows_of = (agents["state"] == key).to_numpy()
        x = _years(agents[rows_of])
        # the stacked areas of one state as one collection: one artist per panel, not one per power
        top = np.cumsum(shares[rows_of], axis=1).T
        bottom = np.vstack([np.zeros_like(x), top[:-1]])
        layers = [np.column_stack([np.r_[x, x[::-1]], np.r_[hi, lo[::-1]]]) for lo, hi in zip(bottom, top)]
        ax.add_collection(PolyCollection(layers, facecolors=facecolors, edgecolors="white", linewidths=0.3))
        _year_axis(ax, x)
        ax.set_title(scenario.states[key].name, fontsize=9)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_locator(FixedLocator([0, 0.5, 1]))
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(states):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of ties", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, facecolor=colors[p], edgecolor="white") for p in powers]
    fig.legend(handles, [scenario.powers[p].name for p in powers], loc="lower center", ncol=min(5, len(powers)), fontsize=8, frameon=False)
    fig.suptitle(f"Alignment of each state over time — {scenario.name}", fontsize=11)
    _margins(fig, left=0.6, right=0.15, bottom=0.35 + 0.2 * legend_rows, top=0.5, wspace=0.14, hspace=0.3)
    fig.savefig(path, dpi=130)


def fragmentation_chart(model: pd.DataFrame, scenario, path: Path) -> None:
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2, sharey=True)
    years = _years(model)
    styles = ["-", "--", ":", "-."]
    subregions = sorted({s.subregion for s in scenario.states.values()})
    for ax, metric in ((left, "fragmentation"), (right, "integration")):
        ax.plot(years, model[metric], color="black", linestyle="-", linewidth=2, label="region")
        for k, r in enumerate(subregions):
            ax.plot(years, model[f"{metric}_{r}"], linestyle=styles[(k + 1) % 4], linewidth=1.5, label=r.replace("_", " "))
        _year_axis(ax, years)
        ax.set_title(metric.capitalize())
        ax.set_xlabel("year")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_locator(FixedLocator(np.linspace(0, 1, 6)))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel("index (0-1)")
    fig.suptitle(f"Fragmentation (mean JS distance of alignments) and integration — {scenario.name}", fontsize=11)
    _margins(fig, left=0.7, right=0.25, bottom=0.55, top=0.6, wspace=0.1)
    fig.savefig(path, dpi=130)


def power_anchors(scenario) -> dict[str, tuple[float, float]]:
    """Where the map draws each power: its configured position, else a ring around the region."""
    powers = list(scenario.powers)
    lon = np.array([s.lon for s in scenario.states.values()])
    lat = np.array([s.lat for s in scenario.states.values()])
    cx, cy = lon.mean(), lat.mean()
    radius = max(np.ptp(lon), np.ptp(lat), 4.0) * 0.75
    anchors = {}
    for k, (p, spec) in enumerate(scenario.powers.items()):
        angle = 2 * math.pi * k / len(powers) + math.pi / 2
        ring = (cx + 1.3 * radius * math.cos(angle), cy + radius * math.sin(angle))
        anchors[p] = (spec.lon, spec.lat) if spec.lat is not None and spec.lon is not None else ring
    return anchors


def plot_region(ax, scenario, alignment: dict[str, np.ndarray], relations, names: bool = True, scale: float = 1.0) -> None:
    """Draw the region on ``ax``: states at their coordinates (marker area grows with
    population) coloured by main patron; ties to the powers as edges as wide as their
    share (``alignment``: state -> shares over the powers); neighbour ``relations``
    ((state, state, relation) triples) as dashed lines, red hostile, green friendly.
    Used for stored runs (:func:`region_map`) and live models (the dashboard)."""
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    anchor = power_anchors(scenario)
    states = scenario.states
    to_rgba = matplotlib.colors.to_rgba
    # one collection per kind of mark (not one artist per line or marker): same picture, far fewer artists
    ax.add_collection(LineCollection(
        [[(states[a].lon, states[a].lat), (states[b].lon, states[b].lat)] for a, b, _ in relations],
        colors=[to_rgba("tab:red" if rel < 0 else "tab:green", 0.3 + 0.6 * min(1.0, abs(rel))) for _, _, rel in relations],
        linestyles="--", linewidths=1.2, zorder=1))
    ties = [(states[key], p, share) for key, shares in alignment.items() for p, share in zip(powers, shares) if share >= 0.05]
    ax.add_collection(LineCollection(
        [[(st.lon, st.lat), anchor[p]] for st, p, _ in ties],
        colors=[to_rgba(colors[p], 0.5) for _, p, _ in ties], linewidths=[6 * share * scale for *_, share in ties], zorder=2))
    shown = [states[key] for key in alignment]
    ax.scatter([st.lon for st in shown], [st.lat for st in shown], s=[(200 + 40 * st.population**0.5) * scale for st in shown],
               color=[colors[powers[int(np.argmax(shares))]] for shares in alignment.values()], edgecolor="black", zorder=3)
    ax.scatter([anchor[p][0] for p in powers], [anchor[p][1] for p in powers], marker="s", s=200 * scale, color=[colors[p] for p in powers], edgecolor="black", zorder=3)
    if names:
        for st in shown:
            ax.annotate(st.name, (st.lon, st.lat), xytext=(0, -22 * scale), textcoords="offset points", ha="center", fontsize=8 * scale)
    for p in powers:
        ax.annotate(scenario.powers[p].name, anchor[p], xytext=(0, 12 * scale), textcoords="offset points", ha="center", fontsize=8 * scale, weight="bold")
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.2)


def region_map(agents: pd.DataFrame, scenario, path: Path, step: int | None = None) -> None:
    """The region at ``step`` (default: the last) of a stored run, with the scenario's
    neighbour relations."""
    powers = list(scenario.powers)
    step = int(agents["step"].max()) if step is None else step
    now = agents[agents["step"] == step].set_index("state")
    alignment = {k: now.loc[k, [f"alignment_{p}" for p in powers]].to_numpy(dtype=float) for k in scenario.states if k in now.index}
    relations = [(key, other, rel.relation) for key, spec in scenario.states.items() for other, rel in spec.neighbours.items()]
    fig = Figure(figsize=(10, 7))
    ax = fig.subplots()
    plot_region(ax, scenario, alignment, relations)
    ax.set_title(f"Region at {scenario.date(step).isoformat()}: states coloured by main patron, ties to powers as edges — {scenario.name}", fontsize=10)
    _margins(fig, left=0.75, right=0.2, bottom=0.6, top=0.4)
    fig.savefig(path, dpi=130)


def run_charts(directory: Path, scenario) -> list[Path]:
    """Draw every chart of a run from the CSV files in ``directory``."""
    directory = Path(directory)
    model = pd.read_csv(directory / "model.csv")
    agents = pd.read_csv(directory / "agents.csv")
    paths = [directory / "alignment.png", directory / "fragmentation_integration.png", directory / "region_map.png"]
    alignment_chart(agents, scenario, paths[0])
    fragmentation_chart(model, scenario, paths[1])
    region_map(agents, scenario, paths[2])
    return paths
