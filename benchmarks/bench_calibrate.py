"""Simulations per second during calibration (abm calibrate) against a sweep of the same runs.

    .venv/bin/python benchmarks/bench_calibrate.py                       # 100 particles x 3 generations
    .venv/bin/python benchmarks/bench_calibrate.py --population 40 --generations 2   # quicker

The calibration: the baseline against the shipped patterns (data/patterns.yaml, runs of 4
quarters with per-state tables, as the patterns need), three parameters, one seed per
particle; on 1 and 2 local worker processes and on a Dask LocalCluster of 2 single-threaded
worker processes. The sweep: ``abm.sweep.run`` of as many runs (the number of simulations
the 1-worker calibration made) of the same scenario and length, also with per-state tables,
over a Latin hypercube of the same three parameters' prior ranges, on the same executors.
Times include starting the workers (both commands do). Figures are printed, not asserted:
they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abm import calibrate, runner, sweep  # noqa: E402

PRIORS = {"rules.coercion.strength": (0.0, 1.0), "rules.decay.rate": (0.0, 0.08), "utility.dependence": (0.0, 2.0)}


def cal_spec(population: int, generations: int) -> dict:
    return {
        "name": "bench_calibrate",
        "scenario": str(ROOT / "configs" / "baseline.yaml"),
        "patterns": str(ROOT / "data" / "patterns.yaml"),
        "parameters": {k: {"low": lo, "high": hi} for k, (lo, hi) in PRIORS.items()},
        "population": population,
        "generations": generations,
        "predictive": 2,
        "seed": 1,
    }


def sweep_spec(runs: int, steps: int) -> dict:
    return {
        "name": "bench_sweep_same_runs",
        "scenario": str(ROOT / "configs" / "baseline.yaml"),
        "set": {"time.steps": steps},
        "sample": {"method": "latin", "n": runs, "ranges": {k: list(v) for k, v in PRIORS.items()}},
        "seed": 1,
        "metrics": {"series": ["fragmentation"]},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--population", type=int, default=100)
    p.add_argument("--generations", type=int, default=3)
    p.add_argument("--no-dask", action="store_true")
    args = p.parse_args(argv)
    logging.getLogger("ABC").setLevel(logging.WARNING)
    try:
        cal = calibrate.load_spec(cal_spec(args.population, args.generations))
    except calibrate.CalibrationError as exc:
        p.error(str(exc))
    with_tables = functools.partial(runner.run, tables=True)  # the calibration's runs build per-state tables too
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def executors():
            yield "1 worker", {"workers": 1}, None
            yield "2 workers", {"workers": 2}, None
            if not args.no_dask:
                from distributed import Client, LocalCluster

                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
                    yield "Dask LocalCluster, 2 workers", {"executor": client.get_executor(pure=False)}, client

        runs = None
        for label, how, _ in executors():
            slug = label.split(",")[0].replace(" ", "_")
            result = calibrate.run(cal, tmp / f"cal_{slug}", progress=False, **how)
            runs = runs or result.simulations
            started = time.perf_counter()
            swept = sweep.run(sweep_spec(runs, cal.steps), tmp / f"sweep_{slug}", progress=False, runner=with_tables, **how)
            sweep_seconds = time.perf_counter() - started
            rows.append((label, result.simulations, result.seconds, swept.ok, sweep_seconds))
            print(f"{label}: calibration {result.simulations} simulations in {result.seconds:.2f} s; sweep {swept.ok} runs in {sweep_seconds:.2f} s", flush=True)
    print()
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"baseline to {cal.base.date(cal.steps)} ({cal.steps} quarters, per-state tables), {len(PRIORS)} parameters, "
          f"population {args.population} x {args.generations} generations")
    print("| executor | calibration sims | calibration sims/s | sweep runs | sweep runs/s | calibration / sweep |")
    print("|---|---|---|---|---|---|")
    for label, sims, secs, ok, sweep_secs in rows:
        print(f"| {label} | {sims} | {sims / secs:.1f} | {ok} | {ok / sweep_secs:.1f} | {(sims / secs) / (ok / sweep_secs):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
