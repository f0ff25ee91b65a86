"""Copy a finished calibration's posterior into data/, with its provenance, so that
scenarios can use it (``posterior: ../data/posterior_baseline.csv``).

    .venv/bin/python scripts/publish_posterior.py [runs/calibrate_baseline] [data/posterior_baseline]

Writes NAME.csv (the posterior, as abm calibrate wrote it) and NAME.json: the calibration's
manifest without the full base scenario (identified by its spec hash), the SHA-256 of the
CSV, and the constraint and predictive-check tables. Every input is read before anything
is written, and both files are replaced together. It replaces only a posterior it published
itself, of the same calibration (spec name) and parameters, unchanged since (its JSON names this script
and the CSV's SHA-256); any other file in the way is refused, and so is a calibration run on uncommitted
changes (its manifest names a commit that is not the code that ran). A refusal is one line and
exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's abm, as the other scripts

from abm.outputs import staged  # noqa: E402
from abm.scenario import ScenarioError, load  # noqa: E402

SIGNATURE = "scripts/publish_posterior.py"  # in the JSON's "what": the files are this script's to replace


class Refusal(Exception):
    pass


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise Refusal(f"{path}: not found (is {path.parent} a finished abm calibrate folder?)") from None
    except OSError as exc:
        raise Refusal(f"{path}: cannot be read ({exc.strerror})") from None


def _table(path: Path) -> list[dict]:
    try:
        return list(csv.DictReader(_read(path).decode("utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Refusal(f"{path}: not a CSV table abm calibrate wrote ({exc})") from None


def targets(target: str) -> tuple[Path, Path]:
    """NAME.csv and NAME.json; a NAME given with either suffix means the same pair (a dot
    elsewhere in the name stays: ``post.v2`` is post.v2.csv, not post.csv)."""
    name = target.removesuffix(".csv").removesuffix(".json")
    if target.endswith(("/", os.sep)) or Path(name).name in ("", ".", ".."):
        raise Refusal(f"{target!r} gives no name for the files; give the posterior's name, such as data/posterior_baseline (for its .csv and .json)")
    return Path(f"{name}.csv"), Path(f"{name}.json")


def check_replaceable(csv_path: Path, json_path: Path, name: str, columns: list[str]) -> None:
    """Refuse files in the way that this script did not write, or that changed since, or
    that publish another calibration than ``name`` or other parameters than ``columns`` (a
    two-parameter trial over the shipped posterior)."""
    if not csv_path.parent.is_dir():
        raise Refusal(f"{csv_path.parent}: no such folder")
    if not csv_path.exists() and not json_path.exists():
        return
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        ours = SIGNATURE in meta["what"] and meta["file"] == csv_path.name
        held = csv_path.read_bytes()
        unchanged = meta["sha256"] == hashlib.sha256(held).hexdigest()
    except (OSError, ValueError, KeyError, TypeError):
        ours = unchanged = False
    if not (ours and unchanged):
        raise Refusal(f"{csv_path} or {json_path} is in the way and is not a posterior this script published, unchanged since; move it or choose another target")
    if (old := (meta.get("spec") or {}).get("name", "unnamed")) != name:
        raise Refusal(f"{json_path} publishes calibration '{old}', not '{name}': choose another target (a posterior is replaced only by its own calibration's)")
    if (header := csv_header(held)) != columns:
        raise Refusal(f"{csv_path} holds {', '.join(header)}, not {', '.join(columns)}: choose another target (a posterior is replaced only by one of the same parameters)")


def check_usable(src: Path, manifest: dict) -> None:
    """Refuse a posterior that the calibration's own base scenario could not run with, checked
    as a scenario's ``posterior:`` is checked when it is loaded (its shape, every column a
    real-valued setting, every value in its setting's range): published, it would be refused
    only later, by every run using it."""
    base = manifest.get("base_scenario")
    if not isinstance(base, dict):
        raise Refusal(f"{src / 'manifest.json'}: it records no base_scenario; not the manifest of an abm calibrate folder")
    try:
        load({**base, "posterior": str((src / "posterior.csv").resolve())})
    except ScenarioError as exc:
        field, problem = exc.problems[0]
        raise Refusal(problem if field == "posterior" else f"{src / 'manifest.json'}: its base_scenario does not load: {field}: {problem}") from None


def csv_header(content: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(content.decode("utf-8-sig"))), [])


def main(source: str = "runs/calibrate_baseline", target: str = "data/posterior_baseline") -> None:
    src = Path(source)
    csv_path, json_path = targets(target)
    try:
        manifest = json.loads(_read(src / "manifest.json"))
    except ValueError:
        raise Refusal(f"{src / 'manifest.json'}: not valid JSON") from None
    if not isinstance(manifest, dict) or "calibration" not in manifest:
        raise Refusal(f"{src / 'manifest.json'}: not the manifest of an abm calibrate folder")
    spec = manifest.get("spec", {})
    if not isinstance(spec, dict):
        raise Refusal(f"{src / 'manifest.json'}: its spec is not a mapping; not the manifest of an abm calibrate folder")
    if not manifest.get("finished"):
        raise Refusal(f"{src} is not a finished calibration (resume it first)")
    try:
        command = " ".join(["abm", *manifest["sessions"][0]["argv"][1:]])
    except (KeyError, IndexError, TypeError):
        raise Refusal(f"{src / 'manifest.json'}: its first session does not record the command (sessions[0].argv)") from None
    for model in (manifest.get("model"), *(session.get("model") for session in manifest["sessions"] if isinstance(session, dict))):
        if isinstance(model, dict) and model.get("dirty"):  # the commit it names is not the code that ran: no reproducible provenance
            raise Refusal(f"{src} ran on uncommitted changes to commit {str(model.get('commit'))[:12]}; commit them and calibrate again before publishing")
    posterior = _read(src / "posterior.csv")
    check_usable(src, manifest)
    rows = {name: _table(src / name) for name in ("constraint.csv", "predictive_check.csv")}
    if any(row.get("verdict") == "unreliable" for row in rows["constraint.csv"]):  # degenerate weights: a posterior of a few particles would pass for parameter uncertainty
        raise Refusal(f"{src}'s final weights are degenerate (constraint.csv: unreliable); run more particles or another --seed before publishing")
    check_replaceable(csv_path, json_path, spec.get("name"), csv_header(posterior))
    meta = {
        "what": f"Posterior of abm calibrate {spec.get('name', '')} (ABC-SMC), copied from {src}/posterior.csv by "
        f"{SIGNATURE}; its manifest.json trimmed to provenance (the full base scenario is identified by spec_hash).",
        "file": csv_path.name,
        "sha256": hashlib.sha256(posterior).hexdigest(),
        "command": command,
        **{k: manifest[k] for k in ("calibration", "spec_hash", "spec", "overrides", "steps", "model", "machine", "created", "sessions", "finished", "packages", "patterns") if k in manifest},
        "constraint": rows["constraint.csv"],
        "predictive_check": rows["predictive_check.csv"],
    }
    meta["patterns"] = [p["id"] if isinstance(p, dict) else p for p in meta.get("patterns", [])]
    temporary = []
    try:  # both files staged beside their targets, then moved in: no half-published pair
        for path, content in ((csv_path, posterior), (json_path, (json.dumps(meta, indent=1) + "\n").encode())):
            temporary.append(staged(path, content))
        os.replace(temporary[0], csv_path)
        os.replace(temporary[1], json_path)
    finally:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)
    print(f"wrote {csv_path} and {json_path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="runs/calibrate_baseline", help="a finished abm calibrate folder")
    parser.add_argument("target", nargs="?", default="data/posterior_baseline", help="where to write NAME.csv and NAME.json")
    args = parser.parse_args()
    try:
        main(args.source, args.target)
    except Refusal as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
