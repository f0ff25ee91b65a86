"""Running an experiment: every run of its plan, over any ``concurrent.futures.Executor``.

One code path for a laptop and a cluster: a local process pool by default, or Dask
distributed (``Client.get_executor()``) when a scheduler is given; both are Executors,
so the loop below cannot behave differently between them, and results do not depend on
which one ran them (each run's seed comes from the plan, not from the worker).

What the loop guarantees, and why:

- *Batching.* A model run takes milliseconds and a Dask task costs a few, so runs are
  sent in chunks sized from measured run times (about ``task_seconds`` of work each),
  shrinking near the end so no worker idles.
- *Flat memory.* At most two chunks per worker are in flight; each finished chunk is
  committed to the store (:mod:`abm.store`) and dropped.
- *Isolation.* A run that raises is recorded with its key, parameters, seed and
  traceback, and the sweep goes on. When a worker process dies, the pool is restarted and
  the runs that were in flight are run again one at a time, alone, so that only a run that
  kills its worker again is recorded as failed (a watchdog catches the one death the
  executor misses, halfway through a result: :meth:`Pool._watch`). Workers and the fork
  server die with the main process (Linux: a parent-death signal).
- *Nothing lost.* Results are committed as they arrive; a sweep killed at any moment
  keeps every committed run, and ``resume=True`` runs exactly the runs whose keys are
  missing (or failed). Resuming with a different spec, or with other model code (a
  fingerprint of the package's files), is refused.
- *One model.* Every batch of results comes back with the code fingerprint and library
  versions of the worker that made it (:class:`Pool`); a worker whose code differs from
  the main process's (a cluster node with a stale checkout) has its results refused.
- *Provenance.* ``manifest.json`` records the spec, its hash, every run's parameters
  and seed, the model's git commit and code fingerprint, package versions, the machine,
  and each session's start, end and code (and that of any worker whose code differed).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import datetime as dt
import functools
import gc
import json
import multiprocessing
import os
import platform
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from abm import experiment as experiments
from abm import posterior, runner, yamlfile
from abm.runner import model_record, resume_refusal
from abm.experiment import Experiment, Summary, summarise
from abm.outputs import OutputError, atomic_directory, check_new_or_resumable, disk_error, made_meanwhile
from abm.processes import alive, die_with_parent, ignored, install_hint, interrupt, interrupts_deferred, process_name, sigterm_as_interrupt, take_held_stop
from abm.scenario import as_sets, load
from abm.store import FILE, MANIFEST, SPEC, Outcome, Store, StoreError, completed, interrupted_top_up, pack, reader, write_json, write_text
from abm.store import check as check_store


class SweepError(Exception):
    """A sweep that cannot start as asked (output exists, spec changed, no scheduler)."""


class ClusterLost(SweepError):
    """The executor can run nothing more: its Dask client lost the scheduler. What is
    stored is kept; the runs in flight are neither stored nor counted as failed."""


# --------------------------------------------------------------------------- worker side


@dataclass
class Chunk:
    """Runs sent to a worker in one task; all share one base scenario."""

    raw: dict[str, Any]  # the base scenario, after extends and the fixed overrides
    runs: list[tuple[str, tuple[str, ...], int]]  # (key, parameter overrides, seed)
    series: list[str]
    summaries: list[Summary]
    runner: Callable
    states: list[str] = field(default_factory=list)  # per-state columns kept
    state_keys: list[str] = field(default_factory=list)  # the base scenario's states, in table order
    posterior_sha256: str | None = None  # of the base scenario's posterior file, as planned

    @property
    def columns(self) -> list[str]:
        """The per-step columns a run's results are made of."""
        return list(dict.fromkeys(["step", "date", *self.series, *(s.metric for s in self.summaries)]))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def execute(chunk: Chunk) -> list[Outcome]:
    """Run a chunk; every run ends as an Outcome, whatever it raises."""
    worker = process_name()
    outcomes = []
    for key, sets, seed in chunk.runs:
        start = time.perf_counter()
        try:
            scenario = _validated(chunk.raw, sets)
            if chunk.posterior_sha256 and (found := posterior.sha256(scenario.posterior)) != chunk.posterior_sha256:
                raise ValueError(f"the posterior file {scenario.posterior} here is not the one the sweep planned with (sha256 {found[:8]}, planned {chunk.posterior_sha256[:8]}): a stale copy on this worker?")
            result = chunk.runner(scenario, seed)
            frame = result.model
            missing = [m for m in chunk.series if m not in frame.columns]
            if missing:
                raise KeyError(f"metric(s) not produced by this run: {', '.join(missing)}")
            # Each needed column once as an array: selecting several columns of a DataFrame
            # costs more than the rest of the bookkeeping of a run together.
            columns = {c: frame[c].to_numpy() for c in chunk.columns}
            summaries = summarise(columns, chunk.summaries)
            series = np.column_stack([columns[m].astype(float) for m in chunk.series]) if chunk.series else None
            steps, dates = columns["step"].astype(int).tolist(), columns["date"].astype(str).tolist()
            states = _packed_states(result, chunk, len(steps)) if chunk.states else None
            outcomes.append(Outcome(key, "ok", time.perf_counter() - start, worker, _now(), summaries, steps, dates, series, states))
        except Exception as exc:
            outcomes.append(Outcome(key, "failed", time.perf_counter() - start, worker, _now(), error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))
    return outcomes


def _packed_states(result, chunk: Chunk, steps: int) -> list[bytes]:
    """The kept per-state columns of a run's agents table, one packed steps x states
    array each (abm.store.pack), after checking the table's layout against the plan."""
    agents = getattr(result, "agents", None)
    if agents is None:
        raise ValueError("the runner returned no per-state table (agents), which metrics.states needs")
    n = len(chunk.state_keys)
    if len(agents) != steps * n or agents["state"].iloc[:n].tolist() != chunk.state_keys:
        raise ValueError(f"the agents table is not one row per step and state in the scenario's order ({len(agents)} rows for {steps} steps x {n} states)")
    missing = [c for c in chunk.states if c not in agents.columns]
    if missing:
        raise KeyError(f"per-state column(s) not produced by this run: {', '.join(missing)}")
    values = agents[chunk.states].to_numpy(dtype=float)  # rows (step-major) x kept columns
    return [pack(values[:, j].reshape(steps, n)) for j in range(len(chunk.states))]


