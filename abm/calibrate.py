"""``abm calibrate SPEC``: fit behavioural parameters to the observed patterns by ABC-SMC.

Approximate Bayesian computation with sequential Monte Carlo (pyabc, Schälte et al. 2022)
over the parameters a spec names (dotted ``--set`` paths, so nothing here depends on the
model's internals), scored against the patterns of ``data/patterns.yaml`` with their
documented distance (:mod:`abm.patterns`). docs/calibration.md describes the method.

What the machinery guarantees, and how:

- *Same executors as sweeps.* Simulations run on :func:`abm.sweep.local_pool` (local
  processes) or :func:`abm.sweep.dask_pool` (a Dask cluster), through
  :meth:`abm.sweep.Pool.map`, which checks the code of the worker behind each result.
- *Reproducible whatever the number of workers.* Each generation sends ``population``
  tasks; task ``i`` of generation ``t`` seeds NumPy from ``(seed, t, i)`` and samples
  until it has one accepted particle, and ``map`` returns the tasks in order. Which
  worker ran a task, and when, changes nothing.
- *Resumable.* pyabc's History database (``calibration.db``) keeps every finished
  generation; ``resume=True`` continues from the last one and, by the per-generation
  seeding and an epsilon that is recomputed from the stored population, gives the same
  posterior as an uninterrupted run. Resuming with a different spec, or with other model
  code (the fingerprint a sweep checks, :func:`abm.runner.model_change`), is refused;
  so are particles from a worker whose code or computing libraries differ from the main
  process's, checked as a sweep checks its workers (:class:`abm.sweep.Pool`).
- *Provenance.* ``manifest.json`` holds the spec, its hash (spec, resolved base scenario
  and patterns), the model's git commit and code fingerprint, package versions, the
  machine and each session with its code (and that of any worker whose code differed).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import functools
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyabc
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyabc.epsilon import QuantileEpsilon
from pyabc.sampler import MappingSampler

from abm import patterns as pat
from abm import yamlfile
from abm.experiment import PATHS_HEAD, base_problems, canonical_hash, kept_from, override, plain, scenario_hash, set_in_spec
from abm.outputs import OutputError, atomic_directory, check_new_or_resumable, disk_error, made_meanwhile, staged_files
from abm.processes import interrupt, interrupts_deferred, sigterm_as_interrupt, take_held_stop
from abm.runner import model_record, resume_refusal
from abm.scenario import Scenario, ScenarioError, _blame_overrides, apply_overrides, as_sets, blame_parents, build, labels_only, load, not_real_valued, pydantic_problems, read_yaml, resolve_chain, under
from abm.store import write_json
from abm.sweep import ClusterLost, SweepError, _lock, check_unlocked, not_in_a_starting_worker
from abm.units import SEED_MAX, Ids, Int, PlainName, Real, Seed

MANIFEST = "manifest.json"
DB = "calibration.db"
CONSTRAINED, PARTLY = 0.5, 0.8  # posterior/prior spread ratios below which a parameter counts as constrained / partly
# Effective sample size (Kish) below which the final weights cannot carry a verdict: when a
# few particles hold most of the weight, the weighted sd measures those particles, not
# what the patterns allow, and reads as "constrained".
MIN_ESS = 20
CHARTS = ("marginals", "pairs", "predictive")  # report.posterior_figures' stems
OUTPUTS = ("posterior.csv", "posterior.parquet", "constraint.csv", "predictive.csv", "predictive_check.csv", "summary.md", *(f"{chart}.{kind}" for chart in CHARTS for kind in ("png", "svg")))


class CalibrationError(Exception):
    """A calibration that cannot start as asked (one line: what, and what is allowed).
    ``problems`` and ``source``, when the spec's own fields are wrong, let the CLI tell a
    file of another kind (a scenario, an experiment) by its keys, as for the other commands."""

    def __init__(self, message: str, problems: list[tuple[str, str]] = (), source: str | None = None):
        super().__init__(message)
        self.problems, self.source = list(problems), source


class CalibrationStopped(CalibrationError):
    """A calibration its executor stopped part-way (workers that kept dying, a lost Dask
    scheduler): not the input's fault; every finished generation is kept for --resume."""


# --------------------------------------------------------------------------- the spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as experiment specs: .inf and .nan mean nothing here


class Prior(_Strict):
    prior: Literal["uniform", "loguniform"] = "uniform"
    low: Real
    high: Real

    def rv(self):
        if self.prior == "uniform":
            return pyabc.RV("uniform", self.low, self.high - self.low)
        return pyabc.RV("loguniform", self.low, self.high)

    def sd(self) -> float:
        from scipy import stats

        if self.prior == "uniform":
            return (self.high - self.low) / math.sqrt(12.0)
        return float(stats.loguniform(self.low, self.high).std())

    def quantile(self, u: float) -> float:
        """The value at quantile ``u`` of the prior."""
        return float(self.low * (self.high / self.low) ** u if self.prior == "loguniform" else self.low + u * (self.high - self.low))

    def grid(self, n: int) -> np.ndarray:
        """``n`` points spanning the prior's range, evenly on its own scale (log for log-uniform)."""
        return np.geomspace(self.low, self.high, n) if self.prior == "loguniform" else np.linspace(self.low, self.high, n)

    def density(self, x: np.ndarray) -> np.ndarray:
        """The prior's probability density at ``x`` (inside its range)."""
        if self.prior == "loguniform":
            return 1.0 / (x * math.log(self.high / self.low))
        return np.full_like(x, 1.0 / (self.high - self.low), dtype=float)


