"""A Dask cluster that fails under a sweep or a calibration: the command ends, says why and
how to go on, and stores nothing the cluster dropped as a failure.

Most tests stand a thread pool in for Dask's executor (abm knows one by its client, whose
status and workers it reads), so that the cluster's failures happen on cue; one kills a
real scheduler under ``abm sweep``.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
import yaml

from abm import calibrate, results, sweep
from abm.cli import main
from abm.processes import interrupts_deferred
from tests.conftest import BASELINE, ROOT
from tests.test_calibrate import small_spec
from tests.test_sweep import tiny_spec


class Client:
    """What abm reads of a ``distributed.Client``: its status and its workers' threads."""

    def __init__(self):
        self.status = "running"
        self.workers = {"tcp://node1:1": 1}

    def nthreads(self) -> dict[str, int]:
        return dict(self.workers)


class Cluster(cf.ThreadPoolExecutor):
    """One thread standing in for Dask's ClientExecutor: its first ``tasks`` tasks run,
    then the cluster fails as ``then`` says. ``lost``: the client closes soon after, and
    the later tasks never complete (distributed leaves some futures pending when it loses
    its scheduler). ``cancelled``: the scheduler cancels them. ``workerless``: the workers
    leave, and one joins again a little later and runs them."""

    def __init__(self, tasks: int, then: str):
        super().__init__(max_workers=1)
        self._client, self.tasks, self.then, self.submitted = Client(), tasks, then, 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.submitted <= self.tasks:
            return super().submit(fn, *args, **kwargs)
        future = cf.Future()
        if self.then == "lost":
            threading.Timer(0.2, setattr, (self._client, "status", "closed")).start()
        elif self.then == "cancelled":
            future.cancel()
            future.set_running_or_notify_cancel()
        else:
            self._client.workers = {}
            threading.Timer(0.5, self.join_and_run, (future, fn, args)).start()
        return future

    def join_and_run(self, future: cf.Future, fn, args) -> None:
        self._client.workers = {"tcp://node2:1": 1}
        future.set_result(fn(*args))


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch):
    """The wait looks at the cluster often, and says a workerless wait soon."""
    monkeypatch.setattr(sweep, "WATCH_EVERY", 0.05)
    monkeypatch.setattr(sweep, "WORKERLESS", 0.2)


@pytest.mark.parametrize("then", ["lost", "cancelled"])
def test_a_sweep_whose_cluster_goes_stops_with_what_it_finished_and_no_failure(tmp_path, then):
    """A lost scheduler hung the sweep forever (futures never completed); the runs its
    cancellation cut off were stored as failed (CancelledError), so counts and exit status
    were wrong."""
    with Cluster(tasks=3, then=then) as cluster:
        result = sweep.run(tiny_spec(), tmp_path / "out", executor=cluster, progress=False)
    reason = "lost the Dask scheduler" if then == "lost" else "cancelled tasks this process had not"
    assert reason in result.aborted and result.failed == 0 and 0 < result.ok < 12 and not result.interrupted
    runs = results.load(tmp_path / "out").runs
    assert (runs["status"] == "ok").sum() == result.ok and set(runs["status"]) == {"ok", "missing"}
    session = json.loads((tmp_path / "out" / "manifest.json").read_text())["sessions"][-1]
    assert session["ended"] and reason in session["aborted"] and session["failed"] == 0
    with cf.ThreadPoolExecutor(1) as ex:  # the cluster back: a resume runs what was cut off
        resumed = sweep.run(tiny_spec(), tmp_path / "out", executor=ex, resume=True, progress=False)
    assert resumed.ok == 12 - result.ok and resumed.failed == 0


def test_a_calibration_whose_cluster_goes_stops_in_one_message_its_session_ended(tmp_path):
    """It printed a 60-line traceback and left its session with ended: None."""
    with Cluster(tasks=8, then="lost") as cluster, pytest.raises(calibrate.CalibrationStopped, match=r"^lost the Dask scheduler .*; every finished generation is stored in .*calibration.db$"):
        calibrate.run(small_spec(), tmp_path / "c", executor=cluster, progress=False)
    session = json.loads((tmp_path / "c" / "manifest.json").read_text())["sessions"][-1]
    assert session["ended"] and "lost the Dask scheduler" in session["aborted"]
    with cf.ThreadPoolExecutor(1) as ex:
        assert calibrate.run(small_spec(), tmp_path / "c", executor=ex, resume=True, progress=False).generations == 2


