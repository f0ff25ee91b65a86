"""Processes: how stop signals are held, turned into interrupts or ignored; children that
die with their parent; how a process is named.

One home for what the commands share about processes, so that a sweep, a calibration,
the output folders and the dashboard's server stop the same way:

- Ctrl-C (SIGINT) and SIGTERM are *held* (:func:`interrupts_deferred`) around steps that
  must not be cut in half, and acted on once they end; a batch scheduler's SIGTERM stops
  a sweep or a calibration as Ctrl-C does (:func:`sigterm_as_interrupt`).
- A child asks Linux for a signal when its parent dies (prctl PR_SET_PDEATHSIG,
  :func:`_parent_death`): a parent killed by SIGKILL runs no handler that could pass a
  signal on, and its children would live on (a sweep's workers, the dashboard's server
  holding its port).

This module imports only the standard library's process basics, so that the console
script's entry point (:func:`command`) costs nothing before it imports the CLI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn


def install_hint(extra: str) -> str:
    """How to install an optional extra: into the project's environment, which the README
    runs everything from (a bare ``pip install`` in a shell without it active installs into
    another Python, and the command still fails)."""
    return f"in the project's folder, .venv/bin/pip install -e '.[{extra}]' (bash scripts/setup.sh dev installs every extra)"


INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the signals a command stops on as it would on Ctrl-C (SIGHUP: a closed terminal or ssh session)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def command() -> None:
    """The ``abm`` console script. Importing the package takes about half a second, before
    the CLI's own handling of Ctrl-C is in place: an interrupt then printed a traceback
    (pydantic even turns one raised while it builds a model's validators into a
    SchemaError). It is held until the imports end, then ends the command quietly by that
    signal (:func:`end`), as nothing has been written yet; a second one ends it at once."""
    with interrupts_deferred(again=lambda signum: end(128 + signum)) as held:
        from abm.cli import script

        if held:
            end(128 + held[0])  # not sys.exit: nothing to clean up, and the teardown of ~1,000 modules could be interrupted again
    script()


STOPPED_BY = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # statuses 128 + these end the process by the signal
_stopped_by = [signal.SIGINT]  # the stop signal a KeyboardInterrupt stands for: Ctrl-C, unless sigterm_as_interrupt recorded another


def interrupted_status() -> int:
    """The exit status of a command that an interrupt stopped: 128 + the signal it stands
    for (130 for Ctrl-C, 143 for a SIGTERM that :func:`sigterm_as_interrupt` raised as one)."""
    return 128 + _stopped_by[0]


def end(status: int) -> NoReturn:
    """End the process at once (no teardown) with ``status``. A status that says a stop
    signal ended the command (128 + N: 130 for Ctrl-C, 143 for SIGTERM) ends it *by* that
    signal, as Python's own default does: the shell shows the same status, and also learns
    that the command was stopped rather than that it handled the signal and carried on, so
    a loop such as ``for f in *.yaml; do abm run "$f"; done`` stops at Ctrl-C instead of
    going on to the next file."""
    signum = status - 128
    if signum in STOPPED_BY and signal.getsignal(signum) is not signal.SIG_IGN:  # one the process was started to ignore does not end it
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    os._exit(status)


def process_name() -> str:
    """host:pid, how workers and the main process are named in refusals and manifests."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's counts; a zombie, which has exited but
    not yet been reaped by its parent, does not: a staging folder it left is garbage)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:  # no /proc (macOS, Windows): it exists, which is all that can be said
        return True
    return stat[stat.rfind(")") + 2:stat.rfind(")") + 3] != "Z"  # the state after the command's name, which may hold spaces and parentheses


