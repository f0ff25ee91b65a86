"""How much pairing by seed tightens a comparison: for a few scenarios against the
baseline, the s.d. over seeds of the paired difference (scenario - baseline, same seed) at
the end of the run, beside the s.d. of the scenario's own level.

    .venv/bin/python scripts/common_random_numbers.py --seeds 100     # about a minute on 2 cores

A ratio well below 1 means the two runs of a seed met the same draws where they share a
source of chance (common random numbers, docs/ODD.md "Random numbers"), so a paired
difference needs far fewer seeds than two independent samples would; near or above 1, the
scenario changes the run's course enough that its draws are met at other moments.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abm import budget  # noqa: E402
from abm.runner import run  # noqa: E402

BASELINE = str(ROOT / "configs" / "baseline.yaml")
EU_MONEY = [f"powers.european_union.budget.{d}=1" for d in ("investment", "security", "trade")]
CASES = {  # name -> (scenario, --set overrides)
    "japan_minerals": (str(ROOT / "configs" / "japan_minerals.yaml"), []),
    "us_withdraws": (str(ROOT / "configs" / "us_withdraws.yaml"), []),
    "EU new money, 1 bn a quarter per domain": (BASELINE, EU_MONEY),
}
METRICS = ["fragmentation_south_caucasus", "integration", "influence_russia"]


def finals(job: tuple[str, list[str], int]) -> list[float]:
    scenario, sets, seed = job
    model = run(scenario, seed=seed, sets=sets, tables=False).model
    return [float(model[m].iloc[-1]) for m in METRICS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 of each scenario (at least 2: a standard deviation needs two; default 100)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--allow-large", action="store_true", help="start more workers than the budget allows (abm/budget.py)")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2, for a standard deviation over seeds (got {args.seeds})")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1 (got {args.workers})")
    try:
        budget.check_workers(args.workers, allow_large=args.allow_large)
    except budget.BudgetError as exc:
        parser.error(str(exc))
    seeds = range(args.seeds)
    with Pool(args.workers) as pool:
        base = np.array(pool.map(finals, [(BASELINE, [], s) for s in seeds]))
        print(f"Paired by seed, seeds 0-{args.seeds - 1}, values at the end of the run\n")
        print("| scenario | metric | mean difference | s.d. of the paired difference | s.d. of the level | ratio |")
        print("|---|---|---|---|---|---|")
        for name, (scenario, sets) in CASES.items():
            other = np.array(pool.map(finals, [(scenario, sets, s) for s in seeds]))
            for k, metric in enumerate(METRICS):
                diff, level = other[:, k] - base[:, k], other[:, k]
                sd_diff, sd_level = diff.std(ddof=1), level.std(ddof=1)
                print(f"| {name} | {metric} | {diff.mean():+.4f} | {sd_diff:.4f} | {sd_level:.4f} | {sd_diff / sd_level:.2f} |")


if __name__ == "__main__":
    main()
