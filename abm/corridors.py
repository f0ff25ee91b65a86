"""Transport corridors and the assignment of freight to them.

A corridor (Northern route via Russia, Middle Corridor across the Caspian, TRIPP /
Zangezur, the Southern route via Iran, INSTC west and east legs, Trans-Afghan railway)
is a path through nodes (states, seas, third countries), one segment per node. The
route's capacity is its tightest segment, its cost and time add up over segments, and
its risk is the chance that at least one segment is disrupted (segments independent).

Freight demand in a market (``east_west``, ``north_south``) goes to the routes serving
that market by generalized cost, cost + value of time * time + risk premium * risk,
split by a named choice rule and then capped by capacity with spill-over.

Units: capacity and volumes in Mt per year, cost and fees in USD per tonne, time in
days, value of time in USD per tonne-day, risk premium in USD per tonne per unit risk.

Route-choice rules are registered in :mod:`abm.rules.route_choice`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np


@dataclass(slots=True)
class SegmentState:
    """One segment of a corridor, the stretch through one node."""

    node: str
    capacity: float  # Mt per year
    cost: float  # USD per tonne
    time: float  # days
    risk: float = 0.0  # probability of disruption, 0..1
    closed: bool = False

    def __post_init__(self) -> None:
        if self.capacity < 0 or self.cost < 0 or self.time < 0:
            raise ValueError(f"segment {self.node}: capacity, cost and time must be >= 0")
        if not 0.0 <= self.risk <= 1.0:
            raise ValueError(f"segment {self.node}: risk must be in [0, 1], got {self.risk}")


@dataclass(slots=True)
class Corridor:
    """A route serving one market, with its segments and its sponsors' stakes (0..1)."""

    id: str
    market: str
    segments: list[SegmentState]
    sponsors: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError(f"corridor {self.id} has no segments")
        for power, stake in self.sponsors.items():
            if not 0.0 <= stake <= 1.0:
                raise ValueError(f"corridor {self.id}: stake of {power} must be in [0, 1]")

    @property
    def path(self) -> list[str]:
        """Node ids in travel order."""
        return [s.node for s in self.segments]

    def _at(self, node: str) -> list[SegmentState]:
        return [s for s in self.segments if s.node == node]

    # Events. Each returns how many segments it touched (0 if the route avoids the node),
    # so a region-wide shock can be applied to every corridor without checking paths.
    def add_risk(self, node: str, amount: float) -> int:
        """Raise (or, if negative, lower) the risk of the node's segments, clipped to [0, 1]."""
        segs = self._at(node)
        for s in segs:
            s.risk = min(1.0, max(0.0, s.risk + amount))
        return len(segs)

    def upgrade(self, node: str, capacity_add: float = 0.0, cost_factor: float = 1.0, time_cut: float = 0.0) -> int:
        """Add capacity (Mt/yr) to the node's segments, scale their cost by ``cost_factor``
        and shorten their transit time by ``time_cut`` days."""
        if cost_factor < 0:
            raise ValueError("cost_factor must be >= 0")
        segs = self._at(node)
        for s in segs:
            s.capacity = max(0.0, s.capacity + capacity_add)
            s.cost *= cost_factor
            s.time = max(0.0, s.time - time_cut)
        return len(segs)

    def close(self, node: str, closed: bool = True) -> int:
        """Close the node's segments (border shut, war, sanctions): route capacity drops to 0."""
        segs = self._at(node)
        for s in segs:
            s.closed = closed
        return len(segs)

    def open(self, node: str) -> int:
        return self.close(node, closed=False)

    # Route attributes.
    def capacity(self) -> float:
        """Mt per year: the bottleneck segment, 0 if any segment is closed."""
        segs = self.segments
        if any([s.closed for s in segs]):
            return 0.0
        return min([s.capacity for s in segs])

    def cost(self) -> float:
        return sum([s.cost for s in self.segments])

    def time(self) -> float:
        return sum([s.time for s in self.segments])

    def risk(self) -> float:
        """Probability that at least one segment is disrupted, segments independent."""
        return 1.0 - math.prod([1.0 - s.risk for s in self.segments])

    def generalized_cost(self, value_of_time: float, risk_premium: float) -> float:
        """USD per tonne: cost + value_of_time * time + risk_premium * risk."""
        return self.cost() + value_of_time * self.time() + risk_premium * self.risk()