class Epsilon(_Strict):
    alpha: Annotated[Real, Field(gt=0, lt=1)] = 0.5  # each generation's threshold: this quantile of the last one's distances
    minimum: Annotated[Real, Field(ge=0)] = 0.0  # stop when the threshold falls to this


class Spec(_Strict):
    name: PlainName  # names the default output folder, runs/<name>
    description: str = ""
    scenario: str  # base scenario, relative to the spec file
    set: dict[str, Any] = {}  # fixed overrides (path: value) applied before the parameters, as in experiments
    patterns: str  # patterns file, relative to the spec file
    use: Annotated[Ids, Field(min_length=1)] | None = None  # pattern ids (default: all); a pattern listed twice would count twice in the distance
    parameters: Annotated[dict[str, Prior], Field(min_length=1)]
    population: Annotated[Int, Field(ge=2)] = 100
    generations: Annotated[Int, Field(ge=1)] = 5
    epsilon: Epsilon = Epsilon()
    seeds_per_particle: Annotated[Int, Field(ge=1)] = 1  # each particle's outputs are the mean over this many seeds
    predictive: Annotated[Int, Field(ge=1)] | None = None  # posterior draws for the predictive check (default: population)
    seed: Seed = 0


FITTED = {"id", "output", "target", "tolerance", "weight"}  # what of a pattern the distance reads: what the spec hash covers


def fitted(patterns: list[pat.Pattern | dict]) -> list[dict]:
    """What of each pattern (loaded, or as a manifest stores it) a fit reads, for the spec
    hash: not the file's text, since a comment or a source's spelling changes no fit (and
    blocked --resume)."""
    dumped = (p if isinstance(p, dict) else p.model_dump(mode="json", by_alias=True) for p in patterns)
    return [{k: v for k, v in p.items() if k in FITTED} for p in dumped]


@dataclass
class Calibration:
    """A checked spec, ready to run: the base scenario, the patterns and the run length."""

    spec: Spec
    source: Path | None
    base: Scenario
    patterns: list[pat.Pattern]
    steps: int
    tables: bool
    hash: str
    text_hash: str = ""  # the hash of calibrations started before it covered the patterns' fitted fields, not their file's text: they still resume
    allow_large: bool = False  # every particle's scenario is built beyond the world-size budget (--allow-large); not hashed: it changes no run
    sets: tuple[str, ...] = ()  # the --set overrides the spec was read with (the settings they change are hashed)
    seeded: bool = False  # --seed replaced the seed the spec (with its overrides) gives

    @property
    def names(self) -> list[str]:
        return list(self.spec.parameters)


def load_spec(source: str | Path | dict[str, Any], base_dir: str | Path | None = None, seed: int | None = None, allow_large: bool = False,
              sets: Sequence[str] = ()) -> Calibration:
    """Read and check a calibration spec; every problem is one line (CalibrationError).
    ``seed`` replaces the spec's own (and so enters its hash): the same spec under
    another seed shows how much of a verdict is the ABC's Monte Carlo error. ``allow_large``
    lifts the world-size budget (:mod:`abm.budget`) for the base scenario, as ``abm run``'s does.
    ``sets`` are ``path=value`` overrides of the spec itself (``abm calibrate --set``:
    ``population=40``, ``parameters.rules.decay.rate.high=0.05``), so that a calibration
    can be scaled down or varied without a copy of the file (whose relative paths break
    when it moves); they enter the hash as the settings they change do."""
    if isinstance(source, dict):
        raw, source_name, root = source, "spec", Path(base_dir or ".")
    else:
        path = Path(source)
        try:
            raw = read_yaml(path, "a calibration spec")
        except ScenarioError as exc:
            raise CalibrationError(f"{path}: {exc.problems[0][1]}") from None
        source_name, root = str(path), Path(base_dir) if base_dir else path.parent
    sets = list(sets)
    where = f"{source_name} read with {as_sets(sets)}" if sets else source_name  # what a problem no override made may follow from

    def refused(problems: list[tuple[str, str]]) -> CalibrationError:
        """The spec's problems, blamed on --set where an override set their field, as abm sweep blames its spec's."""
        blamed = _blame_overrides(ScenarioError(problems, source_name), sets)
        return _spec_error(blamed.problems, where if blamed.read_with else blamed.source, blamed.source)

    def moved(field: str, rel: str) -> CalibrationError | None:
        """A file not found beside a calibration's copy of its spec: its paths are relative to the folder its head names."""
        elsewhere = kept_from(None if isinstance(source, dict) else source_name, root) if not (root / rel).exists() else None  # a mapping is no copy
        return refused([(field, f"{rel}: not found beside this copy of a calibration's spec; to run it, copy it to the folder its paths are relative to, {elsewhere}")]) if elsewhere else None

    try:
        spec = Spec.model_validate(set_in_spec(raw, sets, spec_keys) if sets else raw)
    except ScenarioError as exc:  # a path that cannot be set, or a malformed override
        raise _spec_error(exc.problems, "--set") from None
    except ValidationError as exc:
        raise refused(pydantic_problems(exc, Spec)) from None
    seeded = False
    if seed is not None:
        if not 0 <= seed <= SEED_MAX:  # as abm run's --seed: a seed SQLite can store
            raise CalibrationError(f"--seed: must be in [0, {SEED_MAX}] (got {seed})")
        seeded, spec = seed != spec.seed, spec.model_copy(update={"seed": seed})  # a copy of the file would re-run the file's seed
    files: list = []  # the chain's files, once read
    try:  # read as abm sweep reads a base: the file's problems and set:'s in one listing
        raw, found, files = resolve_chain(root / spec.scenario)
        base = build(apply_overrides(raw, [override(k, v) for k, v in spec.set.items()]), str(root / spec.scenario), allow_large, found)
    except ScenarioError as exc:
        raise moved("scenario", spec.scenario) or refused(base_problems(blame_parents(exc, files, spec.set), "scenario", spec.scenario, list(spec.set))) from None
    if base.posterior:
        raise CalibrationError(f"{where}: scenario {spec.scenario} draws its parameters from a posterior (posterior:); calibrate a scenario without one")
    reference = base.to_dict()
    for name, prior in spec.parameters.items():
        if fixed := [path for path in spec.set if under(name, path)]:  # every particle would replace it, while the manifest recorded it
            raise refused([(f"set.{fixed[0]}", f"fixes {name}, which the calibration draws in every particle; remove it from set: or from parameters:")])
        if why := labels_only(name):  # its posterior would be the prior, reported as a fit
            raise refused([(f"parameters.{name}", f"{why}; calibrating it changes nothing")])
        if not prior.low < prior.high or (prior.prior == "loguniform" and prior.low <= 0):
            raise refused([(f"parameters.{name}", f"needs low < high{' and low > 0 (loguniform)' if prior.prior == 'loguniform' else ''}")])
        if not_real_valued(reference, name):
            raise refused([(f"parameters.{name}", "not a real-valued setting (a count, yes/no, date or name); only real-valued settings can be calibrated")])
        for value in (prior.low, prior.high):
            try:
                load(base, [f"{name}={value!r}"], allow_large)
            except ScenarioError as exc:
                raise refused([(f"parameters.{name}", f"{value} is not a valid setting: {exc.problems[0][1]}")]) from None
    if problem := _jointly_invalid(base, spec, allow_large):
        raise CalibrationError(f"{where}: parameters: {problem}")
    try:
        patterns = pat.load(root / spec.patterns, spec.use)
    except pat.PatternError as exc:  # named by the spec and its field, as a missing scenario is
        raise moved("patterns", spec.patterns) or refused([("use" if isinstance(exc, pat.UnknownPatternError) else "patterns", str(exc))]) from None
    last, pattern_id = pat.last_date(patterns)
    steps = next((s for s in range(base.time.steps + 1) if base.date(s) >= last), None)
    if steps is None:
        raise CalibrationError(f"{where}: pattern {pattern_id}: date {last} is after the scenario ends ({base.date(base.time.steps)}; time.steps sets the scenario's length)")
    problem = unreadable(base, patterns, steps)
    if problem:
        raise CalibrationError(f"{where}: {problem}")
    hashed = {"spec": plain(spec.model_dump()), "base": scenario_hash(base.to_dict()), "patterns": fitted(patterns)}
    text = {**hashed, "patterns": (root / spec.patterns).read_text(encoding="utf-8")}
    return Calibration(spec, None if isinstance(source, dict) else Path(source), base, patterns, max(steps, 1), pat.needs_agents(patterns), canonical_hash(hashed), canonical_hash(text), allow_large, tuple(sets), seeded)


