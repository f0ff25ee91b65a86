"""Scenario loading: YAML (or a dict) in, a typed and validated :class:`Scenario` out.

This is the only door into the model. It resolves ``extends:`` chains, applies
``--set dotted.path=value`` overrides, expands generated worlds, and checks every
field, reference and rule name. Problems are collected, not raised one at a time, so
``abm validate`` can explain all of them at once; :class:`ScenarioError` carries them
as one readable paragraph.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import difflib
import functools
import itertools
import math
import re
import shlex
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from abm import budget
from abm.offers import DOMAINS
from abm.rules import registry
from abm.rules.coercion import Tool
from abm.units import LIMIT, MAX_NAME_BYTES, Bool, Colour, Count, Date, Ids, Int, NonNeg, Positive, Real, Seed, Signed, Unit, distinct
from abm.yamlfile import YamlError, choices, cut, did_you_mean, parse, read_text


SHOWN = 3  # problems a one-line message shows
_DATE = TypeAdapter(Date)


ITEM_CHARS = 400  # a problem's words and a deep folder's path fit; echoed values are cut where they are echoed


def _item(path: str, msg: str) -> str:
    """A problem as a reader sees it: the field's path, then what is wrong (a problem of
    the whole file, such as a missing file or a syntax error, has no path), cut at
    ITEM_CHARS: at 200, a message naming a folder deep in a user's home lost its end."""
    return cut(f"{path}: {msg}" if path else msg, ITEM_CHARS)


def as_sets(items) -> str:
    """Overrides as the options that give them, ready to retype (``--set a=1 --set 'b=[1, 2]'``)."""
    return " ".join(f"--set {shlex.quote(str(item))}" for item in items)


class ScenarioError(Exception):
    """A scenario that cannot be used, with every problem found (path, message)."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None, read_with: tuple[str, ...] = ()):
        self.problems = problems
        self.source = source
        self.read_with = tuple(read_with)  # --set overrides the source was read with, when none is blamed itself
        super().__init__(self.format())

    def format(self) -> str:
        """One line: the count, the first problems, each cut to a readable length; a
        single problem of the whole file, as it is ("file not found: x.yaml")."""
        if len(self.problems) == 1 and not self.problems[0][0]:
            return _item(*self.problems[0]) if not self.source or self.source in self.problems[0][1] else f"{cut(self.source)}: {_item(*self.problems[0])}"
        shown = "; ".join(_item(path, msg) for path, msg in self.problems[:SHOWN])
        rest = self.problems[SHOWN:]
        more = f" (and {len(rest)} more: {cut(', '.join(path or 'the file' for path, _ in rest))})" if rest else ""
        return f"{self.header()}: {shown}{more}"

    def header(self) -> str:
        return f"{len(self.problems)} problem(s)" + (f" in {cut(self.source)}" if self.source else "") + (f" read with {cut(as_sets(self.read_with))}" if self.source and self.read_with else "")

    def listing(self, limit: int = 50) -> str:
        """Every problem on its own line (``abm validate``), at most ``limit`` of them."""
        lines = [f"{self.header()}:"] + [f"  - {_item(path, msg)}" for path, msg in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  - ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def refused_alike(failed: list[ScenarioError], tried: int) -> bool:
    """Whether all ``tried`` scenarios were refused for the same problems of the ``--set``
    overrides: the command line's fault, said once, not once per file."""
    return len(failed) == tried and all(exc.source == "--set" and exc.problems == failed[0].problems for exc in failed)


class Keys:
    """Marks what a mapping's keys name (``dict[PowerKey, ...]``), so that ``--set`` can
    reach an entry the file leaves out (a state's opinion of a power it does not list);
    pydantic ignores it, and the references are checked after validation as before."""

    def __init__(self, *kinds: Literal["states", "powers", "markets"]):
        self.kinds = kinds

    def ids(self, scenario: dict[str, Any]) -> set[str]:
        out: set[str] = set()
        for kind in self.kinds:
            if kind == "markets":
                corridors = scenario.get("corridors")
                entries = corridors.values() if isinstance(corridors, dict) else []
                out |= {c["market"] for c in entries if isinstance(c, dict) and isinstance(c.get("market"), str)}
            elif isinstance(scenario.get(kind), dict):
                out |= set(scenario[kind])
        return out


StateKey = Annotated[str, Keys("states")]
PowerKey = Annotated[str, Keys("powers")]
MarketKey = Annotated[str, Keys("markets")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DomainValues(Strict):
    """One value per offer domain."""

    investment: NonNeg = 0.0
    security: NonNeg = 0.0
    trade: NonNeg = 0.0

    def get(self, domain: str) -> float:
        return getattr(self, domain)


class Needs(DomainValues):
    investment: Unit = 0.5
    security: Unit = 0.5
    trade: Unit = 0.5


class Neighbour(Strict):
    relation: Signed = 0.0  # -1 open conflict .. +1 close partnership
    border_open: Bool = True
    trade: NonNeg = 0.0  # bilateral trade, USD bn per year


def _metric_part(value: str) -> str:
    """A subregion's id ends its metrics' names (``fragmentation_<subregion>``), which
    summaries, charts and their files are named after: ``""`` made ``fragmentation_``."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value):
        raise ValueError(f"1-100 letters, digits, '_', '.' or '-' (it ends metric names such as fragmentation_<subregion>; got '{cut(value, 40)}')")
    return value


def _entry_id(value: str) -> str:
    """A state's, power's, organisation's or corridor's id names table columns
    (``alignment_<power>``, ``members_<organisation>``) and ``--set`` paths
    (``states.<id>.gdp``): ``""`` gave a blank column, ``"p,q"`` a quoted one, and a dot
    split the path."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", value):
        raise ValueError(f"an id of 1-100 letters, digits, '_' or '-' (it names table columns such as alignment_<power> and --set paths such as states.<id>.gdp; got '{cut(value, 40)}')")
    return value


EntryId = Annotated[str, AfterValidator(_entry_id)]


GDP_FLOOR = 1e-3  # USD bn (a million dollars, under any economy's): trade and offers are read against GDP, and 1e-310 overflowed to inf


class StateSpec(Strict):
    name: str
    subregion: Annotated[str, AfterValidator(_metric_part)]
    lat: Annotated[Real, Field(ge=-90, le=90)]
    lon: Annotated[Real, Field(ge=-180, le=180)]
    gdp: Annotated[Real, Field(ge=GDP_FLOOR, le=LIMIT, allow_inf_nan=False)]  # USD bn
    population: Positive  # million
    governance: Unit = 0.5  # 0 closed autocracy .. 1 consolidated democracy
    autonomy: Unit = 0.5  # weight on sovereignty; scales the cost of conditions and dependence
    threat: Unit = 0.5  # external threat perceived; raises the need for security offers
    needs: Needs = Needs()
    opinion: dict[PowerKey, Signed] = {}  # domestic opinion toward each power, -1 hostile .. +1 favourable
    # share of the state's flows in each domain held by each power at the start; the rest
    # of each domain (1 - sum) is held by partners the model does not name ("other")
    ties: dict[Literal["investment", "security", "trade"], dict[PowerKey, Unit]] = {}
    external_trade: NonNeg = 0.0  # trade with partners outside the region, USD bn per year
    gdp_growth: Annotated[Real, Field(ge=-0.2, le=0.3)] = 0.0  # real GDP growth per year; scales offers and trade
    borders: Ids = []  # powers with a land border or occupied territory in the state (borderization)
    bases: Ids = []  # powers with military bases in the state (the 'bases' coercive tool)
    memberships: Ids = []
    neighbours: dict[StateKey, Neighbour] = {}

    @field_validator("ties")
    @classmethod
    def _shares_sum_to_at_most_one(cls, ties: dict) -> dict:
        for domain, shares in ties.items():
            if sum(shares.values()) > 1.0 + 1e-9:
                raise ValueError(f"{domain} shares sum to {sum(shares.values()):.3f}; a domain's shares may sum to at most 1 (the rest is 'other' partners)")
        return ties


class Conditions(Strict):
    governance: Unit = 0.0  # governance level the power demands of recipients
    exclusivity: Ids = []  # rivals a recipient must not take offers from
    club: str | None = None  # organisation whose membership the power asks for


class CoercionSpec(Strict):
    propensity: Unit = 0.0
    tools: Annotated[list[Tool], AfterValidator(distinct)] = []


class PowerSpec(Strict):
    name: str
    color: Colour | None = None
    lat: Annotated[Real, Field(ge=-90, le=90)] | None = None  # where the map draws it (a notional direction)
    lon: Annotated[Real, Field(ge=-180, le=180)] | None = None
    # new money per step and domain (USD bn), allocated by the allocation rule on top of
    # the standing offers that sustain the power's ties at the start (docs/ODD.md section 5)
    budget: DomainValues = DomainValues()
    interests: dict[StateKey, Unit] = {}  # states not listed get default_interest
    default_interest: Unit = 0.0
    rivals: dict[PowerKey, Unit] = {}  # rivalry intensity with other powers
    conditions: Conditions = Conditions()
    credibility: Unit = 0.7  # belief that commitments are kept
    capability: Unit = 0.5  # coercive and military reach in the region
    coercion: CoercionSpec = CoercionSpec()


def _quarters(months: int) -> int:
    """Every rate, hazard and memory of the model is per step and calibrated to quarters
    (docs/ODD.md 2.7): another step length would change them all in calendar time."""
    if months != 3:
        raise ValueError("the model's rates and hazards are per quarter (docs/ODD.md 2.7); only 3 is supported")
    return months


class TimeSpec(Strict):
    start: Date = dt.date(2025, 1, 1)
    steps: Annotated[Int, Field(ge=1, le=10_000, validate_default=True)] = 60  # the calendar check below holds for the default too
    step_months: Annotated[Int, AfterValidator(_quarters)] = 3

    @field_validator("start")
    @classmethod
    def _day_exists_every_month(cls, start: dt.date) -> dt.date:
        if start.day > 28:  # steps keep the day of the month, which must exist in every month
            raise ValueError("the start day must be 28 or earlier, so that every step's date exists")
        return start

    @field_validator("steps")
    @classmethod
    def _ends_within_the_calendar(cls, steps: int, info) -> int:
        start = info.data.get("start")  # validated before steps; absent if it failed
        if start is not None and start.year + (start.month - 1 + 3 * steps) // 12 > dt.MAXYEAR:  # steps are quarters (_quarters)
            raise ValueError(f"a run of {steps} quarters from {start} would end after the year {dt.MAXYEAR}, the last a date can hold; start earlier or run fewer steps")
        return steps


class OfferSpec(Strict):
    duration: Annotated[Int, Field(ge=1, le=400)] = 8  # steps a tie lasts before it expires; only the expiry decay rule reads it (ACTS_ONLY_UNDER)
    min_weight: Unit = 0.02  # a power puts no new money into a state with a smaller share of its attention (its standing offers still go; its top state is always kept)
    max_targets: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None  # cap on states a power puts new money into per step (states tying the last place are all kept)
    scale: Annotated[Real, Field(ge=1e-6, le=LIMIT)] = 0.5  # cumulative offers, as a share of GDP, that make one unit of tie strength (smaller: gains past 1e154 squared to inf, and every offer was refused)
    observe: Literal["material", "declared"] = "material"  # which alignment powers react to
    min_acceptance: Annotated[Real, Field(gt=0.0, le=1.0)] = 0.05  # floor on the start acceptance chance used to size standing offers
    defection_tolerance: Unit = 0.005  # ties taken from rivals' new spending, as a share of all ties, per step, that count as defection