_last_validated: tuple = (None, None, None)  # this worker's last (base, overrides, scenario)


def _validated(raw: dict[str, Any], sets: tuple[str, ...]):
    """The scenario of a point, validated once per worker for all its replications, across
    chunks too (a point's replications usually span several chunks, which a worker would
    otherwise each validate again). Runs never write to their scenario, so sharing is safe;
    the cache is one tuple, read and replaced whole, so threads (Dask) never mix entries."""
    global _last_validated
    last = _last_validated
    if last[0] is not raw or last[1] != sets:  # a new chunk brings an equal base as a new object: compare once
        scenario = last[2] if last[1] == sets and last[0] == raw else load(raw, list(sets), allow_large=True)  # the plan was checked before it started
        last = _last_validated = (raw, sets, scenario)
    return last[2]


# A sweep keeps model metrics only: the reference runner without the per-state tables,
# unless the experiment keeps per-state series (metrics.states): then the full runner.
run_model = functools.partial(runner.run, tables=False)
run_with_states = runner.run


def _worker_init(main: int) -> None:
    """Workers leave Ctrl-C to the main process, which stops the sweep cleanly, use one
    BLAS thread each, and die with the fork server that made them (which dies with the
    sweep's main process)."""
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()  # what the fork server imported lives as long as the worker: full collections need not walk it (nor copy its pages)
    gc.enable()  # off in the fork server (see below)
    threadpool_limits(1, user_api="blas")  # the pool keeps every core busy: threaded BLAS in each worker would oversubscribe them
    die_with_parent()
    if not alive(main):  # the sweep ended before this worker started
        os._exit(1)


# The fork server imports this module at its start (see local_pool), with a variable
# naming the sweep process that started it: it dies with that process. The variable is
# set while the sweep submits work, when another thread could start a process that sees
# it: only a fork server (a ``python -c`` running multiprocessing.forkserver) acts on it.
# It only imports and forks, so it runs without the cyclic garbage collector (a collection
# in the middle of importing the model finds nothing to free; 0.05 s of CPU); workers turn
# it back on.
if os.environ.get("ABM_SWEEP_MAIN", str(os.getpid())) != str(os.getpid()) and sys.argv == ["-c"] and "multiprocessing.forkserver" in sys.modules:
    gc.disable()
    # inherited unless a worker's start started it (_LocalExecutor); multiprocessing ignores Ctrl-C itself only once the preload is imported
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    die_with_parent()
    if str(os.getppid()) != os.environ.pop("ABM_SWEEP_MAIN"):  # that process is gone already
        os._exit(1)


# --------------------------------------------------------------------------- executors


def attested(fn: Callable, *args) -> tuple[dict[str, Any], Any]:
    """``fn(*args)`` on a worker, with the worker's code identity
    (:func:`abm.runner.process_identity`) for the main process to check."""
    return runner.process_identity(), fn(*args)


