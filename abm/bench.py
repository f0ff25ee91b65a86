"""``abm bench``: how long the model takes, and how its cost grows with the world.

Two measurements, each the median over ``repeats`` repetitions, in wall-clock time and
in the process's CPU time (on a shared machine other processes stretch the wall clock
but not the CPU time, so the CPU time is the fairer measure of the code; the two agree
on an idle machine):

* **baseline**: one run of ``configs/baseline.yaml`` (8 states x 10 powers, 60 quarterly
  steps to 2040) in-process. Reported three ways: loading the scenario (YAML and
  validation), the model alone (``RegionModel`` construction and the step loop, which
  includes Mesa's per-step data collection), and :func:`abm.runner.run` from a loaded
  scenario, which adds the tidy DataFrames. Targets (issue 12): ``run()`` under 20 ms,
  the model alone under 15 ms.
* **generated worlds** from 10x5 to 200x20 states x powers (``configs/generated.yaml``),
  a fixed number of steps timed after construction (construction is reported apart).
  Cost per step and per offer made. Target: the cost per offer at 200x20 at most twice
  that at 10x5, i.e. the model scales linearly in offers.

  The worlds are run with ``offers.min_weight=0``, so that every power courts every
  state and the number of offers is ``3 N M``. The scenario sets it so; the bench sets it
  again so that its figures do not move with that file. Under a floor like the baseline's
  ``0.02`` a power skips states holding under 2% of its attention, most of a 200-state
  world, and the per-offer figure would compare worlds courted differently.

The targets are checked on CPU time; the wall-clock figure is printed beside it.
``--quick`` is a smoke version (at most 2 repeats, two small worlds, 5 steps) for tests.
It judges only the targets it measures at their full size (the baseline and the command
line); its smaller worlds and sweeps are reported without a verdict.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BASELINE = CONFIGS / "baseline.yaml"
GENERATED = CONFIGS / "generated.yaml"

SIZES = [(10, 5), (25, 10), (50, 10), (100, 20), (200, 20)]
QUICK_SIZES = [(10, 5), (25, 10)]
STEPS, QUICK_STEPS = 10, 5
SEED = 0
MAX_REPEATS = 100  # a median of more says no more, and a full repeat takes several seconds
BASELINE_TARGET_MS = 20.0  # runner.run of the baseline
MODEL_TARGET_MS = 15.0  # RegionModel alone, no tables
SCALING_TARGET = 2.0
CLI_RUN_TARGET_S, CLI_VALIDATE_TARGET_S = 1.0, 0.4  # CPU of the whole `abm run` / `abm validate` process
LARGE, QUICK_LARGE = (500, 50, 60), (60, 10, 5)  # states, powers, steps of the large-world run
LARGE_TARGET_S, LARGE_TARGET_MB = 4.0, 400.0
SWEEP_RUNS, QUICK_SWEEP_RUNS = 1000, 20  # at 1,000 runs a sweep's start-up (its workers' imports) is what a real sweep pays


@dataclass(frozen=True)
class Timing:
    """Seconds, median over repeats: wall clock and the process's CPU time."""

    wall: float
    cpu: float

    @classmethod
    def median(cls, samples: list[Timing]) -> Timing:
        return cls(statistics.median(t.wall for t in samples), statistics.median(t.cpu for t in samples))

    def __truediv__(self, k: float) -> Timing:
        return Timing(self.wall / k, self.cpu / k) if k else Timing(math.inf, math.inf)


class _Clock:
    """Start on entry; ``elapsed()`` is the Timing since then."""

    def __enter__(self) -> _Clock:
        gc.collect()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        pass

    def elapsed(self) -> Timing:
        return Timing(time.perf_counter() - self.wall, time.process_time() - self.cpu)


def _timed(fn) -> Timing:
    with _Clock() as clock:
        fn()
        return clock.elapsed()