def test_a_stopped_calibration_exits_1_as_a_stopped_sweep_does(monkeypatch, tmp_path, capsys):
    """Exit status 2 is for input the command refuses; a lost cluster is not the input's fault."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(small_spec()))

    def lost(*_, **__):
        raise calibrate.CalibrationStopped("lost the Dask scheduler (Dask tcp://h:1, 2 thread(s)): it stopped, or its network did; every finished generation is stored")

    monkeypatch.setattr(calibrate, "run", lost)
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "c"), "--scheduler", "tcp://h:1"]) == 1
    assert capsys.readouterr().err == ("stopped early: lost the Dask scheduler (Dask tcp://h:1, 2 thread(s)): it stopped, or its network did; every finished generation is stored; "
                                       f"continue with: abm calibrate {spec} --out {tmp_path / 'c'} --resume --scheduler tcp://h:1\n")


def test_a_cluster_left_without_workers_is_said_once_and_the_sweep_goes_on(tmp_path, capsys):
    """With no worker (none joined, or they died as they unpickled their first task) the
    sweep waited in silence, as long as a batch job let it."""
    with Cluster(tasks=1, then="workerless") as cluster:
        result = sweep.run(tiny_spec(), tmp_path / "out", executor=cluster, progress=False)
    assert result.ok == 12 and result.aborted is None
    err = capsys.readouterr().err
    assert err.count("waiting: no worker has been connected to the Dask scheduler") == 1 and "cannot import abm" in err


def test_a_sweep_waits_for_the_first_worker_of_a_cluster_and_says_so(tmp_path, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        threading.Timer(1.0, cluster.scale, (1,)).start()
        pool = sweep.dask_pool(cluster.scheduler_address)
        try:
            assert pool.executor._client.nthreads() and pool.capacity == sum(pool.executor._client.nthreads().values())
        finally:
            pool.shutdown(False)
    assert capsys.readouterr().err == f"waiting for a worker to join the Dask scheduler at {cluster.scheduler_address} (Ctrl-C stops)\n"


class Growing(cf.ThreadPoolExecutor):
    """Eight threads behind a cluster of one worker, which seven more join as work starts
    (a job queue starting them late); it counts the most tasks it held at once."""

    def __init__(self):
        super().__init__(max_workers=8)
        self._client, self.held, self.most, self.lock = Client(), 0, 0, threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        self._client.workers = {f"tcp://node{k}:1": 1 for k in range(8)}
        with self.lock:
            self.held += 1
            self.most = max(self.most, self.held)
        return super().submit(self.slowly, fn, *args)

    def slowly(self, fn, *args):
        time.sleep(0.1)
        try:
            return fn(*args)
        finally:
            with self.lock:
                self.held -= 1


def test_workers_that_join_a_cluster_late_get_work(monkeypatch, tmp_path):
    """The cluster's threads were counted once, at the start: a sweep begun on the first
    worker kept two chunks in flight to its end, and the later workers idle."""
    monkeypatch.setattr(sweep, "RECOUNT", 0.0)
    with Growing() as cluster:
        result = sweep.run(tiny_spec(), tmp_path / "out", executor=cluster, progress=False)
    assert result.ok == 12 and cluster.most == 12  # every run at once: 16 slots now, where the first count gave 2


def test_a_stop_held_while_the_cluster_runs_nothing_is_acted_on():
    """A calibration holds Ctrl-C and SIGTERM until a particle returns; on a cluster left
    without workers none did, and the command could not be stopped."""
    with Cluster(tasks=0, then="lost") as cluster, interrupts_deferred():
        cluster._client.status = "connecting"  # neither running work nor lost
        pool = sweep.given_pool(cluster)
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):  # it waited for ever
            pool.wait([cf.Future()])


def test_the_hint_to_go_on_keeps_where_the_work_ran(monkeypatch, tmp_path, capsys):
    """After Ctrl-C, 'continue with' dropped --scheduler (the resume ran on the laptop) and --workers."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    stopped = types.SimpleNamespace(already=0, planned=12, ok=0, failed=0, seconds=0.1, executor="x", worker_deaths=0, interrupted=True, failures=[], aborted=None)
    monkeypatch.setattr(sweep, "run", lambda *a, **k: stopped)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--workers", "2"]) in (130, 143)
    assert capsys.readouterr().err.rstrip().endswith(f"--out {tmp_path / 's'} --resume --workers 2")
    cal = tmp_path / "cal.yaml"
    cal.write_text(yaml.safe_dump(small_spec()))
    monkeypatch.setattr(calibrate, "run", lambda *a, **k: types.SimpleNamespace(interrupted=True, generations=1, simulations=6, seconds=0.1, executor="x", worker_deaths=0))
    assert main(["calibrate", str(cal), "--out", str(tmp_path / "c"), "--workers", "1", "--seed", "5"]) in (130, 143)
    assert capsys.readouterr().err.rstrip().endswith(f"--out {tmp_path / 'c'} --resume --seed 5 --workers 1")


