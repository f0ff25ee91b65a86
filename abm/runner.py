"""One function from (scenario, seed) to results: the only way callers run the model.

The CLI, the experiment runner, notebooks and the dashboard all go through :func:`run`,
so a result is always reproducible from the scenario and the seed it records.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from abm import posterior, yamlfile
from abm.outputs import atomic_directory
from abm.processes import process_name
from abm.scenario import Scenario, load, with_run_settings

if TYPE_CHECKING:
    from abm.model import RegionModel

MODEL_PACKAGE = "abm-caucasus"  # the model's distribution: its version identifies an installed copy
PACKAGE = Path(__file__).resolve().parent  # the model package's folder, whose files the fingerprints read
PACKAGES = (MODEL_PACKAGE, "mesa", "numpy", "pandas", "networkx", "scipy", "pydantic", "pyyaml", "matplotlib")


# the tables a run writes, one CSV each, and every file of its folder but the CLI's charts
TABLES = ("model", "agents", "coercions", "events", "relations")
FILES = (*(f"{name}.csv" for name in TABLES), "scenario.resolved.yaml")


@dataclass
class RunResult:
    """What one run produced: per-step model metrics, per-step state data, and logs."""

    scenario: Scenario
    seed: int
    model: pd.DataFrame  # step, date, then one column per metric
    agents: pd.DataFrame | None  # step, date, state, then per-state columns (None: tables=False)
    coercions: pd.DataFrame | None  # step, date, power, state, tool, response
    events: pd.DataFrame | None  # step, date, id, type, source, then one column per event parameter
    relations: pd.DataFrame | None = None  # step, date, state, neighbour, relation, border_open, trade: one row per neighbour pair and step

    def write(self, out: str | Path, also: Callable[[Path], object] | None = None, replace: bool = True, record: dict[str, Any] | None = None) -> Path:
        """Write every output into ``out`` atomically: all files appear, or none. An
        earlier run's output there is replaced (``replace``) under :mod:`abm.outputs`' rule.

        ``also(folder)`` adds files (the CLI's charts) to the folder before it appears, so
        they share that guarantee while this module stays free of chart imports.
        ``record`` (how the command was called: argv, every seed of an ensemble) joins
        the provenance in ``scenario.resolved.yaml``."""
        if self.agents is None:
            raise ValueError("this result was run with tables=False: only the model table exists")
        with atomic_directory(out, "run", replace) as tmp:
            for name in TABLES:
                if (table := getattr(self, name)) is not None:  # relations: a result made by hand may lack it
                    table.to_csv(tmp / f"{name}.csv", index=False)
            write_yaml(tmp / "scenario.resolved.yaml", posterior.portable(provenance(self.scenario, self.seed, record), out))
            if also is not None:
                also(tmp)
        return Path(out)


def versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` ("not installed" for the missing), as every output records them."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_state() -> dict[str, Any]:
    """Commit of the model's source tree, and whether tracked files differ from it."""
    here = PACKAGE

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# Modules that only present results or run commands (the command line and its signal and
# process handling, charts, reports, comparisons of finished runs, the dashboard, the
# benchmark): no stored number depends on them, so a change to them must not stop a sweep
# or a calibration from resuming.
PRESENTATION = frozenset({"cli.py", "processes.py", "charts.py", "chartstyle.py", "report.py", "compare.py", "dashboard.py", "bench.py"})


def _package_files(root: Path, presentation: bool) -> list[Path]:
    """The package's Python files that decide a run's results (or, ``presentation``, those
    that only present them), in a fixed order."""
    return [path for path in sorted(root.rglob("*.py")) if (path.parent == root and path.name in PRESENTATION) == presentation]


def source_hash(root: Path | None = None, presentation: bool = False) -> str:
    """A fingerprint of the model package's Python files (paths and contents) but the
    presentation modules: the code that decides a run's results besides its inputs,
    known in a git checkout with or without uncommitted changes and in an installed copy
    alike. ``presentation``: of those modules alone instead, the code that draws a report
    from stored results. ``root``: the package folder (default: this one)."""
    root = root or PACKAGE
    digest = hashlib.sha256()
    for path in _package_files(root, presentation):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def source_files(root: Path | None = None) -> dict[str, str]:
    """Each file :func:`source_hash` reads, with a short hash of its contents: a manifest
    keeps them so that a refused resume can name the files that changed."""
    root = root or PACKAGE
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:12] for path in _package_files(root, False)}


