"""Write tests/data/regression.json: fingerprints of fixed-seed runs' tables.

tests/test_regression.py re-runs the same cases and compares, so that speed work
(caching, vectorising, fewer copies) cannot change a single output value unnoticed.
A deliberate change of the model's behaviour changes these tables too: regenerate the
fixture with

    .venv/bin/python scripts/regression_fixture.py

and commit it together with that change (say in the message why the outputs moved).

The runs are made in a fresh interpreter whose OpenBLAS uses one set of CPU kernels
(:data:`KERNEL`): OpenBLAS picks kernels by CPU, and a matrix product's last bits
depend on them, so the fixture written on an AVX-512 machine (SkylakeX kernels) did not
match the same code on one where OpenBLAS chose Haswell's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
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
KERNEL = "Haswell"  # OpenBLAS's AVX2 kernels, which any x86-64 machine of the last decade runs


def fingerprint(config: str, seed: int, sets: list[str]) -> dict:
    from abm.runner import run

    result = run(ROOT / config, seed=seed, sets=sets)
    hashes = {name: hashlib.sha256(getattr(result, name).to_csv(index=False).encode()).hexdigest()[:16] for name in TABLES}
    last = result.model.iloc[-1]
    return {"rows": {name: len(getattr(result, name)) for name in TABLES}, "sha256": hashes, "final": {c: float(last[c]) for c in SHOWN}}


def fingerprints() -> dict:
    """Every case's fingerprint and the OpenBLAS kernels that computed them, from a fresh
    interpreter told to use :data:`KERNEL` (OpenBLAS reads it when it loads)."""
    done = subprocess.run([sys.executable, __file__, "--here"], env={**os.environ, "OPENBLAS_CORETYPE": KERNEL}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the fingerprint runs failed:\n{done.stderr}")
    return json.loads(done.stdout)


def _here() -> dict:
    import threadpoolctl

    cases = [{"label": label, "config": config, "seed": seed, "sets": sets, **fingerprint(config, seed, sets)} for label, config, seed, sets in CASES]
    kernels = sorted({str(lib.get("architecture")) for lib in threadpoolctl.threadpool_info() if lib.get("internal_api") == "openblas"})
    return {"kernel": ", ".join(kernels), "cases": cases}


def main() -> None:
    made = fingerprints()
    if made["kernel"] != KERNEL:
        sys.exit(f"error: OpenBLAS ran {made['kernel'] or 'no'} kernels, not {KERNEL}: the fixture is written with {KERNEL}'s, on an x86-64 machine")
    FIXTURE.write_text(json.dumps({"regenerate": "python scripts/regression_fixture.py", "kernel": KERNEL, "cases": made["cases"]}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(made['cases'])} cases")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])  # --help, or a refusal, before the fixture is rewritten
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # print the fingerprints of this interpreter (fingerprints() calls it)
    if parser.parse_args().here:
        print(json.dumps(_here()))
    else:
        main()