def test_a_dry_run_checks_the_scheduler_it_would_run_on(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec()))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--scheduler", str(tmp_path / "gone" / "scheduler.json"), "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: --scheduler: no such scheduler file: {tmp_path / 'gone' / 'scheduler.json'} (or give the scheduler's address, e.g. tcp://host:8786)\n"
    assert not (tmp_path / "s").exists()


def stored_runs(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.Error:  # not made yet
        return 0


def test_abm_sweep_ends_when_its_dask_scheduler_is_killed(tmp_path):
    """The whole command on a real cluster: scheduler and workers in their own processes,
    the scheduler killed once runs are stored."""
    bin_ = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    file = tmp_path / "scheduler.json"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(replications=400, set={"time.steps": 8})))
    out = tmp_path / "out"
    scheduler = subprocess.Popen([bin_ / "dask", "scheduler", "--scheduler-file", file, "--port", "0", "--dashboard-address", ":0"], stderr=subprocess.DEVNULL, env=env)
    worker = None
    try:
        for _ in range(200):
            if file.exists():
                break
            time.sleep(0.1)
        worker = subprocess.Popen([bin_ / "dask", "worker", "--scheduler-file", file, "--nthreads", "1", "--nworkers", "1"], stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        command = subprocess.Popen([bin_ / "abm", "sweep", spec, "--out", out, "--scheduler", file], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while stored_runs(out) == 0 and time.monotonic() < deadline and command.poll() is None:
            time.sleep(0.05)
        scheduler.send_signal(signal.SIGKILL)
        _, err = command.communicate(timeout=60)  # it hung here, forever
    finally:
        for process in (scheduler, worker):
            if process is not None:
                process.kill()
                process.wait()
    assert command.returncode == 1, err
    assert "Traceback" not in err and "stopped early: " in err
    assert err.rstrip().endswith(f"continue with: abm sweep {spec} --out {out} --resume --scheduler {file}")
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    assert session["ended"] and session["failed"] == 0 and 0 < session["ok"] < 800


def test_dask_log_records_keep_their_line_and_lose_their_traceback():
    """A lost scheduler filled the terminal with distributed's and tornado's tracebacks."""
    import logging

    from abm.cli import _one_line, one_line_dask_logs

    def record(name: str, message: str) -> logging.LogRecord:
        try:
            raise OSError("Stream is closed")
        except OSError:
            return logging.getLogger(name).makeRecord(name, logging.ERROR, __file__, 1, message, (), sys.exc_info())

    kept = record("distributed.client", "Failed to reconnect to scheduler after %d seconds")
    kept.args = (10,)
    assert _one_line(kept) and logging.Formatter().format(kept) == "Failed to reconnect to scheduler after 10 seconds (OSError: Stream is closed)"
    assert not _one_line(record("distributed.client", ""))  # logger.exception(""): nothing but a traceback
    assert not _one_line(record("tornado.application", "Exception in callback functools.partial(...)"))
    dasks = logging.StreamHandler()  # as Dask's logging configuration gives its loggers (not under pytest)
    logging.getLogger("distributed.client").addHandler(dasks)
    try:
        one_line_dask_logs()
        one_line_dask_logs()  # as a second command in one process does
        assert dasks.filters == [_one_line]
    finally:
        logging.getLogger("distributed.client").removeHandler(dasks)
