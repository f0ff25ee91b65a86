"""Command line: ``abm run``, ``abm validate``, ``abm bench`` and the experiment commands.

Bad input of any kind exits with status 2 and one readable message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from abm.scenario import ScenarioError, load

SUMMARY = ["fragmentation", "integration", "polarization", "blocs", "mean_dependency_hhi", "regional_trade_share"]


class UsageError(Exception):
    """A command-line problem that is the user's to fix (exit status 2)."""


def cmd_run(args) -> int:
    from abm.runner import run

    scenario = load(args.config, args.set)
    result = run(scenario, seed=args.seed, steps=args.steps)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    result.write(out, charts=not args.no_charts)
    first, last = result.model.iloc[0], result.model.iloc[-1]
    print(f"wrote {out}/ (model.csv, agents.csv, events.csv, coercions.csv, scenario.resolved.yaml{'' if args.no_charts else ', charts'})")
    print(f"{result.scenario.name}: seed {result.seed}, {int(last['step'])} steps, {first['date']} -> {last['date']}")
    for name in SUMMARY:
        print(f"  {name:<22} {first[name]:8.3f} -> {last[name]:8.3f}")
    powers = sorted(result.scenario.powers, key=lambda p: -last[f"influence_{p}"])
    print("  influence at the end: " + ", ".join(f"{p} {last[f'influence_{p}']:.2f}" for p in powers[:5]))
    return 0


def cmd_validate(args) -> int:
    scenario = load(args.config, args.set)
    print(f"{args.config}: valid ({len(scenario.states)} states, {len(scenario.powers)} powers, {scenario.time.steps} steps from {scenario.time.start})")
    return 0


def cmd_compare(args) -> int:
    from abm.compare import compare

    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    out = Path(args.out or "runs/compare")
    tab = compare(args.configs, out, seeds=args.seeds, dates=args.dates, metrics=args.metrics, steps=args.steps, sets=args.set)
    print(f"wrote {out}/ (series.csv, compare.csv, compare.md, compare.png, compare.svg): {len(args.configs)} scenarios x {args.seeds} seeds")
    last = tab[tab["date"] == tab["date"].max()]
    for _, row in last.iterrows():
        print(f"  {row['scenario']:<30} {row['date']}  fragmentation {row['fragmentation_mean']:.3f}  integration {row['integration_mean']:.3f}")
    return 0


def cmd_bench(args) -> int:
    from abm.bench import main as bench_main

    return bench_main(repeats=args.repeats, quick=args.quick)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abm", description="Great-power competition in the South Caucasus and Central Asia (agent-based model).")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run one scenario and write its tables and charts")
    r.add_argument("config", help="scenario YAML file")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's seed)")
    r.add_argument("--steps", type=int, default=None, help="number of steps (default: the scenario's time.steps)")
    r.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a setting, e.g. --set rules.decision.name=bandwagon (repeatable)")
    r.add_argument("--out", default=None, help="output directory (default: runs/<config name>)")
    r.add_argument("--no-charts", action="store_true", help="write tables only")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a scenario and explain every problem found")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("compare", help="run several scenarios with the same seeds; table at chosen dates and overlay charts")
    c.add_argument("configs", nargs="+", help="scenario YAML files")
    c.add_argument("--seeds", type=int, default=5, help="replications per scenario (seeds 0..N-1, the same for all)")
    c.add_argument("--dates", nargs="+", default=None, metavar="YYYY-MM-DD", help="dates of the table (default: +5 years, +10 years, end)")
    c.add_argument("--metrics", nargs="+", default=None, help="metric columns to compare (default: the key metrics)")
    c.add_argument("--steps", type=int, default=None)
    c.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override applied to every scenario")
    c.add_argument("--out", default=None, help="output directory (default: runs/compare)")
    c.set_defaults(func=cmd_compare)

    b = sub.add_parser("bench", help="time the model (baseline run, per-step and per-offer cost by world size)")
    b.add_argument("--repeats", type=int, default=7)
    b.add_argument("--quick", action="store_true", help="fewer sizes and repeats, for a smoke test")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
