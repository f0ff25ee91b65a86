"""A sweep's results in pandas, in one call: ``abm.results.load(DIR)``.

The tables mirror the store (:mod:`abm.store`): parameters per point, the plan and
status of every run, per-run summaries and per-step series, joined on ``point`` and
``run`` rather than repeated. :meth:`Results.table` is the one wide view (parameters
next to each run's summaries) most analyses start from. Series can be large, so they
are read on request, optionally for a few metrics, and exported in chunks.

Reading is safe while a sweep is still writing (SQLite WAL): a report can be made
half-way through.
"""

from __future__ import annotations

import json
import sqlite3
from functools import cached_property
from pathlib import Path

import pandas as pd

from abm.store import FILE, quote

KEYS = ["point", "replication", "seed", "run"]


class Results:
    """Read-only view of a sweep directory."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        path = self.directory / FILE
        if not path.exists():
            raise FileNotFoundError(f"{directory} holds no sweep results ({FILE} not found)")
        self.uri = f"{path.resolve().as_uri()}?mode=ro"
        meta = dict(self.sql("SELECT key, value FROM meta").itertuples(index=False))
        self.experiment: str = meta["experiment"]
        self.spec_hash: str = meta["spec_hash"]
        self.parameters: list[str] = json.loads(meta["parameters"])
        self.summary_columns: list[str] = json.loads(meta["summaries"])
        self.series_columns: list[str] = json.loads(meta["series"])

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict()
        return f"Results({self.experiment!r}: {len(self.params)} points, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"

    def sql(self, query: str, params: tuple = ()) -> pd.DataFrame:
        """Run a read-only query. Each query opens its own connection, so a Results
        object holds no file handle and sees runs committed since it was made."""
        conn = sqlite3.connect(self.uri, uri=True)
        try:
            return pd.read_sql_query(query, conn, params=params)
        finally:
            conn.close()

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.directory / "manifest.json").read_text(encoding="utf-8"))

    @cached_property
    def params(self) -> pd.DataFrame:
        """One row per point: ``point``, ``scenario``, then one column per swept parameter."""
        cols = ", ".join(["point", "scenario", *map(quote, self.parameters)])
        return self.sql(f"SELECT {cols} FROM points ORDER BY point")

    @cached_property
    def runs(self) -> pd.DataFrame:
        """Every planned run with its status: ``ok``, ``failed`` or ``missing`` (not run yet)."""
        frame = self.sql(
            "SELECT d.point, d.replication, d.seed, d.run, COALESCE(r.status, 'missing') AS status, "
            "r.seconds, r.worker, r.finished, r.error FROM design d LEFT JOIN runs r ON r.run = d.run "
            "ORDER BY d.point, d.replication"
        )
        return frame

    @property
    def failures(self) -> pd.DataFrame:
        """Failed runs with their parameters, seed, error and full traceback."""
        frame = self.sql(
            "SELECT d.point, d.replication, d.seed, d.run, r.error, r.traceback FROM design d "
            "JOIN runs r ON r.run = d.run WHERE r.status = 'failed' ORDER BY d.point, d.replication"
        )
        return self.params.merge(frame, on="point")

    @cached_property
    def summaries(self) -> pd.DataFrame:
        """One row per successful run: keys, then one column per summary."""
        cols = "".join(f", s.{quote(c)}" for c in self.summary_columns)
        frame = self.sql(
            f"SELECT d.point, d.replication, d.seed, d.run{cols} FROM design d JOIN summaries s ON s.run = d.run "
            "ORDER BY d.point, d.replication"
        )
        return frame.astype({c: float for c in self.summary_columns})

    def series(self, metrics: list[str] | None = None, with_params: bool = False) -> pd.DataFrame:
        """Per-step values of successful runs: keys, ``step``, ``date`` (a datetime), then
        metrics; with ``with_params`` the run's scenario and swept parameters follow the keys."""
        if not self.series_columns:
            return pd.DataFrame(columns=[*KEYS, "step", "date"])
        return pd.concat(list(self.iter_series(metrics, with_params=with_params)), ignore_index=True)

    def iter_series(self, metrics: list[str] | None = None, chunksize: int = 200_000, with_params: bool = False):
        """The series in chunks of rows, for memory-flat processing of large sweeps."""
        chosen = self.series_columns if metrics is None else list(metrics)
        unknown = [m for m in chosen if m not in self.series_columns]
        if unknown:
            raise KeyError(f"metric(s) not kept at every step: {', '.join(unknown)}; kept: {', '.join(self.series_columns)}")
        cols = "".join(f", s.{quote(c)}" for c in chosen)
        query = (
            f"SELECT d.point, d.replication, d.seed, d.run, s.step, s.date{cols} FROM design d "
            "JOIN series s ON s.run = d.run ORDER BY d.point, d.replication, s.step"
        )
        conn = sqlite3.connect(self.uri, uri=True)
        try:
            for frame in pd.read_sql_query(query, conn, chunksize=chunksize):
                frame = frame.astype({c: float for c in chosen}).assign(date=lambda f: pd.to_datetime(f["date"]))
                if with_params:
                    frame = frame.merge(self.params, on="point", how="left")
                    frame = frame[[*KEYS, *self.params.columns.drop("point"), *[c for c in frame.columns if c not in KEYS and c not in self.params.columns]]]
                yield frame
        finally:
            conn.close()

    def rerun(self, run: str):
        """Re-run one stored run alone with :func:`abm.runner.run`, from the manifest: the
        base scenario as resolved when the sweep started, the point's parameters, the
        run's seed. Returns the full :class:`abm.runner.RunResult` (per-state tables too)."""
        from abm.experiment import override
        from abm.runner import run as run_model
        from abm.scenario import load

        entry = next((r for r in self.manifest["runs"] if r["run"] == run), None)
        if entry is None:
            raise KeyError(f"no run {run!r} in {self.directory}")
        base = self.manifest["bases"][entry["scenario"]]["resolved"]
        return run_model(load(base, [override(p, v) for p, v in entry["params"].items()]), seed=entry["seed"])

    def table(self) -> pd.DataFrame:
        """Parameters next to each successful run's summaries: the usual starting point."""
        return self.params.merge(self.summaries, on="point")

    def export(self, out: str | Path, fmt: str = "csv") -> list[Path]:
        """Write ``params``, ``runs``, ``summaries`` and ``series`` as CSV or Parquet files;
        series are written chunk by chunk."""
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"unknown export format {fmt!r}; use csv or parquet")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        runs = self.runs.assign(finished=pd.to_datetime(self.runs["finished"], errors="coerce", utc=True, format="ISO8601"))
        for name, frame in (("params", self.params), ("runs", runs), ("summaries", self.summaries)):
            path = out / f"{name}.{fmt}"
            frame.to_csv(path, index=False) if fmt == "csv" else _parquet_frame(frame).to_parquet(path, index=False)
            written.append(path)
        if self.series_columns:
            path = out / f"series.{fmt}"
            if fmt == "csv":
                for k, frame in enumerate(self.iter_series()):
                    frame.to_csv(path, index=False, mode="w" if k == 0 else "a", header=k == 0, date_format="%Y-%m-%d")
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                writer = None
                try:
                    for frame in self.iter_series():
                        table = pa.Table.from_pandas(frame, preserve_index=False)
                        writer = writer or pq.ParquetWriter(path, table.schema)
                        writer.write_table(table)
                finally:
                    if writer is not None:
                        writer.close()
            written.append(path)
        return written

def _parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column; labels mixing numbers and text become text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def load(directory: str | Path) -> Results:
    """Open a sweep directory: ``load(DIR).table()``, ``.summaries``, ``.series()``, ``.runs``."""
    return Results(directory)
