"""Storage of a sweep: one SQLite file, every finished run committed as it arrives.

Why SQLite rather than Parquet fragments (the argument is spelled out in
docs/experiments.md): a sweep needs each arriving run written *atomically* (all its
rows or none), *durably* (still there after kill -9 or a power cut), *keyed* (resume
asks "which run keys are done?" and must never store a run twice) and *queryable
while small in memory* (reports aggregate millions of series rows with GROUP BY
instead of loading them). SQLite gives all four in the standard library with no
server: a transaction per batch of runs, WAL journal with ``synchronous=FULL``, primary
keys, and SQL. Parquet fragments would need a file per arrival (thousands of tiny
files), their own atomic-rename protocol, a compaction step, and a reader that
de-duplicates; Parquet remains the *export* format (:meth:`abm.results.Results.export`).

Tables (parameters, per-run summaries and per-step series are separate, so no row
repeats a run's parameters):

- ``meta``: spec hash, experiment name, parameter/summary/series column lists.
- ``points``: one row per point of the parameter space: scenario, one column per swept
  parameter (its label), and the exact values as JSON.
- ``design``: every planned run: point, replication, seed and run key.
- ``runs``: one row per finished run key: status (``ok`` or ``failed``), wall time,
  worker, finish time, and for failures the error and traceback.
- ``summaries``: one row per successful run key, one column per summary.
- ``series``: one row per successful run key and step, one column per kept metric.

Only the sweep's main process writes; workers return results to it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from abm.experiment import Experiment

FILE = "results.sqlite"
MANIFEST = "manifest.json"
SCHEMA_VERSION = "1"
TABLES = ("meta", "points", "design", "runs", "summaries", "series")
META_KEYS = ("schema_version", "experiment", "spec_hash", "hashed", "parameters", "summaries", "series")


class StoreError(Exception):
    """A sweep folder whose store or manifest is damaged; the message says what to do."""


@dataclass
class Outcome:
    """What a worker returns for one run: results, or the error that stopped it."""

    key: str
    status: str  # "ok" or "failed"
    seconds: float
    worker: str
    finished: str  # ISO time, UTC
    summaries: list[float] | None = None
    steps: list[int] | None = None
    dates: list[str] | None = None
    series: np.ndarray | None = None  # steps x kept metrics
    error: str | None = None
    traceback: str | None = None


def quote(name: str) -> str:
    """An SQL identifier for any column name (parameter paths contain dots)."""
    return '"' + name.replace('"', '""') + '"'


def connect(path: Path) -> sqlite3.Connection:
    """The writer's connection."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # readers (reports) never block the writer
    conn.execute("PRAGMA synchronous=FULL")  # a committed run survives a power cut
    return conn


