"""Prototype for docs/performance.md: the baseline's core arithmetic with a leading run axis.

    .venv/bin/python benchmarks/ensemble_prototype.py

Not the model: a stand-in with the baseline's shapes (8 states x 10 powers x 3 domains,
60 quarterly steps) and the kinds of operation one step does (allocate budgets over
states, value offers, accept them against noise, add ties, decay, re-normalise
alignments, then the fragmentation metric: mean pairwise Jensen-Shannon distance), written
once for arrays of shape (R, ...) where R runs advance together. Each run draws its noise
from its own generator (seeded from its own seed, as the sweep does), all of a run's
draws at its start, so a run's numbers do not depend on which runs share its batch: the
script checks that a run computed alone and inside a batch of R agree to the last bit.

It prints the CPU time per run for R = 1, 10, 100, 1000, beside abm.runner.run of the
real baseline (tables=False, as sweeps run it), to show what a leading run axis could
bring to sweeps and calibration.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

STEPS, DECAY, NOISE, CAP = 60, 0.02, 0.1, 0.5


def initial(seeds: list[int]):
    """Per-run inputs from the real baseline, repeated over the runs; per-run noise."""
    from abm.model import RegionModel
    from abm.scenario import load

    model = RegionModel(load("configs/baseline.yaml"), rng=0)
    r = len(seeds)
    ties = np.repeat(model.ties[None], r, axis=0)  # R x N x 3 x M
    budget = np.array([p.budget for p in model.powers])  # M x 3
    gdp = model.gdp
    rival = model.rival_mask  # M x M
    n, _, m = model.ties.shape
    noise = np.stack([np.random.default_rng(s).standard_normal((STEPS, n, 3, m)) for s in seeds])  # R x T x N x 3 x M
    return ties, budget, gdp, rival, noise


def js_mean(a: np.ndarray) -> np.ndarray:
    """Mean pairwise JS distance of each run's alignments (R x N x M -> R)."""
    plogp = lambda x: x * np.log(np.where(x > 0, x, 1.0))  # noqa: E731
    neg = plogp(a).sum(axis=-1)
    mix = plogp((a[:, :, None, :] + a[:, None, :, :]) / 2.0).sum(axis=-1)
    d = np.sqrt(np.clip(((neg[:, :, None] + neg[:, None, :]) / 2.0 - mix) / np.log(2.0), 0.0, 1.0))
    n = a.shape[1]
    return d.sum(axis=(1, 2)) / (n * (n - 1))


def run_batch(ties, budget, gdp, rival, noise) -> np.ndarray:
    """All runs of the batch, all steps; returns fragmentation, R x STEPS."""
    ties = ties.copy()
    out = np.empty((ties.shape[0], STEPS))
    for t in range(STEPS):
        strength = ties.sum(axis=2)  # R x N x M
        total = strength.sum(axis=2, keepdims=True)
        align = strength / np.where(total > 0, total, 1.0)
        weights = 1.0 + align @ rival  # contest: rivals' spheres attract: R x N x M
        share = weights / weights.sum(axis=1, keepdims=True)  # over states, per power
        size = share[:, :, None, :] * budget.T[None, None]  # R x N x 3 x M
        gain = size / gdp[None, :, None, None]
        utility = gain - CAP * align[:, :, None, :] * gain + NOISE * noise[:, t]
        ties += np.where(utility > 0, gain, 0.0)
        ties *= 1.0 - DECAY
        out[:, t] = js_mean(align)
    return out


def cpu_per_run(r: int, repeats: int = 5) -> float:
    inputs = initial(list(range(r)))
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run_batch(*inputs)
        times.append(time.process_time() - start)
    return statistics.median(times) / r


def main() -> None:
    from abm.runner import run
    from abm.scenario import load

    alone = run_batch(*initial([7]))[0]
    batched = run_batch(*initial(list(range(10))))[7]
    print(f"run 7 alone and inside a batch of 10 agree to the last bit: {np.array_equal(alone, batched)}")
    cfg = load("configs/baseline.yaml")
    run(cfg, seed=1, tables=False)
    model = []
    for seed in range(1, 8):
        start = time.process_time()
        run(cfg, seed=seed, tables=False)
        model.append(time.process_time() - start)
    reference = statistics.median(model)
    print(f"abm.runner.run(baseline, tables=False): {reference * 1e3:.1f} ms CPU per run (median of 7)")
    single = cpu_per_run(1)
    for r in (1, 10, 100, 1000):
        per_run = single if r == 1 else cpu_per_run(r, repeats=3 if r >= 1000 else 5)
        print(f"prototype, R = {r:>4}: {per_run * 1e3:7.3f} ms CPU per run ({STEPS} steps; {per_run / STEPS * 1e6:6.1f} us per run-step; {single / per_run:4.1f}x faster than R = 1)")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help, and no options
    main()
