"""The sweep: same results on any executor, failures isolated, nothing lost when killed.

Sweeps here are tiny (the baseline cut to a few quarters) so the suite stays fast; the
properties checked do not depend on the horizon.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, suppress
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm import experiment, report, results, runner, sweep
from abm.cli import main
from abm.runner import run
from abm.scenario import load as load_scenario
from abm.store import Store
from tests.conftest import other_code_pool, report_other_code, stopped_while_shutting_down

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "configs" / "baseline.yaml"
TIMING = ["seconds", "worker", "finished"]


def tiny_spec(**changes) -> dict:
    """A 2 x 2 grid with 3 replications (12 runs) of the baseline cut to 4 quarters."""
    spec = {
        "name": "tiny",
        "scenario": str(BASELINE),
        "set": {"time.steps": 4},
        "grid": {"rules.coercion.strength": [0.0, 1.0], "rules.decision.cap": [0.4, 1.0]},
        "replications": 3,
        "seed": 11,
        "metrics": {
            "series": ["fragmentation", "integration", "offers_accepted"],
            "summaries": [
                {"metric": "fragmentation", "stat": "final"},
                {"metric": "integration", "stat": "mean", "last": 2},
                {"metric": "offers_accepted", "stat": "max"},
            ],
        },
        "charts": [
            {"type": "timeseries", "metrics": ["fragmentation", "integration"], "by": "rules.coercion.strength"},
            {"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"},
            {"type": "box", "metrics": ["integration_mean_last2"], "by": "rules.decision.cap"},
        ],
    }
    spec.update(changes)
    return spec


def failing_runner(scenario, seed):
    """Runs the model, except that coercion strength 1.0 raises: a model error that hits
    some runs only. Module-level so that worker processes can import it."""
    if scenario.rules.coercion.get("strength") == 1.0:
        raise RuntimeError("injected failure for the test")
    return run(scenario, seed)


def dying_runner(scenario, seed):
    """Kills its worker process at one point of the grid, as a segfault or the OOM killer would."""
    if scenario.rules.coercion.get("strength") == 1.0 and scenario.rules.decision.get("cap") == 1.0:
        os._exit(3)
    return run(scenario, seed)


def collecting_runner(scenario, seed):
    """Runs the model, after checking that this worker collects garbage (the fork server
    it came from runs without the collector)."""
    import gc

    if not gc.isenabled():
        raise RuntimeError("the garbage collector is off in this worker")
    return run(scenario, seed)


def stored(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What a sweep stored, without the fields that legitimately vary (timing, worker)."""
    res = results.load(directory)
    return res.runs.drop(columns=TIMING), res.summaries, res.series()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny sweep, run once with one local worker."""
    out = tmp_path_factory.mktemp("sweeps") / "one_worker"
    result = sweep.run(tiny_spec(), out, workers=1, progress=False)
    assert result.ok == 12 and result.failed == 0
    return out


def test_the_sweep_stores_every_planned_run(reference):
    runs, summaries, series = stored(reference)
    assert len(runs) == 12 and set(runs["status"]) == {"ok"}
    assert len(summaries) == 12
    assert len(series) == 12 * 5  # steps 0..4
    assert runs.groupby("point")["seed"].apply(list).map(len).eq(3).all()
    assert runs.groupby("replication")["seed"].nunique().eq(1).all()  # common random numbers across points
    assert runs["seed"].nunique() == 3


def test_two_workers_and_dask_store_the_same_results(reference, tmp_path, capsys):
    import dask
    from distributed import Client, LocalCluster

    sweep.run(tiny_spec(), tmp_path / "two", workers=2, progress=False)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(["sweep", str(spec), "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
        with dask.config.set({"scheduler-address": cluster.scheduler_address}):
            assert main(["sweep", str(spec), "--out", str(tmp_path / "dask_config"), "--scheduler", "config"]) == 0
        with Client(cluster) as client:  # Dask workers on a stale checkout: their runs are refused
            client.run(report_other_code, {"source": "0" * 16})
        assert main(["sweep", str(spec), "--out", str(tmp_path / "dask_stale"), "--scheduler", cluster.scheduler_address]) == 2
        assert "refused the results of worker" in capsys.readouterr().err and results.load(tmp_path / "dask_stale").runs["status"].eq("missing").all()
    assert "Dask" in json.loads((tmp_path / "dask" / "manifest.json").read_text())["sessions"][0]["executor"]
    expected = stored(reference)
    for other in ("two", "dask", "dask_config"):
        for got, want in zip(stored(tmp_path / other), expected):
            pd.testing.assert_frame_equal(got, want)


def test_any_stored_run_can_be_rerun_alone(reference):
    """The manifest has what it takes to re-run one run by hand: scenario, overrides, seed."""
    manifest = json.loads((reference / "manifest.json").read_text())
    res = results.load(reference)
    summaries = res.summaries.set_index("run")
    entry = manifest["runs"][7]
    sets = ["time.steps=4"] + [f"{path}={value}" for path, value in entry["params"].items()]
    alone = run(load_scenario(BASELINE, sets), seed=entry["seed"]).model
    assert summaries.at[entry["run"], "fragmentation_final"] == alone["fragmentation"].iloc[-1]
    assert summaries.at[entry["run"], "offers_accepted_max"] == alone["offers_accepted"].max()
    series = res.series()
    series = series[series["run"] == entry["run"]].reset_index(drop=True)
    alone = alone.assign(date=pd.to_datetime(alone["date"]))  # the store gives dates as datetimes
    pd.testing.assert_frame_equal(series[["step", "date", "fragmentation", "integration"]], alone[["step", "date", "fragmentation", "integration"]], check_dtype=False)


def test_results_rerun_one_run_from_the_manifest(reference):
    res = results.load(reference)
    key = res.runs["run"].iloc[10]
    alone = res.rerun(key).model
    series = res.series()
    stored_run = series[series["run"] == key].reset_index(drop=True)
    np.testing.assert_array_equal(stored_run["integration"].to_numpy(), alone["integration"].to_numpy())
    assert res.summaries.set_index("run").at[key, "fragmentation_final"] == alone["fragmentation"].iloc[-1]


def test_workers_collect_garbage(tmp_path):
    result = sweep.run(tiny_spec(replications=1), tmp_path / "gc", workers=1, runner=collecting_runner, progress=False)
    assert (result.ok, result.failed) == (4, 0), result.failures


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "failing"
    result = sweep.run(tiny_spec(), out, workers=2, runner=failing_runner, progress=False)
    assert (result.ok, result.failed) == (6, 6)
    assert all(f["params"]["rules.coercion.strength"] == 1.0 and "injected failure" in f["error"] for f in result.failures)
    res = results.load(out)
    failures = res.failures
    assert len(res.summaries) == 6
    assert len(failures) == 6
    assert failures["traceback"].str.contains("RuntimeError: injected failure").all()
    assert failures["traceback"].str.contains("failing_runner").all()
    assert set(failures["rules.coercion.strength"]) == {1.0}
    assert failures["seed"].notna().all()
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert (session["ok"], session["failed"]) == (6, 6)

    again = sweep.run(tiny_spec(), out, workers=1, resume=True, progress=False)  # failed runs are re-run
    assert (again.already, again.ok, again.failed) == (6, 6, 0)


def test_a_dying_worker_fails_only_the_runs_that_kill_it_and_the_pool_is_replaced(tmp_path):
    out = tmp_path / "dying"
    result = sweep.run(tiny_spec(), out, workers=2, runner=dying_runner, progress=False)
    assert (result.ok, result.failed) == (9, 3)  # the 3 replications of the killing point, no other run
    assert all("worker process died" in f["error"] for f in result.failures)
    assert {(f["params"]["rules.coercion.strength"], f["params"]["rules.decision.cap"]) for f in result.failures} == {(1.0, 1.0)}
    assert result.worker_deaths >= 3  # counted, and in the session's record: the recovery was once silent
    assert json.loads((out / "manifest.json").read_text())["sessions"][-1]["worker_deaths"] == result.worker_deaths
    again = sweep.run(tiny_spec(), out, workers=2, resume=True, progress=False)
    assert (again.ok, again.failed, again.worker_deaths) == (3, 0, 0)


def test_a_script_that_runs_a_sweep_without_the_main_guard_is_told_so_once(tmp_path):
    """Every worker imports the script again and so runs its sweep again, which Python
    refuses: each worker died as it started, and the sweep failed every run in turn, one
    at a time, each blamed on memory ("killed, or out of memory"), with a pool started
    for each. A fresh worker that cannot run a no-op now stops the sweep at once."""
    script = tmp_path / "unguarded.py"
    script.write_text(f"from abm import sweep\nsweep.run({tiny_spec()!r}, {str(tmp_path / 'out')!r}, workers=2, progress=False)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    assert done.stderr.rstrip().splitlines()[-1] == f"abm.sweep.SweepError: {sweep.CANNOT_START}"
    assert "if __name__ == \"__main__\":" in sweep.CANNOT_START
    assert "SweepError: a worker process, importing the script that started it, reached abm.sweep.run: call it under 'if __name__ == \"__main__\":'" in done.stderr  # each worker's own reason, not the folder's
    assert "already exists" not in done.stderr
    stored = sqlite3.connect(tmp_path / "out" / "results.sqlite").execute("select count(*) from runs").fetchone()[0]
    assert stored == 0  # no run is recorded as failed: none was tried


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _survivors(pids: set[int], wait: float = 20) -> list[int]:
    """Those of ``pids`` still running after up to ``wait`` seconds (a process killed by
    its parent's death takes a moment to go)."""
    deadline = time.monotonic() + wait
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if _running(p)]


