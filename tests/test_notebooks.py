"""Every notebook in notebooks/ runs top to bottom without error, and is committed clean.

The notebooks are executed with nbclient in a fresh kernel, from the notebooks/
directory, as a student would run them; a new notebook is picked up automatically.
They write their files into temporary directories, never into the repository, which the
last test checks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = 600  # seconds per cell: a guard against a hung kernel, not a speed test (each notebook takes well under a minute on an idle machine)


def written_files() -> set[Path]:
    """Files where a careless notebook would write: beside it, or in runs/ and the repo root."""
    return {*ROOT.glob("notebooks/**/*"), *ROOT.glob("runs/**/*"), *ROOT.glob("*")}


def test_the_tour_notebooks_are_there():
    names = {p.stem for p in NOTEBOOKS}
    for expected in ("01_the_region", "02_offers_and_rules", "03_corridors_and_events", "04_experiments", "05_your_scenario"):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A kernelspec that runs this interpreter, found first on JUPYTER_PATH, so that a
    user's or the system's own "python3" kernel (another Python, without abm) is never used."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "abm-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "abm tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        yield "abm-test"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_name):
    before = written_files()
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # the message holds the failing cell and traceback
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    new = written_files() - before
    assert not new, f"{path.name} wrote into the repository: {sorted(map(str, new))}"
