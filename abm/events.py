"""Events that change the world at a step: dated ones and stochastic shocks.

Event types are registered by name, like rules (family ``event``). A scenario lists
dated events as ``id: {date, type, ...parameters}``; an event fires in the step whose period
contains its date (step k covers [date(k-1), date(k))). Shocks are ``id: {type, hazard, [start], [end], ...parameters}`` and
fire in any step with probability ``hazard``, drawn from the shock's own stream under the
run's seed (:class:`EventQueue`), so runs stay reproducible (hazard 0 never fires, 1 always
does); an event that draws (a target, an outcome) draws from ``model.event_rng``, the
stream of the event being applied. Every event that fires is
recorded in ``model.event_log`` and written to ``events.csv``.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from abm.offers import DOMAIN_INDEX, DOMAINS
from abm.rules.registry import Rule, RuleParams, register
from abm.units import Date, Ids, Real, Signed, Unit, distinct
from abm.yamlfile import choices

Domain = Literal["investment", "security", "trade"]
Domains = Annotated[list[Domain], AfterValidator(distinct)]  # a domain listed twice took a factor twice


class When(BaseModel):
    """Timing of a dated event."""

    model_config = ConfigDict(extra="forbid")
    date: Date


class Hazard(BaseModel):
    """Timing of a stochastic shock: a chance per step, optionally within a window."""

    model_config = ConfigDict(extra="forbid")
    hazard: Unit
    start: Date | None = None
    end: Date | None = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end, info):
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError(f"{end} is not after start ({start}): the window [start, end) is empty, so the shock could never fire")
        return end


class Event(Rule):
    family = "event"

    def check(self, scn) -> list[tuple[str, str]]:
        """Problems with the event's references to the scenario (ids that don't exist)."""
        return []

    @abstractmethod
    def apply(self, model) -> dict:
        """Change the model; return the parameters to record (after any random draw)."""

    def record(self) -> dict:
        return self.params.model_dump(mode="json")


def _missing(field: str, ids, known, kind: str) -> list[tuple[str, str]]:
    ids = [ids] if isinstance(ids, str) else ids
    return [(field, f"unknown {kind} '{i}'; {choices(i, sorted(known), 'known:')}") for i in ids if i not in known]


# --------------------------------------------------------------------------- neighbours


class PairParams(RuleParams):
    states: Annotated[Ids, Field(min_length=2, max_length=2)]


class TreatyParams(PairParams):
    relation: Signed = 0.3  # relation after the treaty (never lowered by it)
    open_border: bool = True
    threat_relief: Unit = 0.2  # fall in both states' threat


class Treaty(Event):
    def check(self, scn):
        problems = _missing("states", self.params.states, scn.states, "state")
        a, b = self.params.states
        if not problems and b not in scn.states[a].neighbours and a not in scn.states[b].neighbours:
            problems.append(("states", f"{a} and {b} are not neighbours in this scenario"))
        return problems

    def apply(self, model):
        p = self.params
        k = model.pair(*p.states)
        model.pairs.border_open[k] = model.pairs.border_open[k] or p.open_border
        model.pairs.settle(k, model, max(model.pairs.relation[k], p.relation))  # the treaty is the new reference
        for s in p.states:
            state = model.state(s)
            state.threat = max(0.0, state.threat - p.threat_relief)
        return self.record()


@register
class PeaceTreaty(Treaty):
    """Two neighbours make peace: relations rise, the border opens, threat falls
    (the Armenia-Azerbaijan agreement initialled 8 Aug 2025, @gusseinov-allayarov2025, @avdaliani2025b)."""

    name = "peace_treaty"
    Params = TreatyParams


@register
class BorderTreaty(Treaty):
    """Two neighbours settle their border (Kyrgyzstan-Tajikistan, 13 Mar 2025, @turgunbaeva2025)."""

    name = "border_treaty"

    class Params(TreatyParams):
        relation: Signed = 0.2
        threat_relief: Unit = 0.1


@register
class BorderClash(Treaty):
    """A clash between neighbours: relations fall, both suffer and feel threatened."""

    name = "border_clash"

    class Params(PairParams):
        relation: Signed = -0.3  # shift of the relation
        damage: Annotated[Real, Field(ge=0.0)] = 0.2

    def apply(self, model):
        p = self.params
        k = model.pair(*p.states)
        model.pairs.relation[k] = np.clip(model.pairs.relation[k] + p.relation, -1.0, 1.0)
        model.pairs.anchor[k] = np.clip(model.pairs.anchor[k] + p.relation / 2.0, -1.0, 1.0)  # half the shift lasts
        model.clash(k, p.damage, model.event_rng)  # its guarantees drawn from its own stream
        return self.record()


# --------------------------------------------------------------------------- corridors


class SegmentParams(RuleParams):
    corridor: str
    node: str


class SegmentEvent(Event):
    def check(self, scn):
        problems = _missing("corridor", self.params.corridor, scn.corridors, "corridor")
        if not problems:
            path = [s.node for s in scn.corridors[self.params.corridor].segments]
            problems += _missing("node", self.params.node, path, "node on this corridor")
        return problems


@register
class CorridorOpen(SegmentEvent):
    """A segment opens (TRIPP through Syunik; a reopened Northern route)."""

    name = "corridor_open"
    Params = SegmentParams

    def apply(self, model):
        model.network.corridor(self.params.corridor).open(self.params.node)
        return self.record()


@register
class CorridorClose(SegmentEvent):
    """A segment closes (war, sanctions, a state punishing a power)."""

    name = "corridor_close"
    Params = SegmentParams

    def apply(self, model):
        model.network.close(self.params.corridor, self.params.node)
        return self.record()


@register
class Strike(Event):
    """Strikes on a country raise the risk of every route segment there (e.g. Iran)."""

    name = "strike"

    class Params(RuleParams):
        nodes: Annotated[Ids, Field(min_length=1)]
        risk: Unit = 0.3

    def check(self, scn):
        return _missing("nodes", self.params.nodes, set(scn.states) | set(scn.freight.nodes), "node")

    def apply(self, model):
        for node in self.params.nodes:
            model.network.add_risk(node, self.params.risk)
        return self.record()


@register
class RouteRisk(Event):
    """The lasting risk of the route segments at some nodes changes (sanctions on
    transit through Russia lifted, a war ends): the new level becomes the base to which
    shock risk returns. ``corridors`` limits it to those routes' segments: the 2022 war and
    sanctions weighed on the westbound rail through Russia, not on the INSTC's legs to Iran."""

    name = "route_risk"

    class Params(RuleParams):
        nodes: Annotated[Ids, Field(min_length=1)]
        risk: Unit
        corridors: Ids = []  # none: every corridor crossing the nodes

    def check(self, scn):
        nodes, corridors = self.params.nodes, self.params.corridors
        problems = _missing("nodes", nodes, set(scn.states) | set(scn.freight.nodes), "node") + _missing("corridors", corridors, scn.corridors, "corridor")
        astray = [c for c in corridors if c in scn.corridors and not {s.node for s in scn.corridors[c].segments} & set(nodes)]
        return problems + [("corridors", f"corridor '{c}' crosses none of the nodes {nodes}") for c in astray]

    def apply(self, model):
        for node in self.params.nodes:
            model.network.set_base_risk(node, self.params.risk, self.params.corridors)
        return self.record()


