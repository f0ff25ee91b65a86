"""CPU of whole command-line processes at an earlier commit and in this checkout, alternating.

    .venv/bin/python benchmarks/cli_before_after.py --before 2a5688f
    .venv/bin/python benchmarks/cli_before_after.py --before 2a5688f --repeats 3

The earlier commit's ``abm`` package is exported with ``git archive`` into a temporary
folder and put first on ``PYTHONPATH`` (the same virtual environment runs both); each
repeat runs every command once before and once after, so that a busy spell stretches both
alike. The earlier side calls ``sys.exit(main())``, what its ``abm`` script did; this
checkout runs its installed ``abm`` script. The last row is a process that only imports
Mesa and matplotlib, the floor of ``abm run``. Medians are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "abm"


def cpu_of(command: list[str], env: dict) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1 (got {args.repeats})")
    config = str(ROOT / "configs" / "baseline.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "before.tar"
        subprocess.run(["git", "archive", "-o", str(archive), args.before, "abm"], cwd=ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(Path(tmp) / "before", filter="data")
        old_env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "before")}
        cases = {
            f"abm run {Path(config).name} --out DIR": ["run", config, "--out", f"{tmp}/run"],
            f"abm run {Path(config).name} --no-charts --out DIR": ["run", config, "--no-charts", "--out", f"{tmp}/tables"],
            f"abm run {Path(config).name} --seeds 3 --out DIR": ["run", config, "--seeds", "3", "--out", f"{tmp}/seeds"],
            f"abm validate {Path(config).name}": ["validate", config],
        }
        floor = [sys.executable, "-c", "import mesa, matplotlib.figure, matplotlib.backends.backend_agg"]
        old = [sys.executable, "-c", "import sys; from abm.cli import main; sys.exit(main())"]
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in [*cases, "floor: import Mesa and matplotlib"]}
        for _ in range(args.repeats):
            for name, cli_args in cases.items():
                times[name][0].append(cpu_of([*old, *cli_args], old_env))
                times[name][1].append(cpu_of([str(SCRIPT), *cli_args], dict(os.environ)))
            times["floor: import Mesa and matplotlib"][1].append(cpu_of(floor, dict(os.environ)))
    print(f"CPU seconds of whole processes, medians of {args.repeats}, before = {args.before}, after = this checkout; load average {os.getloadavg()[0]:.1f}")
    for name, (before, after) in times.items():
        if before:
            print(f"  {name:<44} before {statistics.median(before):5.2f}  after {statistics.median(after):5.2f}  ratio {statistics.median(after) / statistics.median(before):.3f}")
        else:
            print(f"  {name:<44} {statistics.median(after):5.2f}")


if __name__ == "__main__":
    main()
