"""Benchmark of the store for per-state series kept by a sweep (``metrics.states``).

    .venv/bin/python benchmarks/bench_state_store.py                      # 500 runs x 60 steps
    .venv/bin/python benchmarks/bench_state_store.py --runs 100 --repeats 1  # a quicker look

The question: where should a sweep put the per-state, per-step values of its runs (the
columns of a run's agents table: ``alignment_<power>``, ``opinion_<power>``, dependency,
...), next to the SQLite store that already holds the plan, the run ledger, summaries
and model series? The data: ``--runs`` real baseline runs of ``--steps`` quarters with
seeds 0, 1, ... (their agents tables, every column; made first, about a minute for 500
runs). Each run arrives as the sweep delivers them:
in batches of ``--batch`` runs, each batch made durable before the next (the store's
guarantee: a run reported done survives kill -9).

Candidates, each in a fresh subprocess (clean peak memory):

- ``sqlite_rows``: a table in the sweep's own SQLite file, one row per (run, step,
  state), WITHOUT ROWID, one transaction per batch (WAL, synchronous=FULL, as abm.store);
- ``sqlite_blobs``: the same file, one row per (column, run) holding that column's
  steps x states values as a float64 array (BLOB): columnar inside SQLite, read back
  with ``np.frombuffer``; indexed by (column, run) and by run;
- ``duckdb``: a DuckDB file, one transaction per batch (needs ``pip install duckdb``;
  skipped if it is not installed);
- ``sqlite_blobs_zstd``: the same, each blob compressed with zstd (pyarrow's codec);
- ``parquet_batch``: one Parquet file (zstd) per batch, written to a temporary name,
  fsynced and renamed: durable per batch, many small files;
- ``parquet_buffered``: runs buffered in memory and written as one Parquet file per
  ``--buffer`` runs (one row group each), fsynced and renamed: few files, and a kill
  loses at most the unwritten buffer (those runs are not yet reported done).

Then the chosen design end to end: ``abm.sweep.run`` of ``--sweep-runs`` baseline runs
(``--steps`` quarters, 2 workers) keeping no per-state series, and keeping all of them
(``metrics.states: all``), each in a fresh process: wall time, store size.

Measured: write time inside the sweep loop (runs/s, and the share of a real run's time:
one 60-step baseline run with tables takes ``run_s`` seconds, printed), file size,
time to read "one column across all runs" and "every column of one run" (into pandas,
or numpy for the blobs), and the peak resident memory each of these adds (MB; Linux). Medians of ``--repeats`` repeats. Numbers are printed,
never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("sqlite_rows", "sqlite_blobs", "sqlite_blobs_zstd", "duckdb", "parquet_batch", "parquet_buffered")
COLUMN = "alignment_russia"


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> float:
    """Start a new peak-memory measurement (writing 5 to clear_refs resets VmHWM); the
    current resident memory is the base the peak is measured from."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return rss_mb("VmRSS")


def make_data(path: Path, runs: int, steps: int) -> dict:
    """Agents tables of ``runs`` real baseline runs (seeds 0..runs-1), saved as .npz."""
    from abm.runner import run

    start = time.perf_counter()
    tables = [run(ROOT / "configs" / "baseline.yaml", seed=s, steps=steps).agents for s in range(runs)]
    run_s = (time.perf_counter() - start) / runs
    columns = [c for c in tables[0].columns if c not in ("step", "date", "state")]
    values = np.stack([t[columns].to_numpy(dtype=float) for t in tables])  # runs x rows x columns
    np.savez(path, values=values, step=tables[0]["step"].to_numpy(), state=tables[0]["state"].to_numpy(dtype=str), columns=np.array(columns), runs=runs)
    return {"run_s": run_s, "rows_per_run": len(tables[0]), "columns": len(columns)}


def load_data(path: Path, values: bool = True):
    data = np.load(path)
    keys = [f"{k:016x}" for k in range(10**15, 10**15 + int(data["runs"]))]
    return keys, data["values"] if values else None, data["step"], data["state"], [str(c) for c in data["columns"]]