@register
class Sanctions(Event):
    """A power sanctions a node (state or third country): route risk there rises, and
    a sanctioned state's trade ties shrink: with the sanctioning power itself, or, for
    secondary sanctions on sanctions-evasion trade, with the power named in ``ties_with``
    (Western pressure on re-exports to Russia through the region: @dipirro2025, @abrahamyan2025).
    ``target: random`` draws a regional state in proportion to its trade with that power
    (tie share times GDP): enforcement goes where the evasion trade is. Sanctions that
    neither raise a route's risk nor cut a tie are logged with ``no_effect``."""

    name = "sanctions"

    class Params(RuleParams):
        by: str
        target: str  # a state, freight node or power, or ``random``
        risk: Unit = 0.2
        trade_cut: Unit = 0.3
        ties_with: str | None = None  # the power whose trade with the target is cut (default: ``by``)

    def check(self, scn):
        known = set(scn.states) | set(scn.freight.nodes) | set(scn.powers) | {"random"}
        problems = _missing("by", self.params.by, scn.powers, "power") + _missing("target", self.params.target, known, "target")
        if self.params.target == self.params.by:
            problems.append(("target", f"'{self.params.by}' is the power that sanctions; a power cannot sanction itself"))
        if self.params.ties_with is not None:
            problems += _missing("ties_with", self.params.ties_with, scn.powers, "power")
        return problems

    def apply(self, model):
        p = self.params
        partner = model.power_index[p.ties_with or p.by]
        target = p.target
        if target == "random":
            volume = model.ties[:, DOMAIN_INDEX["trade"], partner] * model.gdp  # at the period's opening GDP (events fire before growth), not the start's
            if volume.sum() <= 0.0:
                return {**self.record(), "target": "", "no_effect": f"no regional state trades with {model.power_keys[partner]}"}
            target = model.state_keys[int(model.event_rng.choice(len(volume), p=volume / volume.sum()))]
        raised = p.risk > 0 and model.network.add_risk(target, p.risk) > 0
        state = target in model.state_index
        cut = False
        if state:
            ties = model.state(target).ties[DOMAIN_INDEX["trade"]]
            cut = ties[partner] > 0.0 and p.trade_cut > 0.0
            ties[partner] *= 1.0 - p.trade_cut
        record = {**self.record(), "target": target}
        if not (raised or cut):
            record["no_effect"] = (f"{target} has no trade with {model.power_keys[partner]} to cut" if state else f"{target} is no regional state") + ", and no route risk through it rises"
        return record