JOINT_DRAWS = 200  # draws from the priors tried before a calibration starts


def _jointly_invalid(base: Scenario, spec: Spec, allow_large: bool = False) -> str | None:
    """Why no draw from the priors makes a valid scenario though each range is valid
    alone (two trade shares summing over 1), or None once one does: every particle would
    be drawn again without end (see INVALID)."""
    rng = np.random.default_rng(spec.seed)
    for _ in range(JOINT_DRAWS):
        try:
            load(base, [f"{name}={prior.quantile(u)!r}" for (name, prior), u in zip(spec.parameters.items(), rng.random(len(spec.parameters)))], allow_large)
            return None
        except ScenarioError as exc:
            path, message = exc.problems[0]
    return f"none of {JOINT_DRAWS} draws from the priors makes a valid scenario ({path}: {message}); the ranges are valid one by one, not together: narrow them"


def _spec_error(problems: list[tuple[str, str]], where: str, source: str | None = None) -> CalibrationError:
    """Every problem of a spec, as abm sweep lists a spec's; ``where`` says what was read
    (the file, with the --set overrides it was read with, or --set alone) and ``source``
    is the file, whose keys tell a file of another kind (its ``where`` by default)."""
    message = f"{where}: {problems[0][0]}: {problems[0][1]}" if len(problems) == 1 else ScenarioError(problems, where).listing()
    return CalibrationError(message, problems, source or where)


def spec_keys(path: str, value: Any) -> list[str]:
    """The keys a spec override walks: ``set.time.steps`` is ``set`` then ``time.steps``;
    ``parameters.rules.decay.rate.high=0.05`` is ``parameters``, ``rules.decay.rate``,
    ``high`` (a prior's own field), and a mapping, ``parameters.rules.decay.rate={...}``,
    the whole prior (so a parameter named like a prior's field, the adaptive allocation
    rule's ``prior``, is reached as well)."""
    keys = path.split(".")
    if keys[0] == "parameters" and len(keys) > 2 and keys[-1] in Prior.model_fields and not isinstance(value, dict):
        return [keys[0], ".".join(keys[1:-1]), keys[-1]]
    return [keys[0], ".".join(keys[1:])] if keys[0] in ("set", "parameters") and len(keys) > 1 else keys


def unreadable(base: Scenario, patterns: list[pat.Pattern], steps: int) -> str | None:
    """Why ``patterns`` cannot be read from runs of ``base`` cut to ``steps`` (an output
    the model does not make, a state it does not have, a date outside the run), or None:
    asked before the runs, not found in each."""
    from abm import runner

    tables = pat.needs_agents(patterns)
    probe = runner.run(base, steps=1, tables=tables)  # a one-step run: the columns a run produces
    return pat.check(patterns, pat.readable(probe.model, probe.agents if tables else None), set(base.states), base.time.start, base.date(steps))


