"""Metrics, each checked against values computed by hand (the working is in the test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abm import metrics

# Jensen-Shannon distance (base 2) between p = (1, 0) and q = (1/2, 1/2), by hand:
#   m = (3/4, 1/4)
#   KL(p || m) = 1 * log2(1 / (3/4))                        = log2(4/3)
#   KL(q || m) = 1/2 log2((1/2)/(3/4)) + 1/2 log2((1/2)/(1/4)) = 1/2 log2(2/3) + 1/2
#   JSD = (KL(p||m) + KL(q||m)) / 2,  distance = sqrt(JSD)  (about 0.5579)
KL_P = math.log2(4 / 3)
KL_Q = 0.5 * math.log2(2 / 3) + 0.5 * 1.0
JS_HALF = math.sqrt((KL_P + KL_Q) / 2)


def partition(labels) -> set[frozenset[int]]:
    """Labels as a set of groups, so bloc numbering does not matter."""
    groups: dict[int, set[int]] = {}
    for i, lab in enumerate(np.asarray(labels).tolist()):
        groups.setdefault(lab, set()).add(i)
    return {frozenset(g) for g in groups.values()}


# --------------------------------------------------------------------------- JS distance


def test_js_distance_disjoint_patrons_is_one():
    d = metrics.js_distance_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert d[0, 1] == pytest.approx(1.0)
    assert d[1, 0] == pytest.approx(1.0)


def test_js_distance_identical_vectors_is_zero():
    a = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    d = metrics.js_distance_matrix(a)
    assert d == pytest.approx(np.zeros((2, 2)), abs=1e-7)


def test_js_distance_hand_computed_case():
    assert JS_HALF == pytest.approx(0.5579, abs=1e-4)  # the working above, as a number
    d = metrics.js_distance_matrix(np.array([[1.0, 0.0], [0.5, 0.5]]))
    assert d[0, 1] == pytest.approx(JS_HALF, rel=1e-9)
    assert d[1, 0] == pytest.approx(JS_HALF, rel=1e-9)


def test_js_distance_matrix_of_three_states():
    a = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    d = metrics.js_distance_matrix(a)
    expected = np.array([[0.0, 1.0, JS_HALF], [1.0, 0.0, JS_HALF], [JS_HALF, JS_HALF, 0.0]])
    assert d == pytest.approx(expected, abs=1e-7)


def test_js_distance_is_a_bounded_symmetric_metric():
    rng = np.random.default_rng(7)
    a = rng.dirichlet(np.ones(4) * 0.5, size=12)
    a[0] = [1.0, 0.0, 0.0, 0.0]  # include a corner with zeros
    d = metrics.js_distance_matrix(a)
    assert np.all(d >= 0.0) and np.all(d <= 1.0 + 1e-12)
    assert d == pytest.approx(d.T)
    assert np.diag(d) == pytest.approx(np.zeros(12), abs=1e-7)
    # triangle inequality (the square root of JSD is a metric, Endres & Schindelin 2003)
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-9)


# --------------------------------------------------------------------------- mean pairwise


def test_mean_pairwise_averages_off_diagonal():
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    assert metrics.mean_pairwise(d) == pytest.approx((1 + 2 + 3) / 3)
    assert metrics.mean_pairwise(d, np.array([0, 2])) == pytest.approx(2.0)
    assert metrics.mean_pairwise(d, np.array([1, 2])) == pytest.approx(3.0)


def test_mean_pairwise_ignores_the_diagonal():
    d = np.array([[9.0, 1.0], [1.0, 9.0]])
    assert metrics.mean_pairwise(d) == pytest.approx(1.0)


def test_mean_pairwise_of_fewer_than_two_is_zero():
    d = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert metrics.mean_pairwise(d, np.array([1])) == 0.0
    assert metrics.mean_pairwise(d, np.array([], dtype=int)) == 0.0


# --------------------------------------------------------------------------- HHI


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ([0.5, 0.5], 0.5),
        ([1.0, 0.0], 1.0),
        ([0.25, 0.25, 0.25, 0.25], 0.25),
        ([0.6, 0.3, 0.1], 0.36 + 0.09 + 0.01),
    ],
)
def test_hhi_hand_computed(shares, expected):
    assert float(metrics.hhi(np.array(shares))) == pytest.approx(expected)


def test_hhi_is_per_row():
    out = metrics.hhi(np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert out == pytest.approx(np.array([0.5, 1.0]))


# --------------------------------------------------------------------------- blocs

TWO_CAMPS = np.array([[1.0, 0.0], [0.95, 0.05], [0.0, 1.0], [0.05, 0.95]])


@pytest.mark.parametrize("method", ["louvain", "single_linkage", "main_patron"])
def test_blocs_find_two_camps(method):
    d = metrics.js_distance_matrix(TWO_CAMPS)
    labels = metrics.blocs(TWO_CAMPS, d, method, 0.5)
    assert len(labels) == 4
    assert partition(labels) == {frozenset({0, 1}), frozenset({2, 3})}


@pytest.mark.parametrize("method", ["louvain", "single_linkage", "main_patron"])
def test_blocs_one_camp(method):
    a = np.array([[0.9, 0.1], [0.8, 0.2], [0.85, 0.15]])
    labels = metrics.blocs(a, metrics.js_distance_matrix(a), method, 0.5)
    assert partition(labels) == {frozenset({0, 1, 2})}


def test_single_linkage_chains_but_main_patron_does_not():
    # (0.45, 0.55) is close to (0.55, 0.45) but has a different main patron
    a = np.array([[0.55, 0.45], [0.45, 0.55]])
    d = metrics.js_distance_matrix(a)
    assert partition(metrics.blocs(a, d, "single_linkage", 0.5)) == {frozenset({0, 1})}
    assert partition(metrics.blocs(a, d, "main_patron", 0.5)) == {frozenset({0}), frozenset({1})}


def test_bloc_similarity_threshold_separates():
    # similarity 1 - JS_HALF (about 0.44) links the pair below a 0.4 threshold, not above 0.5
    a = np.array([[1.0, 0.0], [0.5, 0.5]])
    d = metrics.js_distance_matrix(a)
    assert partition(metrics.blocs(a, d, "single_linkage", 0.4)) == {frozenset({0, 1})}
    assert partition(metrics.blocs(a, d, "single_linkage", 0.5)) == {frozenset({0}), frozenset({1})}


def test_blocs_unknown_method_raises():
    with pytest.raises(ValueError, match="unknown"):
        metrics.blocs(TWO_CAMPS, metrics.js_distance_matrix(TWO_CAMPS), "kmeans", 0.5)


# --------------------------------------------------------------------------- Esteban-Ray


@pytest.mark.parametrize("alpha", [1.0, 1.3, 1.6])
def test_esteban_ray_two_equal_blocs_at_distance_one_is_one(alpha):
    a = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert metrics.esteban_ray(a, np.array([0, 0, 1, 1]), alpha) == pytest.approx(1.0)


def test_esteban_ray_single_bloc_is_zero():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.esteban_ray(a, np.array([0, 0]), 1.3) == 0.0


def test_esteban_ray_unequal_blocs_hand_computed():
    # pi = (3/4, 1/4), delta = 1, alpha = 1:
    # 2^2 * (0.75^2 * 0.25 * 1 + 0.25^2 * 0.75 * 1) = 4 * (0.140625 + 0.046875) = 0.75
    a = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]])
    assert metrics.esteban_ray(a, np.array([0, 0, 0, 1]), 1.0) == pytest.approx(0.75)


def test_esteban_ray_two_equal_blocs_equals_their_distance():
    # two equal blocs: 2^(1+a) * 2 * (0.5^(1+a) * 0.5 * delta) = delta
    a = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert metrics.esteban_ray(a, np.array([0, 1]), 1.3) == pytest.approx(JS_HALF)


def test_esteban_ray_uses_bloc_mean_alignment():
    # bloc 0 = {(1,0), (0,1)} has centre (1/2, 1/2); bloc 1 = {(1,0)}; delta = JS_HALF
    # pi = (2/3, 1/3), alpha = 1: 4 * ((2/3)^2 (1/3) + (1/3)^2 (2/3)) * delta = 8/9 * delta
    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert metrics.esteban_ray(a, np.array([0, 0, 1]), 1.0) == pytest.approx(8 / 9 * JS_HALF)


# --------------------------------------------------------------------------- trade and integration

# three states in a line: 0 - 1 (trade 2), 1 - 2 (trade 4); total trade 10 each
PI, PJ = np.array([0, 1]), np.array([1, 2])
TRADE = np.array([2.0, 4.0])
TOTAL = np.array([10.0, 10.0, 10.0])


def test_trade_share_whole_group():
    # each pair's trade counts for both sides: 2 * (2 + 4) / 30
    members = np.array([True, True, True])
    assert metrics.trade_share(PI, PJ, TRADE, TOTAL, members) == pytest.approx(0.4)


def test_trade_share_subgroup_counts_only_inside_pairs():
    # only pair 0-1 is inside {0, 1}: 2 * 2 / 20
    members = np.array([True, True, False])
    assert metrics.trade_share(PI, PJ, TRADE, TOTAL, members) == pytest.approx(0.2)


def test_trade_share_without_trade_is_zero():
    members = np.array([True, True, True])
    assert metrics.trade_share(PI, PJ, TRADE, np.zeros(3), members) == 0.0
    assert metrics.trade_share(PI, PJ, np.zeros(2), TOTAL, members) == 0.0


def test_integration_is_mean_of_three_components():
    relation = np.array([0.0, 1.0])  # rescaled: 0.5 and 1.0, mean 0.75
    shared = np.array([[True, True, False], [True, True, False], [False, False, True]])
    # shared format: pairs (0,1) yes, (0,2) no, (1,2) no -> 1/3; trade share 0.4
    members = np.array([True, True, True])
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, shared, members)
    assert value == pytest.approx((0.4 + 0.75 + 1 / 3) / 3)


def test_integration_of_a_subgroup():
    relation = np.array([-1.0, 1.0])
    shared = np.ones((3, 3), dtype=bool)
    members = np.array([True, True, False])
    # trade share 0.2; relation of pair 0-1 only: (1 - 1) / 2 = 0; shared format 1
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, shared, members)
    assert value == pytest.approx((0.2 + 0.0 + 1.0) / 3)


def test_integration_leaves_out_components_without_pairs():
    # states 0 and 2 are not neighbours: no relation component; trade share 0
    relation = np.array([1.0, 1.0])
    shared = np.ones((3, 3), dtype=bool)
    members = np.array([True, False, True])
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, shared, members)
    assert value == pytest.approx((0.0 + 1.0) / 2)


def _js_full_tensor(a: np.ndarray) -> np.ndarray:
    """The former one-shot formula (a full N x N x M tensor), kept as the reference."""
    plogp = lambda x: x * np.log(np.where(x > 0, x, 1.0))  # noqa: E731
    neg_entropy = plogp(a).sum(axis=1)
    mixture = plogp((a[:, None, :] + a[None, :, :]) / 2.0).sum(axis=2)
    return np.sqrt(np.clip(((neg_entropy[:, None] + neg_entropy[None, :]) / 2.0 - mixture) / np.log(2.0), 0.0, 1.0))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m", [(1, 3), (2, 2), (9, 10), (41, 5), (130, 7)])
def test_block_wise_js_distances_equal_the_full_tensor_formula(seed, n, m):
    """Row blocks of the upper triangle give the very same values (to the last bit) as
    the full tensor, whatever the block size, zero shares included."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, m))
    a[rng.random((n, m)) < 0.3] = 0.0
    a[:, 0] += 1e-3
    a /= a.sum(axis=1, keepdims=True)
    expected = _js_full_tensor(a)
    for block in (1, 2 * m + 1, 64, 1 << 18):
        assert np.array_equal(metrics.js_distance_matrix(a, block=block), expected), block
