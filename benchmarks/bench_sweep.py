"""Benchmark of the experiment runner: overhead, scaling, and mesa.batch_run on the same runs.

    .venv/bin/python benchmarks/bench_sweep.py                 # 1,000 runs, 20 quarters each
    .venv/bin/python benchmarks/bench_sweep.py --runs 200      # a quicker look

The runs: the baseline scenario cut to ``--steps`` quarters (20 by default, so the whole
benchmark takes minutes; the runner's overhead per run does not depend on the horizon,
so a shorter horizon makes the comparison *harder* for the runner), over a grid of 10
coercion strengths x runs/10 replications. Every variant runs in a fresh subprocess, for
clean timings and peak memory, and because mesa.batch_run switches the whole process to
the 'spawn' start method:

- ``loop``: the plain loop a modeller would write: validate each point once, run its
  replications with the same run function as the sweep (:data:`abm.sweep.run_model`, :func:`abm.runner.run` without per-state tables), keep
  the same summaries and series in lists;
- ``sweep1``/``sweep2``: ``abm.sweep.run`` with 1 and 2 worker processes, results
  streamed to the SQLite store;
- ``batch1``/``batch2``: ``mesa.batch_run`` with 1 and 2 processes, collecting every
  step (``data_collection_period=1``, the only way to get series from it), which keeps
  every row, with every parameter repeated, in memory.

The loop and sweep variants are :func:`abm.bench.sweep_variant` (``abm bench`` runs them
too). Each variant reports wall time and CPU time, its own and its child processes' (the
fork server and the workers): on a busy machine the wall time measures the neighbours,
so rounds are compared, and the overhead judged, on CPU time.

Peak memory is the main process's maximum resident set (where results accumulate). To
show whether memory grows with the number of runs, the parallel variants are also run
with a quarter of the runs. Figures are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from abm import bench

ROOT = Path(__file__).resolve().parents[1]


def variant(name: str, runs: int, steps: int) -> dict:
    """Run one variant in this process; return its wall and CPU time and peak memory."""
    if name in ("loop", "sweep1", "sweep2"):
        return bench.sweep_variant(name, runs, steps)
    import mesa

    from abm import experiment
    from abm.model import RegionModel
    from abm.scenario import load

    exp = experiment.load(bench.sweep_spec(runs, steps))
    start, cpu = time.perf_counter(), bench.cpu_with_children()
    cfg = load(exp.bases["baseline"].raw)
    rows = mesa.batch_run(
        RegionModel,
        parameters={"scenario": [cfg], "sets": [tuple(p.sets) for p in exp.points]},
        rng=exp.seeds,
        number_processes=int(name[-1]),
        data_collection_period=1,
        max_steps=steps,
        display_progress=False,
    )
    seconds, cpu = time.perf_counter() - start, bench.cpu_with_children() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"variant": name, "runs": len({r["RunId"] for r in rows}), "seconds": seconds, "cpu": cpu, "peak_mb": peak}


def measure(name: str, runs: int, steps: int, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--variant", name, "--runs", str(runs), "--steps", str(steps)],
        capture_output=True, text=True, cwd=ROOT, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000, help="runs per variant (a multiple of 10)")
    p.add_argument("--steps", type=int, default=20, help="quarters per run")
    p.add_argument("--repeats", type=int, default=1, help="rounds over all variants; the fastest of each is kept (on a shared machine, the least disturbed)")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.runs < 10 or args.runs % 10:  # 10 points x runs/10 replications: another count ran fewer runs than it divided by
        p.error(f"--runs must be a positive multiple of 10 (got {args.runs})")
    for option in ("steps", "repeats"):
        if getattr(args, option) < 1:
            p.error(f"--{option} must be at least 1 (got {getattr(args, option)})")
    if args.variant:
        print(json.dumps(variant(args.variant, args.runs, args.steps)))
        return
    with bench.cached_bytecode() as (env, bytecode):
        compare(args, env, bytecode)


def compare(args, env: dict, bytecode: str) -> None:
    print(f"{args.runs} runs of the baseline, {args.steps} quarters each, 10 points x {args.runs // 10} replications; load average {os.getloadavg()[0]:.1f}; bytecode {bytecode}", flush=True)
    found: dict[str, dict] = {}
    for round_ in range(args.repeats):
        for name in ("loop", "sweep1", "sweep2", "batch1", "batch2"):
            r = measure(name, args.runs, args.steps, env)
            print(f"  {name:<7} {r['seconds']:7.1f} s  {1000 * r['seconds'] / args.runs:6.1f} ms/run  cpu {r['cpu']:7.1f} s  peak {r['peak_mb']:6.0f} MB  ({r['runs']} runs, round {round_ + 1})", flush=True)
            if name not in found or r["cpu"] < found[name]["cpu"]:
                found[name] = r
    quarter = max(10, args.runs // 4 // 10 * 10)
    small = {name: measure(name, quarter, args.steps, env) for name in ("sweep2", "batch2")}
    print(f"load average at the end {os.getloadavg()[0]:.1f} (on a machine with {os.cpu_count()} CPUs)")
    t = {k: v["seconds"] for k, v in found.items()}
    c = {k: v["cpu"] for k, v in found.items()}
    print(f"summary{' (least CPU of ' + str(args.repeats) + ' rounds)' if args.repeats > 1 else ''}:")
    print(f"  runner overhead, 1 worker vs plain loop:  {c['sweep1'] / c['loop']:.3f}x the loop's CPU time, {t['sweep1'] / t['loop']:.3f}x its wall time (target <= {bench.SWEEP_OVERHEAD_TARGET})")
    print(f"  speed-up, 2 workers vs 1 worker:          {t['sweep1'] / t['sweep2']:.2f}x (wall; target >= {bench.SWEEP_SPEEDUP_TARGET})")
    print(f"  against mesa.batch_run, 1 process:        {t['batch1'] / t['sweep1']:.2f}x faster")
    print(f"  against mesa.batch_run, 2 processes:      {t['batch2'] / t['sweep2']:.2f}x faster")
    for name in ("sweep2", "batch2"):
        grow = found[name]["peak_mb"] - small[name]["peak_mb"]
        print(f"  peak memory {name}: {small[name]['peak_mb']:.0f} MB at {quarter} runs, {found[name]['peak_mb']:.0f} MB at {args.runs} runs ({grow:+.0f} MB)")


if __name__ == "__main__":
    main()
