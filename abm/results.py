"""A sweep's results in pandas, in one call: ``abm.results.load(DIR)``.

The tables mirror the store (:mod:`abm.store`): parameters per point, the plan and
status of every run, per-run summaries and per-step series, joined on ``point`` and
``run`` rather than repeated. :meth:`Results.table` is the one wide view (parameters
next to each run's summaries) most analyses start from. Series can be large, so they
are read on request, optionally for a few metrics, and exported in chunks.

Per-state series (``metrics.states``) come as arrays: :meth:`Results.state_arrays`
(numpy, runs x steps x states), :meth:`Results.states` (the long table of a run's agents
table, for pandas) and :meth:`Results.to_xarray` (an xarray Dataset with dimensions run,
step, state and power, run parameters as coordinates, for NetCDF or Zarr).

Reading is safe while a sweep is still writing (SQLite WAL): a report can be made
half-way through.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sqlite3
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abm import chartstyle as cs
from abm.processes import install_hint
from abm.scenario import as_sets
from abm.store import FILE, StoreError, expected_rows, family_of, is_plain_name, quote, reader, unpack

KEYS = ["point", "replication", "seed", "run"]
# a join of ``design d`` that reads successful runs only: a failed run has no rows since the
# store deletes them (Store.commit), but a store written before that may still hold some
OK_RUNS = "JOIN runs r ON r.run = d.run AND r.status = 'ok'"
ARRAY_FORMATS = {"netcdf": ("h5netcdf", "h5py"), "zarr": ("zarr",)}  # format -> modules it needs


class NotKept(KeyError):
    """What a results folder does not hold (a metric, a column, a run): a KeyError, as a
    missing key is, printed as its message rather than as a quoted key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _described(long_name: str, unit: str) -> dict[str, str]:
    """A variable's attributes: its name in words and, where the project knows it, its unit
    (CF's ``units``, so that a shared file says what its numbers measure)."""
    return {"long_name": long_name} | ({"units": unit} if unit != "model units" else {})


def commit_text(model: dict[str, Any]) -> str:
    """A recorded commit as the outputs name it, saying when the tree was dirty."""
    return str(model.get("commit") or "unknown") + (" (with uncommitted changes)" if model.get("dirty") else "")


