"""Budgets checked before anything starts: a world, a plan or a pool too large for this
machine is refused with its size and the flag that allows it anyway (``--allow-large``),
rather than found out an hour later by the out-of-memory killer.

- *World size*: the memory a run of a world holds, :func:`world_bytes`. At its start
  that is ``PAIR_BYTES`` per ordered pair of states (the model's pair arrays) and
  ``STATE_POWER_BYTES`` per state and power (ties, offers and their histories), plus
  ``BASE_BYTES``; a run keeping its tables (``abm run``, a sweep keeping per-state
  series) adds ``RECORD_BYTES`` per state, power and step. These are upper bounds of what tests/test_inputs.py measures: 46 to 66
  bytes a pair, 840 to 1,260 a state and power, about 160 a state, power and step. The
  pairwise alignment distances are computed in row blocks, so no ``states^2 * powers``
  array is built. A world is refused when its start exceeds the memory budget (half of
  this machine's memory), or when it has more than ``MAX_STATES`` states or ``MAX_POWERS``
  powers (the limits of generated worlds, and what validation handles in seconds).
- *Runs*: a sweep plan or a comparison of more than ``MAX_RUNS`` runs.
- *Kept series*: ``abm run --seeds`` and ``abm compare`` keep every run's metric series
  until their tables are made: ``KEPT_RUN_BYTES`` a run and ``KEPT_NUMBER_BYTES`` a
  number (steps x metrics a run), an upper bound of what tests/test_inputs.py measures:
  the peak memory 100 more runs of 20 steps add to each command, 70 to 145 kB a run
  (the tables, their stack, the spread's temporaries and the runs' garbage not yet
  collected); about 145 kB a run of 60 steps.
- *Workers*: more than ``WORKERS_PER_CPU`` per CPU, or workers x world memory over a
  whole run above the budget. ``HARD_MAX_WORKERS`` is never exceeded.
"""

from __future__ import annotations

import os

MAX_STATES = 5000
MAX_POWERS = 200
MAX_RUNS = 1_000_000
WORKERS_PER_CPU = 8
HARD_MAX_WORKERS = 4096
FLAG = "--allow-large"
PAIR_BYTES = 64
STATE_POWER_BYTES = 1536
RECORD_BYTES = 192
BASE_BYTES = 4 * 2**20
KEPT_RUN_BYTES = 128 * 2**10
KEPT_NUMBER_BYTES = 48


class BudgetError(ValueError):
    """A request over a budget; the message says the size, the budget and the flag."""


def memory_budget() -> int:
    """Half of the machine's physical memory, in bytes (4 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def world_bytes(states: int, powers: int, steps: int = 0) -> int:
    """Bytes a run of this size holds beyond what any run imports: at its start, or, with
    ``steps``, at the end of that many steps keeping its tables."""
    return BASE_BYTES + PAIR_BYTES * states * states + (STATE_POWER_BYTES + RECORD_BYTES * steps) * states * powers


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_world(states: int, powers: int, allow_large: bool = False) -> str | None:
    """Why a world of this size is refused (None: it fits)."""
    if allow_large:
        return None
    if states > MAX_STATES or powers > MAX_POWERS:
        return f"{states} states and {powers} powers: at most {MAX_STATES} states and {MAX_POWERS} powers ({FLAG} to go beyond)"
    need, budget = world_bytes(states, powers), memory_budget()
    if need > budget:
        return f"{states} states x {powers} powers needs about {_gib(need)} of memory, over the budget of {_gib(budget)} (half of this machine's memory; {FLAG} to try anyway)"
    return None


def check_runs(runs: int, what: str, allow_large: bool = False) -> None:
    if runs > MAX_RUNS and not allow_large:
        raise BudgetError(f"{what}: {runs:,} runs, over the budget of {MAX_RUNS:,} ({FLAG} to run them anyway)")


def kept_bytes(runs: int, numbers: int) -> int:
    """Bytes a command holds for the series of ``runs`` runs, ``numbers`` values in all."""
    return runs * KEPT_RUN_BYTES + numbers * KEPT_NUMBER_BYTES


def check_kept(runs: int, numbers: int, what: str, allow_large: bool = False) -> None:
    """Refuse a command that would keep ``numbers`` metric values of ``runs`` runs in
    memory beyond the budget: it would fail hours in, for want of memory, with nothing
    written."""
    need = kept_bytes(runs, numbers)
    if need > memory_budget() and not allow_large:
        raise BudgetError(f"{what}: keeps {numbers:,} metric values of its runs, about {_gib(need)} of memory, over the budget of {_gib(memory_budget())} (half of this machine's memory; fewer seeds, or {FLAG} to try anyway)")


def check_workers(workers: int, world: int = 0, allow_large: bool = False) -> None:
    """``world``: bytes one run needs (each worker holds one world)."""
    cpus = os.cpu_count() or 1
    if workers > HARD_MAX_WORKERS:
        raise BudgetError(f"--workers {workers}: at most {HARD_MAX_WORKERS}, and without {FLAG} at most {WORKERS_PER_CPU} per CPU ({WORKERS_PER_CPU * cpus} on this machine)")
    if allow_large:
        return
    if workers > WORKERS_PER_CPU * cpus:
        raise BudgetError(f"--workers {workers}: more than {WORKERS_PER_CPU} per CPU on this machine of {cpus} ({FLAG} to start them anyway)")
    if workers * world > memory_budget():
        raise BudgetError(f"--workers {workers}: each holds a world of about {_gib(world)}, {_gib(workers * world)} in all, over the budget of {_gib(memory_budget())} ({FLAG} to try anyway)")
