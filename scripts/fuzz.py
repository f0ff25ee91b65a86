"""Long local run of the fuzz test: mutated scenarios and experiments must give exit 0
with finite outputs or exit 2 with one line, never a traceback or a hang.

    .venv/bin/python scripts/fuzz.py --runs 2000 [--seed 1] [--full-runs 1]

Prints the counts by kind and outcome, and the first failures; exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import fuzz, report  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--runs", type=int, default=2000, help="number of mutated files (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the mutator (default 1)")
    p.add_argument("--experiments", type=float, default=0.25, help="share of experiments among the cases (default 0.25)")
    p.add_argument("--full-runs", type=float, default=1.0, help="share of valid scenarios also run for 4 steps (default 1: all)")
    args = p.parse_args()
    if args.runs < 1:
        p.error(f"--runs must be at least 1 (got {args.runs})")
    for option, share in (("--experiments", args.experiments), ("--full-runs", args.full_runs)):
        if not 0 <= share <= 1:  # nan too
            p.error(f"{option} is a share, in [0, 1] (got {share})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="abm-fuzz-") as folder:
        tally = fuzz(args.runs, args.seed, Path(folder), args.experiments, args.full_runs)
    print(report(tally))
    print(f"{time.perf_counter() - started:.0f} s")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
