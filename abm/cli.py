"""Command line: ``abm run``, ``abm validate``, ``abm compare``, ``abm bench``, ``abm dashboard``
and the experiment commands.

Bad input of any kind exits with status 2 and one readable message, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import errno
import gc
import json
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from abm import budget
from abm.outputs import OutputError, check_target
from abm.processes import die_with, end, install_hint, interrupted_status, interrupts_deferred, sigterm_as_interrupt
from abm.scenario import Scenario, ScenarioError, TimeSpec, load, override_path, refused_alike, under, with_run_settings
from abm.units import MAX_NAME_BYTES, SEED_MAX
from abm.yamlfile import cut

SUMMARY = ["fragmentation", "division", "integration", "polarization", "blocs", "mean_dependency_hhi", "regional_trade_share"]
COUNTS = {"blocs"}  # whole numbers in one run (their ensemble means keep decimals)


class UsageError(Exception):
    """A command-line problem that is the user's to fix (exit status 2)."""


# Top-level keys only a calibration spec, an experiment spec or a scenario has: a file given
# to the wrong command is named for what it is instead of having each such key listed as unknown.
KINDS = {  # kind: (what it is, what to do with it, keys that only it has); records first: they hold a spec's keys too
    "compare": ("the record of an abm compare", "abm compare --from {source} runs it", {"argv", "cwd", "sets", "dates"}),
    "sweep record": ("the manifest of a sweep's results", "abm report {folder} reports them", {"experiment", "plan"}),
    "calibration record": ("the manifest of a calibration's results", "its spec is {folder}/calibration.yaml", {"calibration", "base_scenario"}),
    "calibrate": ("a calibration spec", "abm calibrate {source} runs it", {"patterns", "use", "parameters", "population", "generations", "epsilon", "seeds_per_particle", "predictive"}),
    "sweep": ("an experiment spec", "abm sweep {source} runs it", {"scenario", "scenarios", "grid", "sample", "replications", "outcomes", "charts"}),
    "run": ("a scenario", "abm run {source} runs it", {"extends", "watch", "time", "states", "powers", "rules", "offers", "utility", "generated", "corridors", "freight", "organisations", "events", "shocks", "posterior"}),
}


def wrong_kind(exc, command: str) -> str | None:
    """The message for a file of another kind than ``command`` reads (a scenario given to
    ``abm sweep`` or ``abm calibrate``, an experiment spec given to a scenario command...),
    or None when the file is of the kind expected; ``exc`` carries the problems found."""
    unknown = {path for path, msg in exc.problems if path and "." not in path and msg.startswith("unknown key")}
    expected = KINDS[command] if command in ("sweep", "calibrate") else KINDS["run"]  # the others read scenarios
    if str(exc.source) == "--set":  # an override, not a file: a scenario's key goes under a sweep spec's set:
        key = min(unknown & KINDS["run"][2], default=None)
        if command not in ("sweep", "calibrate") or key is None:
            return None
        return f"--set {key}...: {key} is a scenario's setting, not {expected[0]}'s; override it under set., as in --set set.{key}.<path>=VALUE (or set.{key}=VALUE for the whole key)"
    for kind, advice, keys in KINDS.values():
        if kind != expected[0] and unknown & keys:
            return f"{exc.source} is {kind}, not {expected[0]}: {advice.format(source=exc.source, folder=Path(str(exc.source)).parent)}"
    return None


def ensemble_notice(config: str, scenario) -> str | None:
    """The notice for a run of one seed from an ensemble's scenario.resolved.yaml: the
    file's ``seed`` is the ensemble's first, the others are only in its provenance, so
    re-running it as it is would quietly run one seed and write no ensemble."""
    seeds = (scenario.provenance or {}).get("seeds")
    if not (isinstance(seeds, list) and len(seeds) > 1 and all(isinstance(s, int) for s in seeds) and seeds == list(range(seeds[0], seeds[0] + len(seeds)))):
        return None
    return (f"{config} was written by an ensemble of {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}); this runs seed {scenario.seed} alone; "
            f"to re-run the ensemble, add --seed {seeds[0]} --seeds {len(seeds)}")


def recorded_overrides(scenario: Scenario) -> list[str]:
    """The ``--set`` overrides a scenario.resolved.yaml was made with, as its provenance
    records them (none for another file): a re-run of it holds their values, so its charts
    name them as the first run's did, and are the same charts."""
    overrides = (scenario.provenance or {}).get("overrides")
    return [o for o in overrides if isinstance(o, str)] if isinstance(overrides, list) else []


RUN_OPTIONS = {"seed": "--seed", "time.steps": "--steps"}  # the settings with_run_settings sets, as the options typed


def run_settings(scenario: Scenario, seed: int | None = None, steps: int | None = None) -> Scenario:
    """``scenario`` with the --seed and --steps given, checked by the rules of the settings
    they replace (:func:`abm.scenario.with_run_settings`, their one check), a refusal
    blamed on the option typed, not on the scenario's seed or time.steps."""
    try:
        return with_run_settings(scenario, seed=seed, steps=steps)
    except ScenarioError as exc:
        raise UsageError("; ".join(f"{RUN_OPTIONS.get(path, path)}: {msg}" for path, msg in exc.problems)) from None


def check_steps(steps: int | None) -> None:
    """--steps for scenarios not loaded yet (abm compare works out their dates from it
    first): checked as :func:`run_settings` checks it, on a stand-in scenario."""
    if steps is not None:
        run_settings(Scenario.model_construct(time=TimeSpec()), steps=steps)