# --- Assignment --------------------------------------------------------------------


@dataclass(slots=True)
class Assignment:
    """Volumes (Mt/yr, one per corridor in input order), unmet demand and total demand."""

    volumes: np.ndarray
    unmet: float
    demand: float


def assign(
    demand: float,
    corridors: list[Corridor],
    rule,
    value_of_time: float,
    risk_premium: float,
) -> Assignment:
    """Assign ``demand`` (Mt/yr) to ``corridors`` by ``rule`` (a route-choice rule from
    :mod:`abm.rules.route_choice`) within capacity.

    Capacity-restrained assignment with spill-over: split the remaining demand among
    routes with spare capacity; routes offered more than they hold are filled and the
    excess is split again, by the same rule, among the routes still open. Each round
    fills at least one route or places everything, so there are at most n rounds of
    O(n) work. What fits nowhere is ``unmet``.
    """
    if not (math.isfinite(demand) and demand >= 0):
        raise ValueError(f"demand must be finite and >= 0, got {demand}")
    n = len(corridors)
    if demand == 0 or n == 0:  # nothing to move, or nowhere to move it
        return Assignment(np.zeros(n), float(demand), float(demand))
    # plain floats: a market has a handful of routes, too few for numpy's per-call cost
    cap, volumes = [float(c.capacity()) for c in corridors], [0.0] * n
    gc = np.array([c.generalized_cost(value_of_time, risk_premium) for c in corridors], dtype=float)
    open_ = [k for k in range(n) if cap[k] > 0]
    remaining = float(demand)
    while open_ and remaining > 0:
        offer = (remaining * rule.shares(gc[open_])).tolist()
        room = [cap[k] - volumes[k] for k in open_]
        spill, still_open = 0.0, []
        for k, o, r in zip(open_, offer, room):
            if o >= r:  # filled: set to capacity exactly, so rounding never breaks the cap
                volumes[k] = cap[k]
                spill += o - r
            else:
                volumes[k] += o
                still_open.append(k)
        open_, remaining = still_open, spill  # nothing spilled: everything placed, stop
    return Assignment(np.array(volumes), max(remaining, 0.0), float(demand))


def assign_markets(
    demands: Mapping[str, float],
    corridors: list[Corridor],
    rule,
    value_of_time: float,
    risk_premium: float,
) -> tuple[np.ndarray, dict[str, float]]:
    """Assign each market's demand to its own corridors.

    Returns volumes aligned with ``corridors`` and unmet demand per market. Corridors
    of markets without demand carry nothing.
    """
    volumes = np.zeros(len(corridors))
    unmet: dict[str, float] = {}
    for market, demand in demands.items():
        idx = [i for i, c in enumerate(corridors) if c.market == market]
        a = assign(demand, [corridors[i] for i in idx], rule, value_of_time, risk_premium)
        volumes[idx] = a.volumes
        unmet[market] = a.unmet
    return volumes, unmet


# --- Who gains ----------------------------------------------------------------------


def market_shares(markets, volumes: np.ndarray) -> np.ndarray:
    """Each corridor's share of the freight assigned in its market (0 in an empty market);
    ``markets``: each corridor's market, by name or by index."""
    markets = np.asarray(markets)
    code = markets if markets.dtype.kind == "i" else np.unique(markets, return_inverse=True)[1]  # names or market indices
    total = np.bincount(code, volumes)[code]
    return np.divide(volumes, total, out=np.zeros(len(volumes)), where=total > 0)


def transit_revenue(crossing: np.ndarray, volumes: np.ndarray, fee: float) -> np.ndarray:
    """Transit fees each state earns, USD bn per year: ``fee`` USD/t on every tonne of
    each corridor crossing it (``crossing[s, c]``; once per corridor). Mt x USD/t is
    USD m, hence the division by 1000."""
    return crossing @ volumes * fee / 1000.0


