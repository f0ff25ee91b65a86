"""Output folders: written whole or not at all, and never at the cost of a user's files.

The rule every command follows (``abm run``, ``abm compare``, ``abm report``, ``abm export``; ``abm sweep``
and ``abm calibrate`` never replace anything):

- A command writes into a new (or empty) folder, or into an earlier output *of the same
  command*: a folder holding ``.abm-output.json``, the list of the files that command wrote
  there. It then replaces exactly the files on that list; every other file or folder in it
  (notes, analyses) is left alone, and a new file that would land on one of them is refused.
  Listed files the new output does not have are removed, and named on stderr.
  Any other existing folder is refused.
- Without ``--out`` a command never replaces anything: if its default folder exists and is not
  empty it stops and asks for ``--out`` (name the folder to replace it, or choose a new one).

Files are built in a hidden folder beside the target (``.NAME.partial-PID-XXXX``) and moved
into place only when everything is written, so an error, Ctrl-C or bad input leaves the
target as it was (Ctrl-C and SIGTERM wait for the moves). A folder left behind by a process
killed with ``kill -9`` is removed by the next command writing to the same target (only if
it is marked as a staging folder and its process is gone). A new folder appears in one
rename; an earlier output is replaced file by file (the user's own files stay in it), so
``kill -9`` in those milliseconds can leave old and new files together: the listing then
says ``"complete": false``, and the next command writing there replaces them all.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from abm.processes import alive, interrupts_deferred

LISTING = ".abm-output.json"  # which command wrote the folder, and which files
STAGING = ".abm-staging"  # marks a folder being built; removed before it is published
SHOWN = 10  # removed files (or folders) named one by one
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def disk_error(exc: BaseException | None) -> str | None:
    """What a full, read-only or failing disk said, found anywhere in ``exc``'s chain, or
    None: an error to report in one line, with what was kept, where any other is a bug. The
    sweep's store and pyabc's both write through SQLite; pyabc's SQLAlchemy session, once
    SQLite reports a full disk, raises a follow-on error about its own state, with the
    disk's in its context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            return exc.strerror or str(exc)
        if isinstance(exc, sqlite3.OperationalError) and any(word in str(exc) for word in ("disk", "readonly")):
            return str(exc)  # "database or disk is full", "attempt to write a readonly database", "disk I/O error"
        exc = exc.__cause__ or exc.__context__
    return None


def read_table(path: Path, **kwargs):
    """A CSV table this project wrote, with only an empty cell read as missing: pandas'
    default would also read a scenario or state named "NA", "null" or "None" as missing."""
    import pandas as pd  # here, so that commands which only check a scenario do not import pandas

    return pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs)


def give_usual_mode(path, mode: int) -> None:
    """Give ``path`` the mode a plain open or mkdir would (``mode`` less the umask):
    ``tempfile``'s files (0600) and folders (0700) are private to their owner."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def staged(target: Path, data: bytes) -> Path:
    """A new file holding ``data`` beside ``target``, on disk and with a plain file's
    mode, to be moved onto it with ``os.replace`` (atomic in one folder): readers then
    see the old file or the new one, never half of one. The caller removes it if it is
    not moved."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        give_usual_mode(tmp, 0o666)
    except BaseException:  # a full disk, or an interruption: no half-written copy stays beside the file
        os.unlink(tmp)
        raise
    return Path(tmp)