def cmd_run(args) -> int:
    from abm.chartstyle import RUN_CHARTS
    from abm.runner import FILES, run

    asked = args.seeds is not None
    args.seeds = args.seeds if asked else 1
    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    if args.zoom and (args.seeds < 2 or args.no_charts):
        raise UsageError("--zoom only applies to the ensemble chart, drawn with --seeds N (N >= 2) and without --no-charts")
    budget.check_runs(args.seeds, f"--seeds {args.seeds}", args.allow_large)
    scenario = run_settings(load(args.config, args.set, args.allow_large), seed=args.seed, steps=args.steps)
    if args.seeds > 1:
        budget.check_kept(args.seeds, args.seeds * scenario.series_values(), f"--seeds {args.seeds}", args.allow_large)
    if scenario.seed > SEED_MAX - args.seeds + 1:
        raise UsageError(f"--seeds {args.seeds} from seed {scenario.seed} runs past the largest seed, {SEED_MAX}: start at {SEED_MAX - args.seeds + 1} or lower")
    out = Path(args.out) if args.out else Path("runs") / scenario.name
    ensemble = ["ensemble.csv", *([] if args.no_charts else ["ensemble.png"])] if args.seeds > 1 else []
    check_target(out, "run", replace=args.out is not None, writes=(*FILES, *([] if args.no_charts else RUN_CHARTS), *ensemble))  # before the run, not after it
    for late in scenario.late_events() + scenario.inert_overrides(args.set):  # once every input is accepted: a refusal is one message
        print(f"warning: {late}", file=sys.stderr)
    notice = None if asked else ensemble_notice(args.config, scenario)
    if notice:
        print(f"notice: {notice}", file=sys.stderr)
    overrides = list({override_path(o): o for o in [*recorded_overrides(scenario), *args.set]}.values())  # named in the charts' titles and recorded; a path set again keeps its last value
    result = run(scenario)
    spread = None
    if args.seeds > 1:  # further runs with the next seeds, for the ensemble's spread
        from tqdm import tqdm

        from abm.runner import ensemble

        models, rows = [result.model], {}
        seeds = range(result.seed + 1, result.seed + args.seeds)  # a run's model table kept, not the run: thousands of seeds fit
        for seed in tqdm(seeds, desc="seeds", unit="run", initial=1, total=args.seeds, disable=None, dynamic_ncols=True):  # on a terminal only, as abm sweep's bar
            other = run(scenario, seed=seed, tables=False)
            models.append(other.model)
            if scenario.posterior is not None:
                rows[seed] = other.scenario.provenance["posterior_draw"]["row"]
        spread = ensemble(models)
        del models  # not held while the charts are drawn

    def extras(folder: Path) -> None:
        if spread is not None:
            spread.to_csv(folder / "ensemble.csv", index=False)
        if not args.no_charts:
            from abm import charts  # matplotlib only when charts are drawn, and after Mesa (whose import inspects every loaded module)

            charts.run_charts(folder, result.scenario, overrides)
            if spread is not None:
                charts.ensemble_chart(spread, result.scenario, folder / "ensemble.png", overrides, zoom=args.zoom)

    record = {"argv": args.argv, "cwd": os.getcwd(), "seeds": list(range(result.seed, result.seed + args.seeds)), "overrides": overrides}
    if scenario.posterior is not None and args.seeds > 1:  # posterior_draw is the first seed's: every seed's row
        record["posterior_rows"] = {result.seed: result.scenario.provenance["posterior_draw"]["row"], **rows}
    result.write(out, also=extras, replace=args.out is not None, record=record)
    first, last = result.model.iloc[0], result.model.iloc[-1]
    extra = ", ensemble.csv" + ("" if args.no_charts else ", ensemble.png") if spread is not None else ""
    print(f"wrote {out}/ (model.csv, agents.csv, events.csv, coercions.csv, relations.csv, scenario.resolved.yaml{extra}{'' if args.no_charts else ', charts'})")
    if spread is not None:
        final = spread[spread["step"] == spread["step"].max()].set_index("metric")
        print(f"{args.seeds} seeds ({result.seed}..{result.seed + args.seeds - 1}); at the end, mean [5%-95% of runs]:")
        for name in SUMMARY:
            row = final.loc[name]
            digits = 1 if name in COUNTS else 3  # a count's mean over runs: one decimal, not an index's three
            print(f"  {name:<22} {row['mean']:8.{digits}f} [{row['p05']:.{digits}f}-{row['p95']:.{digits}f}]")
        print("tables and charts of one run below are seed " + str(result.seed))
    overridden = f" with {', '.join(overrides)}" if overrides else ""  # as the charts name them: a re-run of a resolved file is not the plain scenario
    print(f"{result.scenario.name}{overridden}: seed {result.seed}, {int(last['step'])} steps, {first['date']} -> {last['date']}")
    for name in SUMMARY:
        digits = 0 if name in COUNTS else 3
        print(f"  {name:<22} {first[name]:8.{digits}f} -> {last[name]:8.{digits}f}")
    powers = sorted(result.scenario.powers, key=lambda p: -last[f"influence_{p}"])
    print("  influence at the end: " + ", ".join(f"{p} {last[f'influence_{p}']:.2f}" for p in powers[:5]))
    return 0


def cmd_validate(args) -> int:
    """Check each file in turn, so that a folder of scenarios is checked in one command;
    exit 2 if any is invalid."""
    checked = []  # (file, its ScenarioError or its warnings), all files read before any is reported
    for config in args.configs:
        try:
            scenario = load(config, args.set, args.allow_large)
        except ScenarioError as exc:
            checked.append((config, exc))
            continue
        valid = f"{config}: valid ({len(scenario.states)} states, {len(scenario.powers)} powers, {scenario.time.steps} steps from {scenario.time.start})"
        checked.append((config, [*scenario.late_events(), *scenario.inert_overrides(args.set), valid]))
    failed = [got for _, got in checked if isinstance(got, ScenarioError)]
    alike = refused_alike(failed, len(checked))
    for config, got in checked[:1] if alike else checked:  # an override every file refuses alike: said once
        if isinstance(got, ScenarioError):  # validate explains every problem, one per line
            if got.source == "--set" and not alike and len(checked) > 1:  # an override may fit one file and not another
                got = ScenarioError(got.problems, f"--set on {config}")
            print(f"error: {wrong_kind(got, 'validate') or got.listing()}", file=sys.stderr)
            continue
        *warnings, valid = got
        for late in warnings:
            print(f"warning: {late}", file=sys.stderr)
        print(valid)
    return 2 if failed else 0


