"""Regenerate the README's gallery from the current code: docs/img/notebook-NN.png and
docs/img/dashboard.png.

    .venv/bin/python scripts/gallery.py                          # every image (a few minutes on 2 cores)
    .venv/bin/python scripts/gallery.py notebook-03 dashboard    # only these

Screenshots taken by hand drift from what a newcomer sees as soon as the model or a
notebook changes; made by this script, the images can be remade after every such change
and show what the code draws now. They are made the way the tests exercise the same
things (tests/harness.py), so what the tests check is what the images show:

* notebook-NN.png: notebooks/NN_*.ipynb executed top to bottom with nbclient, in a kernel
  of this interpreter, from notebooks/ (as tests/test_notebooks.py does); the image is the
  PNG displayed by the notebook's one code cell tagged "gallery" (cell metadata
  ``"tags": ["gallery"]``), as the notebook shows it. To show another figure, move the
  tag, and keep the README's alt text true to the figure; the notebook test checks that each
  tour notebook (01-05) has one such cell and that it displays exactly one image.
* dashboard.png: ``abm dashboard`` in Debian's headless Chromium driven with playwright
  (as tests/test_dashboard.py does), its default settings (the baseline) stepped 24
  quarters, the 1500 x 1100 px viewport.

No network: the dashboard's front-end assets must already be in Solara's cache (the first
``abm dashboard`` fetches them); if they are not, or Chromium is not installed, the script
says so and exits 2 before running anything. Each image is written to a temporary file
beside it and renamed, so an interrupted or failed run leaves the previous image, never a
partial one. Exits 1 if a notebook fails or the dashboard page reports an error.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abm.outputs import replace_atomically  # noqa: E402
from tests import harness  # noqa: E402

ROOT = harness.ROOT
IMAGES = ROOT / "docs" / "img"
DASHBOARD_STEPS = 24  # six years of quarters: the panels show a trajectory, not the start


def notebook_targets() -> dict[str, Path]:
    """Image name -> notebook, for every notebook with a cell tagged for the gallery."""
    import nbformat

    return {
        f"notebook-{path.stem.split('_')[0]}": path
        for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
        if harness.gallery_cells(nbformat.read(path, as_version=4))
    }


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def notebook_image(path: Path, kernel_name: str) -> bytes:
    import nbclient

    try:
        nb = harness.execute_notebook(path, kernel_name)
    except nbclient.exceptions.CellExecutionError as exc:
        raise SystemExit(f"gallery: {path.name} failed:\n{exc}") from None
    (cell,) = harness.gallery_cells(nb)  # notebook_targets() found one; tests/test_notebooks.py requires exactly one
    images = harness.png_outputs(cell)
    if len(images) != 1:
        raise SystemExit(f"gallery: the {harness.GALLERY_TAG!r} cell of {path.name} displayed {len(images)} PNG images, not one")
    return images[0]


def dashboard_problem() -> str | None:
    """Why the dashboard cannot be shot here without the network, or None."""
    try:
        import playwright.sync_api  # noqa: F401

        from abm import dashboard
    except ImportError as exc:
        return f"the dashboard needs the dev extra ({exc.name} is missing): bash scripts/setup.sh dev"
    if not Path(harness.CHROMIUM).exists():
        return f"Debian's Chromium is not installed ({harness.CHROMIUM}): apt-get install chromium"
    missing = dashboard.missing_assets()
    if missing:
        return "the dashboard's front-end assets are not cached (start `abm dashboard` once to fetch them): " + ", ".join(f"{n}@{v}" for n, v, _ in missing)
    return None


def wait_for_settled_panels(page, polls: int = 60) -> None:
    """Wait until every image has loaded and none changed over the last half second, so
    the screenshot shows the last step's panels, not a redraw in flight."""
    script = "() => Array.from(document.images).map(i => (i.complete && i.naturalWidth > 0) ? i.src.length + i.src.slice(-48) : 'loading').join()"
    last = None
    for _ in range(polls):
        now = page.evaluate(script)
        if now == last and "loading" not in now:
            return
        last = now
        page.wait_for_timeout(500)
    raise SystemExit("gallery: the dashboard's panels did not settle")


def dashboard_image() -> bytes:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="abm-gallery-") as workdir, harness.dashboard_server(Path(workdir)) as url, sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            page = harness.open_dashboard(browser, url, errors)
            harness.step_to(page, DASHBOARD_STEPS)
            page.mouse.move(0, 0)  # no hover highlight on the Step button
            wait_for_settled_panels(page)
            page.locator(".abm-sidebar").scroll_into_view_if_needed()  # the sidebar scrolled down to Step: show it from its top
            page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
            shot = page.screenshot()
        finally:
            browser.close()
    if errors:
        raise SystemExit(f"gallery: errors in the dashboard page: {errors}")
    return shot


def main(argv: list[str] | None = None) -> int:
    notebooks = notebook_targets()
    known = [*notebooks, "dashboard"]
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("images", nargs="*", metavar="IMAGE", help=f"images to make (default: all): {', '.join(known)}")
    args = p.parse_args(argv)
    unknown = [name for name in args.images if name not in known]
    if unknown:
        p.error(f"unknown image {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = args.images or known
    if "dashboard" in chosen and (problem := dashboard_problem()):
        print(f"gallery: {problem}", file=sys.stderr)
        return 2

    todo = [name for name in notebooks if name in chosen]
    if todo:
        with harness.this_python_kernel() as kernel_name:
            for name in todo:
                started = time.perf_counter()
                data = notebook_image(notebooks[name], kernel_name)
                replace_atomically(IMAGES / f"{name}.png", data)
                print(f"{name}.png: {notebooks[name].name}, {'x'.join(map(str, png_size(data)))} px, {time.perf_counter() - started:.0f} s", flush=True)
    if "dashboard" in chosen:
        started = time.perf_counter()
        data = dashboard_image()
        replace_atomically(IMAGES / "dashboard.png", data)
        print(f"dashboard.png: {DASHBOARD_STEPS} steps of the baseline, {'x'.join(map(str, png_size(data)))} px, {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