def _fork_server(pids: set[int]) -> int | None:
    for pid in pids:
        try:
            if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's (documented)")
@pytest.mark.parametrize("fork_server_killed_first", [False, True])
def test_kill_9_of_the_sweep_leaves_no_fork_server_tracker_or_worker(tmp_path, fork_server_killed_first):
    """With ``fork_server_killed_first``, the sweep replaces a fork server killed under it
    (with its workers); the replacement used to start without the order to die with the
    sweep, and outlived a kill -9 of it with its two workers."""
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(name="long", replications=200, set={"time.steps": 8})))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "abm.cli", "sweep", str(path), "--out", str(out), "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while (_count(out / "results.sqlite") == 0 or len(_descendants(proc.pid)) < 4) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        helpers = _descendants(proc.pid)  # resource tracker, fork server, two workers
        assert len(helpers) >= 4 and proc.poll() is None
        if fork_server_killed_first:
            first = _fork_server(helpers)
            os.kill(first, signal.SIGKILL)
            while (_fork_server(_descendants(proc.pid)) in (None, first) or len(_descendants(proc.pid) - helpers) < 2) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            helpers |= _descendants(proc.pid)  # the new fork server and its worker(s): one at first, which reruns the runs in flight alone
            # (a fork server killed just as the first workers start can take the replacement's first fork with it: the sweep then stops, exit 2, saying to resume)
            assert proc.poll() in (None, 2) and (proc.poll() is not None or _fork_server(helpers - {first}) is not None)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert not _survivors(helpers), "processes outlived the sweep"
        # docs/experiments.md: a session killed outright keeps ended null (one that stopped itself writes it), and its runs
        assert (json.loads((out / "manifest.json").read_text())["sessions"][-1]["ended"] is None) == killed and _count(out / "results.sqlite") > 0
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's (documented)")
def test_a_fork_server_started_by_a_workers_start_also_dies_with_the_sweep():
    """multiprocessing starts the fork server afresh at any worker's start if it finds it
    dead. A pool made anew just after its fork server was killed could still find it
    alive (its pipes closed, the process not yet dead); the next one, started with the
    probe's worker, lacked the order to die with the sweep and outlived a kill -9 of it
    with its worker (seen once in the test above). Here the pool never starts the fork
    server itself, so the worker's start does; the fork server must also leave a closed
    terminal's SIGHUP to the main process, as one started by the pool does."""
    script = (
        "import time\n"
        "from abm import sweep\n"
        "sweep._start_fork_server = lambda: None\n"
        "pool = sweep.local_pool(1)\n"
        "pool.submit(int).result()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        helpers = _descendants(proc.pid)
        assert (fork_server := _fork_server(helpers)) is not None and len(helpers) >= 3  # resource tracker, fork server, worker
        ignores = int(re.search(r"SigIgn:\s*(\w+)", Path(f"/proc/{fork_server}/status").read_text()).group(1), 16)
        assert ignores >> (signal.SIGHUP - 1) & 1, "a closed terminal's SIGHUP is the main process's to handle"  # (multiprocessing ignores Ctrl-C itself once the preload is imported)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert not _survivors(helpers), "processes outlived the sweep"
    finally:
        with suppress(ProcessLookupError):  # what outlived it, as the test above does
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()


def test_ctrl_c_while_a_worker_starts_leaves_no_worker_unknown_to_the_pool(monkeypatch):
    """The pool starts workers as work is submitted; Ctrl-C just after a worker's start
    used to leave it out of the pool's record: not stopped with the pool, it failed with a
    traceback on the terminal once the pool's queues were gone."""
    pool = sweep.local_pool(1)
    started = []
    start = multiprocessing.process.BaseProcess.start

    def start_then_ctrl_c(process):
        start(process)
        started.append(process.pid)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start_then_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):  # the Ctrl-C still stops the caller
            pool.submit(sum, [1, 2])
        assert started and set(started) <= set(pool.executor._processes)
    finally:
        pool.shutdown(interrupted=True)