def replace_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` in one rename (see :func:`staged`)."""
    tmp = staged(target, data)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OutputError(ValueError):
    """The output location cannot be used (a file is in the way, no permission, disk full)."""


# What a resumable command's folder holds: its manifest names the kind of work in a key of
# its own (abm sweep: "experiment"; abm calibrate: "calibration").
RESUMABLE = {"sweep": "experiment", "calibration": "calibration"}


def _own_name(out: Path) -> None:
    """Refuse an ``out`` ending in '..': it names the folder above another (the working
    directory, a sweep's folder...), never a folder of its own, and where the one below
    does not exist yet the checks that follow cannot see which folder it is."""
    if Path(out).name == "..":
        raise OutputError(f"--out {out}: ends in '..', which names the folder above another; give the output folder's own name")


def check_new_or_resumable(out: Path, work: str, resume: bool, marker: str | None = None) -> None:
    """For a command that never replaces a folder but can resume one (``work``: a key of
    RESUMABLE): refuse an existing ``out`` unless it holds that work and ``resume`` is
    asked for, and suggest --resume only for such a folder. ``marker``: a file whose
    presence alone says the folder is this work's, damaged manifest or not (a sweep's
    results file). Raises OutputError; cheap, so a CLI asks it before printing a plan."""
    _own_name(out)
    if not (out.exists() or out.is_symlink()):
        return
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    kind = next((k for k, key in RESUMABLE.items() if isinstance(manifest, dict) and key in manifest), None)
    if kind is None and marker is not None and (out / marker).exists():
        kind = work
    if kind != work:  # a user's folder or file, or another command's work: --resume would fail there too
        holds = f"; it holds a {kind}" if kind else ""
        raise OutputError(f"{out} exists and is not a {work} folder{holds}; choose another --out")
    if not resume:
        raise OutputError(f"{out} already exists; use --resume to complete that {work}, or choose another --out")


def _earlier(out: Path, command: str) -> list[str]:
    """Files listed by an earlier output of ``command`` in ``out``; refuse anything else."""
    listing = out / LISTING
    if not listing.is_file():
        raise OutputError(f"--out {out}: this folder holds files that are not an earlier output of {_who(command)}; choose another --out (an earlier output is replaced)")
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) and _inside(f) for f in files):
            raise ValueError
        wrote = data["command"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"--out {out}: its {LISTING} is damaged, so which files are this command's is unknown; choose another --out") from None
    if wrote != command:
        raise OutputError(f"--out {out}: holds the output of {_who(wrote)}, not of {_who(command)}; choose another --out")
    return files


def _who(command: str) -> str:
    """How messages name a writer: ``abm run``, or a script by its file name."""
    return command if command.endswith(".py") else f"abm {command}"


def _inside(rel: str) -> bool:
    """A relative path that stays within its folder."""
    path = Path(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts and "\x00" not in rel


def _blocked(out: Path) -> OutputError | None:
    """Why ``out`` cannot be made, if a file stands where one of its parent folders must."""
    blocking = next((p for p in reversed(out.parents) if p.exists() and not p.is_dir()), None)
    return OutputError(f"--out {out}: cannot create a folder in {out.parent}: {blocking} is a file, not a folder") if blocking else None


def check_target(out: Path, command: str, replace: bool = True, writes: tuple[str, ...] | list[str] = ()) -> list[str] | None:
    """The files of an earlier output in ``out`` that may be replaced ([] for an empty
    folder, None for a new one); refuse any folder whose use could destroy someone's
    files: a symbolic link, a file, the working directory or above, another command's
    output, a folder of other files, (``replace`` false) an earlier output, or an earlier
    output beside which a file of the user's has a name the command ``writes`` (refused
    here, before the work, and not when the work is done and merged in)."""
    _own_name(out)
    if out.is_symlink():
        raise OutputError(f"--out {out}: a symbolic link; give a real directory")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: a file of that name is in the way; give a directory")
    if not out.exists():
        if (blocked := _blocked(out)) is not None:
            raise blocked
        return None
    if out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise OutputError(f"--out {out}: the working directory or one above it; give a new folder")
    try:
        empty = not any(out.iterdir())
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot read it: {exc.strerror}") from None
    if empty:
        return []
    files = _earlier(out, command)
    if not replace:
        raise OutputError(f"{out} holds an earlier output of {_who(command)}; to replace the files it wrote there, name it with --out {out}, or choose another --out")
    for rel in writes:
        if rel not in files and ((out / rel).exists() or (out / rel).is_symlink()):
            raise _in_the_way(out, rel, command)
    return files


def _clean_leftovers(out: Path) -> None:
    """Remove staging folders of ``out`` left by processes that no longer exist."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.partial-(\d+)-")
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return
    for path in siblings:
        match = pattern.match(path.name)
        if not match or path.is_symlink() or not (path / STAGING).is_file():
            continue
        try:
            if alive(int(match.group(1))):  # perhaps writing it now (or another user's process: not ours to judge)
                continue
        except (OverflowError, ValueError):  # not a pid
            continue
        shutil.rmtree(path, ignore_errors=True)


def _walk(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir() and p.name != STAGING)


def _in_the_way(out: Path, rel: str, command: str) -> OutputError:
    return OutputError(f"--out {out}: {rel} is in the way and was not written by {_who(command)}; move it or choose another --out")


def _write_listing(folder: Path, command: str, files: list[str], complete: bool = True) -> None:
    tmp = folder / f"{LISTING}.tmp"
    tmp.write_text(json.dumps({"command": command, "files": sorted(files), **({} if complete else {"complete": False})}, indent=1) + "\n", encoding="utf-8")
    tmp.replace(folder / LISTING)


def _merge(tmp: Path, out: Path, command: str, previous: list[str]) -> None:
    """Move the new files of ``tmp`` into ``out`` over the files of the earlier output,
    then remove the earlier files the new output no longer has. Ctrl-C and SIGTERM wait
    for the moves, which would otherwise leave old and new files side by side; kill -9
    cannot wait, so the listing in ``out`` covers both sets while files move, marked
    ``"complete": false``: nothing is left unaccounted, and the next command replaces it all."""
    new = [f for f in _walk(tmp) if f != LISTING]
    old = set(previous)
    for rel in new:
        target = out / rel
        blocked = [p for p in (target, *target.parents) if p != out and out in p.parents and (p.exists() or p.is_symlink())]
        if (rel not in old and (target.exists() or target.is_symlink())) or target.is_dir() or any(p.is_symlink() or (p != target and not p.is_dir()) for p in blocked):
            raise _in_the_way(out, rel, command)
    removed = []
    with interrupts_deferred():
        _write_listing(out, command, sorted(old | set(new)), complete=False)
        for rel in new:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, out / rel)
        for rel in sorted(old - set(new)):
            target = out / rel
            if (target.is_file() or target.is_symlink()) and target.parent.resolve().is_relative_to(out.resolve()):
                target.unlink()
                removed.append(rel)
                for parent in target.parents:
                    if parent == out or out not in parent.parents:
                        break
                    with contextlib.suppress(OSError):
                        parent.rmdir()  # only when empty: a folder the user filled stays
        _write_listing(out, command, new)
        if removed:  # a replaced output must not lose files unseen (charts after --no-charts, a .nc after a Zarr export), even when a held Ctrl-C follows
            print(f"{_who(command)}: removed what the earlier output in {out} had and this one does not write: {_named(removed)}", file=sys.stderr)


def _named(files: list[str]) -> str:
    """Files by name, a folder's files as the folder (a Zarr store is hundreds of chunks)."""
    groups: dict[str, int] = {}
    for rel in files:
        parts = Path(rel).parts
        key = parts[0] + "/" if len(parts) > 1 else rel
        groups[key] = groups.get(key, 0) + 1
    names = [f"{key} ({n} file{'s' if n > 1 else ''})" if key.endswith("/") else key for key, n in groups.items()]
    return ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


@contextlib.contextmanager
def atomic_directory(out: str | Path, command: str | None = None, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success its files become ``out`` under the
    rule above, on any exception it is removed. ``command`` names the writer (``run``,
    ``compare``, ``report``); None (``abm sweep``) takes only a new or empty folder."""
    out = Path(out)
    previous = check_target(out, command or "sweep", replace) if command else _new_only(out)
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # created below: removed again if nothing lands in them
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        _remove_empty(made)
        raise _blocked(out) or OutputError(f"--out {out}: cannot create a folder in {out.parent}: {exc.strerror}") from None
    try:
        (tmp / STAGING).touch()
        give_usual_mode(tmp, 0o777)  # mkdtemp makes the folder private
        yield tmp
        if command is None:
            (tmp / STAGING).unlink()
            os.rename(tmp, out)
        elif previous is None:
            _write_listing(tmp, command, _walk(tmp))
            (tmp / STAGING).unlink()
            os.rename(tmp, out)
        else:
            _merge(tmp, out, command, previous)
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        if exc.errno in DISK_ERRORS:
            raise OutputError(f"--out {out}: cannot write: {exc.strerror}") from None
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):  # the rename found out made meanwhile, by another command started at the same time
            raise OutputError(f"--out {out}: it was created meanwhile, by another command") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed write created for ``--out``'s parents, deepest first,
    as long as they are empty (another process may have put something there meanwhile)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def staged_files(folder: Path, name: str = "outputs") -> Iterator[Path]:
    """Yield a hidden folder inside ``folder`` to write files into; when the block ends
    without error they are moved into ``folder`` (each replacing an earlier file of its
    name), on any exception the hidden folder is removed, and one left by a killed process
    is removed the next time. For files written beside a command's own state (abm
    calibrate's posterior, tables and charts beside its database), so that a command
    stopped while writing them leaves none of them rather than a set that looks complete."""
    _clean_leftovers(folder / name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-{os.getpid()}-", dir=folder))
    try:
        (tmp / STAGING).touch()
        yield tmp
        # the moves are not interrupted by Ctrl-C or SIGTERM (held until they end), and the
        # marker goes last, so that a folder left by kill -9 among them is cleaned next time
        with interrupts_deferred():
            for path in sorted(p for p in tmp.iterdir() if p.name != STAGING):
                os.replace(path, folder / path.name)
            (tmp / STAGING).unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def made_meanwhile(out: Path, work: str) -> str:
    """Why a new ``out`` could not be made by a ``work`` (sweep, calibration) that found it
    free: another one, started at the same time, made it first."""
    return f"{out} was created meanwhile, by another {work} started at the same time; let that one run, or choose another --out"


def _new_only(out: Path) -> None:
    _own_name(out)
    if out.exists() or out.is_symlink():
        raise OutputError(f"--out {out}: already exists; choose another --out")
