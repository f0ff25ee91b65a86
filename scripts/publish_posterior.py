"""Copy a finished calibration's posterior into data/, with its provenance, so that
scenarios can use it (``posterior: ../data/posterior_baseline.csv``).

    .venv/bin/python scripts/publish_posterior.py [runs/calibrate_baseline] [data/posterior_baseline]

Writes NAME.csv (the posterior, as abm calibrate wrote it) and NAME.json: the calibration's
manifest without the full base scenario (identified by its spec hash), the SHA-256 of the
CSV, and the constraint and predictive-check tables.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path


def main(source: str = "runs/calibrate_baseline", target: str = "data/posterior_baseline") -> None:
    src, dst = Path(source), Path(target)
    manifest = json.loads((src / "manifest.json").read_text())
    if not manifest.get("finished"):
        sys.exit(f"error: {src} is not a finished calibration (resume it first)")
    verdicts = {row["verdict"] for row in csv.DictReader((src / "constraint.csv").open())}
    if "unreliable" in verdicts:  # degenerate weights: a posterior of a few particles would pass for parameter uncertainty
        sys.exit(f"error: {src}'s final weights are degenerate (constraint.csv: unreliable); run more particles or another --seed before publishing")
    shutil.copyfile(src / "posterior.csv", dst.with_suffix(".csv"))
    rows = lambda name: list(csv.DictReader((src / name).open()))  # noqa: E731
    meta = {
        "what": f"Posterior of abm calibrate {manifest['spec'].get('name', '')} (ABC-SMC), copied from {src}/posterior.csv by "
        "scripts/publish_posterior.py; its manifest.json trimmed to provenance (the full base scenario is identified by spec_hash).",
        "file": dst.with_suffix(".csv").name,
        "sha256": hashlib.sha256(dst.with_suffix(".csv").read_bytes()).hexdigest(),
        "command": " ".join(["abm", *manifest["sessions"][0]["argv"][1:]]) if manifest.get("sessions") else "abm calibrate",
        **{k: manifest[k] for k in ("calibration", "spec_hash", "spec", "steps", "model", "machine", "created", "sessions", "finished", "packages", "patterns") if k in manifest},
        "constraint": rows("constraint.csv"),
        "predictive_check": rows("predictive_check.csv"),
    }
    meta["patterns"] = [p["id"] if isinstance(p, dict) else p for p in meta.get("patterns", [])]
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {dst.with_suffix('.csv')} and {dst.with_suffix('.json')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="runs/calibrate_baseline", help="a finished abm calibrate folder")
    parser.add_argument("target", nargs="?", default="data/posterior_baseline", help="where to write NAME.csv and NAME.json")
    args = parser.parse_args()
    main(args.source, args.target)
