"""Metrics of the region, as pure functions of arrays, and the per-step reporters.

Definitions (docs/ODD.md gives the formulas and sources in full). A state's alignment
vector holds its share of ties with every modelled power and, last, the share held by
partners the model does not name ("other"); a state without ties to any modelled power
is aligned with "other", not evenly with every power.

* fragmentation: mean pairwise Jensen-Shannon distance (base 2, in [0, 1]) between the
  states' alignment vectors (Lin 1991; Endres & Schindelin 2003 for the metric): how
  different their portfolios of patrons are.
* division: mean pairwise rivalry between the states' patrons, ``a_i' R a_j`` with R
  the symmetric rivalry matrix in [0, 1]: the variant of fragmentation that counts a
  Russia-aligned and a US-aligned pair as divided and a Russia-aligned and a
  China-aligned pair (not rivals) as not.
* integration: a composite of normalised indicators with documented weights, after
  ADB's Asia-Pacific Regional Cooperation and Integration Index (Huh & Park 2018):
  intra-group trade share over a reference ceiling, mean neighbour relation rescaled
  to [0, 1], and institutional overlap (pairs sharing a regional format count 1,
  pairs sharing only a power-led club count ``club_overlap``).
* polarization: Duclos, Esteban & Ray (2004) in alignment space with a triangular
  kernel: continuous in the alignments (no thresholded groups), 0 at consensus and 1
  for two equal camps at the largest distance.
* blocs: number of alignment blocs, by a named method (main patron, the default: one
  camp per power leading at least one state; modularity communities found by Louvain,
  Blondel et al. 2008; or single-linkage components).
* dependency HHI: Herfindahl-Hirschman index of a state's ties over the modelled
  powers (0 for a state tied only to "other").
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import mesa
import networkx as nx
import numpy as np
from scipy.sparse.csgraph import connected_components

from abm.scenario import state_columns

_LOG2 = np.log(2.0)


def _plogp(x: np.ndarray) -> np.ndarray:
    """x log x, with 0 log 0 = 0."""
    return x * np.log(np.where(x > 0, x, 1.0))


def js_distance_matrix(a: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Pairwise Jensen-Shannon distances (base 2) between the rows of ``a`` (N x M).

    Uses JSD(P, Q) = H((P + Q) / 2) - (H(P) + H(Q)) / 2 with H the Shannon entropy,
    one logarithm per pair and power instead of two. Only the upper triangle is computed
    (the lower is its mirror: the formula is symmetric to the last bit), in row blocks of
    about ``block`` pair-power values, so memory stays O(N^2) with no N x N x M temporary.
    """
    n, m = a.shape
    neg_entropy = _plogp(a).sum(axis=1)  # -H of each row
    half = a * 0.5  # P/2 + Q/2 is (P + Q)/2 exactly: halving a double only moves its exponent
    d = np.empty((n, n))
    rows = max(1, block // max(1, n * m))
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        mix = half[r0:r1, None, :] + half[None, r0:, :]  # rows r0..r1 against columns r0..n
        plogp = np.log(mix, out=np.zeros_like(mix), where=mix > 0)  # _plogp in place: 0 log 0 = 0
        plogp *= mix
        jsd = ((neg_entropy[r0:r1, None] + neg_entropy[None, r0:]) / 2.0 - plogp.sum(axis=2)) / _LOG2
        d[r0:r1, r0:] = np.sqrt(np.minimum(np.maximum(jsd, 0.0), 1.0))  # = np.clip, without its Python wrapper
        if r1 < n:
            d[r1:, r0:r1] = d[r0:r1, r1:].T
    return d


def mean_pairwise(d: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean of the off-diagonal entries of a symmetric matrix (restricted to ``idx``)."""
    if idx is not None:
        d = d[:, idx][idx]  # = d[np.ix_(idx, idx)], also C-ordered (so the same sum), in half the time
    n = d.shape[0]
    if n < 2:
        return 0.0
    return float((d.sum() - d.trace()) / (n * (n - 1)))


def hhi(a: np.ndarray) -> np.ndarray:
    """Herfindahl-Hirschman index of each row of shares (1/M for even spread, 1 for one patron)."""
    return (a * a).sum(axis=-1)


def by_main_patron(a: np.ndarray, d: np.ndarray, similarity: float, order: np.ndarray) -> np.ndarray:
    """States grouped by the power holding their largest share (states tied to no modelled
    power form one group; an exact tie goes to the first power listed, as the main
    threat's, ODD 7.8); ``d``, ``similarity`` and ``order`` are not read. The labels are
    the ranks of the leading powers (np.unique's inverse, without its sort)."""
    patron = np.where(a.max(axis=1) > 0, a.argmax(axis=1), a.shape[1])  # states tied to no power: a camp of their own
    leads = np.zeros(a.shape[1] + 1, dtype=np.intp)
    leads[patron] = 1
    return (np.cumsum(leads) - 1)[patron]


def by_single_linkage(a: np.ndarray, d: np.ndarray, similarity: float, order: np.ndarray) -> np.ndarray:
    """Connected components of the graph linking states whose similarity ``1 - JS
    distance`` is at least ``similarity`` (cheap, for large worlds; ``order`` is not read:
    components do not depend on it)."""
    return connected_components(1.0 - d >= similarity, directed=False)[1]


def by_louvain(a: np.ndarray, d: np.ndarray, similarity: float, order: np.ndarray) -> np.ndarray:
    """Communities maximising the modularity of that graph (fixed seed, so the labels do
    not consume the model's random stream; results are cached by graph, which changes far
    less often than the alignments). Louvain is a heuristic whose result depends on the
    order it visits the nodes, so the graph is built with the states in ``order``: the
    same alignments then give the same blocs however the scenario lists the states. The graph's
    diagonal (a state and itself) changes no community."""
    labels = np.empty(len(order), dtype=int)
    labels[order] = _louvain(len(order), np.packbits((1.0 - d >= similarity)[np.ix_(order, order)]).tobytes())
    return labels


BLOCS = {"main_patron": by_main_patron, "single_linkage": by_single_linkage, "louvain": by_louvain}  # metrics.blocs_method


def blocs(a: np.ndarray, d: np.ndarray, method: str, similarity: float, order: np.ndarray | None = None) -> np.ndarray:
    """Label each state with its alignment bloc, by ``method`` (a key of :data:`BLOCS`).
    ``order`` lists the states in a canonical order, the model's by key (default: as
    given), which an order-dependent method follows."""
    return BLOCS[method](a, d, similarity, np.arange(len(a)) if order is None else order)


@functools.lru_cache(maxsize=256)
def _louvain(n: int, packed: bytes) -> np.ndarray:
    adj = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n * n).reshape(n, n).astype(bool)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    ii, jj = np.nonzero(np.triu(adj, 1))
    g.add_edges_from(zip(ii.tolist(), jj.tolist()))
    labels = np.empty(n, dtype=int)
    # communities sorted by their smallest member (in the order given), so labels do not depend on set order
    for k, community in enumerate(sorted(nx.community.louvain_communities(g, seed=0), key=min)):
        labels[list(community)] = k
    return labels


def polarization(d: np.ndarray, alpha: float, bandwidth: float) -> float:
    """Duclos-Esteban-Ray polarization of the states in alignment space.

    ``P = sum_i sum_j f_i^alpha d_ij / N^2``, normalised by its value for two equal
    camps at distance 1 (``0.5^(1 + alpha)``). ``f_i`` is the share of states within
    reach of state i, weighted by the triangular kernel ``max(0, 1 - d / bandwidth)``:
    the identification term of Duclos, Esteban & Ray (2004, Econometrica 72(6)),
    made continuous so that a small move of one state moves P a little.
    """
    n = d.shape[0]
    if n < 2:
        return 0.0
    density = np.maximum(0.0, 1.0 - d / bandwidth).sum(axis=1) / n
    value = float((density**alpha) @ d.sum(axis=1)) / (n * n) / 0.5 ** (1.0 + alpha)
    return min(value, 1.0)


def division(a: np.ndarray, rivalry: np.ndarray, members: np.ndarray | None = None) -> float:
    """Mean pairwise rivalry between the patrons of two states: ``a_i' R a_j`` averaged
    over pairs (of ``members``, a boolean mask over states; all by default), with ``R``
    symmetric in [0, 1] (zero diagonal) and ``a`` the alignments over the modelled powers.
    In [0, 1]; 0 when no pair leans to rival powers, or with fewer than two members."""
    members = np.ones(len(a), dtype=bool) if members is None else members
    no_pairs = np.zeros(0, dtype=np.intp)  # neighbour pairs: not read by this metric
    return Groups([Group(members, no_pairs, no_pairs)]).mean_pairwise(a @ rivalry @ a.T)[0]


class Group:
    """A group of states (``members``: boolean mask over states) and the neighbour pairs
    inside it: what the group metrics select by. A model builds its groups once (the
    subregions) or when memberships change (the regional formats)."""

    def __init__(self, members: np.ndarray, pair_i, pair_j):
        self.members = members
        self.idx = np.flatnonzero(members)
        self.inside = members[pair_i] & members[pair_j]
        self.has_pairs = bool(self.inside.any())

    def mean_pairwise(self, d: np.ndarray) -> float | None:
        """Mean of ``d`` (N x N, symmetric) over member pairs; None with fewer than two members."""
        return mean_pairwise(d, self.idx) if len(self.idx) >= 2 else None


class Groups:
    """Several :class:`Group` objects measured together: each metric of all of them is a
    matrix product over a groups x states membership matrix, so a step's group metrics
    cost a few numpy calls, not a few per group. The one implementation of the group
    metrics: :func:`division`, :func:`trade_share` and :func:`integration` measure one group through it."""

    def __init__(self, groups: list[Group]):
        self.groups = groups
        n = len(groups[0].members) if groups else 0
        self.members = np.array([g.members for g in groups], dtype=float).reshape(len(groups), n)
        self.inside = np.array([g.inside for g in groups], dtype=float).reshape(len(groups), -1)
        size = self.members.sum(axis=1)
        self.pairs = size * (size - 1.0)  # ordered pairs of distinct members
        self.has_pairs = [g.has_pairs for g in groups]
        self.size = [len(g.idx) for g in groups]

    def __len__(self) -> int:
        return len(self.groups)

    def mean_pairwise(self, d: np.ndarray) -> list[float]:
        """Each group's mean of ``d``'s off-diagonal entries between its members; 0 with
        fewer than two members (as :func:`mean_pairwise`)."""
        g = self.members
        within = ((g @ d) * g).sum(axis=1) - g @ d.diagonal()
        return np.divide(within, self.pairs, out=np.zeros(len(g)), where=self.pairs > 0).tolist()

    def trade_shares(self, trade, total_trade) -> list[float]:
        """Each group's trade among its members over their total trade (ADB ARIC), both in
        USD bn a year; 0 without trade."""
        denom = self.members @ total_trade
        return np.divide(2.0 * (self.inside @ trade), denom, out=np.zeros(len(denom)), where=denom > 0).tolist()

    def relations(self, relation) -> list[float | None]:
        """Each group's mean relation of the neighbour pairs inside, rescaled from [-1, 1]
        to [0, 1] (None without such pairs)."""
        sums = (self.inside @ relation).tolist()
        counts = self.inside.sum(axis=1).tolist()
        return [(1.0 + s / c) / 2.0 if has else None for s, c, has in zip(sums, counts, self.has_pairs)]


def trade_share(pair_i, pair_j, trade, total_trade, members: np.ndarray) -> float:
    """Intra-group trade share: trade among ``members`` over their total trade (ADB
    ARIC), both in USD bn a year."""
    return Groups([Group(members, pair_i, pair_j)]).trade_shares(trade, total_trade)[0]


def integration(pair_i, pair_j, trade, relation, total_trade, overlap, members: np.ndarray, weights, trade_ceiling: float) -> float:
    """Composite integration of a group of states, in [0, 1] (see module docstring).

    Each indicator is normalised to [0, 1] before weighting (ARCII's method):
    the intra-group trade share divided by ``trade_ceiling`` (capped at 1); the mean
    relation of neighbour pairs inside the group, rescaled from [-1, 1]; and the mean
    institutional ``overlap`` of member pairs (N x N, in [0, 1]). ``weights`` are
    (trade, relations, institutions); a component without data (no neighbour pairs
    inside, fewer than two members) is left out and the others reweighted.
    """
    group = Group(members, pair_i, pair_j)
    one = Groups([group])
    return composite(one.trade_shares(trade, total_trade)[0], one.relations(relation)[0], group.mean_pairwise(overlap), weights, trade_ceiling)


def composite(trade_share: float, relation: float | None, institutions: float | None, weights, trade_ceiling: float) -> float:
    """The integration index from its three indicators (None: no data, left out and the
    others reweighted)."""
    components = (min(1.0, trade_share / trade_ceiling), relation, institutions)
    parts = [(w, v) for w, v in zip(weights, components) if v is not None]
    total = sum(w for w, _ in parts)
    return sum(w * v for w, v in parts) / total if total > 0 else 0.0


def cohesion(size: int, distance: float | None, relation: float | None) -> float:
    """Cohesion of a regional format of ``size`` members: mean of their pairwise alignment
    similarity (1 - their mean JS ``distance``) and of their neighbour relations rescaled
    to [0, 1] (``relation``, None without neighbour pairs inside). One member: 1; none: 0."""
    if size < 2:
        return 1.0 if size == 1 else 0.0
    parts = [1.0 - distance] + ([relation] if relation is not None else [])
    return sum(parts) / len(parts)


# --------------------------------------------------------------------------- reporters


def model_reporters(names: list[str]) -> dict[str, Callable]:
    """One reporter per model column, in output order. Every value is computed once per
    step by ``RegionModel.measure`` into ``model.metrics``, under the names
    ``Scenario.metric_columns`` gives; reporters only read it."""
    return {name: (lambda m, name=name: m.metrics[name]) for name in names}


def state_table(alignment, other, by_domain, declared, opinion, defections, welfare) -> np.ndarray:
    """Every state's values for :func:`state_columns` (states x columns), computed for all
    states at once; ``alignment`` is over the modelled powers, ``other`` the share of
    unnamed partners; ``by_domain`` (states x domains x powers) each domain's shares;
    ``defections`` is the remembered (decaying) count summed over powers."""
    n = len(alignment)
    return np.concatenate([alignment, other[:, None], by_domain.reshape(n, -1), declared, opinion, hhi(alignment)[:, None], defections.sum(axis=1)[:, None], welfare[:, None]], axis=1)


class Collector(mesa.DataCollector):
    """Mesa's DataCollector, filled without one Python call per column and state.

    Same tables as mesa's (``model_vars`` and the agent-type records), so
    ``get_model_vars_dataframe`` and ``get_agenttype_vars_dataframe`` give the same
    frames, value for value. The model row is read from ``model.metrics`` (mesa would
    call one reporter per column and deepcopy each number); the states' records are kept
    as the step's ``model.state_table`` (one array, where mesa would call one reporter
    per column and state) and spelled out as mesa's records only when asked for. The
    reporters stay declared: they name the columns, and mesa's code paths still work.

    ``records=False`` keeps the model rows alone: a run whose per-state and pair tables
    nobody reads (a sweep's, a calibration's) would otherwise hold a copy of them for
    every step, memory that grows with states^2 x steps.
    """

    def __init__(self, *args, records: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = records

    def collect(self, model):
        self._collection_steps.append(model.time)
        values = model.metrics
        for name, column in self.model_vars.items():
            column.append(values[name])
        if not self.records:
            return
        if not hasattr(self, "_tables"):
            (self._type,) = self.agenttype_reporters  # the states' type, whose reporters are ("state", *state_columns)
            self._states = [(a.unique_id, a.key) for a in model.agents_by_type[self._type]]
            self._tables: list[np.ndarray] = []
            self._pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # relation, border open, trade
        self._tables.append(model.state_table)
        pairs = model.pairs
        self._pairs.append((pairs.relation.copy(), pairs.border_open.copy(), pairs.trade.copy()))  # stacked only when asked for

    @property
    def _agenttype_records(self) -> dict:
        """Mesa's records, {step: {agent type: [(step, id, key, *values) per state]}}."""
        if not hasattr(self, "_tables"):
            return {}
        return {
            t: {self._type: [(t, uid, key, *row) for (uid, key), row in zip(self._states, table.tolist())]}
            for t, table in zip(self._collection_steps, self._tables)
        }

    @_agenttype_records.setter
    def _agenttype_records(self, value) -> None:
        pass  # mesa's __init__ starts it empty; the records come from the tables

    def agent_columns(self, agent_type) -> tuple[list[int], dict[str, np.ndarray | list]]:
        """The steps and the columns of ``agent_type``'s records, for building a table
        in one go (the same values as ``get_agenttype_vars_dataframe``)."""
        names = list(self.agenttype_reporters[agent_type])
        tables = getattr(self, "_tables", [])
        n = len(getattr(self, "_states", ()))
        values = np.vstack(tables) if tables else np.empty((0, len(names) - 1))
        steps = [int(t) for t in self._collection_steps for _ in range(n)]  # Mesa records the step as a float time
        keys = [key for _ in tables for _, key in self._states]
        return steps, {names[0]: keys, **{name: values[:, k] for k, name in enumerate(names[1:])}}

    def pair_columns(self, model) -> tuple[list[int], dict[str, np.ndarray | list]]:
        """The steps and the columns of the neighbour pairs' records: each pair's relation,
        whether its border is open, and its trade (USD bn a year), as they stood at each
        collection."""
        pairs, records = model.pairs, getattr(self, "_pairs", [])
        relation, border_open, trade = [np.concatenate(column) for column in zip(*records)] if records else [np.empty(0)] * 3
        keys = np.array(model.state_keys, dtype=object)
        return [int(t) for t, _ in zip(self._collection_steps, records) for _ in range(pairs.n)], {
            "state": np.tile(keys[pairs.i], len(records)),
            "neighbour": np.tile(keys[pairs.j], len(records)),
            "relation": relation,
            "border_open": border_open.astype(bool),
            "trade": trade,
        }


def state_reporters(power_keys: list[str]) -> dict[str, Callable]:
    """One reporter per state column; each reads the state's row of the step's
    ``model.state_table`` (so the values are computed once, in vector form)."""
    reporters: dict[str, Callable] = {"state": lambda s: s.key}
    for k, name in enumerate(state_columns(power_keys)):
        reporters[name] = lambda s, k=k: s.row[k]
    return reporters