# --------------------------------------------------------------------------- organisations


class MembershipParams(RuleParams):
    state: str
    organisation: str


class MembershipEvent(Event):
    joins: bool  # whether the event makes the state a member (else it ends its membership)

    def check(self, scn):
        return _missing("state", self.params.state, scn.states, "state") + _missing(
            "organisation", self.params.organisation, scn.organisations, "organisation"
        )

    def apply(self, model):
        """The change, or, where the scenario, the membership calculus or an earlier event
        has made it already, a log entry that says nothing changed (``no_effect``): the
        log's row alone read as an accession or exit that took place."""
        p = self.params
        member = p.organisation in model.state(p.state).memberships
        if member == self.joins:
            frozen = member and model.state_index[p.state] in model.organisations[p.organisation].frozen
            why = f"{p.state} is {'already' if member else 'not'} a member of {p.organisation}"
            return {**self.record(), "no_effect": why + (" (its participation is frozen: the membership calculus resumes it)" if frozen else "")}
        (model.organisations.join if self.joins else model.organisations.leave)(p.state, p.organisation, model)
        return self.record()


@register
class Accession(MembershipEvent):
    """A state joins an organisation (Azerbaijan into the C5, 16 Nov 2025, @ihr2025)."""

    name = "accession"
    Params = MembershipParams
    joins = True


@register
class Exit(MembershipEvent):
    """A state leaves an organisation (freezing its participation is the membership calculus's ``freeze``, not an event)."""

    name = "exit"
    Params = MembershipParams
    joins = False


