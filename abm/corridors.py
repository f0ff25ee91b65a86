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

Pure module: numpy only, no Mesa, no other ``abm`` modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

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

    def upgrade(self, node: str, capacity_add: float = 0.0, cost_factor: float = 1.0) -> int:
        """Add capacity (Mt/yr) to the node's segments and scale their cost by ``cost_factor``."""
        if cost_factor < 0:
            raise ValueError("cost_factor must be >= 0")
        segs = self._at(node)
        for s in segs:
            s.capacity = max(0.0, s.capacity + capacity_add)
            s.cost *= cost_factor
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
        if any(s.closed for s in self.segments):
            return 0.0
        return min(s.capacity for s in self.segments)

    def cost(self) -> float:
        return sum(s.cost for s in self.segments)

    def time(self) -> float:
        return sum(s.time for s in self.segments)

    def risk(self) -> float:
        """Probability that at least one segment is disrupted, segments independent."""
        return 1.0 - math.prod(1.0 - s.risk for s in self.segments)

    def generalized_cost(self, value_of_time: float, risk_premium: float) -> float:
        """USD per tonne: cost + value_of_time * time + risk_premium * risk."""
        return self.cost() + value_of_time * self.time() + risk_premium * self.risk()


# --- Route-choice rules ------------------------------------------------------------

CHOICE_RULES: dict[str, type[ChoiceRule]] = {}