# --------------------------------------------------------------------------- worker side


# The statistic only a particle that makes no valid scenario has: it is drawn again, so
# the prior is in effect restricted to the scenarios the model accepts.
INVALID = "__invalid_scenario__"
MAX_INVALID = 1000  # such particles in a row in one task: the calibration stops rather than loop


@dataclass
class Simulator:
    """One particle: the base scenario with the particle's parameters, run over
    ``seeds`` seeds drawn from NumPy's global stream (seeded per task by the sampler)."""

    raw: dict[str, Any]
    names: list[str]
    patterns: list[pat.Pattern]
    steps: int
    seeds: int
    tables: bool
    allow_large: bool = False

    def __call__(self, parameters) -> dict[str, float]:
        try:
            scenario = load(self.raw, [f"{n}={float(parameters[n])!r}" for n in self.names], self.allow_large)
        except ScenarioError:  # values valid one by one but not together (two trade shares summing over 1): outside the model's domain
            return {INVALID: 1.0, **{p.id: math.nan for p in self.patterns}}
        seeds = np.random.randint(0, 2**31 - 1, size=self.seeds)
        return simulate(scenario, [int(s) for s in seeds], self.patterns, self.steps, self.tables)


def simulate(scenario: Scenario, seeds: list[int], patterns: list[pat.Pattern], steps: int, tables: bool) -> dict[str, float]:
    """The patterns' outputs, averaged over ``seeds`` (NaN if a run cannot produce one)."""
    from abm import runner

    measured = []
    for seed in seeds:
        result = runner.run(scenario, seed=seed, steps=steps, tables=tables)
        measured.append(pat.measure(patterns, result.model, result.agents))
    return {p.id: float(np.mean([m[p.id] for m in measured])) for p in patterns}


def _distance(patterns: list[pat.Pattern], x: dict, x0: dict) -> float:
    return pat.distance(patterns, x)


def _task_seed(seed: int, t: int, i: int) -> int:
    return int(np.random.SeedSequence([seed, t + 1, i]).generate_state(1)[0])


_LAST: list = [None, None]  # (pickled, unpickled) simulate_one of the current generation, per worker


def _unpickled(unpickle, pickled: bytes):
    """A generation's tasks share one simulate function: unpickle it once per worker."""
    if _LAST[0] != pickled:
        _LAST[:] = [pickled, unpickle(pickled)]
    return _LAST[1]


class SeededSampler(MappingSampler):
    """pyabc's MappingSampler with tasks seeded by (seed, generation, task) and a progress bar."""

    def __init__(self, map_, seed: int, progress: bool | None):
        super().__init__(map_=map_)
        self.seed, self.progress = seed, progress

    def map_function(self, simulate_one, task_seed):
        simulate_one = _unpickled(self.unpickle, simulate_one)
        np.random.seed(task_seed)
        random.seed(task_seed)
        evaluations, invalid, sample = 0, 0, self._create_empty_sample()
        while True:
            particle = simulate_one()
            evaluations += 1
            invalid = invalid + 1 if INVALID in particle.sum_stat else 0
            if invalid == MAX_INVALID:  # (load_spec refuses priors no draw of which is valid)
                raise CalibrationError(f"{MAX_INVALID} particles in a row made no valid scenario: the priors' ranges are valid one by one but seldom together; narrow them")
            particle.accepted &= not invalid  # (generation 0 accepts every distance, infinite too)
            sample.append(particle)
            if particle.accepted:
                return sample, evaluations

    def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
        from tqdm import tqdm

        task = functools.partial(self.map_function, self.pickle(simulate_one))
        results = []
        label = "prior sample" if t < 0 else f"generation {t}"
        with tqdm(total=n, desc=label, unit="particle", disable=None if self.progress is None else not self.progress, dynamic_ncols=True) as bar:
            for result in self.map_(task, [_task_seed(self.seed, t, i) for i in range(n)]):
                results.append(result)
                bar.update(1)
                if (signum := take_held_stop()) is not None:  # Ctrl-C or SIGTERM held back while pyabc runs (see run): stop between particles, where pyabc is storing nothing
                    interrupt(signum)
        self.nr_evaluations_ = sum(e for _, e in results)
        sample = self._create_empty_sample()
        for part, _ in results:
            sample += part
        return sample


class ResumableEpsilon(QuantileEpsilon):
    """Quantile epsilon that is infinite in generation 0 (a prior sample) and, when a run
    is resumed, recomputed from the stored last population as an uninterrupted run would."""

    def __init__(self, alpha: float):
        super().__init__(initial_epsilon=math.inf, alpha=alpha, weighted=True)

    def initialize(self, t, get_weighted_distances, get_all_records, max_nr_populations, acceptor_config):
        if t == 0:
            self._look_up = {0: math.inf}
        else:
            self._update(t, get_weighted_distances())


# --------------------------------------------------------------------------- running


@dataclass
class CalibrationResult:
    out: Path
    generations: int  # finished generations in the database
    simulations: int  # model runs of this session (particles x seeds per particle)
    seconds: float
    executor: str
    interrupted: bool = False
    files: list[Path] | None = None
    ess: float | None = None  # effective sample size of the final weights (verdicts unreliable below MIN_ESS)
    worker_deaths: int = 0  # worker processes that died (killed, out of memory) and were replaced, their particles run again