def arrow_table(keys, values, step, state, columns, runs):
    import pyarrow as pa

    n = len(step)
    arrays = {
        "run": pa.array(np.repeat(np.array([keys[r] for r in runs]), n)).dictionary_encode(),
        "step": pa.array(np.tile(step, len(runs)).astype(np.int32)),
        "state": pa.array(np.tile(state, len(runs))).dictionary_encode(),
    }
    block = values[runs].reshape(-1, values.shape[2])
    for j, c in enumerate(columns):
        arrays[c] = pa.array(block[:, j])
    return pa.table(arrays)


def durable_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=len(table))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def write(variant: str, data: Path, target: Path, batch: int, buffer: int) -> dict:
    keys, values, step, state, columns = load_data(data)
    runs = len(keys)
    batches = [list(range(i, min(i + batch, runs))) for i in range(0, runs, batch)]
    seconds = 0.0
    import pyarrow as pa  # imports before the measurement: they are paid once per process
    import pyarrow.parquet  # noqa: F401

    if variant == "duckdb":
        import duckdb
    base = reset_peak()
    if variant in ("sqlite_blobs", "sqlite_blobs_zstd"):
        pack = (lambda a: pa.compress(a, codec="zstd", asbytes=True)) if variant == "sqlite_blobs_zstd" else (lambda a: a.tobytes())
        conn = sqlite3.connect(target / "store.sqlite")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE agents (name TEXT NOT NULL, run TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (name, run))")
        conn.execute("CREATE INDEX agents_run ON agents (run)")
        for b in batches:
            start = time.perf_counter()
            # one blob per run and column: that column's steps x states, float64 in C order
            rows = ((c, keys[r], pack(np.ascontiguousarray(values[r][:, j], dtype="<f8"))) for r in b for j, c in enumerate(columns))
            with conn:
                conn.executemany("INSERT INTO agents VALUES (?, ?, ?)", rows)
            seconds += time.perf_counter() - start
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    elif variant == "sqlite_rows":
        conn = sqlite3.connect(target / "store.sqlite")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        cols = "".join(f", {c} REAL" for c in columns)
        conn.execute(f"CREATE TABLE agents (run TEXT NOT NULL, step INTEGER NOT NULL, state TEXT NOT NULL{cols}, PRIMARY KEY (run, step, state)) WITHOUT ROWID")
        marks = ", ?" * len(columns)
        for b in batches:
            start = time.perf_counter()
            rows = ((keys[r], int(s), str(st), *v) for r in b for s, st, v in zip(step, state, values[r].tolist()))
            with conn:
                conn.executemany(f"INSERT INTO agents VALUES (?, ?, ?{marks})", rows)
            seconds += time.perf_counter() - start
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    elif variant == "duckdb":
        conn = duckdb.connect(str(target / "store.duckdb"))
        cols = "".join(f", {c} DOUBLE" for c in columns)
        conn.execute(f"CREATE TABLE agents (run VARCHAR NOT NULL, step INTEGER NOT NULL, state VARCHAR NOT NULL{cols})")
        for b in batches:
            start = time.perf_counter()
            chunk = arrow_table(keys, values, step, state, columns, b).cast(arrow_table(keys, values, step, state, columns, b[:1]).schema)
            conn.execute("BEGIN TRANSACTION")
            conn.register("chunk", chunk)
            conn.execute("INSERT INTO agents SELECT * FROM chunk")
            conn.unregister("chunk")
            conn.execute("COMMIT")
            seconds += time.perf_counter() - start
        conn.execute("CHECKPOINT")
        conn.close()
    else:
        folder = target / "agents"
        folder.mkdir()
        group = batch if variant == "parquet_batch" else buffer
        pending: list[int] = []
        part = 0
        for b in batches:
            start = time.perf_counter()
            pending += b
            if len(pending) >= group or b is batches[-1]:
                durable_parquet(arrow_table(keys, values, step, state, columns, pending), folder / f"part-{part:05d}.parquet")
                part += 1
                pending = []
            seconds += time.perf_counter() - start
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    files = sum(1 for p in target.rglob("*") if p.is_file())
    return {"write_s": seconds, "runs_per_s": runs / seconds, "size_mb": size / 2**20, "files": files, "write_mb": rss_mb() - base}


