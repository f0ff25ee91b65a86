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


@contextlib.contextmanager
def atomic_directory(out: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes ``out`` (replacing an
    existing ``out`` if ``replace``), on any exception it is removed."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: a file of that name is in the way; give a directory")
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