def _packages() -> dict[str, str]:
    from abm.runner import PACKAGES, versions
    from abm.sweep import SWEEP_PACKAGES

    return versions(PACKAGES + SWEEP_PACKAGES + ("pyabc", "sqlalchemy"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _abc(cal: Calibration, sampler):
    prior = pyabc.Distribution(**{n: p.rv() for n, p in cal.spec.parameters.items()})
    base = cal.base.to_dict()
    model = Simulator(base, cal.names, cal.patterns, cal.steps, cal.spec.seeds_per_particle, cal.tables, cal.allow_large)
    return pyabc.ABCSMC(
        model,
        prior,
        functools.partial(_distance, cal.patterns),
        population_size=cal.spec.population,
        sampler=sampler,
        eps=ResumableEpsilon(cal.spec.epsilon.alpha),
    )


def _pool(workers: int | None, scheduler: str | None, executor):
    from abm import sweep

    try:
        if executor is not None:
            return sweep.given_pool(executor)
        if scheduler is not None:
            return sweep.dask_pool(scheduler)
        return sweep.local_pool(workers, preload=("abm.sweep", "abm.calibrate"))  # workers unpickle pyabc's objects
    except sweep.SweepError as exc:
        raise CalibrationError(str(exc)) from None


@sigterm_as_interrupt()  # from the start: a job cancelled while it sets up or writes its outputs stops as cleanly as one cancelled mid-way
def run(source: str | Path | dict | Calibration, out: str | Path, *, workers: int | None = None, scheduler: str | None = None, executor=None, resume: bool = False,
        allow_model_change: bool = False, progress: bool | None = None) -> CalibrationResult:
    """Run (or with ``resume`` continue) the calibration into ``out``, then write its outputs.
    ``source`` is a spec (a file or mapping, read by :func:`load_spec` as it stands) or the
    :class:`Calibration` ``load_spec`` made with a seed, overrides or ``allow_large``.
    ``allow_model_change``: resume even if the model's code changed since the calibration
    started, which mixes generations of two models (:func:`check_resumable`), and accept
    particles from workers whose code differs from this process's (:meth:`abm.sweep.Pool.check`)."""
    not_in_a_starting_worker("abm.calibrate.run")
    cal = source if isinstance(source, Calibration) else load_spec(source)
    out = Path(out)
    check_new(out, resume)
    existed = resume and (out.exists() or out.is_symlink())  # decided once: --resume of a folder not there starts it; a new one made meanwhile is another command's
    if existed:
        check_resumable(out, cal, allow_model_change)
    pool = _pool(workers, scheduler, executor)
    pool.allow_other_code = allow_model_change
    try:
        _check_single_threaded(pool.executor)
    except CalibrationError:
        pool.shutdown(False)
        raise
    interrupted, sampled, started, session, history, discard = True, False, time.perf_counter(), None, None, False
    lock = contextlib.ExitStack()
    try:
        if not existed:  # a new folder, made here: one that appeared since check_new is another command's
            _create(out, cal)
        lock.enter_context(_lock(out, "calibration"))  # two calibrations writing one database would store generations twice
        manifest = json.loads((out / MANIFEST).read_text())
        if existed:  # the overrides as the calibration started with them (a resume may order or spell them otherwise, to the same effect): summary.md names what manifest.json records
            cal = replace(cal, sets=tuple(_recorded_overrides(manifest)))
        session = {"started": _now(), "ended": None, "executor": pool.description, "argv": sys.argv, "cwd": os.getcwd(), "model": model_record(files=True)}
        manifest["sessions"].append(session)
        write_json(out / MANIFEST, manifest)
        sampler = SeededSampler(pool.map, cal.spec.seed, progress)
        abc = _abc(cal, sampler)
        db = f"sqlite:///{(out / DB).resolve()}"
        with interrupts_deferred():  # pyabc creates its database in several statements: a stop among them left one that no resume could open
            if _has_generation(out / DB):
                history = abc.load(db, 1)
            else:  # none, or one with no generation stored (a kill -9 while it was created): this command's own, started again with the same seed
                (out / DB).unlink(missing_ok=True)
                history = abc.new(db, {p.id: _target_value(p) for p in cal.patterns})
        before = history.total_nr_simulations if history.max_t >= 0 else 0
        remaining = cal.spec.generations - (history.max_t + 1)
        try:
            if remaining > 0 and not manifest.get("finished"):
                # pyabc stores a generation in several statements, and an interruption among
                # them left its session unusable (a traceback, exit 1): Ctrl-C and SIGTERM
                # are held back, and acted on between particles (SeededSampler) or at the end
                with warnings.catch_warnings(), interrupts_deferred():
                    warnings.filterwarnings("ignore", "invalid value encountered in scalar subtract", RuntimeWarning)  # pyabc compares the first, infinite, epsilon with the next: inf - inf
                    abc.run(minimum_epsilon=cal.spec.epsilon.minimum, max_nr_populations=remaining)
                    sampled = True  # a stop held until here stops the command, not the sampling: pyabc may have ended at epsilon.minimum, short of the generations
            sampled, interrupted = True, False
        except KeyboardInterrupt:
            pass
        history = pyabc.History(db)
        simulations = (history.total_nr_simulations - before) * cal.spec.seeds_per_particle
        result = CalibrationResult(out, history.max_t + 1, simulations, time.perf_counter() - started, pool.description, interrupted)
        session.update(generations=result.generations, simulations=simulations, interrupted=interrupted)
        manifest["finished"] = sampled  # a resume only writes the outputs
        if not interrupted:
            if blocked := _outputs_in_the_way(out, manifest):  # a file saved there while it sampled
                session["ended"] = _now()
                write_json(out / MANIFEST, manifest)
                raise CalibrationError(blocked)
            manifest["outputs"] = list(OUTPUTS)  # recorded before they are written: a stop or a full disk after they moved in must not leave them looking like the user's
        write_json(out / MANIFEST, manifest)
        if not interrupted:
            try:
                result.files, result.ess = write_outputs(out, cal, history, pool)
            except KeyboardInterrupt:  # stopped while drawing, none is written; while they moved in, all are (the stop waits for the moves); a resume writes them
                interrupted = result.interrupted = True
                manifest["outputs"] = [name for name in OUTPUTS if (out / name).exists()]  # none was the user's: checked above
        result.worker_deaths = pool.generation
        session.update(ended=_now(), interrupted=interrupted, worker_deaths=pool.generation)
        write_json(out / MANIFEST, manifest)
        return result
    except (ClusterLost, BrokenProcessPool) as exc:  # the particles in flight are dropped, stored generations kept
        if isinstance(exc, ClusterLost):
            why = str(exc)
        else:  # a local pool's workers died twice while one generation ran (abm.sweep.Pool.map runs its tasks again once); another executor's, once
            why = f"worker processes died (killed, or out of memory){' twice' if pool.make is not None else ''} while one generation ran (if memory is short, use fewer --workers)"
        if session is not None:
            session.update(ended=_now(), aborted=why)
            write_json(out / MANIFEST, manifest)
        raise CalibrationStopped(f"{why}; every finished generation is stored in {out / DB}") from None
    except SweepError as exc:  # another calibration holds the folder, or a worker ran other code (abm.sweep.Pool.check): its particles are dropped, stored generations kept
        if session is not None:
            session["ended"] = session["ended"] or _now()
        raise CalibrationError(str(exc)) from None
    except Exception as exc:
        if (reason := None if isinstance(exc, CalibrationError) else disk_error(exc)) is None:  # priors that seldom make a valid scenario (MAX_INVALID), or a fault in the model or the code: a new folder with no generation in it would only block the next try
            discard = not existed and history is not None and history.max_t < 0
            raise
        raise CalibrationError(f"cannot write to {out}: {reason}; every finished generation is stored in {out / DB}: fix that (free space, or the folder's permissions), then continue with --resume --seed {cal.spec.seed}") from None
    finally:
        if session is not None and pool.record():
            session.update(pool.record())
            write_json(out / MANIFEST, manifest)
        try:
            pool.shutdown(interrupted)  # raises KeyboardInterrupt for a Ctrl-C held while it ran
        finally:
            if discard:  # under the lock: released first, a --resume could take the folder just before it went
                shutil.rmtree(out, ignore_errors=True)
            lock.close()


def _check_single_threaded(executor) -> None:
    """Tasks seed NumPy's global stream: two threads of one process would share it."""
    client = getattr(executor, "_client", None)  # distributed.ClientExecutor
    threads = max(client.nthreads().values(), default=1) if client is not None else getattr(executor, "_max_workers", 1) if isinstance(executor, cf.ThreadPoolExecutor) else 1
    if threads > 1:
        raise CalibrationError(f"the executor runs {threads} threads per process; calibration needs one (Dask: start workers with --nthreads 1) so that every task's random stream is its own")


def _has_generation(db: Path) -> bool:
    """Whether the database holds a finished generation to resume from (pyabc's t >= 0;
    its calibration sample, t = -1, is drawn again with the same seeds). Opened ``mode=rw``:
    asking creates no file where there was none, and still rolls back the hot journal a
    kill left (a read-only connection cannot, and took a sound database for a damaged one)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True)) as conn:
            return bool(conn.execute("select count(*) from populations where t >= 0").fetchone()[0])
    except sqlite3.DatabaseError:  # none there, not a database, or no generation table yet
        return False


def _target_value(p: pat.Pattern) -> float:
    """A number standing for the target, stored as pyabc's observed data (for the record)."""
    t = p.target
    if t.value is not None:
        return t.value
    if t.between is not None:
        return sum(t.between) / 2
    return t.above if t.above is not None else t.below


def _create(out: Path, cal: Calibration) -> None:
    """Make the output folder with its manifest and spec all at once, or not at all: a
    calibration killed while making it used to leave a folder without a manifest, which
    the next calibration into it, resumed or not, refused."""
    from abm.sweep import machine

    try:
        with atomic_directory(out) as tmp:
            write_json(tmp / MANIFEST, {
                "calibration": cal.spec.name,
                "description": cal.spec.description,
                "spec_hash": cal.hash,
                "spec": plain(cal.spec.model_dump()),
                "overrides": list(cal.sets),  # abm calibrate --set, which a resume repeats
                "base_scenario": cal.base.to_dict(),
                "patterns": [p.model_dump(mode="json", by_alias=True) for p in cal.patterns],
                "steps": cal.steps,
                "model": model_record(files=True),
                "packages": _packages(),
                "machine": machine(),
                "created": _now(),
                "sessions": [],
                "outputs": [],  # those written (write_outputs), so that a resume replaces no file of the user's
            })
            if cal.source is not None:
                copy_spec(cal, tmp / "calibration.yaml")
    except OutputError as exc:
        raise CalibrationError(made_meanwhile(out, "calibration") if out.exists() or out.is_symlink() else str(exc)) from None
    except OSError as exc:
        raise CalibrationError(f"cannot create {out}: {exc.strerror or exc}") from None


def copy_spec(cal: Calibration, path: Path) -> None:
    """The spec beside its outputs, as run: the file itself, or under ``--set`` or
    ``--seed`` its settings as they changed them (a copy of the file would re-run the file's)."""
    paths = f"{PATHS_HEAD}{Path(cal.source).resolve().parent}\n"  # named by a refusal when the copy is run where it is
    if not cal.sets and not cal.seeded:
        path.write_text(paths + Path(cal.source).read_text(encoding="utf-8"), encoding="utf-8")
    else:
        options = " ".join([as_sets(cal.sets), f"--seed {cal.spec.seed}" if cal.seeded else ""]).strip()
        path.write_text(f"# {cal.source} with abm calibrate {options}\n{paths}" + yamlfile.dump(plain(cal.spec.model_dump(exclude_unset=True)), sort_keys=False), encoding="utf-8")


def check_new(out: Path, resume: bool) -> None:
    """Refuse an existing ``out`` unless resuming, and suggest --resume only for a folder
    that holds a calibration (its manifest); cheap, so the CLI asks it before printing the plan."""
    try:
        check_new_or_resumable(out, "calibration", resume)
        if resume:
            check_unlocked(out, "calibration")
    except (OutputError, SweepError) as exc:
        raise CalibrationError(str(exc)) from None


def _recorded_overrides(manifest: dict) -> list[str]:
    """The --set overrides a calibration's manifest records: none before --set existed."""
    return [str(s) for s in recorded] if isinstance(recorded := manifest.get("overrides"), list) else []


def check_resumable(out: Path, cal: Calibration, allow_model_change: bool = False) -> None:
    """Refuse to resume a folder that holds no calibration, one whose spec (base scenario,
    patterns) changed, or (unless ``allow_model_change``) one started by other model code:
    its stored generations would mix with this code's, as a sweep's runs would. Cheap
    (the manifest, and one query of the database), so the CLI asks it before printing the plan."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sessions"), list) or not all(isinstance(s, dict) for s in manifest["sessions"]):
        raise CalibrationError(f"{out} holds no calibration ({MANIFEST} missing, unreadable or damaged); choose another --out")
    if manifest.get("spec_hash") not in (cal.hash, cal.text_hash):
        stored, now = manifest.get("spec") or {}, plain(cal.spec.model_dump())
        if stored.get("seed") not in (None, now["seed"]) and {**stored, "seed": None} == {**now, "seed": None}:  # a --seed left out of the resume
            raise CalibrationError(f"cannot resume {out}: it started with seed {stored.get('seed')}, not {now['seed']}; resume with --seed {stored.get('seed')}")
        settings = [k for k in dict.fromkeys([*now, *stored]) if stored.get(k) != now.get(k)]
        changed = [f"the spec's {', '.join(settings)}"] if settings else []
        changed += ["its base scenario"] if scenario_hash(manifest.get("base_scenario") or {}) != scenario_hash(cal.base.to_dict()) else []
        changed += ["its patterns"] if fitted([p for p in manifest.get("patterns") or [] if isinstance(p, dict)]) != fitted(cal.patterns) else []
        what = " and ".join(changed) or "the spec, its base scenario or its patterns"
        then = _recorded_overrides(manifest)
        sets = "" if sorted(then) == sorted(cal.sets) else f" (it started with {as_sets(then) or 'no --set'}, this command has {as_sets(cal.sets) or 'none'})"
        seed = f" (--seed {stored['seed']})" if "seed" in settings and stored.get("seed") is not None else ""  # a seed given by --seed is in no file the user could restore it from: name it
        raise CalibrationError(f"cannot resume {out}: {what} changed since it started{sets}; restore what changed{seed}, or start a new calibration with another --out")
    refusal = None if allow_model_change else resume_refusal(out, manifest, "calibration", "generations")
    if refusal:
        raise CalibrationError(refusal)
    if blocked := _outputs_in_the_way(out, manifest):
        raise CalibrationError(blocked)
    db, stored = out / DB, max((s.get("generations") or 0 for s in manifest["sessions"]), default=0)
    if (db.exists() or db.is_symlink()) and not db.is_file() or stored and not _has_generation(db):  # a resume would start again, or crash, over generations the record says were stored
        raise CalibrationError(f"cannot resume {out}: its {DB} is missing or damaged, though {stored} generation(s) were stored in it; restore it from a copy, or start a new calibration with another --out")


def _outputs_in_the_way(out: Path, manifest: dict[str, Any]) -> str | None:
    """Why the outputs cannot be written: a file of their name that the calibration did not
    write (a summary.md or posterior.csv of the user's, saved in a stopped calibration's
    folder, was replaced by its --resume), or None. The manifest lists the outputs written;
    one made before it kept that list trusts a finished calibration's files to be its own."""
    written = manifest.get("outputs", OUTPUTS if manifest.get("finished") else ())
    for name in OUTPUTS:
        if name not in written and ((out / name).exists() or (out / name).is_symlink()):
            return f"--out {out}: {name} is in the way and was not written by abm calibrate; move it, then continue with --resume"
    return None


# --------------------------------------------------------------------------- outputs


def posterior(history) -> pd.DataFrame:
    """The last generation's particles: one column per parameter (dotted path) and ``weight``."""
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    frame["weight"] = np.asarray(weights) / np.sum(weights)
    return frame


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order]) / np.sum(weights)
    return float(values[order][min(np.searchsorted(cum, q), len(values) - 1)])


