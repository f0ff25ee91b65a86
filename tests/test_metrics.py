"""Metrics, each checked against values computed by hand (the working is in the test)."""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest

from abm import metrics, scenario
from abm.model import RegionModel
from tests.conftest import BASELINE

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


def test_every_blocs_method_the_scenario_accepts_has_a_function():
    """A method name is checked once, by the scenario's schema (the message names the
    field and the methods); the metric looks it up in BLOCS."""
    allowed = typing.get_args(scenario.MetricsSpec.model_fields["blocs_method"].annotation)
    assert set(allowed) == set(metrics.BLOCS)

TWO_CAMPS = np.array([[1.0, 0.0], [0.95, 0.05], [0.0, 1.0], [0.05, 0.95]])


@pytest.mark.parametrize("method", list(metrics.BLOCS))
def test_blocs_find_two_camps(method):
    d = metrics.js_distance_matrix(TWO_CAMPS)
    labels = metrics.blocs(TWO_CAMPS, d, method, 0.5)
    assert len(labels) == 4
    assert partition(labels) == {frozenset({0, 1}), frozenset({2, 3})}


@pytest.mark.parametrize("method", list(metrics.BLOCS))
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


def test_main_patron_puts_states_tied_to_no_power_in_a_camp_of_their_own():
    # argmax of a row of zeros is the first power: such a state must not join its camp
    a = np.array([[0.7, 0.1], [0.0, 0.0], [0.2, 0.6], [0.0, 0.0]])
    labels = metrics.blocs(a, None, "main_patron", 0.5)
    assert partition(labels) == {frozenset({0}), frozenset({1, 3}), frozenset({2})}
    assert labels.max() + 1 == 3


@pytest.mark.parametrize("method", list(metrics.BLOCS))
def test_blocs_do_not_depend_on_the_order_the_states_are_listed_in(method):
    """Louvain is a heuristic that follows the order it visits the nodes: listing the same
    states otherwise gave 5 blocs instead of 6 in a generated world. Given the states'
    canonical order (the model's: by key), every method finds the same blocs."""
    rng = np.random.default_rng(4)
    keys = np.array([f"s{k:02d}" for k in range(12)])
    for _ in range(10):
        a = rng.dirichlet(np.full(4, 0.4), size=12)
        d = metrics.js_distance_matrix(a)
        first = partition(metrics.blocs(a, d, method, 0.6, np.argsort(keys)))
        for _ in range(15):
            p = rng.permutation(12)
            labels = metrics.blocs(a[p], d[np.ix_(p, p)], method, 0.6, np.argsort(keys[p]))
            assert {frozenset(p[sorted(c)].tolist()) for c in partition(labels)} == first


def test_the_model_finds_the_same_louvain_blocs_however_the_scenario_lists_its_states():
    raw = scenario.load("configs/generated.yaml", ["metrics.blocs_method=louvain", "metrics.bloc_similarity=0.6"]).to_dict()
    raw.pop("generated")
    keys = list(raw["states"])
    listed = {**raw, "states": {keys[i]: raw["states"][keys[i]] for i in (1, 6, 7, 8, 5, 0, 3, 9, 2, 4)}}  # gave 5 blocs for 6
    counts = [RegionModel(scenario.load(r), rng=0).metrics["blocs"] for r in (raw, listed)]
    assert counts[0] == counts[1]


def test_bloc_similarity_threshold_separates():
    # similarity 1 - JS_HALF (about 0.44) links the pair below a 0.4 threshold, not above 0.5
    a = np.array([[1.0, 0.0], [0.5, 0.5]])
    d = metrics.js_distance_matrix(a)
    assert partition(metrics.blocs(a, d, "single_linkage", 0.4)) == {frozenset({0, 1})}
    assert partition(metrics.blocs(a, d, "single_linkage", 0.5)) == {frozenset({0}), frozenset({1})}


# --------------------------------------------------------------------------- polarization (Duclos-Esteban-Ray)


def polar(a, alpha=1.3, bandwidth=0.25):
    return metrics.polarization(metrics.js_distance_matrix(np.asarray(a, dtype=float)), alpha, bandwidth)


@pytest.mark.parametrize("alpha", [1.0, 1.3, 1.6])
def test_polarization_two_equal_camps_at_distance_one_is_one(alpha):
    assert polar([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], alpha) == pytest.approx(1.0)


def two_camps(distance, alpha, bandwidth):
    d = np.where(np.add.outer([0, 0, 1, 1], [0, 0, 1, 1]) == 1, distance, 0.0)  # states 0, 1 against 2, 3
    return metrics.polarization(d, alpha, bandwidth)


@pytest.mark.parametrize("alpha", [1.0, 1.3, 1.6])
def test_two_camps_at_distance_one_are_the_most_polarized_over_the_bandwidths_allowed(alpha):
    top = scenario.MetricsSpec.model_fields["polarization_bandwidth"].metadata[-1].le
    distances = np.linspace(0.01, 0.99, 99)
    assert max(two_camps(x, alpha, top) for x in distances) < 0.999 and two_camps(1.0, alpha, top) == pytest.approx(1.0)
    if alpha == 1.6:  # the reason for the cap: a reach of 1 lets nearer camps reach the clip
        assert max(two_camps(x, alpha, 1.0) for x in distances) == 1.0


def test_polarization_of_consensus_is_zero():
    assert polar([[0.3, 0.7]] * 4) == 0.0


