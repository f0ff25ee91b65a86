"""Write tests/data/regression.json: fingerprints of fixed-seed runs' tables.

tests/test_regression.py re-runs the same cases and compares, so that speed work
(caching, vectorising, fewer copies) cannot change a single output value unnoticed.
A deliberate change of the model's behaviour changes these tables too: regenerate the
fixture with

    .venv/bin/python scripts/regression_fixture.py

and commit it together with that change (say in the message why the outputs moved).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "regression.json"
# (label, config, seed, --set overrides): the baseline over two seeds and a generated
# world large enough for the block-wise fragmentation to span several row blocks.
CASES = [
    ("baseline seed 0", "configs/baseline.yaml", 0, []),
    ("baseline seed 11", "configs/baseline.yaml", 11, []),
    ("generated 90x12", "configs/generated.yaml", 3, ["generated.n_states=90", "generated.n_powers=12", "time.steps=8"]),
]
TABLES = ("model", "agents", "coercions", "events")
# Final values of a few model columns, stored in the clear so that a failure shows how far
# a run moved, not only that its hash changed.
SHOWN = ("fragmentation", "integration", "polarization", "blocs", "mean_dependency_hhi")


def fingerprint(config: str, seed: int, sets: list[str]) -> dict:
    from abm.runner import run

    result = run(ROOT / config, seed=seed, sets=sets)
    hashes = {name: hashlib.sha256(getattr(result, name).to_csv(index=False).encode()).hexdigest()[:16] for name in TABLES}
    last = result.model.iloc[-1]
    return {"rows": {name: len(getattr(result, name)) for name in TABLES}, "sha256": hashes, "final": {c: float(last[c]) for c in SHOWN}}


def main() -> None:
    cases = [{"label": label, "config": config, "seed": seed, "sets": sets, **fingerprint(config, seed, sets)} for label, config, seed, sets in CASES]
    FIXTURE.write_text(json.dumps({"regenerate": "python scripts/regression_fixture.py", "cases": cases}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(cases)} cases")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # no options: --help, or a refusal, before the fixture is rewritten
    main()
