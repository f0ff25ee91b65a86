"""Output folders: a command replaces only the files it wrote itself, or refuses.

Every test puts a user's files (notes.md, analysis/) where a careless command would
destroy them, and checks they survive byte for byte."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from abm import outputs
from abm.cli import main
from abm.outputs import LISTING, STAGING, atomic_directory, staged_files
from tests.conftest import BASELINE, tiny_scenario


def run_into(out, *extra) -> int:
    return main(["run", str(BASELINE), "--steps", "1", "--no-charts", "--out", str(out), *extra])


def user_files(folder):
    (folder / "analysis").mkdir(parents=True, exist_ok=True)
    (folder / "notes.md").write_text("my notes")
    (folder / "analysis" / "fit.csv").write_text("a,b\n1,2\n")


def assert_user_files(folder):
    assert (folder / "notes.md").read_text() == "my notes"
    assert (folder / "analysis" / "fit.csv").read_text() == "a,b\n1,2\n"


def test_a_rerun_replaces_its_own_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "D"
    assert run_into(out) == 0
    listed = json.loads((out / LISTING).read_text())
    assert listed["command"] == "run" and "model.csv" in listed["files"] and "notes.md" not in listed["files"]
    user_files(out)
    (out / "model.csv").write_text("stale")
    assert run_into(out, "--seed", "4") == 0
    assert_user_files(out)
    assert (out / "model.csv").read_text() != "stale"
    assert json.loads((out / LISTING).read_text())["files"] == listed["files"]


def test_files_an_earlier_output_had_and_the_new_one_lacks_go_but_only_those(tmp_path, capsys):
    out = tmp_path / "D"
    assert main(["run", str(BASELINE), "--steps", "1", "--out", str(out)]) == 0  # with charts
    charts = sorted(p.name for p in out.glob("*.png"))
    assert "alignment.png" in charts
    user_files(out)
    capsys.readouterr()
    assert run_into(out) == 0  # without charts
    assert not (out / "alignment.png").exists()
    assert_user_files(out)
    said = [line for line in capsys.readouterr().err.splitlines() if "removed" in line]  # and said so
    assert said == [f"abm run: removed what the earlier output in {out} had and this one does not write: {', '.join(charts)}"]


def test_a_removed_folder_of_an_earlier_output_is_named_as_a_folder(tmp_path, capsys):
    """A Zarr store replaced by a NetCDF file is one folder of many chunks: named once."""
    out = tmp_path / "D"
    with atomic_directory(out, "export") as tmp:
        (tmp / "x.zarr" / "a").mkdir(parents=True)
        for name in ("zarr.json", "a/0", "a/1"):
            (tmp / "x.zarr" / name).write_text("chunk")
    with atomic_directory(out, "export") as tmp:
        (tmp / "x.nc").write_text("netcdf")
    assert capsys.readouterr().err == f"abm export: removed what the earlier output in {out} had and this one does not write: x.zarr/ (3 files)\n"
    assert sorted(p.name for p in out.iterdir()) == [LISTING, "x.nc"]
    with atomic_directory(out, "export") as tmp:  # the same output again: nothing removed, nothing said
        (tmp / "x.nc").write_text("netcdf")
    assert capsys.readouterr().err == ""


def test_a_new_file_landing_on_a_users_file_is_refused(tmp_path, capsys):
    out = tmp_path / "D"
    assert run_into(out) == 0
    (out / "alignment.png").write_text("the user's own picture")
    before = (out / "model.csv").read_bytes()
    assert main(["run", str(BASELINE), "--steps", "1", "--seed", "9", "--out", str(out)]) == 2
    assert "alignment.png is in the way" in capsys.readouterr().err
    assert (out / "alignment.png").read_text() == "the user's own picture"
    assert (out / "model.csv").read_bytes() == before


@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_users_file_in_the_way_is_refused_before_any_run(tmp_path, capsys, monkeypatch, command):
    """abm run --seeds and abm compare ran every seed, then found a user's file where a
    new one goes (ensemble.csv beside a one-seed run, differences.csv beside a one-scenario
    comparison) and refused: the refusal now comes first, from the names they write."""
    from abm import compare, runner
    from abm.chartstyle import RUN_CHARTS

    out = tmp_path / "D"
    if command == "run":
        assert main(["run", str(BASELINE), "--steps", "1", "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted([LISTING, *runner.FILES, *RUN_CHARTS])  # the names checked are the names written
        blocked, again = "ensemble.csv", ["run", str(BASELINE), "--steps", "1", "--seeds", "3", "--out", str(out)]
    else:
        assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "1", "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted([LISTING, *compare.outputs(1, each=True)])
        blocked, again = "differences.csv", ["compare", str(BASELINE), str(BASELINE.parent / "no_peace.yaml"), "--seeds", "2", "--steps", "1", "--out", str(out)]
    (out / blocked).write_text("mine")
    capsys.readouterr()
    from abm.model import RegionModel

    monkeypatch.setattr(RegionModel, "step", lambda self: pytest.fail("a run started"))
    assert main(again) == 2
    assert f"{blocked} is in the way" in capsys.readouterr().err
    assert (out / blocked).read_text() == "mine"


@pytest.mark.parametrize("folder_holds", ["a summary.csv", "a scenario.resolved.yaml", "another command's output", "a damaged listing", "a listing that points outside"])
def test_folders_that_are_not_this_commands_output_are_refused(tmp_path, capsys, folder_holds):
    out = tmp_path / "paper"
    user_files(out)
    (tmp_path / "outside.txt").write_text("keep")
    if folder_holds == "a summary.csv":
        (out / "summary.csv").write_text("mine")
    elif folder_holds == "a scenario.resolved.yaml":
        (out / "scenario.resolved.yaml").write_text("mine")
    elif folder_holds == "another command's output":
        (out / LISTING).write_text(json.dumps({"command": "compare", "files": ["notes.md"]}))
    elif folder_holds == "a damaged listing":
        (out / LISTING).write_text("{not json")
    else:
        (out / LISTING).write_text(json.dumps({"command": "run", "files": ["../outside.txt", "notes.md"]}))
    assert run_into(out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out")
    assert_user_files(out)
    assert (tmp_path / "outside.txt").read_text() == "keep"
    assert not (out / "model.csv").exists()


def test_report_exports_are_listed_and_replaced_with_the_report(tmp_path, capsys):
    from tests.test_sweep import tiny_spec

    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(replications=1, set={"time.steps": 2})))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--workers", "1"]) == 0
    out = tmp_path / "r"
    capsys.readouterr()
    assert main(["report", str(tmp_path / "s"), "--out", str(out), "--export", "csv", "--export", "csv"]) == 0
    assert "export/ (csv)\n" in capsys.readouterr().out  # a format asked twice is exported, and named, once
    assert "export/runs.csv" in json.loads((out / LISTING).read_text())["files"]
    user_files(out)
    assert main(["report", str(tmp_path / "s"), "--out", str(out)]) == 0  # no export this time
    assert not (out / "export").exists() and (out / "summary.csv").exists()
    assert_user_files(out)
    (out / "export").mkdir()
    (out / "export" / "runs.csv").write_text("my own table")  # not the report's: export refuses it
    assert main(["report", str(tmp_path / "s"), "--out", str(out), "--export", "csv"]) == 2
    assert (out / "export" / "runs.csv").read_text() == "my own table"


def test_report_into_a_users_folder_is_refused(tmp_path):
    paper = tmp_path / "paper"
    user_files(paper)
    (paper / "summary.csv").write_text("my table")
    (tmp_path / "s").mkdir()
    assert main(["report", str(tmp_path / "s"), "--out", str(paper)]) == 2
    assert (paper / "summary.csv").read_text() == "my table"
    assert_user_files(paper)


def test_without_out_nothing_is_ever_replaced(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(BASELINE), "--steps", "1", "--no-charts"]) == 0
    first = (tmp_path / "runs" / "baseline" / "model.csv").read_bytes()
    assert main(["run", str(BASELINE), "--steps", "2", "--no-charts"]) == 2
    assert "--out runs/baseline" in capsys.readouterr().err
    assert (tmp_path / "runs" / "baseline" / "model.csv").read_bytes() == first
    assert main(["run", str(BASELINE), "--steps", "2", "--no-charts", "--out", "runs/baseline"]) == 0  # named: replaced
    assert (tmp_path / "runs" / "baseline" / "model.csv").read_bytes() != first


def test_compare_follows_the_same_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["compare", str(BASELINE), "--seeds", "1", "--steps", "2"]
    assert main(args) == 0
    user_files(tmp_path / "runs" / "compare")
    assert main(args) == 2
    assert main([*args, "--out", "runs/compare"]) == 0
    assert_user_files(tmp_path / "runs" / "compare")
    assert json.loads((tmp_path / "runs" / "compare" / LISTING).read_text())["command"] == "compare"


@pytest.mark.parametrize("name", ["/tmp/evil", "../escaped", "a/b", "..", ".hidden", "x" * 101, "tab\there"])
def test_a_scenario_name_cannot_choose_a_path(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**tiny_scenario(), "name": name}))
    assert main(["run", str(path), "--steps", "1", "--no-charts"]) == 2
    err = capsys.readouterr().err
    assert "name" in err and "output folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_staging_folders_of_dead_processes_are_cleaned_and_no_others(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    leftover = tmp_path / f".D.partial-{dead}-abcd"
    unmarked = tmp_path / f".D.partial-{dead}-efgh"  # not a staging folder: not ours
    alive = tmp_path / f".D.partial-{os.getpid()}-ijkl"  # its process still runs
    for folder in (leftover, unmarked, alive):
        folder.mkdir()
        (folder / "model.csv").write_text("x")
    (leftover / STAGING).touch()
    (alive / STAGING).touch()
    assert run_into(tmp_path / "D") == 0
    assert not leftover.exists() and unmarked.exists() and alive.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".D.partial") and p not in (unmarked, alive)]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="a zombie is told apart by its state in /proc (Linux); elsewhere alive() counts every existing process")
def test_the_staging_folder_of_a_zombie_process_is_cleaned(tmp_path):
    """A killed process whose parent has not reaped it yet (a zombie) still answers
    kill(pid, 0): its staging folder survived the next command."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 20
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not outputs.alive(child.pid) and outputs.alive(os.getpid())
        leftover = tmp_path / f".D.partial-{child.pid}-zomb"
        leftover.mkdir()
        (leftover / STAGING).touch()
        assert run_into(tmp_path / "D") == 0
        assert not leftover.exists()
    finally:
        child.wait()