class Results:
    """Read-only view of a sweep directory."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        path = self.directory / FILE
        if not path.exists():
            raise FileNotFoundError(f"{directory} holds no sweep results ({FILE} not found)")
        self.path = path
        self._held: sqlite3.Connection | None = None  # the connection of a snapshot() in progress
        self._read: dict[str, pd.DataFrame] = {}  # tables read inside that snapshot: its state does not change
        meta = dict(self.sql("SELECT key, value FROM meta").itertuples(index=False))
        self.experiment: str = meta["experiment"]
        self.spec_hash: str = meta["spec_hash"]
        self.parameters: list[str] = json.loads(meta["parameters"])
        self.summary_columns: list[str] = json.loads(meta["summaries"])
        self.series_columns: list[str] = json.loads(meta["series"])
        self.state_columns: list[str] = json.loads(meta.get("states", "[]"))  # per-state columns kept (none in older stores)
        self.state_keys: dict[str, list[str]] = json.loads(meta.get("state_keys", "{}"))  # base scenario -> its states, in order

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict()
        return f"Results({self.experiment!r}: {len(self.params)} points, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"

    def sql(self, query: str, params: tuple = ()) -> pd.DataFrame:
        """Run a read-only query. Each query opens its own connection, so a Results
        object holds no file handle and sees runs committed since it was made, unless
        it is read inside :meth:`snapshot`."""
        with self._reading() as conn:
            return pd.read_sql_query(query, conn, params=params)

    @contextlib.contextmanager
    def _reading(self):
        if self._held is not None:
            yield self._held
            return
        conn = reader(self.path)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def snapshot(self):
        """Read everything inside the block from one state of the store: a report or an
        export of a sweep still running took its run counts, summaries and per-state
        arrays in separate reads, with runs committed in between (a mean over 6 runs
        labelled 3, arrays indexed by runs they had not listed). One read transaction
        holds the state of its first read; the sweep's writes go on, unseen. Nested
        snapshots read the outer one's state."""
        if self._held is not None:
            yield self
            return
        conn = reader(self.path)
        conn.isolation_level = None  # transactions as written here
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM meta").fetchall()  # a read transaction starts at its first read
        self._held = conn
        try:
            yield self
        finally:
            self._held = None
            self._read = {}
            conn.execute("ROLLBACK")
            conn.close()

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.directory / "manifest.json").read_text(encoding="utf-8"))

    def _table(self, query: str) -> pd.DataFrame:
        """A table as the store holds it now; inside :meth:`snapshot`, read once, since the
        snapshot's state does not change (a report reads the summaries many times)."""
        if self._held is None:
            return self.sql(query)
        if query not in self._read:
            self._read[query] = self.sql(query)
        return self._read[query]

    @property
    def params(self) -> pd.DataFrame:
        """One row per point: ``point``, ``scenario``, then one column per swept parameter.
        A swept switch reads True/False: SQLite keeps a boolean label as 1 or 0, and the
        point's values (JSON) say which of a column's whole numbers were booleans."""
        cols = ", ".join(["point", "scenario", *map(quote, self.parameters), "[values]"])
        stored = self._table(f"SELECT {cols} FROM points ORDER BY point")
        frame = stored.drop(columns="values")
        whole = [p for p in self.parameters if pd.api.types.is_integer_dtype(frame[p])]
        values = stored["values"].map(json.loads) if whole else None
        for p in whole:
            given = values.map(lambda v: v.get(p))
            if given.map(lambda v: isinstance(v, bool)).any():
                frame[p] = [v if isinstance(v, bool) else label for v, label in zip(given, frame[p])]
        return frame

    @property
    def runs(self) -> pd.DataFrame:
        """Every planned run with its status: ``ok``, ``failed`` or ``missing`` (not run yet)."""
        return self._table(
            "SELECT d.point, d.replication, d.seed, d.run, COALESCE(r.status, 'missing') AS status, "
            "r.seconds, r.worker, r.finished, r.error FROM design d LEFT JOIN runs r ON r.run = d.run "
            "ORDER BY d.point, d.replication"
        )

    @property
    def failures(self) -> pd.DataFrame:
        """Failed runs with their parameters, seed, error and full traceback."""
        frame = self.sql(
            "SELECT d.point, d.replication, d.seed, d.run, r.error, r.traceback FROM design d "
            "JOIN runs r ON r.run = d.run WHERE r.status = 'failed' ORDER BY d.point, d.replication"
        )
        return self.params.merge(frame, on="point")

    @property
    def summaries(self) -> pd.DataFrame:
        """One row per successful run: keys, then one column per summary."""
        cols = "".join(f", s.{quote(c)}" for c in self.summary_columns)
        frame = self._table(
            f"SELECT d.point, d.replication, d.seed, d.run{cols} FROM design d {OK_RUNS} JOIN summaries s ON s.run = d.run "
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
            raise NotKept(f"metric(s) not kept at every step: {', '.join(unknown)}; kept: {', '.join(self.series_columns)}")
        cols = "".join(f", s.{quote(c)}" for c in chosen)
        query = (
            f"SELECT d.point, d.replication, d.seed, d.run, s.step, s.date{cols} FROM design d {OK_RUNS} "
            "JOIN series s ON s.run = d.run ORDER BY d.point, d.replication, s.step"
        )
        with self._reading() as conn:
            for frame in pd.read_sql_query(query, conn, chunksize=chunksize):
                frame = frame.astype({c: float for c in chosen}).assign(date=lambda f: pd.to_datetime(f["date"]))
                if with_params:
                    frame = frame.merge(self.params, on="point", how="left")
                    frame = frame[[*KEYS, *self.params.columns.drop("point"), *[c for c in frame.columns if c not in KEYS and c not in self.params.columns]]]
                yield frame

    # ----------------------------------------------------------------- per-state series

    def state_arrays(self, columns: list[str] | None = None) -> StateArrays:
        """The kept per-state columns of every successful run as arrays (runs x steps x
        states), runs in plan order. Runs with fewer steps (a swept horizon), or without
        a state another base scenario has, are padded with NaN. Read from one state of
        the store (:meth:`snapshot`): its runs, steps and arrays must agree."""
        with self.snapshot():
            return self._state_arrays(columns)

    def _state_arrays(self, columns: list[str] | None) -> StateArrays:
        chosen = self.state_columns if columns is None else self.kept_columns(columns)
        if not self.state_columns:
            raise NotKept("this sweep kept no per-state series; add metrics.states to the experiment (docs/experiments.md) and sweep again. Its kept series and summaries: .series() and .summaries")
        runs = self.sql(
            f"SELECT d.point, d.replication, d.seed, d.run, p.scenario FROM design d {OK_RUNS} "
            "JOIN points p ON p.point = d.point ORDER BY d.point, d.replication"
        ).drop_duplicates("run").reset_index(drop=True)  # identical points share a run
        states = list(dict.fromkeys(k for name in runs["scenario"].unique() for k in self.state_keys[name]))
        steps = self._steps(runs)
        where = {name: [states.index(k) for k in self.state_keys[name]] for name in runs["scenario"].unique()}  # scenarios with no finished run yet have no states here
        row = {run: i for i, run in enumerate(runs["run"])}
        values = {}
        with self._reading() as conn:
            for column in chosen:
                out = np.full((len(runs), int(steps.max(initial=0)), len(states)), np.nan)
                for run, blob in conn.execute("SELECT run, data FROM states WHERE name = ?", (column,)):
                    i = row.get(run)
                    if i is None:
                        continue  # a run of a point no longer in the plan, or not ok
                    scenario = runs.at[i, "scenario"]
                    try:
                        block = unpack(blob, len(where[scenario]), int(steps[i]))
                    except ValueError as exc:
                        raise StoreError(f"{self.directory}: the per-state series '{column}' of run {run} is damaged ({exc}); restore the folder from a copy, or start the sweep again with another --out") from None
                    out[i][: steps[i], where[scenario]] = block
                values[column] = out
        return StateArrays(runs, states, steps, self._dates(runs, steps), values)

    def kept_columns(self, names: list[str]) -> list[str]:
        """The kept per-state columns that ``names`` ask for, in the kept order: a column,
        or a family as the spec names it (``alignment``: ``alignment_<power>`` of every kept
        power), which is also the exported variable's name. NotKept (a KeyError) for anything not kept."""
        powers = self._powers()
        families: dict[str, list[str]] = {}  # family -> the powers whose column of it was kept
        for column in self.state_columns:
            if found := family_of(column, powers):
                families.setdefault(found[0], []).append(found[1])
        unknown = [n for n in names if n not in self.state_columns and n not in families]
        if unknown:
            # a family kept for some powers only is listed with them, lest its name promise every power's column
            kept = [f"{name} ({'every power' if len(of) == len(powers) else ', '.join(of)})" for name, of in families.items()]
            kept += [c for c in self.state_columns if not family_of(c, powers)]
            raise NotKept(f"{', '.join(unknown)} not kept; kept: {', '.join(kept)} (a family's name asks for each of its kept columns)")
        wanted = {c for n in names for c in ([f"{n}_{p}" for p in families[n]] if n in families else [n])}
        return [c for c in self.state_columns if c in wanted]

    def _powers(self) -> list[str]:
        return list(dict.fromkeys(p for b in self.manifest["bases"].values() for p in b["resolved"]["powers"]))

    def provenance(self) -> dict[str, Any]:
        """What produced these results, as the manifest records it, in values a NetCDF or
        Zarr attribute can hold: an exported file shared alone still names its code (commit,
        source hash, package versions, each session's commit) and its seeds."""
        m = self.manifest
        model, spec = m.get("model") or {}, m.get("spec") or {}
        drawn = [f"{name} {base['posterior_sha256']}" for name, base in m.get("bases", {}).items() if base.get("posterior_sha256")]
        return {
            "model_commit": commit_text(model),
            "model_source": str(model.get("source") or "unknown"),
            "session_commits": ", ".join(self.session_code()),
            "packages": ", ".join(f"{name} {version}" for name, version in (m.get("packages") or {}).items()),
            "seed": int(spec.get("seed", 0)),
            "replication_seeds": np.asarray(m.get("seeds", []), dtype=np.int64),
            "overrides": as_sets(spec.get("overrides", [])),  # as typed: values hold commas, and shlex.split splits these back
            **({"posterior_sha256": ", ".join(drawn)} if drawn else {}),  # the content each base scenario's parameters were drawn from
        }  # not the creation time: the same sweep made twice exports the same file

    def session_code(self) -> list[str]:
        """Each version of the model's code that made the sweep's runs, in order: each
        session's source fingerprint (which only --allow-model-change lets a resume change)
        and the commit it was first met at, and each code a worker ran that differed from
        its session's (kept under --allow-model-change: ``other_code``; a session that
        refused a worker stored none of its runs), with the computing libraries in which
        it differed from those the sweep was created with. Sessions that recorded no
        fingerprint (older sweeps) are left out."""
        libraries = self.manifest.get("packages") or {}
        first: dict[tuple, str] = {}
        for session in self.manifest.get("sessions", []):
            model = session.get("model") or {}
            if model.get("source"):
                first.setdefault((str(model["source"]), ()), f"source {model['source']} at commit {commit_text(model)}")
            for worker, code in ({} if "refused" in session else session.get("other_code") or {}).items():
                moved = tuple(f"{name} {version}" for name, version in (code.get("libraries") or {}).items() if name in libraries and libraries[name] != version)
                first.setdefault((str(code.get("source")), moved), f"source {code.get('source')} on worker {worker}" + (f" with {', '.join(moved)}" if moved else ""))
        return list(first.values())

    def _steps(self, runs: pd.DataFrame) -> np.ndarray:
        """Steps recorded by each run (its horizon + 1), from the manifest."""
        rows = expected_rows(self.manifest)
        return np.array([rows[r] for r in runs["run"]], dtype=int)

    def _dates(self, runs: pd.DataFrame, steps: np.ndarray) -> np.ndarray:
        """The date of every run's every step (runs x steps, NaT past a run's end), from
        its base scenario and the point's time settings, by the scenario's own calendar."""
        from abm.experiment import override
        from abm.scenario import load

        entries = {r["run"]: r for r in self.manifest["runs"]}
        calendars = {}
        out = np.full((len(runs), int(steps.max(initial=0))), np.datetime64("NaT", "ns"))
        for i, (run, scenario) in enumerate(zip(runs["run"], runs["scenario"])):
            timing = tuple(sorted((p, json.dumps(v)) for p, v in entries[run]["params"].items() if p.startswith("time.") and p != "time.steps"))
            if (scenario, timing) not in calendars:  # one scenario load per calendar, not per run
                # the calendar alone: without the posterior, whose file a moved folder may have left behind
                calendar = {**self.manifest["bases"][scenario]["resolved"], "posterior": None}
                calendars[scenario, timing] = load(calendar, [override(p, json.loads(v)) for p, v in timing], allow_large=True)
            cfg = calendars[scenario, timing]
            out[i, : steps[i]] = np.array([cfg.date(s) for s in range(steps[i])], dtype="datetime64[ns]")
        return out

    def states(self, columns: list[str] | None = None, with_params: bool = False) -> pd.DataFrame:
        """Per-state series as a long table, like a run's agents table: keys, ``step``,
        ``date`` (a datetime), ``state``, then the kept columns; one row per successful
        run, step and state (padding left out)."""
        a = self.state_arrays(columns)
        n_runs, n_steps, n_states = (len(a.runs), len(a.steps_axis), len(a.states))
        index = pd.DataFrame({
            "run_index": np.repeat(np.arange(n_runs), n_steps * n_states),
            "step": np.tile(np.repeat(np.arange(n_steps), n_states), n_runs),
            "date": np.repeat(a.dates.reshape(-1), n_states),
            "state": np.tile(np.array(a.states, dtype=object), n_runs * n_steps),
        })  # fmt: skip
        frame = index.assign(**{c: v.reshape(-1) for c, v in a.values.items()})
        has = {name: np.isin(a.states, self.state_keys[name]) for name in a.runs["scenario"].unique()}
        has = np.array([has[name] for name in a.runs["scenario"]], dtype=bool).reshape(n_runs, n_states)
        run, state = frame["run_index"].to_numpy(), np.tile(np.arange(n_states), n_runs * n_steps)
        frame = frame[(frame["step"].to_numpy() < a.steps[run]) & has[run, state]]  # not past a run's end, nor a state of another base scenario
        keys = a.runs[KEYS].iloc[frame["run_index"].to_numpy()].reset_index(drop=True)
        frame = pd.concat([keys, frame.drop(columns="run_index").reset_index(drop=True)], axis=1)
        if with_params:
            frame = frame.merge(self.params, on="point", how="left")
            frame = frame[[*KEYS, *self.params.columns.drop("point"), *[c for c in frame.columns if c not in KEYS and c not in self.params.columns]]]
        return frame

    @cached_property
    def summaries_spec(self) -> list:
        """The spec's summaries (:class:`abm.experiment.Summary`), in the order of its columns."""
        from abm.experiment import Summary

        return [Summary.model_validate(raw) for raw in self.manifest["spec"].get("metrics", {}).get("summaries", [])]

    @cached_property
    def summary_units(self) -> dict[str, str]:
        """The unit of every summary column (:func:`abm.chartstyle.summary_unit`)."""
        return {s.column: cs.summary_unit(s.metric, s.stat) for s in self.summaries_spec}

    def to_xarray(self, columns: list[str] | None = None):
        """The per-state series as an xarray Dataset with dimensions ``run``, ``step``,
        ``state`` and ``power``: one variable per per-power family (``alignment``:
        run x step x state x power), one per other column (run x step x state), the kept
        model series (run x step) and summaries (run). Coordinates: each run's point,
        replication, seed, base scenario and swept parameters on ``run``; ``date``
        (datetime64) on ``step``, or on (run, step) when runs keep different calendars."""
        import xarray as xr

        with self.snapshot():  # arrays, series and summaries of the same runs, while a sweep writes
            a = self.state_arrays(columns)
            powers = self._powers()
            coords = {"run": a.runs["run"].to_numpy(dtype=str), "step": a.steps_axis, "state": np.array(a.states, dtype=str)}
            data_vars, families = {}, {}
            for column, values in a.values.items():
                found = family_of(column, powers)
                if found is None:
                    data_vars[column] = (("run", "step", "state"), values, _described(f"{column} of each state", cs.state_unit(column)))
                else:
                    families.setdefault(found[0], {})[found[1]] = values
            kept_powers = [p for p in powers if any(p in f for f in families.values())]
            if families:
                coords["power"] = np.array(kept_powers, dtype=str)
            for family, by_power in families.items():
                nan = np.full_like(next(iter(by_power.values())), np.nan)
                stacked = np.stack([by_power.get(p, nan) for p in kept_powers], axis=-1)
                data_vars[family] = (("run", "step", "state", "power"), stacked, _described(f"{family}_<power> of each state toward each power", cs.state_unit(family)))
            run_coords = {"point": a.runs["point"].to_numpy(), "replication": a.runs["replication"].to_numpy(), "seed": a.runs["seed"].to_numpy(dtype=np.int64), "scenario": a.runs["scenario"].to_numpy(dtype=str)}
            params = self.params.set_index("point").loc[a.runs["point"]]
            for p in self.parameters:
                column = params[p]
                numeric = pd.to_numeric(column, errors="coerce")
                run_coords[p] = numeric.to_numpy(dtype=float) if numeric.notna().all() and column.map(lambda v: not isinstance(v, bool | str)).all() else column.astype(str).to_numpy(dtype=str)
            data_vars |= self._run_variables(a, {*data_vars, *coords, "date", *run_coords})  # no variable named as a coordinate
            ds = xr.Dataset(data_vars, coords=coords)
            longest = a.dates[a.steps.argmax()] if len(a.runs) else None  # a shorter run's dates end early (NaT), and do not differ
            same = (a.dates == longest) | np.isnat(a.dates)
            ds = ds.assign_coords(date=("step", longest) if len(a.runs) and same.all() else (("run", "step"), a.dates))
            ds = ds.assign_coords({k: ("run", v) for k, v in run_coords.items()})
            ds.attrs = {"experiment": self.experiment, "spec_hash": self.spec_hash, "source": "abm sweep results (abm.results.Results.to_xarray)", **self.provenance()}
            return ds

    def _run_variables(self, a: StateArrays, taken: set[str]) -> dict:
        """Kept model series (run x step) and summaries (run) of the same runs, under
        their own names (prefixed ``model_``/``summary_`` where a per-state variable or a
        coordinate, ``taken``, or an earlier variable has it, as often as needed)."""
        out = {}

        def free(name: str, prefix: str) -> str:
            while name in taken or name in out:
                name = prefix + name
            return name

        position = {run: i for i, run in enumerate(a.runs["run"])}
        if self.series_columns:
            series = self.series()
            i, s = series["run"].map(position).to_numpy(dtype=int), series["step"].to_numpy(dtype=int)  # int, also when no run has finished
            for metric in self.series_columns:
                grid = np.full((len(a.runs), len(a.steps_axis)), np.nan)
                grid[i, s] = series[metric].to_numpy(dtype=float)
                out[free(metric, "model_")] = (("run", "step"), grid, _described(f"model metric {metric}", cs.unit(metric)))
        summaries = self.summaries.drop_duplicates("run").set_index("run").reindex(a.runs["run"])
        for name in self.summary_columns:
            out[free(name, "summary_")] = (("run",), summaries[name].to_numpy(dtype=float), _described(f"summary {name}", self.summary_units.get(name, "model units")))
        return out

    def export_arrays(self, out: str | Path, fmt: str = "netcdf", columns: list[str] | None = None, overwrite: bool = False) -> tuple[Path, dict[str, int]]:
        """Write :meth:`to_xarray` into folder ``out`` as ``<experiment>.nc`` (NetCDF-4,
        through h5netcdf) or ``<experiment>.zarr`` (Zarr v3); returns the path written and
        the Dataset's dimensions. As for :meth:`export`, ``out`` may be any folder, so a
        file of that name already there is refused (FileExistsError, before anything is
        written) unless ``overwrite``."""
        if fmt not in ARRAY_FORMATS:
            raise ValueError(f"unknown array format {fmt!r}; use {' or '.join(ARRAY_FORMATS)}")
        missing = [m for m in ARRAY_FORMATS[fmt] if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"--format {fmt} needs {', '.join(missing)}: {install_hint('arrays')}")
        if not is_plain_name(self.experiment):  # a damaged store's name must not choose where the file goes
            raise ValueError(f"{self.path}: its experiment name {self.experiment!r} is not a plain name (letters, digits, _ . -); the sweep folder is damaged")
        path = Path(out) / f"{self.experiment}.{'nc' if fmt == 'netcdf' else 'zarr'}"
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise FileExistsError(f"{path} already exists and export_arrays does not overwrite files; choose another folder, or pass overwrite=True to replace it")
        ds = self.to_xarray(columns)
        Path(out).mkdir(parents=True, exist_ok=True)
        if fmt == "netcdf":
            ds.to_netcdf(path, engine="h5netcdf")
        else:
            ds.to_zarr(path, mode="w" if overwrite else "w-", consolidated=False)  # consolidated metadata is not part of Zarr v3
        return path, dict(ds.sizes)

    def rerun(self, run: str, posterior: str | Path | None = None):
        """Re-run one stored run alone with :func:`abm.runner.run`, from the manifest: the
        base scenario as resolved when the sweep started, the point's parameters, the
        run's seed. Returns the full :class:`abm.runner.RunResult` (per-state tables too).

        A base scenario with a posterior draws from the file the manifest names, or from
        ``posterior`` (where that file is now: a folder moved or copied); its content must
        be the one the sweep drew from (the sha256 recorded), or the run would silently
        draw other parameters: ValueError otherwise."""
        from abm.experiment import override
        from abm.runner import run as run_model
        from abm.scenario import load

        entry = next((r for r in self.manifest["runs"] if r["run"] == run), None)
        if entry is None:
            raise NotKept(f"no run {run!r} in {self.directory}")
        base = self.manifest["bases"][entry["scenario"]]
        resolved = base["resolved"]
        if resolved.get("posterior") is not None:
            resolved = {**resolved, "posterior": str(posterior or resolved["posterior"])}
            _check_posterior(resolved["posterior"], base.get("posterior_sha256"))
        elif posterior is not None:
            raise ValueError(f"scenario {entry['scenario']} of {self.directory} draws from no posterior")
        return run_model(load(resolved, [override(p, v) for p, v in entry["params"].items()]), seed=entry["seed"])

    def table(self) -> pd.DataFrame:
        """Parameters next to each successful run's summaries: the usual starting point."""
        return self.params.merge(self.summaries, on="point")

    def export(self, out: str | Path, fmt: str = "csv", overwrite: bool = False) -> list[Path]:
        """Write ``params``, ``runs`` and ``summaries`` as CSV or Parquet files, ``series``
        when the sweep kept any, and ``states`` (the long table of :meth:`states`) when it
        kept per-state series; series are written chunk by chunk.

        ``out`` may be any folder, perhaps one holding the user's own tables, so a file
        of one of those names already there is refused (FileExistsError, before anything
        is written) unless ``overwrite``."""
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"unknown export format {fmt!r}; use csv or parquet")
        out = Path(out)
        names = ["params", "runs", "summaries", *(["series"] if self.series_columns else []), *(["states"] if self.state_columns else [])]
        taken = [out / f"{n}.{fmt}" for n in names if (out / f"{n}.{fmt}").exists() or (out / f"{n}.{fmt}").is_symlink()]
        if taken and not overwrite:
            raise FileExistsError(f"{taken[0]} already exists and export does not overwrite files; choose another folder, or pass overwrite=True to replace {len(taken)} file(s)")
        with self.snapshot():  # the tables of one state of a sweep still running
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
            if self.state_columns:
                path = out / f"states.{fmt}"
                frame = self.states()
                frame.to_csv(path, index=False, date_format="%Y-%m-%d") if fmt == "csv" else frame.to_parquet(path, index=False)
                written.append(path)
            return written


