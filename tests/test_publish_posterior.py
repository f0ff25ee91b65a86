"""scripts/publish_posterior.py, run as a maintainer runs it: it publishes a finished
calibration's posterior, replaces only what it published itself, and refuses the rest in
one line with exit status 2, writing nothing."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from abm.scenario import load
from tests.conftest import script as load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "publish_posterior.py"
SHIPPED = json.loads((ROOT / "data" / "posterior_baseline.json").read_text())
BASE = load(ROOT / "configs" / "baseline.yaml").to_dict()  # what abm calibrate records as the base of the calibration published


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def calibration(tmp_path) -> Path:
    """A finished calibration folder holding what the shipped posterior was published from."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    shutil.copy(ROOT / "data" / "posterior_baseline.csv", folder / "posterior.csv")
    manifest = {k: SHIPPED[k] for k in ("calibration", "spec_hash", "spec", "steps", "model", "sessions", "finished", "patterns") if k in SHIPPED}
    manifest["base_scenario"] = BASE  # abm calibrate records it; the published JSON leaves it out
    (folder / "manifest.json").write_text(json.dumps(manifest))
    write_rows(folder / "constraint.csv", SHIPPED["constraint"])
    write_rows(folder / "predictive_check.csv", SHIPPED["predictive_check"])
    return folder


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_finished_calibration_is_published_with_its_provenance_and_republished_over_itself(calibration, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    done = publish(calibration, out / "post.v2")
    assert done.returncode == 0, done.stderr
    assert sorted(listing(out)) == ["post.v2.csv", "post.v2.json"]  # a dot in the name is kept, not taken for a suffix
    meta = json.loads((out / "post.v2.json").read_text())
    assert (out / "post.v2.csv").read_bytes() == (calibration / "posterior.csv").read_bytes()
    assert meta["sha256"] == SHIPPED["sha256"] and meta["file"] == "post.v2.csv"
    assert meta["constraint"] == SHIPPED["constraint"] and meta["spec_hash"] == SHIPPED["spec_hash"]
    again = publish(calibration, out / "post.v2.csv")  # its own files, unchanged: replaced
    assert again.returncode == 0, again.stderr
    assert sorted(listing(out)) == ["post.v2.csv", "post.v2.json"]


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda folder: shutil.rmtree(folder), "manifest.json: not found"),
        (lambda folder: (folder / "predictive_check.csv").unlink(), "predictive_check.csv: not found"),
        (lambda folder: (folder / "manifest.json").write_text(json.dumps({"calibration": "baseline", "finished": False})), "is not a finished calibration"),
        (lambda folder: (folder / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
        (lambda folder: (folder / "manifest.json").write_text("[1, 2]"), "manifest.json: not the manifest of an abm calibrate folder"),
        (lambda folder: (folder / "manifest.json").write_text(json.dumps({**SHIPPED, "sessions": [{}]})), "does not record the command (sessions[0].argv)"),
        (lambda folder: (folder / "constraint.csv").write_bytes(b"verdict\n\xff\xfe\n"), "constraint.csv: not a CSV table abm calibrate wrote"),
        (lambda folder: (folder / "manifest.json").write_text(json.dumps({**SHIPPED, "spec": "baseline"})), "its spec is not a mapping"),
        (lambda folder: (folder / "posterior.csv").write_bytes(b"weight,x\n\xff,1\n"), "posterior.csv: cannot read it as CSV"),
        (lambda folder: (folder / "posterior.csv").write_text("hello world\n"), "posterior.csv: needs a 'weight' column"),
        (lambda folder: (folder / "posterior.csv").write_text("weight,rules.coercion.strength\n1,high\n"), "must hold a finite number in every row"),
        (lambda folder: (folder / "posterior.csv").write_text("weight,rules.coercion.strengthh\n1,0.5\n"), "strengthh"),
        (lambda folder: (folder / "posterior.csv").write_text("weight,rules.coercion.strength\n1,7.5\n"), "rules.coercion.strength"),
        (lambda folder: (folder / "posterior.csv").write_text("weight,seed\n1,3\n"), "not a real-valued setting"),
        (lambda folder: (folder / "manifest.json").write_text(json.dumps({k: v for k, v in json.loads((folder / "manifest.json").read_text()).items() if k != "base_scenario"})), "records no base_scenario"),
        (lambda folder: write_rows(folder / "constraint.csv", [{**row, "verdict": "unreliable"} for row in SHIPPED["constraint"]]), "degenerate"),
    ],
)
def test_a_calibration_that_cannot_be_published_is_refused_and_the_target_left_alone(calibration, tmp_path, break_it, expected):
    """A missing predictive check overwrote the target's CSV and then failed in a traceback."""
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.csv").write_text("a user's file\n")
    break_it(calibration)
    done = publish(calibration, out / "mine")
    assert done.returncode == 2 and expected in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert listing(out) == {"mine.csv": b"a user's file\n"}


@pytest.mark.parametrize("in_the_way", ["mine.csv", "mine.json"])
def test_files_the_script_did_not_write_are_never_replaced(calibration, tmp_path, in_the_way):
    out = tmp_path / "data"
    out.mkdir()
    (out / in_the_way).write_text("a user's file\n")
    done = publish(calibration, out / "mine")
    assert done.returncode == 2 and "is in the way" in done.stderr, done.stderr
    assert listing(out) == {in_the_way: b"a user's file\n"}