def test_sigterm_while_the_sweep_sets_up_stops_it_as_ctrl_c_would(monkeypatch, tmp_path):
    """SIGTERM is handled as Ctrl-C from the start, not only once runs are under way: a
    job cancelled while its folder was being made used to die on the spot, leaving a
    staging folder beside --out and a warning about leaked semaphores."""
    unhandled = []
    previous = signal.signal(signal.SIGTERM, lambda *_: unhandled.append(True))  # stands in for the default action, which would end pytest
    original = sweep.new_manifest

    def manifest_then_sigterm(exp):
        signal.raise_signal(signal.SIGTERM)
        return original(exp)

    monkeypatch.setattr(sweep, "new_manifest", manifest_then_sigterm)
    out = tmp_path / "out"
    try:
        with pytest.raises(KeyboardInterrupt), ThreadPoolExecutor(1) as ex:
            sweep.run(tiny_spec(), out, executor=ex, progress=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not unhandled
    assert not list(tmp_path.iterdir()), "nothing is left behind"


def test_a_ctrl_c_just_after_runs_are_stored_still_counts_them(monkeypatch, tmp_path):
    """The session's record counts what the store holds: a Ctrl-C between storing a
    chunk's runs and counting them left the manifest's ran and ok short of the runs in
    results.sqlite."""
    original = Store.commit

    def commit_then_ctrl_c(store, outcomes):
        original(store, outcomes)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Store, "commit", commit_then_ctrl_c)
    out = tmp_path / "out"
    with ThreadPoolExecutor(1) as ex, suppress(KeyboardInterrupt):
        sweep.run(tiny_spec(replications=6), out, executor=ex, progress=False)
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["interrupted"] and session["ok"] == session["ran"] == _count(out / "results.sqlite") > 0


def test_a_sweep_stopped_before_its_session_began_still_says_how_to_continue(monkeypatch, tmp_path, capsys):
    """A stop in the sweep's first second (its folder made, no run under way) printed a
    bare "interrupted", saying nothing of the folder left, which --resume completes."""
    spec, out = tmp_path / "tiny.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    session = sweep._session
    monkeypatch.setattr(sweep, "_session", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["sweep", str(spec), "--out", str(out)]) == 130
    hint = f"continue with: abm sweep {spec} --out {out} --resume"
    assert capsys.readouterr().err == f"interrupted: every finished run is stored in {out}; {hint}\n"
    monkeypatch.setattr(sweep, "_session", session)
    assert main(hint.split(": ", 1)[1].split()[1:]) == 0  # the hint, as given, completes the sweep
    assert results.load(out).runs["status"].eq("ok").sum() == 12

    monkeypatch.setattr(sweep, "_create", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))  # stopped before the folder exists
    assert main(["sweep", str(spec), "--out", str(tmp_path / "none")]) == 130
    assert capsys.readouterr().err.endswith("interrupted\n") and not (tmp_path / "none").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_sweep_stopped_while_its_workers_stop_exits_as_interrupted(monkeypatch, tmp_path, signum):
    """Ctrl-C or SIGTERM while the pool shuts down is held until the workers have
    stopped, then acted on: a sweep cancelled just as it finished used to exit 0."""
    pools = []
    monkeypatch.setattr(sweep, "local_pool", lambda workers: pools.append(stopped_while_shutting_down(signum)) or pools[-1])
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 128 + signum  # 143 for SIGTERM: not taken for Ctrl-C
    assert pools[0].executor._shutdown, "the pool was shut down whole before the interruption was acted on"
    assert results.load(tmp_path / "out").runs["status"].eq("ok").sum() == 12


def test_a_second_interruption_while_an_interrupted_sweep_stops_is_not_raised_again():
    """The sweep is already stopping for an interruption: another Ctrl-C asks for nothing
    more, and must not cut short its own clean stop (the --resume hint it prints)."""
    pool = stopped_while_shutting_down(signal.SIGINT)
    pool.shutdown(interrupted=True)
    assert pool.executor._shutdown


HALF_SENT = """
import struct, time
from abm import sweep
pool = sweep.local_pool(1)
assert list(pool.map(abs, [-1])) == [1]  # a worker started, now idle
# what a worker killed between the two writes of a large result leaves in the pipe:
# a length header and the start of the body; the pool's reader thread waits for the rest
pool.executor._result_queue._writer._send(struct.pack("!i", 100_000) + b"x" * 10)
time.sleep(0.5)
pool.shutdown(interrupted=True)
print("stopped")
"""


def test_an_interrupted_pool_stops_even_when_a_worker_was_killed_halfway_through_a_result():
    """Stopping an interrupted sweep terminates its workers; one killed while sending a
    result (two writes past 16 KiB) left the executor's reader thread waiting for bytes
    that never came, and the sweep hung, deaf to Ctrl-C and SIGTERM (seen once in 37
    interrupts). Run in a child process, so that a hang fails the test instead of
    hanging the suite."""
    assert unhung(HALF_SENT, "the pool's shutdown hung on a half-sent result") == "stopped\n"


def unhung(script: str, hang: str) -> str:
    """The output of ``script`` run in a child process; the test fails with ``hang`` if it
    has not ended within 60 s (the child and its workers killed), or if it failed."""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(hang)
    assert proc.returncode == 0, (out, err)
    return out


DIED_HALF_SENT = """
import os, signal, struct, time
from concurrent.futures.process import BrokenProcessPool
from abm import sweep
pool = sweep.local_pool(2)
busy = [pool.submit(time.sleep, 120) for _ in range(2)]  # two workers, both alive and busy
while len(pool.executor._processes) < 2:
    time.sleep(0.05)
# a worker killed (out of memory, kill -9) between the two writes of a large result:
# the reader thread has the header and the start of the body, and waits for the rest
pool.executor._result_queue._writer._send(struct.pack("!i", 100_000) + b"x" * 10)
time.sleep(0.5)
os.kill(next(iter(pool.executor._processes)), signal.SIGKILL)
try:
    busy[0].result(timeout=40)
except BrokenProcessPool:
    print("broken")
pool.shutdown(interrupted=False)
print("stopped")
"""


def test_a_pool_breaks_when_a_worker_dies_halfway_through_a_result_while_others_live():
    """The other workers keep the result pipe open, so the executor's reader thread waited
    on the dead worker's half result for good and the sweep hung with runs in flight. The
    pool's watchdog sees a worker dead that the executor has not noticed, stops the
    workers, and the executor breaks, which the sweep answers by running the runs in
    flight again. In a child process, so that a hang fails the test instead of the suite."""
    assert unhung(DIED_HALF_SENT, "the pool hung on a dead worker's half-sent result") == "broken\nstopped\n"


def test_the_watchdog_leaves_a_pool_of_long_tasks_alone():
    """Tasks longer than the watchdog's grace, on every worker, are no death to act on."""
    pool = sweep.local_pool(2)
    try:
        assert list(pool.map(functools.partial(slow_double, sweep.WATCH_GRACE + 1.0), [1, 2])) == [2, 4]
        assert pool.generation == 0 and not pool.executor._broken
    finally:
        pool.shutdown(interrupted=False)
    assert not pool._watchdog.is_alive()


def slow_double(seconds: float, x: int) -> int:
    time.sleep(seconds)
    return 2 * x