def cmd_compare(args) -> int:
    from abm.chartstyle import estimate
    from abm.compare import compare, outputs, recorded

    if bool(args.configs) == bool(args.record):
        raise UsageError("give the scenario files to compare, or --from the provenance.yaml of an earlier comparison" + (", not both" if args.configs else ""))
    configs, seeds, dates, metrics = args.configs, 5 if args.seeds is None else args.seeds, args.dates, args.metrics
    if args.record:
        record = recorded(args.record)
        configs, metrics = {f"{args.record}, scenarios.{name}": s for name, s in record["scenarios"].items()}, args.metrics or record["metrics"]
        seeds = record["seeds"] if args.seeds is None else args.seeds
        horizon = args.steps is not None or any(under(override_path(item), "time") for item in args.set)
        dates = args.dates or (None if horizon else record["dates"])  # another horizon or start: the default dates of its own
    if seeds < 1:
        raise UsageError("--seeds must be at least 1")
    check_steps(args.steps)
    budget.check_runs(len(configs) * seeds, f"--seeds {seeds} x {len(configs)} scenario(s)", args.allow_large)
    out = Path(args.out or "runs/compare")
    check_target(out, "compare", replace=args.out is not None, writes=outputs(len(configs), each=True))
    tab = compare(configs, out, seeds=seeds, dates=dates, metrics=metrics, steps=args.steps, sets=args.set, replace=args.out is not None, allow_large=args.allow_large, argv=args.argv, zoom=args.zoom, record=args.record, recorded_overrides=record["overrides"] if args.record else (),
                  notify=lambda notice: print(f"notice: {notice}", file=sys.stderr, flush=True), warn=lambda late: print(f"warning: {late}", file=sys.stderr, flush=True))
    print(f"wrote {out}/ ({', '.join(outputs(len(configs)))}): {len(configs)} scenario(s) x {seeds} seeds")
    last = tab[tab["date"] == tab["date"].max()]
    names = [c[: -len("_mean")] for c in tab.columns if c.endswith("_mean")]
    shown = names[:3]
    for _, row in last.iterrows():
        print(f"  {row['scenario']:<30} {row['date']:%Y-%m-%d}  " + "  ".join(f"{m} {estimate(row[f'{m}_mean'], row[f'{m}_ci95'])}" for m in shown))
    if len(names) > len(shown):
        paired = ", with the paired differences," if len(configs) > 1 else ""  # one scenario has no other to differ from
        print(f"  (the first {len(shown)} of {len(names)} metrics; every one{paired} in {out / 'compare.md'})")
    return 0


def cmd_bench(args) -> int:
    from abm.bench import MAX_REPEATS, main as bench_main

    if not 1 <= args.repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats must be from 1 to {MAX_REPEATS} (got {args.repeats})")
    return bench_main(repeats=args.repeats, quick=args.quick)


def cmd_dashboard(args) -> int:
    try:
        from abm import dashboard
    except ImportError as exc:
        raise UsageError(f"the dashboard needs Mesa's visualization stack ({exc.name} is missing): {install_hint('dashboard')}") from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: a port is 0-65535 (0: any free port)")
    load(dashboard.CONFIGS / "baseline.yaml")  # the page starts from it and falls back to it: a problem in it is told here, not as a traceback in the page
    added: dict[str, str] = {}  # path as typed -> the file; the server reads them from its environment
    for path in args.scenarios:
        load(path)  # likewise for the files added to the menu
        if (resolved := str(Path(path).resolve())) not in added.values():  # one file named two ways: listed once
            added[path] = resolved
    if not args.no_fetch:
        try:
            dashboard.fetch_assets()
        except RuntimeError as exc:
            raise UsageError(f"{exc} (use --no-fetch to start anyway)") from None
    port = usable_port(args.host, args.port)
    app = [sys.executable, "-m", "solara", "run", dashboard.__file__, "--host", args.host, "--port", str(port)]
    if not args.dev:
        app.append("--production")
    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address is bracketed in a URL (RFC 3986)
    print(f"abm dashboard: open http://{host}:{port}/ in a browser (Ctrl-C stops the server)", flush=True)
    return serve(app, env={**os.environ, dashboard.ADDED_FILES: json.dumps(added)})


def usable_port(host: str, port: int) -> int:
    """The port the dashboard will serve on: ``port`` once it is known to be free on
    ``host``, or for 0 a free port chosen here, so that the address printed is the real
    one. Solara itself would report a port in use only after that address was printed,
    and with an undocumented exit status (3)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a port just released is free
            probe.bind(address)
            return probe.getsockname()[1]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"--port {port}: {host}:{port} is already in use (another abm dashboard?); choose another --port, or --port 0 for any free one") from None
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror}") from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """Raised by :func:`serve`'s signal handler to leave its wait for the child."""


def serve(command: list[str], grace: float = 10.0, env: dict[str, str] | None = None) -> int:
    """Run a server as a child process that stops when this process is told to stop.

    SIGTERM and SIGHUP (``kill PID``, ``timeout``, a closed terminal, a process manager)
    reach this process only: unless passed on, they would leave the child running and
    holding its port. Each stop signal is passed on, and only from here (the child has a
    process group of its own, which a terminal's signals do not reach); the child then has ``grace`` seconds
    to shut down before it is killed (``env``: the child's environment); if this process is killed outright (kill -9), the
    kernel sends the child SIGTERM (:func:`abm.processes.die_with`). Ctrl-C ends as any interrupted command does (status
    130), another stop signal as a process killed by it does (128 + its number)."""
    import subprocess

    stops: list[int] = []
    child: subprocess.Popen | None = None

    def forward(signum, _frame):
        stops.append(signum)
        if child is not None:
            child.send_signal(signum)
            if len(stops) == 1:
                raise _Stop

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        try:
            # in its own process group: a Ctrl-C at the terminal (SIGINT to the foreground
            # group) reaches the child once, passed on from here, not twice (uvicorn, which
            # serves Solara, takes a second SIGINT as "quit now" and skips its clean shutdown)
            child = subprocess.Popen(command, process_group=0, preexec_fn=die_with(os.getpid()), env=env)
            if stops:  # the signal came while the child was being started
                child.send_signal(stops[0])
                raise _Stop
            status = child.wait()
            return status if status >= 0 else 128 - status
        except _Stop:
            pass
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stops[0] == signal.SIGINT:
        raise KeyboardInterrupt
    return 128 + stops[0]


