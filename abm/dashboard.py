"""Interactive dashboard on Mesa's visualization stack (SolaraViz).

Start it with ``abm dashboard`` (or ``solara run abm/dashboard.py``) and open the address
it prints. The sidebar chooses a scenario from ``configs/``, the decision, allocation and
coercion rules, and the key parameters; **Reset** rebuilds the model with them, **Step**
advances one period and **▶** plays. The panels show

* the region: states at their capitals' coordinates coloured by their main patron, ties
  to the powers as edges whose width is the tie's share, neighbour relations as dashed
  lines (red hostile, green friendly);
* a status line (step, date, the headline metrics, offers, coercion, the latest events);
* fragmentation and integration over time, for the region and each subregion;
* each power's influence share over time;
* freight volume on each corridor over time (every ``corridor_<id>_volume`` column the
  model collects; a note when the scenario has no corridors).

Every slider *overrides* the scenario's own value (the defaults are the baseline's). The
model is :class:`DashboardModel`, a thin subclass of :class:`abm.model.RegionModel` whose
constructor takes the dashboard's parameters; it accepts and ignores the ``scenario``
keyword through which Mesa's reset passes its own scenario holder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import solara  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from abm import charts  # noqa: E402
from abm.model import RegionModel  # noqa: E402
from abm.rules import registry  # noqa: E402
from abm.scenario import Scenario, load  # noqa: E402

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
CORRIDOR_COLUMN = re.compile(r"^corridor_(.+)_volume$")


def config_names(directory: Path = CONFIGS) -> list[str]:
    """Scenario files offered in the dashboard: the stems of ``configs/*.yaml``, baseline first."""
    names = sorted(p.stem for p in directory.glob("*.yaml"))
    return sorted(names, key=lambda n: n != "baseline")


def _rule(family: str, current: dict, name: str, **overrides) -> dict:
    """The rule entry ``{name, ...}`` for variant ``name`` of ``family``: the current entry's
    parameters and ``overrides`` are kept where the variant accepts them (each variant has
    its own parameters, and unknown ones are errors)."""
    allowed = registry.get(family, name).Params.model_fields
    spec = {k: v for k, v in current.items() if k != "name" and k in allowed}
    spec.update({k: v for k, v in overrides.items() if k in allowed})
    return {"name": name, **spec}


def build_scenario(
    config: str = "baseline",
    decision: str = "hedging",
    allocation: str = "contest",
    coercion: str = "punish",
    coercion_strength: float = 0.5,
    hedge_cap: float = 0.5,
    noise: float = 0.1,
    decay_rate: float = 0.02,
    power: str = "china",
    budget_scale: float = 1.0,
) -> Scenario:
    """The scenario ``configs/<config>.yaml`` with the dashboard's choices applied."""
    base = load(CONFIGS / f"{config}.yaml")
    rules = base.rules
    chosen = {
        "decision": _rule("decision", rules.decision, decision, noise=noise, cap=hedge_cap),
        "allocation": _rule("allocation", rules.allocation, allocation),
        "coercion": _rule("coercion", rules.coercion, coercion, strength=coercion_strength),
        "decay": _rule("decay", rules.decay, rules.decay["name"], rate=decay_rate),
    }
    sets = [f"rules.{family}={json.dumps(spec)}" for family, spec in chosen.items()]
    if power in base.powers and budget_scale != 1.0:
        budget = base.powers[power].budget
        sets += [f"powers.{power}.budget.{d}={budget.get(d) * budget_scale}" for d in ("investment", "security", "trade")]
    return load(base, sets)


class DashboardModel(RegionModel):
    """A :class:`RegionModel` built from the dashboard's parameters.

    ``scenario`` is accepted and ignored when it is Mesa's own scenario holder (SolaraViz
    passes one on reset); the model's scenario comes from ``config`` and the rules.
    """

    def __init__(
        self,
        config: str = "baseline",
        decision: str = "hedging",
        allocation: str = "contest",
        coercion: str = "punish",
        coercion_strength: float = 0.5,
        hedge_cap: float = 0.5,
        noise: float = 0.1,
        decay_rate: float = 0.02,
        power: str = "china",
        budget_scale: float = 1.0,
        seed: int = 0,
        scenario=None,
        rng=None,
    ):
        cfg = build_scenario(config, decision, allocation, coercion, coercion_strength, hedge_cap, noise, decay_rate, power, budget_scale)
        super().__init__(cfg, rng=int(seed) if rng is None else rng)


# --------------------------------------------------------------------------- panels


def power_colors(model: RegionModel) -> dict[str, str]:
    return charts.power_colors(model.config)


def model_frame(model: RegionModel) -> pd.DataFrame:
    """The collected model metrics so far, with the date of each step."""
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    frame.insert(0, "date", pd.to_datetime([model.config.date(s) for s in range(len(frame))]))
    return frame


def draw_region(model: RegionModel, fig: Figure | None = None) -> Figure:
    """States at their coordinates coloured by main patron, ties to powers as edges,
    neighbour relations as they stand now (the map of :mod:`abm.charts`, live)."""
    fig = fig or Figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    keys, pairs = model.state_keys, model.pairs
    relations = [(keys[a], keys[b], rel) for a, b, rel in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.relation.tolist())]
    alignment = {s.key: s.alignment for s in model.states}
    charts.plot_region(ax, model.config, alignment, relations, names=len(model.states) <= 30, scale=0.6)
    ax.xaxis.label.set_size(8)
    ax.yaxis.label.set_size(8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"The region at {model.date.isoformat()} (step {model.steps}): colour = main patron, edges = ties", fontsize=9)
    fig.tight_layout()
    return fig


def draw_fragmentation(model: RegionModel, fig: Figure | None = None) -> Figure:
    frame = model_frame(model)
    fig = fig or Figure(figsize=(6.4, 3.4))
    left, right = fig.subplots(1, 2, sharey=True)
    styles = ["--", ":", "-."]
    for ax, metric in ((left, "fragmentation"), (right, "integration")):
        ax.plot(frame["date"], frame[metric], color="black", linewidth=2, marker="o" if len(frame) < 3 else None, label="region")
        for k, r in enumerate(model.subregions):
            ax.plot(frame["date"], frame[f"{metric}_{r}"], linestyle=styles[k % 3], linewidth=1.5, label=r.replace("_", " "))
        ax.set_title(metric, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        _time_axis(ax, model)
    left.legend(fontsize=7, loc="lower left")
    left.set_ylabel("index (0-1)", fontsize=8)
    fig.tight_layout()
    return fig


def draw_influence(model: RegionModel, fig: Figure | None = None) -> Figure:
    frame = model_frame(model)
    colors = power_colors(model)
    fig = fig or Figure(figsize=(6.4, 3.4))
    ax = fig.subplots()
    last = frame.iloc[-1]
    for p in sorted(model.power_keys, key=lambda p: -last[f"influence_{p}"]):
        ax.plot(frame["date"], frame[f"influence_{p}"], color=colors[p], linewidth=1.8, marker="o" if len(frame) < 3 else None, label=model.config.powers[p].name)
    ax.set_ylabel("share of the region's ties", fontsize=8)
    ax.set_title("Influence of each power (mean alignment share)", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    _time_axis(ax, model)
    ax.legend(fontsize=6.5, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def corridor_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if CORRIDOR_COLUMN.match(c)]


def draw_corridors(model: RegionModel, fig: Figure | None = None) -> Figure:
    frame = model_frame(model)
    columns = corridor_columns(frame)
    fig = fig or Figure(figsize=(6.4, 3.4))
    ax = fig.subplots()
    if not columns:
        ax.text(0.5, 0.5, "no corridors in this scenario\n(no corridor_<id>_volume columns collected)", ha="center", va="center", fontsize=9, color="grey", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    for k, column in enumerate(columns):
        ax.plot(frame["date"], frame[column], color=TAB10[k % 10], linestyle=["-", "--", ":", "-."][k // 10 % 4], linewidth=1.8, marker="o" if len(frame) < 3 else None, label=CORRIDOR_COLUMN.match(column).group(1).replace("_", " "))
    ax.set_title("Freight volume on each corridor", fontsize=9)
    ax.set_ylabel("Mt per year", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    _time_axis(ax, model)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _time_axis(ax, model: RegionModel) -> None:
    """Dates from the scenario's start to its horizon, so a run fills the chart as it goes."""
    cfg = model.config
    ax.set_xlim(pd.Timestamp(cfg.date(0)), pd.Timestamp(cfg.date(cfg.time.steps)))
    ax.tick_params(axis="x", rotation=30)


def status_text(model: RegionModel) -> str:
    m = model.metrics
    top = sorted(model.power_keys, key=lambda p: -m[f"influence_{p}"])[:3]
    leaders = ", ".join(f"{model.config.powers[p].name} {m[f'influence_{p}']:.2f}" for p in top)
    return (
        f"Step {model.steps} of {model.config.time.steps} · {model.date.isoformat()} · {model.config.name}\n"
        f"fragmentation {m['fragmentation']:.3f} · integration {m['integration']:.3f} · "
        f"blocs {m['blocs']} · polarization {m['polarization']:.3f}\n"
        f"offers accepted {m['offers_accepted']} of {m['offers_made']} · coercion {m['coercion_events']} · "
        f"conflict {m['conflict_events']} · leading: {leaders}\n"
        f"latest events: {latest_events(model)}"
    )


def latest_events(model: RegionModel, n: int = 3) -> str:
    """The last ``n`` events that fired (dated or shocks), newest first."""
    log = getattr(model, "event_log", [])
    if not log:
        return "none yet"
    return "; ".join(f"{date} {kind.replace('_', ' ')}" + (f" ({key})" if key else "") for _, date, key, kind, *_ in reversed(log[-n:]))


def _figure(draw, model):
    """A panel showing ``draw(model)``, redrawn after every step or reset."""
    update_counter.get()
    fig = draw(model)
    return solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), model.steps, update_counter.value])


@solara.component
def Status(model):
    update_counter.get()
    lines = status_text(model).splitlines()
    with solara.Column(gap="2px", style={"padding": "8px"}) as main:
        solara.Text(lines[0], style={"font-weight": "bold", "font-size": "1.1em"}, classes=["abm-status"])
        for line in lines[1:]:
            solara.Text(line)
    return main


@solara.component
def Region(model):
    return _figure(draw_region, model)


@solara.component
def FragmentationIntegration(model):
    return _figure(draw_fragmentation, model)


@solara.component
def Influence(model):
    return _figure(draw_influence, model)


@solara.component
def Corridors(model):
    return _figure(draw_corridors, model)


def model_params() -> dict:
    """The sidebar: scenario, rules and key parameters (defaults: the baseline's)."""
    baseline = CONFIGS / "baseline.yaml"
    powers = list(load(baseline).powers) if baseline.exists() else ["china"]

    def select(label, value, values):
        return {"type": "Select", "label": label, "value": value, "values": values}

    def slider(label, value, lo, hi, step):
        return {"type": "SliderFloat", "label": label, "value": value, "min": lo, "max": hi, "step": step}

    return {
        "config": select("Scenario (configs/)", "baseline", config_names()),
        "decision": select("Decision rule", "hedging", registry.known("decision")),
        "allocation": select("Allocation rule", "contest", registry.known("allocation")),
        "coercion": select("Coercion rule", "punish", registry.known("coercion")),
        "coercion_strength": slider("Coercion", 0.5, 0.0, 1.0, 0.05),
        "hedge_cap": slider("Hedging cap", 0.5, 0.2, 1.0, 0.05),
        "noise": slider("Noise", 0.1, 0.0, 0.5, 0.01),
        "decay_rate": slider("Tie decay", 0.02, 0.0, 0.1, 0.005),
        "power": select("Power whose budget to scale", "china", powers),
        "budget_scale": slider("Budget ×", 1.0, 0.0, 3.0, 0.1),
        "seed": {"type": "SliderInt", "label": "Seed", "value": 0, "min": 0, "max": 99, "step": 1},
    }


TITLE = "Great-power competition in the South Caucasus and Central Asia"


@solara.component
def Panels(model):
    """The main view: status, then the region and fragmentation/integration, then
    influence and corridors, in two columns (laid out here rather than in Mesa's
    draggable grid, whose front-end package does not load under Solara's Vue 3 app)."""
    with solara.Column(gap="12px", style={"padding": "0 12px", "width": "100%"}) as main:
        with solara.Card(margin=0):
            Status(model)
        with solara.Columns([1, 1]):
            with solara.Card("The region", margin=0):
                Region(model)
            with solara.Card("Fragmentation and integration", margin=0):
                FragmentationIntegration(model)
        with solara.Columns([1, 1]):
            with solara.Card("Influence", margin=0):
                Influence(model)
            with solara.Card("Corridors", margin=0):
                Corridors(model)
    return main


@solara.component
def Page():
    """The app: one model per browser session; Reset rebuilds it from the sidebar."""
    initial = solara.use_memo(DashboardModel, [])
    model = solara.use_reactive(initial)
    params = solara.use_memo(model_params, [])
    with solara.Column(style={"width": "100%"}) as main:
        SolaraViz(model, components=[], model_params=params, name=TITLE, play_interval=150)
        Panels(model.value)
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
        raise RuntimeError("the dashboard's front-end assets are missing and npm is not installed to fetch them: " + ", ".join(f"{n}@{v}" for n, v, _ in todo))
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