def dies_once(marker: str, x: int) -> int:
    """Kills its worker the first time any task runs (``marker`` not yet made), then doubles."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)
    return 2 * x


def test_a_fork_server_dying_as_a_new_pool_starts_a_worker_stops_the_sweep_in_words():
    """A fork server killed as it forked a replacement worker made submit raise EOFError
    (or ConnectionRefusedError) out of the sweep, a traceback and exit 1."""
    class Dying(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise EOFError("unexpected EOF")

    pool = sweep.Pool(Dying, 1, "a pool whose fork server is gone")
    try:
        with pytest.raises(sweep.SweepError, match="died as it started one.*--resume"):
            pool.restart()
    finally:
        pool.executor.shutdown()


def test_map_runs_again_the_tasks_of_a_worker_that_died(tmp_path):
    """A calibration maps its tasks over the pool: a worker killed in the middle used to
    end it with a traceback; its tasks are now run again, once, by a new worker."""
    pool = sweep.local_pool(1)
    try:
        assert list(pool.map(functools.partial(dies_once, str(tmp_path / "died")), range(5))) == [0, 2, 4, 6, 8]
        assert pool.generation == 1
        os.kill(next(iter(pool.executor._processes)), signal.SIGKILL)  # a worker dies while idle, between two generations
        deadline = time.monotonic() + 10
        while not pool.executor._broken and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(pool.map(functools.partial(dies_once, str(tmp_path / "died")), range(2))) == [0, 2]
        assert pool.generation == 2
        with pytest.raises(BrokenProcessPool):  # a task that kills every worker it meets is not run a third time
            list(pool.map(os._exit, [3]))
        assert pool.generation == 3
    finally:
        pool.shutdown(interrupted=True)


def test_two_sweeps_started_at_once_into_one_folder_are_told_apart(monkeypatch, tmp_path):
    """Both find --out free; the second to finish making it was told only 'Directory not empty'."""
    out = tmp_path / "out"
    original = sweep.new_manifest

    def the_other_sweep_first(exp):
        out.mkdir()
        (out / "results.sqlite").write_bytes(b"the other sweep's")
        return original(exp)

    monkeypatch.setattr(sweep, "new_manifest", the_other_sweep_first)
    with pytest.raises(sweep.SweepError, match="created meanwhile, by another sweep"), ThreadPoolExecutor(1) as ex:
        sweep.run(tiny_spec(), out, executor=ex, progress=False)
    assert [p.name for p in out.iterdir()] == ["results.sqlite"] and len(list(tmp_path.iterdir())) == 1


def test_a_folder_made_by_another_sweep_after_the_check_is_not_run_in(monkeypatch, tmp_path):
    """The other sweep's folder appears between this one's check and its own creation (while
    the pool starts): this sweep must not take it for its own, unchecked, and run there."""
    out = tmp_path / "out"
    original = sweep.given_pool

    def the_other_sweep_meanwhile(executor):
        monkeypatch.setattr(sweep, "given_pool", original)  # the other sweep's own pool is plain
        sweep.run(tiny_spec(seed=11), out, executor=executor, progress=False)
        return original(executor)

    monkeypatch.setattr(sweep, "given_pool", the_other_sweep_meanwhile)
    with ThreadPoolExecutor(1) as ex:
        with pytest.raises(sweep.SweepError, match="created meanwhile, by another sweep"):
            sweep.run(tiny_spec(seed=12), out, executor=ex, progress=False)
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert len(sessions) == 1  # the other sweep's only


def test_a_resume_of_a_folder_another_sweep_holds_is_refused_before_the_plan_is_printed(tmp_path, capsys):
    """The plan line promised a sweep that was then refused: the lock is probed first."""
    path, out = tmp_path / "spec.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(tiny_spec()))
    with ThreadPoolExecutor(1) as ex:
        sweep.run(tiny_spec(), out, executor=ex, progress=False)
    before = sorted(p.name for p in out.iterdir())
    with sweep._lock(out):  # as the other sweep's process holds it
        assert main(["sweep", str(path), "--out", str(out), "--resume"]) == 2
        assert main(["sweep", str(path), "--out", str(out), "--resume", "--dry-run"]) == 2
        assert (out / ".lock").exists()  # the holder's, left alone
    got = capsys.readouterr()
    assert got.out == "" and got.err.count("another sweep is writing to") == 2, got
    assert sorted(p.name for p in out.iterdir()) == before
    assert main(["sweep", str(path), "--out", str(out), "--resume", "--dry-run"]) == 0  # once released


def test_the_cli_exits_nonzero_when_runs_failed(monkeypatch, tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    original = sweep.run
    monkeypatch.setattr(sweep, "run", lambda *a, **k: original(*a, **{**k, "runner": failing_runner, "progress": False}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "6 run(s) failed" in err and "injected failure" in err and "--resume" in err


def _count(db: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_part_way(spec_path: Path, out: Path) -> pd.Series:
    """Start ``abm sweep`` on one worker, kill -9 it once a run is committed; return the
    finish time of each run stored as done at that moment."""
    command = [sys.executable, "-m", "abm.cli", "sweep", str(spec_path), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _count(out / "results.sqlite") == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned worker, if it is still there
        except ProcessLookupError:
            pass
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = results.load(out).runs
    return before[before["status"] == "ok"].set_index("run")["finished"]


@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False), (signal.SIGHUP, True)])
def test_a_sweep_stopped_by_sigterm_or_sighup_ends_by_that_signal_with_its_runs_stored(tmp_path, signum, group):
    """A batch scheduler's SIGTERM stops a sweep as Ctrl-C does, and the job then ends as
    killed by SIGTERM (status 143 in a shell), not by SIGINT: the signal is carried
    through the interrupt it is turned into (diff review). A closed terminal's SIGHUP to
    the whole process group did kill it outright: its session stayed unrecorded."""
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(name="long", replications=200, set={"time.steps": 8})))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "abm.cli", "sweep", str(spec), "--out", str(out), "--workers", "1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _count(out / "results.sqlite") == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signum) if group else proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signum, (proc.returncode, err)
    assert "interrupted: every finished run is stored" in err
    assert "Traceback" not in err and "resource_tracker" not in err  # the tracker, killed by SIGHUP, was relaunched with tracebacks
    assert results.load(out).runs["status"].eq("ok").sum() >= 1
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["ended"] and session["interrupted"] and not (out / ".lock").exists()


def test_a_stop_held_by_an_outer_block_is_found_after_an_inner_block_ends():
    """The pool asks for a held stop when its workers die (a group SIGTERM); the stop of
    an outer block was lost when an inner, empty block ended: the two lists of held
    signals compared equal and the outer one was dropped from the open blocks."""
    from abm.processes import interrupts_deferred, take_held_stop

    with interrupts_deferred() as outer:
        with interrupts_deferred():
            pass
        signal.raise_signal(signal.SIGTERM)
        assert outer == [signal.SIGTERM]
        assert take_held_stop() == signal.SIGTERM
        assert outer == [] and take_held_stop() is None  # taken: not raised again when the block ends


def test_a_sweep_killed_with_sigkill_resumes_to_exactly_the_uninterrupted_results(tmp_path, capsys):
    spec = tiny_spec(name="killed", replications=30, set={"time.steps": 8})  # 120 runs
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    done_before = kill_part_way(path, out)
    assert 0 < len(done_before) < 120, "the sweep must be killed part-way"
    assert (out / ".lock").exists()  # the killed sweep's, which the resume takes over
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "partial")]) == 0  # a report of the runs so far says so on the terminal
    assert f"note: {120 - len(done_before)} of the 120 planned runs have not run" in capsys.readouterr().err

    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--resume"]) == 0
    assert not (out / ".lock").exists()  # and removes when it ends, as its own

    uninterrupted = tmp_path / "uninterrupted"
    sweep.run(spec, uninterrupted, workers=2, progress=False)
    for got, want in zip(stored(out), stored(uninterrupted)):
        pd.testing.assert_frame_equal(got, want)
    with closing(sqlite3.connect(out / "results.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run) FROM runs").fetchone() == (120, 120)
        assert conn.execute("SELECT COUNT(*) FROM series").fetchone()[0] == 120 * 9
    after = results.load(out).runs.set_index("run")["finished"]
    assert (after[done_before.index] == done_before).all(), "runs finished before the kill were not run again"
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert len(sessions) == 2 and sessions[1]["ran"] == 120 - len(done_before)


def test_resuming_a_changed_experiment_is_refused(reference, tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(seed=12)))
    assert main(["sweep", str(spec), "--out", str(reference), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "seed: 11 -> 12" in err

    # a dry run of the resume promises only what the real one would accept
    assert main(["sweep", str(spec), "--out", str(reference), "--resume", "--dry-run"]) == 2
    assert "seed: 11 -> 12" in capsys.readouterr().err

    # more replications with another change is no top-up; fewer is refused, saying why
    spec.write_text(yaml.safe_dump(tiny_spec(replications=4, seed=12)))
    assert main(["sweep", str(spec), "--out", str(reference), "--resume", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "replications: 3 -> 4" in err and "seed: 11 -> 12" in err and "--top-up" not in err
    spec.write_text(yaml.safe_dump(tiny_spec(replications=2)))
    assert main(["sweep", str(spec), "--out", str(reference), "--resume"]) == 2
    assert "replications: 3 -> 2 (a sweep can be topped up with more replications, not cut to fewer" in capsys.readouterr().err

    spec.write_text(yaml.safe_dump(tiny_spec(set={"time.steps": 5})))
    assert main(["sweep", str(spec), "--out", str(reference), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "set.time.steps: 4 -> 5" in err and "time.steps" in err.split("resolves differently")[1]

    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(reference)]) == 2  # exists, no --resume
    assert "--resume" in capsys.readouterr().err


def test_a_resume_with_more_replications_runs_only_the_added_ones(reference, tmp_path, capsys):
    """A modeler who ran 3 replications and wants 5 resumes with the new number: the 12
    stored runs are kept (replication r's seed does not depend on how many there are),
    only the 8 added runs run, and the folder ends as a 5-replication sweep would."""
    out = tmp_path / "topped"
    shutil.copytree(reference, out)
    kept = results.load(out).runs.set_index("run")["finished"]
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=5"]) == 2  # a resume that forgot an override must not run more than asked
    assert "the spec asks for 5 replications, the sweep holds 3 and nothing else changed. To add the new replications to the stored runs, resume with --top-up" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "seed=5"]) == 2
    assert "The sweep was started without --set overrides (this command: --set seed=5); leave them off to resume." in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=3"]) == 2  # the plan's own value: no change to the runs, but the record would say overridden
    assert "The sweep was started without --set overrides (this command: --set replications=3); leave them off to resume." in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--set", "replications=5", "--top-up"]) == 2
    assert "--top-up only applies with --resume" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=5", "--workers", "1", "--top-up"]) == 0
    printed = capsys.readouterr().out
    assert "topping up: replications 3 -> 5" in printed and "8 ok, 0 failed of 20 distinct runs, 12 were already done" in printed

    fresh = tmp_path / "fresh"
    sweep.run(tiny_spec(replications=5), fresh, workers=1, progress=False)
    for got, want in zip(stored(out), stored(fresh)):
        pd.testing.assert_frame_equal(got, want)
    assert (results.load(out).runs.set_index("run")["finished"][kept.index] == kept).all(), "a stored run was run again"
    manifest, planned = (json.loads((d / "manifest.json").read_text()) for d in (out, fresh))
    assert manifest["runs"] == planned["runs"] and manifest["spec_hash"] == planned["spec_hash"] and manifest["plan"] == planned["plan"]
    assert [t["replications"] for t in manifest["top_ups"]] == [[3, 5]] and manifest["sessions"][-1]["ran"] == 8
    assert yaml.safe_load((out / "experiment.yaml").read_text())["replications"] == 5
    assert "The sweep was last topped up with --set replications=5 (this command: none)" in _refusal(str(spec), out)  # its spec is now the overridden one
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=5", "--workers", "1"]) == 0
    assert "nothing left to run: all 20 distinct runs were already done\n" in capsys.readouterr().out


def test_a_top_up_takes_the_specs_description_and_charts_too(reference, tmp_path):
    """The report draws the manifest's charts and prints its description, which the
    spec's hash leaves out: a top-up with a new chart drew the old ones only."""
    out = tmp_path / "topped"
    shutil.copytree(reference, out)
    spec = tiny_spec(replications=4, description="now with a box of the final fragmentation")
    spec["charts"] = [*spec["charts"], {"type": "box", "metrics": ["fragmentation_final"], "by": "rules.coercion.strength"}]
    sweep.run(spec, out, workers=1, resume=True, top_up=True, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["description"] == "now with a box of the final fragmentation" and len(manifest["charts"]) == 4
    made = report.make(out, tmp_path / "report")
    assert "box_fragmentation_final.png" in {p.name for p in made.files}


def test_a_top_up_stopped_between_its_writes_is_completed_by_the_same_resume(reference, tmp_path, monkeypatch, capsys):
    """The manifest is written before the store's design: a sweep killed between the two
    still differs from the spec by replications only, and the same command completes it."""
    from abm import store

    out = tmp_path / "topped"
    shutil.copytree(reference, out)

    def killed(self, experiment, replications):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.Store, "extend", killed)
    with pytest.raises(KeyboardInterrupt):
        sweep.run(tiny_spec(replications=4), out, workers=1, resume=True, top_up=True, progress=False)
    assert json.loads((out / "manifest.json").read_text())["plan"].startswith("4 point(s) x 4 replication(s)")
    assert len(results.load(out).runs.dropna(subset=["finished"])) == 12
    assert main(["report", str(out)]) == 2  # the manifest is ahead of the store: not reported under the wrong spec
    assert "a top-up (abm sweep --resume --top-up) was stopped part-way" in capsys.readouterr().err
    monkeypatch.undo()
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert sweep.run(tiny_spec(replications=4), out, workers=1, resume=True, top_up=True, progress=False).ok == 4
    fresh = tmp_path / "fresh"
    sweep.run(tiny_spec(replications=4), fresh, workers=1, progress=False)
    for got, want in zip(stored(out), stored(fresh)):
        pd.testing.assert_frame_equal(got, want)
    assert [t["replications"] for t in json.loads((out / "manifest.json").read_text())["top_ups"]] == [[3, 4]]  # the repeat recorded once

    # resumed instead with the spec it was made from: described by that spec again, the top-up dropped
    assert sweep.run(tiny_spec(), copy, workers=1, resume=True, progress=False).ok == 0
    manifest, made = json.loads((copy / "manifest.json").read_text()), json.loads((reference / "manifest.json").read_text())
    assert manifest["runs"] == made["runs"] and manifest["spec_hash"] == made["spec_hash"] and manifest["top_ups"] == []
    assert yaml.safe_load((copy / "experiment.yaml").read_text())["replications"] == 3
    assert main(["report", str(copy)]) == 0


def test_resuming_with_other_model_code_is_refused_unless_allowed(reference, tmp_path, capsys):
    """Stored runs of one model must not mix with runs of another: the manifest's code
    fingerprint is changed here as a commit touching abm/ would change it."""
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["source"] == runner.source_hash() and "commit" in manifest["model"]
    manifest["model"]["source"] = "0" * 16
    files = manifest["model"]["files"]
    assert files == runner.source_files() and {"model.py", "offers.py"} <= files.keys() and "cli.py" not in files  # the fingerprinted files
    files.update({"model.py": "0" * 12, "gone.py": "1" * 12})
    del files["offers.py"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["sweep", str(spec), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume" in err and "model's code or a library it computes with changed" in err and "--allow-model-change" in err and "Traceback" not in err
    assert "now; changed: abm/gone.py (removed), abm/model.py, abm/offers.py (new))" in err  # which files, not only that some did
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--allow-model-change"]) == 0
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert sessions[-1]["model"]["source"] == runner.source_hash()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "new"), "--allow-model-change"]) == 2
    assert "only applies with --resume" in capsys.readouterr().err