@contextlib.contextmanager
def resume_hint_if_stopped(stored: Path, hint: str):
    """A stop (Ctrl-C, SIGTERM) that reaches the command before its sweep or calibration
    catches stops itself (while it sets up, in its first second) still prints how to
    continue, once ``stored`` (the folder's manifest) exists: plain "interrupted" said
    nothing of the folder left, which --resume completes."""
    try:
        yield
    except KeyboardInterrupt:
        if stored.is_file():
            raise Stopped(hint) from None
        raise


class Stopped(KeyboardInterrupt):
    """An interruption whose message says what was kept and how to continue."""


def cmd_sweep(args) -> int:
    from abm import experiment, sweep

    check_executor(args)
    check_model_change(args, "sweep", "runs")
    if args.top_up and not args.resume:
        raise UsageError("--top-up only applies with --resume (it adds replications to a stored sweep)")
    if args.workers is not None:
        budget.check_workers(args.workers, allow_large=args.allow_large)
    try:
        exp = experiment.load(args.experiment, allow_large=args.allow_large, sets=args.set)
    except experiment.ExperimentError as exc:  # one problem on one line; several, one per line, as abm validate lists a scenario's
        raise UsageError(wrong_kind(exc, "sweep") or (str(exc) if len(exc.problems) == 1 else exc.listing())) from None
    budget.check_workers(args.workers or sweep.default_workers(), exp.world, args.allow_large)
    out = Path(args.out) if args.out else Path("runs") / exp.name
    try:
        sweep.check_new(out, args.resume)  # refused before the plan is printed
        _nothing_to_resume(args.resume, out)
        if args.scheduler is not None:  # as are a missing scheduler file or Dask (checked, not connected to: a dry run checks it too)
            sweep.dask_target(args.scheduler)
        stored = None
        if args.resume and out.exists():  # a refused resume is one message, with no plan line before it; a dry run promises what the real resume would accept
            incomplete = sweep.check_resumable(out, exp, args.allow_model_change, dry_run=True, top_up=args.top_up)
            stored = sweep.left_to_run(out, exp, incomplete)
        print(f"{args.experiment}: {exp.describe()} -> {out}/", flush=True)
        if args.top_up and (more := sweep.more_replications(out, exp)):
            print(f"topping up: replications {more[0]} -> {more[1]}; the {more[0]} stored replication(s) of each point are kept, the new ones run", flush=True)
        if stored:
            print(f"resuming: {stored[0]} distinct run(s) stored, {stored[1]} left to run")
        if args.dry_run:
            return 0
        resume = resume_line(args.experiment, out, args.set, carried(args))
        kept = f"every finished run is stored in {out}; continue with: {resume}"
        with resume_hint_if_stopped(out / sweep.MANIFEST, kept):
            result = sweep.run(exp, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, allow_model_change=args.allow_model_change, top_up=args.top_up)
    except sweep.SweepError as exc:
        raise UsageError(str(exc)) from None
    if result.already == result.planned:  # "0 ok, 0 failed of 36" read as if nothing had succeeded
        print(f"nothing left to run: all {result.planned} distinct runs were already done")
    else:
        before = f", {result.already} were already done" if result.already else ""
        print(f"{result.ok} ok, {result.failed} failed of {result.planned} distinct runs{before}; {result.seconds:.1f} s on {result.executor}")
    if result.worker_deaths:  # recovered, but a reader of the log should know (memory? a killed process?)
        print(f"notice: {result.worker_deaths} worker process(es) died (killed, or out of memory) and were replaced; the runs they held were run again one at a time (manifest.json, sessions: worker_deaths)", file=sys.stderr)
    if result.interrupted:
        print(f"interrupted: {kept}", file=sys.stderr)
        return interrupted_status()
    for f in result.failures[:5]:
        print(f"  failed: point {f['point']} {f['params']} replication {f['replication']} seed {f['seed']}: {f['error']}", file=sys.stderr)
    if result.failed:
        more = " (first 5 shown)" if result.failed > 5 else ""
        print(f"{result.failed} run(s) failed{more}; tracebacks: abm.results.load('{out}').failures; re-run them with: {resume}", file=sys.stderr)
        return 1
    if result.aborted:
        print(f"stopped early: {result.aborted}; continue with: {resume}", file=sys.stderr)
        return 1
    print(f"next: abm report {out}")
    return 0


def resume_line(spec: str | Path, out: Path, overrides: list[str], options: list[str] = (), command: str = "sweep") -> str:
    """The command that resumes the sweep (or calibration) of ``spec`` in ``out``, quoted for a shell."""
    import shlex

    return shlex.join(["abm", command, str(spec), "--out", str(out), "--resume", *(x for item in overrides for x in ("--set", item)), *options])


def carried(args) -> list[str]:
    """The options of a sweep or calibration that its resume needs as well: where it ran
    (a resume without --scheduler would run on this machine) and what it was allowed."""
    return [*(["--workers", str(args.workers)] if args.workers is not None else []), *(["--scheduler", args.scheduler] if args.scheduler is not None else []),
            *(["--allow-large"] if args.allow_large else [])]


def resume_command(directory: Path) -> str:
    """How to complete a sweep folder, from its manifest: the spec file the sweep was made
    from (as its first session named it, seen from here) and its --set overrides."""
    import json

    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        spec = Path(os.path.normpath(Path(manifest["sessions"][0]["cwd"], manifest["source"])))
        overrides = list(manifest["spec"].get("overrides", []))
    except (OSError, ValueError, LookupError, TypeError):  # no session yet, or a spec given as a mapping
        return f"abm sweep EXPERIMENT --out {directory} --resume (EXPERIMENT: the spec the sweep was made from)"
    here = Path.cwd()
    return resume_line(spec.relative_to(here) if spec.is_relative_to(here) else spec, directory, overrides)