def test_another_calibrations_posterior_is_not_replaced(calibration, tmp_path):
    """A 2-parameter trial published with the default target replaced the shipped
    7-parameter posterior, saying only 'wrote' (a calibration publisher's audit)."""
    out = tmp_path / "data"
    out.mkdir()
    assert publish(calibration, out / "post").returncode == 0
    before = listing(out)
    manifest = json.loads((calibration / "manifest.json").read_text())
    manifest["spec"]["name"] = "tiny"
    (calibration / "manifest.json").write_text(json.dumps(manifest))
    done = publish(calibration, out / "post")
    assert done.returncode == 2 and "publishes calibration 'calibrate_baseline', not 'tiny': choose another target" in done.stderr
    assert listing(out) == before
    assert publish(calibration, out / "tiny").returncode == 0
    manifest["spec"]["name"] = "calibrate_baseline"  # the default name, two parameters: a trial still (a review)
    (calibration / "manifest.json").write_text(json.dumps(manifest))
    with (calibration / "posterior.csv").open(newline="") as f:
        rows = [{k: row[k] for k in (next(iter(row)), "weight")} for row in csv.DictReader(f)]
    write_rows(calibration / "posterior.csv", rows)
    done = publish(calibration, out / "post")
    assert done.returncode == 2 and "choose another target (a posterior is replaced only by one of the same parameters)" in done.stderr
    assert {k: v for k, v in listing(out).items() if k.startswith("post.")} == before


def test_the_overrides_a_calibration_ran_with_are_published_with_it(calibration, tmp_path):
    """abm calibrate --set changes the spec the manifest records; its list is kept too."""
    manifest = json.loads((calibration / "manifest.json").read_text())
    (calibration / "manifest.json").write_text(json.dumps({**manifest, "overrides": ["seeds_per_particle=2"]}))
    done = publish(calibration, tmp_path / "post")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "post.json").read_text())["overrides"] == ["seeds_per_particle=2"]


@pytest.mark.parametrize("where", ["model", "session"])
def test_a_calibration_run_on_uncommitted_changes_is_not_published(calibration, tmp_path, where):
    """Its manifest names a commit that is not the code that ran (a resumed calibration
    records each session's), so the published provenance could not be reproduced."""
    manifest = json.loads((calibration / "manifest.json").read_text())
    (manifest["model"] if where == "model" else manifest["sessions"][-1]["model"])["dirty"] = True
    (calibration / "manifest.json").write_text(json.dumps(manifest))
    done = publish(calibration, tmp_path / "post")
    assert done.returncode == 2 and "ran on uncommitted changes to commit" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "post.csv").exists() and not (tmp_path / "post.json").exists()


def test_a_published_posterior_edited_since_is_not_replaced(calibration, tmp_path):
    assert publish(calibration, tmp_path / "post").returncode == 0
    with (tmp_path / "post.csv").open("a") as f:
        f.write("0.1,0.1,0.01,0.1,0.1,0.1,0.1,1.0\n")
    before = (tmp_path / "post.csv").read_bytes()
    done = publish(calibration, tmp_path / "post")
    assert done.returncode == 2 and "is in the way" in done.stderr
    assert (tmp_path / "post.csv").read_bytes() == before


@pytest.mark.parametrize("target", ["{out}/", "", ".csv", "{out}/.."])
def test_a_target_without_a_file_name_is_refused(calibration, tmp_path, target):
    """'data/' wrote the hidden files data/.csv and data/.json, and '' wrote ./.csv."""
    out = tmp_path / "data"
    out.mkdir()
    done = subprocess.run([sys.executable, str(SCRIPT), str(calibration), target.format(out=out)], capture_output=True, text=True, cwd=out)
    assert done.returncode == 2 and "gives no name for the files" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert listing(out) == {}


def test_a_folder_of_the_same_name_does_not_stop_publishing_beside_it(calibration, tmp_path):
    (tmp_path / "post").mkdir()
    done = publish(calibration, tmp_path / "post")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "post.csv").exists() and (tmp_path / "post.json").exists() and not any((tmp_path / "post").iterdir())


def test_published_files_can_be_read_by_others_as_plain_files_can(calibration, tmp_path):
    """mkstemp's staging files are private (0600): moved into place as they were, the
    published posterior could be read by its owner alone."""
    umask = os.umask(0o022)
    try:
        assert publish(calibration, tmp_path / "post").returncode == 0
    finally:
        os.umask(umask)
    assert [oct((tmp_path / name).stat().st_mode & 0o777) for name in ("post.csv", "post.json")] == [oct(0o644)] * 2


def test_a_target_folder_that_does_not_exist_is_refused(calibration, tmp_path):
    done = publish(calibration, tmp_path / "nowhere" / "post")
    assert done.returncode == 2 and "no such folder" in done.stderr and "Traceback" not in done.stderr


def test_the_shipped_posterior_is_this_scripts_to_replace():
    """Republishing data/posterior_baseline (the documented command) must not be refused."""
    script = load_script("publish_posterior")
    for name in ("posterior_baseline", "posterior_baseline_seed1"):
        csv_path, json_path = script.targets(str(ROOT / "data" / name))
        script.check_replaceable(csv_path, json_path, "calibrate_baseline", script.csv_header(csv_path.read_bytes()))  # raises Refusal otherwise