class UnknownRuleError(KeyError):
    """Raised for a choice-rule name that is not registered; lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ChoiceRule:
    """Splits demand among routes given their generalized costs."""

    name: ClassVar[str]

    def shares(self, gcs: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def register_choice(name: str) -> Callable[[type[ChoiceRule]], type[ChoiceRule]]:
    """Class decorator: make a rule selectable by ``name``."""

    def deco(cls: type[ChoiceRule]) -> type[ChoiceRule]:
        if name in CHOICE_RULES:
            raise ValueError(f"choice rule '{name}' registered twice")
        cls.name = name
        CHOICE_RULES[name] = cls
        return cls

    return deco


def known_choice_rules() -> list[str]:
    return sorted(CHOICE_RULES)


def get_choice_rule(name: str, **params: float) -> ChoiceRule:
    """Build the rule registered as ``name`` with ``params``; unknown params are a TypeError."""
    try:
        cls = CHOICE_RULES[name]
    except KeyError:
        raise UnknownRuleError(
            f"unknown choice rule '{name}'; known choice rules: {', '.join(known_choice_rules())}"
        ) from None
    return cls(**params)


@register_choice("logit")
class Logit(ChoiceRule):
    """Multinomial logit, share_i = exp(-beta gc_i) / sum_j exp(-beta gc_j).

    Random-utility route choice: shippers see gc plus i.i.d. Gumbel noise of scale
    1/beta and pick the best, so cheaper routes get more but never all the freight
    (Ben-Akiva & Lerman 1985, ch. 5). ``beta`` (per USD/t) is cost sensitivity.
    """

    def __init__(self, beta: float = 0.05):
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"logit beta must be finite and > 0, got {beta}")
        self.beta = float(beta)

    def shares(self, gcs: np.ndarray) -> np.ndarray:
        gcs = np.asarray(gcs, dtype=float)
        w = np.exp(-self.beta * (gcs - gcs.min()))  # shift by min: no overflow, same shares
        return w / w.sum()

    def __repr__(self) -> str:
        return f"Logit(beta={self.beta})"


@register_choice("cheapest")
class Cheapest(ChoiceRule):
    """All-or-nothing: all demand to the lowest-cost route, ties to the first listed."""

    def shares(self, gcs: np.ndarray) -> np.ndarray:
        gcs = np.asarray(gcs, dtype=float)
        out = np.zeros_like(gcs)
        out[int(np.argmin(gcs))] = 1.0
        return out


@register_choice("proportional")
class Proportional(ChoiceRule):
    """Shares proportional to 1 / gc: a gentler cost response than logit, scale-free."""

    def shares(self, gcs: np.ndarray) -> np.ndarray:
        gcs = np.asarray(gcs, dtype=float)
        if np.any(gcs <= 0):
            raise ValueError("proportional choice needs generalized costs > 0")
        w = 1.0 / gcs
        return w / w.sum()


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
    rule: ChoiceRule | str,
    value_of_time: float,
    risk_premium: float,
) -> Assignment:
    """Assign ``demand`` (Mt/yr) to ``corridors`` by ``rule`` within capacity.

    Capacity-restrained assignment with spill-over: split the remaining demand among
    routes with spare capacity; routes offered more than they hold are filled and the
    excess is split again, by the same rule, among the routes still open. Each round
    fills at least one route or places everything, so there are at most n rounds of
    O(n) work. What fits nowhere is ``unmet``.
    """
    if not (math.isfinite(demand) and demand >= 0):
        raise ValueError(f"demand must be finite and >= 0, got {demand}")
    if isinstance(rule, str):
        rule = get_choice_rule(rule)
    n = len(corridors)
    volumes = np.zeros(n)
    if demand == 0 or n == 0:  # nothing to move, or nowhere to move it
        return Assignment(volumes, float(demand), float(demand))
    cap = np.array([c.capacity() for c in corridors], dtype=float)
    gc = np.array([c.generalized_cost(value_of_time, risk_premium) for c in corridors])
    remaining = float(demand)
    full = cap <= 0
    for _ in range(n):
        open_ = np.flatnonzero(~full)
        if open_.size == 0 or remaining <= 0:
            break
        offer = remaining * rule.shares(gc[open_])
        room = cap[open_] - volumes[open_]
        over = offer >= room
        # Filled routes are set to capacity exactly, so rounding never breaks the cap.
        volumes[open_] = np.where(over, cap[open_], volumes[open_] + offer)
        full[open_[over]] = True
        remaining = float(np.sum(np.where(over, offer - room, 0.0)))
    return Assignment(volumes, max(remaining, 0.0), float(demand))


def assign_markets(
    demands: Mapping[str, float],
    corridors: list[Corridor],
    rule: ChoiceRule | str,
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


def transit_revenue(
    corridors: Iterable[Corridor],
    volumes: Iterable[float],
    fee_per_tonne: Mapping[str, float] | float,
) -> dict[str, float]:
    """Transit fees earned by each node, in USD bn per year.

    A node earns its fee (USD/t; a dict per node, missing nodes earn 0, or one fee for
    all) on every tonne of each corridor whose path includes it, counted once per
    corridor. Mt * USD/t = USD m, divided by 1000 for USD bn. Every node on some path
    is a key.
    """
    per_node = isinstance(fee_per_tonne, Mapping)
    revenue: dict[str, float] = {}
    for c, v in zip(corridors, volumes, strict=True):
        for node in dict.fromkeys(c.path):  # once per corridor even if a node recurs
            fee = fee_per_tonne.get(node, 0.0) if per_node else fee_per_tonne
            revenue[node] = revenue.get(node, 0.0) + float(v) * float(fee) / 1000.0
    return revenue


def sponsor_leverage(corridors: Iterable[Corridor], volumes: Iterable[float]) -> dict[str, float]:
    """Each power's sum over corridors of stake * the corridor's share of its market's volume.

    A power holding all of every busy route in two markets scores 2; a market with no
    freight gives no leverage. Every sponsor is a key.
    """
    corridors = list(corridors)
    vols = np.asarray(list(volumes), dtype=float)
    if vols.shape != (len(corridors),):
        raise ValueError("need one volume per corridor")
    totals: dict[str, float] = {}
    for c, v in zip(corridors, vols, strict=True):
        totals[c.market] = totals.get(c.market, 0.0) + v
    lev: dict[str, float] = {}
    for c, v in zip(corridors, vols, strict=True):
        share = v / totals[c.market] if totals[c.market] > 0 else 0.0
        for power, stake in c.sponsors.items():
            lev[power] = lev.get(power, 0.0) + stake * share
    return lev
