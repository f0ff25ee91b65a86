"""Interactive dashboard on Mesa's visualization stack (SolaraViz).

Start it with ``abm dashboard`` (or ``solara run abm/dashboard.py``) and open the address
it prints (``abm dashboard my.yaml`` adds a scenario file of one's own to the menu, and starts
from it). The sidebar chooses a scenario from ``configs/``, the decision, allocation and
coercion rules, and the key parameters; **Reset** rebuilds the model with them, **Step**
advances one period and **▶** plays (Mesa's buttons, in its Controls card, below the
Scenario and rules card). The panels show

* the region: states at their capitals' coordinates coloured by their main patron, ties
  to the powers as edges whose width is the tie's share, neighbour relations as dashed
  lines (red hostile, green friendly);
* a status line (step, date, the headline metrics, the quarter's counts of offers,
  coercion and conflict, the latest events, and a note when the run reaches its horizon);
* fragmentation and integration over time, for the region and each subregion;
* each power's influence over time (its share of each state's ties, averaged over the
  states);
* freight volume on each corridor over time (every ``corridor_<id>_volume`` column the
  model collects; a note when the scenario has no corridors).

Choosing a scenario moves the rule menus and sliders to that scenario's own rules, values
and seed (a slider's range widens to reach a value beyond it; for baseline_calibrated, to
the values its posterior draws for the seed, which stand until a slider is moved); every
slider then *overrides* the scenario's value, shows its value, and is greyed out where the
chosen rule has no such parameter (a note under coercion strength says when
coercion acts at all, or, under the none rule, that it never does); the status line names
the rules the running model was built with. A scenario file that does not validate is refused with its
problems shown above the controls, and the running model is kept. The
model is :class:`DashboardModel`, a thin subclass of :class:`abm.model.RegionModel` whose
constructor takes the dashboard's parameters; it accepts and ignores the ``scenario``
keyword through which Mesa's reset passes its own scenario holder. The panels are
:class:`LivePanel` figures: built once per model, a step updates their data and redraws only
the changing artists over a cached background.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import solara  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from abm import charts, posterior  # noqa: E402
from abm import chartstyle as cs  # noqa: E402
from abm.model import RegionModel  # noqa: E402
from abm.rules import registry  # noqa: E402
from abm.scenario import Bounds, OfferSpec, Scenario, ScenarioError, load, merge_rule  # noqa: E402

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DPI = 100  # panel resolution: with the panels' small sizes in inches, text about 9 px high on screen, and few pixels to encode
PLAY_INTERVAL = 60  # ms between steps while playing; the four panels take about as long to render and reach the browser
CORRIDOR_COLUMN = re.compile(r"^corridor_(.+)_volume$")


# the scenario files ``abm dashboard FILE ...`` names, passed to the server it starts as
# JSON {path as typed: absolute path}: the server's process reads them from its environment
ADDED_FILES = "ABM_DASHBOARD_SCENARIOS"


def added_files() -> dict[str, Path]:
    """The files named on ``abm dashboard``'s command line, by menu entry: a file in
    ``configs/`` by its name there (it is on the menu already), another by its path as
    typed, or its absolute path where that typed is a name in ``configs/`` (``baseline``)."""
    named = json.loads(os.environ.get(ADDED_FILES) or "{}")
    configs = CONFIGS.resolve()
    names = {p.stem for p in configs.glob("*.yaml")}

    def entry(typed: str, path: Path) -> str:
        return path.stem if path.parent == configs and path.suffix == ".yaml" else path.as_posix() if typed in names else typed

    return {entry(typed, Path(path)): Path(path) for typed, path in named.items()}


def scenario_files() -> dict[str, Path]:
    """The scenario menu, entry -> file: the files named on the command line, in their
    order, then ``configs/*.yaml`` by name, baseline first."""
    configs = sorted(CONFIGS.glob("*.yaml"), key=lambda p: (p.stem != "baseline", p.stem))
    return added_files() | {p.stem: p for p in configs}


def config_names() -> list[str]:
    """The scenario menu's entries (:func:`scenario_files`)."""
    return list(scenario_files())


def config_file(config: str) -> Path:
    """The file of menu entry ``config``; an entry not on the menu is read as a name in ``configs/``."""
    return scenario_files().get(config, CONFIGS / f"{config}.yaml")


def file_label(config: str) -> str:
    """How messages name ``config``'s file: ``configs/<name>.yaml``, or the path as typed."""
    path = config_file(config)
    return f"configs/{path.name}" if path.parent.resolve() == CONFIGS.resolve() else config


def start_settings() -> tuple[dict, str]:
    """The sidebar's first settings and problem line: the model's defaults (the baseline
    as written), or the first file named on the command line as written; a file that
    stopped validating since ``abm dashboard`` checked it gives the defaults and its problems."""
    added = added_files()
    if not added:
        return dict(DEFAULTS), ""
    first = next(iter(added))
    try:
        return {**DEFAULTS, "config": first, **scenario_values(first, DEFAULTS["power"])}, ""
    except ScenarioError as exc:
        return dict(DEFAULTS), f"{file_label(first)} cannot be used, so the dashboard starts from the baseline: {exc}"


def _rule(family: str, current: dict, name: str, **overrides) -> dict:
    """The rule entry for variant ``name`` of ``family``, switched from the scenario's
    ``current`` one as ``--set rules.<family>.name=`` switches it (:func:`merge_rule`: the
    parameters the two rules carry keep their values, the rest are the variant's defaults),
    then the sliders' ``overrides`` the variant takes (each has its own parameters, and
    unknown ones are errors)."""
    allowed = registry.get(family, name).Params.model_fields
    return merge_rule(family, current, {"name": name, **{k: v for k, v in overrides.items() if k in allowed and v is not None}})


ALL_POWERS = "all powers"
# the sidebar's sliders -> (rule family, parameter) each one sets
SLIDERS = {"coercion_strength": ("coercion", "strength"), "hedge_cap": ("decision", "cap"), "noise": ("decision", "noise"), "decay_rate": ("decay", "rate")}
MENUS = ("decision", "allocation", "coercion")  # the sidebar's rule menus, by family


def slider_path(name: str) -> str:
    """The scenario path a slider sets, as a posterior's columns name it."""
    family, parameter = SLIDERS[name]
    return f"rules.{family}.{parameter}"


def scenario_values(config: str | Scenario, power: str | None = None) -> dict:
    """The sidebar's settings as the file of ``config`` (:func:`config_file`) itself sets them (its rules, the
    values of the sliders its rules have, and its spending unchanged), so that choosing
    a scenario runs it as written until a control is moved. A slider whose parameter the
    scenario's posterior draws gets None: each seed's draw stands until the slider is
    moved, so the dashboard runs baseline_calibrated as ``abm run`` does. With ``power``
    (the one chosen now), the power to scale too: kept if the scenario has it, else all
    powers (a generated world has its own). ``config`` may be the file already loaded
    (it is not read again). Raises :class:`ScenarioError` for a file that does not
    validate."""
    scenario = config if isinstance(config, Scenario) else load(config_file(config))
    rules = scenario.rules
    values: dict = {family: getattr(rules, family)["name"] for family in MENUS} | {"seed": scenario.seed, "budget_scale": 1.0, "new_money": 0.0}
    for name, (family, parameter) in SLIDERS.items():
        if parameter in getattr(rules, family):
            values[name] = getattr(rules, family)[parameter]
    drawn = set(posterior.table(scenario.posterior).columns) if scenario.posterior else set()
    if power is not None:
        values["power"] = power if power in scenario.powers else ALL_POWERS
    return {**values, **{name: None for name in SLIDERS if slider_path(name) in drawn}}


def slider_track(value: float, lo: float, hi: float, step: float, allowed=lambda x: True) -> tuple[float, float, bool]:
    """The range of a slider showing ``value`` (its own range widened by whole steps to
    reach a scenario's value beyond it), and whether ``value`` lies on the slider's steps.
    A value between steps (a scenario's 0.33, a posterior's draw) would show in the
    slider's bubble snapped to the nearest step while the model runs the exact value.
    An end that ``allowed`` (the parameter's bounds, :func:`slider_bounds`) refuses is
    moved to the value itself: a cap of 0.02 widened by whole steps of 0.05 would reach 0,
    which the hedging rule refuses, and the model built from it would fail."""
    def steps(x: float) -> int:  # whole steps to cover x; (0.2 - 0.05) / 0.05 is 3.0000000000000004, three steps, not four
        return math.ceil(round(x / step, 9))

    lo = round(min(lo, lo - steps(lo - value) * step), 12)
    hi = round(max(hi, hi + steps(value - hi) * step), 12)
    lo, hi = (lo if allowed(lo) else value), (hi if allowed(hi) else value)
    k = (value - lo) / step
    return lo, hi, abs(k - round(k)) < 1e-9


def slider_field(name: str, rules: dict[str, str]):
    """The field (pydantic's) of the slider's parameter in the rule named in ``rules``
    (family -> rule name) for the slider's family; None if that rule does not take it."""
    family, parameter = SLIDERS[name]
    return registry.get(family, rules[family]).Params.model_fields.get(parameter)


def slider_applies(name: str, rules: dict[str, str]) -> bool:
    """Whether the rule named in ``rules`` for the slider's family takes its parameter."""
    return slider_field(name, rules) is not None


def slider_bounds(name: str, rules: dict[str, str]):
    """Whether a value lies within the bounds the rule's field sets its parameter
    (``Field(gt=0.0, le=1.0)``); any value, for a rule that does not take it or a slider
    that sets no rule's parameter (spending, seed)."""
    field = slider_field(name, rules) if name in SLIDERS else None
    return Bounds.of(field.metadata if field else []).__contains__


def build_scenario(
    config: str, decision: str, allocation: str, coercion: str, coercion_strength: float,
    hedge_cap: float, noise: float, decay_rate: float, power: str, budget_scale: float, new_money: float = 0.0, seed: int = 0,
    loaded: Scenario | None = None,
) -> Scenario:
    """The scenario the file of ``config`` (:func:`config_file`) with the dashboard's choices applied. The
    spending factor (a ``budget_change`` in the first quarter: standing offers and new
    money, and what the scenario's ``new_money`` events set it to) and ``new_money`` (USD bn
    a quarter, added to the ``budget`` of each domain and to what those events set it to:
    the notebooks' lever) apply to ``power``, or to every power when ``power`` is "all
    powers" or not in the scenario (a generated world has its own powers). A scenario with
    ``posterior:`` (baseline_calibrated) first takes ``seed``'s draw of its parameters, as
    a run of it does; a slider's value (not None: the user moved it) then replaces the drawn one it
    sets, which the settings line says. ``loaded``: that file, if the caller has loaded it
    already (it is not read again)."""
    base = posterior.apply(load(config_file(config)) if loaded is None else loaded, int(seed))
    rules = base.rules
    raw = base.to_dict()  # the rules and the spending, changed here and validated in one load (a load costs about 10 ms of a Reset)
    raw["posterior"] = None  # drawn once, here: the sidebar's values stay
    raw["rules"].update(
        decision=_rule("decision", rules.decision, decision, noise=noise, cap=hedge_cap),
        allocation=_rule("allocation", rules.allocation, allocation),
        coercion=_rule("coercion", rules.coercion, coercion, strength=coercion_strength),
        decay=_rule("decay", rules.decay, rules.decay["name"], rate=decay_rate),
    )
    for key in budget_targets(base, power):
        if budget_scale != 1.0:  # the power's whole spending from the first quarter: standing offers and new money
            raw["events"][f"dashboard_spending_{key}"] = {"date": base.time.start.isoformat(), "type": "budget_change", "power": key, "factor": budget_scale}
        if new_money:
            raw["powers"][key]["budget"] = {domain: value + new_money for domain, value in raw["powers"][key]["budget"].items()}
        for event in [*raw["events"].values(), *raw["shocks"].values()]:  # the scenario's new_money events set the budget: both sliders act on what they set too
            if event and event["type"] == "new_money" and event["power"] == key:
                event["amount"] = (event["amount"] + new_money) * budget_scale
    return load(raw)


def budget_targets(scenario: Scenario, power: str) -> list[str]:
    return [power] if power in scenario.powers else list(scenario.powers)


class DashboardModel(RegionModel):
    """A :class:`RegionModel` built from the dashboard's parameters (kept in ``settings``).

    ``scenario`` is accepted and ignored when it is Mesa's own scenario holder (SolaraViz
    passes one on reset); the model's scenario comes from ``config`` and the rules. An
    :class:`abm.scenario.Scenario` there is the file of ``config`` (:func:`config_file`) already loaded,
    which is then not read again.
    """

    def __init__(
        self,
        config: str = "baseline",
        decision: str = "hedging",
        allocation: str = "contest",
        coercion: str = "punish",
        coercion_strength: float | None = 0.5,  # None (this and the next three): the scenario's own value, or its posterior's draw
        hedge_cap: float | None = 0.5,
        noise: float | None = 0.1,
        decay_rate: float | None = 0.02,
        power: str = "china",
        budget_scale: float = 1.0,
        new_money: float = 0.0,
        seed: int = 0,
        scenario=None,
        rng=None,
    ):
        given = locals()  # the arguments, by the names DEFAULTS lists
        self.settings = {name: given[name] for name in DEFAULTS}
        cfg = build_scenario(**self.settings, loaded=scenario if isinstance(scenario, Scenario) else None)
        super().__init__(cfg, rng=int(seed) if rng is None else rng)

    def _wrapped_step(self) -> None:
        """Mesa's step, which stops at the scenario's horizon: the Controls card's Render
        Interval steps that many times without looking at ``running``, which would carry a
        run past the quarters its scenario covers."""
        if self.running:
            super()._wrapped_step()


# the sidebar's starting values: the model's own defaults, so that they are written once
DEFAULTS = {name: p.default for name, p in inspect.signature(DashboardModel.__init__).parameters.items() if name not in ("self", "scenario", "rng")}


def spending_text(scale: float, new_money: float) -> str:
    """The spending sliders in words: Spending × scales the New money too (build_scenario)."""
    if not new_money:
        return f"spending ×{scale:g}"
    if scale == 1:
        return f"spending ×1 and {new_money:g} bn new money a quarter per domain"
    return f"spending ×{scale:g}, of standing offers and of {new_money:g} bn new money a quarter per domain ({scale * new_money:g} bn)"


def settings_text(model: RegionModel) -> str:
    """What the model was built with: the scenario and the rules and values the sidebar set."""
    s = getattr(model, "settings", None)
    if not s:
        return f"scenario {model.config.name}"
    rules = model.config.rules
    decision = ", ".join(f"{k} {v}" for k, v in rules.decision.items() if k != "name")
    coercion = f"{rules.coercion['name']}" + (f" {rules.coercion['strength']}" if "strength" in rules.coercion else "")
    targets = budget_targets(model.config, s["power"])
    who = model.config.powers[targets[0]].name if len(targets) == 1 else "all powers"
    drawn = (model.config.provenance or {}).get("posterior_draw")
    moved = [name.replace("_", " ") for name in SLIDERS if drawn and slider_path(name) in drawn["values"] and s[name] is not None]
    return (
        f"scenario {s['config']} · decision {rules.decision['name']}" + (f" ({decision})" if decision else "")
        + f" · allocation {rules.allocation['name']} · coercion {coercion} · tie decay {rules.decay.get('rate', '-')}"
        + f" · {spending_text(s['budget_scale'], s['new_money'])} for {who} · seed {s['seed']}"
        + (f" · parameters drawn from posterior row {drawn['row']}" + (f", but the sidebar's {', '.join(moved)}" if moved else "") if drawn else "")
    )


# --------------------------------------------------------------------------- panels
#
# Each panel is a matplotlib figure built once per model. A step changes only the data of
# its lines, markers and edges; the axes, labels and legends are drawn once and kept as a
# background image, and only the changing artists are drawn over it (blitting), so a step
# costs tens of milliseconds instead of a full redraw.


def power_colors(model: RegionModel) -> dict[str, str]:
    return charts.power_colors(model.config)


def model_frame(model: RegionModel) -> pd.DataFrame:
    """The collected model metrics so far, with the date of each step (built once per step
    and shared by the panels)."""
    cached = getattr(model, "_dashboard_frame", None)
    if cached is not None and cached[0] == model.steps:
        return cached[1]
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    frame.insert(0, "date", pd.to_datetime([model.config.date(s) for s in range(len(frame))]))
    model._dashboard_frame = (model.steps, frame)
    return frame


class LivePanel:
    """A figure whose ``dynamic`` artists change with the model and everything else is
    drawn once. :meth:`png` renders the current state."""

    def __init__(self, fig: Figure, update, dynamic: list):
        FigureCanvasAgg(fig)
        self.fig, self.update, self.dynamic = fig, update, dynamic
        for artist in dynamic:
            artist.set_animated(True)
        self.background = None

    def refresh(self, model: RegionModel) -> None:
        if self.update(model):  # True: a scale changed, the background must be redrawn
            self.background = None

    def png(self, model: RegionModel | None = None) -> bytes:
        if model is not None:
            self.refresh(model)
        canvas = self.fig.canvas
        if self.background is None:
            canvas.draw()
            self.background = canvas.copy_from_bbox(self.fig.bbox)
        canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        width, height = canvas.get_width_height()
        buffer = io.BytesIO()
        PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


def _time_axis(ax, model: RegionModel) -> None:
    """Dates from the scenario's start to its horizon, so a run fills the chart as it goes."""
    cfg = model.config
    ax.set_xlim(pd.Timestamp(cfg.date(0)), pd.Timestamp(cfg.date(cfg.time.steps)))
    locator = mdates.AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


PANEL_SIZE = (5.2, 2.9)  # inches, for a line panel; a card shows it about 400 px wide


def _series_panel(model: RegionModel, panels: list[tuple[str, list[tuple[str, str, dict]], str, str]], legend: str | None = "best", sharey: bool = True, row_size: tuple[float, float] = PANEL_SIZE, columns: int | None = None, text_size: float = 10) -> LivePanel:
    """Line panels, ``columns`` to a row: ``panels`` is [(title, [(column, label, style)],
    y label, scale)]; the scale "0-1" stays put, "grow" grows (with a redraw) when the data
    outgrow it, "fit" also shrinks when they fill less than a third of it, so that a small
    metric's moves show. Shared y axes show the first panel's label only. ``legend`` is
    "best", "outside" or None."""
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(row_size[0], row_size[1] * rows), dpi=DPI, layout="constrained")
    grid = fig.subplots(rows, columns, sharey=sharey, squeeze=False).ravel()
    for spare in grid[len(panels):]:
        spare.set_axis_off()
    lines, scales = [], []
    for ax, (title, series, ylabel, scale) in zip(grid, panels):
        for column, label, style in series:
            lines.append((column, ax.plot([], [], label=label, linewidth=1.6, **{"marker": "o", "markersize": 3, **style, "markevery": [-1]})[0]))  # a dot marks the current step
        scales.append((ax, [column for column, _, _ in series], scale))
        ax.set_title(title, fontsize=text_size)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        _time_axis(ax, model)
        if legend == "outside":
            ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, ncol=1 if sum(not label.startswith("_") for _, label, _ in series) <= 13 else 2)  # "_": a line without an entry
        elif legend:
            ax.legend(fontsize=7.5, loc="best")  # a fixed corner covered a scenario's low line (no_peace's South Caucasus integration)
        if not sharey or ax is grid[0]:
            ax.set_ylabel(ylabel, fontsize=text_size - 1.5)

    def update(model):
        frame = model_frame(model)
        for column, line in lines:
            line.set_data(frame["date"], frame[column])
        rescaled = False
        for ax, drawn, scale in scales:
            values = frame[drawn].to_numpy(dtype=float)
            if scale == "0-1" or not np.isfinite(values).any():
                continue
            top, high = float(np.nanmax(values)), ax.get_ylim()[1]
            if top > high or (scale == "fit" and 0 < top < high / 3):
                ax.set_ylim(0, top * 1.5)
                rescaled = True
        return rescaled

    return LivePanel(fig, update, [line for _, line in lines])


def _note_panel(text: str) -> LivePanel:
    """A panel with nothing to draw for this scenario, saying why."""
    fig = Figure(figsize=PANEL_SIZE, dpi=DPI)
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color="grey", transform=ax.transAxes)
    ax.set_axis_off()
    return LivePanel(fig, lambda model: False, [])


def live_fragmentation(model: RegionModel) -> LivePanel:
    colors = cs.palette(len(model.subregions) + 1)[:-1]  # one spare: Okabe-Ito's last colour is the region's black; a generated world may have more subregions than Okabe-Ito has colours, or than there are line styles
    styles = [{"color": "black"}] + [{"color": c, "linestyle": cs.LINESTYLES[(k + 1) % len(cs.LINESTYLES)]} for k, c in enumerate(colors)]
    series = lambda metric: [(metric, "region", styles[0])] + [(f"{metric}_{r}", r.replace("_", " "), styles[k + 1]) for k, r in enumerate(model.subregions)]  # noqa: E731
    return _series_panel(model, [(metric, series(metric), "index (0-1)", "0-1") for metric in ("fragmentation", "integration")])


NAMED_POWERS = 12  # the influence panel names this many powers of a world of more than 13, and draws the others in grey


def live_influence(model: RegionModel) -> LivePanel:
    """Each power's influence; in a world of more than :data:`NAMED_POWERS` + 1 powers (a
    generated one has up to 200, and colours repeat past 20), the largest at the start
    named, told apart by colour (and line style where colours repeat), the others as
    unnamed grey lines."""
    colors, keys = power_colors(model), model.power_keys
    # influence_p = mean_s a[s,p] (ODD 7.8): the mean of the states' own shares, not a share of the region's pooled ties
    title = "Influence of each power (mean material alignment)"
    if len(keys) <= NAMED_POWERS + 1:  # one power more is named too: a grey line of "1 others" would hide it for nothing
        series = [(f"influence_{p}", model.config.powers[p].name, {"color": colors[p]}) for p in keys]
    else:
        start = model_frame(model).iloc[0]
        named = sorted(keys, key=lambda p: -start[f"influence_{p}"])[:NAMED_POWERS]
        others = [p for p in keys if p not in named]
        repeats = [[colors[q] for q in named[:k]].count(colors[p]) for k, p in enumerate(named)]  # a colour named again is dashed, dotted...
        series = [(f"influence_{p}", model.config.powers[p].name, {"color": colors[p], "linestyle": cs.LINESTYLES[n % len(cs.LINESTYLES)]}) for p, n in zip(named, repeats)]
        series += [(f"influence_{p}", f"the {len(others)} others" if k == 0 else "_", {"color": "0.75", "marker": "", "zorder": 1}) for k, p in enumerate(others)]
        title = f"{title}:\nthe {NAMED_POWERS} largest powers at the start, {len(others)} others in grey"
    return _series_panel(model, [(title, series, "mean share of each state's ties (0-1)", "0-1")], legend="outside")


def corridor_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if CORRIDOR_COLUMN.match(c)]


def live_corridors(model: RegionModel) -> LivePanel:
    columns = corridor_columns(model_frame(model))
    if not columns:
        return _note_panel("no corridors in this scenario\n(no corridor_<id>_volume columns collected)")
    names = {key: corridor.name.split(" (")[0] for key, corridor in model.config.corridors.items()}  # without the route in brackets
    series = [(c, names.get(key := CORRIDOR_COLUMN.match(c).group(1), key.replace("_", " ")), cs.line_style(k, len(columns))) for k, c in enumerate(columns)]
    return _series_panel(model, [("Freight volume on each corridor", series, "Mt per year", "grow")], legend="outside")


def live_question(model: RegionModel) -> LivePanel:
    """The metrics the scenario's question names (its ``watch:`` list, abm compare's
    default), each on a scale fitted to its values (from 0) and in its own unit: some of
    them (unmet demand, dependency, transit revenue) no other panel draws."""
    watched = model.config.watch
    if not watched:
        return _note_panel("this scenario's watch: list names no metrics")
    panels = [(metric, [(metric, metric, {"color": "black"})], cs.unit(metric), "fit") for metric in watched]
    return _series_panel(model, panels, legend=None, sharey=False, row_size=(2 * PANEL_SIZE[0], 0.85 * PANEL_SIZE[1]), columns=min(4, len(panels)), text_size=8.5)


def live_region(model: RegionModel) -> LivePanel:
    """The map of :mod:`abm.charts` (states at their capitals, powers outside the frame in
    their direction), with the states' colours, the ties and the neighbour relations live."""
    fig = Figure(figsize=(5.2, 4.6), dpi=DPI)
    fig.subplots_adjust(left=0.22, right=0.84, top=0.86, bottom=0.18)
    ax = fig.subplots()
    artists = charts.plot_region(ax, model.config, _alignment(model), _relations(model), names=len(model.states) <= 30, scale=1.0, legend=False)
    ax.set_xlabel("")  # a schematic map: axis labels and ticks would sit among the powers and the names
    ax.set_ylabel("")
    ax.tick_params(labelleft=False, labelbottom=False, length=0)
    fig.text(0.5, 0.012, "states at their capitals · colour: main patron · edge width: share of the ties\ndashes: neighbours (green friendly, red hostile) · squares: powers, in their direction", ha="center", va="bottom", fontsize=7.5)

    def update(model):
        charts.update_region(artists, model.config, _alignment(model), _relations(model))
        return False

    return LivePanel(fig, update, artists.dynamic)


def _alignment(model: RegionModel) -> dict:
    return {s.key: s.alignment for s in model.states}


def _relations(model: RegionModel) -> list:
    keys, pairs = model.state_keys, model.pairs
    return [(keys[a], keys[b], rel) for a, b, rel in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.relation.tolist())]


PANELS = {"region": live_region, "fragmentation": live_fragmentation, "influence": live_influence, "corridors": live_corridors, "question": live_question}


def status_text(model: RegionModel) -> str:
    m = model.metrics
    top = sorted(model.power_keys, key=lambda p: -m[f"influence_{p}"])[:3]
    leaders = ", ".join(f"{model.config.powers[p].name} {m[f'influence_{p}']:.2f}" for p in top)
    return (
        f"Step {model.steps} of {model.config.time.steps} · {model.date.isoformat()}\n"
        f"{settings_text(model)}\n"
        f"fragmentation {m['fragmentation']:.3f} · integration {m['integration']:.3f} · "
        f"blocs {m['blocs']} · polarization {m['polarization']:.3f} · leading: {leaders}\n"
        f"this quarter: offers accepted {m['offers_accepted']} of {m['offers_made']} · "  # counts of the step (a quarter), not cumulative
        f"coercion events {m['coercion_events']} · conflict events {m['conflict_events']}\n"
        f"latest events: {latest_events(model)}"
    )


EVENT_PARTIES = ("organisation", "power", "by", "state", "against")  # what names an event the model made itself (no scenario id)


def latest_events(model: RegionModel, n: int = 3) -> str:
    """The last ``n`` events that fired, newest first, each named by its scenario id, or,
    for one the model made (a guarantee called, an accession it decided), by its parties."""
    log = getattr(model, "event_log", [])
    if not log:
        return "none yet"

    def named(key, params):
        params = json.loads(params)
        parties = [v for v in map(params.get, EVENT_PARTIES) if isinstance(v, str)]
        who = f" ({key})" if key else f" ({', '.join(parties)})" if parties else ""
        return who + (" (no effect)" if "no_effect" in params else "")

    return "; ".join(f"{date} {kind.replace('_', ' ')}{named(key, params)}" for _, date, key, kind, _, _, params in reversed(log[-n:]))


def question_text(scenario: Scenario) -> str:
    """The scenario's description and the metrics its ``watch:`` list names."""
    watched = f"Its metrics (watch:): {', '.join(scenario.watch)}." if scenario.watch else "Its watch: list names no metrics."
    return f"{scenario.description} {watched}".strip()


@solara.component
def Status(model, pending: bool = False):
    update_counter.get()
    lines = status_text(model).splitlines()
    with solara.Column(gap="2px", style={"padding": "8px"}) as main:
        solara.Text(lines[0], style={"font-weight": "bold", "font-size": "1.1em"}, classes=["abm-status"])
        solara.Text(lines[1], style={"font-style": "italic"}, classes=["abm-settings"])
        for line in lines[2:]:
            solara.Text(line)
        if pending:
            solara.Text("The sidebar has changed: press Reset to build the model with it.", style={"color": "#b35900"})
        elif not model.running:
            solara.Text("The run has reached its horizon: press Reset to run it again.", style={"color": "#1b5e20"}, classes=["abm-finished"])
    return main


@solara.component
def Live(model, kind: str):
    """One panel: built when the model is (re)built, then only its data change."""
    panel = solara.use_memo(lambda: PANELS[kind](model), [id(model)])
    update_counter.get()
    return solara.Image(panel.png(model), format="png", width="100%")


# --------------------------------------------------------------------------- sidebar


def menu_entry(value: str, title: str | None = None) -> dict:
    """A menu entry that shows ``title`` (by default the value itself) and selects ``value``."""
    return {"title": title or value, "value": value}


def scenario_facts(config: str) -> tuple[list[dict], str, str | None, float]:
    """The power menu's entries (each power's name, its id the value), the decay rule, the
    posterior file and the defection tolerance of the file of ``config`` (:func:`config_file`); a file that
    stopped validating after it was chosen gives the menu's fixed entry and the baseline's
    decay rule and tolerance (Reset then says what is wrong)."""
    try:
        scenario = load(config_file(config))
    except ScenarioError:
        return [menu_entry(ALL_POWERS)], "exponential", None, OfferSpec().defection_tolerance
    powers = [menu_entry(ALL_POWERS), *(menu_entry(key, power.name) for key, power in scenario.powers.items())]
    return powers, scenario.rules.decay["name"], scenario.posterior, scenario.offers.defection_tolerance


def readable_draw(path: str | None, seed: int) -> tuple[int, dict[str, float]] | None:
    """The posterior's draw for ``seed`` (row, values), or None without a posterior or for
    a file that stopped being readable after its scenario was chosen: the sidebar then
    shows its own values, and Reset names the problem as it does for a broken scenario."""
    try:
        return posterior.draw(path, seed) if path else None
    except posterior.PosteriorError:
        return None


# Why the coercion slider may change nothing: the punish rule answers defections only, and
# only a rival's new spending makes one (RegionModel.find_defections, docs/ODD.md 7.4).
COERCION_NOTE = (
    "Acts only on a defection: a state taking, in a quarter, more than {tolerance} of its ties from a power's "
    "rivals' new spending (New money, Spending × above 1, the scenario's own new money, as in a generated world, or standing "
    "offers the allocation rule moves: random every quarter, adaptive as it learns, contest and consolidate as alignments shift, "
    "interest never). "
    "Without new spending this slider changes nothing."
)
# under the none rule instead: COERCION_NOTE would say when coercion acts, and it never does
NO_COERCION_NOTE = "This rule never coerces (the control case), so this slider changes nothing."


# Each slider's label on a line of its own above the track, with room for the value bubble:
# beside the track, a long label ("... (not used by this rule)") squeezed the track to
# nothing and the bubbles covered the line above.
SIDEBAR_CSS = """
.abm-sidebar .v-slider.v-input--horizontal { grid-template-areas: "prepend" "control"; grid-template-columns: 1fr; }
.abm-sidebar .v-slider .v-input__prepend { margin-inline-end: 0; margin-bottom: 30px; }
.abm-sidebar .v-slider .v-slider__label { white-space: normal; }
"""


@solara.component
def Settings(settings: solara.Reactive[dict], problem: solara.Reactive[str]):
    """The model's settings, each control showing its value; Reset (above) applies them.
    Choosing a scenario takes its own rules and values (:func:`scenario_values`), or, for
    a file that does not validate, shows its problems and keeps the previous choice. A
    slider at None shows the value the scenario's posterior draws for the seed."""
    s = settings.value
    refusals, set_refusals = solara.use_state(0)
    chosen, set_chosen = solara.use_state(s["power"])  # the user's pick, back when a scenario has that power again

    def set_(name):
        return lambda value: settings.set({**settings.value, name: value})

    def choose_config(config):
        try:
            values = scenario_values(config, chosen)
        except ScenarioError as exc:
            problem.set(f"{file_label(config)} cannot be used, so the scenario stays {settings.value['config']}: {exc}")
            set_refusals(refusals + 1)  # a new menu, showing the kept scenario: the browser would keep showing the refused pick
            return
        problem.set("")
        undrawn = {name: DEFAULTS[name] for name in SLIDERS if settings.value[name] is None}  # the last scenario's posterior draws nothing here
        settings.set({**settings.value, **undrawn, "config": config, **values})

    def choose_power(power):
        set_chosen(power)
        settings.set({**settings.value, "power": power})

    def select(label, name, values, on_value=None, key=None):
        widget = solara.Select(label, value=s[name], values=values, on_value=on_value or set_(name))
        if key:
            widget.key(key)

    def slider(label, name, lo, hi, step, digits=2):
        cls = solara.SliderInt if isinstance(step, int) else solara.SliderFloat
        value, note = s[name], ""
        if value is None and drawn is None:  # the posterior file broke after the scenario was chosen
            value, note = DEFAULTS[name], " (the posterior cannot be read: Reset says why)"
        elif value is None:  # the posterior's draw for this seed, until the slider is moved
            value, note = drawn[1][slider_path(name)], f" (drawn, posterior row {drawn[0]})"
        rules = {**{f: s[f] for f in MENUS}, "decay": decay}
        off = name in SLIDERS and not slider_applies(name, rules)
        lo, hi, on_steps = slider_track(value, lo, hi, step, slider_bounds(name, rules))
        # a value between steps (a scenario's 0.333, a posterior's draw) has no bubble, which
        # would show it snapped to a step, and its label shows it to six significant digits
        bubble, shown = ("always", f"{label}: {value:.{digits}f}") if on_steps else (True, f"{label}: {value:.6g}")
        # the browser adds steps in binary floating point (0.8500000000000001): round to the
        # slider's own digits, so the model gets the value shown, as --set would give it
        on_value = (lambda v: set_(name)(round(v, digits))) if cls is solara.SliderFloat else set_(name)
        cls(shown + note + (" (not used by this rule)" if off else ""), value=value, min=lo, max=hi, step=step, on_value=on_value, thumb_label=bubble, disabled=off)

    powers, decay, drawn_from, tolerance = solara.use_memo(lambda: scenario_facts(s["config"]), [s["config"]])
    drawn = solara.use_memo(lambda: readable_draw(drawn_from, int(s["seed"])), [drawn_from, s["seed"]])
    solara.Style(SIDEBAR_CSS)
    if problem.value:
        solara.Error(problem.value, classes=["abm-problem"])
    select("Scenario (configs/)" if not added_files() else "Scenario", "config", config_names(), choose_config, key=f"config-{refusals}")
    select("Decision rule", "decision", registry.known("decision"))
    select("Allocation rule", "allocation", registry.known("allocation"))
    select("Coercion rule", "coercion", registry.known("coercion"))
    slider("Coercion strength", "coercion_strength", 0.0, 1.0, 0.05)
    note = NO_COERCION_NOTE if s["coercion"] == "none" else COERCION_NOTE.format(tolerance=f"{100 * tolerance:g}%")
    solara.Text(note, style={"font-size": "0.8em", "color": "#666"}, classes=["abm-coercion-note"])
    slider("Hedging cap", "hedge_cap", 0.2, 1.0, 0.05)
    slider("Decision noise", "noise", 0.0, 0.5, 0.01)
    slider("Tie decay per quarter", "decay_rate", 0.0, 0.1, 0.005, digits=3)
    known = s["power"] in [entry["value"] for entry in powers]
    select("Power whose spending to change", "power", powers if known else [*powers, menu_entry(s["power"])], choose_power)
    slider("Spending ×", "budget_scale", 0.0, 3.0, 0.1, digits=1)
    slider("New money, USD bn a quarter per domain", "new_money", 0.0, 3.0, 0.25)
    slider("Seed", "seed", 0, 99, 1, digits=0)


TITLE = "Great-power competition in the South Caucasus and Central Asia"


@solara.component
def Panels(model, pending: bool = False):
    """The main view: the title, the status, then the region and fragmentation/integration,
    then influence and corridors, in two columns (laid out here rather than in Mesa's
    draggable grid, whose front-end package does not load under Solara's Vue 3 app), then
    the scenario's question and its metrics."""
    with solara.Column(gap="12px", style={"padding": "0 12px", "width": "100%"}) as main:
        solara.Text(TITLE, style={"font-size": "1.4em", "font-weight": "500", "padding-top": "8px"}, classes=["abm-title"])
        with solara.Card(margin=0):
            Status(model, pending)
        with solara.Columns([1, 1]):
            with solara.Card("The region", margin=0):
                Live(model, "region")
            with solara.Card("Fragmentation and integration", margin=0):
                Live(model, "fragmentation")
        with solara.Columns([1, 1]):
            with solara.Card("Influence", margin=0):
                Live(model, "influence")
            with solara.Card("Corridors", margin=0):
                Live(model, "corridors")
        with solara.Card("The scenario's question", margin=0):
            solara.Text(question_text(model.config), style={"font-size": "0.95em"}, classes=["abm-question"])
            Live(model, "question")
    return main


def session_model(settings: solara.Reactive[dict], problem: solara.Reactive[str]) -> type[DashboardModel]:
    """The model class of one browser session, bound to its sidebar: Mesa's Reset builds
    ``type(model)()``. A scenario file edited into an invalid one after it was chosen gives
    the baseline, with its problems on the ``problem`` line, not a traceback."""

    class SessionModel(DashboardModel):
        def __init__(self, scenario=None, **overrides):
            chosen = {**settings.value, **overrides}
            try:
                super().__init__(**chosen)
            except ScenarioError as exc:  # raised before the model is built: build the baseline instead
                problem.set(f"{file_label(chosen['config'])} cannot be used, so the model was built from the baseline: {exc}")
                baseline = load(CONFIGS / "baseline.yaml")  # read once, for both the sidebar's values and the model
                super().__init__(**{**chosen, "config": "baseline", **scenario_values(baseline)}, scenario=baseline)
                settings.set(dict(self.settings))  # the sidebar shows what was built, and no Reset is pending

    return SessionModel


@solara.component
def Page():
    """The app: one model per browser session. The sidebar's settings live here; Mesa's
    Reset builds ``type(model)()``, so the model class is bound to them."""
    first, told = solara.use_memo(start_settings, [])
    settings = solara.use_reactive(first)
    problem = solara.use_reactive(told)
    bound = solara.use_memo(lambda: session_model(settings, problem), [])
    initial = solara.use_memo(bound, [])
    model = solara.use_reactive(initial)
    with solara.Column(style={"width": "100%"}) as main:
        solara.Title(TITLE)  # the browser tab's title, not Solara's default
        SolaraViz(model, components=[], model_params={}, name="South Caucasus & Central Asia", play_interval=PLAY_INTERVAL)
        with solara.Sidebar(), solara.Card("Scenario and rules", classes=["abm-sidebar"]):
            Settings(settings, problem)
        Panels(model.value, pending=model.value.settings != settings.value)
    return main


# --------------------------------------------------------------------------- offline assets

# Front-end packages the Solara server would otherwise proxy from a public CDN at page
# load (the page template, requirejs, icons, and the draggable grid Mesa lays panels out
# in), as (npm package, version, a file that must exist). tests/test_dashboard.py checks
# that each is still the version Solara asks for. They are fetched once, from the npm
# registry with npm itself, into Solara's own proxy cache, so the dashboard works without
# any other network access.
ASSETS = [
    ("@widgetti/solara-vuetify3-app", "5.2.0", "dist/solara-vuetify-app8.min.js"),
    ("requirejs", "2.3.6", "require.js"),
    ("font-awesome", "4.5.0", "css/font-awesome.min.css"),
    ("@widgetti/vue-grid-layout", "2.3.13-alpha.2", "dist/vue-grid-layout.umd.js"),
]


def assets_cache() -> Path:
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def missing_assets(cache: Path | None = None) -> list[tuple[str, str, str]]:
    cache = cache or assets_cache()
    return [a for a in ASSETS if not (cache / f"{a[0]}@{a[1]}" / a[2]).is_file()]


def fetch_assets(cache: Path | None = None, log=print) -> list[str]:
    """Put every missing front-end asset into Solara's proxy cache (``npm pack``); return
    what was fetched. Raises RuntimeError with a readable message if that fails."""
    import shutil
    import subprocess
    import tarfile
    import tempfile

    cache = cache or assets_cache()
    todo = missing_assets(cache)
    if not todo:
        return []
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the dashboard's front-end assets are missing and npm is not installed to fetch them (install Node.js's npm once, e.g. sudo apt install npm): " + ", ".join(f"{n}@{v}" for n, v, _ in todo))
    fetched = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, probe in todo:
            spec = f"{name}@{version}"
            log(f"fetching {spec} (npm pack) into {cache}")
            proc = subprocess.run([npm, "pack", spec, "--json", "--pack-destination", tmp], capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise RuntimeError(f"npm pack {spec} failed: {proc.stderr.strip()[-500:]}")
            tarball = Path(tmp) / json.loads(proc.stdout)[0]["filename"]
            target = cache / spec
            staging = Path(tempfile.mkdtemp(dir=tmp))
            with tarfile.open(tarball) as tar:
                tar.extractall(staging, filter="data")
            root = staging / "package"
            if not (root / probe).is_file():
                raise RuntimeError(f"{spec} has no {probe}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root, target)
            fetched.append(spec)
    return fetched