@register
class PowerJoins(Event):
    """An external power joins an organisation, e.g. Russia the Central Asian format
    (as it joined CACO in 2004, which then merged into EurAsEC: @tolipov2025)."""

    name = "power_joins"

    class Params(RuleParams):
        power: str
        organisation: str

    def check(self, scn):
        p = self.params
        org = scn.organisations.get(p.organisation)
        excluded = [("power", f"{p.organisation} excludes {p.power} (organisations.{p.organisation}.excludes): its offers would gain the club's bonus and cost "
                              "its obligation at once")] if org is not None and p.power in org.excludes else []
        return _missing("power", p.power, scn.powers, "power") + _missing("organisation", p.organisation, scn.organisations, "organisation") + excluded

    def apply(self, model):
        p = self.params
        if model.power_index[p.power] in model.organisations[p.organisation].powers:
            return {**self.record(), "no_effect": f"{p.power} already belongs to {p.organisation}"}
        model.organisations.admit_power(p.power, p.organisation)
        return self.record()


# --------------------------------------------------------------------------- powers


class PowerParams(RuleParams):
    power: str


class PowerEvent(Event):
    def check(self, scn):
        return _missing("power", self.params.power, scn.powers, "power")


@register
class BudgetChange(PowerEvent):
    """A power multiplies its spending (all domains, or those listed): its standing
    offers and its new money, e.g. China doubling its investment
    (configs/china_backs_southern_route.yaml). A pledge of money on top, as Japan's ~US$19
    bn of Dec 2025 (configs/japan_minerals.yaml), is ``new_money``."""

    name = "budget_change"

    class Params(PowerParams):
        factor: Annotated[Real, Field(ge=0.0, le=100.0)]
        domains: Domains = list(DOMAINS)

    def apply(self, model):
        power = model.power(self.params.power)
        power.scale_spending(self.params.factor, self.params.domains)
        return self.record()


@register
class NewMoney(PowerEvent):
    """A power starts (or stops) bringing new money: its ``budget`` in the domains listed
    is set to ``amount`` (USD bn per step), split by the allocation rule on top of its
    standing offers, e.g. Japan's ~US$19 bn pledge of Dec 2025 (@avdaliani2025a)."""

    name = "new_money"

    class Params(PowerParams):
        amount: Annotated[Real, Field(ge=0.0, le=1e6)]
        domains: Domains = list(DOMAINS)

    def apply(self, model):
        power = model.power(self.params.power)
        for d in self.params.domains:
            power.budget[DOMAIN_INDEX[d]] = self.params.amount
        return self.record()


@register
class PostureChange(PowerEvent):
    """A power's posture shifts: credibility, capability or propensity to coerce."""

    name = "posture_change"

    class Params(PowerParams):
        credibility: Unit | None = None
        capability: Unit | None = None
        propensity: Unit | None = None

    def apply(self, model):
        power = model.power(self.params.power)
        if self.params.credibility is not None:
            model.shift_credibility(power.index, self.params.credibility - power.credibility)
        for key in ("capability", "propensity"):
            value = getattr(self.params, key)
            if value is not None:
                setattr(power, key, value)
        return self.record()


@register
class Withdrawal(PowerEvent):
    """A patron walks away after an election: spending cut (standing offers and new
    money), stakes in corridors and seats in formats given up, and its credibility
    falls in every state (@dipirro2025). The power stays in the model: its later events
    and its shocks (sanctions it imposes) still apply unless the scenario drops them."""

    name = "withdrawal"

    class Params(PowerParams):
        budget_factor: Unit = 0.2
        credibility_loss: Unit = 0.3
        corridors: Ids = []  # corridors whose sponsorship it leaves
        organisations: Ids = []  # organisations it leaves

    def check(self, scn):
        return (
            super().check(scn)
            + _missing("corridors", self.params.corridors, scn.corridors, "corridor")
            + _missing("organisations", self.params.organisations, scn.organisations, "organisation")
        )

    def apply(self, model):
        p = self.params
        power = model.power(p.power)
        power.scale_spending(p.budget_factor)
        model.shift_credibility(power.index, -p.credibility_loss)
        # a listed stake the power no longer holds (another event or the scenario took it)
        # is named: the cut still acts, so the event is not one of no effect
        unheld = [cid for cid in p.corridors if model.network.corridor(cid).sponsors.pop(p.power, None) is None]
        model.network.refresh_sponsors()
        for oid in p.organisations:
            if not model.organisations.expel_power(p.power, oid):
                unheld.append(oid)
        return {**self.record(), "not_held": unheld} if unheld else self.record()