@dataclass
class BaselineTimes:
    """Medians of one baseline run measured three ways."""

    states: int
    powers: int
    steps: int
    load: Timing  # scenario.load(path): YAML, extends, pydantic validation
    model: Timing  # RegionModel(cfg) + step loop (includes the per-step data collection)
    run: Timing  # runner.run(cfg): the above plus the tidy DataFrames


@dataclass
class WorldTimes:
    """Medians for one generated world: construction, then ``steps`` timed steps."""

    states: int
    powers: int
    steps: int
    build: Timing  # constructing the model
    offers_per_step: float
    per_step: Timing
    per_offer: Timing

    @property
    def label(self) -> str:
        return f"{self.states}x{self.powers}"


@dataclass
class BenchResult:
    repeats: int
    baseline: BaselineTimes
    quick: bool = False  # smoke sizes: the world, sweep and large-world targets are not judged
    worlds: list[WorldTimes] = field(default_factory=list)
    cli: CliTimes | None = None
    sweep: SweepTimes | None = None
    large: dict | None = None  # see large_world
    bytecode: str = ""  # where the fresh interpreters found their compiled modules (cached_bytecode)

    @property
    def scaling_ratio(self) -> float:
        """CPU cost per offer in the largest world over that in the smallest."""
        return self.worlds[-1].per_offer.cpu / self.worlds[0].per_offer.cpu


def bench_baseline(repeats: int, path: Path = BASELINE, seed: int = SEED) -> BaselineTimes:
    from abm.model import RegionModel
    from abm.runner import run
    from abm.scenario import load

    cfg = load(path)

    def model_only():
        model = RegionModel(cfg, rng=seed)
        while model.running:
            model.step()

    run(cfg, seed=seed)  # warm imports and caches once, untimed
    loads, models, runs = [], [], []
    for _ in range(repeats):  # interleaved, so that drifting load hits all three alike
        loads.append(_timed(lambda: load(path)))
        models.append(_timed(model_only))
        runs.append(_timed(lambda: run(cfg, seed=seed)))
    med = Timing.median
    return BaselineTimes(len(cfg.states), len(cfg.powers), cfg.time.steps, med(loads), med(models), med(runs))


def bench_world(n_states: int, n_powers: int, steps: int, repeats: int, seed: int = SEED) -> WorldTimes:
    from abm.model import RegionModel
    from abm.scenario import load

    sets = [f"generated.n_states={n_states}", f"generated.n_powers={n_powers}", "offers.min_weight=0", f"time.steps={steps}"]
    cfg = load(GENERATED, sets)
    builds, per_step, per_offer, offers_per_step = [], [], [], []
    for _ in range(repeats):
        with _Clock() as clock:
            model = RegionModel(cfg, rng=seed)
            builds.append(clock.elapsed())
        with _Clock() as clock:
            offers = 0
            for _ in range(steps):
                model.step()
                offers += model.counts["offers_made"]
            elapsed = clock.elapsed()
        per_step.append(elapsed / steps)
        per_offer.append(elapsed / offers)
        offers_per_step.append(offers / steps)
    med = Timing.median
    return WorldTimes(n_states, n_powers, steps, med(builds), statistics.median(offers_per_step), med(per_step), med(per_offer))