def model_record(files: bool = False) -> dict[str, Any]:
    """The model's code now, as the manifest of a sweep or a calibration records it (at
    creation and per session, with ``files``: :func:`source_files`) and a run's
    provenance does (without them)."""
    return {**git_state(), "source": source_hash(), **({"files": source_files()} if files else {})}


def model_identity(manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's code as a sweep's or a calibration's ``manifest`` recorded it when the
    folder was created, or now (no manifest): ``model_record()`` and the package version."""
    if manifest is None:
        return {**git_state(), **code_identity(), "files": source_files(), "version": versions((MODEL_PACKAGE,))[MODEL_PACKAGE]}
    model, packages = manifest.get("model"), manifest.get("packages")
    packages = packages if isinstance(packages, dict) else {}
    return {**(model if isinstance(model, dict) else {}), "version": packages.get(MODEL_PACKAGE), "libraries": _libraries(packages)}


# The libraries that compute a run's numbers (random streams, linear algebra, community
# detection, the model's base class, tables; the ABC sampler of a calibration); plotting,
# validation and YAML do not.
COMPUTING = ("numpy", "scipy", "mesa", "networkx", "pandas", "pyabc")


def _libraries(packages: dict[str, Any]) -> dict[str, str]:
    """The versions of the libraries that compute a run's numbers, as far as they are known."""
    return {name: packages[name] for name in COMPUTING if isinstance(packages.get(name), str) and packages[name] != "not installed"}


def model_change(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the model that made a folder's stored results may not be the one that would
    complete it, or None. The source fingerprints decide when both sides have one. A folder
    made before they were recorded is judged by its git commit, with uncommitted changes to
    tracked files at either point counting as a change (the code then cannot be shown to
    be the same), or outside git by the package version; when neither side can tell,
    nothing says the model changed. The same code on another version of a library it
    computes with (NumPy's streams, Mesa, NetworkX...) is a change too."""
    code = _code_change(then, now)
    if code is not None:
        return code
    moved = _moved(then.get("libraries") or {}, now.get("libraries") or {}, "then", "now")
    return f"the libraries it computes with changed ({moved})" if moved else None


def _moved(a: dict[str, str], b: dict[str, str], in_a: str, in_b: str) -> str | None:
    """The libraries known on both sides whose versions differ, or None."""
    moved = [f"{name} {a[name]} {in_a}, {b[name]} {in_b}" for name in a if name in b and a[name] != b[name]]
    return "; ".join(moved) or None


def _code_change(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    if then.get("source") and now.get("source"):
        return None if then["source"] == now["source"] else f"its Python files differ from those that made the stored results ({_code(then)} then, {_code(now)} now{_files_changed(then, now)})"
    if then.get("commit") and now.get("commit"):
        if then["commit"] != now["commit"] or then.get("dirty") or now.get("dirty"):
            return f"the stored results were made at {_code(then)} and this is {_code(now)}"
        return None
    released = [side.get("version") for side in (then, now)]
    if all(v and v != "not installed" for v in released) and released[0] != released[1]:
        return f"the stored results were made by version {released[0]} of the model and this is version {released[1]}"
    return None


def _files_changed(then: dict[str, Any], now: dict[str, Any], shown: int = 5) -> str:
    """The package's files that differ between two records' ``files``, as text to append,
    or nothing when either record has none (folders made before they were kept)."""
    a, b = then.get("files"), now.get("files")
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return ""
    changed = sorted(path for path in a.keys() | b.keys() if a.get(path) != b.get(path))
    if not changed:
        return ""
    named = [f"{PACKAGE.name}/{path}" + ("" if path in a and path in b else " (new)" if path in b else " (removed)") for path in changed[:shown]]
    return "; changed: " + ", ".join(named) + (f" and {len(changed) - shown} more" if len(changed) > shown else "")


def _code(side: dict[str, Any]) -> str:
    if side.get("commit"):
        return f"commit {side['commit'][:12]}" + (" with uncommitted changes" if side.get("dirty") else "")
    return f"version {side.get('version') or 'unknown'}"


def resume_refusal(out: Path, manifest: dict[str, Any], work: str, stored: str) -> str | None:
    """Why resuming ``out``, a ``work`` ("sweep", "calibration") whose ``manifest``
    recorded other model code (:func:`model_change`), is refused, or None. Its ``stored``
    results ("runs", "generations") would mix with those of another model; a sweep and a
    calibration refuse in the same words, with the same way out."""
    why = model_change(model_identity(manifest), model_identity())
    if why is None:
        return None
    return (f"cannot resume {out}: the model's code or a library it computes with changed since the {work} started: {why}; its stored {stored} would mix with {stored} of another model. "
            f"Start a new {work} with another --out, or resume anyway with --allow-model-change (manifest.json records each session's code).")


def code_identity() -> dict[str, Any]:
    """What a process's results depend on besides their inputs: the model's source
    fingerprint and the versions of the libraries it computes with (those the resume
    check compares)."""
    return {"source": source_hash(), "libraries": _libraries(versions(COMPUTING))}


_process_identity: tuple[int, dict[str, Any]] = (0, {})  # (pid, identity): a forked child computes its own


def process_identity() -> dict[str, Any]:
    """This process's name (host:pid) and :func:`code_identity`, worked out on its first
    call only: a worker reports it with every batch of results, at the cost of a few
    milliseconds once (reading the package's files and the libraries' metadata)."""
    global _process_identity
    pid = os.getpid()
    if _process_identity[0] != pid:
        _process_identity = (pid, {"worker": process_name(), **code_identity()})
    return _process_identity[1]


def worker_difference(here: dict[str, Any], there: dict[str, Any]) -> str | None:
    """How the code identity ``there`` of a worker differs from this process's (``here``), or None."""
    why = []
    if there.get("source") != here["source"]:
        why.append(f"its model code differs (source fingerprint {there.get('source')} there, {here['source']} here)")
    moved = _moved(there.get("libraries") or {}, here["libraries"], "there", "here")
    if moved:
        why.append(f"the libraries it computes with differ ({moved})")
    return "; ".join(why) or None


def worker_refusal(worker: str, why: str) -> str:
    """Why the results of ``worker`` are refused, and the ways on: a sweep and a
    calibration refuse in the same words, as they do a resume (:func:`resume_refusal`)."""
    return (f"refused the results of worker {worker}: {why}; they would mix with results of this process's model. What is already stored is kept. "
            "Give every worker this process's code and library versions (update that machine's checkout or environment and restart its workers), then continue with --resume; "
            "or accept them with --resume --allow-model-change (manifest.json then records that worker's code).")


def blas() -> str:
    """The BLAS library numpy computes with, its version and the CPU kernels it chose at
    start-up: the last bits of a matrix product can differ between kernels (OpenBLAS picks
    them by processor), so a result reproduced bit for bit needs the same ones."""
    from threadpoolctl import threadpool_info

    found = sorted({f"{i['internal_api']} {i.get('version')} ({i.get('architecture') or 'default'} kernels)" for i in threadpool_info() if i["user_api"] == "blas"})  # in a fixed order: threadpoolctl's varied between identical runs
    return "; ".join(found) or "none loaded"


def environment() -> dict[str, Any]:
    """What produced an output: Python, platform, BLAS, package versions, and the model's
    code as a sweep's manifest records it (:func:`model_record`): the git commit, whether
    tracked files differed from it, and the source fingerprint, which names the code where a
    commit cannot (an installed copy, uncommitted changes)."""
    return {"python": platform.python_version(), "platform": platform.platform(), "blas": blas(), "packages": versions(), "model": model_record()}


def provenance(scenario: Scenario, seed: int, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved scenario with the seed and what produced it: enough to re-run.
    ``record`` says how the command was called (argv, its folder, every seed of an
    ensemble); without it, argv is unknown and the seed is the one seed, never a value
    carried over from the provenance of a re-run file."""
    data = scenario.to_dict()
    data["seed"] = seed
    carried = {k: v for k, v in (data.get("provenance") or {}).items() if k not in ("posterior_rows", "cwd")}  # an ensemble's rows and a command's folder belong to the run that wrote them
    data["provenance"] = {**carried, "argv": None, "seeds": [seed], **(record or {}), **environment()}
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    """A provenance file: YAML through libyaml's safe dumper (yaml.safe_dump's text, five
    times faster; text the project's YAML 1.2 reader would take for a number is quoted),
    keys in the order given."""
    with open(path, "w", encoding="utf-8") as fh:
        yamlfile.dump(data, fh, sort_keys=False, allow_unicode=True)


def run(scenario: str | Path | dict | Scenario, seed: int | None = None, steps: int | None = None, sets=(), tables: bool = True) -> RunResult:
    """Run ``scenario`` with ``seed`` (default: the scenario's own) to its horizon.

    ``tables=False`` keeps and builds only the per-step model table, not the per-state,
    pair, coercion and event tables: a sweep that keeps model metrics saves a third of a
    short run, and the memory the per-state and pair records would take at every step."""
    from abm.model import RegionModel  # here, not at the top: a sweep's main process imports this module but never runs a model

    cfg = load(scenario, list(sets))
    if (seed is not None and seed != cfg.seed) or (steps is not None and steps != cfg.time.steps):
        cfg = with_run_settings(cfg, seed=seed, steps=steps)  # a copy only when something changes; a negative seed is a clean error
    seed = cfg.seed
    model = RegionModel(cfg, rng=seed, tables=tables)  # with posterior: the model draws this run's parameters
    while model.running:
        model.step()
    return collect(model, seed, tables)


def collect(model: RegionModel, seed: int, tables: bool = True) -> RunResult:
    """Tidy a finished (or paused) model's data into a :class:`RunResult`."""
    from abm.agents import RegionalState

    cfg = model.config
    collector = model.datacollector
    # Each table is built in one DataFrame call from the collector's columns (the same
    # values as Mesa's get_*_dataframe, without the copies that reshaping those costs).
    steps = list(range(len(next(iter(collector.model_vars.values()), []))))
    dates = [cfg.date(s).isoformat() for s in steps]
    frame = pd.DataFrame({"step": steps, "date": dates, **collector.model_vars})
    if not tables:
        return RunResult(cfg, seed, frame, None, None, None)
    step_of, columns = collector.agent_columns(RegionalState)
    agents = pd.DataFrame({"step": np.array(step_of, dtype=int), "date": [dates[s] for s in step_of], **columns})
    coercions = pd.DataFrame(model.coercions, columns=["step", "power", "state", "tool", "response"])
    coercions.insert(1, "date", [dates[s] for s in coercions["step"].tolist()])
    step_of, columns = collector.pair_columns(model)
    relations = pd.DataFrame({"step": np.array(step_of, dtype=int), "date": [dates[s] for s in step_of], **columns})
    return RunResult(cfg, seed, frame, agents, coercions, event_table(model.event_log), relations)


def ensemble(models: list[pd.DataFrame]) -> pd.DataFrame:
    """Spread of an ensemble of runs (their ``model`` tables, same scenario and steps):
    one row per step and metric with the mean over runs, the 95% confidence interval of
    that mean (Student t), and the 5th, 50th and 95th percentiles of the runs (the spread a
    projection carries: seeds, shocks and, with a posterior, parameters)."""
    from scipy.special import stdtrit  # the Student t quantile of stats.t.ppf, without importing scipy.stats

    numbers = [c for c in models[0].columns if c not in ("step", "date")]
    values = np.stack([m[numbers].to_numpy(dtype=float) for m in models])  # runs x steps x metrics
    n = len(models)
    mean = values.mean(axis=0)
    sd = np.where(np.ptp(values, axis=0) == 0, 0.0, values.std(axis=0, ddof=1)) if n > 1 else np.full_like(mean, np.nan)  # runs that agree: exactly 0 (as chartstyle.sd)
    half = stdtrit(max(n - 1, 1), 0.975) * sd / np.sqrt(n) if n > 1 else np.full_like(mean, np.nan)
    q05, q50, q95 = np.percentile(values, [5, 50, 95], axis=0)
    steps = len(models[0])
    return pd.DataFrame({
        "step": np.repeat(models[0]["step"].to_numpy(), len(numbers)),
        "date": np.repeat(models[0]["date"].to_numpy(), len(numbers)),
        "metric": numbers * steps,
        "runs": n,
        "mean": mean.ravel(), "ci95_low": (mean - half).ravel(), "ci95_high": (mean + half).ravel(),
        "sd": sd.ravel(), "p05": q05.ravel(), "p50": q50.ravel(), "p95": q95.ravel(),
    })


EVENT_COLUMNS = ["step", "date", "id", "type", "source", "event_date"]


def event_table(log) -> pd.DataFrame:
    """One row per event fired: step, date (the end of the step's period), id, type,
    source, event_date (a dated event's or upgrade's own date, inside that period; empty
    for a shock or the model's own change), then one column per parameter (lists joined
    with ';'; empty where an event has no such parameter)."""
    rows = []
    for *head, params in log:
        row = dict(zip(EVENT_COLUMNS, head))
        for key, value in json.loads(params).items():
            row[key if key not in EVENT_COLUMNS else f"param_{key}"] = ";".join(map(str, value)) if isinstance(value, list) else value
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else EVENT_COLUMNS)