class Store:
    """The writer's handle on a sweep's results file."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / FILE
        if not self.path.exists():
            raise FileNotFoundError(f"no sweep results in {directory} ({FILE} not found)")
        self.conn = connect(self.path)
        self.summaries = json.loads(self.meta("summaries"))
        self.series = json.loads(self.meta("series"))

    @classmethod
    def create(cls, directory: str | Path, experiment: Experiment) -> Store:
        """Write the schema and the plan (points and design) in one transaction."""
        path = Path(directory) / FILE
        conn = connect(path)
        params = experiment.parameters
        summaries = [s.column for s in experiment.summaries]
        meta = {
            "schema_version": SCHEMA_VERSION,
            "experiment": experiment.name,
            "spec_hash": experiment.hash,
            "hashed": json.dumps(experiment.hashed, sort_keys=True),
            "parameters": json.dumps(params),
            "summaries": json.dumps(summaries),
            "series": json.dumps(experiment.series),
        }
        with conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            cols = "".join(f", {quote(p)}" for p in params)
            conn.execute(f"CREATE TABLE points (point INTEGER PRIMARY KEY, scenario TEXT NOT NULL{cols}, [values] TEXT NOT NULL)")
            marks = ", ".join("?" * (len(params) + 3))
            conn.executemany(
                f"INSERT INTO points VALUES ({marks})",
                ((p.index, p.scenario, *(_cell(p.labels[k]) for k in params), json.dumps(p.values)) for p in experiment.points),
            )
            conn.execute("CREATE TABLE design (point INTEGER NOT NULL, replication INTEGER NOT NULL, seed INTEGER NOT NULL, run TEXT NOT NULL, PRIMARY KEY (point, replication))")
            conn.executemany("INSERT INTO design VALUES (?, ?, ?, ?)", ((r.point, r.replication, r.seed, r.key) for r in experiment.runs))
            conn.execute("CREATE INDEX design_run ON design (run)")
            conn.execute(
                "CREATE TABLE runs (run TEXT PRIMARY KEY, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), "
                "seconds REAL, worker TEXT, finished TEXT, error TEXT, traceback TEXT)"
            )
            conn.execute(f"CREATE TABLE summaries (run TEXT PRIMARY KEY{''.join(f', {quote(s)} REAL' for s in summaries)})")
            series = "".join(f", {quote(m)} REAL" for m in experiment.series)
            conn.execute(f"CREATE TABLE series (run TEXT NOT NULL, step INTEGER NOT NULL, date TEXT NOT NULL{series}, PRIMARY KEY (run, step)) WITHOUT ROWID")
        conn.close()
        return cls(directory)

    def meta(self, key: str) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def completed(self) -> set[str]:
        """Keys of runs that finished successfully (failed runs are run again on resume)."""
        return {k for (k,) in self.conn.execute("SELECT run FROM runs WHERE status = 'ok'")}

    def commit(self, outcomes: list[Outcome]) -> None:
        """Store a batch of finished runs in one transaction: all of it, or none."""
        ok = [o for o in outcomes if o.status == "ok"]
        n_sum, n_ser = len(self.summaries), len(self.series)
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((o.key, o.status, o.seconds, o.worker, o.finished, o.error, o.traceback) for o in outcomes),
            )
            self.conn.executemany(f"INSERT OR REPLACE INTO summaries VALUES (?{', ?' * n_sum})", ((o.key, *o.summaries) for o in ok))
            if n_ser:
                rows = (
                    (o.key, step, date, *values)
                    for o in ok
                    for step, date, values in zip(o.steps, o.dates, o.series.tolist())
                )
                self.conn.executemany(f"INSERT OR REPLACE INTO series VALUES (?, ?, ?{', ?' * n_ser})", rows)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _cell(value: Any) -> Any:
    """A parameter label as an SQLite value (mappings and lists as JSON text)."""
    return json.dumps(value) if isinstance(value, dict | list) else value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically: readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=False, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


# --------------------------------------------------------------------------- checking


def check(directory: str | Path) -> list[str]:
    """Check a sweep folder before it is resumed or reported on.

    Raises :class:`StoreError` for a damaged store or manifest (a directory or an empty
    file in its place, a truncated or corrupt database, missing tables, an emptied
    ``meta``, a manifest that is not the sweep's JSON). Returns the keys of runs stored as
    ``ok`` whose rows are incomplete (no summaries row, or not one series row per step):
    resume runs them again, a report refuses to average them."""
    directory = Path(directory)
    path = directory / FILE
    lost = "start the sweep again with another --out, or restore the folder from a copy"
    if not path.exists():
        raise StoreError(f"{directory} holds no sweep results ({FILE} not found); make one with: abm sweep EXPERIMENT --out {directory}")
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"{path} is not a file; the sweep folder is damaged: {lost}")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is empty (zero bytes); the sweep folder is damaged: {lost}")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), t) for k, t in (("sessions", list), ("runs", list), ("bases", dict))):
            raise ValueError
        steps = _expected_rows(manifest)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise StoreError(f"{directory / MANIFEST} is missing or damaged (not the sweep's JSON record); {lost}") from None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if missing := [t for t in TABLES if t not in tables]:
                raise StoreError(f"{path} lacks the table(s) {', '.join(missing)}; the sweep folder is damaged: {lost}")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            try:
                if not all(isinstance(json.loads(meta[k]), list) for k in ("parameters", "summaries", "series")) or not all(meta.get(k) for k in META_KEYS):
                    raise ValueError
                series = len(json.loads(meta["series"])) > 0
            except (KeyError, ValueError, TypeError):
                raise StoreError(f"{path}: its meta table is incomplete or damaged; {lost}") from None
            rows = conn.execute(
                "SELECT r.run, (SELECT COUNT(*) FROM series s WHERE s.run = r.run), "
                "EXISTS (SELECT 1 FROM summaries m WHERE m.run = r.run) FROM runs r WHERE r.status = 'ok'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable results database ({exc}); it may be truncated or overwritten: {lost}") from None
    return [run for run, count, summary in rows if not summary or (series and count != steps.get(run, count))]


def _expected_rows(manifest: dict[str, Any]) -> dict[str, int]:
    """Series rows each planned run must have: one per step, step 0 included."""
    horizon = {name: base["resolved"]["time"]["steps"] for name, base in manifest["bases"].items()}
    return {r["run"]: int(r["params"].get("time.steps", horizon[r["scenario"]])) + 1 for r in manifest["runs"]}