class Pool:
    """An executor, its capacity (parallel slots) and whether the sweep owns it.

    Tasks go through :meth:`submit` and :meth:`map`, so every result comes back with the
    code identity of the worker that made it, and :meth:`check` refuses (SweepError) the
    results of a worker whose model code or computing libraries differ from this
    process's: a cluster node with a stale checkout would otherwise mix its results into
    the store unseen. With ``allow_other_code`` they are accepted, and ``other_code``
    keeps each such worker's identity for the manifest."""

    def __init__(self, make: Callable[[], cf.Executor] | None, capacity: int, description: str, executor: cf.Executor | None = None, close: Callable[[], None] | None = None):
        self.make = make  # set for pools the sweep creates, so a broken one can be replaced
        self.executor = executor if executor is not None else make()
        self.client = getattr(self.executor, "_client", None)  # a Dask pool's client (distributed.ClientExecutor's), whose status and workers it reads
        self._capacity = max(1, capacity)
        self._counted = time.monotonic()
        self.description = description
        self.generation = 0  # times the executor was replaced after a worker died
        self._close = close
        self.code = runner.code_identity()  # this process's, now (not cached: a notebook's files may have changed since the last sweep)
        self.name = process_name()
        self.allow_other_code = False
        self.other_code: dict[str, dict[str, Any]] = {}  # worker -> its code identity, where it differs from this process's
        self.refused: str | None = None
        self._workerless: float | None = None  # since when a Dask cluster has had no worker
        self._said_workerless = False
        self._watching = threading.Event()
        self._watchdog = None
        if make is not None and isinstance(self.executor, cf.ProcessPoolExecutor):
            self._watchdog = threading.Thread(target=self._watch, name="abm-pool-watchdog", daemon=True)
            self._watchdog.start()

    @property
    def capacity(self) -> int:
        """Parallel slots, which bound the chunks in flight and their size. A Dask
        cluster's are its threads now, counted again every RECOUNT seconds: a job queue
        starts workers late, and a sweep that began on the first would otherwise keep
        the cluster's later workers idle to its end."""
        if self.client is not None and time.monotonic() - self._counted > RECOUNT:
            self._counted = time.monotonic()
            with contextlib.suppress(Exception):  # the scheduler is going away: lost() decides
                self._capacity = max(1, sum(self.client.nthreads().values()))
        return self._capacity

    def _watch(self) -> None:
        """Unblock an executor whose reader thread waits on a dead worker's half result.

        The executor notices a worker's death at once, unless its reader thread is in the
        middle of a result: a worker killed (out of memory, kill -9) between the two
        writes of a result over 16 KiB leaves it waiting for bytes that never come, since
        the live workers keep the pipe open, and the sweep would hang. A worker found dead
        for WATCH_GRACE seconds while the executor still counts as working means exactly
        that; its workers are then stopped, the executor breaks, and the runs in flight
        are run again, as after any worker's death."""
        dead_since = None
        while not self._watching.wait(WATCH_EVERY):
            executor = self.executor
            processes = getattr(executor, "_processes", None) or {}
            working = not getattr(executor, "_broken", True) and not getattr(executor, "_shutdown_thread", True)
            if not (working and any(p.exitcode is not None for p in tuple(processes.values()))):
                dead_since = None
            elif dead_since is None:
                dead_since = time.monotonic()
            elif time.monotonic() - dead_since > WATCH_GRACE:
                _unblock(executor)
                dead_since = None

    def submit(self, fn: Callable, *args) -> cf.Future:
        """Submit ``fn(*args)``; the future's result is (worker identity, value), for :meth:`check`."""
        if (why := self.lost()) is not None:
            raise ClusterLost(why)
        with interrupts_deferred():  # submitting may start a worker process
            return self.executor.submit(attested, fn, *args)

    def lost(self, reconnecting: bool = False) -> str | None:
        """Why the executor can run nothing more, or None. A Dask client that loses its
        scheduler tries to reconnect for its connect timeout, then closes; its futures may
        then never complete (distributed leaves some pending), so waiting on them alone
        would hang the command. ``reconnecting``: count a client still trying as lost."""
        if self.client is None or self.client.status not in ("closing", "closed", *(("connecting",) if reconnecting else ())):
            return None
        return f"lost the Dask scheduler ({self.description}): it stopped, or its network did"

    def wait(self, futures) -> set[cf.Future]:
        """Those of ``futures`` that are done, once one is (``cf.wait``, FIRST_COMPLETED),
        or ClusterLost once the executor is lost. A Dask cluster left without workers
        holds its tasks until one joins: that wait is said (:meth:`_say_if_workerless`)."""
        while True:
            done, _ = cf.wait(futures, timeout=WATCH_EVERY, return_when=cf.FIRST_COMPLETED)
            if done:
                self._workerless = None
                return done
            if (signum := take_held_stop()) is not None:  # a calibration holds Ctrl-C and SIGTERM until a particle returns: none may, so waiting is where it stops
                interrupt(signum)
            if (why := self.lost()) is not None:
                raise ClusterLost(why)
            self._say_if_workerless()

    def _say_if_workerless(self) -> None:
        """Say once on stderr when a Dask cluster has had no worker for WORKERLESS seconds:
        the command would otherwise wait in silence, as long as a batch job lets it, for
        workers that never joined or that died (one that cannot import abm dies at its
        first task). Workers may still join (a job queue starts them late), so it waits on."""
        if self.client is None:
            return
        try:
            workers = len(self.client.nthreads())
        except Exception:  # the scheduler is going away: lost() decides
            return
        now = time.monotonic()
        if workers:
            self._workerless = None
        elif self._workerless is None:
            self._workerless = now
        elif now - self._workerless > WORKERLESS and not self._said_workerless:
            self._said_workerless = True
            print(f"waiting: no worker has been connected to the Dask scheduler ({self.description}) for {WORKERLESS:.0f} s: none joined, or they died "
                  "(see their logs; a worker that cannot import abm dies at its first task). Ctrl-C stops; --resume then continues.", file=sys.stderr, flush=True)

    def cancel(self, futures) -> None:
        """Cancel ``futures``, unless the executor is lost: a closed Dask client can cancel
        nothing, and says so with a traceback per future."""
        if self.lost() is None:
            for future in futures:
                future.cancel()

    def dropped(self, future: cf.Future) -> ClusterLost | None:
        """Whether a done Dask ``future`` was dropped by the cluster rather than run: cancelled,
        though this process cancels only when it stops (the scheduler went away, or was
        restarted). Its runs are then not failures, and a resume runs them."""
        if future.cancelled() and self.client is not None:
            return ClusterLost(self.lost(reconnecting=True) or f"the Dask scheduler ({self.description}) cancelled tasks this process had not: it was restarted, or another client cancelled them")
        return None

    def map(self, fn: Callable, iterable) -> Iterator[Any]:
        """``executor.map(fn, iterable)``, each result checked (:meth:`check`), or ClusterLost
        once the cluster is lost (:meth:`wait`, :meth:`dropped`). When a
        worker of a pool the sweep owns dies (killed, out of memory), the pool is restarted
        and the tasks not yet returned are run again, once: ``fn`` must give the same
        result wherever and however often it runs (a calibration's tasks carry their own
        seeds). A second death raises BrokenProcessPool."""
        tasks, done = list(iterable), 0
        for attempt in range(2):
            try:
                futures = [self.submit(fn, task) for task in tasks[done:]]  # refused at once if a worker died while idle
                try:
                    for future in futures:
                        self.wait([future])
                        if (lost := self.dropped(future)) is not None:
                            raise lost
                        there, value = future.result()
                        self.check(there)
                        done += 1
                        yield value
                finally:  # what is left when a task failed, or the caller stopped reading
                    self.cancel(futures)
                return
            except BrokenProcessPool:
                if self.make is None or attempt:
                    raise
                self.restart()

    def check(self, there: dict[str, Any]) -> None:
        """Refuse (SweepError) results made by a worker whose code identity differs from
        this process's, unless ``allow_other_code``; a result of this very process (a
        thread pool) is its own."""
        if there["worker"] == self.name:
            return
        why = runner.worker_difference(self.code, there)
        if why is None:
            return
        self.other_code[there["worker"]] = {k: there[k] for k in ("source", "libraries")}
        if not self.allow_other_code:
            self.refused = runner.worker_refusal(there["worker"], why)
            raise SweepError(self.refused)

    def record(self) -> dict[str, Any]:
        """What a session's manifest entry adds about workers that ran other code: each
        one's identity, and the refusal if their results were refused."""
        return {**({"other_code": self.other_code} if self.other_code else {}), **({"refused": self.refused} if self.refused else {})}

    def restart(self) -> None:
        """Replace the executor after a worker died, unless a stop is held: a group SIGTERM
        killed the workers too, and the command stops as the signal asks instead of
        starting new ones and counting a death."""
        if (signum := take_held_stop()) is not None:
            interrupt(signum)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self.make()
        self.generation += 1
        with interrupts_deferred():  # starts a worker
            try:
                probe = self.executor.submit(int)
            except (EOFError, ConnectionError):  # from the fork server, which died as it forked the worker
                raise SweepError(FORK_SERVER_DIED) from None
        try:  # a fresh worker that cannot even run this would fail every run in turn, each blamed on memory
            probe.result()
        except BrokenProcessPool:
            raise SweepError(CANNOT_START) from None

    def shutdown(self, interrupted: bool) -> None:
        """Stop the workers (at once if ``interrupted``, else once idle) and close the
        executor. Ctrl-C and SIGTERM meanwhile are held, so that the workers are not left
        half shut down, then acted on: a sweep cancelled just as it finished stops as
        interrupted, not as done. One that was already stopping for an interruption drops
        them (they ask for nothing more)."""
        with interrupts_deferred() as held:
            if self._watchdog is not None:
                self._watching.set()
                self._watchdog.join()
            if self.make is not None:
                if interrupted:  # workers may be in the middle of a chunk: stop them rather than wait
                    _unblock(self.executor)
                self.executor.shutdown(wait=True, cancel_futures=True)
            if self._close is not None:  # a Dask client: its tasks cancelled first, or the results it still gathers fail as it closes, each with a logged traceback
                if self.lost() is None:
                    self.executor.shutdown(wait=False)
                self._close()
            if interrupted:
                held.clear()


