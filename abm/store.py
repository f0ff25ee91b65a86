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
- ``states``: per-state series (``metrics.states``), *columnar inside SQLite*: one row
  per successful run key and kept column, holding that column's steps x states values
  as one zstd-compressed float64 array (:func:`pack`). Measured against a row per
  (run, step, state), a DuckDB file and Parquet files (benchmarks/bench_state_store.py,
  docs/experiments.md): about 1.2x Parquet's size, as fast as the best Parquet layout
  to read one column across all runs and far faster to read one run whole, cheap to
  write (workers compress; the main process only inserts), and it keeps every guarantee
  above because it commits in the same transaction as the run's other rows.

Only the sweep's main process writes; workers return results to it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abm.outputs import replace_atomically
from abm.units import plain_name

if TYPE_CHECKING:
    from abm.experiment import Experiment

FILE = "results.sqlite"
MANIFEST = "manifest.json"
SPEC = "experiment.yaml"  # the spec as run
SCHEMA_VERSION = "1"
TABLES = ("meta", "points", "design", "runs", "summaries", "series")
META_KEYS = ("schema_version", "experiment", "spec_hash", "hashed", "parameters", "summaries", "series")
# what a report, an export and a resume read of the manifest, with the type each must have
MANIFEST_SHAPE = (("experiment", str), ("spec_hash", str), ("spec", dict), ("seeds", list), ("charts", list), ("sessions", list), ("runs", list), ("bases", dict))
# Encoding of a per-state blob: the values of one column of one run, steps x states in
# C order (the agents table's row order), little-endian float64, then one zstd frame.
STATE_DTYPE = "<f8"
STATE_CODEC = "zstd"


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
    states: list[bytes] | None = None  # one packed array per kept per-state column (pack)
    error: str | None = None
    traceback: str | None = None


def quote(name: str) -> str:
    """An SQL identifier for any column name (parameter paths contain dots)."""
    return '"' + name.replace('"', '""') + '"'


def pack(values: np.ndarray) -> bytes:
    """One column of one run's per-state series (steps x states) as a stored blob."""
    import pyarrow as pa

    return pa.compress(np.ascontiguousarray(values, dtype=STATE_DTYPE).tobytes(), codec=STATE_CODEC, asbytes=True)


def unpack(blob: bytes, states: int, steps: int) -> np.ndarray:
    """A stored blob back as a steps x states array; raises ValueError if it is damaged."""
    import pyarrow as pa

    try:
        raw = pa.decompress(blob, steps * states * 8, codec=STATE_CODEC, asbytes=True)
    except (pa.ArrowException, OSError, TypeError) as exc:
        raise ValueError(f"a per-state blob cannot be decompressed ({exc})") from None
    if len(raw) != steps * states * 8:
        raise ValueError(f"a per-state blob holds {len(raw)} bytes, not {steps} steps x {states} states")
    return np.frombuffer(raw, dtype=STATE_DTYPE).reshape(steps, states)


def family_of(column: str, powers: list[str]) -> tuple[str, str] | None:
    """(family, power) of a per-power per-state column (``alignment_russia``), else None."""
    for p in sorted(powers, key=len, reverse=True):  # longest first: a power may end another's name
        if column.endswith(f"_{p}") and len(column) > len(p) + 1:
            return column[: -len(p) - 1], p
    return None


