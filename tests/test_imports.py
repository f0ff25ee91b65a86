"""Each command imports only what it needs: the runner, the sweep and the core never load
matplotlib (charts belong to the CLI, the report and the dashboard), ``abm validate``
loads neither Mesa nor pandas nor matplotlib, and 95% intervals never load scipy.stats. Checked in a fresh interpreter, where
sys.modules shows exactly what an import pulled in."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import BASELINE, ROOT

CORE = ["abm.model", "abm.agents", "abm.offers", "abm.metrics", "abm.corridors", "abm.organisations", "abm.events", "abm.runner", "abm.sweep"]


def modules_after(code: str) -> set[str]:
    """Every module in sys.modules after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def loaded_after(code: str) -> set[str]:
    """Top-level packages, and the project's modules, in sys.modules after running ``code``."""
    modules = modules_after(code)
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("abm.")}


def test_the_core_runner_and_sweep_never_load_charts():
    loaded = loaded_after("import " + ", ".join(CORE))
    assert "matplotlib" not in loaded and "abm.charts" not in loaded


def test_a_run_without_charts_never_loads_matplotlib(tmp_path):
    out = tmp_path / "r"
    loaded = loaded_after(f"from abm.cli import main\nmain(['run', {str(BASELINE)!r}, '--steps', '2', '--no-charts', '--out', {str(out)!r}])")
    assert (out / "model.csv").exists()
    assert "matplotlib" not in loaded


def test_validate_loads_no_model_tables_or_charts():
    loaded = loaded_after(f"from abm.cli import main\nmain(['validate', {str(BASELINE)!r}])")
    assert "abm.scenario" in loaded  # the probe saw the command's imports
    assert not {"mesa", "pandas", "matplotlib", "scipy", "networkx"} & loaded


def test_a_sweeps_main_process_never_imports_the_model():
    """Planning, storing and reporting need no model: only the workers (the fork server
    preloads it) pay for importing Mesa and the model. Checking a spec named the model's
    columns by building a model (a second second of imports before the first run, paid
    by one worker and two alike)."""
    spec = ROOT / "experiments" / "tipping.yaml"
    loaded = loaded_after(f"import abm.sweep, abm.runner, abm.experiment, abm.store\nfrom abm.cli import main\nassert main(['sweep', {str(spec)!r}, '--dry-run']) == 0")
    assert "abm.sweep" in loaded and "abm.experiment" in loaded
    assert not {"mesa", "abm.model", "abm.agents"} & loaded


def test_intervals_and_ensemble_charts_never_load_scipy_stats(tmp_path):
    """The 95% intervals of ensembles, comparisons and reports take the Student t (and, for
    shares, the normal) quantile from scipy.special (already loaded with Mesa), not
    scipy.stats, which would add 0.4 s of imports to abm run --seeds and abm compare."""
    out = tmp_path / "r"
    modules = modules_after(f"from abm.cli import main\nmain(['run', {str(BASELINE)!r}, '--steps', '2', '--seeds', '2', '--out', {str(out)!r}])\n"
                            "from abm import chartstyle\nassert chartstyle.ci95([1.0], [3])[()] > 0 and chartstyle.wilson95(1, 3)[0] > 0")
    assert (out / "ensemble.png").exists() and "scipy.special" in modules  # the probe ran the intervals and drew the charts
    assert "scipy.stats" not in modules