def test_a_run_killed_while_writing_leaves_a_folder_the_next_run_removes(tmp_path):
    # The child stops inside the write (after its staging folder exists) and is killed -9.
    code = (
        "import os, signal, abm.runner as r\n"
        "real = r.RunResult.write\n"
        "def write(self, out, **kw):\n"
        "    import abm.outputs as o\n"
        "    with o.atomic_directory(out, 'run') as tmp:\n"
        "        (tmp / 'model.csv').write_text('half')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "r.RunResult.write = write\n"
        "from abm.cli import main\n"
        f"main(['run', {str(BASELINE)!r}, '--steps', '1', '--no-charts', '--out', {str(tmp_path / 'D')!r}])\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".D.partial")]
    assert not (tmp_path / "D").exists()
    assert run_into(tmp_path / "D") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D"]


@pytest.mark.parametrize("where, code", [("tempfile.mkdtemp", errno.EROFS), ("os.rename", errno.ENOSPC), ("os.replace", errno.EDQUOT)])
def test_a_read_only_or_full_filesystem_is_a_clean_error(tmp_path, monkeypatch, capsys, where, code):
    out = tmp_path / "D"
    if where == "os.replace":  # the failure hits while an earlier output is being replaced
        assert run_into(out) == 0
        user_files(out)
    module, name = where.split(".")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(f"abm.outputs.{module}.{name}", fail)
    assert run_into(out) == 2
    err = "".join(line for line in capsys.readouterr().err.splitlines(True) if not line.startswith("warning: "))  # --steps 1 cuts events off
    assert err.startswith("error: --out") and os.strerror(code) in err and err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".D.partial")]
    if where == "os.replace":
        assert_user_files(out)


