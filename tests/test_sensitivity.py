"""Sensitivity analysis recovers known indices, and refuses incomplete outputs."""

from __future__ import annotations

import numpy as np
import pytest

from abm import sensitivity

ISHIGAMI = {"x1": (-np.pi, np.pi), "x2": (-np.pi, np.pi), "x3": (-np.pi, np.pi)}


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_recovers_the_ishigami_indices():
    """Analytical values for a=7, b=0.1 (Ishigami and Homma 1990; Saltelli et al. 2008):
    V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8, V13 = b^2 pi^8 (1/18 - 1/50)."""
    a, b = 7.0, 0.1
    v1, v2, v13 = (1 + b * np.pi**4 / 5) ** 2 / 2, a**2 / 8, b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    s1 = np.array([v1, v2, 0.0]) / total
    st = np.array([v1 + v13, v2, v13]) / total
    x = sensitivity.sample("sobol", ISHIGAMI, 2048, seed=3)
    table = sensitivity.sobol_indices(ISHIGAMI, ishigami(x), seed=3)
    assert list(table["parameter"]) == ["x1", "x2", "x3"]
    np.testing.assert_allclose(table["S1"], s1, atol=0.04)
    np.testing.assert_allclose(table["ST"], st, atol=0.04)
    assert (table["S1_conf"] > 0).all() and (table["ST_conf"] < 0.1).all()


def test_second_order_indices_recover_the_ishigami_interaction():
    """Only x1 and x3 interact in the Ishigami function: S13 = V13 / V, the others 0. The
    analysis computed them and dropped them."""
    a, b = 7.0, 0.1
    v1, v2, v13 = (1 + b * np.pi**4 / 5) ** 2 / 2, a**2 / 8, b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    x = sensitivity.sample("sobol", ISHIGAMI, 2048, seed=3, second_order=True)
    pairs = sensitivity.sobol_indices(ISHIGAMI, ishigami(x), seed=3, second_order=True).attrs["second_order"]
    assert list(zip(pairs["parameter"], pairs["with"])) == [("x1", "x2"), ("x1", "x3"), ("x2", "x3")]
    np.testing.assert_allclose(pairs["S2"], [0.0, v13 / (v1 + v2 + v13), 0.0], atol=0.05)
    assert (pairs["S2_conf"] > 0).all()
    assert "second_order" not in sensitivity.sobol_indices(ISHIGAMI, ishigami(sensitivity.sample("sobol", ISHIGAMI, 64, seed=3)), seed=3).attrs


def test_an_output_that_never_varies_has_no_sobol_indices():
    """Shares of no variance: SALib returned zeros (with a numpy warning), which read as
    'every parameter can be fixed'. Morris's mu* = 0 is well defined and stays."""
    x = sensitivity.sample("sobol", ISHIGAMI, 64, seed=3)
    with pytest.raises(sensitivity.UnusableOutputError, match=r"the same value \(0.484\) at every design point"):
        sensitivity.sobol_indices(ISHIGAMI, np.full(len(x), 0.484), seed=3)
    x = sensitivity.sample("morris", ISHIGAMI, 10, seed=1, levels=4)
    assert (sensitivity.morris_indices(ISHIGAMI, x, np.full(len(x), 0.484), seed=1, levels=4)["mu_star"] == 0).all()


def test_morris_recovers_the_effects_of_a_linear_function():
    """For y = 2 x1 + 0 x2 - 5 x3 every elementary effect, per unit of a parameter's range,
    is the coefficient times the range: mu* = |c| (hi - lo), sigma = 0."""
    ranges = {"x1": (0.0, 1.0), "x2": (0.0, 3.0), "x3": (-1.0, 1.0)}
    x = sensitivity.sample("morris", ranges, 10, seed=1, levels=4)
    y = 2 * x[:, 0] + 0 * x[:, 1] - 5 * x[:, 2]
    table = sensitivity.morris_indices(ranges, x, y, seed=1, levels=4)
    np.testing.assert_allclose(table["mu_star"], [2.0, 0.0, 10.0], atol=1e-9)
    np.testing.assert_allclose(table["mu"], [2.0, 0.0, -10.0], atol=1e-9)
    np.testing.assert_allclose(table["sigma"], 0.0, atol=1e-9)


def test_nan_outputs_are_refused_with_a_count():
    x = sensitivity.sample("sobol", ISHIGAMI, 64, seed=3)
    y = ishigami(x)
    y[[3, 10, 11]] = np.nan
    with pytest.raises(sensitivity.UnusableOutputError, match=r"3 of 320 design points have no usable value \(0 without a finished run, 3 NaN\).*\. Choose a summary defined for every run$") as nothing_missing:
        sensitivity.sobol_indices(ISHIGAMI, y, seed=3)
    assert "--resume" not in str(nothing_missing.value)  # no run is missing: resuming would change nothing
    with pytest.raises(sensitivity.UnusableOutputError, match=r"2 without a finished run, 1 NaN.*Re-run the missing runs \(abm sweep \.\.\. --resume\) or choose a summary"):
        sensitivity.require_complete(y, "output", missing=2)
    with pytest.raises(sensitivity.UnusableOutputError, match=r"3 without a finished run, 0 NaN.*--resume\)$"):
        sensitivity.require_complete(y, "output", missing=3)


def test_samples_stay_within_their_ranges():
    ranges = {"a": (2.0, 3.0), "b": (-1.0, 0.0)}
    for method, n in (("latin", 50), ("sobol", 32), ("morris", 10), ("factorial", None)):
        x = sensitivity.sample(method, ranges, n, seed=0)
        assert ((x[:, 0] >= 2.0) & (x[:, 0] <= 3.0)).all() and ((x[:, 1] >= -1.0) & (x[:, 1] <= 0.0)).all(), method
