"""Save every shipped config's tables, then check that a change moved them only by rounding.

For speed work that regroups sums (fusing reductions changes the last bits, so the
regression fixture's hashes move): the outputs must stay the same up to floating-point
reassociation, and every discrete outcome must stay exactly the same.

    .venv/bin/python benchmarks/compare_tables.py save DIR      # before the change
    .venv/bin/python benchmarks/compare_tables.py compare DIR   # after it

Cases: every ``configs/*.yaml`` with seeds 0, 1 and 2, plus the regression fixture's
cases (scripts/regression_fixture.py). ``compare`` checks, table by table:

* every float column within ``rtol`` 1e-9 / ``atol`` 1e-12 (NaN only where NaN was);
* every other column (events, coercions, tools, responses, dates, counts, memberships,
  blocs) identical, and the same rows and columns;
* the patron of each state at each step (its largest alignment, "other" included) identical;

and prints the largest relative difference. Exit status 1 if anything fails.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

TABLES = ("model", "agents", "coercions", "events")
SEEDS = (0, 1, 2)
RTOL, ATOL = 1e-9, 1e-12


def cases() -> list[tuple[str, str, int, list[str]]]:
    import regression_fixture

    shipped = [(f"{p.stem} seed {s}", f"configs/{p.name}", s, []) for p in sorted((ROOT / "configs").glob("*.yaml")) for s in SEEDS]
    return shipped + [(f"fixture: {label}", config, seed, list(sets)) for label, config, seed, sets in regression_fixture.CASES]


def tables(config: str, seed: int, sets: list[str]) -> dict[str, pd.DataFrame]:
    from abm.runner import run

    result = run(ROOT / config, seed=seed, sets=sets)
    return {name: getattr(result, name) for name in TABLES}


def save(folder: Path) -> None:
    saved = {label: tables(config, seed, sets) for label, config, seed, sets in cases()}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "tables.pkl", "xb") as out:  # "x": a file made meanwhile is not replaced either
        out.write(pickle.dumps(saved))
    print(f"saved {len(saved)} cases to {folder}")


def patrons(agents: pd.DataFrame) -> np.ndarray:
    columns = [c for c in agents.columns if c.startswith("alignment_")]
    return agents[columns].to_numpy().argmax(axis=1)


def compare_table(label: str, name: str, old: pd.DataFrame, new: pd.DataFrame) -> tuple[list[str], float]:
    """Failures and the largest relative difference of one table."""
    where = f"{label} / {name}"
    if list(old.columns) != list(new.columns) or len(old) != len(new):
        return [f"{where}: columns or rows differ ({old.shape} -> {new.shape})"], 0.0
    failures, worst = [], 0.0
    for column in old.columns:
        a, b = old[column], new[column]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            x, y = a.to_numpy(), b.to_numpy()
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                failures.append(f"{where}.{column}: NaN in different places")
                continue
            ok = ~np.isnan(x)
            x, y = x[ok], y[ok]
            if not np.allclose(y, x, rtol=RTOL, atol=ATOL):
                k = int(np.argmax(np.abs(y - x) - RTOL * np.abs(x)))
                failures.append(f"{where}.{column}: {x[k]!r} -> {y[k]!r} beyond rtol {RTOL} / atol {ATOL}")
            scale = np.abs(x)
            rel = np.divide(np.abs(y - x), scale, out=np.zeros(len(x)), where=scale > 0)  # where x is 0, atol decides
            worst = max(worst, float(rel.max(initial=0.0)))
        elif not a.equals(b):
            failures.append(f"{where}.{column}: discrete values differ (first at row {int(np.flatnonzero((a != b).to_numpy())[0])})")
    if name == "agents" and not np.array_equal(patrons(old), patrons(new)):
        failures.append(f"{where}: a state's patron (largest alignment) differs")
    return failures, worst


def compare(folder: Path) -> int:
    saved = pickle.loads((folder / "tables.pkl").read_bytes())
    failures, worst, where = [], 0.0, ""
    for label, config, seed, sets in cases():
        now = tables(config, seed, sets)
        for name in TABLES:
            f, w = compare_table(label, name, saved[label][name], now[name])
            failures += f
            if w > worst:
                worst, where = w, f"{label} / {name}"
    print(f"{len(saved)} cases compared; largest relative difference {worst:.3g}" + (f" ({where})" if where else ""))
    for line in failures:
        print("FAIL", line)
    print("OK: same up to rounding, every discrete outcome identical" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.action == "save" and (args.folder / "tables.pkl").exists():  # never replaced: an earlier save is the reference a comparison needs
        parser.error(f"{args.folder / 'tables.pkl'} exists; choose another folder, or remove it to save again")
    if args.action == "compare" and not (args.folder / "tables.pkl").is_file():
        parser.error(f"{args.folder / 'tables.pkl'} not found; make it with: compare_tables.py save {args.folder} (on the code before the change)")
    if args.action == "save":
        save(args.folder)
        return 0
    return compare(args.folder)


if __name__ == "__main__":
    sys.exit(main())
