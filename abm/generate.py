"""Generated worlds of N states and M powers, for scaling studies and benchmarks.

A scenario with a ``generated:`` section gets its states and powers from
:func:`expand`, drawn from the section's own ``seed`` (the world is part of the
scenario, not of the run). Anything else in the scenario overrides the generated parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOOLS = ["bases", "energy", "trade_cutoff", "borderization", "diaspora", "information"]


def expand(spec) -> dict[str, Any]:
    rng = np.random.default_rng(spec.seed)
    n, m = spec.n_states, spec.n_powers
    states = [f"s{k:04d}" for k in range(n)]
    powers = [f"p{k:03d}" for k in range(m)]
    lat = rng.uniform(35.0, 55.0, n)
    lon = rng.uniform(40.0, 80.0, n)
    bins = np.linspace(40.0, 80.0, spec.n_subregions + 1)[1:-1]
    region = np.digitize(lon, bins)
    formats = [f"format_{r}" for r in range(spec.n_subregions)]
    nearest = _nearest(np.column_stack([lat, lon]), min(3, n - 1))

    out_states = {}
    for k, key in enumerate(states):
        patrons = rng.choice(m, size=min(m, int(rng.integers(1, 4))), replace=False)
        # each domain: the patrons hold 40-90% of it between them, the rest is 'other'
        ties = {d: dict(zip((powers[p] for p in patrons), np.floor(rng.uniform(0.4, 0.9) * rng.dirichlet(np.ones(len(patrons))) * 1000) / 1000)) for d in ("investment", "security", "trade")}
        ties = {d: {p: float(v) for p, v in shares.items()} for d, shares in ties.items()}
        out_states[key] = {
            "name": f"State {k}",
            "subregion": f"r{region[k]}",
            "lat": float(lat[k]),
            "lon": float(lon[k]),
            "gdp": float(np.exp(rng.normal(3.5, 1.0))),
            "population": float(np.exp(rng.normal(2.0, 1.0))),
            "governance": float(rng.uniform(0.1, 0.8)),
            "autonomy": float(rng.uniform(0.2, 0.8)),
            "threat": float(rng.uniform(0.1, 0.8)),
            "opinion": {powers[p]: float(rng.uniform(-0.3, 0.5)) for p in patrons},
            "ties": ties,
            "external_trade": float(rng.uniform(5.0, 50.0)),
            "borders": [powers[patrons[0]]],  # its first patron is a neighbour (borderization is possible)
            "memberships": [formats[region[k]]],
            "neighbours": {
                states[j]: {"relation": float(rng.uniform(-0.3, 0.6)), "trade": float(rng.uniform(0.1, 2.0))}
                for j in nearest[k]
                if j > k or k not in nearest[j]
            },
        }
    out_powers = {}
    for k, key in enumerate(powers):
        rivals = [powers[(k + 1) % m], powers[(k - 1) % m]] if m > 1 else []
        out_powers[key] = {
            "name": f"Power {k}",
            "budget": {d: float(spec.budget * rng.uniform(0.5, 1.5)) for d in ("investment", "security", "trade")},
            "default_interest": 0.5,
            "interests": {states[j]: float(rng.uniform(0.0, 1.0)) for j in range(n)},
            "rivals": {r: float(rng.uniform(0.5, 1.0)) for r in dict.fromkeys(rivals) if r != key},
            "conditions": {"governance": float(rng.uniform(0.0, 0.6))},
            "credibility": float(rng.uniform(0.5, 0.9)),
            "capability": float(rng.uniform(0.2, 0.9)),
            "coercion": {"propensity": float(rng.uniform(0.0, 0.6)), "tools": rng.choice(TOOLS, 2, replace=False).tolist()},
        }
    organisations = {f: {"name": f"Format {r}", "kind": "regional_format"} for r, f in enumerate(formats)}
    return {"states": out_states, "powers": out_powers, "organisations": organisations}


def _nearest(coords: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Each point's ``k`` nearest others, closest first, a block of rows at a time: the
    whole table of distances (48 bytes a pair with its sort) set the peak memory of
    loading a large generated world."""
    rows = []
    for start in range(0, len(coords), block):
        dist = np.linalg.norm(coords[start : start + block, None] - coords[None], axis=2)
        dist[np.arange(len(dist)), np.arange(start, start + len(dist))] = np.inf  # not its own neighbour
        rows.append(np.argsort(dist, axis=1)[:, :k])
    return np.concatenate(rows)
