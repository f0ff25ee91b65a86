"""How the notebooks are executed and the dashboard is driven in a browser, in one place.

Used by tests/test_notebooks.py and tests/test_dashboard.py, and by scripts/gallery.py,
which makes the README's images the same way, so that what the tests check is what the
images show. Notebooks run with nbclient in a kernel of this interpreter, from
notebooks/, as a student would run them; the dashboard is ``abm dashboard`` on a free
localhost port, in its own process group, seen by Debian's headless Chromium through
playwright (never a downloaded browser). nbclient and playwright are imported where they
are used, so each user needs only its own.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- notebooks

NOTEBOOK_TIMEOUT = 600  # seconds per cell: a guard against a hung kernel, not a speed test (each notebook takes well under a minute on an idle machine)
GALLERY_TAG = "gallery"  # the cell whose figure is the notebook's image in the README (scripts/gallery.py)


@contextmanager
def this_python_kernel() -> Iterator[str]:
    """The name of a kernelspec that runs this interpreter, found first on JUPYTER_PATH
    while the context lasts, so that a user's or the system's own "python3" kernel
    (another Python, without abm) is never used."""
    with tempfile.TemporaryDirectory(prefix="abm-jupyter-") as root:
        name = "abm-this-python"
        spec = Path(root) / "kernels" / name
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "abm (this Python)", "language": "python"}))
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = root
        try:
            yield name
        finally:
            if before is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = before


def execute_notebook(path: Path, kernel_name: str, replace: tuple[tuple[str, str], ...] = ()):
    """The notebook at ``path`` executed top to bottom from its own directory, with each
    (old, new) of ``replace`` applied to its code cells first, as a student doing an
    exercise would; raises nbclient's CellExecutionError (which holds the failing cell and
    traceback) on error."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for old, new in replace if cell.cell_type == "code" else ():
            cell.source = cell.source.replace(old, new)
    nbclient.NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def gallery_cells(nb) -> list:
    return [c for c in nb.cells if GALLERY_TAG in c.get("metadata", {}).get("tags", [])]


def png_outputs(cell) -> list[bytes]:
    """The PNG images an executed cell displayed (figures shown inline, Image(...))."""
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]


# --------------------------------------------------------------------------- dashboard

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1500, "height": 1100}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


PORT_TRIES = 3  # a port found free can be taken by another process before the server binds it


def start_dashboard(workdir: Path, log, scenarios: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """``abm dashboard --no-fetch [SCENARIO ...]`` started in ``workdir`` in its own process group, writing
    to the open file ``log``, and its URL once it answers. A free port can be taken between
    choosing it and the server binding it (tests run in parallel): ``abm dashboard``'s own
    check then exits 2, or Solara, binding it seconds later, exits 3, each saying "already in
    use" before serving, and another port is tried."""
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    tries = 1
    while True:
        port = free_port()
        start = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "abm.cli", "dashboard", "--host", "127.0.0.1", "--port", str(port), "--no-fetch", *scenarios],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_http(url, proc, timeout=60)
            return proc, url
        except RuntimeError:
            log.flush()
            with open(log.name, "rb") as text:
                text.seek(start)
                taken = b"already in use" in text.read().lower()
            if not taken or tries == PORT_TRIES:
                raise
            tries += 1
        except BaseException:
            stop(proc)
            raise


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started by start_dashboard, and its whole process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def dashboard_server(workdir: Path, scenarios: tuple[str, ...] = ()) -> Iterator[str]:
    """The URL of ``abm dashboard --no-fetch [SCENARIO ...]`` started in ``workdir`` (its log goes to
    workdir/server.log, whose tail is printed if starting or using it fails); the
    server's whole process group is stopped afterwards. The front-end assets must already
    be in Solara's cache (abm.dashboard.fetch_assets): nothing is fetched here."""
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = None
        try:
            proc, url = start_dashboard(workdir, log, scenarios)
            yield url
        except Exception:
            log.flush()
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            if proc is not None:
                stop(proc)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_dashboard(browser, url: str, errors: list[str]):
    """A page of the dashboard at ``url``, once the model and its four chart panels are
    shown; errors raised in the page are appended to ``errors``."""
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(re.compile(r"^Step 0 of \d+")).wait_for(timeout=45_000)
    page.wait_for_function("document.querySelectorAll('img').length >= 4", timeout=30_000)
    return page


def step_to(page, last: int) -> None:
    """Press Step until the status shows step ``last``, waiting for each step in turn."""
    step = page.get_by_role("button", name=re.compile("^step$", re.I))
    first = int(re.search(r"Step (\d+) of", page.locator(".abm-status").inner_text()).group(1)) + 1
    for k in range(first, last + 1):
        step.click()
        page.get_by_text(re.compile(rf"^Step {k} of \d+")).wait_for(timeout=20_000)
