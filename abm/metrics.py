"""Metrics of the region, as pure functions of arrays, and the per-step reporters.

Definitions (docs/ODD.md gives the formulas and sources in full):

* fragmentation: mean pairwise Jensen-Shannon distance (base 2, in [0, 1]) between the
  states' alignment vectors (Lin 1991; Endres & Schindelin 2003 for the metric). 0 when
  every state has the same patrons in the same proportions, 1 when every pair of
  states relies on disjoint patrons.
* integration: the mean of three components in [0, 1], after composite indices of
  regional integration such as ADB's ARCII (Huh & Park 2018): the intra-group trade
  share, the mean neighbour relation rescaled to [0, 1], and the share of state pairs
  that sit together in a regional format.
* polarization: Esteban & Ray (1994) over alignment blocs, normalised so that two
  equal blocs at maximal distance give 1.
* blocs: number of alignment blocs, by a named method (modularity communities found by
  Louvain, Blondel et al. 2008; single-linkage components; or main patron).
* dependency HHI: Herfindahl-Hirschman index of a state's ties over patrons.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import connected_components

_LOG2 = np.log(2.0)


def _kl_terms(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p / m), 0.0)


def js_distance_matrix(a: np.ndarray) -> np.ndarray:
    """Pairwise Jensen-Shannon distances (base 2) between the rows of ``a`` (N x M)."""
    p = a[:, None, :]
    q = a[None, :, :]
    m = (p + q) / 2.0
    jsd = 0.5 * (_kl_terms(p, m) + _kl_terms(q, m)).sum(axis=2) / _LOG2
    return np.sqrt(np.clip(jsd, 0.0, 1.0))


def mean_pairwise(d: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Mean of the off-diagonal entries of a symmetric matrix (restricted to ``idx``)."""
    if idx is not None:
        d = d[np.ix_(idx, idx)]
    n = d.shape[0]
    if n < 2:
        return 0.0
    return float((d.sum() - np.trace(d)) / (n * (n - 1)))


def hhi(a: np.ndarray) -> np.ndarray:
    """Herfindahl-Hirschman index of each row of shares (1/M for even spread, 1 for one patron)."""
    return (a * a).sum(axis=-1)


def blocs(a: np.ndarray, d: np.ndarray, method: str, similarity: float) -> np.ndarray:
    """Label each state with its alignment bloc.

    * ``louvain``: communities maximising modularity of the graph linking states whose
      similarity ``1 - JS distance`` is at least ``similarity``, weighted by it
      (fixed seed, so the labels do not consume the model's random stream);
    * ``single_linkage``: connected components of that graph (cheap, for large worlds);
    * ``main_patron``: states grouped by the power holding their largest share.
    """
    n = a.shape[0]
    if method == "main_patron":
        return np.unique(a.argmax(axis=1), return_inverse=True)[1]
    sim = 1.0 - d
    adj = (sim >= similarity) & ~np.eye(n, dtype=bool)
    if method == "single_linkage":
        return connected_components(adj, directed=False)[1]
    if method == "louvain":
        g = nx.Graph()
        g.add_nodes_from(range(n))
        ii, jj = np.nonzero(np.triu(adj))
        g.add_weighted_edges_from(zip(ii.tolist(), jj.tolist(), sim[ii, jj].tolist()))
        labels = np.empty(n, dtype=int)
        for k, community in enumerate(nx.community.louvain_communities(g, weight="weight", seed=0)):
            labels[list(community)] = k
        return labels
    raise ValueError(f"unknown blocs method '{method}'")


def esteban_ray(a: np.ndarray, labels: np.ndarray, alpha: float) -> float:
    """Esteban-Ray polarization of states grouped by ``labels``.

    ``P = K * sum_g sum_h pi_g^(1+alpha) * pi_h * delta(g, h)`` with ``pi`` the bloc
    shares, ``delta`` the JS distance between the blocs' mean alignments, and
    ``K = 2^(1+alpha)`` so that two equal blocs at distance 1 give 1 (the maximum for
    ``1 <= alpha <= 1.6``, Esteban & Ray 1994, Theorem 1).
    """
    groups = np.unique(labels)
    if len(groups) < 2:
        return 0.0
    pi = np.array([(labels == g).mean() for g in groups])
    centres = np.array([a[labels == g].mean(axis=0) for g in groups])
    delta = js_distance_matrix(centres)
    value = 2.0 ** (1.0 + alpha) * float((pi ** (1.0 + alpha)) @ delta @ pi)
    return min(value, 1.0)


def trade_share(pair_i, pair_j, trade, total_trade, members: np.ndarray) -> float:
    """Intra-group trade share: trade among ``members`` over their total trade (ADB ARIC)."""
    inside = members[pair_i] & members[pair_j]
    denom = float(total_trade[members].sum())
    return 2.0 * float(trade[inside].sum()) / denom if denom > 0 else 0.0


def integration(pair_i, pair_j, trade, relation, total_trade, shared_format, members: np.ndarray) -> float:
    """Composite integration of a group of states, in [0, 1] (see module docstring).

    ``shared_format`` is an N x N boolean matrix: do states i and j sit together in a
    regional format. Components without data (no neighbour pairs) are left out.
    """
    parts = [trade_share(pair_i, pair_j, trade, total_trade, members)]
    inside = members[pair_i] & members[pair_j]
    if inside.any():
        parts.append(float(((1.0 + relation[inside]) / 2.0).mean()))
    idx = np.flatnonzero(members)
    if len(idx) >= 2:
        parts.append(mean_pairwise(shared_format.astype(float), idx))
    return float(np.mean(parts))


# --------------------------------------------------------------------------- reporters


def cohesion(d: np.ndarray, pair_i, pair_j, relation, members: np.ndarray) -> float:
    """Cohesion of a regional format: mean of the members' pairwise alignment
    similarity (1 - JS distance) and of their neighbour relations rescaled to [0, 1]."""
    if len(members) < 2:
        return 1.0 if len(members) == 1 else 0.0
    parts = [1.0 - mean_pairwise(d, members)]
    inside = np.isin(pair_i, members) & np.isin(pair_j, members)
    if inside.any():
        parts.append(float(((1.0 + relation[inside]) / 2.0).mean()))
    return float(np.mean(parts))


def model_reporters(names: list[str]) -> dict[str, Callable]:
    """One reporter per model column, in output order. Every value is computed once per
    step by ``RegionModel.measure`` into ``model.metrics``; reporters only read it, so
    the columns are declared in one place: ``measure``."""
    return {name: (lambda m, name=name: m.metrics[name]) for name in names}


def state_reporters(power_keys: list[str]) -> dict[str, Callable]:
    """Every per-step column of each regional state."""
    reporters: dict[str, Callable] = {"state": lambda s: s.key}
    for k, p in enumerate(power_keys):
        reporters[f"alignment_{p}"] = lambda s, k=k: float(s.alignment[k])
    for k, p in enumerate(power_keys):
        reporters[f"declared_{p}"] = lambda s, k=k: float(s.declared[k])
    for k, p in enumerate(power_keys):
        reporters[f"opinion_{p}"] = lambda s, k=k: float(s.opinion[k])
    reporters["dependency_hhi"] = lambda s: s.dependency_hhi
    reporters["welfare"] = lambda s: s.welfare
    return reporters