def check_sweep(directory: Path, verb: str) -> None:
    """Refuse a damaged sweep folder, or one with runs stored as finished whose rows were
    lost (their averages and arrays would be wrong)."""
    from abm import store

    try:
        incomplete = store.check(directory)
    except store.StoreError as exc:
        raise UsageError(f"cannot {verb.split()[0]}: {exc}") from None
    if store.interrupted_top_up(directory):
        raise UsageError(f"cannot {verb} {directory}: a top-up (abm sweep --resume --top-up) was stopped part-way, so its manifest describes more replications than its results hold; "
                         f"repeat that command to complete it, or resume with the spec the sweep was made from: {resume_command(directory)}")
    if not store.has_finished_run(directory):  # a sweep that has just started, or whose runs all failed
        raise UsageError(f"cannot {verb} {directory}: no run has finished successfully yet (failures, if any: abm.results.load('{directory}').failures); wait for the sweep, or complete it with: {resume_command(directory)}")
    if incomplete:
        raise UsageError(f"cannot {verb} {directory}: {len(incomplete)} run(s) stored as finished have lost rows (summaries, series or per-state arrays), so averages would be wrong; run them again with: {resume_command(directory)}")


def cmd_report(args) -> int:
    from abm import report, store

    directory = Path(args.directory)
    check_sweep(directory, "report on")  # first: a file given as DIRECTORY is named as such, not as its default --out
    check_target(Path(args.out) if args.out else directory / "report", "report", replace=args.out is not None)
    from pandas.errors import DatabaseError

    try:
        made = report.make(directory, args.out, tuple(dict.fromkeys(args.export)), argv=args.argv)  # a format asked twice is exported once
    except (sqlite3.DatabaseError, DatabaseError, FileNotFoundError, NotADirectoryError, FileExistsError) as exc:
        raise UsageError(f"cannot report on {directory}: {exc}; is it a complete sweep folder, and is --out a new directory?") from None
    except store.StoreError as exc:  # a damaged per-state series, read by --export (as abm export says it)
        raise UsageError(str(exc)) from None
    print(f"wrote {made.out}/: " + ", ".join(sorted({p.name for p in made.files if p.parent == made.out})))
    if args.export:
        print(f"exported tables to {made.out / 'export'}/ ({', '.join(dict.fromkeys(args.export))})")
    if made.missing:
        print(f"note: {made.missing} of the {made.planned} planned runs have not run (an interrupted sweep?): the tables and charts "
              f"cover the others; `{resume_command(directory)}` completes it", file=sys.stderr)
    for problem in made.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 1 if made.problems else 0


def cmd_export(args) -> int:
    from abm import results, store
    from abm.outputs import atomic_directory

    directory = Path(args.directory)
    out = Path(args.out) if args.out else directory / "arrays"
    check_sweep(directory, "export")  # first, as in cmd_report
    check_target(out, "export", replace=args.out is not None)
    res = results.load(directory)
    if not res.state_columns:
        raise UsageError(f"{directory} kept no per-state series: add metrics.states to the experiment (docs/experiments.md) and sweep again")
    try:
        columns = res.kept_columns(args.columns) if args.columns else None
    except KeyError as exc:
        raise UsageError(f"--columns: {exc.args[0]}") from None
    try:
        with res.snapshot(), atomic_directory(out, "export", replace=args.out is not None) as tmp:  # one state of a sweep still running
            path, sizes = res.export_arrays(tmp, args.format, columns)
    except (ImportError, store.StoreError) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {out / path.name} ({args.format}): dimensions " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    return 0


# --------------------------------------------------------------------------- abm calibrate (issue 10)


def cmd_calibrate(args) -> int:
    import logging

    from abm import calibrate, sweep

    check_executor(args)
    check_model_change(args, "calibration", "generations")
    logging.getLogger("ABC").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        cal = calibrate.load_spec(args.spec, seed=args.seed, allow_large=args.allow_large, sets=args.set)
    except calibrate.CalibrationError as exc:
        raise UsageError(wrong_kind(exc, "calibrate") or str(exc)) from None
    if args.scheduler is None:  # as abm sweep's: --workers 1000 started a process per particle
        budget.check_workers(args.workers or sweep.default_workers(), budget.world_bytes(len(cal.base.states), len(cal.base.powers), cal.steps), args.allow_large)
    try:
        out = Path(args.out) if args.out else Path("runs") / cal.spec.name
        calibrate.check_new(out, args.resume)  # refused before the plan is printed
        _nothing_to_resume(args.resume, out)
        if args.scheduler is not None:  # checked, not connected to, before the plan line, as abm sweep checks it (a dry run too)
            sweep.dask_target(args.scheduler)
        if args.resume and (out.exists() or out.is_symlink()):  # a refused resume is one message, with no plan line before it
            calibrate.check_resumable(out, cal, args.allow_model_change)
        print(f"{args.spec}: {len(cal.names)} parameter(s), {len(cal.patterns)} pattern(s), {cal.spec.generations} generation(s) of {cal.spec.population} particles, "
              f"{cal.spec.seeds_per_particle} seed(s) per particle, {cal.steps} steps per run -> {out}/", flush=True)
        if args.dry_run:
            return 0
        resume = resume_line(args.spec, out, args.set, [*(["--seed", str(args.seed)] if args.seed is not None else []), *carried(args)], command="calibrate")
        kept = f"every finished generation is stored in {out}/{calibrate.DB}; continue with: {resume}"
        with resume_hint_if_stopped(out / calibrate.MANIFEST, kept):
            result = calibrate.run(cal, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, allow_model_change=args.allow_model_change)
    except calibrate.CalibrationStopped as exc:  # not the input's fault (exit 1, as a sweep stopped early)
        print(f"stopped early: {exc}; continue with: {resume}", file=sys.stderr)
        return 1
    except (calibrate.CalibrationError, sweep.SweepError) as exc:
        raise UsageError(str(exc)) from None
    print(f"{result.generations} generation(s) done; {result.simulations} simulations in {result.seconds:.1f} s on {result.executor}")
    if result.worker_deaths:  # recovered, as a sweep's are, and said as a sweep says it
        print(f"notice: {result.worker_deaths} worker process(es) died (killed, or out of memory) and were replaced; the particles they held were run again (manifest.json, sessions: worker_deaths)", file=sys.stderr)
    if result.interrupted:
        print(f"interrupted: {kept}", file=sys.stderr)
        return interrupted_status()
    print(f"wrote {out}/: " + ", ".join(p.name for p in result.files))
    if result.ess < calibrate.MIN_ESS:
        why = f"which {cal.spec.population} particles cannot reach" if cal.spec.population < calibrate.MIN_ESS else "a few particles hold most of the weight"
        print(f"warning: the final weights' effective sample size is {result.ess:.1f} of {cal.spec.population} particles, below {calibrate.MIN_ESS} ({why}): "
              "every verdict in constraint.csv is 'unreliable'; run more particles or seeds per particle, or another --seed", file=sys.stderr)
    return 0