def connect(path: Path) -> sqlite3.Connection:
    """The writer's connection."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # readers (reports) never block the writer
    conn.execute("PRAGMA synchronous=FULL")  # a committed run survives a power cut
    return conn


def reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (mode=ro), safe while a sweep writes. It leaves nothing
    beside a finished store: the writer hands the store back in rollback-journal mode
    when it closes (:meth:`Store.close`), and a read-only connection to such a file
    creates no side file. (Opening the file ``immutable`` instead would also leave
    nothing, but a sweep that starts writing during the read would then be read torn.)
    A store still in WAL mode (a sweep writing, or killed) is read through its -wal file,
    which SQLite may leave behind."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def completed(conn: sqlite3.Connection) -> set[str]:
    """Keys of runs that finished successfully (failed runs are run again on resume)."""
    return {k for (k,) in conn.execute("SELECT run FROM runs WHERE status = 'ok'")}


class Store:
    """The writer's handle on a sweep's results file."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / FILE
        if not self.path.exists():
            raise FileNotFoundError(f"no sweep results in {directory} ({FILE} not found)")
        self.conn = connect(self.path)
        self.summaries = json.loads(self.meta("summaries"))
        self.series = json.loads(self.meta("series"))
        self.states = json.loads(self.meta("states") or "[]")  # stores made before metrics.states have no such key

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
            "states": json.dumps(experiment.states),
            # each base scenario's states, in the order of a blob's columns
            "state_keys": json.dumps({name: list(base.scenario.states) for name, base in experiment.bases.items()}),
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
            # (name, run) first: "one column across all runs" is a range of the primary key
            conn.execute("CREATE TABLE states (name TEXT NOT NULL, run TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (name, run))")
            conn.execute("CREATE INDEX states_run ON states (run)")
        conn.close()
        return cls(directory)

    def extend(self, experiment: Experiment, replications: int) -> None:
        """Add the plan's runs of replication ``replications`` and up to the design, and
        make the experiment's hash the store's, in one transaction: a sweep topped up with
        more replications (:func:`abm.sweep.more_replications` checked the rest of the plan
        is the stored one)."""
        with self.conn:
            self.conn.executemany("INSERT INTO design VALUES (?, ?, ?, ?)", ((r.point, r.replication, r.seed, r.key) for r in experiment.runs if r.replication >= replications))
            self.conn.executemany("UPDATE meta SET value = ? WHERE key = ?", ((experiment.hash, "spec_hash"), (json.dumps(experiment.hashed, sort_keys=True), "hashed")))

    def rename(self, name: str) -> None:
        """Record the experiment's name, which a resume may change (the hash leaves it
        out): the report's title and the export's file names follow the spec that ran last."""
        with self.conn:
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'experiment'", (name,))

    def meta(self, key: str) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def completed(self) -> set[str]:
        return completed(self.conn)

    def commit(self, outcomes: list[Outcome]) -> None:
        """Store a batch of finished runs in one transaction: all of it, or none."""
        ok = [o for o in outcomes if o.status == "ok"]
        failed = [(o.key,) for o in outcomes if o.status != "ok"]
        n_sum, n_ser = len(self.summaries), len(self.series)
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((o.key, o.status, o.seconds, o.worker, o.finished, o.error, o.traceback) for o in outcomes),
            )
            for table in ("summaries", "series", "states"):  # a run re-run by --resume that fails now: its old rows must not be read as its results
                self.conn.executemany(f"DELETE FROM {table} WHERE run = ?", failed)
            self.conn.executemany(f"INSERT OR REPLACE INTO summaries VALUES (?{', ?' * n_sum})", ((o.key, *o.summaries) for o in ok))
            if n_ser:
                rows = (
                    (o.key, step, date, *values)
                    for o in ok
                    for step, date, values in zip(o.steps, o.dates, o.series.tolist())
                )
                self.conn.executemany(f"INSERT OR REPLACE INTO series VALUES (?, ?, ?{', ?' * n_ser})", rows)
            if self.states:
                blobs = ((name, o.key, blob) for o in ok for name, blob in zip(self.states, o.states, strict=True))
                self.conn.executemany("INSERT OR REPLACE INTO states VALUES (?, ?, ?)", blobs)

    def hand_back(self) -> None:
        """At the end of a sweep's session: the store as a single file, back in
        rollback-journal mode, so that read-only readers (reports, exports) leave no -wal
        or -shm beside it. A reader still connected keeps it in WAL mode, which is harmless
        (the next session's connection sets WAL again)."""
        try:
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:  # database is locked: someone is reading
            pass

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
    """Replace ``path`` atomically with ``data`` as JSON (see :func:`write_text`)."""
    write_text(path, json.dumps(data, indent=1, sort_keys=False, allow_nan=False))


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically: readers see the old file or the new one, never half."""
    replace_atomically(Path(path), text.encode("utf-8"))


# --------------------------------------------------------------------------- checking


def is_plain_name(name: str) -> bool:
    """Whether ``name`` is one an experiment's spec allows (:func:`abm.units.plain_name`)."""
    try:
        return isinstance(name, str) and bool(plain_name(name))
    except ValueError:
        return False