def not_in_a_starting_worker(call: str) -> None:
    """Refuse ``call`` in a worker process that is still starting: one importing again the
    script that started it, which called ``call`` without the main guard (Python's own
    refusal comes later, and a sweep's checks of its folder earlier, with a message about
    the folder)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # what multiprocessing's own check reads
        raise SweepError(f"a worker process, importing the script that started it, reached {call}: call it under 'if __name__ == \"__main__\":'")


CANNOT_START = ("worker processes die as they start, before any work (the lines above say why). A script that calls abm.sweep.run or "
                "abm.calibrate.run must call it under 'if __name__ == \"__main__\":', since every worker process imports the script again")

FORK_SERVER_DIED = ("the process that starts the workers (multiprocessing's fork server) died as it started one, killed by a signal or "
                    "out of memory; the runs finished so far are kept: run the same command with --resume to go on")

WATCH_EVERY = 0.5  # seconds between the watchdog's looks at the workers
WATCH_GRACE = 3.0  # a dead worker unnoticed this long means a reader stuck on its half result
WORKERLESS = 10.0  # seconds a Dask cluster may be without workers before the wait is said
RECOUNT = 2.0  # seconds between counts of a Dask cluster's threads (Pool.capacity)


def _unblock(executor: cf.Executor) -> None:
    """Terminate a process pool's workers, then close the result pipe's last write end.

    A worker stopped between the two writes of a large result leaves the executor's
    reader thread waiting for the rest, which the last write end, this process's own,
    would never send: closing it gives the reader an end of file, and the executor stops
    as broken."""
    for process in tuple((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()
    results = getattr(executor, "_result_queue", None)
    if results is not None:
        results._writer.close()


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_pool(workers: int | None, preload: tuple[str, ...] = ("abm.sweep", "abm.model")) -> Pool:
    """A process pool. Workers are forked from a fork server that has already imported
    the model and ``preload`` (fast start, and no fork of a multi-threaded parent), or
    spawned where there is no fork server."""
    workers = workers or default_workers()
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(list(preload))

    def make() -> cf.Executor:
        if "forkserver" in methods:  # (again for a pool made anew: a fork server killed meanwhile is replaced by one that also dies with the sweep)
            _start_fork_server()
        executor = _LocalExecutor if "forkserver" in methods else cf.ProcessPoolExecutor
        return executor(workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),))

    return Pool(make, workers, f"local process pool, {workers} worker(s)")


def _start_fork_server() -> None:
    """Start the fork server unless it runs: it imports the model (about a second) while
    the store is set up, which the main process never does. It, and multiprocessing's
    resource tracker started with it, inherit SIG_IGN for Ctrl-C and a closed terminal's
    SIGHUP (the main process's to handle: a tracker killed by SIGHUP was relaunched with
    tracebacks), and the variable that makes it die with the sweep (see ``ABM_SWEEP_MAIN`` above)."""
    from multiprocessing import forkserver

    with ignored(signal.SIGINT, signal.SIGHUP), _environment(ABM_SWEEP_MAIN=str(os.getpid())):
        forkserver.ensure_running()


class _LocalExecutor(cf.ProcessPoolExecutor):
    """A process pool whose submissions pass on the variable that makes a fork server die
    with the sweep. Submitting may start a worker, and multiprocessing starts the fork
    server anew at a worker's start if it finds it dead: a pool made anew just after its
    fork server was killed can find it still alive (its pipes closed, the process not yet
    reaped), and the next worker's start then starts the replacement. Ctrl-C is not
    ignored here, so as not to lose one pressed while a worker starts: such a fork server
    ignores it once it has imported this module."""

    def submit(self, fn, /, *args, **kwargs):
        with _environment(ABM_SWEEP_MAIN=str(os.getpid())):
            return super().submit(fn, *args, **kwargs)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for processes started within (restored after)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def dask_target(scheduler: str) -> dict[str, str]:
    """Where ``--scheduler`` points, as ``distributed.Client``'s keyword (``address`` or
    ``scheduler_file``), checked without connecting: an address (tcp://host:8786), a
    scheduler file, or ``config`` for the ``scheduler-address`` of Dask's own configuration
    (its YAML files or the DASK_SCHEDULER_ADDRESS variable), as cluster set-ups often provide."""
    try:
        import dask
        import distributed  # noqa: F401
    except ImportError:
        raise SweepError(f"--scheduler needs Dask distributed; {install_hint('cluster')}") from None
    if scheduler == "config":
        address = dask.config.get("scheduler-address", None)
        if not address:
            raise SweepError("--scheduler config: Dask's configuration has no scheduler-address (set DASK_SCHEDULER_ADDRESS, or scheduler-address in ~/.config/dask/*.yaml)")
        return {"address": address}
    if Path(scheduler).exists():
        return {"scheduler_file": _scheduler_file(Path(scheduler))}
    if "://" not in scheduler and ("/" in scheduler or scheduler.endswith(".json")):  # not host:port: a file that is not there
        raise SweepError(f"--scheduler: no such scheduler file: {scheduler} (or give the scheduler's address, e.g. tcp://host:8786)")
    return {"address": scheduler}


def dask_pool(scheduler: str) -> Pool:
    """A pool on the Dask cluster at ``scheduler`` (:func:`dask_target`), once it has a worker."""
    target = dask_target(scheduler)
    from distributed import Client

    try:
        client = Client(**target, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        if not client.nthreads():  # a job queue may start the workers later than the scheduler
            print(f"waiting for a worker to join the Dask scheduler at {client.scheduler.address} (Ctrl-C stops)", file=sys.stderr, flush=True)
            client.wait_for_workers(1)
        capacity = sum(client.nthreads().values())
    except (OSError, TimeoutError) as exc:  # the scheduler went away meanwhile
        client.close()
        raise SweepError(f"lost the Dask scheduler at {scheduler} while waiting for a worker: {exc}") from None
    except BaseException:
        client.close()
        raise
    return Pool(None, capacity, f"Dask {client.scheduler.address}, {capacity} thread(s) at the start", executor=client.get_executor(pure=False), close=client.close)


def _scheduler_file(path: Path) -> str:
    """``path`` if it is a Dask scheduler file (JSON naming the scheduler's address)."""
    try:
        if not path.is_file() or path.stat().st_size > 2**20:
            raise ValueError
        address = json.loads(path.read_text(encoding="utf-8")).get("address")
        if not isinstance(address, str):
            raise ValueError
    except (OSError, ValueError, AttributeError):
        raise SweepError(f"--scheduler {path}: not a Dask scheduler file (JSON with the scheduler's address, as dask-scheduler --scheduler-file writes)") from None
    return str(path)


def given_pool(executor: cf.Executor) -> Pool:
    """An executor the caller owns (and shuts down)."""
    capacity = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)  # distributed.ClientExecutor
    if client is not None:
        capacity = sum(client.nthreads().values())
    return Pool(None, capacity or default_workers(), f"{type(executor).__name__}, {capacity or '?'} slot(s)", executor=executor)


# --------------------------------------------------------------------------- provenance


def machine() -> dict[str, Any]:
    from abm.runner import blas

    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "blas": blas(),
    }