def read(variant: str, data: Path, target: Path, what: str) -> dict:
    keys, _, step, state, columns = load_data(data, values=False)
    one = keys[len(keys) // 2]
    n_states = len(set(state.tolist()))
    import pandas as pd  # imports before the clock starts: they are paid once per process
    import pyarrow.dataset as ds

    if variant == "duckdb":
        import duckdb
    import pyarrow as pa

    base = reset_peak()
    start = time.perf_counter()
    if variant in ("sqlite_blobs", "sqlite_blobs_zstd"):
        size = 8 * len(step)  # bytes of one blob, uncompressed
        unpack = (lambda b: np.frombuffer(pa.decompress(b, size, codec="zstd"), dtype="<f8")) if variant == "sqlite_blobs_zstd" else (lambda b: np.frombuffer(b, dtype="<f8"))
        conn = sqlite3.connect(f"{(target / 'store.sqlite').as_uri()}?mode=ro", uri=True)
        if what == "column":  # runs x steps x states
            rows = conn.execute("SELECT run, data FROM agents WHERE name = ? ORDER BY run", (COLUMN,)).fetchall()
            frame = np.stack([unpack(b).reshape(-1, n_states) for _, b in rows]).reshape(-1)
        else:
            rows = conn.execute("SELECT name, data FROM agents WHERE run = ?", (one,)).fetchall()
            frame = pd.DataFrame({name: unpack(b) for name, b in rows})
        conn.close()
    elif variant == "sqlite_rows":
        conn = sqlite3.connect(f"{(target / 'store.sqlite').as_uri()}?mode=ro", uri=True)
        if what == "column":
            frame = pd.read_sql_query(f"SELECT run, step, state, {COLUMN} FROM agents", conn)
        else:
            frame = pd.read_sql_query("SELECT * FROM agents WHERE run = ?", conn, params=(one,))
        conn.close()
    elif variant == "duckdb":
        conn = duckdb.connect(str(target / "store.duckdb"), read_only=True)
        if what == "column":
            frame = conn.execute(f"SELECT run, step, state, {COLUMN} FROM agents").df()
        else:
            frame = conn.execute("SELECT * FROM agents WHERE run = ?", [one]).df()
        conn.close()
    else:
        dataset = ds.dataset(target / "agents", format="parquet")
        if what == "column":
            frame = dataset.to_table(columns=["run", "step", "state", COLUMN]).to_pandas()
        else:
            frame = dataset.to_table(filter=ds.field("run") == one).to_pandas()
    seconds = time.perf_counter() - start
    expected = len(keys) * len(step) if what == "column" else len(step)
    assert len(frame) == expected, (variant, what, len(frame), expected)
    return {f"read_{what}_s": seconds, f"read_{what}_mb": rss_mb() - base}


def child(args) -> None:
    target = Path(args.target)
    if args.phase == "write":
        print(json.dumps(write(args.variant, Path(args.data), target, args.batch, args.buffer)))
    else:
        print(json.dumps(read(args.variant, Path(args.data), target, args.phase)))


def measure(variant: str, data: Path, work: Path, args) -> dict | None:
    def call(phase: str, target: Path) -> dict:
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--phase", phase, "--data", str(data), "--target", str(target), "--batch", str(args.batch), "--buffer", str(args.buffer)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        if out.returncode:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        return json.loads(out.stdout.strip().splitlines()[-1])

    rounds = []
    for k in range(args.repeats):
        target = work / f"{variant}-{k}"
        target.mkdir()
        try:
            row = call("write", target)
        except RuntimeError as exc:
            if "No module named 'duckdb'" in str(exc):
                return None
            raise
        row |= call("column", target) | call("run", target)
        rounds.append(row)
        shutil.rmtree(target)
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def sweep_cost(out: Path, runs: int, steps: int, states) -> dict:
    """One sweep of ``runs`` baseline runs (a 10-point grid of coercion strength), keeping
    ``states`` (metrics.states) besides two model series and a summary."""
    from abm import sweep

    spec = {
        "name": "bench_states", "scenario": str(ROOT / "configs" / "baseline.yaml"), "set": {"time.steps": steps},
        "grid": {"rules.coercion.strength": [round(0.1 * k, 1) for k in range(10)]}, "replications": max(1, runs // 10), "seed": 1,
        "metrics": {"series": ["fragmentation", "integration"], "summaries": [{"metric": "fragmentation"}], "states": states},
    }  # fmt: skip
    start = time.perf_counter()
    done = sweep.run(spec, out, workers=2, progress=False)
    seconds = time.perf_counter() - start
    return {"runs": done.ok, "seconds": seconds, "size_mb": (out / "results.sqlite").stat().st_size / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=5, help="runs per committed batch (a sweep commits each chunk of runs)")
    p.add_argument("--buffer", type=int, default=100, help="runs per file for parquet_buffered")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sweep-runs", type=int, default=200, help="runs of the end-to-end sweeps (0: skip them)")
    p.add_argument("--sweep-child", choices=("none", "all"))
    p.add_argument("--child", choices=VARIANTS)
    p.add_argument("--phase", choices=("write", "column", "run"))
    p.add_argument("--data")
    p.add_argument("--target")
    args = p.parse_args()
    for option, least in (("runs", 1), ("steps", 1), ("batch", 1), ("buffer", 1), ("repeats", 1), ("sweep_runs", 0)):
        if getattr(args, option) < least:
            p.error(f"--{option.replace('_', '-')} must be at least {least} (got {getattr(args, option)})")
    if args.child:
        args.variant = args.child
        child(args)
        return
    if args.sweep_child:
        print(json.dumps(sweep_cost(Path(args.target), args.sweep_runs, args.steps, [] if args.sweep_child == "none" else "all")))
        return
    with tempfile.TemporaryDirectory(prefix="abm-bench-states-") as tmp:
        work = Path(tmp)
        info = make_data(work / "data.npz", args.runs, args.steps)
        print(f"{args.runs} runs x {args.steps + 1} steps x {info['rows_per_run'] // (args.steps + 1)} states x {info['columns']} columns "
              f"= {args.runs * info['rows_per_run'] * info['columns']:,} values; batches of {args.batch} runs; medians of {args.repeats}")
        print(f"one baseline run of {args.steps} steps with tables: {info['run_s']:.3f} s (so {args.runs} runs take about {args.runs * info['run_s']:.0f} s of CPU)")
        header = f"{'variant':<17} {'write s':>8} {'runs/s':>8} {'% of run':>8} {'peak MB':>7} {'MB':>7} {'files':>6} {'col s':>7} {'col MB':>7} {'run s':>7} {'run MB':>7}"
        print(header)
        for v in VARIANTS:
            row = measure(v, work / "data.npz", work, args)
            if row is None:
                print(f"{v:<17} (not installed: pip install duckdb)")
                continue
            share = 100 * row["write_s"] / (args.runs * info["run_s"])
            print(f"{v:<17} {row['write_s']:8.2f} {row['runs_per_s']:8.0f} {share:8.1f} {row['write_mb']:7.1f} {row['size_mb']:7.1f} {row['files']:6.0f} "
                  f"{row['read_column_s']:7.3f} {row['read_column_mb']:7.1f} {row['read_run_s']:7.3f} {row['read_run_mb']:7.1f}", flush=True)
        if args.sweep_runs:
            print(f"\nabm.sweep.run, {args.sweep_runs} runs x {args.steps} steps, 2 workers (median of {args.repeats}):")
            for kept in ("none", "all"):
                rounds = []
                for k in range(args.repeats):
                    out = subprocess.run([sys.executable, __file__, "--sweep-child", kept, "--sweep-runs", str(args.sweep_runs), "--steps", str(args.steps), "--target", str(work / f"sweep-{kept}-{k}")],
                                         capture_output=True, text=True, cwd=ROOT, check=True)  # fmt: skip
                    rounds.append(json.loads(out.stdout.strip().splitlines()[-1]))
                seconds, size = statistics.median(r["seconds"] for r in rounds), statistics.median(r["size_mb"] for r in rounds)
                print(f"  metrics.states {kept:<5} {seconds:6.1f} s  {rounds[0]['runs'] / seconds:6.1f} runs/s  store {size:6.1f} MB", flush=True)


if __name__ == "__main__":
    main()