def test_runs_of_a_worker_running_other_code_are_refused_unless_allowed(monkeypatch, tmp_path, capsys):
    """A cluster node with a stale checkout must not mix its runs into the store: the
    first session stores 6 ok and 6 failed runs; the resume runs the failed ones on a
    worker process whose code fingerprint is another (only that worker is patched)."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    out = tmp_path / "out"
    assert sweep.run(tiny_spec(), out, workers=1, runner=failing_runner, progress=False).failed == 6
    before = results.load(out).runs
    monkeypatch.setattr(sweep, "local_pool", lambda workers: other_code_pool({"source": "0" * 16}))
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    found = re.search(rf"refused the results of worker ({re.escape(socket.gethostname())}:\d+): its model code differs \(source fingerprint 0{{16}} there, {runner.source_hash()} here\)", err)
    assert found and "What is already stored is kept" in err and "--resume --allow-model-change" in err
    pd.testing.assert_frame_equal(results.load(out).runs, before)  # nothing of the refused worker stored, nothing lost
    refused = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert refused["ran"] == 0 and refused["ended"] and "refused the results" in refused["refused"]
    assert refused["other_code"] == {found[1]: {"source": "0" * 16, "libraries": runner.code_identity()["libraries"]}}

    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--resume", "--allow-model-change"]) == 0
    runs = results.load(out).runs
    assert (runs["status"] == "ok").all() and len(runs) == 12
    accepted = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert accepted["ran"] == 6 and "refused" not in accepted
    assert set(accepted["other_code"]) == set(runs.loc[runs["run"].isin(before.loc[before["status"] == "failed", "run"]), "worker"])  # the worker that ran them
    assert all(code["source"] == "0" * 16 for code in accepted["other_code"].values())


def test_the_check_compares_code_and_computing_libraries_whichever_machine_runs_them():
    """Results injected as a worker would return them: the same code on another machine
    passes, other library versions are refused (or recorded when allowed), and a result of
    this very process (a thread pool) is its own."""
    with ThreadPoolExecutor(1) as ex:
        pool = sweep.given_pool(ex)
    here = pool.code
    assert here == {k: v for k, v in runner.process_identity().items() if k != "worker"}
    pool.check({"worker": "node7:41", **here})
    pool.check({"worker": pool.name, "source": "0" * 16, "libraries": {}})
    older = {**here, "libraries": {**here["libraries"], "numpy": "1.26.4"}}
    with pytest.raises(sweep.SweepError, match=rf"worker node7:42: the libraries it computes with differ \(numpy 1\.26\.4 there, {re.escape(here['libraries']['numpy'])} here\)"):
        pool.check({"worker": "node7:42", **older})
    pool.allow_other_code = True
    pool.check({"worker": "node7:43", **older, "source": "0" * 16})
    assert pool.other_code == {"node7:42": older, "node7:43": {**older, "source": "0" * 16}}
    assert set(pool.record()) == {"other_code", "refused"}


def test_a_worker_works_out_its_code_identity_once(monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "code_identity", lambda: calls.append(1) or {"source": "1" * 16, "libraries": {}})
    monkeypatch.setattr(runner, "_process_identity", (0, {}))
    first = runner.process_identity()
    assert runner.process_identity() is first and len(calls) == 1
    assert first == {"worker": f"{socket.gethostname()}:{os.getpid()}", "source": "1" * 16, "libraries": {}}


CODE = {"commit": "a" * 40, "dirty": False, "source": "1" * 16, "version": "0.1.0"}


@pytest.mark.parametrize(
    "then, now, refused",
    [
        (CODE, CODE, False),
        (CODE, {**CODE, "source": "2" * 16}, True),  # other code, whatever git says
        (CODE, {**CODE, "commit": "b" * 40, "dirty": True}, False),  # same code: a docs commit, a dirty tree
        ({**CODE, "source": None}, {**CODE, "commit": "b" * 40}, True),  # a sweep made before fingerprints: the commit decides
        ({**CODE, "source": None, "dirty": True}, CODE, True),  # ... and uncommitted changes then hide what ran
        ({**CODE, "source": None}, {**CODE, "dirty": True}, True),
        ({**CODE, "source": None}, CODE, False),
        ({"commit": None, "version": "0.1.0"}, {"commit": None, "version": "0.2.0"}, True),  # installed copies: the version
        ({"commit": None, "version": "0.1.0"}, {"commit": None, "version": "0.1.0"}, False),
        ({"commit": None, "version": "not installed"}, {"commit": None, "version": "0.2.0"}, False),  # neither side can tell
        ({}, {}, False),
        ({**CODE, "libraries": {"numpy": "2.5.5"}}, {**CODE, "libraries": {"numpy": "2.6.0"}}, True),  # same code, other streams
        ({**CODE, "libraries": {"numpy": "2.5.5"}}, {**CODE, "libraries": {"numpy": "2.5.5", "mesa": "3.5.1"}}, False),  # not recorded then
    ],
)
def test_what_counts_as_a_change_of_the_model(then, now, refused):
    assert (runner.model_change(then, now) is not None) == refused


def test_only_the_libraries_that_compute_numbers_are_compared():
    """A manifest's package record: matplotlib, pydantic or PyYAML draw, check and read, and
    may move without blocking a resume; NumPy or pyabc may not."""
    recorded = {"numpy": "2.5.5", "matplotlib": "3.10.0", "pydantic": "2.14.4", "pyyaml": "6.0.2", "pyabc": "0.12.15", "mesa": "not installed"}
    assert runner._libraries(recorded) == {"numpy": "2.5.5", "pyabc": "0.12.15"}
    then = {**CODE, "libraries": runner._libraries(recorded)}
    assert runner.model_change(then, {**CODE, "libraries": runner._libraries({**recorded, "matplotlib": "3.11.0"})}) is None
    assert "pyabc" in runner.model_change(then, {**CODE, "libraries": runner._libraries({**recorded, "pyabc": "0.13.0"})})


def test_resuming_a_complete_sweep_runs_nothing_and_takes_the_specs_name_charts_and_description(reference, tmp_path):
    """The hash leaves the name, charts, outcome classes and the description out: a resume
    with them changed runs nothing and describes the folder by the new spec, which abm
    report reads (docs/experiments.md: classes can be changed and reported again without
    re-running); the name in the store too, which the report's footer gives."""
    folder = tmp_path / "copy"
    shutil.copytree(reference, folder)
    changed = tiny_spec(name="tiny_renamed", charts=[{"type": "box", "metrics": ["fragmentation_final"], "file": "renamed"}], description="described anew")
    result = sweep.run(changed, folder, workers=1, resume=True, progress=False)
    assert (result.already, result.ok, result.failed) == (12, 0, 0)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["description"] == "described anew" and [c.get("file") for c in manifest["charts"]] == ["renamed"]
    assert "renamed" in (folder / "experiment.yaml").read_text() and len(manifest["sessions"]) == 2
    assert manifest["experiment"] == results.load(folder).experiment == "tiny_renamed"


