"""The out-of-sample test: simulated 2020-2024 changes from configs/start_2020.yaml against
the observed ones of data/observed_2020_2024.yaml.

    .venv/bin/python scripts/validate_2020.py --seeds 50 --posterior runs/calibrate_baseline/posterior.csv

prints a Markdown table (one row per observation: what was observed, the simulated median
and 90% range over the runs, the share of runs that reproduce it within tolerance with its
95% interval, whether a change of zero would reproduce it too, and the share of runs that
move the observed way), then how many observations each run reproduces against what a
change of zero everywhere reproduces, and,
with --out DIR, writes validation.csv (every run's value), validation.md and provenance.yaml
(the command, each input file's SHA-256, the commit and versions) there: DIR is
new, or an earlier output of this script, whose files are replaced; any other folder is
refused. With --posterior each run draws its parameters from the calibrated posterior
(abm/posterior.py), so the range carries parameter and seed uncertainty.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abm import patterns as pat  # noqa: E402
from abm import budget, posterior, sweep, validation  # noqa: E402
from abm.calibrate import unreadable  # noqa: E402
from abm.outputs import OutputError, atomic_directory, check_target  # noqa: E402
from abm.report import markdown  # noqa: E402
from abm.runner import environment, write_yaml  # noqa: E402
from abm.scenario import ScenarioError, load  # noqa: E402

COMMAND = "validate_2020.py"  # the writer named in --out's .abm-output.json


def record(args, argv, scenario) -> dict:
    """What made the table: without it, validation.md named its posterior by path alone,
    and nothing tied it to a commit. The posterior is the one the runs drew from: --posterior,
    or the scenario's own."""
    inputs = {"config": args.config, "observed": args.observed, **({"posterior": scenario.posterior} if scenario.posterior else {})}
    return {"argv": [COMMAND, *(sys.argv[1:] if argv is None else argv)], "cwd": os.getcwd(), "seeds": args.seeds,
            "inputs": {k: {"path": v, "sha256": posterior.sha256(v)} for k, v in inputs.items()}, **environment()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))  # the first sentence, whole
    p.add_argument("--config", default=str(ROOT / "configs" / "start_2020.yaml"), help="the scenario started in 2020 (default: configs/start_2020.yaml)")
    p.add_argument("--observed", default=str(ROOT / "data" / "observed_2020_2024.yaml"), help="what was observed in 2020-2024 (default: data/observed_2020_2024.yaml)")
    p.add_argument("--posterior", default=None, help="posterior.csv/.parquet of abm calibrate (default: the scenario's own parameters)")
    p.add_argument("--seeds", type=int, default=20, help="runs, seeds 0..N-1 (default 20)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU this process may use)")
    p.add_argument("--allow-large", action="store_true", help="start more workers than the budget allows (abm/budget.py)")
    p.add_argument("--out", default=None, help="directory for validation.csv and validation.md")
    args = p.parse_args(argv)
    for option, value in (("--seeds", args.seeds), ("--workers", args.workers)):
        if value is not None and value < 1:
            print(f"error: {option} must be at least 1 (got {value})", file=sys.stderr)
            return 2
    try:
        sets = [f"posterior={Path(args.posterior).resolve()}"] if args.posterior else []
        scenario = load(args.config, sets)
        observations = pat.load(args.observed)
        problem = unreadable(scenario, observations, scenario.time.steps)
        if problem:
            raise pat.PatternError(f"{args.observed}: {problem}")
        budget.check_workers(args.workers or sweep.default_workers(), budget.world_bytes(len(scenario.states), len(scenario.powers), scenario.time.steps), args.allow_large)  # as abm sweep's
        if args.out is not None:
            check_target(Path(args.out), COMMAND)  # before the runs: a folder of other files is refused
    except (ScenarioError, pat.PatternError, OutputError, budget.BudgetError) as exc:
        field, problem = exc.problems[0] if isinstance(exc, ScenarioError) else ("", "")
        said = f"--posterior: {problem}" if field == "posterior" and args.posterior else str(exc).splitlines()[-1].strip()  # given as an option, not a --set
        print(f"error: {said}", file=sys.stderr)
        return 2
    pool = sweep.local_pool(args.workers)
    try:
        values, table = validation.compare(scenario, observations, args.seeds, pool.executor)
    finally:
        pool.shutdown(False)
    where = f"posterior {args.posterior or scenario.posterior}" if scenario.posterior else "the scenario's parameters"
    text = f"{scenario.name}: {args.seeds} runs with {where}, {scenario.date(0)} to {scenario.date(scenario.time.steps)}\n\n{markdown(table)}\n\n{validation.counts(values, observations)}\n"
    print(text)
    if args.out is not None:  # all files or none; an earlier validation's files replaced, nobody else's
        try:
            with atomic_directory(args.out, COMMAND) as tmp:
                values.to_csv(tmp / "validation.csv", index=False)
                (tmp / "validation.md").write_text(text, encoding="utf-8")
                write_yaml(tmp / "provenance.yaml", record(args, argv, scenario))
        except OutputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