class UtilitySpec(Strict):
    """Weights of the terms in a state's evaluation of an offer (see docs/ODD.md)."""

    need: NonNeg = 1.0
    dependence: NonNeg = 1.0
    conditions: NonNeg = 1.0
    backlash: NonNeg = 1.0
    opinion: NonNeg = 0.3
    corridor: NonNeg = 0.5  # weight of a sponsor's leverage over the routes crossing the state


class IntegrationWeights(Strict):
    """Weights of integration's normalised components (ARCII weights its dimensions equally)."""

    trade: NonNeg = 1.0
    relations: NonNeg = 1.0
    institutions: NonNeg = 1.0


class MetricsSpec(Strict):
    blocs_method: Literal["louvain", "single_linkage", "main_patron"] = "main_patron"
    bloc_similarity: Unit = 0.5  # similarity (1 - JS distance) above which two states are linked
    polarization_alpha: Annotated[Real, Field(ge=1.0, le=1.6)] = 1.3
    polarization_bandwidth: Annotated[Real, Field(gt=0.0, le=0.9)] = 0.25  # kernel reach (JS distance) of a state's identification; wider, two camps closer than 1 outscore the normaliser (docs/ODD.md 7.15)
    integration_weights: IntegrationWeights = IntegrationWeights()

    @field_validator("integration_weights")
    @classmethod
    def _some_weight(cls, w: IntegrationWeights) -> IntegrationWeights:
        if w.trade + w.relations + w.institutions <= 0:
            raise ValueError("every weight is 0, so integration would be 0 whatever happens; give at least one of trade, relations and institutions a positive weight")
        return w
    trade_ceiling: Annotated[Real, Field(gt=0.0, le=1.0)] = 0.5  # intra-group trade share that scores 1 (about the EU's own)
    club_overlap: Unit = 0.5  # institutional overlap of a pair that shares only a power-led club


class GeneratedSpec(Strict):
    n_states: Annotated[Int, Field(ge=2, le=5000)] = 10
    n_powers: Annotated[Int, Field(ge=1, le=200)] = 5
    n_subregions: Annotated[Int, Field(ge=1, le=50)] = 2
    budget: Positive = 1.0  # mean budget per power, domain and step
    seed: Seed = 0  # seed of the world's layout, independent of the run's seed


class SegmentSpec(Strict):
    node: str  # a state id, or a node declared in freight.nodes (sea, third country)
    capacity: NonNeg  # Mt per year
    cost: NonNeg  # USD per tonne
    time: NonNeg  # days
    risk: Unit = 0.0  # chance of disruption, priced by freight.risk_premium
    closed: Bool = False


class UpgradeSpec(Strict):
    date: Date
    node: str
    capacity_add: NonNeg = 0.0  # Mt per year
    cost_factor: Positive = 1.0
    time_cut: NonNeg = 0.0  # days
    open: Bool = False  # opens a closed segment (a new link)


class CorridorSpec(Strict):
    name: str
    market: str  # freight market served, e.g. east_west, north_south
    group: str | None = None  # corridors of one group (e.g. INSTC legs) also get leg shares
    segments: Annotated[list[SegmentSpec], Field(min_length=1)]
    sponsors: dict[PowerKey, Unit] = {}  # power -> stake
    upgrades: list[UpgradeSpec] = []


class FreightSpec(Strict):
    demand: dict[MarketKey, NonNeg] = {}  # Mt per year at the start, per market
    growth: dict[MarketKey, Annotated[Real, Field(ge=-0.5, le=1.0)]] = {}  # per year, per market
    nodes: Ids = []  # route nodes that are not modelled states
    value_of_time: NonNeg = 1.0  # USD per tonne-day
    risk_premium: NonNeg = 100.0  # USD per tonne per unit of risk
    transit_fee: NonNeg = 10.0  # USD per tonne earned by each state a route crosses
    capacity_per_bn: NonNeg = 1.0  # Mt per year of capacity bought by USD 1 bn of sponsor investment
    risk_recovery: Unit = 0.1  # share of added risk that fades each step
    conflict_risk: Unit = 0.1  # risk a clash adds to both states' segments
    closure_opinion: Signed = -0.5  # a coerced state closes its segments to a sponsor it views below this
    closure_steps: Count = 4


class OrganisationSpec(Strict):
    name: str
    kind: Literal["club", "regional_format"]
    leader: str | None = None  # power leading a club
    powers: Ids = []  # external powers that are members (e.g. Russia in a regional format)
    observers: Ids = []  # states with observer status
    benefits: DomainValues = DomainValues()  # value bonus, per domain, on offers from leader and member powers
    excludes: Ids = []  # powers whose offers members are bound to refuse
    obligation: NonNeg = 0.3  # utility cost of an offer from an excluded power
    membership_cost: Unit = 0.15  # sovereignty cost of membership, scaled by autonomy
    open: Bool = True  # takes applications
    vetoes: dict[Annotated[str, Keys("powers", "states")], Ids] = {}  # power or state -> applicants it blocks
    rivalry_import: NonNeg = 1.0  # regional formats: extra rivalry spill-over per member power


class RulesSpec(Strict):
    allocation: dict[str, Any] = {"name": "interest"}
    decision: dict[str, Any] = {"name": "threshold"}
    coercion: dict[str, Any] = {"name": "punish"}
    decay: dict[str, Any] = {"name": "exponential"}
    opinion: dict[str, Any] = {"name": "benefit"}
    neighbours: dict[str, Any] = {"name": "interdependence"}
    route_choice: dict[str, Any] = {"name": "logit"}
    membership: dict[str, Any] = {"name": "calculus"}
    credibility: dict[str, Any] = {"name": "delivery"}
    spending: dict[str, Any] = {"name": "fixed"}


def _folder_name(name: str) -> str:
    """A scenario's name names its default output folder: it must not choose a path."""
    if not 1 <= len(name) <= 100 or len(name.encode()) > MAX_NAME_BYTES or name.startswith(".") or re.search(r"[/\\\x00-\x1f\x7f]", name):
        raise ValueError(f"names the output folder: no '/', '\\' or control characters, not starting with '.', 1-100 characters, at most {MAX_NAME_BYTES} bytes in UTF-8")
    return name


