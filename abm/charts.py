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
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

# Figures are built with the object API (Figure, not pyplot): no GUI backend is needed
# and the caller's backend (e.g. a notebook's inline one) is left alone.

HATCHES = ["", "//", "\\\\", "..", "xx", "--", "++", "oo", "||", "**"]


def power_colors(scenario) -> dict[str, str]:
    cmap = colormaps["tab10"]
    return {p: spec.color or matplotlib.colors.to_hex(cmap(k % 10)) for k, (p, spec) in enumerate(scenario.powers.items())}


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["date"])


def alignment_chart(agents: pd.DataFrame, scenario, path: Path) -> None:
    colors = power_colors(scenario)
    powers = list(scenario.powers)
    states = list(scenario.states)
    if len(states) > 24:  # a generated world: show the first 24
        states = states[:24]
    cols = min(4, len(states))
    rows = math.ceil(len(states) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, key in zip(axes.flat, states):
        sub = agents[agents["state"] == key]
        ys = [sub[f"alignment_{p}"].to_numpy() for p in powers]
        polys = ax.stackplot(_dates(sub), *ys, colors=[colors[p] for p in powers], linewidth=0.3, edgecolor="white")
        for poly, hatch in zip(polys, HATCHES * 3):
            poly.set_hatch(hatch)
        ax.set_title(scenario.states[key].name, fontsize=9)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(states):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of ties", fontsize=8)
    handles = [Rectangle((0, 0), 1, 1, facecolor=colors[p], hatch=h, edgecolor="white") for p, h in zip(powers, HATCHES * 3)]
    fig.legend(handles, [scenario.powers[p].name for p in powers], loc="lower center", ncol=min(5, len(powers)), fontsize=8, frameon=False)
    fig.suptitle(f"Alignment of each state over time — {scenario.name}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(powers) / 5), 1, 0.96))
    fig.savefig(path, dpi=130)


def fragmentation_chart(model: pd.DataFrame, scenario, path: Path) -> None:
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2, sharey=True)
    dates = _dates(model)
    styles = ["-", "--", ":", "-."]
    subregions = sorted({s.subregion for s in scenario.states.values()})
    for ax, metric in ((left, "fragmentation"), (right, "integration")):
        ax.plot(dates, model[metric], color="black", linestyle="-", linewidth=2, label="region")
        for k, r in enumerate(subregions):
            ax.plot(dates, model[f"{metric}_{r}"], linestyle=styles[(k + 1) % 4], linewidth=1.5, label=r.replace("_", " "))
        ax.set_title(metric.capitalize())
        ax.set_xlabel("date")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel("index (0-1)")
    fig.suptitle(f"Fragmentation (mean JS distance of alignments) and integration — {scenario.name}", fontsize=11)
    fig.tight_layout()
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
    for a, b, rel in relations:
        ax.plot([states[a].lon, states[b].lon], [states[a].lat, states[b].lat], linestyle="--", linewidth=1.2, color="tab:red" if rel < 0 else "tab:green", alpha=0.3 + 0.6 * min(1.0, abs(rel)), zorder=1)
    for key, shares in alignment.items():
        st = states[key]
        for p, share in zip(powers, shares):
            if share >= 0.05:
                ax.plot([st.lon, anchor[p][0]], [st.lat, anchor[p][1]], color=colors[p], alpha=0.5, linewidth=6 * share * scale, zorder=2)
        patron = powers[int(np.argmax(shares))]
        ax.scatter(st.lon, st.lat, s=(200 + 40 * st.population**0.5) * scale, color=colors[patron], edgecolor="black", zorder=3)
        if names:
            ax.annotate(st.name, (st.lon, st.lat), xytext=(0, -22 * scale), textcoords="offset points", ha="center", fontsize=8 * scale)
    for p in powers:
        ax.scatter(*anchor[p], marker="s", s=200 * scale, color=colors[p], edgecolor="black", zorder=3)
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
    fig.tight_layout()
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


# --------------------------------------------------------------------------- calibration (abm calibrate)


def posterior_charts(out: Path, priors: dict, post: pd.DataFrame, patterns: list, predictive: pd.DataFrame) -> list[Path]:
    """``marginals.png`` (posterior histogram over the prior's range, prior density dashed),
    ``pairs.png`` (pairwise scatter of the weighted particles) and ``predictive.png``
    (each pattern's simulated distribution under the posterior, target shaded)."""
    names, w = list(priors), post["weight"].to_numpy()
    cols = min(4, len(names))
    fig = Figure(figsize=(3.2 * cols, 2.8 * math.ceil(len(names) / cols)))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.9, wspace=0.3, hspace=0.5)
    for k, (name, prior) in enumerate(priors.items()):
        ax = fig.add_subplot(math.ceil(len(names) / cols), cols, k + 1)
        log = prior.prior == "loguniform"
        edges = np.geomspace(prior.low, prior.high, 21) if log else np.linspace(prior.low, prior.high, 21)
        ax.hist(post[name], bins=edges, weights=w, density=True, color="#1f77b4", alpha=0.7, label="posterior")
        xs = np.geomspace(prior.low, prior.high, 100) if log else np.linspace(prior.low, prior.high, 100)
        dens = 1.0 / (xs * math.log(prior.high / prior.low)) if log else np.full_like(xs, 1.0 / (prior.high - prior.low))
        ax.plot(xs, dens, "k--", lw=1, label="prior")
        ax.set_xscale("log" if log else "linear")
        ax.set_title(name, fontsize=8)
    fig.axes[0].legend(fontsize=7)
    fig.savefig(out / "marginals.png", dpi=110)

    n = len(names)
    fig = Figure(figsize=(2.0 * max(n, 2), 2.0 * max(n, 2)))  # no layout engine: it costs seconds on 49 axes
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.1, top=0.98, wspace=0.1, hspace=0.1)
    for i in range(n):
        for j in range(n):
            ax = fig.add_subplot(n, n, i * n + j + 1)
            if i == j:
                ax.hist(post[names[i]], bins=20, weights=w, color="#1f77b4")
            else:
                ax.scatter(post[names[j]], post[names[i]], s=200 * w / w.max(), alpha=0.5, color="#1f77b4")
                ax.set_xlim(priors[names[j]].low, priors[names[j]].high)
                ax.set_ylim(priors[names[i]].low, priors[names[i]].high)
            if i == n - 1:
                ax.set_xlabel(names[j], fontsize=7)
            else:
                ax.set_xticklabels([])
            if j == 0:
                ax.set_ylabel(names[i], fontsize=7)
            else:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.savefig(out / "pairs.png", dpi=110)

    cols = min(4, len(patterns))
    rows = math.ceil(len(patterns) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.5 * rows))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.93, wspace=0.3, hspace=0.5)
    for k, p in enumerate(patterns):
        ax = fig.add_subplot(rows, cols, k + 1)
        x = predictive[p.id].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        ax.hist(x, bins=20, color="#7f7f7f")
        t = p.target
        if t.value is not None:
            ax.axvline(t.value, color="#2ca02c", lw=2)
            ax.axvspan(t.value - p.tolerance, t.value + p.tolerance, color="#2ca02c", alpha=0.15)
        else:
            low, high = t.between or (t.above, t.below)
            lo_x, hi_x = ax.get_xlim()
            ax.axvspan(lo_x if low is None else low, hi_x if high is None else high, color="#2ca02c", alpha=0.2)
            ax.set_xlim(lo_x, hi_x)
        ax.set_title(f"{p.id} ({t.describe()})", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.savefig(out / "predictive.png", dpi=110)
    return [out / "marginals.png", out / "pairs.png", out / "predictive.png"]