def add_executor(parser) -> None:
    """Where a sweep or a calibration runs its simulations: local processes or a Dask cluster."""
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per CPU)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster: scheduler address (tcp://host:8786), scheduler file, or \"config\" for the address in Dask's configuration")


def check_executor(args) -> None:
    """Refuse --workers and --scheduler that cannot be; on a cluster, keep Dask's logs to one line each."""
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {args.workers})")
    if args.workers is not None and args.scheduler is not None:
        raise UsageError("give --workers (local processes) or --scheduler (Dask cluster), not both")
    if args.scheduler is not None:
        one_line_dask_logs()


def one_line_dask_logs() -> None:
    """Dask's log records on one line each, without tracebacks (:func:`_one_line`)."""
    import logging

    try:
        import distributed  # noqa: F401  (configures the loggers below)
    except ImportError:  # abm.sweep.dask_target says how to install it
        return
    for name in ("distributed", "distributed.client", "tornado", "tornado.application"):  # those dask's logging configuration gives a handler
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_one_line)  # once: a filter already there is not added again


def _one_line(record) -> bool:
    """When a scheduler goes away, or the command closes its client with results still on
    their way, distributed logs the tracebacks of its own internals (a reconnect cancelled,
    a callback on a closed stream: tornado's "Exception in callback", dropped whole), which
    say nothing a user can act on; the command itself says what is stored and how to go on.
    Dask's one-line messages are kept, with the exception's type and text."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        message = record.getMessage().strip()
        if not message or record.name == "tornado.application":  # the traceback was all of it
            return False
        record.msg, record.args = f"{message} ({type(exc).__name__}: {exc})", ()
    record.exc_info = record.exc_text = record.stack_info = None
    return True


def add_model_change(parser, work: str, stored: str) -> None:
    """The override of --resume's model check, worded alike for a sweep and a calibration
    (both keep their runs' code in one manifest the same way)."""
    parser.add_argument("--allow-model-change", action="store_true", help=f"with --resume: resume even though the model's code changed since the {work} started, or accept results from workers "
                        f"whose code or library versions differ from this process's, mixing {stored} of two models in one folder (manifest.json records each session's and such workers' code)")


def _nothing_to_resume(resume: bool, out: Path) -> None:
    """--resume of a folder that does not exist starts the work there, so that one command
    both starts and completes it (a cluster job's retry); said, in case --out is a typo."""
    if resume and not out.exists():
        print(f"notice: nothing to resume in {out} (no such folder): starting there", file=sys.stderr)


def check_model_change(args, work: str, stored: str) -> None:
    if args.allow_model_change and not args.resume:
        raise UsageError(f"--allow-model-change only applies with --resume (a new {work} has no stored {stored} to mix with)")


def add_calibrate(sub) -> None:
    k = sub.add_parser("calibrate", help="fit parameters to the observed patterns (ABC-SMC); posterior, charts and predictive checks")
    k.add_argument("spec", help="calibration spec YAML (see experiments/calibrate/baseline.yaml)")
    add_executor(k)
    k.add_argument("--out", default=None, help="output directory (default: runs/<spec name>); an existing one is never replaced, only completed with --resume")
    k.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override the calibration spec itself, e.g. --set population=40, --set generations=2, "
                   "--set parameters.rules.decay.rate.high=0.05, --set set.time.steps=20 (repeatable; recorded in the manifest; --resume needs the same overrides)")
    k.add_argument("--seed", type=int, default=None, help="the ABC's seed instead of the spec's (with another --out): the same calibration under another seed shows its Monte Carlo error")
    k.add_argument("--resume", action="store_true", help="continue an interrupted calibration in --out from its last finished generation (a folder that does not exist yet is started, with a notice); refused if the model's code (its Python files) or a library it computes with changed since the calibration started")
    add_model_change(k, "calibration", "generations")
    k.add_argument("--dry-run", action="store_true", help="check the spec (with its --set), the output folder and --scheduler, print the plan, run nothing")
    k.add_argument(*LARGE, **LARGE_HELP)
    k.add_argument("--verbose", action="store_true", help="print pyabc's log (epsilon and acceptance rate of each generation)")
    k.set_defaults(func=cmd_calibrate)


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


LARGE = ("--allow-large",)
LARGE_HELP = {"action": "store_true", "help": "lift the size budgets checked before anything starts (world memory, runs, workers; see abm/budget.py)"}


ZOOM_HELP = "index scales fitted to the data (0-1 by default, so that a negligible effect looks negligible); each panel states the range shown"


