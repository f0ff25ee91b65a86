"""Where the CPU of ``abm run configs/baseline.yaml --out DIR`` goes, and its floor.

    .venv/bin/python benchmarks/cli_phases.py               # medians of 7 fresh processes
    .venv/bin/python benchmarks/cli_phases.py --repeats 3

Each repeat runs, in a fresh interpreter, the steps of ``abm run`` in the command's order
(the CLI, the runner, the model and Mesa, loading, running, writing the tables, matplotlib
and the chart module, each of the three charts) and reads the process's CPU clock between
them. The floor rows are fresh interpreters that only import libraries: what a process
pays before doing any work, whatever the project's code does. Figures are printed, not
asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PHASES = r"""
import json, sys, tempfile, time
from pathlib import Path
marks = [("start", time.process_time())]
def mark(name): marks.append((name, time.process_time()))
import abm.cli; mark("import abm.cli (numpy, pydantic, the scenario schema)")
import abm.runner; mark("import abm.runner (pandas)")
import abm.model; mark("import abm.model (Mesa: scipy.spatial, networkx)")
from abm.scenario import load
scenario = load("configs/baseline.yaml"); mark("load configs/baseline.yaml")
result = abm.runner.run(scenario); mark("run 60 steps, build the tables")
out = Path(tempfile.mkdtemp()) / "run"
result.write(out); mark("write the tables and scenario.resolved.yaml")
import matplotlib, pandas as pd
from abm import charts; mark("import abm.charts (matplotlib)")
model, agents, events = (pd.read_csv(out / f"{name}.csv") for name in ("model", "agents", "events")); mark("read the tables back (as run_charts does)")
with matplotlib.rc_context({"text.parse_math": False}):
    charts.alignment_chart(agents, scenario, out / "alignment.png", events=events); mark("alignment chart (8 panels)")
    charts.fragmentation_chart(model, scenario, out / "fragmentation_integration.png"); mark("fragmentation chart (3 panels)")
    charts.region_map(agents, scenario, out / "region_map.png"); mark("region map")
print(json.dumps([(b, t1 - t0) for (_, t0), (b, t1) in zip(marks, marks[1:])]))
"""

FLOORS = {
    "interpreter alone": "pass",
    "Mesa": "import mesa",
    "what the model needs without Mesa (pandas, networkx, scipy.special, csgraph)": "import pandas, networkx, scipy.special, scipy.sparse.csgraph",
    "matplotlib (figure, Agg canvas)": "import matplotlib.figure, matplotlib.backends.backend_agg",
    "Mesa and matplotlib": "import mesa, matplotlib.figure, matplotlib.backends.backend_agg",
}


def cpu_of(code: str) -> tuple[float, str]:
    """CPU seconds (user + system) of a fresh interpreter running ``code``, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    if repeats < 1:
        parser.error(f"--repeats must be at least 1 (got {repeats})")
    phases: dict[str, list[float]] = {}
    totals: list[float] = []
    floors: dict[str, list[float]] = {name: [] for name in FLOORS}
    for _ in range(repeats):  # interleaved, so that a busy spell stretches every row alike
        total, out = cpu_of(PHASES)
        totals.append(total)
        for name, seconds in json.loads(out.splitlines()[-1]):
            phases.setdefault(name, []).append(seconds)
        for name, code in FLOORS.items():
            floors[name].append(cpu_of(code)[0])
    print(f"abm run configs/baseline.yaml, step by step in a fresh process: CPU seconds, medians of {repeats}")
    for name, values in phases.items():
        print(f"  {name:<62}{statistics.median(values):7.3f}")
    print(f"  {'whole process (interpreter start and exit included)':<62}{statistics.median(totals):7.3f}")
    print("floor: fresh processes that only import")
    for name, values in floors.items():
        print(f"  {name:<62}{statistics.median(values):7.3f}")


if __name__ == "__main__":
    main()