def test_identical_points_are_run_once(tmp_path):
    spec = tiny_spec(grid={"rules.coercion.strength": [0.5, 0.5, 0.0]}, replications=2, charts=[])
    exp = experiment.load(spec)
    assert len(exp.runs) == 6 and exp.distinct_runs == 4
    with ThreadPoolExecutor(2) as executor:  # any concurrent.futures.Executor will do
        result = sweep.run(exp, tmp_path / "dup", executor=executor, progress=False)
    assert result.ok == 4
    res = results.load(tmp_path / "dup")
    summaries = res.summaries
    assert len(summaries) == 6  # both points see the shared runs
    first, second = (summaries[summaries["point"] == p]["fragmentation_final"].to_numpy() for p in (0, 1))
    np.testing.assert_array_equal(first, second)


def test_local_workers_use_one_blas_thread():
    """The parent may use threaded BLAS; each worker of a local pool is pinned to one
    thread so that parallel sweeps of large worlds do not oversubscribe the cores."""
    from threadpoolctl import threadpool_info

    pool = sweep.local_pool(2)
    try:
        infos = [pool.executor.submit(threadpool_info).result(timeout=120) for _ in range(4)]
    finally:
        pool.shutdown(False)
    blas = [lib["num_threads"] for info in infos for lib in info if lib["user_api"] == "blas"]
    assert blas and set(blas) == {1}


