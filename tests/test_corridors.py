"""Tests of corridors: route attributes, choice rules, capacity-restrained assignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydantic import ValidationError

from abm import corridors
from abm.corridors import Corridor, SegmentState, market_shares, sponsor_leverage, transit_revenue
from abm.rules import UnknownRuleError, known, make


def get_choice_rule(name, **params):
    return make("route_choice", {"name": name, **params})


def _rule(rule):
    return get_choice_rule(rule) if isinstance(rule, str) else rule


def assign(demand, routes, rule, value_of_time, risk_premium):
    return corridors.assign(demand, routes, _rule(rule), value_of_time, risk_premium)


def assign_markets(demands, routes, rule, value_of_time, risk_premium):
    return corridors.assign_markets(demands, routes, _rule(rule), value_of_time, risk_premium)


def route(cid, cost, capacity=1e9, time=0.0, risk=0.0, market="east_west", nodes=None, sponsors=None):
    """A corridor whose cost, time and risk sit on its first segment."""
    nodes = nodes or [f"{cid}_a", f"{cid}_b"]
    segs = [SegmentState(nodes[0], capacity, cost, time, risk)]
    segs += [SegmentState(n, capacity, 0.0, 0.0, 0.0) for n in nodes[1:]]
    return Corridor(cid, market, segs, sponsors or {})


# --- Route attributes ----------------------------------------------------------------


def test_route_attributes_combine_segments():
    c = Corridor(
        "middle",
        "east_west",
        [
            SegmentState("KAZ", 30.0, 40.0, 5.0, 0.1),
            SegmentState("caspian", 10.0, 30.0, 3.0, 0.2),
            SegmentState("AZE", 25.0, 20.0, 2.0, 0.0),
        ],
        {"CHN": 0.5},
    )
    assert c.path == ["KAZ", "caspian", "AZE"]
    assert c.capacity() == 10.0
    assert c.cost() == 90.0
    assert c.time() == 10.0
    assert c.risk() == pytest.approx(1 - 0.9 * 0.8)
    assert c.generalized_cost(2.0, 100.0) == pytest.approx(90 + 20 + 100 * 0.28)


def test_events_touch_only_their_node_and_clip():
    c = route("r", 10.0, capacity=5.0, risk=0.5, nodes=["GEO", "TUR"])
    assert c.add_risk("GEO", 0.8) == 1
    assert c.segments[0].risk == 1.0
    assert c.add_risk("GEO", -3.0) == 1 and c.segments[0].risk == 0.0
    assert c.add_risk("IRN", 0.5) == 0 and c.risk() == 0.0
    assert c.upgrade("TUR", capacity_add=10.0) == 1 and c.capacity() == 5.0  # GEO still binds
    c.upgrade("GEO", capacity_add=10.0, cost_factor=0.5)
    assert c.capacity() == 15.0 and c.cost() == 5.0


# --- Choice rules --------------------------------------------------------------------


def test_logit_two_routes_by_hand():
    # gc 10 and 20, beta 0.1: share_1 = e^-1 / (e^-1 + e^-2) = 1 / (1 + e^-1) = 0.7310585786...
    expected = 1.0 / (1.0 + math.exp(-1.0))
    assert expected == pytest.approx(0.7310585786300049, abs=1e-15)
    s = get_choice_rule("logit", beta=0.1).shares(np.array([10.0, 20.0]))
    assert s == pytest.approx([expected, 1 - expected], abs=1e-12)
    # The same through assignment: uncapacitated, no time or risk cost.
    a = assign(100.0, [route("a", 10.0), route("b", 20.0)], get_choice_rule("logit", beta=0.1), 0.0, 0.0)
    assert a.volumes == pytest.approx([100 * expected, 100 * (1 - expected)], abs=1e-9)
    assert a.unmet == 0.0


def test_logit_is_stable_for_large_costs():
    s = get_choice_rule("logit", beta=1.0).shares(np.array([1e5, 1e5 + 1.0]))
    assert np.all(np.isfinite(s)) and s == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.e)])


def test_cheapest_and_proportional_by_hand():
    assert list(get_choice_rule("cheapest").shares(np.array([3.0, 1.0, 1.0]))) == [0.0, 1.0, 0.0]
    # 1/10 : 1/30 -> 3/4, 1/4
    assert get_choice_rule("proportional").shares(np.array([10.0, 30.0])) == pytest.approx([0.75, 0.25])


@pytest.mark.parametrize("rule", ["logit", "proportional"])
@pytest.mark.parametrize("shock", ["risk", "cost"])
def test_dearer_route_loses_share(rule, shock):
    routes = [route("a", 50.0, risk=0.1), route("b", 60.0), route("c", 70.0)]
    before = assign(100.0, routes, rule, 1.0, 200.0).volumes
    if shock == "risk":
        routes[0].add_risk("a_a", 0.3)
    else:
        routes[0].upgrade("a_a", cost_factor=1.5)
    after = assign(100.0, routes, rule, 1.0, 200.0).volumes
    assert after[0] < before[0]
    assert np.all(after[1:] > before[1:])


def test_unknown_rule_lists_known_names():
    with pytest.raises(UnknownRuleError) as err:
        get_choice_rule("gravity")
    assert isinstance(err.value, KeyError)
    msg = str(err.value)
    names = known("route_choice")  # the registry's, so that a new rule keeps this test true
    assert {"cheapest", "logit", "proportional"} <= set(names) and names == sorted(names)
    assert "gravity" in msg and ", ".join(names) in msg


def test_bad_rule_params_rejected():
    with pytest.raises(ValidationError):
        get_choice_rule("logit", beta=0.0)
    with pytest.raises(ValidationError):
        get_choice_rule("cheapest", beta=0.1)


# --- Capacity-restrained assignment --------------------------------------------------


def test_spill_over_to_next_route():
    routes = [route("a", 10.0, capacity=10.0), route("b", 20.0, capacity=100.0), route("c", 30.0)]
    a = assign(25.0, routes, "cheapest", 0.0, 0.0)
    assert list(a.volumes) == [10.0, 15.0, 0.0] and a.unmet == 0.0


def test_spill_over_uses_same_rule_among_open_routes():
    rule = get_choice_rule("logit", beta=0.1)
    routes = [route("a", 10.0, capacity=1.0), route("b", 20.0), route("c", 30.0)]
    a = assign(100.0, routes, rule, 0.0, 0.0)
    assert a.volumes[0] == 1.0
    # Excess split between b and c in logit ratio e^-2 : e^-3.
    assert a.volumes[1] / a.volumes[2] == pytest.approx(math.e)
    assert a.volumes.sum() == pytest.approx(100.0)


@pytest.mark.parametrize("rule", ["logit", "cheapest", "proportional"])
def test_all_full_leaves_unmet(rule):
    routes = [route("a", 10.0, capacity=10.0), route("b", 20.0, capacity=5.0)]
    a = assign(30.0, routes, rule, 0.0, 0.0)
    assert list(a.volumes) == [10.0, 5.0]
    assert a.unmet == pytest.approx(30.0 - 15.0)


@pytest.mark.parametrize("rule", ["logit", "cheapest", "proportional"])
def test_closing_a_segment_moves_all_freight(rule):
    routes = [route("north", 10.0, nodes=["RUS", "KAZ"]), route("middle", 30.0, nodes=["KAZ", "AZE"])]
    assert assign(50.0, routes, rule, 0.0, 0.0).volumes[0] > 0
    assert routes[0].close("RUS") == 1
    assert routes[0].capacity() == 0.0
    a = assign(50.0, routes, rule, 0.0, 0.0)
    assert list(a.volumes) == [0.0, 50.0]
    routes[0].open("RUS")
    assert assign(50.0, routes, rule, 0.0, 0.0).volumes[0] > 0


def test_zero_demand_and_no_routes():
    a = assign(0.0, [route("a", 1.0), route("b", 2.0)], "logit", 0.0, 0.0)
    assert list(a.volumes) == [0.0, 0.0] and a.unmet == 0.0
    assert assign(7.0, [], "logit", 0.0, 0.0).unmet == 7.0
    with pytest.raises(ValueError):
        assign(-1.0, [route("a", 1.0)], "logit", 0.0, 0.0)


rule_names = st.sampled_from(["logit", "cheapest", "proportional"])
route_specs = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.floats(0.0, 200.0)),  # capacity
        st.floats(0.1, 300.0),  # cost
        st.floats(0.0, 40.0),  # time
        st.floats(0.0, 1.0),  # risk
        st.booleans(),  # closed
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(route_specs, st.floats(0.0, 1000.0), rule_names, st.floats(0.001, 2.0))
def test_assignment_respects_capacity_and_conserves_demand(specs, demand, name, beta):
    routes = []
    for i, (cap, cost, time, risk, closed) in enumerate(specs):
        r = route(f"r{i}", cost, capacity=cap, time=time, risk=risk)
        if closed:
            r.close(f"r{i}_b")
        routes.append(r)
    rule = get_choice_rule(name, beta=beta) if name == "logit" else get_choice_rule(name)
    a = assign(demand, routes, rule, 1.5, 50.0)
    caps = np.array([r.capacity() for r in routes])
    assert a.volumes.shape == (len(routes),)
    assert np.all(a.volumes >= 0)
    assert np.all(a.volumes <= caps + 1e-9)
    assert a.volumes.sum() + a.unmet == pytest.approx(demand, rel=1e-9, abs=1e-9)
    assert a.unmet >= 0
    # Freight is unmet only when every route is full.
    if a.unmet > 1e-9 * max(demand, 1.0):
        assert a.volumes == pytest.approx(caps, rel=1e-9, abs=1e-9)
        assert a.unmet == pytest.approx(demand - caps.sum(), rel=1e-9, abs=1e-9)


def test_assign_markets_keeps_markets_apart():
    routes = [
        route("a", 10.0, capacity=5.0),
        route("ns", 10.0, market="north_south"),
        route("b", 20.0, capacity=5.0),
    ]
    vols, unmet = assign_markets({"east_west": 12.0, "north_south": 3.0}, routes, "cheapest", 0.0, 0.0)
    assert list(vols) == [5.0, 3.0, 5.0]
    assert unmet == {"east_west": 2.0, "north_south": 0.0}


# --- Who gains -----------------------------------------------------------------------


def test_transit_revenue_by_hand():
    # two states, two corridors: state 0 on both, state 1 on the first only
    crossing = np.array([[1.0, 1.0], [1.0, 0.0]])
    vols = np.array([10.0, 5.0])  # Mt/yr
    # state 0: 15 Mt * 4 USD/t = 60 USD m = 0.06 bn; state 1: 10 Mt * 4 = 0.04 bn
    assert transit_revenue(crossing, vols, 4.0) == pytest.approx([0.06, 0.04])


def test_market_shares_by_hand():
    shares = market_shares(["ew", "ew", "ns", "ns"], np.array([30.0, 10.0, 5.0, 0.0]))
    assert shares == pytest.approx([0.75, 0.25, 1.0, 0.0])
    assert market_shares(["ew", "ew"], np.zeros(2)) == pytest.approx([0.0, 0.0])


def test_sponsor_leverage_by_hand():
    # corridors a (ew, 3/4 of its market), b (ew, 1/4), c (ns, all of it)
    shares = np.array([0.75, 0.25, 1.0])
    stakes = np.array([[0.5, 0.0], [0.0, 1.0], [0.0, 0.4]])  # powers: CHN, RUS
    crossing = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # state 0 on a and b; state 1 on c
    lev = sponsor_leverage(crossing, stakes, shares)
    assert lev == pytest.approx(np.array([[0.375, 0.25], [0.0, 0.4]]))


def test_investment_goes_to_the_bottleneck_of_each_sponsored_route_closed_or_not():
    """China's investment taken by Kazakhstan upgrades the least-capacity segment of each
    route China sponsors through it, split evenly: the Middle Corridor's Caspian crossing
    even while it is closed (capacity outlasts a closure; a link not yet built is what
    money builds), and one of the Northern route's smallest segments."""
    from abm.model import RegionModel
    from tests.conftest import BASELINE

    model = RegionModel(BASELINE, rng=0)
    net = model.network
    middle, northern = net.corridor("middle_corridor"), net.corridor("northern_route")
    capacity = {c.id: {s.node: s.capacity for s in c.segments} for c in (middle, northern)}
    assert min(capacity["middle_corridor"], key=capacity["middle_corridor"].get) == "caspian"
    net.close("middle_corridor", "caspian")
    per_bn = model.config.freight.capacity_per_bn
    net.invest(model.state_index["kazakhstan"], model.power_index["china"], 2.0)
    routes = len(net.sponsored[(model.state_index["kazakhstan"], model.power_index["china"])])
    assert routes == 2
    after = {c.id: {s.node: s.capacity for s in c.segments} for c in (middle, northern)}
    assert after["middle_corridor"]["caspian"] == pytest.approx(capacity["middle_corridor"]["caspian"] + 2.0 * per_bn / routes)
    assert {n: v for n, v in after["middle_corridor"].items() if n != "caspian"} == {n: v for n, v in capacity["middle_corridor"].items() if n != "caspian"}
    grown = [node for node in after["northern_route"] if after["northern_route"][node] != capacity["northern_route"][node]]
    assert len(grown) == 1 and capacity["northern_route"][grown[0]] == min(capacity["northern_route"].values())