@dataclass
class StateArrays:
    """Per-state series of a sweep as arrays (:meth:`Results.state_arrays`)."""

    runs: pd.DataFrame  # point, replication, seed, run, scenario: one row per array row
    states: list[str]
    steps: np.ndarray  # steps each run recorded (later rows of its arrays are NaN)
    dates: np.ndarray  # runs x steps, datetime64 (NaT past a run's end)
    values: dict[str, np.ndarray]  # column -> runs x steps x states

    @property
    def steps_axis(self) -> np.ndarray:
        return np.arange(int(self.steps.max(initial=0)))


def _parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column; labels mixing numbers and text become text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def _check_posterior(path: str, recorded: str | None) -> None:
    """Refuse (ValueError) a posterior file that is missing, or whose content is not the
    one a sweep recorded (sweeps made before the sha256 was recorded are not checked)."""
    from abm import posterior

    if recorded is None:
        return
    again = "pass rerun(run, posterior=PATH) naming the file the sweep drew from where it is now"
    if not Path(path).is_file():
        raise ValueError(f"the sweep's posterior {path} is not found (sha256 {recorded[:8]} recorded); {again}")
    if (now := posterior.sha256(path)) != recorded:
        raise ValueError(f"{path} is not the posterior the sweep drew from (sha256 {now[:8]} there, {recorded[:8]} recorded): restore that file, or {again}")


def load(directory: str | Path) -> Results:
    """Open a sweep directory: ``load(DIR).table()``, ``.summaries``, ``.series()``, ``.runs``."""
    return Results(directory)
