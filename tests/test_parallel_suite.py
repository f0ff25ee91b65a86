"""The suite's own parallel run (pytest-xdist, ``--dist loadgroup``, tests/conftest.py).

Tests that share a costly module-scoped fixture must run in one worker, or each worker
computes the fixture again: a minute each for the behaviour tables, half a minute for the
benchmark's output. Nothing fails when the grouping is lost (pytest 9.2 lost it silently
with pytest-xdist 3.8), so this checks it on a small suite of its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SUITE = '''
import os

import pytest


@pytest.fixture(scope="module")
def costly():
    with open("computed.txt", "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("k", range(6))
def test_shares_the_fixture(costly, k):
    pass


@pytest.mark.parametrize("k", range(6))
def test_alone(k):
    pass
'''


def test_tests_sharing_a_module_fixture_run_in_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_small.py").write_text(SUITE)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-v"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {line.split()[0] for line in done.stdout.splitlines() if "PASSED" in line}
    assert workers == {"[gw0]", "[gw1]"}, done.stdout  # both workers had work
    assert len((tmp_path / "computed.txt").read_text().splitlines()) == 1, done.stdout