def _python(code: str, *args: str, env: dict | None = None) -> str:
    """Run ``code`` in a fresh interpreter from the repository root; its standard output."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=CONFIGS.parent, env=env).stdout


# Imports and a command that load every module the timed processes load, so that a fresh
# bytecode cache is filled before they are timed.
WARM_UP = "import abm.sweep, abm.bench, multiprocessing.forkserver, threadpoolctl; from abm.processes import command; command()"


@contextlib.contextmanager
def cached_bytecode() -> Iterator[tuple[dict, str]]:
    """The environment for the fresh interpreters the bench times, and where they find
    their modules' compiled bytecode. Python caches it beside each module's source
    (``__pycache__``) and a user's commands load it from there from the second one on.
    Where caching is switched off (``PYTHONDONTWRITEBYTECODE``, set on some CI machines and
    container images), every process compiles the package's modules anew, which no user
    with a default Python pays (0.04 s of ``abm validate``'s 0.4 s): the bench then keeps
    bytecode in a temporary folder of its own (``PYTHONPYCACHEPREFIX``; the checkout is
    left alone), filled by one untimed command before the timings."""
    env = dict(os.environ)
    if not env.get("PYTHONDONTWRITEBYTECODE"):
        yield env, "cached beside the sources, as Python does by default"
        return
    del env["PYTHONDONTWRITEBYTECODE"]
    with tempfile.TemporaryDirectory(prefix="abm-bench-") as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "bytecode")
        _python(WARM_UP, "run", str(BASELINE), "--out", str(Path(tmp) / "warm-up"), env=env)
        yield env, "cached in a temporary folder (PYTHONDONTWRITEBYTECODE is set here)"


@dataclass
class CliTimes:
    """CPU seconds of whole command-line processes (interpreter start, imports, work), medians."""

    run: float  # abm run configs/baseline.yaml --out DIR (tables and the three charts)
    tables: float  # the same with --no-charts
    validate: float  # abm validate configs/baseline.yaml
    floor: float  # a process that only imports Mesa and matplotlib's figure and Agg canvas


# What abm run cannot go below: Mesa 3.5's package __init__ imports all of Mesa (scipy.spatial,
# networkx, pandas through mesa.agent), and the charts need matplotlib.
FLOOR = "import mesa, matplotlib.figure, matplotlib.backends.backend_agg"


def bench_cli(repeats: int, env: dict | None = None) -> CliTimes:
    abm = "from abm.processes import command; command()"  # what the `abm` script runs

    def cpu_of(code: str, *args: str) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        _python(code, *args, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    runs, tables, validates, floors = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):  # interleaved, so that a busy spell stretches every figure alike
            runs.append(cpu_of(abm, "run", str(BASELINE), "--out", str(Path(tmp) / f"run{k}")))
            tables.append(cpu_of(abm, "run", str(BASELINE), "--no-charts", "--out", str(Path(tmp) / f"tables{k}")))
            validates.append(cpu_of(abm, "validate", str(BASELINE)))
            floors.append(cpu_of(FLOOR))
    return CliTimes(*(statistics.median(x) for x in (runs, tables, validates, floors)))


def large_world(n_states: int, n_powers: int, steps: int) -> dict:
    """One run of a generated world with one BLAS thread (as in sweep workers), in this
    process (meant to be a fresh one): construction and steps timed, peak memory."""
    from threadpoolctl import threadpool_limits

    from abm.model import RegionModel
    from abm.scenario import load

    threadpool_limits(1, user_api="blas")
    cfg = load(GENERATED, [f"generated.n_states={n_states}", f"generated.n_powers={n_powers}", f"time.steps={steps}"])
    with _Clock() as clock:
        model = RegionModel(cfg, rng=SEED)
        while model.running:
            model.step()
        t = clock.elapsed()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"states": n_states, "powers": n_powers, "steps": steps, "wall": t.wall, "cpu": t.cpu, "peak_mb": peak}


def bench_large(n_states: int, n_powers: int, steps: int, env: dict | None = None) -> dict:
    code = "import json, sys; from abm.bench import large_world; print(json.dumps(large_world(*map(int, sys.argv[1:]))))"
    return json.loads(_python(code, str(n_states), str(n_powers), str(steps), env=env).strip().splitlines()[-1])


# ---------------------------------------------------------------- sweeps

SWEEP_STEPS = 20  # quarters per run: short runs make the runner's per-run overhead show most
SWEEP_METRICS = ["fragmentation", "integration"]
SWEEP_OVERHEAD_TARGET = 1.05  # abm sweep with 1 worker over a plain loop of the same runs
SWEEP_SPEEDUP_TARGET = 1.85  # 2 workers over 1


def sweep_spec(runs: int, steps: int = SWEEP_STEPS) -> dict:
    """The benchmark experiment: the baseline cut to ``steps`` quarters, 10 coercion
    strengths x runs/10 replications, keeping two series and their final values."""
    return {
        "name": "bench",
        "scenario": str(BASELINE),
        "set": {"time.steps": steps},
        "grid": {"rules.coercion.strength": [round(0.1 * k, 1) for k in range(10)]},
        "replications": max(1, runs // 10),
        "seed": 1,
        "metrics": {"series": SWEEP_METRICS, "summaries": [{"metric": m, "stat": "final"} for m in SWEEP_METRICS]},
    }


def cpu_with_children() -> float:
    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def sweep_variant(name: str, runs: int, steps: int = SWEEP_STEPS) -> dict:
    """Run one variant in this process (meant to be a fresh one, see :func:`measure_sweep`):
    ``loop``, the plain loop a modeller would write (validate each point once, run its
    replications with the sweep's own run function, keep the same series and final values
    in lists), or ``sweepN``, ``abm.sweep.run`` with N local workers into a new store.

    Returns the wall time, the CPU time of this process and every process it started (the
    fork server and the workers: CPU time is what the runner's overhead costs on a busy
    machine, where wall time mostly measures the neighbours), and the peak memory. Imports
    of the model are inside the timing for both, as a user pays them."""
    import tempfile

    from abm import experiment

    exp = experiment.load(sweep_spec(runs, steps))
    wall, cpu = time.perf_counter(), cpu_with_children()
    if name == "loop":
        from abm.scenario import load
        from abm.sweep import run_model

        kept = []
        for point in exp.points:
            cfg = load(exp.bases[point.scenario].raw, list(point.sets))
            for seed in exp.seeds:
                frame = run_model(cfg, seed).model
                kept.append((frame[SWEEP_METRICS].iloc[-1].to_numpy(), frame[SWEEP_METRICS].to_numpy()))
        done = len(kept)
    elif name.startswith("sweep"):
        from multiprocessing import forkserver

        from abm import sweep

        with tempfile.TemporaryDirectory() as tmp:
            done = sweep.run(exp, Path(tmp) / "out", workers=int(name[len("sweep"):]), progress=False).ok
        stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
        if stop is not None:  # reap the fork server, so that its (and its workers') CPU time is counted
            stop()
    else:
        raise ValueError(f"unknown sweep variant {name!r}")
    wall, cpu = time.perf_counter() - wall, cpu_with_children() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"variant": name, "runs": done, "steps": steps, "seconds": wall, "cpu": cpu, "peak_mb": peak}


def measure_sweep(name: str, runs: int, steps: int = SWEEP_STEPS, env: dict | None = None) -> dict:
    """:func:`sweep_variant` in a fresh interpreter (clean imports, timings and peak memory)."""
    code = "import json, sys; from abm.bench import sweep_variant; print(json.dumps(sweep_variant(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))"
    return json.loads(_python(code, name, str(runs), str(steps), env=env).strip().splitlines()[-1])


@dataclass
class SweepTimes:
    """The fastest of ``rounds`` alternating rounds of loop, 1 worker and 2 workers (on a
    shared machine, the least disturbed one)."""

    runs: int
    rounds: int
    loop: dict
    one: dict
    two: dict

    @property
    def overhead(self) -> float:
        """CPU time of abm sweep with one worker over the plain loop's."""
        return self.one["cpu"] / self.loop["cpu"]

    @property
    def speedup(self) -> float:
        """Wall time of one worker over two (2 workers cannot show on CPU time)."""
        return self.one["seconds"] / self.two["seconds"]


def bench_sweep(runs: int, rounds: int, steps: int = SWEEP_STEPS, env: dict | None = None) -> SweepTimes:
    best: dict[str, dict] = {}
    for _ in range(rounds):
        for name in ("loop", "sweep1", "sweep2"):
            r = measure_sweep(name, runs, steps, env)
            key = "cpu" if name != "sweep2" else "seconds"
            if name not in best or r[key] < best[name][key]:
                best[name] = r
    return SweepTimes(runs, rounds, best["loop"], best["sweep1"], best["sweep2"])


def measure(repeats: int = 7, quick: bool = False) -> BenchResult:
    """Every figure of the report. The command-line, sweep and large-world figures run in
    fresh interpreters (start-up, imports and peak memory are part of what they measure),
    with their bytecode cached (:func:`cached_bytecode`)."""
    repeats = max(1, min(repeats, 2) if quick else repeats)
    sizes, steps = (QUICK_SIZES, QUICK_STEPS) if quick else (SIZES, STEPS)
    result = BenchResult(repeats, bench_baseline(repeats), quick)
    bench_world(*sizes[0], steps=2, repeats=1)  # warm-up, untimed
    for n, m in sizes:
        result.worlds.append(bench_world(n, m, steps, repeats))
    with cached_bytecode() as (env, result.bytecode):
        result.cli = bench_cli(repeats, env)
        result.sweep = bench_sweep(QUICK_SWEEP_RUNS, 1, steps=4, env=env) if quick else bench_sweep(SWEEP_RUNS, 1, env=env)
        result.large = bench_large(*(QUICK_LARGE if quick else LARGE), env=env)
    return result


def _versions() -> str:
    found = []
    for name in ("mesa", "numpy", "networkx", "pydantic"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def report(result: BenchResult) -> str:
    b = result.baseline
    ms, us = 1e3, 1e6

    def row(name: str, t: Timing, extra: str = "") -> str:
        return f"  {name:<38}{t.wall * ms:9.1f}{t.cpu * ms:9.1f}{extra}"

    lines = [
        f"abm bench: medians of {result.repeats} repeat(s); python {platform.python_version()}, {_versions()}, {os.cpu_count()} cpu(s)",
        "",
        f"baseline: {BASELINE.name}, {b.states} states x {b.powers} powers, {b.steps} steps, seed {SEED}",
        f"  {'':<38}{'wall ms':>9}{'cpu ms':>9}",
        row("scenario load (YAML + validation)", b.load),
        row(f"model only (construct + {b.steps} steps)", b.model, f"   ({b.model.cpu / b.steps * ms:.2f} cpu ms/step)"),
        row("run() incl. DataFrames", b.run),
        "",
        f"generated worlds: {GENERATED.name} with offers.min_weight=0, {result.worlds[0].steps} steps timed after construction, seed {SEED}",
        "  world     build ms   offers/step    ms/step   us/offer   cpu ms/step  cpu us/offer",
    ]
    for w in result.worlds:
        lines.append(
            f"  {w.label:<8}{w.build.wall * ms:10.1f}{w.offers_per_step:14.0f}{w.per_step.wall * ms:11.2f}"
            f"{w.per_offer.wall * us:11.2f}{w.per_step.cpu * ms:14.2f}{w.per_offer.cpu * us:14.2f}"
        )
    first, last = result.worlds[0], result.worlds[-1]
    ratio = result.scaling_ratio
    cli, sw, big = result.cli, result.sweep, result.large
    if cli is not None:
        lines += ["", f"command line: CPU of the whole process (interpreter, imports, work), median of {result.repeats}; bytecode {result.bytecode}",
                  f"  abm run {BASELINE.name} --out DIR (tables + 3 charts) {cli.run:8.2f} s",
                  f"  abm run {BASELINE.name} --no-charts --out DIR      {cli.tables:8.2f} s",
                  f"  abm validate {BASELINE.name}                     {cli.validate:8.2f} s",
                  f"  floor: python -c '{FLOOR}' {cli.floor:8.2f} s"]
    if sw is not None:
        lines += ["", f"sweeps: {sw.runs} runs of the baseline cut to {sw.loop['steps']} quarters, least CPU of {sw.rounds} round(s), fresh processes (more rounds: benchmarks/bench_sweep.py)",
                  f"  {'':<24}{'wall s':>8}{'cpu s':>8}  (cpu: the process and its fork server and workers)"]
        for label, r in (("plain loop", sw.loop), ("abm sweep, 1 worker", sw.one), ("abm sweep, 2 workers", sw.two)):
            lines.append(f"  {label:<24}{r['seconds']:8.2f}{r['cpu']:8.2f}")
    if big is not None:
        lines += ["", f"large world: {GENERATED.name} {big['states']}x{big['powers']}, {big['steps']} steps (construct + run), one BLAS thread, fresh process",
                  f"  {big['wall']:.2f} s wall, {big['cpu']:.2f} s cpu ({big['cpu'] / big['steps'] * ms:.1f} cpu ms/step), peak RSS {big['peak_mb']:.0f} MB"]

    def target(ok: bool, text: str, at_full_size: bool = True) -> str:
        if result.quick and not at_full_size:
            return f"  ----  {text}: not judged, --quick measures it at a smaller size"
        return f"  {'PASS' if ok else 'FAIL'}  {text}"

    lines += [
        "",
        "targets (on CPU time unless said)",
        target(b.run.cpu * ms <= BASELINE_TARGET_MS, f"runner.run of the baseline <= {BASELINE_TARGET_MS:.0f} ms ({b.run.cpu * ms:.1f} ms, {b.run.cpu * ms / BASELINE_TARGET_MS:.2f}x the target; wall {b.run.wall * ms:.1f} ms)"),
        target(b.model.cpu * ms <= MODEL_TARGET_MS, f"RegionModel without tables <= {MODEL_TARGET_MS:.0f} ms ({b.model.cpu * ms:.1f} ms)"),
        target(ratio <= SCALING_TARGET, f"us/offer {last.label} / {first.label} <= {SCALING_TARGET:g} (ratio {ratio:.2f}: "
               f"{last.per_offer.cpu * us:.2f} / {first.per_offer.cpu * us:.2f} us; wall {last.per_offer.wall / first.per_offer.wall:.2f})", at_full_size=False),
    ]
    if cli is not None:
        lines += [target(cli.run < CLI_RUN_TARGET_S, f"abm run < {CLI_RUN_TARGET_S:g} s ({cli.run:.2f} s; importing Mesa and matplotlib alone takes {cli.floor:.2f} s)"),
                  target(cli.validate < CLI_VALIDATE_TARGET_S, f"abm validate < {CLI_VALIDATE_TARGET_S:g} s ({cli.validate:.2f} s)")]
    if sw is not None:
        lines += [target(sw.overhead <= SWEEP_OVERHEAD_TARGET, f"sweep, 1 worker / plain loop <= {SWEEP_OVERHEAD_TARGET:g} ({sw.overhead:.3f}; wall {sw.one['seconds'] / sw.loop['seconds']:.3f})", at_full_size=False),
                  target(sw.speedup >= SWEEP_SPEEDUP_TARGET, f"sweep, 2 workers / 1 worker >= {SWEEP_SPEEDUP_TARGET:g} ({sw.speedup:.2f}, on wall time)", at_full_size=False)]
    if big is not None:
        lines += [target(big["cpu"] < LARGE_TARGET_S and big["peak_mb"] < LARGE_TARGET_MB,
                         f"{big['states']}x{big['powers']} x {big['steps']} steps < {LARGE_TARGET_S:g} s and < {LARGE_TARGET_MB:g} MB ({big['cpu']:.2f} s, {big['peak_mb']:.0f} MB)", at_full_size=False)]
    if b.run.wall > 1.25 * b.run.cpu:
        lines.append(f"  note: wall time is {b.run.wall / b.run.cpu:.1f}x the CPU time: the machine is busy, the wall figures are inflated")
    return "\n".join(lines)


def main(repeats: int = 7, quick: bool = False) -> int:
    """Run the benchmark and print its table; exit status 0 (targets are reported, not enforced)."""
    print(report(measure(repeats, quick)), flush=True)
    return 0


if __name__ == "__main__":  # python -m abm.bench [--repeats N] [--quick]
    import sys

    from abm.cli import main as cli_main

    raise SystemExit(cli_main(["bench", *sys.argv[1:]]))