SWEEP_PACKAGES = ("SALib", "tqdm", "pyarrow", "dask", "distributed")  # what a sweep runs with, besides the model's own


def packages() -> dict[str, str]:
    from abm.runner import PACKAGES, versions

    return versions(PACKAGES + SWEEP_PACKAGES)


def new_manifest(exp: Experiment) -> dict[str, Any]:
    return {
        **described(exp),
        "model": model_record(files=True),
        "packages": packages(),
        "machine": machine(),
        "created": _now(),
        "sessions": [],
    }


def described(exp: Experiment) -> dict[str, Any]:
    """What the manifest says about the plan: everything it takes from the spec, the
    fields the hash leaves out (description, outcome classes, charts) included."""
    return {
        "experiment": exp.name,
        "description": exp.spec.description,
        "spec_hash": exp.hash,
        **exp.resolved(),
        "parameters": exp.parameters,
        "summaries": [s.column for s in exp.summaries],
        "series": exp.series,
        "charts": [c.model_dump(exclude_none=True) for c in exp.charts],
        "plan": exp.describe(),
        "runs": manifest_runs(exp),
    }


def manifest_runs(exp: Experiment) -> list[dict[str, Any]]:
    """Every planned run, with its point's scenario and parameters (what a re-run needs)."""
    points = {p.index: p for p in exp.points}
    return [
        {"run": r.key, "point": r.point, "replication": r.replication, "seed": r.seed, "scenario": points[r.point].scenario, "params": points[r.point].values}
        for r in exp.runs
    ]


def spec_text(exp: Experiment) -> str:
    """experiment.yaml, the spec as run: a figure must not show another horizon than the
    file it sits by. Its paths stay as written, relative to the spec's own folder, which
    the head says; a spec with --set overrides is written out with them applied."""
    where = f"{experiments.PATHS_HEAD}{Path(exp.source).resolve().parent}\n" if exp.source else ""
    if exp.source and not exp.spec.overrides:
        return where + Path(exp.source).read_text(encoding="utf-8")
    head = f"# {exp.source or 'the spec'} with abm sweep --set overrides applied (listed under overrides:)\n" if exp.spec.overrides else ""
    return head + where + yamlfile.dump(experiments.plain(exp.spec.model_dump(exclude_unset=True)), sort_keys=False)


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    """How a sweep session ended."""

    out: Path
    planned: int  # distinct runs in the plan
    already: int  # found finished in the store when the session started
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    aborted: str | None = None  # why the executor stopped taking work, if it did
    failures: list[dict[str, Any]] = field(default_factory=list)
    executor: str = ""
    worker_deaths: int = 0  # worker processes that died (killed, out of memory) and were replaced