@pytest.fixture(scope="module")
def six_years():
    """The baseline's scenario and its events over 24 quarters (seed 0)."""
    from abm.runner import run
    from abm.scenario import load
    from tests.conftest import BASELINE

    scn = load(BASELINE)
    return scn, run(scn, seed=0, steps=24).events


def test_a_scheduled_upgrade_is_logged_under_its_path_in_the_scenario(six_years):
    """Upgrades are a list, so they had no id in events.csv and could not be told apart
    or found in the scenario; the id is now the path --set reaches them by."""
    scn, events = six_years
    ups = events[events["type"] == "corridor_upgrade"]
    assert len(ups) >= 3
    for _, row in ups.iterrows():
        _, corridor, _, k = row["id"].split(".")
        spec = scn.corridors[corridor].upgrades[int(k)]
        assert row["corridor"] == corridor and row["node"] == spec.node and float(row["capacity_add"]) == spec.capacity_add
        assert scn.date(row["step"] - 1) <= spec.date < scn.date(row["step"])  # in the period it took effect in


def test_a_dated_event_and_an_upgrade_carry_their_own_date_shocks_none(six_years):
    """events.csv's date is the end of the period an event took effect in; its own date
    was only in the scenario, which a reader of the table had to look up."""
    scn, events = six_years
    dated = events[events["id"].isin(list(scn.events))]
    assert len(dated) >= 4
    for _, row in dated.iterrows():
        assert row["event_date"] == scn.events[row["id"]]["date"].isoformat()
        assert scn.date(row["step"] - 1).isoformat() <= row["event_date"] < row["date"]
    ups = events[events["type"] == "corridor_upgrade"]
    assert (ups["event_date"] == [scn.corridors[i.split(".")[1]].upgrades[int(i.split(".")[3])].date.isoformat() for i in ups["id"]]).all()
    assert (events.loc[events["source"] != "scheduled", "event_date"] == "").all()  # shocks, the model's own changes
