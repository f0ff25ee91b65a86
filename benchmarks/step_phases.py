"""CPU time of each phase of a model step, timed in place inside whole baseline runs.

Phases cost about twice as much inside a run as when called in a tight loop (their arrays
are no longer in cache), so they are timed where they run: every phase method of
``RegionModel`` that ``step`` calls, and Mesa's data collection, is wrapped by a timer for
the duration of the measurement; the rest of the step (the credibility, opinion and
neighbour rules, Mesa's own step machinery) is the step's total less the phases.

    .venv/bin/python benchmarks/step_phases.py               # 40 runs of the baseline
    .venv/bin/python benchmarks/step_phases.py --runs 100 configs/no_peace.yaml

Run it on two checkouts (``PYTHONPATH=CHECKOUT``) to see which phases a change moved.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH, so that PYTHONPATH=CHECKOUT times another checkout

PHASES = ("fire_events", "grow_economies", "move_freight", "make_offers", "decide_offers", "answer_rivals", "decay_ties",
          "find_defections", "coerce_defectors", "review_memberships", "observe", "measure")


def timed(spent: collections.Counter, name: str, method):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=None, help="a scenario (default: the baseline of the checkout timed)")
    parser.add_argument("--runs", type=int, default=40, help="runs timed, after 5 untimed ones (seeds 0..runs-1)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1 (got {args.runs})")

    from abm import metrics, model
    from abm.model import RegionModel
    from abm.runner import run
    from abm.scenario import ScenarioError, load

    args.config = args.config or str(Path(model.__file__).resolve().parents[1] / "configs" / "baseline.yaml")
    try:
        scenario = load(args.config)
    except ScenarioError as exc:
        parser.error(str(exc))
    spent: collections.Counter = collections.Counter()
    for name in [p for p in PHASES if hasattr(RegionModel, p)]:  # an older checkout may lack a phase
        setattr(RegionModel, name, timed(spent, name, getattr(RegionModel, name)))
    RegionModel.step = timed(spent, "step", RegionModel.step)
    metrics.Collector.collect = timed(spent, "collect", metrics.Collector.collect)
    for seed in range(5):
        run(scenario, seed, tables=False)
    spent.clear()
    for seed in range(args.runs):
        run(scenario, seed, tables=False)
    steps = args.runs * scenario.time.steps
    step = spent.pop("step")
    print(f"{args.config}: CPU us a step, {args.runs} runs of {scenario.time.steps} steps (timers included)")
    print(f"  {'step':20s} {step / steps * 1e6:7.1f}")
    for name, seconds in spent.most_common():
        print(f"  {name:20s} {seconds / steps * 1e6:7.1f}  {seconds / step:5.1%}")
    print(f"  {'the rest':20s} {(step - sum(spent.values())) / steps * 1e6:7.1f}  (the rules' updates, Mesa's step machinery)")


if __name__ == "__main__":
    main()