@contextlib.contextmanager
def _lock(out: Path, work: str = "sweep") -> Iterator[None]:
    """One writer per sweep (or calibration) directory; the lock dies with its process
    (even on kill -9)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; single-writer is then the user's job
        yield
        return
    path = out / ".lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino:  # locked a file another sweep has just removed
                raise OSError
        except OSError:
            raise _held(out, work) from None
        try:
            yield
        finally:  # no empty file stays behind, also one a killed sweep left and this one took over
            path.unlink(missing_ok=True)  # while still locked: a sweep that opened it now finds it replaced


def _held(out: Path, work: str) -> SweepError:
    return SweepError(f"another {work} is writing to {out}; wait for it or choose another --out")


def check_unlocked(out: Path, work: str = "sweep") -> None:
    """Refuse a folder that another live sweep (or calibration) holds, without taking its
    lock: a probe, so that the CLI refuses before printing the plan. :func:`_lock` still
    decides (a writer may start between the two)."""
    try:
        import fcntl
    except ImportError:  # Windows: see _lock
        return
    try:
        fd = os.open(out / ".lock", os.O_RDONLY)
    except OSError:  # no lock file: nobody holds the folder
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise _held(out, work) from None
    finally:
        os.close(fd)  # releases the probe's lock, if it got one


def check_new(out: Path, resume: bool) -> None:
    """Refuse an existing ``out`` unless resuming (a sweep never replaces a folder), and
    suggest --resume only for a folder that holds a sweep, or one another sweep is
    writing to; cheap, so the CLI asks it before printing the plan."""
    try:
        check_new_or_resumable(out, "sweep", resume, marker=FILE)
    except OutputError as exc:
        raise SweepError(str(exc)) from None
    if resume:
        check_unlocked(out)


def check_resumable(out: Path, exp: Experiment, allow_model_change: bool = False, dry_run: bool = False, top_up: bool = False) -> list[str]:
    """Refuse to resume a damaged sweep folder, or one whose spec (or base scenarios)
    changed, saying what changed, or (unless ``allow_model_change``) one made by another
    version of the model's code (:func:`abm.runner.model_change`), whose stored runs would
    mix with this one's, or a read-only one; return the keys of stored runs that are
    incomplete. ``top_up`` accepts a spec with more replications and no other change
    (:func:`more_replications`). Only a resume that will run opens the results for
    writing: a dry run, or a refused resume, leaves every byte of the folder as it was."""
    try:  # a damaged sweep folder: what is wrong with it (check_new refused any other folder)
        incomplete = check_store(out)
    except StoreError as exc:
        raise SweepError(f"cannot resume: {exc}") from None
    writable = "make it writable, or copy the folder somewhere writable and resume there"
    if not all(os.access(path, os.W_OK) for path in (out, out / FILE)):
        raise SweepError(f"cannot resume in {out}: the folder or its {FILE} is read-only; {writable}")
    meta = dict(_stored_plan(out))
    old_hash, old = meta["spec_hash"], json.loads(meta["hashed"])  # check_store found both
    more = more_replications(out, exp)
    if more and not top_up:
        raise SweepError(f"cannot resume {out}: the spec asks for {more[1]} replications, the sweep holds {more[0]} and nothing else changed. "
                         f"To add the new replications to the stored runs, resume with --top-up; to resume without adding runs, give the spec as the sweep was made ({more[0]} replication(s)).\n{_overrides_then(out, exp)}".rstrip())
    if old_hash == exp.hash or more:
        if not more and not interrupted_top_up(out) and (then := _overrides_then(out, exp)):  # overrides that change nothing would still rewrite the record
            raise SweepError(f"cannot resume {out} with other --set overrides than those it records, even ones that leave its runs unchanged (manifest.json and experiment.yaml say how it was made). {then}".rstrip())
        refusal = None if allow_model_change else resume_refusal(out, json.loads((out / MANIFEST).read_text()), "sweep", "runs")
        if refusal:
            raise SweepError(refusal)
        if not dry_run:
            try:
                with Store(out) as store:  # the writer's connection: what access rights alone do not tell (a read-only file system) refuses it here
                    store.hand_back()
            except sqlite3.OperationalError as exc:
                raise SweepError(f"cannot resume in {out}: {exc} (a read-only folder or {FILE}?); {writable}") from None
        return incomplete
    hashed = _as_stored(exp)
    changes = experiments.differences({k: v for k, v in old.items() if k != "bases"}, {k: v for k, v in hashed.items() if k != "bases"})
    try:
        old_bases = json.loads((out / MANIFEST).read_text())["bases"]
    except (OSError, ValueError, KeyError):
        old_bases = {}
    for name in sorted(set(old["bases"]) | set(exp.hashed["bases"])):
        if old["bases"].get(name) == exp.hashed["bases"].get(name):
            continue
        if name in old_bases and name in exp.bases:
            fields = experiments.differences(*({**d, "provenance": None} for d in (old_bases[name]["resolved"], exp.bases[name].scenario.to_dict())))  # a record, not hashed
            before, now = old_bases[name].get("posterior_sha256"), exp.bases[name].posterior_sha256
            if before and now and before != now:
                fields.insert(0, f"posterior: the file's content changed (sha256 {before[:8]} -> {now[:8]})")
            if not fields:  # the same scenario, hashed as before 3 December 2026 (posterior by path, keys sorted) or 6 December (provenance hashed)
                fields = ["its runs are keyed another way (a sweep made by an earlier version, which hashed scenarios otherwise): start a new sweep"]
            changes.append(f"scenario '{name}' resolves differently: " + "; ".join(fields[:5]) + (" ..." if len(fields) > 5 else ""))
        else:
            changes.append(f"scenario '{name}': {'added' if name not in old['bases'] else 'removed'}")
    if changes == [f"replications: {old['replications']} -> {exp.spec.replications}"]:
        changes[0] += " (a sweep can be topped up with more replications, not cut to fewer: a report of fewer needs a new sweep)"
    shown = "\n  - ".join(changes[:12]) + ("\n  - ..." if len(changes) > 12 else "")
    raise SweepError(
        f"cannot resume {out}: the experiment changed since the sweep started, so its stored runs would not match the plan:\n  - {shown}\n"
        f"{_overrides_then(out, exp)}Restore the original spec and scenarios to resume, or start a new sweep with another --out."
    )


def _stored_plan(out: Path) -> tuple:
    """The plan the store holds, by its spec hash and hashed spec: cheap to read again once
    a resume holds the lock, where a second :func:`check_resumable` would scan the store."""
    conn = reader(out / FILE)
    try:
        return tuple(conn.execute("SELECT key, value FROM meta WHERE key IN ('spec_hash', 'hashed') ORDER BY key").fetchall())
    finally:
        conn.close()


def _as_stored(exp: Experiment) -> dict[str, Any]:
    """What the spec's hash is of, as the store keeps it (JSON, keys sorted: their order is no change)."""
    return json.loads(json.dumps(experiments.plain(exp.hashed), sort_keys=True))


def more_replications(out: Path, exp: Experiment) -> tuple[int, int] | None:
    """The replications stored in ``out`` and planned by ``exp`` when the two differ only
    in that ``exp`` has more, and the stored design is the start of its plan; None
    otherwise. A resume then tops the sweep up, running the added replications only:
    replication ``r``'s seed, child ``r`` of the spec's seed sequence, does not depend on
    how many there are, so the stored runs keep their seeds and keys."""
    try:
        conn = reader(out / FILE)
        try:
            old = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'hashed'").fetchone()[0])
            hashed = _as_stored(exp)
            before, now = old.get("replications"), hashed["replications"]
            if not isinstance(before, int) or now <= before or {**old, "replications": now} != hashed:
                return None
            stored = {(point, rep): run for point, rep, run in conn.execute("SELECT point, replication, run FROM design")}
        finally:
            conn.close()
    except (sqlite3.DatabaseError, TypeError, ValueError, AttributeError):  # a damaged store: check_resumable says what is wrong
        return None
    return (before, now) if stored == {(r.point, r.replication): r.key for r in exp.runs if r.replication < before} else None


def _top_up(out: Path, exp: Experiment, before: int) -> None:
    """Make the sweep in ``out`` the plan of ``exp``, which adds replications to it. The
    manifest and experiment.yaml are written first, the store's design and hash last in
    one transaction (Ctrl-C and SIGTERM wait): a sweep killed in between still differs
    from the spec by replications only, so the same command completes it, and a resume
    with the original spec describes the folder by that spec again (:func:`_describe`)."""
    with interrupts_deferred():
        _describe(out, exp, top_up=(before, exp.spec.replications))
        with Store(out) as store:
            store.extend(exp, before)