def test_the_code_fingerprint_ignores_presentation_modules(tmp_path):
    """Editing how results are printed, charted or reported does not stop a resume;
    editing what computes them does."""
    import shutil

    copy = tmp_path / "abm"
    shutil.copytree(Path(runner.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert runner.source_hash(copy) == runner.source_hash()
    for name in sorted(runner.PRESENTATION):
        (copy / name).write_text((copy / name).read_text() + "\n# edited\n")
    assert runner.source_hash(copy) == runner.source_hash()
    (copy / "model.py").write_text((copy / "model.py").read_text() + "\n# edited\n")
    assert runner.source_hash(copy) != runner.source_hash()


def _two_quarters(**changes) -> dict:
    """tiny_spec cut to one replication of two quarters (4 runs), two `set:` entries."""
    return tiny_spec(**{"replications": 1, "set": {"time.steps": 2, "rules.decision.noise": 0.05}, **changes})


@pytest.fixture
def two_quarters_stored(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(_two_quarters(), sort_keys=False))
    with ThreadPoolExecutor(1) as ex:
        assert sweep.run(spec, tmp_path / "out", executor=ex, progress=False).ok == 4
    return spec, tmp_path / "out"


def _refusal(spec, out) -> str:
    with pytest.raises(sweep.SweepError) as info, ThreadPoolExecutor(1) as ex:
        sweep.run(spec, out, executor=ex, progress=False, resume=True)
    return str(info.value)


def test_a_resume_without_the_overrides_the_sweep_was_started_with_names_them(reference, tmp_path, capsys):
    """A sweep started with --set and resumed without it was refused as 'the experiment
    changed ... restore the original spec' though the file had not changed; the refusal
    now names the overrides to repeat."""
    from abm.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    out = tmp_path / "started_with_set"
    assert main(["sweep", str(spec), "--out", str(out), "--set", "replications=1", "--set", "seed=5", "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "seed=5", "--dry-run"]) == 2
    assert "The sweep was started with --set replications=1 --set seed=5 (this command: --set seed=5); repeat them to resume." in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=1", "--set", "seed=5", "--dry-run"]) == 0
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=1", "--set", "seed=6", "--dry-run"]) == 2
    assert "(this command: --set replications=1 --set seed=6)" in capsys.readouterr().err
    spec.write_text(yaml.safe_dump(tiny_spec(grid={"rules.coercion.strength": [0.0, 0.5], "rules.decision.cap": [0.4, 1.0]})))  # the file changed, the overrides repeated: nothing to say of them
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--set", "replications=1", "--set", "seed=5", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "the experiment changed" in err and "started with" not in err


def test_a_refused_resume_lists_only_what_changed(two_quarters_stored):
    """The store keeps the spec's hashed part with sorted keys, as its hash reads it: the
    order of the spec's own keys is no change, and must not be listed as one (only a
    scenario's order is: it sets array indices and the order of draws)."""
    spec, out = two_quarters_stored
    spec.write_text(yaml.safe_dump(_two_quarters(seed=12), sort_keys=False))
    message = _refusal(spec, out)
    assert "seed: 11 -> 12" in message  # the premise: the one real change is listed
    assert "order" not in message, message


def test_a_sweep_over_a_resolved_base_written_again_elsewhere_resumes(tmp_path):
    """A base that is a run's scenario.resolved.yaml, written again on a cluster's node
    (another machine, commit and command in its provenance, the same values), resumes the
    sweep; with a value changed too, the refusal names that value, not the provenance."""
    from abm import runner
    from abm.scenario import load

    base = runner.run(load(BASELINE), seed=0).write(tmp_path / "run") / "scenario.resolved.yaml"
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(_two_quarters(scenario=str(base)), sort_keys=False))
    with ThreadPoolExecutor(1) as ex:
        assert sweep.run(spec, tmp_path / "out", executor=ex, progress=False).ok == 4
    raw = yaml.safe_load(base.read_text())
    raw["provenance"] = {**raw["provenance"], "argv": ["abm", "run", "on", "a", "node"], "model": {"commit": "0" * 40, "dirty": True}, "platform": "a node"}
    base.write_text(yaml.safe_dump(raw, sort_keys=False))
    with ThreadPoolExecutor(1) as ex:
        resumed = sweep.run(spec, tmp_path / "out", executor=ex, progress=False, resume=True)
    assert (resumed.ok, resumed.failed) == (0, 0)  # every run already stored under its key
    raw["rules"]["decay"]["rate"] = 0.05
    base.write_text(yaml.safe_dump(raw, sort_keys=False))
    message = _refusal(spec, tmp_path / "out")
    assert "rules.decay.rate: 0.02 -> 0.05" in message and "provenance" not in message, message


def test_a_sweep_keyed_by_the_old_hashes_says_why_it_cannot_resume(two_quarters_stored):
    """A sweep made before scenario hashes counted key order and posterior content, or left
    out a base's provenance, has an equal resolved scenario under another hash: the refusal says so, rather than listing
    nothing (simulated by another base hash in the store)."""
    spec, out = two_quarters_stored
    with closing(sqlite3.connect(out / "results.sqlite")) as conn, conn:
        hashed = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'hashed'").fetchone()[0])
        hashed["bases"]["baseline"] = "0" * 64  # the base as an earlier version hashed it
        conn.execute("UPDATE meta SET value = ? WHERE key = 'hashed'", (json.dumps(hashed, sort_keys=True),))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'spec_hash'", ("1" * 64,))
    line = next(line for line in _refusal(spec, out).splitlines() if "scenario 'baseline'" in line)
    assert "its runs are keyed another way (a sweep made by an earlier version" in line


def test_resume_into_a_read_only_store_is_a_clean_refusal(reference, tmp_path, monkeypatch, capsys):
    """A read-only sweep folder or results file: the writer's first statement (journal
    mode) failed with a traceback and exit 1, which means "some runs failed"."""
    from abm import store
    from abm.cli import main

    copy = tmp_path / "ro"
    shutil.copytree(reference, copy)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))

    def read_only(path):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store, "connect", read_only)  # as root, file modes cannot make it so
    assert main(["sweep", str(spec), "--out", str(copy), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume in {copy}: attempt to write a readonly database" in err and "Traceback" not in err


def test_a_dry_run_or_a_refused_resume_leaves_the_folder_as_it_was(reference, tmp_path, capsys):
    """Checking a folder for a resume opened the results with the writer's connection,
    which switched the database to WAL mode: a dry run, or a refused resume, changed the
    file's bytes, and every later report left -wal and -shm files beside it."""
    from abm.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--dry-run"]) == 0
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--set", "replications=4", "--dry-run", "--top-up"]) == 0  # a top-up's dry run
    assert "topping up: replications 3 -> 4" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--set", "replications=2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "cannot resume" in err  # refused before the plan line, as abm calibrate refuses
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_a_dry_run_of_a_resume_says_how_much_is_left(reference, tmp_path, capsys):
    """It printed the whole plan, as if nothing were stored: the user could not see what
    the resume would run. A failed run is run again, so it counts as left."""
    from abm.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--dry-run"]) == 0
    assert "resuming: 12 distinct run(s) stored, 0 left to run" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--set", "replications=4", "--dry-run", "--top-up"]) == 0
    assert "resuming: 12 distinct run(s) stored, 4 left to run" in capsys.readouterr().out  # one more replication of 4 points
    with sqlite3.connect(copy / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET status = 'failed' WHERE run IN (SELECT run FROM runs LIMIT 2)")
    conn.close()
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--dry-run"]) == 0
    assert "resuming: 10 distinct run(s) stored, 2 left to run" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(copy), "--resume"]) == 0  # the resume itself says it too, then runs them
    assert "resuming: 10 distinct run(s) stored, 2 left to run" in capsys.readouterr().out


def test_resume_into_a_folder_without_write_access_is_refused_before_opening_it(reference, tmp_path, monkeypatch, capsys):
    """Access rights are asked first, so that a dry run, which opens nothing for writing,
    refuses too (as root, file modes cannot make a file read-only: os.access stands in)."""
    from abm.cli import main

    copy = tmp_path / "ro"
    shutil.copytree(reference, copy)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path).name == "results.sqlite" else real(path, mode))
    assert main(["sweep", str(spec), "--out", str(copy), "--resume", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"cannot resume in {copy}: the folder or its results.sqlite is read-only" in err and "Traceback" not in err


def test_a_second_interrupt_during_the_clean_up_does_not_cut_the_session_record_short(tmp_path, monkeypatch):
    """timeout, or a closed terminal, signals the whole process group, so a sweep's main
    process often gets its stop signal twice: the second one, arriving while the first
    was being cleaned up, left the session's end unrecorded in the manifest."""
    from abm import store

    waits = []

    def interrupted_wait(*args, **kwargs):  # the first stop signal, while runs are pending
        waits.append(1)
        raise KeyboardInterrupt

    hand_back = store.Store.hand_back

    def signalled_again(self):  # the second one, in the middle of the session's clean-up
        if waits:
            signal.raise_signal(signal.SIGINT)
        hand_back(self)

    monkeypatch.setattr(sweep.cf, "wait", interrupted_wait)
    monkeypatch.setattr(store.Store, "hand_back", signalled_again)
    try:
        with ThreadPoolExecutor(1) as ex:
            result = sweep.run(tiny_spec(), tmp_path / "out", executor=ex, progress=False)
    except KeyboardInterrupt:
        result = None
    assert waits and result is not None and result.interrupted
    session = json.loads((tmp_path / "out" / "manifest.json").read_text())["sessions"][-1]
    assert session["ended"] is not None and session["interrupted"] is True


def test_the_command_says_when_workers_died_and_were_replaced(tmp_path, monkeypatch, capsys):
    from abm.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    monkeypatch.setattr(sweep, "run", lambda exp, out, **kw: sweep.SweepResult(Path(out), 12, 0, ok=12, worker_deaths=2, executor="local"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s")]) == 0
    assert "notice: 2 worker process(es) died (killed, or out of memory) and were replaced" in capsys.readouterr().err


def test_a_number_written_another_way_is_named_when_a_resume_is_refused(two_quarters_stored):
    """2 and 2.0 are equal, so the refusal listed no change (an empty bullet), yet the spec
    hashes them apart."""
    spec, out = two_quarters_stored
    spec.write_text(yaml.safe_dump(_two_quarters(set={"time.steps": 2.0, "rules.decision.noise": 0.05}), sort_keys=False))
    message = _refusal(spec, out)
    assert "set.time.steps: 2 -> 2.0 (the same value written another way: write it as the sweep was made)" in message
    assert "\n  - \n" not in message + "\n"
    spec.write_text(yaml.safe_dump(_two_quarters(grid={"rules.coercion.strength": [0, 1], "rules.decision.cap": [0.4, 1.0]}), sort_keys=False))
    assert "grid.rules.coercion.strength[0]: 0.0 -> 0 (the same value written another way" in _refusal(spec, out)  # inside a list too


def test_a_resume_checks_the_folder_again_once_it_holds_the_lock(two_quarters_stored, monkeypatch):
    """The folder was checked before the lock was taken: a top-up that finished in between
    was then undone by the resume's record (manifest and experiment.yaml back to the old
    replications, the store holding the new ones)."""
    spec, out = two_quarters_stored
    real = sweep.given_pool

    def top_up_meanwhile(executor):  # another command tops the sweep up while this one starts its pool
        monkeypatch.setattr(sweep, "given_pool", real)
        with ThreadPoolExecutor(1) as ex:
            sweep.run(_two_quarters(replications=2), out, executor=ex, progress=False, resume=True, top_up=True)
        return real(executor)

    monkeypatch.setattr(sweep, "given_pool", top_up_meanwhile)
    message = _refusal(spec, out)
    assert "replications: 2 -> 1" in message
    assert json.loads((out / "manifest.json").read_text())["spec"]["replications"] == 2
