"""Pairs of neighbouring states and what lies between them: relation, border, trade.

Kept as parallel arrays (one entry per unordered pair) so the neighbours rules update
every pair in a few vector operations.
"""

from __future__ import annotations

import numpy as np


class NeighbourPairs:
    def __init__(self, states: dict, state_keys: list[str]):
        index = {k: n for n, k in enumerate(state_keys)}
        seen: dict[tuple[int, int], object] = {}
        for key, spec in states.items():
            for other, rel in spec.neighbours.items():
                a, b = sorted((index[key], index[other]))
                seen.setdefault((a, b), rel)  # declared once, or alike on both sides (abm.scenario refuses a conflict)
        pairs = sorted(seen)
        self.n = len(pairs)
        self.i = np.array([a for a, _ in pairs], dtype=int)
        self.j = np.array([b for _, b in pairs], dtype=int)
        self.relation = np.array([seen[p].relation for p in pairs], dtype=float)
        self.border_open = np.array([seen[p].border_open for p in pairs], dtype=bool)
        self.trade = np.array([seen[p].trade for p in pairs], dtype=float)
        gdp = np.array([states[k].gdp for k in state_keys])
        self.gdp_i, self.gdp_j = gdp[self.i], gdp[self.j]
        self.shared = np.zeros(self.n)  # organisations both belong to (set by Organisations.refresh)
        self.spill = np.ones(self.n)  # rivalry spill-over multiplier (idem)
        self.lookup = {p: k for k, p in enumerate(pairs)}
        # the settlement relations return to, and the trade intensity and inherited
        # rivalry it was made under (set by ``settle``: at the start and by treaties)
        self.anchor = self.relation.copy()
        self.settled_intensity = self.intensity()
        self.settled_rivalry = np.zeros(self.n)

    def intensity(self) -> np.ndarray:
        """Bilateral trade over the smaller economy's GDP."""
        return self.trade / np.minimum(self.gdp_i, self.gdp_j)

    def inherited_rivalry(self, model) -> np.ndarray:
        """Rivalry each pair inherits from its patrons: ``a_i' H a_j`` with ``H`` the
        symmetrised rivalry, times the regional format's spill-over multiplier."""
        return self.spill * ((model.alignment[self.i] @ model.hostility) * model.alignment[self.j]).sum(axis=1)

    def settle(self, k, model, relation: float | None = None) -> None:
        """Make the pair's present the reference its relation returns to (all pairs
        when ``k`` is None), optionally at a new ``relation``."""
        k = slice(None) if k is None else k
        if relation is not None:
            self.relation[k] = relation
        self.anchor[k] = self.relation[k]
        self.settled_intensity[k] = self.intensity()[k]
        self.settled_rivalry[k] = self.inherited_rivalry(model)[k]

    def find(self, a: int, b: int) -> int | None:
        return self.lookup.get((min(a, b), max(a, b)))

    def trade_by_state(self, n_states: int) -> np.ndarray:
        """Each state's total trade with its regional neighbours (USD bn per year)."""
        return np.bincount(self.i, self.trade, n_states) + np.bincount(self.j, self.trade, n_states)