def _describe(out: Path, exp: Experiment, top_up: tuple[int, int] | None = None) -> None:
    """Make manifest.json and experiment.yaml describe ``exp``, the plan the store holds
    (or will hold, for a ``top_up``), where they do not: every spec-derived field anew
    (description and charts too, which the hash leaves out), the folder's history kept.
    A top-up that never reached the store is dropped from ``top_ups``."""
    with Store(out) as store:
        if store.meta("experiment") != exp.name:
            store.rename(exp.name)
    manifest = json.loads((out / MANIFEST).read_text())
    fresh = json.loads(json.dumps(described(exp)))  # as stored, to compare with what is
    if top_up is None and all(manifest.get(k) == v for k, v in fresh.items()):
        return
    ups = [t for t in manifest.get("top_ups", []) if t.get("replications", [0, 0])[1] <= exp.spec.replications and t.get("replications") != list(top_up or ())]
    manifest.update(fresh)
    manifest["top_ups"] = ups + ([{"at": _now(), "replications": list(top_up), "argv": sys.argv}] if top_up else [])
    write_json(out / MANIFEST, manifest)
    write_text(out / SPEC, spec_text(exp))


def _overrides_then(out: Path, exp: Experiment) -> str:
    """The --set overrides the sweep was started with, when this command's differ: the
    spec file may be unchanged and the overrides left off (manifest.json keeps them)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        then, when = manifest["spec"].get("overrides", []), "last topped up" if manifest.get("top_ups") else "started"
    except (OSError, ValueError, KeyError, AttributeError):
        return ""
    if not isinstance(then, list) or sorted(map(str, then)) == sorted(exp.spec.overrides):  # their order is no change
        return ""
    if not then:
        return f"The sweep was {when} without --set overrides (this command: {as_sets(exp.spec.overrides)}); leave them off to resume.\n"
    return f"The sweep was {when} with {as_sets(then)} (this command: {as_sets(exp.spec.overrides) or 'none'}); repeat them to resume.\n"


def _create(out: Path, exp: Experiment) -> None:
    """Make the output directory with the store and manifest, all at once or not at all."""
    with atomic_directory(out) as tmp:
        with Store.create(tmp, exp) as store:
            store.hand_back()  # as a session does: a sweep stopped before its first session leaves readers nothing to add beside the store
        write_json(tmp / MANIFEST, new_manifest(exp))
        (tmp / SPEC).write_text(spec_text(exp), encoding="utf-8")


@sigterm_as_interrupt()  # from the start: a job cancelled while the sweep sets up stops as cleanly as one cancelled mid-way
def run(
    experiment: Experiment | str | Path | dict,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: cf.Executor | None = None,
    resume: bool = False,
    allow_model_change: bool = False,
    top_up: bool = False,
    progress: bool | None = None,
    runner: Callable | None = None,
    task_seconds: float = 0.25,
) -> SweepResult:
    """Run ``experiment`` into directory ``out``.

    Executor: ``executor`` if given (the caller shuts it down), else Dask at
    ``scheduler``, else a local pool of ``workers`` processes (default: one per CPU).
    ``runner(scenario, seed)`` runs one configuration and returns an object whose
    ``.model`` is the per-step frame, and ``.agents`` the per-state one when the
    experiment keeps ``metrics.states`` (default :func:`abm.runner.run`, with
    ``tables=False`` when no per-state series are kept; any importable function of the
    same shape works). ``progress``: a tqdm bar, by
    default only on a terminal. ``allow_model_change``: resume even if the model's code
    changed since the sweep started (:func:`check_resumable`), and accept the results of
    workers whose code differs from this process's (:meth:`Pool.check`). ``top_up``: a
    resume whose spec differs from the stored one by more replications only adds them
    (:func:`more_replications`); without it, that is refused as any change is."""
    not_in_a_starting_worker("abm.sweep.run")
    exp = experiments.load(experiment)
    out = Path(out)
    incomplete: list[str] = []
    check_new(out, resume)
    existed = out.exists() or out.is_symlink()  # decided once: a folder that appears later is another command's
    if existed:
        incomplete = check_resumable(out, exp, allow_model_change, top_up=top_up)
        checked = _stored_plan(out)
    if executor is not None:
        pool = given_pool(executor)
    elif scheduler is not None:
        pool = dask_pool(scheduler)
    else:
        pool = local_pool(workers)
    pool.allow_other_code = allow_model_change
    interrupted = True
    try:
        if not existed:
            meanwhile = made_meanwhile(out, "sweep")
            try:
                _create(out, exp)
            except OutputError as exc:  # found there before the rename: never run in a folder this sweep did not make or check
                raise SweepError(meanwhile if out.exists() or out.is_symlink() else str(exc)) from None
            except (OSError, sqlite3.OperationalError) as exc:
                raise SweepError(f"cannot create {out}: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            with _lock(out):
                if existed and _stored_plan(out) != checked:  # another command changed the plan since the check (a top-up finished meanwhile): check again, under the lock
                    incomplete = check_resumable(out, exp, allow_model_change, top_up=top_up)
                if top_up and existed and (more := more_replications(out, exp)):
                    _top_up(out, exp, more[0])
                elif existed:
                    _describe(out, exp)  # a top-up stopped before the store, resumed with the original spec
                result = _session(exp, out, pool, runner or (run_with_states if exp.states else run_model), progress, task_seconds, incomplete)
        except (OSError, sqlite3.OperationalError) as exc:
            if (reason := disk_error(exc)) is None:
                raise
            raise SweepError(f"cannot write to {out}: {reason}; every committed run is kept: fix that, then continue with --resume") from None
        interrupted = result.interrupted
        return result
    finally:
        pool.shutdown(interrupted)


def to_run(exp: Experiment, finished: set[str], incomplete: list[str]) -> tuple[list, list]:
    """The plan's distinct runs, and those a resume runs: not finished, or finished with
    rows lost (``incomplete``, from :func:`check_resumable`)."""
    done = finished - set(incomplete)
    distinct = list({r.key: r for r in exp.runs}.values())
    return distinct, [r for r in distinct if r.key not in done]


def left_to_run(out: Path, exp: Experiment, incomplete: list[str]) -> tuple[int, int]:
    """How many of the plan's distinct runs a resume of ``out`` finds stored, and how many
    it would run; read only, for the plan the CLI prints before a resume."""
    conn = reader(out / FILE)
    try:
        distinct, todo = to_run(exp, completed(conn), incomplete)
    finally:
        conn.close()
    return len(distinct) - len(todo), len(todo)


def _session(exp: Experiment, out: Path, pool: Pool, runner: Callable, progress: bool | None, task_seconds: float, incomplete: list[str]) -> SweepResult:
    from tqdm import tqdm

    started = time.perf_counter()
    manifest = json.loads((out / MANIFEST).read_text())
    session = {"started": _now(), "ended": None, "executor": pool.description, "argv": sys.argv, "cwd": os.getcwd(), "model": model_record(files=True)}
    manifest["sessions"].append(session)
    write_json(out / MANIFEST, manifest)

    store = Store(out)
    distinct, todo = to_run(exp, store.completed(), incomplete)
    result = SweepResult(out, len(distinct), len(distinct) - len(todo), executor=pool.description)
    points = {p.index: p for p in exp.points}
    sets = {p.index: p.sets for p in exp.points}  # each point's overrides made once, not once per run
    run_of = {r.key: r for r in distinct}
    per_run = None  # measured seconds per run, smoothed
    pending: dict[cf.Future, tuple[Chunk, int, bool]] = {}  # chunk, pool generation, suspect
    suspects: collections.deque[Chunk] = collections.deque()  # runs in flight when a worker died
    position = 0

    def next_chunk() -> Chunk:
        nonlocal position
        remaining = len(todo) - position
        size = 1 if per_run is None else max(1, min(int(task_seconds / max(per_run, 1e-6)), remaining // (2 * pool.capacity)))
        first = points[todo[position].point]
        runs = []
        while position < len(todo) and len(runs) < size:
            r = todo[position]
            point = points[r.point]
            if point.scenario != first.scenario:
                break
            runs.append((r.key, sets[r.point], r.seed))
            position += 1
        base = exp.bases[first.scenario]
        return Chunk(base.raw, runs, exp.series, exp.summaries, runner, exp.states, list(base.scenario.states) if exp.states else [], base.posterior_sha256)

    bar = tqdm(total=len(todo), unit="run", disable=(None if progress is None else not progress), dynamic_ncols=True, smoothing=0.1)

    def submit(chunk: Chunk, suspect: bool) -> bool:
        try:
            try:
                future = pool.submit(execute, chunk)
            except BrokenProcessPool:
                pool.restart()
                future = pool.submit(execute, chunk)
        except ClusterLost as exc:
            result.aborted = str(exc)
            return False
        except RuntimeError as exc:  # an executor that was shut down
            result.aborted = f"the executor stopped accepting work: {exc}"
            return False
        pending[future] = (chunk, pool.generation, suspect)
        return True

    try:
        while position < len(todo) or pending or suspects:
            if suspects:
                # After a worker died, the runs it may have held are run one at a time, alone,
                # so that a run which kills its worker again is the only one that fails.
                if not pending and result.aborted is None and not submit(suspects.popleft(), True):
                    break
            else:
                while position < len(todo) and len(pending) < 2 * pool.capacity and result.aborted is None:
                    chunk = next_chunk()
                    if not submit(chunk, False):
                        position -= len(chunk.runs)
                        break
            if not pending:
                break
            try:
                finished = pool.wait(pending)
            except ClusterLost as exc:  # the runs in flight are left unstored, for a resume
                result.aborted = result.aborted or str(exc)
                break
            for future in finished:
                chunk, generation, suspect = pending.pop(future)
                keys = [key for key, _, _ in chunk.runs]
                if (lost := pool.dropped(future)) is not None:  # not the runs' failure: left for a resume, and nothing more is sent
                    result.aborted = result.aborted or str(lost)
                    continue
                try:
                    there, outcomes = future.result()
                except Exception as exc:  # the task itself failed: a dead worker, an unpicklable result
                    died = isinstance(exc, BrokenProcessPool)
                    if died and pool.make is not None and generation == pool.generation:
                        result.worker_deaths += 1
                        pool.restart()
                    if died and not suspect and pool.make is not None:
                        suspects.extend(replace(chunk, runs=[run]) for run in chunk.runs)
                        continue  # not its fault yet: every run of the chunk is tried again alone
                    why = "a worker process died (killed, or out of memory) while running this run alone" if died else f"{type(exc).__name__}: {exc}"
                    outcomes = [Outcome(k, "failed", 0.0, "", _now(), error=why, traceback="".join(traceback.format_exception(exc))) for k in keys]
                else:
                    pool.check(there)  # a worker running other code: refused before anything of it is stored
                with interrupts_deferred(again=interrupt):  # what is stored is counted in the session's record (a second Ctrl-C stops a commit that hangs)
                    store.commit(outcomes)
                    for o in outcomes:
                        if o.status == "ok":
                            result.ok += 1
                            per_run = o.seconds if per_run is None else 0.8 * per_run + 0.2 * o.seconds
                        else:
                            result.failed += 1
                            r = run_of[o.key]
                            result.failures.append({"run": o.key, "point": r.point, "replication": r.replication, "seed": r.seed, "params": points[r.point].labels, "error": o.error})
                bar.update(len(outcomes))
                if result.failed:
                    bar.set_postfix(failed=result.failed, refresh=False)
    except KeyboardInterrupt:
        result.interrupted = True
        pool.cancel(pending)
    finally:
        # a second Ctrl-C or SIGTERM (timeout and a closing terminal signal the whole process
        # group, so the main process often gets two) cut this record short: held until it is
        # written, and dropped if the session is already stopping, which is what it asked for
        with interrupts_deferred(again=interrupt) as held:  # a third one stops a clean-up that hangs (a reader holding the database)
            bar.close()
            store.hand_back()
            store.close()
            result.seconds = time.perf_counter() - started
            session.update(ended=_now(), ran=result.ok + result.failed, ok=result.ok, failed=result.failed, worker_deaths=result.worker_deaths, interrupted=result.interrupted, aborted=result.aborted, **pool.record())
            write_json(out / MANIFEST, manifest)
            if result.interrupted:
                held.clear()
    return result