@pytest.mark.parametrize("command", ["report", None])
def test_a_failed_write_removes_the_parent_folders_it_made_and_no_others(tmp_path, command):
    # a report that failed inside its staging folder left --out's new parents behind, empty
    (tmp_path / "kept").mkdir()
    out = tmp_path / "kept" / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError), atomic_directory(out, command) as staging:
        (staging / "half.png").write_bytes(b"")
        raise RuntimeError("the writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"] and not any((tmp_path / "kept").iterdir())
    (tmp_path / "kept" / "new").mkdir()
    (tmp_path / "kept" / "new" / "notes.txt").write_text("mine")  # a parent that is not empty stays
    with pytest.raises(RuntimeError), atomic_directory(out, command):
        raise RuntimeError("the writer failed")
    assert sorted(p.name for p in (tmp_path / "kept" / "new").iterdir()) == ["notes.txt"]


def test_a_file_in_the_way_of_outs_parents_is_named_before_any_run(tmp_path, capsys, monkeypatch):
    from abm.model import RegionModel

    (tmp_path / "runs").write_text("mine")
    monkeypatch.setattr(RegionModel, "step", lambda self: pytest.fail("a run started"))  # found when the folder was made, after the run
    assert run_into(tmp_path / "runs" / "a" / "D") == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.endswith(f"{tmp_path / 'runs'} is a file, not a folder")
    assert (tmp_path / "runs").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_staged_files_arrive_together_even_when_interrupted_among_the_moves(monkeypatch, tmp_path):
    """A Ctrl-C (or SIGTERM) among the moves left some files moved and the rest lost; and
    the staging marker went before the moves, so a folder left by kill -9 among them was
    never cleaned. The moves now finish first and the marker goes last."""
    moves = []
    replace = os.replace

    def interrupted_move(src, dst):
        assert (Path(src).parent / STAGING).exists(), "the marker must outlive every move"
        moves.append(Path(dst).name)
        if len(moves) == 1:
            signal.raise_signal(signal.SIGINT)
        replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", interrupted_move)
    with pytest.raises(KeyboardInterrupt):
        with staged_files(tmp_path) as tmp:
            for name in ("a.csv", "b.csv", "c.csv"):
                (tmp / name).write_text(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.csv"] == moves


@pytest.mark.parametrize("command", [
    ["run", str(BASELINE), "--steps", "2"],
    ["compare", str(BASELINE), "--seeds", "1", "--steps", "2"],
    ["sweep", str(Path(__file__).parents[1] / "experiments" / "outbidding.yaml")],
])
def test_an_out_ending_in_dotdot_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys, command):
    """`--out new/..` (new not there yet) names the working directory, which holds other
    files; the folder checks could not see that, and run and compare stopped with a
    traceback at the final rename, sweep with a bare errno."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text("mine")
    assert main([*command, "--out", "new/.."]) == 2
    assert capsys.readouterr().err == "error: --out new/..: ends in '..', which names the folder above another; give the output folder's own name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_ctrl_c_while_an_earlier_output_is_replaced_waits_for_the_moves(tmp_path, monkeypatch, capsys):
    """A Ctrl-C among the file-by-file moves over an earlier output left new files beside
    old ones (an agents.csv of one seed beside the model.csv of another), and nothing said
    so: the moves now finish first, then the interrupt stops the command."""
    out = tmp_path / "D"
    with atomic_directory(out, "run") as tmp:
        for name in ("a.csv", "b.csv", "c.csv", "gone.png"):
            (tmp / name).write_text("old")
    real, moves = os.replace, []

    def interrupted(src, dst):
        moves.append(json.loads((out / LISTING).read_text()))  # what kill -9 here would leave: both sets, marked incomplete
        if len(moves) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the first file moves (the first replace writes the listing)
        real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(out, "run") as tmp:
            for name in ("a.csv", "b.csv", "c.csv"):
                (tmp / name).write_text("new")
    assert {p.name: p.read_text() for p in out.glob("*.csv")} == dict.fromkeys(("a.csv", "b.csv", "c.csv"), "new")
    assert moves[1] == {"command": "run", "files": ["a.csv", "b.csv", "c.csv", "gone.png"], "complete": False}
    assert not (out / "gone.png").exists() and "does not write: gone.png" in capsys.readouterr().err  # said, though the Ctrl-C follows
    assert "complete" not in json.loads((out / LISTING).read_text())  # the listing's interim mark is gone