class Parser(argparse.ArgumentParser):
    """Options refused in one line, as every other bad input is, where argparse prints its
    usage block first: the option and what is wrong, and where the options are listed."""

    commands: dict[str, argparse.ArgumentParser] = {}  # abm's own: its commands' parsers

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        known, extra = self.parse_known_args(args, namespace)
        if extra:  # refused by the command's parser, whose --help lists its options (argparse names abm's)
            self.commands.get(getattr(known, "command", None), self).error(f"unrecognized arguments: {' '.join(extra)}")
        return known


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="abm",
        description="Great-power competition in the South Caucasus and Central Asia (agent-based model).",
        epilog="Exit status: 0 success; 1 the work is incomplete: some runs of a sweep failed, a sweep or calibration stopped early "
        "(--resume continues it), or abm report could not make some charts; 2 bad input (nothing written); 128+N stopped by signal N "
        "(130 Ctrl-C, 143 SIGTERM, which abm sweep and abm calibrate take as cleanly as Ctrl-C), the abm script then ending by "
        "that signal once it has cleaned up. "
        "Output folders: a command writes into a new folder, or into its own earlier output named with --out, where it "
        "replaces only the files it wrote (listed in .abm-output.json) and never touches other files; without --out it "
        "never replaces anything. abm sweep and abm calibrate never replace a folder (--resume completes their own).",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    p.commands = sub.choices

    r = sub.add_parser("run", help="run one scenario and write its tables and charts")
    r.add_argument("config", help="scenario YAML file")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's seed)")
    r.add_argument("--steps", type=int, default=None, help="number of steps (default: the scenario's time.steps)")
    r.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a setting, e.g. --set rules.decision.name=bandwagon (repeatable)")
    r.add_argument("--out", default=None, help="output directory (default: runs/<scenario name>, which must not exist yet or be empty); naming an earlier run's output replaces the files that run wrote, other files are never touched")
    r.add_argument("--no-charts", action="store_true", help="write tables only")
    r.add_argument("--zoom", action="store_true", help=f"with --seeds: ensemble.png's {ZOOM_HELP}")
    r.add_argument("--seeds", type=int, default=None, metavar="N", help="also run the next N-1 seeds and write their spread (ensemble.csv, ensemble.png): mean, 95%% CI of the mean, 5-95%% of runs (default 1: one run)")
    r.add_argument(*LARGE, **LARGE_HELP)
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check scenarios and explain every problem found")
    v.add_argument("configs", nargs="+", metavar="config", help="scenario YAML file(s); exit status 2 if any is invalid")
    v.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a setting before checking (repeatable)")
    v.add_argument(*LARGE, **LARGE_HELP)
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("compare", help="run several scenarios with the same seeds; table at chosen dates and overlay charts")
    c.add_argument("configs", nargs="*", help="scenario YAML files")
    c.add_argument("--from", dest="record", default=None, metavar="PROVENANCE", help="run an earlier comparison again from its provenance.yaml: its scenarios as they ran (their files are not read), seeds, dates and metrics; --seeds, --dates, --metrics, --steps and --set change it (--steps or a --set of time. without --dates: the new horizon's default dates)")
    c.add_argument("--seeds", type=int, default=None, help="replications per scenario (seeds 0..N-1, the same for all; default 5, or the record's with --from)")
    c.add_argument("--dates", nargs="+", default=None, type=_date, metavar="YYYY-MM-DD", help="dates of the table: the step in force on each, the last dated on or before it (default: +5 years, +10 years, the end)")
    c.add_argument("--metrics", nargs="+", default=None, help="metric columns to compare (default: the metrics the scenarios' watch: lists name, else the key metrics)")
    c.add_argument("--steps", type=int, default=None, help="number of steps (default: each scenario's time.steps)")
    c.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override applied to every scenario")
    c.add_argument("--zoom", action="store_true", help=f"compare.png's {ZOOM_HELP}")
    c.add_argument("--out", default=None, help="output directory (default: runs/compare, which must not exist yet or be empty); naming an earlier comparison replaces the files it wrote, other files are never touched")
    c.add_argument(*LARGE, **LARGE_HELP)
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("dashboard", help="start the interactive dashboard in the browser (Solara, Mesa's visualization)")
    d.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario files of your own to add to the sidebar's menu (configs/*.yaml are always there); the first is shown at the start")
    d.add_argument("--port", type=int, default=8765, help="port to serve on (default 8765; 0: any free port)")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    d.add_argument("--dev", action="store_true", help="development mode: reload when the code changes")
    d.add_argument("--no-fetch", action="store_true", help="do not fetch missing front-end assets (npm) before starting")
    d.set_defaults(func=cmd_dashboard)

    s = sub.add_parser("sweep", help="run an experiment (parameter sweep with replications) into a resumable results store")
    s.add_argument("experiment", help="experiment YAML file (see experiments/)")
    add_executor(s)
    s.add_argument("--out", default=None, help="results directory (default: runs/<experiment name>); an existing one is never replaced, only completed with --resume")
    s.add_argument("--resume", action="store_true", help="complete an interrupted sweep in --out: run only the missing (or failed) runs (a folder that does not exist yet is started, with a notice); refused if the model's code (its Python files) or a library it computes with changed since the sweep started")
    add_model_change(s, "sweep", "runs")
    s.add_argument("--top-up", action="store_true", help="with --resume: the spec asks for more replications than the sweep stores, and nothing else changed: keep the stored runs and run the added replications only (replication r's seed does not depend on how many there are)")
    s.add_argument("--dry-run", action="store_true", help="validate the experiment and print the size of the plan, run nothing")
    s.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override the experiment itself, e.g. --set replications=2, --set sample.n=64, --set set.time.steps=20 (repeatable; recorded in the manifest; --resume needs the same overrides)")
    s.add_argument(*LARGE, **LARGE_HELP)
    s.set_defaults(func=cmd_sweep)

    rp = sub.add_parser("report", help="summary table and charts of a sweep directory")
    rp.add_argument("directory", help="results directory written by abm sweep")
    rp.add_argument("--out", default=None, help="where to write the report (default: DIRECTORY/report, which must not exist yet or be empty); naming an earlier report replaces the files it wrote, other files are never touched")
    rp.add_argument("--export", action="append", default=[], choices=["csv", "parquet"], help="also export the tables (params, runs, summaries; series and states when the sweep kept them); repeatable")
    rp.set_defaults(func=cmd_report)

    e = sub.add_parser("export", help="per-state series of a sweep (metrics.states) as an xarray Dataset: NetCDF or Zarr")
    e.add_argument("directory", help="results directory written by abm sweep")
    e.add_argument("--format", default="netcdf", choices=["netcdf", "zarr"], help="netcdf: DIR/arrays/<experiment>.nc (NetCDF-4); zarr: DIR/arrays/<experiment>.zarr (Zarr v3)")
    e.add_argument("--columns", nargs="+", default=None, metavar="COLUMN", help="only these kept per-state columns (default: all kept)")
    e.add_argument("--out", default=None, help="output folder (default: DIRECTORY/arrays, which must not exist yet or be empty); naming an earlier export replaces the files it wrote, other files are never touched")
    e.set_defaults(func=cmd_export)

    b = sub.add_parser("bench", help="time the model (baseline run, per-step and per-offer cost by world size)")
    b.add_argument("--repeats", type=int, default=7, help="repeats per figure, reported as medians (1 to 100; default 7)")
    b.add_argument("--quick", action="store_true", help="fewer sizes and repeats, for a smoke test")
    b.set_defaults(func=cmd_bench)
    add_calibrate(sub)
    return p


