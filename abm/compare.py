"""Compare scenarios run with the same seeds: levels and paired differences at chosen dates,
and charts of both.

Every scenario is run with the same seeds (common random numbers), so the difference
between a scenario and the first one (the reference) can be taken seed by seed: its mean
over seeds, with the 95% confidence interval of that mean, is much tighter than a comparison
of two independent means. The per-step series of every run are stored first
(``series.csv``); the tables and the charts are computed from that file.

By default the metrics compared are those each scenario's question names (its ``watch``
list, e.g. South Caucasus fragmentation and integration for ``no_peace``), else
:data:`KEY_METRICS`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from abm import budget
from abm import chartstyle as cs
from abm import posterior
from abm.outputs import atomic_directory, read_table
from abm.runner import environment, run, write_yaml
from abm.scenario import ScenarioError, anchor_posterior, as_sets, in_force, load, parse_set, refused_alike, with_run_settings
from abm.units import repeated

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


def recorded(path: str | Path) -> dict:
    """What the provenance.yaml of an earlier comparison needs to run it again: its
    scenarios as they ran (a mapping each; a posterior named relative to the record's
    folder, as :func:`abm.posterior.portable` wrote it, found there again), the number of
    seeds, the dates and the metrics. The scenarios' own files are not read, so the
    comparison re-runs as it ran even after they changed."""
    from abm.scenario import read_yaml

    path = Path(path)
    data = read_yaml(path, "a comparison's record")
    scenarios, seeds, dates, metrics = (data.get(k) for k in ("scenarios", "seeds", "dates", "metrics"))
    if not isinstance(scenarios, dict) or not scenarios or not all(isinstance(s, dict) for s in scenarios.values()) or not isinstance(seeds, list) or not seeds or seeds != list(range(len(seeds))):
        raise ScenarioError([("", f"{path} is not the provenance.yaml of an abm compare (it needs 'scenarios', each as it ran, and 'seeds' 0..N-1)")])
    for key, value, what in (("dates", dates, "dates (YYYY-MM-DD)"), ("metrics", metrics, "metric names")):
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ScenarioError([(key, f"a list of {what}, as abm compare writes it (got {value!r})")], str(path))
    try:
        dates = [dt.date.fromisoformat(d).isoformat() for d in dates]
    except ValueError as exc:
        raise ScenarioError([("dates", str(exc))], str(path)) from None
    for s in scenarios.values():
        anchor_posterior(s, path.parent)  # relative to the record's folder, as a scenario file's is to the file
    earlier = data.get("overrides")  # what its scenarios already carry (records before this key have none)
    overrides = [o for o in earlier if isinstance(o, str)] if isinstance(earlier, list) else []
    return {"scenarios": scenarios, "seeds": len(seeds), "dates": dates, "metrics": metrics, "overrides": overrides}


def scenarios_of(configs: list[str] | dict[str, dict], sets=(), allow_large: bool = False) -> list:
    """Load and check every scenario before any is run. ``configs``: files, or mappings
    under the label their problems are named by (a comparison's record, :func:`recorded`)."""
    if any(parse_set(item)[0] == "seed" for item in sets):  # it would be ignored, while provenance.yaml recorded it
        raise ScenarioError([("--set seed", "abm compare runs every scenario with the same seeds 0..N-1 (--seeds N); a scenario's seed is abm run's default")])
    labelled = list(configs.items()) if isinstance(configs, dict) else [(str(c) if isinstance(c, str | Path) else "a scenario given in Python", c) for c in configs]
    scenarios, failed = [], []
    for label, config in labelled:  # every file's problems at once, not the first file's alone
        try:
            scenarios.append(load(config, list(sets), allow_large))
        except ScenarioError as exc:
            failed.append((label, exc))
    if failed:
        if refused_alike([exc for _, exc in failed], len(labelled)):
            raise failed[0][1]
        if len(failed) == 1 and failed[0][1].source != "--set":
            label, exc = failed[0]  # one file's own
            raise exc if exc.source is not None else ScenarioError(exc.problems, label, exc.read_with)
        found: dict[tuple[bool, str, str], list[str]] = {}  # each problem once (an override's or a file's own), with the files it is found in
        for label, exc in failed:
            for path, msg in exc.problems:
                key = (True, f"--set: {path}", msg) if exc.source == "--set" else (False, f"{label}: {path}" if path else label, msg)
                found.setdefault(key, []).append(label)
        every = [label for label, _ in labelled]
        # an override is named with the files it fails on, unless it fails on all; a file's own problem names its file already
        raise ScenarioError([(path, f"{msg} (in {', '.join(where)})" if overridden and where != every else msg) for (overridden, path, msg), where in found.items()])
    names = [s.name for s in scenarios]
    if len(set(names)) < len(names):  # each file named, and what to do: a file that extends another takes its name unless it sets its own
        name = repeated(names)[0]
        files = ", ".join(Path(label).name if isinstance(config, str | Path) else label for (label, config), n in zip(labelled, names) if n == name)
        raise ScenarioError([("name", f"each scenario needs its own name: (one with extends: takes its parent's); '{name}' names {files}")])
    return scenarios


def run_all(scenarios: list, seeds: int, steps: int | None = None) -> pd.DataFrame:
    """Run each scenario with seeds 0..seeds-1; return the long table of every series
    (dates as datetimes)."""
    from tqdm import tqdm

    frames = []
    runs = [(scenario, seed) for scenario in scenarios for seed in range(seeds)]
    for scenario, seed in tqdm(runs, unit="run", disable=None, dynamic_ncols=True):  # on a terminal only, as abm sweep's bar
        result = run(scenario, seed=seed, steps=steps, tables=False)  # the model table is all a comparison keeps
        frames.append(result.model.assign(scenario=scenario.name, seed=seed))
    series = pd.concat(frames, ignore_index=True)
    series["date"] = pd.to_datetime(series["date"])
    return series[["scenario", "seed", *[c for c in series.columns if c not in ("scenario", "seed")]]]


def metric_names(scenarios: list) -> list[str]:
    """The metrics every one of ``scenarios`` reports (``Scenario.metric_names``, so a
    name is checked without running anything); not step, date, seed."""
    names = [s.metric_names() for s in scenarios]
    return [m for m in names[0] if all(m in n for n in names[1:])]


class CompareError(ScenarioError):
    """A problem stated on one line and not cut short, so that what it lists (the metrics
    offered, every scenario's period) is whole."""

    def format(self) -> str:
        return "; ".join(f"{path}: {msg}" for path, msg in self.problems)


def check_metrics(wanted: list[str], allowed: list[str], where: str) -> None:
    """Refuse names that are not metrics of every scenario: near matches suggested, and
    the whole list when a name has none."""
    if twice := repeated(wanted):
        raise CompareError([(where, f"named more than once: {', '.join(twice)}")])
    unknown = [m for m in wanted if m not in allowed]
    if unknown:
        near = {m: difflib.get_close_matches(m, allowed, n=3) for m in unknown}
        hint = "; ".join(f"{m}: did you mean {' or '.join(near[m])}?" for m in unknown if near[m])
        listing = f"; the metrics: {', '.join(allowed)}" if not all(near.values()) else ""
        raise CompareError([(where, f"not a metric of every scenario compared: {', '.join(unknown)}" + (f" ({hint})" if hint else "") + listing)])


def run_dates(scenario, steps: int | None = None) -> list[dt.date]:
    """The dates of a run's steps, 0 to the end."""
    return [scenario.date(k) for k in range(1 + (scenario.time.steps if steps is None else steps))]


def shared_dates(scenarios: list, steps: int | None = None) -> tuple[list[dt.date], str | None]:
    """The dates every scenario's run reaches, and a notice when some run has other dates
    too (None when all share one period).

    The tables are taken on these dates only: at a date one scenario never reaches, its
    level would be missing and a paired difference nan (and the step in force on a date
    could pair one run's start with another's end). A comparison of scenarios with
    different periods is still asked for on purpose, e.g. the 2020 start's simulated 2025
    against the baseline's observed 2025, so it is made on their overlap, with a notice;
    with no date in common there is nothing to compare, and it is refused."""
    dates = {s.name: run_dates(s, steps) for s in scenarios}
    shared = sorted(set.intersection(*map(set, dates.values())))
    if shared and all(len(d) == len(shared) for d in dates.values()):
        return shared, None
    periods = ", ".join(f"{s.name} {d[0]} to {d[-1]} every {s.time.step_months} month(s)" for s, d in zip(scenarios, dates.values()))
    if not shared:
        raise CompareError([("scenarios", f"the runs share no date, so there is nothing to compare: {periods}; give them a common period (time.start, time.steps, time.step_months or --steps)")])
    span = f"{shared[0]}" if len(shared) == 1 else f"{shared[0]} to {shared[-1]}"
    return shared, f"the tables compare only the {len(shared)} date(s) every run reaches, {span} ({periods}); series.csv and compare.png show each whole run"


def composition(scenarios: list) -> str | None:
    """Which scenarios differ in who is in the region, from the first (None if none does).

    The region-wide metrics average over the states and powers a scenario has, so such
    scenarios differ from step 0 by composition alone, and a paired difference marks that
    as clear as it marks an effect of the run (:func:`compare` says so)."""
    reference, changes = scenarios[0], []
    for s in scenarios[1:]:
        for kind in ("states", "powers"):
            ours, theirs = set(getattr(reference, kind)), set(getattr(s, kind))
            moved = [f"+{i}" for i in sorted(theirs - ours)] + [f"-{i}" for i in sorted(ours - theirs)]
            if len(moved) > 6:  # worlds of other sizes: counts, not hundreds of ids
                moved = [f"{n} {word}" for n, word in ((len(theirs - ours), "more"), (len(ours - theirs), "fewer")) if n]
            if moved:
                changes.append(f"{s.name} {kind} {' '.join(moved)}")
    if not changes:
        return None
    return f"the scenarios differ in who is in the region ({'; '.join(changes)}, from {reference.name})"


def default_metrics(scenarios: list, columns) -> list[str]:
    """The metrics the compared scenarios' questions name (their ``watch`` lists, the
    reference's last), in order and without repeats; :data:`KEY_METRICS` if none names any."""
    named = [m for s in [*scenarios[1:], scenarios[0]] for m in s.watch]
    picked = list(dict.fromkeys(m for m in named if m in columns))
    return picked or [m for m in KEY_METRICS if m in columns]


def _snapshots(series: pd.DataFrame, dates: list[str]):
    """For each step in force on a requested date (:func:`in_force`), the dates asked that
    it answers ("2035-05-01, 2035-06-30"), its date and its rows: one row per step, not per
    date, and the table says which dates were asked, which a step's own date may not be."""
    steps = sorted(series["date"].unique())
    asked: dict[int, dict[str, None]] = {}  # each step's dates, in order, each once
    for date in dates:
        row = in_force(steps, pd.Timestamp(date).date())
        if row >= 0:
            asked.setdefault(row, {})[f"{pd.Timestamp(date):%Y-%m-%d}"] = None
    for row, when in asked.items():
        yield ", ".join(when), pd.Timestamp(steps[row]), series[series["date"] == steps[row]]


def table(series: pd.DataFrame, dates: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, standard deviation and 95% confidence half-width over seeds of ``metrics`` at
    the step in force on each date, one row per (scenario, date)."""
    series = series.assign(date=pd.to_datetime(series["date"]))
    rows = []
    for asked, first, snap in _snapshots(series, dates):
        for scenario, group in snap.groupby("scenario", sort=False):
            row = {"scenario": scenario, "date": first, "asked": asked, "seeds": group["seed"].nunique()}
            sds = cs.sd(group[metrics])  # NaN for one seed: no spread to estimate, not a spread of 0
            for m in metrics:
                row[f"{m}_mean"], row[f"{m}_sd"] = group[m].mean(), sds[m]
                row[f"{m}_ci95"] = float(cs.ci95(sds[m], len(group)))
            rows.append(row)
    return pd.DataFrame(rows)


def differences(series: pd.DataFrame, dates: list[str], metrics: list[str]) -> pd.DataFrame:
    """Paired differences from the first scenario: for every other scenario, date and
    metric, the mean over seeds of (scenario - reference) with the same seed, its 95%
    confidence interval, and whether that interval excludes zero."""
    series = series.assign(date=pd.to_datetime(series["date"]))
    scenarios = list(dict.fromkeys(series["scenario"]))
    reference = scenarios[0]
    rows = []
    for asked, first, snap in _snapshots(series, dates):
        base = snap[snap["scenario"] == reference].set_index("seed")
        for scenario in scenarios[1:]:
            other = snap[snap["scenario"] == scenario].set_index("seed")
            seeds = base.index.intersection(other.index)
            for m in metrics:
                d = (other.loc[seeds, m] - base.loc[seeds, m]).astype(float)
                mean = float(d.mean()) if len(d) else math.nan
                half = float(cs.ci95(cs.sd(d), len(d)))
                rows.append({
                    "scenario": scenario, "reference": reference, "date": first, "asked": asked, "metric": m, "seeds": len(d),
                    "difference": mean, "ci95_low": mean - half, "ci95_high": mean + half,
                    "clear": bool(len(d) > 1 and (mean - half > 0 or mean + half < 0)),
                })
    return pd.DataFrame(rows)


def markdown(tab: pd.DataFrame, diffs: pd.DataFrame, metrics: list[str], notice: str | None = None, source: str | None = None) -> str:
    """The levels and paired differences as Markdown tables, under ``source`` (what the
    runs were: :func:`source_line`) and ``notice``."""
    lines = [f"{source}.", ""] if source else []
    lines += [f"Note: {notice}.", ""] if notice else []
    moved = [f"{r['asked']} -> {r['date']:%Y-%m-%d}" for _, r in tab.drop_duplicates("date").iterrows() if r["asked"] != f"{r['date']:%Y-%m-%d}"]
    lines += [f"Dates asked, shown by the step in force on them (a step is a quarter, dated by its first day): {'; '.join(moved)}.", ""] if moved else []
    lines += ["## Levels", "", f"{cs.UNCERTAINTY_TABLE[0].upper()}{cs.UNCERTAINTY_TABLE[1:]}.", ""]
    lines += ["| scenario | date | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 2)]
    for _, r in tab.iterrows():
        cells = [cs.estimate(r[f"{m}_mean"], r[f"{m}_ci95"]) for m in metrics]
        lines.append(f"| {cs.cell(r['scenario'])} | {r['date']:%Y-%m-%d} | " + " | ".join(cells) + " |")
    if not diffs.empty:
        reference = diffs["reference"].iloc[0]
        lines += ["", f"## Differences from {reference}", "", f"Each cell: mean over seeds of (scenario - {reference}) with the same seed, "
                  f"± half-width of its 95% confidence interval (t over seeds); {cs.starred(diffs.loc[diffs['metric'].isin(metrics), 'ci95_low'])}.", ""]
        lines += ["| scenario | date | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 2)]
        for (scenario, date), group in diffs.groupby(["scenario", "date"], sort=False):
            by = group.set_index("metric")
            cells = [cs.estimate(by.at[m, "difference"], (by.at[m, "ci95_high"] - by.at[m, "ci95_low"]) / 2, sign=True) + ("*" if by.at[m, "clear"] else "") for m in metrics]
            lines.append(f"| {cs.cell(scenario)} | {date:%Y-%m-%d} | " + " | ".join(cells) + " |")
    lines += ["", "Units: " + "; ".join(f"{m}: {cs.unit(m)}" for m in metrics) + "."]
    return "\n".join(lines) + "\n"


def _mean_ci(values: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    grouped = values.groupby("date")["value"]
    mean, sd, n = grouped.mean(), cs.sd(grouped), grouped.count()
    return mean, pd.Series(cs.ci95(sd.to_numpy(), n.to_numpy()), index=mean.index)


def _panels(n: int, title: str, note: str, legend_rows: int) -> tuple[Figure, np.ndarray]:
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.3 * cols, 2.9 * rows + 1.1 + 0.2 * legend_rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    width = int(4.3 * cols * 72 / (0.56 * 10))  # characters of 10 pt text across the figure
    fig.suptitle("\n".join(textwrap.wrap(title, width) + textwrap.wrap(note, width)), fontsize=10)
    for k in range(n, rows * cols):
        axes.flat[k].axis("off")
        axes.flat[k - cols].tick_params(labelbottom=True)  # the panel above an empty slot shows the dates
    return fig, axes


def _mean_line(ax, mean: pd.Series, half: pd.Series, name: str, style: dict) -> None:
    """The mean over seeds (indexed by date) as a line, its 95% interval as a band."""
    x = cs.date_numbers(mean.index)
    ax.plot(x, mean.to_numpy(), linewidth=1.4, markersize=3, markevery=max(1, len(mean) // 6), label=name, **style)
    ax.fill_between(x, (mean - half).to_numpy(), (mean + half).to_numpy(), color=style["color"], alpha=0.15, linewidth=0)


def _finish(fig: Figure, axes: np.ndarray, series: pd.DataFrame, lines: int) -> Figure:
    """Date ticks on the shared time axis, and the legend of the ``lines`` below the panels."""
    cs.date_axis(axes.flat[0], *cs.date_numbers([series["date"].min(), series["date"].max()]))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, lines), fontsize=8, frameon=False)
    return fig


def overridden(overrides) -> str:
    """The note a chart adds when the scenarios ran with command-line overrides, which the
    scenario files alone do not show."""
    return f"; scenarios overridden by {', '.join(overrides)}" if overrides else ""


def overlay_chart(series: pd.DataFrame, metrics: list[str], zoom: bool = False, overrides=()) -> Figure:
    """Levels: per scenario and metric, the mean over seeds with its 95% confidence band;
    index scales on 0-1 unless ``zoom``; ``overrides`` (``--set``, ``--steps``) named."""
    series = series.assign(date=pd.to_datetime(series["date"]))
    scenarios = list(dict.fromkeys(series["scenario"]))
    seeds = series["seed"].nunique()
    fig, axes = _panels(len(metrics), "Scenarios compared (the same seeds in every scenario)", f"{cs.UNCERTAINTY}; {seeds} seeds{overridden(overrides)}", math.ceil(len(scenarios) / 4))
    for ax, metric in zip(axes.flat, metrics):
        for k, name in enumerate(scenarios):
            mean, half = _mean_ci(series.loc[series["scenario"] == name, ["date", metric]].rename(columns={metric: "value"}))
            _mean_line(ax, mean, half, name, cs.line_style(k, len(scenarios)))
        note = cs.set_range(ax, cs.unit(metric), zoom)
        ax.set_title(cs.metric_label(metric) + (f"\n({note})" if note else ""), fontsize=9)
        ax.set_ylabel(cs.unit(metric), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return _finish(fig, axes, series, len(scenarios))


def difference_chart(series: pd.DataFrame, metrics: list[str], overrides=()) -> Figure | None:
    """Paired differences from the first scenario over time: mean over seeds of
    (scenario - reference) with its 95% confidence band, and the zero line; ``overrides``
    named as in :func:`overlay_chart`."""
    series = series.assign(date=pd.to_datetime(series["date"]))
    scenarios = list(dict.fromkeys(series["scenario"]))
    if len(scenarios) < 2:
        return None
    reference, others = scenarios[0], scenarios[1:]
    base = series[series["scenario"] == reference].set_index(["seed", "date"])
    seeds = series["seed"].nunique()
    fig, axes = _panels(len(metrics), f"Differences from {reference}, paired by seed", f"{cs.PAIRED}; {seeds} seeds; scale fitted to the differences{overridden(overrides)}", math.ceil(len(others) / 4))
    for ax, metric in zip(axes.flat, metrics):
        for k, name in enumerate(others):
            other = series[series["scenario"] == name].set_index(["seed", "date"])
            d = (other[metric] - base[metric]).dropna().rename("value").reset_index()
            mean, half = _mean_ci(d)
            _mean_line(ax, mean, half, name, cs.line_style(k + 1, len(scenarios)))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{cs.metric_label(metric)}: scenario - {reference}", fontsize=9)
        ax.set_ylabel(f"difference ({cs.unit(metric)})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return _finish(fig, axes, series, len(others))


def default_dates(series: pd.DataFrame) -> list[str]:
    """Five and ten years in, and the end of the horizon."""
    start, end = pd.Timestamp(series["date"].min()).date(), pd.Timestamp(series["date"].max()).date()
    picks = [dt.date(start.year + 5, start.month, start.day), dt.date(start.year + 10, start.month, start.day), end]
    return sorted({d.isoformat() for d in picks if d <= end})


def source_line(seeds: int, overrides: list[str], model: dict) -> str:
    """What compare.md says produced its numbers: the seeds, the command-line overrides
    and the model's commit, or outside git its source fingerprint (the rest is in provenance.yaml)."""
    if model.get("commit"):
        commit = f"model commit {str(model['commit'])[:12]}" + (" with uncommitted changes" if model.get("dirty") else "")
    else:  # installed from a copy, not run from a git checkout: the fingerprint of its Python files names the code
        commit = f"model code not in git (source fingerprint {str(model.get('source') or 'unknown')[:16]})"
    given = f"overrides {', '.join(f'`{o}`' for o in overrides)}" if overrides else "no overrides"
    return f"Runs: seeds 0..{seeds - 1} in every scenario; {given}; {commit}; everything else in provenance.yaml"


def outputs(scenarios: int, each: bool = False) -> list[str]:
    """The files :func:`compare` writes for a number of scenarios (charts as .png/.svg
    pairs, or ``each`` file): the paired differences only when there is a reference and
    another scenario."""
    tables, charts = ["series.csv", "compare.csv", "compare.md"], ["compare"]
    if scenarios > 1:
        tables.append("differences.csv")
        charts.append("differences")
    named = [f"{c}.{ext}" for c in charts for ext in ("png", "svg")] if each else [f"{c}.png/.svg" for c in charts]
    return [*tables, *named, "provenance.yaml"]


def compare(configs: list[str] | dict[str, dict], out: str | Path, seeds: int = 5, dates: list[str] | None = None, metrics: list[str] | None = None, steps: int | None = None, sets=(), replace: bool = True, allow_large: bool = False, argv: list[str] | None = None, notify=None, warn=None, zoom: bool = False, record: str | None = None, recorded_overrides=()) -> pd.DataFrame:
    """Run, store and report a comparison into ``out`` (written atomically; an earlier
    comparison there is replaced under :mod:`abm.outputs`' rule if ``replace``): series.csv,
    compare.csv/.md (levels and paired differences), differences.csv, compare.png/.svg
    (levels), differences.png/.svg (paired differences from the first scenario, when
    there are two scenarios or more: :func:`outputs`) and
    provenance.yaml (``argv``, the command that asked for it, seeds, overrides, dates,
    metrics, versions, the model's git commit, and every scenario as it ran). Scenarios
    with different periods are compared on the dates they share (:func:`shared_dates`),
    as are scenarios with different states or powers (:func:`composition`, which adds the
    first date to the tables), and ``notify``, if given, is called with the notice that says so; ``warn``, if given,
    with each dated event a run never reaches (as ``abm run`` warns of them). ``zoom``:
    the levels chart fits index scales to the data (:func:`overlay_chart`). ``record``:
    the provenance.yaml the scenarios were taken from (:func:`recorded`), named in compare.md
    and the charts with the overrides it recorded (``recorded_overrides``), which its
    scenarios carry: a re-run cut to a shorter horizon says so as its first run did."""
    scenarios = scenarios_of(configs, sets, allow_large)  # every check before the first run
    # each as it runs, its horizon checked by the setting's own rules (a date past 9999 would fail below)
    as_run = [s if steps is None else with_run_settings(s, steps=steps) for s in scenarios]
    budget.check_kept(seeds * len(as_run), seeds * sum(s.series_values() for s in as_run), f"--seeds {seeds} x {len(scenarios)} scenario(s)", allow_large)
    shared, notice = shared_dates(scenarios, steps)
    first, last = shared[0], shared[-1]
    # at a start they share, every difference is who is in the region and the initial conditions: the tables add it, unless --dates chose dates without it
    show_start = len({s.time.start for s in scenarios}) == 1 and (not dates or any(in_force(shared, pd.Timestamp(d).date()) == 0 for d in dates))
    if mixed := composition(scenarios):
        mixed += ": region-wide metrics differ by that alone at the start, " + ("so the tables show it too" if show_start else "which the tables do not show")
    notice = "; ".join(n for n in (notice, mixed) if n) or None
    given = [str(d) for d in dates or []]
    if twice := repeated(given):
        raise ScenarioError([("--dates", f"given more than once: {', '.join(twice)}")])
    outside = [d for d in dates or [] if not first <= pd.Timestamp(d).date() <= last]
    if outside:
        raise ScenarioError([("--dates", f"{', '.join(outside)} outside the dates every run reaches ({first:%Y-%m-%d} to {last:%Y-%m-%d})")])
    allowed = metric_names(scenarios)
    if not metrics:  # the scenarios' watch: lists choose them; with --metrics, a watch of a metric the others lack (a new power's) is no bar
        for s in scenarios:
            check_metrics(s.watch, allowed, f"watch (scenario {s.name}; or choose the metrics with --metrics)")
        metrics = default_metrics(scenarios, allowed)
    check_metrics(metrics, allowed, "--metrics")
    if notice and notify:
        notify(notice)
    for s in scenarios if warn else ():
        for late in s.late_events(steps) + s.inert_overrides(sets):
            warn(f"{s.name}: {late}")
    series = run_all(scenarios, seeds, steps)
    with atomic_directory(out, "compare", replace) as tmp:
        series.to_csv(tmp / "series.csv", index=False, date_format="%Y-%m-%d")
        stored = read_table(tmp / "series.csv", parse_dates=["date"])
        common = stored[stored["date"].isin(pd.to_datetime(shared))]
        when = dates or ([f"{first}"] if mixed and show_start else []) + default_dates(common)
        tab, diffs = table(common, when, metrics), differences(common, when, metrics)
        tab.to_csv(tmp / "compare.csv", index=False, date_format="%Y-%m-%d")
        if len(scenarios) > 1:  # one scenario alone has no differences to write
            diffs.to_csv(tmp / "differences.csv", index=False, date_format="%Y-%m-%d")
        own = [*(as_sets([s]) for s in sets), *([f"--steps {steps}"] if steps is not None else [])]
        overrides = [*([f"--from {record}"] if record else []), *(f"{o} (recorded)" for o in recorded_overrides), *own]
        produced = environment()
        (tmp / "compare.md").write_text(markdown(tab, diffs, metrics, notice, source_line(seeds, overrides, produced["model"])), encoding="utf-8")
        # each as it ran, a posterior named relative to the folder and with its sha256, as in a run's folder
        ran = {s.name: posterior.portable(s.to_dict(), out) for s in as_run}
        write_yaml(tmp / "provenance.yaml", {"argv": argv, "cwd": os.getcwd(), "seeds": list(range(seeds)), "sets": list(sets), "overrides": [*recorded_overrides, *own], "dates": [str(d) for d in when], "metrics": metrics, **produced, "scenarios": ran})
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):  # a '$' in a scenario name is text, not TeX
            for name, fig in (("compare", overlay_chart(stored, metrics, zoom=zoom, overrides=overrides)), ("differences", difference_chart(stored, metrics, overrides))):
                if fig is not None:
                    cs.save(fig, tmp / f"{name}.png", dpi=130)
                    cs.save(fig, tmp / f"{name}.svg")
    return tab