class Scenario(Strict):
    """A complete, validated scenario. Build it with :func:`load`."""

    name: Annotated[str, AfterValidator(_folder_name)] = "scenario"
    description: str = ""
    watch: Ids = []  # the metrics the scenario's question names (abm compare's default)
    seed: Seed = 0
    time: TimeSpec = TimeSpec()
    states: dict[EntryId, StateSpec] = {}
    powers: dict[EntryId, PowerSpec] = {}
    rules: RulesSpec = RulesSpec()
    offers: OfferSpec = OfferSpec()
    utility: UtilitySpec = UtilitySpec()
    metrics: MetricsSpec = MetricsSpec()
    generated: GeneratedSpec | None = None
    corridors: dict[EntryId, CorridorSpec] = {}
    freight: FreightSpec = FreightSpec()
    organisations: dict[EntryId, OrganisationSpec] = {}
    # Keyed by an id so that a scenario extending another can add, change or (with null)
    # drop single events without restating the rest.
    provenance: dict[str, Any] | None = None  # written by `abm run` (versions, machine); not read by the model
    posterior: str | None = None  # abm calibrate's posterior: each run draws its parameters from it (abm/posterior.py)
    events: dict[str, dict[str, Any] | None] = {}  # id -> {date, type, ...parameters}
    shocks: dict[str, dict[str, Any] | None] = {}  # id -> {type, hazard, [start], [end], ...parameters}

    def date(self, step: int) -> dt.date:
        months = self.time.start.month - 1 + step * self.time.step_months
        return dt.date(self.time.start.year + months // 12, months % 12 + 1, self.time.start.day)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def late_events(self, steps: int | None = None) -> list[str]:
        """Warnings for dated events (and shock windows) at or after the end of a run of
        ``steps`` steps (default: the scenario's time span): they never fire. Not refused,
        because a scenario that extends this one with more steps may reach them. A run cut
        short with ``--steps`` is warned about as one cut short with ``--set time.steps``:
        either way, what it leaves out is not in its tables."""
        return [f"{entry}: {why}" for entry, why in self.late_entries(steps)]

    def inert_overrides(self, sets) -> list[str]:
        """Warnings for ``--set`` overrides of settings that act only under a rule this
        scenario does not use (``offers.duration`` outside ``expiry`` decay): the run is
        the one without them. A sweep refuses such an axis (it would chart no effect);
        a single run only warns, since the user may set it for a later rule change."""
        paths = dict.fromkeys(map(override_path, sets))
        return [f"--set {path}: {why}; this run is the same without it" for path in paths if (why := inert(self, path))]

    def late_entries(self, steps: int | None = None) -> list[tuple[str, str]]:
        """:meth:`late_events` as (entry, why) pairs, ``events.<id>`` or ``shocks.<id>``:
        for a sweep, which blames the swept value that dates the entry."""
        end = self.date(self.time.steps if steps is None else steps)
        found = []
        for section, key in (("events", "date"), ("shocks", "start")):
            for ident, spec in getattr(self, section).items():
                if (spec or {}).get(key) is None:
                    continue
                when = _DATE.validate_python(spec[key])  # a date, or its text (checked by validation)
                if when >= end:
                    found.append((f"{section}.{ident}", f"{'dated' if key == 'date' else 'starts'} {when}, {'at' if when == end else 'after'} the run's end {end}; it will not fire"))
        return found

    def metric_columns(self) -> dict[str, list[str]]:
        """The model's metric columns for this scenario, by kind (a kind of one column is
        named as it), kinds and columns in output order. Named from the scenario alone, so
        that ``watch`` is checked without building the model (whose import, mesa and
        networkx, would double the cost of ``abm validate``); RegionModel takes its names
        from here, and tests/test_scenario.py holds them equal to its columns."""
        subregions = sorted({s.subregion for s in self.states.values()})
        groups: dict[str, list[str]] = {}
        for cid, cor in self.corridors.items():
            if cor.group is not None:
                groups.setdefault(cor.group, []).append(cid)
        return {
            **{kind: [kind, *(f"{kind}_{r}" for r in subregions)] for kind in ("fragmentation", "division", "integration")},
            **{kind: [kind] for kind in ("polarization", "blocs", "mean_dependency_hhi")},
            "influence": [f"influence_{p}" for p in self.powers],
            "spending": [f"spending_{p}" for p in self.powers],
            "regional_trade_share": ["regional_trade_share"],
            "corridors": [f"corridor_{cid}_{what}" for cid in self.corridors for what in ("volume", "share")],
            "legs": [f"{group}_leg_share_{cid}" for group in sorted(groups) for cid in groups[group]],
            "unmet_demand": ["unmet_demand"],
            "transit_revenue": [f"transit_revenue_{s}" for s in self.states],
            "members": [f"members_{o}" for o in self.organisations],
            "cohesion": [f"cohesion_{o}" for o, org in self.organisations.items() if org.kind == "regional_format"],
            "counts": ["offers_made", "offers_accepted", "coercion_events", "conflict_events"],
        }

    def metric_names(self) -> list[str]:
        """Every metric column of the model for this scenario, in output order."""
        return [name for names in self.metric_columns().values() for name in names]

    def series_values(self) -> int:
        """How many metric values a run's model table holds: one per metric and step, the
        start included (what ``abm run --seeds`` and ``abm compare`` keep of each run)."""
        return (self.time.steps + 1) * len(self.metric_names())


def state_columns(power_keys: list[str]) -> list[str]:
    """The per-state columns of the model's output, in order (after step and state): named
    from the powers alone, like :meth:`Scenario.metric_columns`, so that a sweep's spec is
    checked without importing the model."""
    return [
        *[f"alignment_{p}" for p in power_keys],
        "alignment_other",
        *[f"{domain}_{p}" for domain in DOMAINS for p in power_keys],  # each domain's shares (arms imports, trade: what the figures report)
        *[f"declared_{p}" for p in power_keys],
        *[f"opinion_{p}" for p in power_keys],
        "dependency_hhi",
        "defections",
        "welfare",
    ]


def in_force(dates, day: dt.date) -> int:
    """The row of the step in force on ``day``: the last of ``dates`` (ISO strings or
    dates, ascending) on or before it, or -1 when ``day`` falls outside them. The one
    reading of a date between two steps that every tool shares (sweep summaries'
    ``at:``, ``abm compare --dates``, calibration patterns): a step's state holds until
    the next step, and a date the run never reached has nothing in force."""
    keys, key = [str(d)[:10] for d in dates], day.isoformat()
    return bisect.bisect_right(keys, key) - 1 if keys and key <= keys[-1] else -1


# --------------------------------------------------------------------------- reading


def anchor_posterior(data: dict[str, Any], folder: Path) -> None:
    """A scenario mapping's ``posterior:``, a path relative to the file that names it (a
    scenario file, a comparison's record), made a path from here; a recorded sha256 is
    then of that file (``provenance.posterior_file``, which abm.posterior.problems checks)."""
    if isinstance(data.get("posterior"), str):
        data["posterior"] = str(folder / data["posterior"])
        if isinstance(record := data.get("provenance"), dict) and "posterior_sha256" in record:
            record["posterior_file"] = data["posterior"]


def read_yaml(path: Path, what: str = "a scenario") -> dict[str, Any]:
    """Read one YAML mapping with the project's one reader (:mod:`abm.yamlfile`: regular
    files only, size, depth and alias limits, no duplicate keys); errors become
    ScenarioError naming the file and the line."""
    try:
        data = parse(read_text(path))
    except FileNotFoundError:
        raise ScenarioError([("", f"file not found: {path}")]) from None
    except UnicodeDecodeError:
        raise ScenarioError([("", f"{path} is not a UTF-8 text file")]) from None
    except OSError as exc:
        raise ScenarioError([("", f"cannot read {path}: {exc.strerror}")]) from None
    except YamlError as exc:
        raise ScenarioError([(exc.path, str(exc))], str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([("", f"{what} must be a mapping, not {type(data).__name__}")], str(path))
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any], _path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Override wins; mappings merge key by key; lists and scalars are replaced.

    A rule entry is merged by :func:`merge_rule`.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        here = (*_path, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_rule(key, out[key], value) if _path == ("rules",) and key in registry.FAMILIES else deep_merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_rule(family: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A rule entry ``new`` written over ``old``, in an ``extends:`` file or as a mapping
    given to ``--set rules.<family>`` (or a sweep's value for it), which resolve alike.

    An entry that names a different rule replaces the old one: the old parameters belong
    to the old rule, but for those the two rules carry across their family
    (``Rule.carried``: a decision rule's noise and threshold, a share decay's rate), so
    that rules are compared at equal settings. An entry that names the same rule, or none,
    changes only the parameters it gives."""
    if "name" in new and new["name"] != old.get("name"):
        return {**registry.switched(family, old, new["name"]), **copy.deepcopy(new)}
    return deep_merge(old, new)


MAX_EXTENDS = 16  # files in one extends: chain
# What a file extending a scenario.resolved.yaml keeps of its provenance: the posterior its
# values are drawn from, whose file is still checked (abm.posterior.problems); not the
# row drawn, which each of its own runs draws again. The command,
# seeds and --set overrides were the parent run's: inherited, they would be named in this
# run's chart titles and record (and could contradict what this file sets).
INHERITED_PROVENANCE = ("posterior_sha256", "posterior_file")


def resolve_extends(path: Path) -> dict[str, Any]:
    """:func:`resolve_chain`'s merged mapping; its problems raised (:func:`load` reports
    them with the scenario's other problems instead)."""
    merged, problems, _ = resolve_chain(path)
    if problems:
        raise ScenarioError(problems, str(path))
    return merged


class Chain(typing.NamedTuple):
    """A scenario file merged over the files it extends."""

    merged: dict[str, Any]
    found: list[tuple[str, str]]  # the nulls that drop an entry their parent lacks
    files: list[tuple[Path, frozenset[str]]]  # each file as named and the dotted paths it writes, the file given first


def resolve_chain(path: Path) -> Chain:
    """Read ``path`` and merge it over the file its ``extends:`` names (relative to it),
    and so on up the chain (at most MAX_EXTENDS files, no cycles); files are named as
    given (a parent as reached from it), not as absolute paths. A file that is not a
    scenario (no key of the schema) is refused without echoing any of its content.
    The nulls that drop an entry their parent lacks (see :func:`_take_unknown_drops`)
    are left out of the merge and returned, so that the scenario is still checked and
    every problem reported in one pass; what each file writes lets
    :func:`blame_parents` name the file a problem is in."""
    chain: list[tuple[Path, Path, dict[str, Any]]] = []  # (the file, as named, its content)
    shown = Path(path)
    while True:
        real = shown.resolve()
        if real in [r for r, _, _ in chain]:
            names = " -> ".join(s.name for s in [*(s for _, s, _ in chain), shown])
            raise ScenarioError([("extends", f"circular extends: {cut(names)}")], str(chain[-1][1]))
        if len(chain) == MAX_EXTENDS:
            raise ScenarioError([("extends", f"a chain of more than {MAX_EXTENDS} files; a scenario extends a few at most")], str(chain[0][1]))
        try:
            data = read_yaml(shown)
        except ScenarioError as exc:
            if not chain or exc.source is not None:  # the file given, or a parent's own content: its problems are its own
                raise
            # a parent that cannot be read: the mistake is in the extends: of the file that names it
            raise ScenarioError([("extends", msg) for _, msg in exc.problems], str(chain[-1][1])) from None
        anchor_posterior(data, real.parent)  # relative to the file that names it
        if data and not set(data) & (set(Scenario.model_fields) | {"extends"}):
            raise ScenarioError([("", "not a scenario: none of its keys is a scenario field (name, states, powers, ...)")], str(shown))
        parent = data.pop("extends", None)
        if chain and isinstance(data.get("provenance"), dict):  # a parent's record: only what still describes the values inherited
            data["provenance"] = {k: v for k, v in data["provenance"].items() if k in INHERITED_PROVENANCE}
        chain.append((real, shown, data))
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise ScenarioError([("extends", "must be a path to another scenario file")], str(shown))
        # relative to the file itself: through the folder it was named by, unless that is a link elsewhere
        shown = (shown.parent if shown.parent.resolve() == real.parent else real.parent) / parent
    files = [(shown, frozenset(_written(data))) for _, shown, data in chain]
    merged, problems = chain[-1][2], []
    for k in range(len(chain) - 2, -1, -1):
        _, shown, data = chain[k]
        where = "" if k == 0 else f" (in {shown})"  # a parent's own mistake: the file to mend (the nearest writer of the id may be another)
        problems += [(f"{path}{where}", msg) for path, msg in _take_unknown_drops(merged, data)]
        _describe_inherited(merged, data, chain[k + 1][1])
        merged = deep_merge(merged, data)
    return Chain(merged, problems, files)


def _written(data: Any, prefix: str = "") -> list[str]:
    """The dotted paths of every mapping key in ``data``."""
    if not isinstance(data, dict):
        return []
    paths = [f"{prefix}{key}" for key in data]
    return paths + [p for key, value in data.items() for p in _written(value, f"{prefix}{key}.")]


def blame_parents(exc: ScenarioError, files: list[tuple[Path, frozenset[str]]], set_paths=()) -> ScenarioError:
    """Name the file a problem is in when a file this one extends wrote it: reported
    against the file given alone, a parent's typo sent the reader to a file without it.
    A problem's file is the nearest one in the chain that writes its path, or the longest
    part of it (an entry a parent adds lacks a field: that parent), or, for a field of an
    event or shock, a nearer file that set the entry's type. What ``--set`` wrote
    (``set_paths``) is left to :func:`_blame_overrides`."""

    set_paths = list(set_paths)

    def origin(path: str) -> Path | None:
        if not path or " (in " in path or any(under(path, p) or under(p, path) for p in set_paths):
            return None  # (a null that drops nothing is named by resolve_chain)
        parts = path.split(".")
        writers = (k for n in range(len(parts), 0, -1) for k, (_, written) in enumerate(files) if ".".join(parts[:n]) in written)
        nearest = next(writers, 0)
        if parts[0] in ("events", "shocks") and len(parts) > 2:  # a parent's parameters of a type the file that set it does not take
            nearest = min(nearest, next((k for k, (_, written) in enumerate(files) if f"{parts[0]}.{parts[1]}.type" in written), nearest))
        return files[nearest][0] if nearest else None

    if len(files) < 2:
        return exc
    return type(exc)([(f"{path} (in {shown})" if (shown := origin(path)) else path, msg) for path, msg in exc.problems], exc.source, exc.read_with)


def _take_unknown_drops(parent: dict[str, Any], data: dict[str, Any]) -> list[tuple[str, str]]:
    """``id: null`` under events or shocks drops the parent's entry of that id; one the
    parent lacks is most likely a typo, which would leave the entry meant in force. Such
    nulls are taken out of ``data`` (they drop nothing) and returned as problems, as are
    nulls under states, powers, organisations and corridors, which cannot be dropped (the
    rest of the scenario names them) and were refused as "must be a mapping"."""
    problems = []
    for section in ("states", "powers", "organisations", "corridors"):
        entries = data.get(section)
        for ident, spec in list(entries.items() if isinstance(entries, dict) else ()):
            if spec is None:
                del entries[ident]
                problems.append((f"{section}.{ident}", f"null drops only events and shocks: a {ENTRIES[section]} cannot be taken out by a file that extends another (interests, rivals, members and routes name it); write a scenario without it"))
    for section in ("events", "shocks"):
        entries, known = data.get(section), parent.get(section)
        known = list(known) if isinstance(known, dict) else []
        for ident, spec in list(entries.items() if isinstance(entries, dict) else ()):
            if spec is None and ident not in known:
                del entries[ident]
                problems.append((f"{section}.{ident}", f"null drops an entry of the scenario this one extends, which has no {ENTRIES[section]} '{ident}'; {did_you_mean(ident, known)}({section} there: {cut(', '.join(map(str, known)) or 'none', 200)})"))
    return problems


def _describe_inherited(parent: dict[str, Any], data: dict[str, Any], parent_file: Path) -> None:
    """A file that renames the scenario but keeps its parent's description says that it
    inherits it: copied as it was, the description of a changed scenario described the
    parent (its resolved scenario, its reports). Under the parent's name it stays as it is."""
    description, name = parent.get("description"), parent.get("name")
    if "name" in data and data["name"] != name and "description" not in data and isinstance(description, str) and description:
        data["description"] = f"Extends {name if isinstance(name, str) else parent_file.name}: {description}"


# --------------------------------------------------------------------------- overrides


def under(path: str, above: str) -> bool:
    """Whether the dotted setting ``path`` is ``above`` or lies inside it
    (``rules.decay.rate`` is under ``rules.decay``; ``rules.decay_x`` is not)."""
    return path == above or path.startswith(above + ".")


def override_path(item: str) -> str:
    """The path of a ``path=value`` override, as written (before its value is read)."""
    return item.split("=", 1)[0].strip()


def parse_set(item: str) -> tuple[str, Any]:
    """Parse ``dotted.path=value``; the value is read as YAML (``0.5``, ``true``, ``[a, b]``)."""
    if "=" not in item:
        raise ScenarioError([(item, "a --set override must look like dotted.path=value")])
    path, _, text = item.partition("=")
    if "" in path.strip().split("."):
        raise ScenarioError([(path.strip(), f"the path before '=' in '{cut(item, 60)}' is empty or has an empty part (write dotted.path=value)")], "--set")
    try:
        value = parse(text)
    except YamlError as exc:
        if exc.limit:
            raise ScenarioError([(path.strip(), str(exc))], "--set") from None
        if text.strip()[:1] in ("{", "["):  # YAML's flow brackets: meant as a mapping or list, never as text
            raise ScenarioError([(path.strip(), f"'{cut(text, 40)}' is not a valid YAML mapping or list (write {{key: value}} or [a, b], quoted for the shell)")], "--set") from None
        value = text  # not YAML (or an impossible date such as 2025-02-30): taken as text
    return path.strip(), value


_ABSENT = object()  # a setting the scenario does not write (the schema's default applies)


def find_setting(reference: dict[str, Any], keys: list[str], parsed: list[tuple[str, Any]] = ()) -> tuple[str | None, Any]:
    """The setting ``keys`` names: (None, its type with its constraints), or (why it
    names none, None). Checked against the schema rather than against the keys the
    file happens to write: a mapping keyed by ids (:class:`Keys`) takes any known id,
    other mappings (states, corridors, events, ...) their existing entries, a list its
    indices, and a rule or event entry the parameters of the rule or event type chosen
    (by the scenario or by ``parsed``). ``reference`` is the scenario with defaults
    filled in, for the ids, entries and chosen types."""
    tp: Any = Scenario
    node: Any = reference
    for depth, key in enumerate(keys):
        if node is None:
            where = ".".join(keys[:depth])
            return f"no such setting '{key}': {where} is null in this scenario (set {where} as a whole)", None
        tp = _unwrap(tp)
        fields, owner = _entry_fields(keys[:depth], node, parsed) if depth == 2 and keys[0] in ("rules", "events", "shocks") else (None, None)
        if fields is None and isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = _field_types(tp)
        if fields is not None:
            options = sorted(fields)
        elif typing.get_origin(tp) is dict:
            key_type = typing.get_args(tp)[0]
            existing = set(node) if isinstance(node, dict) else set()
            if typing.get_origin(key_type) is Literal:
                options = list(typing.get_args(key_type))
            else:
                marks = [m for m in getattr(key_type, "__metadata__", ()) if isinstance(m, Keys)]
                options = sorted(existing.union(*(m.ids(reference) for m in marks)))
        elif typing.get_origin(tp) is list:
            options = [str(k) for k in range(len(node) if isinstance(node, list) else 0)]
        elif tp is Any and isinstance(node, dict):  # free-form (provenance): what it holds
            options = sorted(node)
        else:
            options = []
        if key not in options:
            near = difflib.get_close_matches(key, options, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            whose = f": {owner} has no such parameter" if owner and not near else ""
            return f"no such setting '{key}'{whose}{hint} (available there: {', '.join(options) or 'none'})", None
        tp = fields[key] if fields is not None else _child(tp, key)
        if isinstance(node, dict):
            node = node.get(key, _ABSENT)
        elif isinstance(node, list):
            node = node[int(key)]
        else:
            node = _ABSENT
    return None, tp


def _child(tp: Any, key: str) -> Any:
    """The schema one key below ``tp``: a model's field (with its constraints), a
    mapping's values, a list's items, Any within Any; None where ``tp`` has no such key.
    The one step of both walks of the schema: :func:`find_setting`'s and
    :func:`_allowed_keys`'."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _field_types(tp).get(key)
    if typing.get_origin(tp) in (dict, list):
        return typing.get_args(tp)[-1]
    return Any if tp is Any else None


def _field_types(model: type[BaseModel]) -> dict[str, Any]:
    """Each field's type with its constraints (pydantic keeps a field's own ``Field(ge=...)``
    apart from its ``annotation``)."""
    return {name: Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation for name, field in model.model_fields.items()}


def _entry_fields(keys: list[str], entry: Any, parsed: list[tuple[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The fields of a rule entry (``rules.decision``: name and the chosen rule's
    parameters) or an event entry (``events.x``: timing, type and the type's parameters),
    the rule or type chosen by the last of ``parsed`` that sets it, else by ``entry``;
    and the chosen one's name in words (None if unknown), for a message."""
    from abm import events  # registers the event types

    section, ident = keys
    family, key = ("event", "type") if section in ("events", "shocks") else (ident, "name")
    default = RulesSpec.model_fields[ident].default["name"] if family != "event" else None
    chosen = entry.get(key, default) if isinstance(entry, dict) else default
    for path, value in parsed:
        if path == f"{section}.{ident}.{key}":
            chosen = value
    fields: dict[str, Any] = {key: str}
    if family == "event":
        timing = events.When if section == "events" else events.Hazard
        fields.update(_field_types(timing))
    try:
        params = registry.get(family, chosen).Params if isinstance(chosen, str) else None
    except registry.UnknownRuleError:
        params = None  # the unknown name is reported by validation, with the known ones
    if params is None:
        return fields, None
    fields.update(_field_types(params))
    return fields, f"the event type '{chosen}'" if family == "event" else f"the {family} rule '{chosen}'"


def apply_overrides(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw scenario. A path must name a setting of the
    schema (:func:`find_setting`); the value is validated with the scenario."""
    if not sets:
        return raw
    parsed = [parse_set(s) for s in sets]
    # Switching a rule comes first and starts it from its own defaults (keeping the
    # parameters carried across the family), so that its parameters can be set in the
    # same call and the old rule's do not linger.
    parsed.sort(key=lambda item: not (_is_rule_name(item[0]) or _is_rule_entry(*item)))
    out = copy.deepcopy(raw)
    reference = _defaults_view(raw)
    problems = []
    for path, value in parsed:
        keys = path.split(".")
        problem, _ = find_setting(reference, keys, parsed)
        if problem:
            problems.append((path, problem))
            continue
        if len(keys) >= 2 and keys[0] == "rules" and keys[1] in registry.FAMILIES and isinstance(rules := out.setdefault("rules", {}), dict):  # (rules that are not a mapping: set_path says so)
            family = keys[1]
            if _is_rule_name(path):  # a switch, as a whole entry naming the rule would be
                rules[family] = merge_rule(family, rules[family], {"name": value}) if isinstance(rules.get(family), dict) else {"name": value}
                continue
            if rules.get(family) is None:  # a parameter of a rule the file leaves to its default: the default rule's
                rules[family] = copy.deepcopy(RulesSpec.model_fields[family].default)
            if len(keys) == 2 and isinstance(value, dict) and isinstance(rules[family], dict):  # a whole rule entry: as in an extends: file
                rules[family] = merge_rule(family, rules[family], value)
                continue
        problem = set_path(out, keys, value)
        if problem:
            problems.append((path, problem))
    if problems:
        raise ScenarioError(problems, "--set")
    return out


def set_path(tree: dict[str, Any], keys: list[str], value: Any) -> str | None:
    """Set ``tree[k1][k2]...[kn] = value``, creating mappings on the way (a key into a
    list is its index: 0 to its length - 1); returns the problem if a key on the way holds
    a value that is neither a mapping nor a list, or a list has no such index."""
    node: Any = tree
    for k, key in enumerate(keys):
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                return f"'{key}' is not an item of the list at {'.'.join(keys[:k])}: give an index from 0 to {len(node) - 1}" if node else f"the list at {'.'.join(keys[:k])} is empty"
            key = int(key)
        if k == len(keys) - 1:
            node[key] = value
            return None
        node = node[key] if isinstance(node, list) else node.setdefault(key, {})
        if not isinstance(node, dict | list):
            return "cannot set a field inside a value that is not a mapping"
    return None


def _is_rule_entry(path: str, value: Any) -> bool:
    """A whole rule entry that names its rule (``rules.decision={name: ..., ...}``): like a
    rule's name, it goes first, so that the chosen rule's parameters set beside it apply."""
    keys = path.split(".")
    return len(keys) == 2 and keys[0] == "rules" and keys[1] in registry.FAMILIES and isinstance(value, dict) and "name" in value


def _is_rule_name(path: str) -> bool:
    keys = path.split(".")
    return len(keys) == 3 and keys[0] == "rules" and keys[1] in registry.FAMILIES and keys[2] == "name"


def _defaults_view(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw scenario with every schema default filled in, for checking --set paths."""
    try:
        return _build(raw).to_dict()  # to_dict copies what the scenario kept of raw
    except ScenarioError:
        return raw


# --------------------------------------------------------------------------- validation


def _describe(loc: tuple[Any, ...]) -> str:
    if loc[-1:] == ("[key]",):  # pydantic's place of a refused mapping key: the mapping, whose message names the key
        loc = loc[:-2]
    return ".".join(str(part) for part in loc)


def _type_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The schema at ``loc``, unwrapped (None where the walk leaves the schema)."""
    tp: Any = model
    for part in loc:
        tp = _child(tp, str(part))
    return _unwrap(tp)


def _is_mapping(tp: Any) -> bool:
    """Whether the schema ``tp`` is written as a mapping: a model, or a dict of values."""
    return (isinstance(tp, type) and issubclass(tp, BaseModel)) or typing.get_origin(tp) is dict


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at ``loc`` (the parent of an unknown key), in the model's
    order. A walk of types alone: unlike :func:`find_setting`, it serves any model (an
    experiment, a rule's parameters) and has no data to check ids and indices against,
    which pydantic has checked already on its way to the error."""
    tp = _type_at(model, loc)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def not_real_valued(reference: dict[str, Any], path: str) -> bool:
    """Whether ``path`` names a setting that is not a real number (a count, a seed, the
    horizon, a yes/no, a name): what ``abm calibrate`` cannot fit and a posterior must not
    draw, since a seed or horizon drawn per run would override --seed and --steps. False
    for a path that names no setting, which :func:`find_setting` reports with suggestions."""
    problem, kind = find_setting(reference, path.split("."))
    return problem is None and _unwrap(kind) is not float


def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] and Annotated[...] to reach the model or container type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0]
        else:
            return tp


BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}  # pydantic's errors that name one bound


@dataclass(frozen=True)
class Bounds:
    """The values a field lets through: the tightest bound pydantic enforces on each side
    (an alias's and the field's own), as (value, strict), or None where there is none. One
    reading of a schema's bounds for the error messages, the dashboard's sliders and the
    ODD's tables."""

    low: tuple[float, bool] | None = None
    high: tuple[float, bool] | None = None

    @classmethod
    def of(cls, marks) -> Bounds:
        """The bounds among ``marks``: a field's metadata, or an ``Annotated`` type's."""
        marks, low, high = list(marks), None, None
        while marks:
            mark = marks.pop()
            marks += getattr(mark, "metadata", [])  # a Field(...) carries its bounds as metadata
            for name, strict in (("gt", True), ("ge", False)):
                if (x := getattr(mark, name, None)) is not None and (low is None or (x, strict) > low):
                    low = (x, strict)
            for name, strict in (("lt", True), ("le", False)):
                if (x := getattr(mark, name, None)) is not None and (high is None or (-x, strict) > (-high[0], high[1])):
                    high = (x, strict)
        return cls(low, high)

    def __contains__(self, x: float) -> bool:
        above = self.low is None or x > self.low[0] or (x == self.low[0] and not self.low[1])
        below = self.high is None or x < self.high[0] or (x == self.high[0] and not self.high[1])
        return above and below

    def values(self) -> set[float]:
        return {float(side[0]) for side in (self.low, self.high) if side is not None}

    def interval(self) -> str | None:
        """In interval notation, ``(0, 1]``, when bounded on both sides; else None."""
        if self.low is None or self.high is None:
            return None
        return f"{'(' if self.low[1] else '['}{_number(self.low[0])}, {_number(self.high[0])}{')' if self.high[1] else ']'}"


def _number(x: float) -> str:
    """A bound as a message writes it: 0, not 0.0."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _interval(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The range allowed at ``loc`` in interval notation, when the schema bounds it on both
    sides (pydantic's message names only the bound that was crossed); else None."""
    tp: Any = model
    for part in loc:
        tp = _child(tp, str(part))
        if tp is None:
            return None
    return Bounds.of(typing.get_args(tp)[1:] if typing.get_origin(tp) is Annotated else []).interval()


SCALAR_TAGS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false", "date": "a date"}


def _member(tag: str) -> str:
    """A union member, as pydantic tags its errors (``list[str]``, ``literal['all']``), in words."""
    if tag.startswith("literal["):
        return " or ".join(tag[len("literal["):-1].split(","))
    return {"list": "a list", "dict": "a mapping"}.get(tag.split("[", 1)[0], SCALAR_TAGS.get(tag, tag))


def _member_tag_at(model: type[BaseModel], loc: tuple[Any, ...]) -> int | None:
    """The index in ``loc`` of pydantic's tag of a union's member: the part just below the
    first value along ``loc`` whose type is a union of several types (None if there is
    none). Found in the schema, not by the part's look: a key the user wrote, such as
    ``int`` or ``na[me``, is no tag."""
    tp: Any = model
    for at, part in enumerate(loc):
        while typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len([a for a in typing.get_args(tp) if a is not type(None)]) > 1:
            return at
        tp = _child(tp, str(part))
        if tp is None:
            return None
    return None


def _without_members(errors: list[dict], model: type[BaseModel]) -> list[dict]:
    """Pydantic's errors for a value of a union type (``list[str] | dict[str, str]``), one
    per member it failed, its loc tagged with the member's type: the errors of the member
    the value was given as (a list whose item is wrong), or one error saying what was
    expected ("a list or a mapping"), with the tags left out of every path."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    out: list[dict] = []
    for err in errors:
        loc = err["loc"]
        at = _member_tag_at(model, loc)
        if at is None:
            out.append(err)
        else:
            groups.setdefault(loc[:at], []).append((at, err))
            if len(groups[loc[:at]]) == 1:
                out.append({"union": loc[:at]})  # keeps the group's place among the errors
    result = []
    for err in out:
        if "union" not in err:
            result.append(err)
            continue
        members = groups[err["union"]]
        inside = [e for at, e in members if len(e["loc"]) > at + 1]  # the value had a member's shape and failed within it
        if inside or len(members) == 1:
            result += [{**e, "loc": e["loc"][:at] + e["loc"][at + 1:]} for at, e in members if e in inside or len(members) == 1]
            continue
        at, first = members[0]
        words = list(dict.fromkeys(_member(e["loc"][at]) for _, e in members))
        said = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"  # two members of one kind (list[str] | list[int]) read as one
        result.append({**first, "loc": first["loc"][:at], "type": "union", "msg": f"expected {said}"})
    return result


# pydantic's common errors in the house style: what is expected, in the words of YAML
# (text, a list, a mapping), not pydantic's "Input should be a valid string"
EXPECTED = {
    "int_from_float": "a whole number is expected",
    "int_type": "a whole number is expected",
    "int_parsing_size": "too large for a whole number",
    "float_type": "a number is expected",
    "finite_number": "a finite number is expected",
    "string_type": "text is expected",
    "list_type": "a list is expected",
    "tuple_type": "a list is expected",
    "dict_type": "a mapping is expected",
    "date_from_datetime_parsing": "no such day in the calendar",
}


BOUND_WORDS = {"greater_than": ("gt", "more than"), "greater_than_equal": ("ge", "at least"), "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}


def _in_words(err: dict) -> str:
    """An error's message without the value given: our own words for a ValueError
    (without pydantic's "Value error, "), the house style's for a common error, else
    pydantic's."""
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    if err["type"] in BOUND_WORDS:  # a field bounded on one side ("must be in [a, b]" covers both)
        name, words = BOUND_WORDS[err["type"]]
        return f"must be {words} {_number(err['ctx'][name])}"
    if err["type"] == "invalid_key" or err["type"] == "string_type" and err["loc"][-1:] == ("[key]",):
        return "a key must be text"
    if err["type"] == "literal_error":
        expected = err["ctx"]["expected"]  # "'a', 'b' or 'c'"
        return f"must be one of: {', '.join(expected.rsplit(' or ', 1))}" if " or " in expected else f"must be {expected}"
    return EXPECTED.get(err["type"], err["msg"])


def pydantic_problems(exc: ValidationError, model: type[BaseModel] = None, owner: str | None = None, at: str = "") -> list[tuple[str, str]]:
    """One (path, message) per error, paths under ``at`` (where ``model`` sits in the
    file; a check of the whole model, such as its fields' order, is reported there).
    ``owner`` names whose parameters ``model`` holds (``the opinion rule 'static'``), so
    that a key it lacks is refused in those words: a parameter the chosen rule does not
    have would have no effect."""
    model = model or Scenario
    problems = []
    errors = [{**err, "loc": tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))} for err in exc.errors(include_url=False)]
    for err in _without_members(errors, model):
        loc = err["loc"][:-1] if err["type"] == "invalid_key" else err["loc"]  # a key that is not text is a problem of its mapping
        path = ".".join(part for part in (at, _describe(loc)) if part)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            if owner and len(loc) == 1:
                problems.append((path, f"{owner} has no parameter '{loc[0]}'; {choices(loc[0], allowed, 'it takes')}"))
                continue
            told = choices(loc[-1], allowed, "allowed:") if allowed else "nothing may be set here (this takes no parameters)"
            problems.append((path, f"unknown key; {told}"))
        elif err["type"] == "missing":
            problems.append((path, "required field is missing"))
        elif err["type"] in (*BOUNDS, "int_parsing_size") and (allowed := _interval(model, loc)):  # a whole number too large for any integer: past the bound too
            problems.append((path, f"must be in {allowed} (got {_shown(err.get('input'))})"))
        elif err["type"] == "model_type" and (keys := _allowed_keys(model, loc)):  # pydantic would name our class ("instance of DomainValues")
            got = err.get("input")
            problems.append((path, f"must be a mapping with keys from: {', '.join(keys)} (got {_shown(got)})"))
        elif err["type"] == "dict_type" and model is Scenario and len(loc) == 2 and loc[0] == "rules" and isinstance(err.get("input"), str):
            name = err["input"]  # rules.decision=hedging: the rule's name given for its entry
            problems.append((path, f"a rule entry is a mapping of its name and parameters: write {path}: {{name: {name}}}, or --set {path}.name={name}"))
        elif err["type"] in ("too_short", "too_long"):
            least = err["type"] == "too_short"
            n, actual = err["ctx"]["min_length" if least else "max_length"], err["ctx"]["actual_length"]
            problems.append((path, "must not be empty" if least and n == 1 else f"must have at {'least' if least else 'most'} {n} item{'s' * (n != 1)}, not {actual}"))
        else:
            got = err.get("input")
            shown = _shown(got)
            message = _in_words(err)
            whole = err["type"] == "value_error" and isinstance(got, dict) and _is_mapping(_type_at(model, loc))  # our check of a mapping's content (a rule's parameters in order, shares summing to at most 1): "(got a mapping)" would be noise
            said = whole or f"'{got}'" in message or (isinstance(got, str) and f"'{cut(got, 40)}'" in message) or (isinstance(got, dt.date) and shown in message) or (isinstance(got, list) and any(f"'{cut(str(item), 40)}'" in message for item in got))  # quoted whole, as the message cut it, or by the item at fault
            problems.append((path, message if said else f"{message} (got {shown})"))  # the value once
    return problems


def _shown(got: Any) -> str:
    """A value given, as a message echoes it: in YAML's words (null, true, a mapping),
    not Python's (None, True, a dict's whole text)."""
    if got is None or isinstance(got, bool):
        return {None: "null, an empty value", True: "true", False: "false"}[got]
    if isinstance(got, float) and math.isinf(got):
        sign = "-" * (got < 0)
        return f"{sign}infinity: {sign}.inf, or a number beyond about {sign}1.8e308"
    if isinstance(got, float) and math.isnan(got):
        return ".nan, not a number"
    if isinstance(got, dict | list):
        return _member(type(got).__name__)
    return got.isoformat() if isinstance(got, dt.date) else repr(got)


ENTRIES = {"states": "state", "powers": "power", "organisations": "organisation", "corridors": "corridor", "events": "event", "shocks": "shock"}


def _new_id(section: str, ident: str, lacking: list[str], known: list[str]) -> str | None:
    """The message for an entry that lacks required fields and whose id is close to a
    complete one's: most likely a typo of that id in a file that extends another (it adds
    an entry instead of changing one), which the required fields alone would hide."""
    folded = {k.lower(): k for k in known}  # 'eaeu' for 'EAEU' too
    initials = {"".join(w[0] for w in k.split("_") if w): k for k in folded if "_" in k}  # 'eu' for european_union
    near = difflib.get_close_matches(ident.lower(), list(folded), n=1) or ([initials[ident.lower()]] if ident.lower() in initials else [])
    if not near:
        return None
    meant = folded[near[0]]
    return f"new {ENTRIES[section]} '{ident}' lacks {', '.join(lacking)}; did you mean '{meant}'? (to change {meant}, write its id exactly)"


def _misspelt_ids(exc: ValidationError, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """pydantic's problems, with those of an entry that looks like a misspelt id (see
    :func:`_new_id`) replaced by one problem at that id."""
    errors = exc.errors(include_url=False)
    problems = pydantic_problems(exc)
    lacking: dict[tuple[str, str], list[str]] = {}
    for err in errors:
        loc = err["loc"]
        if err["type"] == "missing" and len(loc) == 3 and loc[0] in ENTRIES and isinstance(loc[1], str):  # an id of text (a number is refused elsewhere)
            lacking.setdefault(loc[:2], []).append(str(loc[2]))
    found = {}
    for (section, ident), fields in lacking.items():
        if len(raw[section][ident]) > len(fields):  # more written than lacking: a new entry missing a field, not a changed one misnamed
            continue
        known = sorted({k for k in raw[section] if isinstance(k, str)} - {i for s, i in lacking if s == section})
        if message := _new_id(section, ident, fields, known):
            found[section, ident] = message
    if not found:
        return problems
    out, done = [], set()
    for err, problem in zip(errors, problems):  # pydantic_problems: one problem per error, in order
        key = tuple(err["loc"][:2])
        if key not in found:
            out.append(problem)
        elif key not in done:
            done.add(key)
            out.append((".".join(key), found[key]))
    return out


@dataclass(frozen=True)
class Check:
    """A cross-reference check: the problems at ``key`` (a section, ``watch``, or a field
    of a section or of its entries, ``freight.growth``, ``states.opinion``, as READS keys
    them), of each entry of the section (``run(scn, id, entry)``) or of the scenario
    (``run(scn)``)."""

    key: str
    run: Callable[..., list[tuple[str, str]]]
    each: bool

    @property
    def section(self) -> str:
        return self.key.split(".")[0]


# Every cross-reference check, in the order they report: one list, so that a check is
# run, and held to its READS entry (tests/test_scenario_reads.py), by being registered.
CHECKS: list[Check] = []


def _check(key: str, each: bool = False) -> Callable:
    """Register a cross-reference check (see :class:`Check`). Besides the entry it checks
    (or its section, when the section has no entries: freight, watch) and the ids of
    NAMED, it may read only the sections READS gives for ``key``."""
    def register(run: Callable) -> Callable:
        CHECKS.append(Check(key, run, each))
        return run

    return register


def _check_references(scn: Scenario) -> list[tuple[str, str]]:
    """Cross-field checks pydantic cannot express (ids must exist, rules must be known):
    those of :data:`CHECKS`, in order. Checks of one section's entries in a row go entry
    by entry, so that an entry's problems are listed together."""
    problems: list[tuple[str, str]] = []
    for (section, each), run in itertools.groupby(CHECKS, key=lambda c: (c.section, c.each)):
        run = list(run)
        for args in getattr(scn, section).items() if each else [()]:
            for check in run:
                problems += check.run(scn, *args)
    return problems


def _unknown(path: str, ids: Any, kind: str, known: Any, but: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """A problem at ``path.<id>`` for each of ``ids`` not in ``known`` (ids), or that is
    the entry itself, ``but`` = (its id, what it would be to itself: "neighbour"). The known
    ids are listed only for a problem: a world of thousands of states checks each entry
    against them."""
    own = but[0] if but else None
    missing = [ident for ident in ids if ident == own or ident not in known]
    if not missing:
        return []
    names = sorted(set(known) - {own})
    return [(f"{path}.{ident}", f"a {kind} cannot be its own {but[1]}" if ident == own else f"unknown {kind}; {choices(ident, names, 'known:')}") for ident in missing]


@_check("powers")
def _no_power_called_other(scn: Scenario) -> list[tuple[str, str]]:
    if "other" in scn.powers:  # its columns would be the unnamed partners' (alignment_other)
        return [("powers.other", "'other' stands for the partners a scenario does not name (alignment_other); give this power another id")]
    return []


@_check("states")
def _some_state(scn: Scenario) -> list[tuple[str, str]]:
    return [] if scn.states else [("states", "a scenario needs at least one regional state")]


@_check("powers")
def _some_power(scn: Scenario) -> list[tuple[str, str]]:
    return [] if scn.powers else [("powers", "a scenario needs at least one external power")]


@_check("states.opinion", each=True)
def _opinion(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return _unknown(f"states.{sid}.opinion", st.opinion, "power", scn.powers)


@_check("states.neighbours", each=True)
def _neighbours(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    problems = _unknown(f"states.{sid}.neighbours", st.neighbours, "state", scn.states, but=(sid, "neighbour"))
    for other, here in st.neighbours.items():  # a pair declared on both sides must agree: one pair, one relation
        there = scn.states[other].neighbours.get(sid) if other in scn.states else None
        if there is None or there == here:
            continue
        ids = list(scn.states)  # for a pair that disagrees only: told once, at the side declared second
        if ids.index(sid) > ids.index(other):
            diffs = ", ".join(f"{k} {v}" for k, v in there if v != getattr(here, k))
            problems.append((f"states.{sid}.neighbours.{other}", f"declared also as states.{other}.neighbours.{sid}, with {diffs}; declare the pair once, or alike on both sides"))
    return problems


@_check("states.borders", each=True)
def _borders(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return _unknown(f"states.{sid}.borders", st.borders, "power", scn.powers)


@_check("states.bases", each=True)
def _bases(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return _unknown(f"states.{sid}.bases", st.bases, "power", scn.powers)


@_check("states.ties", each=True)
def _ties(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return [p for domain, shares in st.ties.items() for p in _unknown(f"states.{sid}.ties.{domain}", shares, "power", scn.powers)]


@_check("powers.interests", each=True)
def _interests(scn: Scenario, pid: str, pw: PowerSpec) -> list[tuple[str, str]]:
    return _unknown(f"powers.{pid}.interests", pw.interests, "state", scn.states)


@_check("powers.rivals", each=True)
def _rivals(scn: Scenario, pid: str, pw: PowerSpec) -> list[tuple[str, str]]:
    return _unknown(f"powers.{pid}.rivals", pw.rivals, "power", scn.powers, but=(pid, "rival"))


@_check("powers.conditions", each=True)
def _exclusivity(scn: Scenario, pid: str, pw: PowerSpec) -> list[tuple[str, str]]:
    return _unknown(f"powers.{pid}.conditions.exclusivity", pw.conditions.exclusivity, "power", scn.powers, but=(pid, "excluded rival"))


@_check("states.memberships", each=True)
def _memberships(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return _unknown(f"states.{sid}.memberships", st.memberships, "organisation", scn.organisations)


@_check("powers.conditions", each=True)
def _club(scn: Scenario, pid: str, pw: PowerSpec) -> list[tuple[str, str]]:
    club = pw.conditions.club
    if club is None or club in scn.organisations:
        return []
    return [(f"powers.{pid}.conditions.club", f"unknown organisation '{club}'; {choices(club, sorted(scn.organisations), 'known:')}")]


@_check("organisations.leader", each=True)
def _leader(scn: Scenario, oid: str, org: OrganisationSpec) -> list[tuple[str, str]]:
    problems = []
    if org.kind == "regional_format" and org.leader is not None:  # a leader is a patron: the club's mechanisms, not the format's
        problems.append((f"organisations.{oid}.leader", f"a regional format has no leader; to bring '{org.leader}' in, list it in organisations.{oid}.powers (or make the organisation a club)"))
    if org.leader is not None and org.leader not in scn.powers:
        problems.append((f"organisations.{oid}.leader", f"unknown power '{org.leader}'; {choices(org.leader, sorted(scn.powers), 'known:')}"))
    return problems


@_check("organisations.powers", each=True)
def _member_powers(scn: Scenario, oid: str, org: OrganisationSpec) -> list[tuple[str, str]]:
    return _unknown(f"organisations.{oid}.powers", org.powers, "power", scn.powers)


@_check("organisations.observers", each=True)
def _observers(scn: Scenario, oid: str, org: OrganisationSpec) -> list[tuple[str, str]]:
    return _unknown(f"organisations.{oid}.observers", org.observers, "state", scn.states)


@_check("organisations.excludes", each=True)
def _excludes(scn: Scenario, oid: str, org: OrganisationSpec) -> list[tuple[str, str]]:
    own = [p for p in org.excludes if p == org.leader or p in org.powers]  # its offers would gain the bonus and cost the obligation at once
    return _unknown(f"organisations.{oid}.excludes", org.excludes, "power", scn.powers) + [
        (f"organisations.{oid}.excludes.{p}", f"the organisation's own {'leader' if p == org.leader else 'member power'}; an organisation cannot exclude its patrons") for p in own]


@_check("organisations.vetoes", each=True)
def _vetoes(scn: Scenario, oid: str, org: OrganisationSpec) -> list[tuple[str, str]]:
    problems = _unknown(f"organisations.{oid}.vetoes", org.vetoes, "power or state", scn.powers.keys() | scn.states.keys())
    for holder, applicants in org.vetoes.items():
        problems += _unknown(f"organisations.{oid}.vetoes.{holder}", applicants, "state", scn.states)
    return problems


@_check("corridors.sponsors", each=True)
def _sponsors(scn: Scenario, cid: str, cor: CorridorSpec) -> list[tuple[str, str]]:
    return _unknown(f"corridors.{cid}.sponsors", cor.sponsors, "power", scn.powers)


@_check("corridors.market", each=True)
def _market(scn: Scenario, cid: str, cor: CorridorSpec) -> list[tuple[str, str]]:
    """A market is named by the corridors that serve it: a misspelt one would be a market of
    its own that no freight enters, and the corridor would carry nothing, without a word."""
    if cor.market in scn.freight.demand:
        return []
    known = sorted(scn.freight.demand)
    return [(f"corridors.{cid}.market", f"no freight.demand for market '{cor.market}'; {did_you_mean(cor.market, known)}markets with demand: {', '.join(known) or 'none'} (give a market's demand in freight.demand, 0 if none)")]


@_check("corridors.segments", each=True)
def _segments(scn: Scenario, cid: str, cor: CorridorSpec) -> list[tuple[str, str]]:
    declared = scn.freight.nodes
    return [(f"corridors.{cid}.segments.{k}.node", f"unknown node '{seg.node}'; {did_you_mean(seg.node, set(scn.states) | set(declared))}use a state id or declare it in freight.nodes")
            for k, seg in enumerate(cor.segments) if seg.node not in scn.states and seg.node not in declared]


@_check("corridors.upgrades", each=True)
def _upgrades(scn: Scenario, cid: str, cor: CorridorSpec) -> list[tuple[str, str]]:
    problems = []
    path = [seg.node for seg in cor.segments]
    for k, up in enumerate(cor.upgrades):
        if up.node not in path:
            problems.append((f"corridors.{cid}.upgrades.{k}.node", f"'{up.node}' is not on this corridor; its path is {', '.join(path)}"))
        if up.date < scn.time.start:
            problems.append((f"corridors.{cid}.upgrades.{k}.date", f"{up.date} is before the scenario starts ({scn.time.start}); put it in the segment's initial figures"))
    return problems


GROWTH_CEILING = 1e100  # freight demand (Mt a year) or GDP (USD bn): past meaning long before, and clear of float overflow in products of two


def _off_scale(scn: Scenario, path: str, start: float, g: float, floor: float = 0.0) -> list[tuple[str, str]]:
    """A growth rate that, compounded over the horizon, takes freight demand or a GDP
    past :data:`GROWTH_CEILING`, or (a GDP, given its ``floor``) under the floor: each
    rate is in range, and the horizon too, but 100% a year for a thousand years overflows
    a float and crashed the run part-way, and a GDP shrunk to 1e-310 turned the values read
    against it into inf."""
    years = scn.time.steps * scn.time.step_months / 12
    if g > 0:
        reached = math.log10(max(start, 1.0)) + years * math.log10(1 + g)  # from 1 at least: the growth factor alone overflows too, whatever it multiplies
        if reached > math.log10(GROWTH_CEILING):
            return [(path, f"{g:g} a year for the {years:g} years of time.steps grows it to about 1e{reached:.0f}, past {GROWTH_CEILING:g}, beyond the model's arithmetic; lower the rate or shorten the horizon")]
    elif g < 0 and (shrunk := start * (1 + g) ** years) < floor:
        return [(path, f"{g:g} a year for the {years:g} years of time.steps shrinks GDP {start:g} to about {shrunk:.1e}, under {floor:g} (USD bn), beyond the model's arithmetic; raise the rate or shorten the horizon")]
    return []


@_check("freight.growth")
def _freight_horizon(scn: Scenario) -> list[tuple[str, str]]:
    return [p for m, g in scn.freight.growth.items() for p in _off_scale(scn, f"freight.growth.{m}", scn.freight.demand.get(m, 0.0), g)]


@_check("states.gdp_growth", each=True)
def _gdp_horizon(scn: Scenario, sid: str, st: StateSpec) -> list[tuple[str, str]]:
    return _off_scale(scn, f"states.{sid}.gdp_growth", st.gdp, st.gdp_growth, GDP_FLOOR)


def _horizon_problems(scn: Scenario) -> list[tuple[str, str]]:
    """The growth rates of ``scn`` that its horizon takes too far (:func:`_off_scale`)."""
    return _freight_horizon(scn) + [p for sid, st in scn.states.items() for p in _gdp_horizon(scn, sid, st)]


def _unserved(key: str, scn: Scenario) -> list[tuple[str, str]]:
    """The markets of ``freight.<key>`` that no corridor serves."""
    markets = {c.market for c in scn.corridors.values()}
    return [(f"freight.{key}.{market}", f"no corridor serves market '{market}'; {choices(market, sorted(markets), 'markets:')}")
            for market in getattr(scn.freight, key) if market not in markets]


_check("freight.demand")(functools.partial(_unserved, "demand"))
_check("freight.growth")(functools.partial(_unserved, "growth"))


@_check("watch")
def _watch(scn: Scenario) -> list[tuple[str, str]]:
    if not scn.watch:
        return []
    problems = []
    metrics = scn.metric_names()
    for k, name in enumerate(scn.watch):
        if name not in metrics:
            kind = [m for m in metrics if m.split("_")[0] == name.split("_")[0]]  # influence_usa: every influence_ column, which a cut list of all could hide
            known = choices(name, kind, "its kind here:") if kind else choices(name, metrics, "the model's metrics here:")
            problems.append((f"watch.{k}", f"unknown metric '{name}'; {known}"))
    return problems


def _event(section: str, scn: Scenario, k: str, spec: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Validate a dated event or stochastic shock against the event registry."""
    from abm import events  # noqa: F401  (registers the event types)

    if spec is None:  # dropped by an extending scenario
        return []
    path = f"{section}.{k}"
    spec = dict(spec)
    timing_cls = events.When if section == "events" else events.Hazard
    if not isinstance(spec.get("type"), str):
        required = ["type", *(name for name, field in timing_cls.model_fields.items() if field.is_required())]
        lacking = [name for name in required if name not in spec]
        known = sorted(i for i, s in getattr(scn, section).items() if isinstance((s or {}).get("type"), str))
        if "type" in lacking and (message := _new_id(section, k, lacking, known)):
            return [(path, message)]
        return [(f"{path}.type", f"required, an event type; known event types: {', '.join(registry.known('event'))}")]
    timing, problems = {key: spec.pop(key) for key in list(timing_cls.model_fields) if key in spec}, []
    try:
        timing = timing_cls.model_validate(timing)
    except ValidationError as exc:
        timing, problems = None, pydantic_problems(exc, timing_cls, at=path)
    if section == "events" and timing is not None and timing.date < scn.time.start:
        problems.append((f"{path}.date", f"{timing.date} is before the scenario starts ({scn.time.start}); make it an initial condition"))
    if section == "shocks" and timing is not None and timing.end is not None and timing.end <= scn.time.start:  # accepted, it never fired, and nothing said so
        problems.append((f"{path}.end", f"{timing.end} is not after the scenario starts ({scn.time.start}): the shock could never fire"))
    try:
        params = registry.get("event", spec["type"]).Params
    except registry.UnknownRuleError as exc:
        return [*problems, (f"{path}.type", str(exc))]
    allowed = ["type", *timing_cls.model_fields, *params.model_fields]  # the type's parameters alone left out the entry's timing
    problems = [*((f"{path}.{key}", _unknown_event_key(section, key, allowed)) for key in spec if key not in allowed), *problems]
    try:
        event = registry.make("event", {key: value for key, value in spec.items() if key in allowed}, key="type")
    except ValidationError as exc:
        return [*problems, *pydantic_problems(exc, params, at=path)]
    return [*problems, *((f"{path}.{p}", m) for p, m in event.check(scn))]


def _unknown_event_key(section: str, key: str, allowed: list[str]) -> str:
    """The message for an unknown key of an event or shock; a timing key of the other
    section says where the entry belongs (a hazard on a dated event makes it a shock)."""
    from abm import events

    other, home, kind = (events.Hazard, "shocks", "a shock") if section == "events" else (events.When, "events", "a dated event")
    where = f"'{key}' times {kind}, which goes under {home}:; " if key in other.model_fields else ""
    return f"unknown key; {where}{choices(key, allowed, 'allowed:')}"


_check("events", each=True)(functools.partial(_event, "events"))
_check("shocks", each=True)(functools.partial(_event, "shocks"))


@_check("posterior")
def _posterior(scn: Scenario) -> list[tuple[str, str]]:
    from abm.posterior import problems

    return problems(scn)


@_check("rules")
def _rules(scn: Scenario) -> list[tuple[str, str]]:
    """The rule entries' problems; each valid entry is put in full (every parameter,
    defaults filled in) in the scenario."""
    problems, rules = check_rules({family: getattr(scn.rules, family) for family in registry.FAMILIES})
    for family, entry in rules.items():
        setattr(scn.rules, family, entry)
    return problems


def check_rules(entries: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """The problems of the rule entries (``rules.<family>``: a known name, parameters in
    range), and each valid entry in full (name and every parameter, defaults filled in).
    Needs nothing else of the scenario, so that it also runs when the rest is broken."""
    problems, rules = [], {}
    for family, spec in entries.items():
        path = f"rules.{family}"
        if not isinstance(spec.get("name"), str):
            problems.append((f"{path}.name", f"required, a rule name; known {family} rules: {', '.join(registry.known(family))}"))
            continue
        try:
            rule = registry.make(family, spec)
        except registry.UnknownRuleError as exc:
            problems.append((f"{path}.name", str(exc)))
            continue
        except ValidationError as exc:
            problems += pydantic_problems(exc, _params_holder(family, spec["name"]), f"the {family} rule '{spec['name']}'", at=path)
            continue
        rules[family] = {"name": rule.name, **rule.params.model_dump(mode="json")}
    return problems, rules


NAMED = ("states", "powers", "organisations", "corridors")  # sections whose ids other entries name

# The sections whose values the cross-reference checks (CHECKS) of a field (section.field)
# or a whole section read, besides the entry checked and the ids of NAMED: a field set
# aside there (see _references_beside) could make them report a follow-on of its problem.
# tests/test_scenario_reads.py records what each check reads and holds it to this.
READS = {
    "states.neighbours": ("states",),  # the other side of a pair
    "states.gdp_growth": ("time",),  # growth over the horizon
    "corridors.market": ("freight",),  # the markets with demand
    "corridors.segments": ("freight",),  # nodes declared in freight.nodes
    "corridors.upgrades": ("time",),  # dates
    "freight.demand": ("corridors",),  # the markets corridors serve
    "freight.growth": ("corridors", "time"),
    "watch": ("states", "corridors", "organisations"),  # the metric columns they make
    "events": ("time", "states", "corridors", "freight", "organisations", "events"),  # dates; neighbours, segments, nodes; whom a club excludes; the others' types, for a misspelt id
    "shocks": ("time", "states", "corridors", "freight", "organisations", "shocks"),
    "posterior": tuple(Scenario.model_fields),  # every setting its columns name
}


def _key_of(path: str) -> str:
    """The READS key of a problem at ``path``: its section and the field of its entry (or
    section) it is at, ``states.neighbours`` for ``states.armenia.neighbours.georgia``."""
    keys = path.split(".")
    return f"{keys[0]}.{_part(keys)[1]}"


def _read_by(key: str) -> tuple[str, ...]:
    """What READS gives checks at ``key``: its own entry, else its section's."""
    return READS.get(key, READS.get(key.split(".")[0], ()))


def _references_beside(exc: ValidationError, raw: dict[str, Any], found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The cross-reference checks' problems (ids, events, shocks, rules) when fields are
    broken, so that one pass reports them too, not a second once the fields are mended:
    the broken fields set aside (defaults in their place), the checks run on the rest, and
    a problem kept unless it is in an entry with a broken field or its check reads a
    section with one (READS), where it could follow from the default. When the fields
    cannot be set aside (a required one, a whole entry others name), the rule entries'
    own problems alone."""
    locs = [tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))) for err in exc.errors(include_url=False)]
    if (aside := _set_aside(raw, locs)) is None:
        return _rule_problems(raw, found)
    rest, parts = aside
    try:
        scn = Scenario.model_validate(rest)
    except ValidationError:
        return _rule_problems(raw, found)
    sections = {part.split(".")[0] for part in parts}

    def may_follow(path: str) -> bool:
        part = _part(path.split("."))[0]
        near = any(under(part, p) or under(p, part) for p in parts)
        return near or bool(sections.intersection(_read_by(_key_of(path))))

    return [(path, msg) for path, msg in _check_references(scn) if not may_follow(path)]


def _set_aside(raw: dict[str, Any], locs: list[tuple]) -> tuple[dict[str, Any], set[str]] | None:
    """A copy of ``raw`` without the values at ``locs`` (of a list item, the whole list:
    removing the item would shift the others), and the entries they were in; None when
    one is a whole entry of NAMED, or above one."""
    out, gone = copy.deepcopy(raw), []
    for loc in locs:
        if any(loc[:len(g)] == g for g in gone):
            continue
        trail, node = [], out  # (container, key) down to what the file holds: not a missing field, nor a union member's tag
        for part in loc:
            if not (isinstance(node, dict) and part in node or isinstance(node, list) and type(part) is int and 0 <= part < len(node)):
                break
            trail.append((node, part))
            node = node[part]
        while trail and isinstance(trail[-1][0], list):
            trail.pop()
        keys = tuple(key for _, key in trail)
        if not keys or (keys[0] in NAMED and len(keys) <= 2):
            return None
        container, key = trail[-1]
        del container[key]
        gone.append(keys)
    return out, {_part(keys)[0] for keys in gone}


def _part(keys) -> tuple[str, str]:
    """The entry (``states.armenia``, ``rules.decision``) or section (``time``) a path is
    in, and the field of it the path goes on to ('' for none)."""
    depth = 2 if keys[0] in ENTRIES or keys[0] == "rules" else 1
    return ".".join(map(str, keys[:depth])), str(keys[depth]) if len(keys) > depth else ""


def _rule_problems(raw: dict[str, Any], found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The rule entries' own problems when the scenario's structure is broken elsewhere,
    so that one pass reports them too (they are otherwise checked once the structure
    holds): every well-formed entry of a known family that no problem found already
    concerns."""
    rules = raw.get("rules")
    if not isinstance(rules, dict):
        return []
    reported = [path for path, _ in found]
    entries = {family: spec for family, spec in rules.items()
               if family in registry.FAMILIES and isinstance(spec, dict) and not any(p == f"rules.{family}" or p.startswith(f"rules.{family}.") for p in reported)}
    return check_rules(entries)[0]


def _params_holder(family: str, name: str) -> type[BaseModel]:
    return registry.get(family, name).Params


def build(raw: dict[str, Any], source: str | None = None, allow_large: bool = False, found: list[tuple[str, str]] = ()) -> Scenario:
    """Validate a raw (merged) scenario mapping into a :class:`Scenario`; a world over
    the memory budget (:mod:`abm.budget`) is refused first unless ``allow_large``. The
    scenario shares no value with ``raw``, which stays the caller's to change. ``found``
    are problems found while reading it (:func:`resolve_chain`), reported with its own."""
    return _build(copy.deepcopy(raw), source, allow_large, found)


def _build(raw: dict[str, Any], source: str | None = None, allow_large: bool = False, found: list[tuple[str, str]] = ()) -> Scenario:
    """:func:`build` without its copy of ``raw`` (which costs about as much as the
    validation): for a mapping nobody changes while the scenario lives, because the
    scenario keeps free-form values (rule entries, events) of ``raw`` itself. It never
    writes to ``raw``."""
    if raw.get("generated") is not None:
        from abm.generate import expand  # generated worlds fill states and powers

        try:
            spec = GeneratedSpec.model_validate(raw["generated"])
        except ValidationError as exc:
            raise ScenarioError([*found, *pydantic_problems(exc, GeneratedSpec, at="generated")], source) from None
        if too_large := budget.check_world(spec.n_states, spec.n_powers, allow_large):
            raise ScenarioError([*found, ("generated", too_large)], source)
        raw = deep_merge(expand(spec), raw)
    sizes = [len(raw[k]) if isinstance(raw.get(k), dict) else 0 for k in ("states", "powers")]
    if too_large := budget.check_world(*sizes, allow_large):
        raise ScenarioError([*found, ("states", too_large)], source)
    try:
        scn = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = _misspelt_ids(exc, raw)
        raise ScenarioError([*found, *problems, *_references_beside(exc, raw, problems)], source) from None
    problems = [*found, *_check_references(scn)]
    if problems:
        raise ScenarioError(problems, source)
    return scn


# Settings that act only under one variant of a rule family: elsewhere no mechanism reads
# them, so a sweep over one of them would report an effect of zero that says nothing.
ACTS_ONLY_UNDER = {"offers.duration": ("decay", "expiry")}


# Settings that only name, describe or place on the map: no mechanism reads them, so every
# value gives the same run (tests/test_scenario.py holds each to that). A single run may
# set them (a name chooses the output folder); a sweep over one would chart runs that
# differ in nothing.
LABELS = ("name", "description", "watch", "states.*.name", "states.*.lat", "states.*.lon", "states.*.population",
          "powers.*.name", "powers.*.color", "powers.*.lat", "powers.*.lon", "organisations.*.name", "corridors.*.name")


def labels_only(path: str) -> str | None:
    """Why sweeping ``path`` cannot change a run: it names, describes or places (None if not)."""
    parts = path.split(".")
    for label in LABELS:
        pattern = label.split(".")
        if len(pattern) == len(parts) and all(p in ("*", q) for p, q in zip(pattern, parts)):
            return f"names, describes or places something ({label}); no mechanism reads it"
    return None


def inert(scn: Scenario, path: str) -> str | None:
    """Why the setting at ``path`` has no effect in ``scn`` (None if it may have one)."""
    if path not in ACTS_ONLY_UNDER:
        return None
    family, name = ACTS_ONLY_UNDER[path]
    chosen = getattr(scn.rules, family)["name"]
    return None if chosen == name else f"acts only under rules.{family}.name={name} (here '{chosen}')"


def with_run_settings(scn: Scenario, seed: int | None = None, steps: int | None = None) -> Scenario:
    """A copy of ``scn`` with another seed and/or horizon, validated like any setting
    (cheaper than a full ``--set`` reload, which matters in sweeps of short runs)."""
    out = scn.model_copy()  # shallow: a run never writes to its scenario (tests/test_regression.py checks)
    if steps is not None:
        out.time = scn.time.model_copy()  # its own time block, so that setting the horizon leaves scn's alone
    for holder, field, value, path in ((out, "seed", seed, "seed"), (out.time, "steps", steps, "time.steps")):
        if value is None:
            continue
        try:
            setattr(holder, field, value)  # validate_assignment: the field's own rules apply
        except ValidationError as exc:
            raise ScenarioError([(path, msg) for _, msg in pydantic_problems(exc, type(holder))]) from None
    if steps is not None and (problems := _horizon_problems(out)):
        raise ScenarioError([("time.steps", f"{path}: {msg}") for path, msg in problems])
    return out


def load(source: str | Path | dict[str, Any] | Scenario, sets: list[str] | tuple[str, ...] = (), allow_large: bool = False) -> Scenario:
    """Load a scenario from a YAML path, a mapping or a Scenario, applying ``--set``
    overrides; ``allow_large`` lifts the world-size budget (:mod:`abm.budget`)."""
    found: list[tuple[str, str]] = []  # the file's nulls that drop nothing
    files: list[tuple[Path, frozenset[str]]] = []  # an extends: chain's files
    if isinstance(source, Scenario):
        if not sets:
            return source
        raw, where = source.to_dict(), source.name
    elif isinstance(source, dict):
        raw, where = copy.deepcopy(source), None
    else:
        path = Path(source)
        (raw, found, files), where = resolve_chain(path), str(path)
    try:
        applied = apply_overrides(raw, list(sets))
    except ScenarioError as bad:
        raise _with_the_files_problems(bad, raw, sets, where, allow_large, found, files) from None
    parsed = [parse_set(item) for item in sets]  # each readable: apply_overrides read them
    try:
        scn = _build(applied, where, allow_large, found)  # raw is load's own: read, dumped or copied here
    except ScenarioError as exc:
        raise _blame_overrides(blame_parents(_replaced_whole(exc, raw, parsed), files, map(override_path, sets)), sets) from None
    if scn.posterior is not None and sets:
        from abm.posterior import overridden

        given: dict[str, list] = {}
        for path, value in parsed:
            given.setdefault(path, []).append(value)
        if held := overridden(scn, given):
            raise _blame_overrides(ScenarioError(held, where), sets)
    return scn


def _with_the_files_problems(bad: ScenarioError, raw: dict[str, Any], sets, where: str | None, allow_large: bool, found: list[tuple[str, str]], files) -> ScenarioError:
    """``--set`` overrides that cannot apply (a path the schema lacks), with the problems
    of the scenario under the overrides that can: a typo on the command line used to
    hide every problem of the file until it was mended."""
    failed = {path for path, _ in bad.problems}
    good = [item for item in sets if override_path(item) not in failed]
    try:
        _build(apply_overrides(raw, good), where, allow_large, found)
    except ScenarioError as exc:
        return _blame_overrides(ScenarioError(bad.problems + blame_parents(exc, files, map(override_path, good)).problems, exc.source), sets)
    return bad


def _replaced_whole(exc: ScenarioError, raw: dict[str, Any], parsed: list[tuple[str, Any]]) -> ScenarioError:
    """An entry given whole with ``--set`` (``states.armenia={gdp: 30}``) replaces the
    file's, so the keys it leaves out go missing: where a required one does, say so and
    how to change one key, rather than guess that its id is a typo (:func:`_new_id`)."""
    replaced = []
    for path, value in parsed:
        keys = path.split(".")
        if len(keys) == 2 and keys[0] in ENTRIES and isinstance(value, dict) and isinstance(raw.get(keys[0]), dict) and isinstance(raw[keys[0]].get(keys[1]), dict):
            replaced.append(path)
    hit = [p for p in replaced if any(under(path, p) and (msg.startswith("required") or (path == p and msg.startswith("new "))) for path, msg in exc.problems)]
    if not hit:
        return exc
    problems = [(path, msg) for path, msg in exc.problems if not (path in hit and msg.startswith("new "))]  # not a typo: the id is the file's
    for p in hit:
        problems.append((p, f"--set gave the whole entry, which replaces the file's; to change one key, write {p}.<key>=<value>"))
    return type(exc)(problems, exc.source)


def _blame_overrides(exc: ScenarioError, sets) -> ScenarioError:
    """Name ``--set`` as the source of the problems at, under or just above a path it set
    (``generated`` too large after ``--set generated.n_states=5000``): the file did not
    write ``rules.decay.rate: true``, the command line did. Keeps the error's class, so an
    experiment spec's problems stay an :class:`~abm.experiment.ExperimentError`."""
    paths = [override_path(item) for item in sets]

    def from_set(path: str) -> bool:
        return bool(path) and any(under(path, p) or under(p, path) for p in paths)

    if not paths:
        return exc
    if not any(from_set(path) for path, _ in exc.problems):
        # they may still follow from an override (a shorter horizon puts a summary's date
        # outside the run): the header says the file was read with them
        return type(exc)(exc.problems, exc.source, read_with=tuple(sets))
    if all(from_set(path) for path, _ in exc.problems):
        return type(exc)(exc.problems, "--set")
    return type(exc)([(f"{path} (from --set)" if from_set(path) else path, msg) for path, msg in exc.problems], exc.source)