@contextlib.contextmanager
def interrupts_deferred(again: Callable[[int], object] | None = None) -> Iterator[list[int]]:
    """Hold Ctrl-C and SIGTERM back for the duration, then deliver them as they would
    have been: for steps that must not be cut in half (a sweep's pool recording a worker
    it starts or shutting its workers down, :func:`abm.outputs.staged_files` moving its
    files in, pyabc storing a generation). Yields the list of signals held, which the
    block may act on where it is safe to stop (it then empties the list). ``again`` is
    called with a signal that comes while another is held, before it is held too: for a
    step that could hang, a second Ctrl-C stops it. A signal the process was started to
    ignore (a background job of a shell script ignores Ctrl-C) stays ignored. Outside the
    main thread, where handlers cannot be set, nothing is held."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def hold(signum, frame):
        if caught and again is not None:
            again(signum)
        caught.append(signum)

    previous = {s: signal.signal(s, hold) for s in INTERRUPTS if signal.getsignal(s) is not signal.SIG_IGN}
    _holding.append(caught)
    try:
        yield caught
    finally:
        del _holding[next(i for i, c in enumerate(_holding) if c is caught)]  # by identity: lists of held signals compare equal when empty
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)


_holding: list[list[int]] = []  # the lists of signals held by the interrupts_deferred blocks now open


def take_held_stop() -> int | None:
    """The first stop signal held back by an open :func:`interrupts_deferred` block, taken
    off its list for the caller to act on (:func:`interrupt`), or None. A sweep's pool
    asks when its workers die: a stop sent to the whole process group (a batch scheduler's
    SIGTERM, ``timeout``) kills the workers too, and is then the reason, not a fault to
    recover from by starting new workers."""
    for caught in _holding:
        if caught:
            signum = caught[0]
            caught.clear()
            return signum
    return None


def interrupt(signum: int) -> NoReturn:
    """Stop as a held stop signal asks, where it is safe to: raise KeyboardInterrupt, with
    the signal recorded for the exit status (a SIGTERM held back and acted on ends with
    143, not as a Ctrl-C)."""
    _stopped_by[0] = signum
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt for the duration: batch schedulers stop
    jobs with SIGTERM, a closed terminal or ssh session sends SIGHUP, and a sweep or a
    calibration stops as cleanly as on Ctrl-C (SIGHUP killed it outright, leaving its
    session unrecorded). The signal is recorded, so that the command still ends as
    stopped by it (:func:`interrupted_status`). A signal the process was started to ignore
    stays ignored (``nohup abm sweep ...`` outlives its terminal)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        _stopped_by[0] = signum
        raise KeyboardInterrupt

    _stopped_by[0] = signal.SIGINT
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, handler_before in previous.items():
            signal.signal(s, handler_before)


@contextlib.contextmanager
def ignored(*signals: int) -> Iterator[None]:
    """Ignore ``signals`` for the duration (main thread only), so that a child started
    within inherits SIG_IGN: the fork server of a sweep leaves Ctrl-C to the main process.
    Not for holding a signal back (:func:`interrupts_deferred`): one ignored is lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _parent_death(signum: int) -> Callable[[], object] | None:
    """The call that asks Linux to send ``signum`` to the calling process when its parent
    dies (prctl PR_SET_PDEATHSIG), looked up now, so that it can be made where only calls
    are safe (between fork and exec); None where there is no such request."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)


def die_with_parent() -> None:
    """Have this process killed (SIGKILL) when its parent dies: a sweep's fork server and
    workers, which hold no state worth a clean stop, so that kill -9 of a sweep leaves
    none of them behind. Each checks afterwards that its parent was not already gone."""
    request = _parent_death(signal.SIGKILL)
    if request is not None:
        request()


def die_with(parent: int) -> Callable[[], None] | None:
    """What a child runs before its program (``preexec_fn``): ask for SIGTERM when
    ``parent`` dies, so that a server (the dashboard's) shuts down cleanly rather than
    keep its port. If ``parent`` died before the request was made, the child stops itself
    at once. None where there is no such request."""
    request = _parent_death(signal.SIGTERM)
    if request is None:
        return None

    def arm() -> None:
        request()
        if os.getppid() != parent:  # the parent died before the request was made
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a handler inherited from the parent, which may ignore it here
            os.kill(os.getpid(), signal.SIGTERM)

    return arm