def check_out(args) -> None:
    """Refuse an empty or blank --out: "" is no folder, yet it is given, so it would
    reach a default folder with the right to replace it (the empty path is also ``.``)."""
    if getattr(args, "out", None) is not None and not args.out.strip():
        raise UsageError("--out is empty; name a folder, or leave --out out to use the default")
    for part in Path(getattr(args, "out", None) or ".").parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise UsageError(f"--out: a folder name of {len(os.fsencode(part))} bytes ({cut(part, 40)}); give at most {MAX_NAME_BYTES} (a file system allows 255, and the tool adds a prefix while it writes)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        args.argv = ["abm", *(sys.argv[1:] if argv is None else map(str, argv))]  # recorded in provenance files
        check_utf8(args.argv if args.command in WRITES_ARGV else getattr(args, "set", None) or [])  # an override's value goes into the scenario either way
        check_out(args)
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {wrong_kind(exc, args.command) or exc}", file=sys.stderr)
        return 2
    except (UsageError, OutputError, budget.BudgetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        return 0
    except OSError as exc:  # a path given that the file system cannot hold (a sweep folder to report, a scenario's name)
        if exc.errno != errno.ENAMETOOLONG:
            raise
        print(f"error: a path is too long for the file system: {cut(str(exc.filename), 80)}; shorten its names", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted: {exc}" if isinstance(exc, Stopped) else "interrupted", file=sys.stderr)
        return interrupted_status()


WRITES_ARGV = ("run", "compare", "sweep", "calibrate")  # the commands that record their command line in UTF-8 provenance


def check_utf8(argv: list[str]) -> None:
    """Refuse an argument that is not UTF-8 (a file name, ``--out`` or ``--set`` value with
    other bytes, which Python keeps as surrogates): the run would go to its end and then fail
    to write the command line into its provenance files, which are UTF-8."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"argument '{around_first_bad_byte(os.fsencode(arg))}' is not UTF-8 text: give file names, --out and --set values in UTF-8") from None


def around_first_bad_byte(raw: bytes, before: int = 50, after: int = 8) -> str:
    """``raw`` on one line from at most ``before`` characters ahead of its first byte that
    is not UTF-8, then that byte and at most ``after`` more bytes, escaped (\\xff): a long
    path still shows where the bad byte is."""
    try:
        raw.decode("utf-8")
        start = len(raw)
    except UnicodeDecodeError as exc:
        start = exc.start
    head = raw[:start].decode("utf-8")
    end = start + 1 + after
    shown = ("..." + head[-before:] if len(head) > before else head) + raw[start:end].decode("utf-8", "backslashreplace") + ("..." if len(raw) > end else "")
    return " ".join(shown.split("\n"))


class Unbroken:
    """A text stream that goes quiet when its reader goes (``abm sweep ... | tee log``, the
    tee killed; a closed terminal, whose writes then fail with EIO): the rest of its output
    goes to /dev/null and the command carries on. A command's product is its files; a
    broken pipe used to abort it mid-way, with status 0, and a hung-up terminal turned a
    clean stop into a traceback."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            self.silence(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self.silence(exc)

    def silence(self, exc: OSError) -> None:
        """Point the stream's file descriptor at /dev/null: every writer to it (warnings,
        progress bars, logging) then succeeds, and what is still buffered is dropped there.
        Any other error than a gone reader is raised."""
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EIO:
            raise exc
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def script() -> None:
    """The ``abm`` console script: :func:`main`, then a quick exit. Once a command has
    finished, its files are closed; the exit handlers (atexit: logging, multiprocessing,
    temporary files) run as usual, but the interpreter's teardown, which frees the ~1,500
    loaded modules one by one (0.2 s of CPU, a tenth of ``abm run``), is skipped. A non-daemon
    thread or a child process still alive gets the normal exit, which waits for it.

    The garbage collector runs less often than by default: a command loads Mesa,
    pandas and matplotlib, millions of objects that live to the end, and the default
    thresholds would walk them all again in repeated full collections (a tenth of
    ``abm run``'s CPU). Cyclic garbage is still collected, every 10,000 allocations.

    Once the command has returned, its result is printed and its files are closed: Ctrl-C
    or SIGTERM then is held until the exit handlers have run (it used to cut them short,
    print a traceback or "Exception ignored", or kill the process in their middle), and
    then ends the process by that signal (:func:`abm.processes.end`; the shell shows 130
    for Ctrl-C, as for an interrupted command), so that a script that was stopped still
    sees it. A command interrupted while it ran ends by SIGINT too. A second signal ends
    the process at once (an exit handler that hangs), and the normal exit, which may wait
    a long time for a thread or a child, can be interrupted as ever (it exits with the
    status alone)."""
    gc.set_threshold(10_000, 10, 10)
    sys.stdout, sys.stderr = Unbroken(sys.stdout), Unbroken(sys.stderr)
    with sigterm_as_interrupt():  # a job's SIGTERM (timeout, a batch scheduler) stops every command as cleanly as Ctrl-C, its staging folder removed; here, not in main(), so that a notebook calling main() is not kept alive by it
        status = main()
    try:
        _exit(status)
    except KeyboardInterrupt:  # came as main returned (freeing a command's objects takes a while), before _exit held it
        _exit(128 + signal.SIGINT)


def _exit(status: int) -> None:
    """End the process with ``status`` once the command has returned (see :func:`script`)."""
    with interrupts_deferred(again=lambda signum: end(128 + signum)) as held:  # an exit handler that hangs: a second Ctrl-C ends it
        sys.stdout.flush()  # Unbroken: a reader such as head that has gone is not told
        sys.stderr.flush()
        multiprocessing = sys.modules.get("multiprocessing")
        # daemon threads (tqdm's monitor) do not hold up a normal exit either
        waited = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        if not waited and not (multiprocessing and multiprocessing.active_children()):
            atexit._run_exitfuncs()
            end(128 + held[0] if held else status)
        if held:
            status = 128 + held[0]
            held.clear()
    sys.exit(status)


if __name__ == "__main__":
    script()