def sponsor_leverage(crossing: np.ndarray, stakes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Leverage of each power over each state (S x M): the sum, over the corridors
    crossing the state, of the power's stake times the corridor's market share. A
    power holding the whole of the only busy route through a state scores 1 there."""
    return (crossing * shares[None, :]) @ stakes


# --- The network inside a model -----------------------------------------------------


class CorridorNetwork:
    """The scenario's corridors and freight markets as they evolve in a run.

    Each step: upgrades due in the period open, closures that have run out lift, demand
    grows, freight is assigned, and then risk added by shocks fades toward each segment's
    base risk (so a shock is priced in full in the period it lands). The results feed
    back into the agents: transit revenue for the states on the paths (welfare) and
    leverage for the sponsors (a bonus on their offers to those states, weighted by
    ``utility.corridor``).
    """

    def __init__(self, scenario, rule, state_keys: list[str], power_keys: list[str]):
        self.freight = scenario.freight
        self.rule = rule
        self.ids = list(scenario.corridors)
        self.corridors = [
            Corridor(cid, spec.market, [SegmentState(s.node, s.capacity, s.cost, s.time, s.risk, s.closed) for s in spec.segments], dict(spec.sponsors))
            for cid, spec in scenario.corridors.items()
        ]
        self.base_risk = [np.array([s.risk for s in c.segments]) for c in self.corridors]
        # each with its path in the scenario as its id in events.csv (a list has no keys)
        self.upgrades = sorted(((u.date, cid, f"corridors.{cid}.upgrades.{k}", u) for cid, spec in scenario.corridors.items() for k, u in enumerate(spec.upgrades)), key=lambda item: (item[0], item[1]))
        self.groups: dict[str, list[int]] = {}
        for k, spec in enumerate(scenario.corridors.values()):
            if spec.group:
                self.groups.setdefault(spec.group, []).append(k)
        self.markets = sorted({c.market for c in self.corridors})
        self.market_of = np.array([self.markets.index(c.market) for c in self.corridors])  # index into markets
        self.columns = [f"corridor_{cid}_{what}" for cid in self.ids for what in ("volume", "share")]  # metrics(), in order
        self.leg_columns = {group: [f"{group}_leg_share_{self.ids[k]}" for k in members] for group, members in self.groups.items()}
        self.state_index = {k: n for n, k in enumerate(state_keys)}
        self.power_index = {k: n for n, k in enumerate(power_keys)}
        self.closures: list[tuple[int, str, str, list[SegmentState]]] = []  # (reopen at step, corridor, node, segments shut)
        self.volumes = np.zeros(len(self.corridors))
        self.shares = np.zeros(len(self.corridors))
        self.unmet: dict[str, float] = dict.fromkeys(self.markets, 0.0)
        self.crossing = np.array([[key in c.path for c in self.corridors] for key in state_keys], dtype=float).reshape(len(state_keys), len(self.corridors))
        self.revenue = np.zeros(len(state_keys))
        self.leverage = np.zeros((len(state_keys), len(power_keys)))
        self.refresh_sponsors()

    def refresh_sponsors(self) -> None:
        """``sponsors_route[s, p]``: power p sponsors a route crossing state s; and the
        routes a sponsor's investment in a state goes into."""
        self.stakes = np.zeros((len(self.corridors), len(self.power_index)))
        for k, c in enumerate(self.corridors):
            for power, stake in c.sponsors.items():
                self.stakes[k, self.power_index[power]] = stake
        self.sponsors_route = np.zeros((len(self.state_index), len(self.power_index)), dtype=bool)
        self.sponsored: dict[tuple[int, int], list[Corridor]] = {}
        for c in self.corridors:
            for node in set(c.path) & self.state_index.keys():
                for power in c.sponsors:
                    key = (self.state_index[node], self.power_index[power])
                    self.sponsors_route[key] = True
                    self.sponsored.setdefault(key, []).append(c)

    def corridor(self, cid: str) -> Corridor:
        return self.corridors[self.ids.index(cid)]

    def add_risk(self, node: str, amount: float) -> int:
        """Raise (or lower) the risk of the node's segments on every corridor; returns how many."""
        return sum(c.add_risk(node, amount) for c in self.corridors)

    def set_base_risk(self, node: str, risk: float, corridors: list[str] = ()) -> None:
        """Set the base and current risk of the segments at ``node``, on ``corridors`` (ids) or, if none, on all."""
        for c, base in zip(self.corridors, self.base_risk):
            if corridors and c.id not in corridors:
                continue
            for k, seg in enumerate(c.segments):
                if seg.node == node:
                    seg.risk = base[k] = risk

    def demand(self, years: float) -> dict[str, float]:
        f = self.freight
        return {m: f.demand.get(m, 0.0) * (1.0 + f.growth.get(m, 0.0)) ** years for m in self.markets}

    def invest(self, state: int, power: int, size: float) -> None:
        """Sponsor investment (USD bn) accepted by a state on the sponsor's routes goes,
        split evenly among those routes, into each route's bottleneck: the segment with
        the least capacity, wherever it lies (a Caspian port, a border crossing), since
        that is what limits the route. Closed segments are no exception: a link not yet
        built is what money builds, and a closure by an event or a coerced state is a
        political act that may end, while the capacity stays."""
        routes = self.sponsored.get((state, power), [])
        for route in routes:
            bottleneck = min(route.segments, key=attrgetter("capacity"))
            bottleneck.capacity += size * self.freight.capacity_per_bn / len(routes)

    def close(self, cid: str, node: str) -> None:
        """Close a node's segments (an event): no pending reopening of a coercion's may undo
        it, only a scheduled upgrade that opens them (``open: true``)."""
        corridor = self.corridor(cid)
        corridor.close(node)
        closed = {id(seg) for seg in corridor.segments if seg.node == node}  # by identity: another route's segment may be equal in every figure
        for _, _, _, shut in self.closures:
            shut[:] = [seg for seg in shut if id(seg) not in closed]

    def close_for(self, state_key: str, power_key: str, until: int) -> list[str]:
        """A state closes its open segments of the routes a power sponsors for the
        periods up to and including step ``until``; returns the corridors' ids. Only the
        segments this closure shut are reopened when it ends, so a link not yet built
        stays shut."""
        closed = []
        for c in self.corridors:
            if power_key not in c.sponsors:
                continue
            shut = [seg for seg in c.segments if seg.node == state_key and not seg.closed]
            for seg in shut:
                seg.closed = True
            if shut:
                self.closures.append((until, c.id, state_key, shut))
                closed.append(c.id)
        return closed

    def step(self, step: int, end, years: float) -> list[tuple[str, dict, str, dt.date | None]]:
        """Advance one period, up to ``end``: the upgrades dated before it not yet made are
        the period's. Return the upgrades and reopenings that happened (kind, parameters,
        id and date: an upgrade's path in the scenario and its date, none for a reopening)."""
        happened = []
        while self.upgrades and self.upgrades[0][0] < end:
            on, cid, key, up = self.upgrades.pop(0)
            c = self.corridor(cid)
            c.upgrade(up.node, capacity_add=up.capacity_add, cost_factor=up.cost_factor, time_cut=up.time_cut)
            if up.open:
                c.open(up.node)
            happened.append(("corridor_upgrade", {"corridor": cid, **up.model_dump(mode="json", exclude={"date"})}, key, on))
        for closure in [x for x in self.closures if x[0] < step]:
            _, cid, node, shut = closure
            for seg in shut:
                seg.closed = False
            self.closures.remove(closure)
            why = {} if shut else {"no_effect": "a corridor_close event has closed its segments since"}  # close() emptied the list
            happened.append(("corridor_reopen", {"corridor": cid, "node": node, **why}, "", None))
        self.assign(years)
        # added risk fades after this period's freight has priced it
        recovery = self.freight.risk_recovery
        for c, base in zip(self.corridors, self.base_risk):
            for seg, b in zip(c.segments, base):
                seg.risk = seg.risk + recovery * (b - seg.risk) if seg.risk > b else seg.risk
        return happened

    def assign(self, years: float) -> None:
        f = self.freight
        self.volumes, self.unmet = assign_markets(self.demand(years), self.corridors, self.rule, f.value_of_time, f.risk_premium)
        self.shares = market_shares(self.market_of, self.volumes)
        self.revenue = transit_revenue(self.crossing, self.volumes, f.transit_fee)
        self.leverage = sponsor_leverage(self.crossing, self.stakes, self.shares)

    def metrics(self) -> dict[str, float]:
        """Per-step corridor columns: volume and market share per corridor, unmet
        demand, and each leg's share within its group (e.g. the INSTC legs)."""
        volumes = self.volumes.tolist()  # plain floats: a handful of corridors
        out = dict(zip(self.columns, (x for pair in zip(volumes, self.shares.tolist()) for x in pair)))
        for group, members in sorted(self.groups.items()):
            legs = [volumes[k] for k in members]
            total = sum(legs)
            out.update(zip(self.leg_columns[group], [v / total for v in legs] if total > 0 else [0.0] * len(members)))
        out["unmet_demand"] = float(sum(self.unmet.values()))
        return out