def check(directory: str | Path) -> list[str]:
    """Check a sweep folder before it is resumed or reported on.

    Raises :class:`StoreError` for a damaged store or manifest (a directory or an empty
    file in its place, a truncated or corrupt database, missing tables, an emptied
    ``meta``, a manifest that is not the sweep's JSON or lacks a field of :data:`MANIFEST_SHAPE`,
    an experiment's name that is not a plain name: export names a file after it). Returns the keys of runs stored as
    ``ok`` whose rows are incomplete (no summaries row, not one series row per step, or
    not one per-state blob per kept column):
    resume runs them again, a report refuses to average them."""
    directory = Path(directory)
    path = directory / FILE
    lost = "start the sweep again with another --out, or restore the folder from a copy"
    if directory.name == FILE and directory.is_file():  # the store itself, for the folder it sits in
        raise StoreError(f"{directory} is the sweep's store; give the sweep folder that holds it: {(directory.resolve() if directory.is_symlink() else directory).parent}")
    if not path.exists():
        where = "NEW_FOLDER" if directory.exists() else directory  # abm sweep refuses an existing folder
        raise StoreError(f"{directory} holds no sweep results ({FILE} not found); make one with: abm sweep EXPERIMENT --out {where}")
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"{path} is not a file; the sweep folder is damaged: {lost}")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is empty (zero bytes); the sweep folder is damaged: {lost}")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), t) for k, t in MANIFEST_SHAPE) or not all(isinstance(c, dict) for c in manifest["charts"]):
            raise ValueError
        if not is_plain_name(manifest["experiment"]):  # it names the files export writes: a path in it would write outside their folder
            raise ValueError
        steps = expected_rows(manifest)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise StoreError(f"{directory / MANIFEST} is missing or damaged (not the sweep's JSON record); {lost}") from None
    try:
        conn = reader(path)
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
                if not is_plain_name(meta["experiment"]) or not isinstance(json.loads(meta["hashed"]), dict) or not isinstance(json.loads(meta.get("state_keys", "{}")), dict):
                    raise ValueError
                series = len(json.loads(meta["series"])) > 0
                states = json.loads(meta.get("states", "[]"))  # absent in stores made before metrics.states
                if not isinstance(states, list):
                    raise ValueError
            except (KeyError, ValueError, TypeError):
                raise StoreError(f"{path}: its meta table is incomplete or damaged; {lost}") from None
            if states and "states" not in tables:
                raise StoreError(f"{path} lacks the table states; the sweep folder is damaged: {lost}")
            if damage := _unreadable(conn, meta, manifest):
                raise StoreError(f"{path}: {damage}; the sweep folder is damaged: {lost}")
            blobs = "(SELECT COUNT(*) FROM states t WHERE t.run = r.run)" if states else "0"
            rows = conn.execute(
                f"SELECT r.run, (SELECT COUNT(*) FROM series s WHERE s.run = r.run), "
                f"EXISTS (SELECT 1 FROM summaries m WHERE m.run = r.run), {blobs} FROM runs r WHERE r.status = 'ok'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable results database ({exc}); it may be truncated or overwritten: {lost}") from None
    return [run for run, count, summary, kept in rows if not summary or (series and count != steps.get(run, count)) or kept != len(states)]


def _unreadable(conn: sqlite3.Connection, meta: dict[str, str], manifest: dict[str, Any]) -> str | None:
    """What in the store's tables a report, an export or a resume could not read, in words
    (None if nothing): meta's column lists that are not the tables' columns, points or
    design rows lost, values that are not numbers where numbers are stored. Found here,
    they are one line; found by pandas or matplotlib, they were tracebacks."""
    names = {k: json.loads(meta.get(k, "[]")) for k in ("parameters", "summaries", "series", "states")}
    keys = json.loads(meta.get("state_keys", "{}"))
    if not all(isinstance(n, str) for v in names.values() for n in v) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in keys.values()):
        return "its meta table lists a name that is not text"
    if names["states"] and not set(manifest["bases"]) <= set(keys):
        return "its meta table lacks the states of a base scenario (state_keys)"
    columns = {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in ("points", "summaries", "series")}
    if columns["summaries"] != ["run", *names["summaries"]] or columns["series"] != ["run", "step", "date", *names["series"]] or not set(names["parameters"]) <= set(columns["points"]):
        return "its meta table's column lists are not the columns of its tables"
    if not conn.execute("SELECT 1 FROM points").fetchone() or not conn.execute("SELECT 1 FROM design").fetchone():
        return "its plan (the points or design table) is empty"
    if conn.execute("SELECT 1 FROM design WHERE point NOT IN (SELECT point FROM points) OR typeof(seed) != 'integer' OR typeof(replication) != 'integer' LIMIT 1").fetchone():
        return "its design table names a point the points table lacks, or holds a seed that is not a whole number"
    for table, kept in (("summaries", names["summaries"]), ("series", ["step", *names["series"]])):
        numbers = " AND ".join(f"typeof({quote(c)}) IN ('real', 'integer', 'null')" for c in kept)
        if numbers and conn.execute(f"SELECT 1 FROM {table} WHERE NOT ({numbers}) LIMIT 1").fetchone():
            return f"its {table} table holds a value that is not a number"
    return None


def has_finished_run(directory: str | Path) -> bool:
    """Whether a sweep folder holds a successful run: a report or export of none (a sweep
    that has just started, or whose runs all failed) has nothing to show."""
    conn = reader(Path(directory) / FILE)
    try:
        return conn.execute("SELECT 1 FROM runs WHERE status = 'ok' LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def interrupted_top_up(directory: str | Path) -> bool:
    """Whether the manifest describes another plan than the store holds: a top-up
    (:func:`abm.sweep._top_up`) stopped after writing the manifest and before the store,
    which writes last. Its runs would be reported under the wrong spec."""
    directory = Path(directory)
    conn = reader(directory / FILE)
    try:
        stored = conn.execute("SELECT value FROM meta WHERE key = 'spec_hash'").fetchone()
    finally:
        conn.close()
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("spec_hash") != (stored[0] if stored else None)


def expected_rows(manifest: dict[str, Any]) -> dict[str, int]:
    """Series rows each planned run must have: one per step, step 0 included."""
    horizon = {name: base["resolved"]["time"]["steps"] for name, base in manifest["bases"].items()}
    return {r["run"]: int(r["params"].get("time.steps", horizon[r["scenario"]])) + 1 for r in manifest["runs"]}