def test_polarization_hand_computed_unequal_camps():
    # camps of 3 and 1 at distance 1, bandwidth < 1: f = 3/4 for the three, 1/4 for the
    # one; sum_i f_i^a sum_j d_ij = 3 * 0.75 * 1 + 0.25 * 3 = 3 (a = 1); / 16 / 0.25 = 0.75
    assert polar([[1.0, 0.0]] * 3 + [[0.0, 1.0]], alpha=1.0) == pytest.approx(0.75)


def test_polarization_is_continuous_in_the_alignments():
    # the old thresholded form jumped from 0 to 0.53 between 0.75/0.25 and 0.80/0.20 camps
    xs = np.linspace(0.5, 1.0, 51)
    camps = [np.array([[x, 1 - x], [x, 1 - x], [1 - x, x], [1 - x, x]]) for x in xs]
    values = [polar(a) for a in camps]
    assert np.abs(np.diff(values)).max() < 0.06
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    # once the camps are beyond each other's reach, drifting apart polarizes more
    apart = [v for a, v in zip(camps, values) if metrics.js_distance_matrix(a)[0, 2] >= 0.25]
    assert len(apart) > 10 and all(b > a for a, b in zip(apart, apart[1:]))


def test_polarization_small_perturbations_move_it_little():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a = rng.dirichlet(np.ones(4), size=8)
        b = np.abs(a + rng.normal(0, 1e-4, a.shape))
        b /= b.sum(axis=1, keepdims=True)
        assert abs(polar(a) - polar(b)) < 0.01


# --------------------------------------------------------------------------- division between rivals

RIVALS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # powers 0 and 1 rivals; 2 friendly to both


def test_division_counts_rival_camps_not_friendly_difference():
    rival_camps = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    friendly_difference = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert metrics.division(rival_camps, RIVALS) == pytest.approx(1.0)
    assert metrics.division(friendly_difference, RIVALS) == 0.0
    # both pairs are equally far apart for the JS-based fragmentation
    js = metrics.js_distance_matrix
    assert js(rival_camps)[0, 1] == pytest.approx(js(friendly_difference)[0, 1])


def test_division_hand_computed_and_subgroup():
    a = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # pairs: (0,1) 0.5, (0,2) 0.5, (1,2) 1.0 -> mean 2/3; subgroup {0, 1}: 0.5
    assert metrics.division(a, RIVALS) == pytest.approx(2 / 3)
    assert metrics.division(a, RIVALS, np.array([True, True, False])) == pytest.approx(0.5)
    assert metrics.division(a, RIVALS, np.array([True, False, False])) == 0.0  # no pair


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


EQUAL = (1.0, 1.0, 1.0)


def test_integration_is_weighted_mean_of_normalised_components():
    relation = np.array([0.0, 1.0])  # rescaled: 0.5 and 1.0, mean 0.75
    overlap = np.array([[0, 1, 0], [1, 0, 0.5], [0, 0.5, 0]], dtype=float)
    # institutions: pairs (0,1) 1, (0,2) 0, (1,2) 0.5 -> 1/2; trade share 0.4 over ceiling 0.5 -> 0.8
    members = np.array([True, True, True])
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, overlap, members, EQUAL, 0.5)
    assert value == pytest.approx((0.8 + 0.75 + 0.5) / 3)
    weighted = metrics.integration(PI, PJ, TRADE, relation, TOTAL, overlap, members, (2.0, 1.0, 1.0), 0.5)
    assert weighted == pytest.approx((2 * 0.8 + 0.75 + 0.5) / 4)


def test_integration_of_a_subgroup():
    relation = np.array([-1.0, 1.0])
    overlap = np.ones((3, 3))
    members = np.array([True, True, False])
    # trade share 0.2 / ceiling 0.5 = 0.4; relation of pair 0-1 only: (1 - 1) / 2 = 0; overlap 1
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, overlap, members, EQUAL, 0.5)
    assert value == pytest.approx((0.4 + 0.0 + 1.0) / 3)


def test_integration_leaves_out_components_without_pairs():
    # states 0 and 2 are not neighbours: no relation component; trade share 0
    relation = np.array([1.0, 1.0])
    overlap = np.ones((3, 3))
    members = np.array([True, False, True])
    value = metrics.integration(PI, PJ, TRADE, relation, TOTAL, overlap, members, EQUAL, 0.5)
    assert value == pytest.approx((0.0 + 1.0) / 2)


def test_integration_reaches_the_top_of_its_scale():
    # trade at the ceiling, best relations, full overlap: 1, for any group
    relation = np.array([1.0, 1.0])
    total = np.array([8.0, 8.0, 8.0])  # trade share 2 * 6 / 24 = 0.5, the ceiling
    members = np.array([True, True, True])
    value = metrics.integration(PI, PJ, TRADE, relation, total, np.ones((3, 3)), members, EQUAL, 0.5)
    assert value == pytest.approx(1.0)


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


def test_the_model_measures_division_as_the_metric_defines_it():
    """The model measures every group at once (``Groups``); the region's division must be
    the one-group metric of its alignments, step after step, over several seeds."""
    for seed in range(3):
        model = RegionModel(BASELINE, rng=seed)
        for _ in range(4):
            model.step()
            assert model.metrics["division"] == pytest.approx(metrics.division(model.alignment, model.hostility), rel=1e-12)