def effective_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of weighted particles: N for equal weights, 1 when one
    particle holds all the weight."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2))


def constraint_table(cal: Calibration, post: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: prior and posterior spread, their ratio, the 90% interval and a
    verdict; ``unreliable`` for every parameter when the weights are degenerate (effective
    sample size below MIN_ESS), which the ``ess`` column reports."""
    w = post["weight"].to_numpy()
    ess = effective_size(w)
    rows = []
    for name, prior in cal.spec.parameters.items():
        x = post[name].to_numpy(dtype=float)
        mean = float(np.sum(w * x))
        sd = float(math.sqrt(np.sum(w * (x - mean) ** 2)))
        ratio = sd / prior.sd()
        verdict = "unreliable" if ess < MIN_ESS else "constrained" if ratio < CONSTRAINED else "partly constrained" if ratio < PARTLY else "loose"
        rows.append({"parameter": name, "prior": f"{prior.prior}({prior.low:g}, {prior.high:g})", "prior_sd": prior.sd(), "posterior_mean": mean,
                     "posterior_sd": sd, "q05": weighted_quantile(x, w, 0.05), "q95": weighted_quantile(x, w, 0.95), "sd_ratio": ratio, "verdict": verdict, "ess": ess})
    return pd.DataFrame(rows)


def predictive(cal: Calibration, post: pd.DataFrame, pool) -> pd.DataFrame:
    """Posterior predictive check: one fresh run at each draw from the posterior, one row per
    draw. One run, not the mean of ``seeds_per_particle`` runs that the fit scores: the
    observed patterns are one history, and a mean of runs varies less than a history can, so
    it would show the model reproducing them more surely than it does."""
    n = cal.spec.predictive or cal.spec.population
    rng = np.random.default_rng([cal.spec.seed, 0xC0FFEE])
    rows = rng.choice(len(post), size=n, p=post["weight"].to_numpy())
    seeds = rng.integers(0, 2**31 - 1, size=n)
    base = cal.base.to_dict()
    tasks = [([f"{name}={float(post[name].iloc[r])!r}" for name in cal.names], [int(seeds[k])]) for k, r in enumerate(rows)]
    job = functools.partial(_predict_one, base, cal.patterns, cal.steps, cal.tables, cal.allow_large)
    stats = list(pool.map(job, tasks))
    frame = pd.DataFrame(stats)
    frame.insert(0, "draw", range(n))
    frame.insert(1, "seed", seeds)
    for name in cal.names:
        frame.insert(len(frame.columns) - len(cal.patterns), name, post[name].to_numpy()[rows])
    return frame


def _predict_one(base: dict, patterns: list[pat.Pattern], steps: int, tables: bool, allow_large: bool, task) -> dict[str, float]:
    sets, seeds = task
    return simulate(load(base, sets, allow_large), seeds, patterns, steps, tables)


def predictive_table(cal: Calibration, pred: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for p in cal.patterns:
        x = pred[p.id].to_numpy(dtype=float)
        rows.append({"pattern": p.id, "target": p.target.describe(), "tolerance": p.tolerance, "q05": float(np.nanquantile(x, 0.05)),
                     "median": float(np.nanmedian(x)), "q95": float(np.nanquantile(x, 0.95)), "reproduced_share": float(np.mean([p.reproduced(v) for v in x]))})
    return pd.DataFrame(rows)


def write_outputs(out: Path, cal: Calibration, history, pool) -> tuple[list[Path], float]:
    """posterior.csv/.parquet, constraint.csv, predictive.csv, predictive_check.csv,
    summary.md and the charts (:data:`OUTPUTS`); the files and the final weights'
    effective sample size. They are written all together or
    not at all (:func:`abm.outputs.staged_files`): a calibration stopped while drawing
    used to leave the first tables without the rest, under a manifest saying it finished."""
    with staged_files(out) as tmp:
        ess = _write_outputs(tmp, cal, history, pool)
    files = [out / name for name in OUTPUTS]
    return files, ess


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _write_outputs(out: Path, cal: Calibration, history, pool) -> float:
    from abm import report  # matplotlib: only when a calibration has finished

    post = posterior(history)
    post.to_csv(out / "posterior.csv", index=False)
    post.to_parquet(out / "posterior.parquet", index=False)
    table = constraint_table(cal, post)
    table.to_csv(out / "constraint.csv", index=False)
    pred = predictive(cal, post, pool)
    pred.to_csv(out / "predictive.csv", index=False)
    check = predictive_table(cal, pred)
    check.to_csv(out / "predictive_check.csv", index=False)
    epsilons = history.get_all_populations()
    epsilons = epsilons[epsilons["t"] >= 0]  # pyabc's row t = -1 stands for its own set-up, not a generation
    done = f"{_counted(history.max_t + 1, 'generation')} of {_counted(cal.spec.population, 'particle')}"
    lines = [f"# Calibration {cal.spec.name}", "", f"{done}, "
             f"{_counted(history.total_nr_simulations, 'particle')} simulated (x{_counted(cal.spec.seeds_per_particle, 'seed')}); seed {cal.spec.seed}, spec hash {cal.hash[:12]}"
             f"{f', the spec read with {as_sets(cal.sets)}' if cal.sets else ''}.", "",
             "## Which parameters the patterns constrain", "", report.markdown(table), "",
             f"sd_ratio = posterior sd / prior sd; constrained below {CONSTRAINED}, partly constrained below {PARTLY}, loose otherwise; "
             f"every verdict is unreliable when the final weights' effective sample size (ess, Kish) is below {MIN_ESS}: "
             f"here {table['ess'].iloc[0]:.1f} of {len(post)} particles.", "",
             "## Posterior predictive check", "", report.markdown(check), "",
             "## Epsilon schedule", "", report.markdown(epsilons[["t", "epsilon", "samples"]])]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    ess = float(table["ess"].iloc[0])
    footer = (f"calibration {cal.spec.name} (spec {cal.hash[:10]}): {done}, "
              f"{history.total_nr_simulations} simulated x {_counted(cal.spec.seeds_per_particle, 'seed')}; seed {cal.spec.seed}")
    weights = f"the weights amount to {ess:.1f} of {len(post)} particles (Kish)" + (f", below {MIN_ESS}: too few to read a shape from" if ess < MIN_ESS else "")
    for stem, fig in report.posterior_figures(cal.spec.parameters, post, cal.patterns, pred, check, footer, weights).items():
        report.save(fig, out, stem)
    return ess
