"""Output directories that appear whole or not at all.

A run, a comparison or a sweep writes into a hidden temporary folder beside the
target and renames it into place at the end, so an error, Ctrl-C or a bad input never
leaves half an output behind (rename is atomic within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(ValueError):
    """The output location cannot be used (a file is in the way, no permission)."""


def check_target(out: Path, marker: str | None) -> None:
    """Refuse an output folder whose replacement could destroy someone's files: only an
    empty folder, or an earlier output of the same command (it holds ``marker``), may be
    replaced; never the working directory or a folder above it, nor a symbolic link."""
    if out.is_symlink():
        raise OutputError(f"--out {out}: a symbolic link; give a real directory")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: a file of that name is in the way; give a directory")
    if not out.exists():
        return
    if out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise OutputError(f"--out {out}: the working directory or one above it; give a new folder")
    if any(out.iterdir()) and (marker is None or not (out / marker).exists()):
        raise OutputError(f"--out {out}: this folder holds files that are not an earlier output of this command; choose another --out (an earlier output is replaced)")


@contextlib.contextmanager
def atomic_directory(out: str | Path, replace: bool = True, marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes ``out``, on any exception
    it is removed. With ``replace``, an existing ``out`` is replaced if it is empty or an
    earlier output (it contains ``marker``); anything else is refused."""
    out = Path(out)
    check_target(out, marker if replace else None)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot create {out.parent}: {exc.strerror}") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        umask = os.umask(0)  # mkdtemp makes the folder private; give it the usual mode
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        yield tmp
        if replace and out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