@register
class Election(PowerEvent):
    """An election in a power, on its date, whose outcome is drawn: with chance ``turn``
    it changes course. An engaged power turns inward (it spends ``budget_factor`` of its
    commitments and budget, and belief in it falls by ``credibility_loss`` in every state:
    the patron that walks away after an election, @dipirro2025); a power that had turned
    inward re-engages (it spends them in full again: only the election's own cut is
    undone, whatever else changed its spending meanwhile). Its base credibility is left alone: belief
    comes back only through delivery (the ``delivery`` credibility rule), as a patron that
    resumes its commitments slowly regains trust. The outcome is logged."""

    name = "election"

    class Params(PowerParams):
        turn: Unit = 0.5  # chance the election changes the power's course
        budget_factor: Annotated[Real, Field(gt=0.0, le=1.0)] = 0.5
        credibility_loss: Unit = 0.15

    def apply(self, model):
        p = self.params
        power = model.power(p.power)
        turned = bool(model.event_rng.random() < p.turn)
        if turned:
            power.inward = not power.inward
            power.course = p.budget_factor if power.inward else 1.0
            if power.inward:
                model.shake_belief(power.index, -p.credibility_loss)
        return {**self.record(), "turned": turned, "course": "inward" if power.inward else "engaged"}


class IncidentParams(PowerParams):
    state: str
    opinion: Signed = -0.4  # shift in the state's opinion of the power
    fear: Annotated[Real, Field(ge=-5.0, le=5.0)] = 0.0  # shift in the state's fear of the power
    trade_cut: Unit = 0.0  # share of trade ties lost


@register
class Incident(PowerEvent):
    """An incident between a power and a state (the AZAL downing, the Yekaterinburg
    deaths and the raids that followed, 2024-2025: @avdaliani2025b, @gusseinov2025)."""

    name = "incident"
    Params = IncidentParams

    def check(self, scn):
        return super().check(scn) + _missing("state", self.params.state, scn.states, "state")

    def apply(self, model):
        p = self.params
        state, k = model.state(p.state), model.power_index[p.power]
        state.opinion[k] = float(np.clip(state.opinion[k] + p.opinion, -1.0, 1.0))
        state.fear[k] = max(0.0, state.fear[k] + p.fear)
        state.ties[DOMAIN_INDEX["trade"], k] *= 1.0 - p.trade_cut
        return self.record()


@register
class Reconciliation(Incident):
    """A power and a state make up, partly: opinion recovers (Putin's de facto apology,
    Dushanbe, 9 Oct 2025: 'neither complete nor sincere', @avdaliani2025b)."""

    name = "reconciliation"

    class Params(IncidentParams):
        opinion: Signed = 0.2


# --------------------------------------------------------------------------- states


class StateEventParams(RuleParams):
    state: str = "random"  # a state's id, or ``random``: one drawn from the event's own stream


class StateEvent(Event):
    """An event in one regional state, named or drawn."""

    Params = StateEventParams

    def check(self, scn):
        return [] if self.params.state == "random" else _missing("state", self.params.state, scn.states, "state")

    def pick(self, model) -> str:
        if self.params.state == "random":
            return model.state_keys[int(model.event_rng.integers(len(model.state_keys)))]
        return self.params.state


@register
class Unrest(StateEvent):
    """Unrest in a state: governance falls and threat rises, as in Kazakhstan in
    January 2022 (@ihr2025)."""

    name = "unrest"

    class Params(StateEventParams):
        threat: Unit = 0.2
        governance: Unit = 0.05  # fall in governance

    def apply(self, model):
        p = self.params
        key = self.pick(model)
        state = model.state(key)
        state.threat = min(1.0, state.threat + p.threat)
        state.governance = max(0.0, state.governance - p.governance)
        return {**self.record(), "state": key}


