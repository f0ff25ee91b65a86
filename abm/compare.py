"""Compare scenarios run with the same seeds: a table at chosen dates and overlay charts.

Every scenario is run with the same seeds (common random numbers), so differences
between scenarios are not differences of luck. The per-step series of every run are
stored first (``series.csv``); the table and the charts are computed from that file.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd

from abm.outputs import atomic_directory
from abm.runner import run
from abm.scenario import ScenarioError, load

KEY_METRICS = [
    "fragmentation",
    "fragmentation_south_caucasus",
    "fragmentation_central_asia",
    "integration",
    "integration_central_asia",
    "polarization",
    "mean_dependency_hhi",
    "regional_trade_share",
    "influence_russia",
    "influence_china",
    "influence_united_states",
    "influence_european_union",
]


def run_all(configs: list[str], seeds: int, steps: int | None = None, sets=(), allow_large: bool = False) -> pd.DataFrame:
    """Run each scenario with seeds 0..seeds-1; return the long table of every series."""
    scenarios = [load(c, list(sets), allow_large) for c in configs]  # validate all before running any
    names = [s.name for s in scenarios]
    if len(set(names)) < len(names):
        raise ScenarioError([("name", f"scenarios to compare need distinct names; got {', '.join(names)}")])
    frames = []
    for scenario in scenarios:
        for seed in range(seeds):
            result = run(scenario, seed=seed, steps=steps)
            frames.append(result.model.assign(scenario=scenario.name, seed=seed))
    series = pd.concat(frames, ignore_index=True)
    return series[["scenario", "seed", *[c for c in series.columns if c not in ("scenario", "seed")]]]


def table(series: pd.DataFrame, dates: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``metrics`` at the first step on or
    after each date, one row per (scenario, date)."""
    rows = []
    for date in dates:
        at = series[series["date"] >= date]
        if at.empty:
            continue
        first = at["date"].min()
        snap = at[at["date"] == first]
        for scenario, group in snap.groupby("scenario", sort=False):
            row = {"scenario": scenario, "date": first, "seeds": group["seed"].nunique()}
            for m in metrics:
                row[f"{m}_mean"] = group[m].mean()
                row[f"{m}_sd"] = group[m].std(ddof=1) if len(group) > 1 else 0.0
            rows.append(row)
    return pd.DataFrame(rows)


def markdown(tab: pd.DataFrame, metrics: list[str]) -> str:
    header = "| scenario | date | " + " | ".join(metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for _, r in tab.iterrows():
        cells = [f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_sd']:.3f}" for m in metrics]
        lines.append(f"| {r['scenario']} | {r['date']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def overlay_chart(series: pd.DataFrame, metrics: list[str], path: Path) -> None:
    """Mean over seeds per scenario, with the band from the 10th to the 90th
    percentile of the seeds (stays within the metric's range, unlike mean +- sd)."""
    from matplotlib.figure import Figure  # object API: no backend switching

    cols = 3
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    styles = ["-", "--", ":", "-."]
    scenarios = list(dict.fromkeys(series["scenario"]))
    seeds = series["seed"].nunique()
    for ax, metric in zip(axes.flat, metrics):
        for k, name in enumerate(scenarios):
            grouped = series[series["scenario"] == name].groupby("date")[metric]
            mean, low, high = grouped.mean(), grouped.quantile(0.1), grouped.quantile(0.9)
            dates = pd.to_datetime(mean.index)
            line = ax.plot(dates, mean, linestyle=styles[k % 4], linewidth=1.4, label=name)[0]
            ax.fill_between(dates, low, high, color=line.get_color(), alpha=0.15)
        ax.set_title(metric.replace("_", " "), fontsize=9)
        ax.set_ylabel("index (0-1)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(scenarios)), fontsize=8, frameon=False)
    fig.suptitle(f"Scenarios compared: mean and 10-90% band over {seeds} seeds (the same seeds in every scenario)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(scenarios) / 4), 1, 0.96))
    fig.savefig(path.with_suffix(".png"), dpi=130)
    fig.savefig(path.with_suffix(".svg"))


def default_dates(series: pd.DataFrame) -> list[str]:
    """Five and ten years in, and the end of the horizon."""
    start = dt.date.fromisoformat(series["date"].min())
    end = series["date"].max()
    picks = [dt.date(start.year + 5, start.month, start.day).isoformat(), dt.date(start.year + 10, start.month, start.day).isoformat(), end]
    return sorted({d for d in picks if d <= end})


def compare(configs: list[str], out: str | Path, seeds: int = 5, dates: list[str] | None = None, metrics: list[str] | None = None, steps: int | None = None, sets=(), replace: bool = True, allow_large: bool = False) -> pd.DataFrame:
    """Run, store and report a comparison into ``out`` (written atomically; an earlier
    comparison there is replaced under :mod:`abm.outputs`' rule if ``replace``)."""
    series = run_all(configs, seeds, steps, sets, allow_large)
    first, last = series["date"].min(), series["date"].max()
    outside = [d for d in dates or [] if not first <= d <= last]
    if outside:
        raise ScenarioError([("--dates", f"{', '.join(outside)} outside the runs' dates ({first} to {last})")])
    metrics = metrics or [m for m in KEY_METRICS if m in series.columns]
    unknown = [m for m in metrics if m not in series.columns]
    if unknown:
        raise ScenarioError([("--metrics", f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(c for c in series.columns if c not in ('scenario', 'seed', 'step', 'date'))}")])
    with atomic_directory(out, "compare", replace) as tmp:
        series.to_csv(tmp / "series.csv", index=False)
        stored = pd.read_csv(tmp / "series.csv")
        tab = table(stored, dates or default_dates(stored), metrics)
        tab.to_csv(tmp / "compare.csv", index=False)
        (tmp / "compare.md").write_text(markdown(tab, metrics), encoding="utf-8")
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):  # a '$' in a scenario name is text, not TeX
            overlay_chart(stored, metrics, tmp / "compare")
    return tab