@register
class LeadershipChange(StateEvent):
    """A new leader in a regional state brings a course of his own: the state's opinion
    of each power, and its relation with each neighbour, move by independent normal
    draws (standard deviations ``opinion_sd``, ``relation_sd``), and the move lasts:
    the long-run anchors they return to move with them. Course changes of either sign
    and any size, from none (a hand-picked successor) to a turn (Uzbekistan after 2016
    opened to its neighbours; Armenia after 2018 drifted from Moscow). The baseline's
    hazard is the region's rate of leadership changes, 1995-2024 (``data/hazards.yaml``)."""

    name = "leadership_change"

    class Params(StateEventParams):
        opinion_sd: Unit = 0.2
        relation_sd: Unit = 0.1

    def apply(self, model):
        p = self.params
        key = self.pick(model)
        state = model.state(key)
        shift = model.event_rng.normal(0.0, p.opinion_sd, len(state.opinion))
        state.opinion[:] = np.clip(state.opinion + shift, -1.0, 1.0)
        state.opinion_anchor[:] = np.clip(state.opinion_anchor + shift, -1.0, 1.0)
        pairs = model.pairs
        mine = np.flatnonzero((pairs.i == state.index) | (pairs.j == state.index))
        move = model.event_rng.normal(0.0, p.relation_sd, len(mine))
        pairs.relation[mine] = np.clip(pairs.relation[mine] + move, -1.0, 1.0)
        pairs.anchor[mine] = np.clip(pairs.anchor[mine] + move, -1.0, 1.0)
        return {**self.record(), "state": key}


class EventQueue:
    """The scenario's dated events and shocks, ready to fire step by step.

    ``stream(*names)`` gives a generator keyed by name (:meth:`RegionModel.stream`): each
    shock draws its timing from a stream of its own, and each event or shock draws what it
    does when it fires from another, so that a scenario which adds, removes or retimes a
    shock, or in which a shock fires that does not fire in another, leaves every other
    shock's draws as they were (common random numbers)."""

    def __init__(self, scenario, stream):
        self.dated: list[tuple[dt.date, str, Event, np.random.Generator]] = []
        self.shocks: list[tuple[Hazard, str, Event, np.random.Generator, np.random.Generator]] = []
        for key, spec in scenario.events.items():
            if spec is not None:
                spec = dict(spec)
                self.dated.append((When(date=spec.pop("date")).date, key, _make(spec), stream("event", key)))
        for key, spec in scenario.shocks.items():
            if spec is not None:
                spec = dict(spec)
                timing = Hazard(**{k: spec.pop(k) for k in ("hazard", "start", "end") if k in spec})
                self.shocks.append((timing, key, _make(spec), stream("hazard", key), stream("shock", key)))
        self.dated.sort(key=lambda item: item[0])  # stable: same-day events keep their order

    def due(self, start: dt.date, end: dt.date) -> list[tuple[str, str, Event, np.random.Generator, dt.date | None]]:
        """Events of the period [start, end), each with the stream it draws from and its
        own date (None for a shock): dated ones in date order, then the shocks that fire. Every shock takes one draw from its
        timing stream a step, whatever its hazard and window, so that a scenario which
        only moves a shock's window meets the same draws for it in the steps both windows
        hold."""
        fired = [(key, "scheduled", e, rng, d) for d, key, e, rng in self.dated if start <= d < end]
        for timing, key, event, clock, rng in self.shocks:
            draw = clock.random()
            active = (timing.start is None or timing.start < end) and (timing.end is None or start < timing.end)
            if active and draw < timing.hazard:
                fired.append((key, "shock", event, rng, None))
        return fired


def _make(spec: dict) -> Event:
    from abm.rules import make

    return make("event", spec, key="type")
