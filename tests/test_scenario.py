"""The scenario loader: extends, --set overrides, and one clear message per bad field."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm import experiment, scenario
from abm.runner import run
from abm.scenario import Scenario, ScenarioError, in_force, load, with_run_settings
try:  # tests/ on sys.path (no tests/__init__.py) ...
    from conftest import BASELINE, GENERATED, tiny_scenario
except ImportError:  # ... or tests/ is a package
    from tests.conftest import BASELINE, GENERATED, tiny_scenario

REGION = ["armenia", "azerbaijan", "georgia", "kazakhstan", "kyrgyzstan", "tajikistan", "turkmenistan", "uzbekistan"]


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def problems_of(source, sets=()) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        load(source, list(sets))
    problems = info.value.problems
    assert problems, "a ScenarioError must carry at least one problem"
    for path, _ in problems:
        assert path in str(info.value)  # the readable message names every field
    return problems


def only_problem(source, sets=()) -> tuple[str, str]:
    problems = problems_of(source, sets)
    assert len(problems) == 1, problems
    return problems[0]


# =========================================================================== loading


def test_baseline_loads_with_the_eight_states():
    scn = load(BASELINE)
    assert isinstance(scn, Scenario)
    assert set(REGION) <= set(scn.states)
    assert {"russia", "china", "united_states", "european_union", "turkey", "iran"} <= set(scn.powers)


def test_generated_world_loads_and_resizes():
    assert len(load(GENERATED, ["generated.n_states=7"]).states) == 7
    assert len(load(GENERATED, ["generated.n_powers=3"]).powers) == 3


def test_generated_world_is_fixed_by_its_own_seed():
    a, b = load(GENERATED), load(GENERATED)
    assert a.to_dict() == b.to_dict()
    c = load(GENERATED, ["generated.seed=3"])
    assert c.to_dict()["states"] != a.to_dict()["states"]


def test_a_generated_world_links_each_state_to_its_nearest_neighbours():
    """Neighbours are found a block of rows at a time (abm.generate._nearest), so the whole
    table of distances is never held: every state in a world spanning several blocks is
    still linked to its three nearest, as from the whole table."""
    from abm.generate import _nearest

    scn = load(GENERATED, ["generated.n_states=600"])
    coords = np.array([[s.lat, s.lon] for s in scn.states.values()])
    whole = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(whole, np.inf)
    assert (_nearest(coords, 3, block=256) == np.argsort(whole, axis=1)[:, :3]).all()
    keys = list(scn.states)
    for k, state in enumerate(scn.states.values()):  # a link is recorded once, on one of its two ends
        for j in np.argsort(whole[k])[:3]:
            assert keys[j] in state.neighbours or keys[k] in scn.states[keys[j]].neighbours


def test_load_accepts_a_dict_and_a_scenario(tiny):
    scn = load(tiny)
    assert set(scn.states) == {"a", "b", "c"}
    assert load(scn) is scn
    assert load(scn, ["time.steps=3"]).time.steps == 3
    assert scn.time.steps == 8  # the original is not modified


def test_load_does_not_modify_the_mapping(tiny):
    before = yaml.safe_dump(tiny)
    load(tiny, ["time.steps=3", "powers.p.budget.trade=9"])
    assert yaml.safe_dump(tiny) == before


@pytest.mark.parametrize("sets", [[], ["time.steps=3"]])
def test_a_scenario_loaded_from_a_mapping_shares_none_of_its_values(tiny, sets):
    # a scenario keeps free-form values (provenance, events, rule entries) as validated,
    # so load must copy the caller's mapping: changing it later must not change the scenario
    tiny["provenance"] = {"versions": {"abm": "1"}}
    scn = load(tiny, sets)
    tiny["provenance"]["versions"]["abm"] = "2"
    assert scn.provenance == {"versions": {"abm": "1"}}


def test_resolved_scenario_reloads_to_itself():
    scn = load(BASELINE)
    again = load(scn.to_dict())
    assert again.to_dict() == scn.to_dict()
    text = yaml.safe_dump(scn.to_dict())
    assert load(yaml.safe_load(text)).to_dict() == scn.to_dict()


def test_dates_follow_the_step_length(tiny):
    scn = load(tiny)  # quarterly from 2025-01-01
    assert scn.date(0) == dt.date(2025, 1, 1)
    assert scn.date(1) == dt.date(2025, 4, 1)
    assert scn.date(4) == dt.date(2026, 1, 1)
    late = load(tiny, ["time.start=2025-11-15"])  # steps keep the day and carry into the next year
    assert (late.date(1), late.date(5)) == (dt.date(2026, 2, 15), dt.date(2027, 2, 15))


@pytest.mark.parametrize("months", [1, 12])
def test_steps_are_quarters_because_the_rates_are(tiny, months):
    # with monthly steps every per-step hazard and rate ran three times as fast in calendar time
    path, msg = only_problem(tiny, [f"time.step_months={months}"])
    assert path == "time.step_months" and msg.startswith("the model's rates and hazards are per quarter (docs/ODD.md 2.7); only 3 is supported")


def test_rule_defaults_are_filled_in(tiny):
    scn = load(tiny, ["rules.decision.name=hedging"])
    decision = scn.rules.decision
    assert decision["name"] == "hedging"
    assert {"cap", "noise", "threshold"} <= set(decision)


# =========================================================================== extends


def base_file(tmp_path: Path) -> Path:
    return write(tmp_path / "base.yaml", tiny_scenario())


def test_extends_is_relative_to_the_file(tmp_path, monkeypatch):
    base_file(tmp_path)
    child = write(tmp_path / "sub" / "child.yaml", {"extends": "../base.yaml", "name": "child"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither where base.yaml nor where child.yaml is
    scn = load(child)
    assert scn.name == "child"
    assert set(scn.states) == {"a", "b", "c"}


def test_extends_override_semantics(tmp_path):
    base_file(tmp_path)
    child = write(
        tmp_path / "child.yaml",
        {
            "extends": "base.yaml",
            "name": "child",  # scalar: replaced
            "powers": {"p": {"budget": {"investment": 4.0}, "coercion": {"tools": ["bases"]}}},  # mappings merge
            "time": {"steps": 3},
        },
    )
    scn = load(child)
    assert scn.name == "child"
    assert scn.time.steps == 3
    assert scn.time.step_months == 3  # kept from the base
    budget = scn.powers["p"].budget
    assert (budget.investment, budget.security, budget.trade) == (4.0, 1.0, 1.0)
    assert scn.powers["p"].coercion.tools == ["bases"]  # lists are replaced, not appended
    assert scn.powers["p"].coercion.propensity == 0.6
    assert set(scn.powers) == {"p", "q"}


def test_extends_chain(tmp_path):
    base_file(tmp_path)
    write(tmp_path / "mid.yaml", {"extends": "base.yaml", "name": "mid", "seed": 5, "time": {"steps": 4}})
    leaf = write(tmp_path / "leaf" / "leaf.yaml", {"extends": "../mid.yaml", "time": {"steps": 2}})
    scn = load(leaf)
    assert scn.name == "mid"  # from the middle file
    assert scn.seed == 5
    assert scn.time.steps == 2  # the leaf wins
    assert scn.states["a"].gdp == 10.0  # from the base


def test_extends_the_baseline(tmp_path):
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "name": "china_doubles", "powers": {"china": {"budget": {"investment": 4.0}}}})
    scn, base = load(child), load(BASELINE)
    assert scn.name == "china_doubles"
    assert scn.powers["china"].budget.investment == 4.0
    assert scn.powers["china"].budget.trade == base.powers["china"].budget.trade
    assert scn.states == base.states


def test_circular_extends_is_an_error(tmp_path):
    a = write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    path, msg = only_problem(a)
    assert path == "extends"
    assert "circular" in msg
    assert "a.yaml" in msg and "b.yaml" in msg


def test_self_extends_is_an_error(tmp_path):
    a = write(tmp_path / "a.yaml", {"extends": "a.yaml"})
    path, msg = only_problem(a)
    assert path == "extends" and "circular" in msg


def test_extends_missing_file(tmp_path, monkeypatch):
    """Blamed on the extends: of the file that names it (it read "<top>: file not found"
    with no word of extends or of the file to fix); files named as given, as every other
    message names them, not by their absolute path."""
    write(tmp_path / "child.yaml", {"extends": "nowhere.yaml"})
    monkeypatch.chdir(tmp_path)
    assert only_problem("child.yaml") == ("extends", "file not found: nowhere.yaml")
    with pytest.raises(ScenarioError) as info:
        load("child.yaml")
    assert info.value.source == "child.yaml"


def test_a_parent_with_bad_yaml_is_named_as_the_file_to_fix(tmp_path, monkeypatch):
    write(tmp_path / "sub" / "base.yaml", "name: [unclosed\n")
    write(tmp_path / "child.yaml", {"extends": "sub/base.yaml"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load("child.yaml")
    assert info.value.source == "sub/base.yaml"  # as reached from the file given


def test_extends_must_be_a_path(tmp_path):
    child = write(tmp_path / "child.yaml", {"extends": 5})
    path, _ = only_problem(child)
    assert path == "extends"


def test_extends_can_switch_a_rule(tmp_path):
    # baseline: decision hedging with cap 0.5; the child picks bandwagon, which has no cap
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "rules": {"decision": {"name": "bandwagon"}}})
    assert load(child).rules.decision["name"] == "bandwagon"


@pytest.mark.parametrize("override, path, lacking, meant", [
    ({"powers": {"chinaa": {"budget": {"investment": 2}}}}, "powers.chinaa", "name", "china"),
    ({"states": {"armenai": {"gdp": 30}}}, "states.armenai", "name, subregion, lat, lon, population", "armenia"),
    ({"organisations": {"eaeu": {"open": False}}}, "organisations.eaeu", "name, kind", "EAEU"),
    ({"corridors": {"middle_corridorr": {"name": "x"}}}, "corridors.middle_corridorr", "market, segments", "middle_corridor"),
    ({"events": {"am_az_peac": {"date": "2026-01-01"}}}, "events.am_az_peac", "type", "am_az_peace"),
    ({"shocks": {"unrestt": {"state": "armenia"}}}, "shocks.unrestt", "type, hazard", "unrest"),
    ({"powers": {"eu": {"budget": {"investment": 1}}}}, "powers.eu", "name", "european_union"),  # the initials of the id
    ({"powers": {"US": {"credibility": 0.2}}}, "powers.US", "name", "united_states"),
])
def test_a_misspelt_id_in_an_extending_file_is_one_problem_naming_the_id_meant(tmp_path, override, path, lacking, meant):
    # it was "powers.chinaa.name: required field is missing" (and five such for a state):
    # the typo added an entry instead of changing one, and nothing said which
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), **override})
    kind = path.split(".")[0].removesuffix("s")
    ident = path.split(".")[1]
    assert only_problem(child) == (path, f"new {kind} '{ident}' lacks {lacking}; did you mean '{meant}'? (to change {meant}, write its id exactly)")


def test_an_entry_written_out_but_for_one_field_is_not_taken_for_a_misspelt_id(tmp_path):
    """A state written in full but for lat was called "new state 'armenia' ... did you
    mean 'turkmenistan'?" (ids alike enough for difflib), hiding the missing field."""
    states = {"armenia": {"name": "Armenia", "subregion": "sc", "lon": 44.5, "gdp": 24, "population": 3},
              "turkmenistan": {"name": "Turkmenistan", "subregion": "ca", "lat": 38, "lon": 58, "gdp": 60, "population": 7}}
    path = write(tmp_path / "s.yaml", {"states": states, "powers": {"russia": {"name": "Russia"}}})
    assert only_problem(path) == ("states.armenia.lat", "required field is missing")


@pytest.mark.parametrize("section, ident, meant", [("events", "am_az_pease", "am_az_peace"), ("shocks", "unrst", "unrest")])
def test_dropping_an_id_the_parent_lacks_is_refused(tmp_path, section, ident, meant):
    # a typo in `id: null` used to validate and leave the entry meant in force
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), section: {ident: None}})
    path, message = only_problem(child)
    assert path == f"{section}.{ident}" and f"did you mean '{meant}'?" in message and "has no" in message


@pytest.mark.parametrize("end", ["2026-01-01", "2027-01-01"])
def test_a_shock_window_that_ends_before_it_starts_is_refused(end):
    # it validated and ran, and the shock could never fire
    path, message = only_problem(BASELINE, ["shocks.unrest.start=2027-01-01", f"shocks.unrest.end={end}"])
    assert path == "shocks.unrest.end" and message == f"{end} is not after start (2027-01-01): the window [start, end) is empty, so the shock could never fire"


def test_a_date_is_shown_as_written_not_as_python_writes_it():
    assert only_problem(BASELINE, ["time.start=2025-01-31"]) == ("time.start", "the start day must be 28 or earlier, so that every step's date exists (got 2025-01-31)")


def test_dropping_an_id_again_down_a_chain_is_allowed(tmp_path):
    write(tmp_path / "mid.yaml", {"extends": str(BASELINE), "events": {"am_az_peace": None}})
    leaf = write(tmp_path / "leaf.yaml", {"extends": "mid.yaml", "events": {"am_az_peace": None}})
    assert load(leaf).events["am_az_peace"] is None


# One mistake of each kind: a null that drops nothing (found while merging), a field, a
# rule's parameter and an id. abm validate took three rounds over them, each mistake mended
# to meet the next.
MISTAKES = {
    "powers": {"china": {"budget": {"investmnt": 1.5}}},
    "rules": {"decision": {"name": "bandwagon", "cap": 0.3}},
    "events": {"eu_summit": {"date": "2026-01-01", "type": "reconciliation", "power": "eu", "state": "armenia", "opinion": 0.1}},
    "shocks": {"leadership_chnage": None},
}


def test_one_pass_reports_a_null_that_drops_nothing_the_fields_and_the_ids(tmp_path, monkeypatch):
    write(tmp_path / "multi.yaml", {"extends": str(BASELINE), **MISTAKES})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load("multi.yaml")
    assert [path for path, _ in info.value.problems] == ["shocks.leadership_chnage", "powers.china.budget.investmnt", "events.eu_summit.power", "rules.decision.cap"]
    assert info.value.source == "multi.yaml"  # the first round named it by its absolute path


def test_a_parents_null_that_drops_nothing_names_the_parent(tmp_path, monkeypatch):
    write(tmp_path / "sub" / "mid.yaml", {"extends": str(BASELINE), "name": "mid", "events": {"am_az_peac": None}})
    write(tmp_path / "leaf.yaml", {"extends": "sub/mid.yaml", "time": {"steps": 2.5}})
    monkeypatch.chdir(tmp_path)
    assert [path for path, _ in problems_of("leaf.yaml")] == ["events.am_az_peac (in sub/mid.yaml)", "time.steps"]


def test_a_parents_own_mistakes_name_the_parent(tmp_path, monkeypatch):
    # reported against the file given, a typo in the file it extends sent the reader to a file without it
    write(tmp_path / "sub" / "mid.yaml", {"extends": str(BASELINE), "sed": 1, "states": {"newland": {"name": "New", "lat": 40, "lon": 45, "gdp": 1, "population": 1}},
                                           "rules": {"decay": {"rate": 0.5}}})
    write(tmp_path / "leaf.yaml", {"extends": "sub/mid.yaml", "rules": {"decay": {"rate": -1}}, "powers": {"china": {"budget": {"investmnt": 1}}}})
    monkeypatch.chdir(tmp_path)
    assert sorted(path for path, _ in problems_of("leaf.yaml")) == ["powers.china.budget.investmnt", "rules.decay.rate", "sed (in sub/mid.yaml)", "states.newland.subregion (in sub/mid.yaml)"]
    with pytest.raises(ScenarioError) as info:  # what --set writes is the command line's, wherever the file has it
        load("leaf.yaml", ["states.newland.gdp=-1", "sed=2"])
    assert sorted(path for path, _ in info.value.problems) == ["powers.china.budget.investmnt", "rules.decay.rate", "sed (from --set)", "sed (in sub/mid.yaml)", "states.newland.gdp (from --set)", "states.newland.subregion (in sub/mid.yaml)"]
    # a type changed here leaves the parent's parameters of the old type: this file's doing
    write(tmp_path / "retyped.yaml", {"extends": str(BASELINE), "events": {"ru_az_crisis": {"type": "election"}}})
    assert {path for path, _ in problems_of("retyped.yaml")} >= {"events.ru_az_crisis.state", "events.ru_az_crisis.opinion"}
    # a null that drops nothing stays the parent's though the id is written again below it
    write(tmp_path / "sub" / "drop.yaml", {"extends": str(BASELINE), "events": {"us_election_2040": None}})
    write(tmp_path / "redo.yaml", {"extends": "sub/drop.yaml", "events": {"us_election_2040": {"date": "2028-11-07", "type": "election", "power": "united_states"}}})
    assert [path for path, _ in problems_of("redo.yaml")] == ["events.us_election_2040 (in sub/drop.yaml)"]


@pytest.mark.parametrize("section, ident", [("states", "turkmenistan"), ("powers", "pakistan"), ("organisations", "SCO"), ("corridors", "northern_route")])
def test_a_null_under_states_powers_organisations_or_corridors_says_it_cannot_take_one_out(tmp_path, section, ident):
    """Only events and shocks can be dropped by an extending file (the rest of the scenario
    names states and powers); such a null was refused as "must be a mapping", as if the
    syntax were wrong, and ODD.md said a power could be taken out that way."""
    path = write(tmp_path / "drop.yaml", {"extends": str(BASELINE), section: {ident: None}})
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert [path for path, _ in info.value.problems] == [f"{section}.{ident}"]
    assert "null drops only events and shocks" in info.value.problems[0][1] and "write a scenario without it" in info.value.problems[0][1]


def test_a_broken_field_holds_back_only_the_checks_that_read_it(tmp_path):
    # with the impossible start set aside, the default start (2025) would put the 2021
    # event before the scenario starts: that check waits; the opinion's unknown power does not
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "time": {"start": "2020-02-30"}, "states": {"armenia": {"opinion": {"eu": 0.2}}},
                                        "events": {"early": {"date": "2021-01-01", "type": "election", "power": "united_states"}}})
    problems = problems_of(child)
    assert [path for path, _ in problems] == ["time.start", "states.armenia.opinion.eu"]
    assert problems[1][1].startswith("unknown power; known: china")


def test_a_broken_required_field_holds_back_every_id_check(tmp_path):
    # a state whose gdp has no default cannot be checked without: its id would go, and every
    # entry naming it would read as naming an unknown state
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "states": {"armenia": {"gdp": "big"}}, "powers": {"china": {"rivals": {"usa": 0.3}}}})
    assert only_problem(child) == ("states.armenia.gdp", "a number is expected, not the text 'big'")


def test_a_renamed_scenario_says_whose_description_it_inherits(tmp_path):
    # it kept the baseline's word for word: a changed scenario's resolved file described the baseline
    base = load(BASELINE).description
    mid = write(tmp_path / "mid.yaml", {"extends": str(BASELINE), "name": "mid"})
    assert load(mid).to_dict()["description"] == f"Extends baseline: {base}"
    assert load(write(tmp_path / "leaf.yaml", {"extends": "mid.yaml", "name": "leaf"})).description == f"Extends mid: Extends baseline: {base}"
    for kept in ({"seed": 3}, {"name": "baseline"}):  # still the baseline by its name
        assert load(write(tmp_path / "same.yaml", {"extends": str(BASELINE), **kept})).description == base
    assert load(write(tmp_path / "own.yaml", {"extends": str(BASELINE), "name": "own", "description": "Its own."})).description == "Its own."


def test_a_new_id_with_its_required_fields_or_unlike_any_id_is_taken_as_new(tmp_path):
    near = write(tmp_path / "near.yaml", {"extends": str(BASELINE), "powers": {"chinaa": {"name": "China A"}}})
    assert load(near).powers["chinaa"].name == "China A"
    far = write(tmp_path / "far.yaml", {"extends": str(BASELINE), "powers": {"zz": {"budget": {"investment": 2}}}})
    assert only_problem(far) == ("powers.zz.name", "required field is missing")


def test_a_number_as_a_new_id_is_a_problem_not_a_crash(tmp_path):
    # the misspelt-id hint compared ids as text: 123 crashed it (a traceback, exit 1)
    numbered = write(tmp_path / "n.yaml", {"extends": str(BASELINE), "states": {123: {"population": 3}}})
    with pytest.raises(ScenarioError) as info:
        load(numbered)
    assert ("states", "a key must be text (got 123)") in info.value.problems  # the mapping whose key is refused; the message names the key


# =========================================================================== --set


def test_set_valid_paths(tiny):
    scn = load(tiny, ["time.steps=12", "powers.p.budget.investment=3", "states.b.neighbours.c.border_open=true", "name=other"])
    assert scn.time.steps == 12
    assert scn.powers["p"].budget.investment == 3.0
    assert scn.states["b"].neighbours["c"].border_open is True
    assert scn.name == "other"


def test_set_values_are_read_as_yaml(tiny):
    scn = load(tiny, ["powers.p.coercion.tools=[bases, energy]", "time.start=2030-01-01", "rules.decision.noise=0.25"])
    assert scn.powers["p"].coercion.tools == ["bases", "energy"]
    assert scn.time.start == dt.date(2030, 1, 1)
    assert scn.rules.decision["noise"] == 0.25


def test_set_a_default_that_is_not_written_in_the_file(tiny):
    assert "offers" not in tiny
    assert load(tiny, ["offers.duration=3"]).offers.duration == 3


def test_set_last_value_wins(tiny):
    assert load(tiny, ["time.steps=5", "time.steps=6"]).time.steps == 6


def test_set_nonexistent_path_suggests(tiny):
    path, msg = only_problem(tiny, ["time.stpes=5"])
    assert path == "time.stpes"
    assert "did you mean 'steps'" in msg


def test_set_nonexistent_id_suggests(tiny):
    path, msg = only_problem(tiny, ["powers.pp.budget.trade=1"])
    assert path == "powers.pp.budget.trade"
    assert "'p'" in msg


def test_set_every_bad_path_is_reported(tiny):
    problems = problems_of(tiny, ["time.stpes=5", "powers.p.budgett.trade=1", "time.steps=4"])
    assert [p for p, _ in problems] == ["time.stpes", "powers.p.budgett.trade"]


def test_set_without_equals_is_an_error(tiny):
    path, msg = only_problem(tiny, ["time.steps"])
    assert "time.steps" in path
    assert "=" in msg


def test_set_value_is_validated(tiny):
    path, _ = only_problem(tiny, ["time.steps=0"])
    assert path == "time.steps"
    path, _ = only_problem(tiny, ["powers.p.credibility=high"])
    assert path == "powers.p.credibility"


def test_a_bad_value_from_set_is_blamed_on_set_not_on_the_file(tmp_path):
    """The file did not write `time.steps: 0`: the message must say where it came from."""
    scn = tmp_path / "w.yaml"
    scn.write_text(yaml.safe_dump(tiny_scenario()))
    with pytest.raises(ScenarioError) as err:
        load(scn, ["time.steps=0"])
    assert err.value.source == "--set" and err.value.problems[0][0] == "time.steps"
    broken = tiny_scenario()
    broken["offers"] = {"duration": 0}
    scn.write_text(yaml.safe_dump(broken))
    with pytest.raises(ScenarioError) as err:
        load(scn, ["time.steps=0"])
    assert err.value.source == str(scn)  # the file's own problem, and the override's named as such
    assert sorted(path for path, _ in err.value.problems) == ["offers.duration", "time.steps (from --set)"]


def test_the_overrides_a_file_was_read_with_are_echoed_on_one_short_line(tmp_path):
    """The header names the --set overrides a file's problems may follow from: a long or
    multi-line value was echoed whole, breaking the one-line message."""
    broken = tiny_scenario()
    broken["offers"] = {"duration": 0}
    scn = write(tmp_path / "b.yaml", broken)
    for value in ("x" * 5000, "first\n  second"):
        with pytest.raises(ScenarioError) as err:
            load(scn, [f"description={value}"])
        assert err.value.problems[0][0] == "offers.duration" and re.search(r" read with --set '?description=", str(err.value))
        assert "\n" not in str(err.value) and len(str(err.value)) < 1000
        assert err.value.listing().count("\n") == 1  # abm validate's: the header, then the one problem
    # several overrides, as they would be typed again: "--set a=1 b=2" typed so fails
    with pytest.raises(ScenarioError) as err:
        load(scn, ["description=two words", "seed=3"])
    assert f"in {scn} read with --set 'description=two words' --set seed=3: " in str(err.value)


def test_set_param_of_a_newly_chosen_rule(tiny):
    # the tiny world decides by threshold, which has no cap; choosing hedging on the
    # same command line makes cap a valid path, in either order
    for sets in (["rules.decision.name=hedging", "rules.decision.cap=0.3"], ["rules.decision.cap=0.3", "rules.decision.name=hedging"]):
        decision = load(tiny, sets).rules.decision
        assert decision["name"] == "hedging"
        assert decision["cap"] == 0.3


def test_set_param_of_a_rule_not_chosen_is_an_error(tiny):
    path, msg = only_problem(tiny, ["rules.decision.cap=0.3"])
    assert path == "rules.decision.cap"
    assert "cap" in msg or "unknown" in msg


def test_set_unknown_rule(tiny):
    path, msg = only_problem(tiny, ["rules.decision.name=hedgin"])
    assert path == "rules.decision.name"
    assert "hedging" in msg and "threshold" in msg


def test_set_switch_to_a_rule_without_the_old_params_on_tiny(tiny):
    # tiny's threshold has only shared params (noise), so switching works
    assert load(tiny, ["rules.decision.name=bandwagon"]).rules.decision["name"] == "bandwagon"


def test_set_switch_rule_on_the_baseline_as_in_the_readme():
    scn = load(BASELINE, ["rules.decision.name=bandwagon", "powers.china.budget.investment=4"])
    assert scn.rules.decision["name"] == "bandwagon"
    assert scn.powers["china"].budget.investment == 4.0


@pytest.mark.parametrize(
    "item, read",
    [
        ("states.armenia.opinion.japan=0.4", lambda s: s.states["armenia"].opinion["japan"]),
        ("states.armenia.ties.trade.japan=0.01", lambda s: s.states["armenia"].ties["trade"]["japan"]),
        ("powers.japan.interests.armenia=0.5", lambda s: s.powers["japan"].interests["armenia"]),
        ("states.armenia.neighbours.turkmenistan.relation=0.1", lambda s: s.states["armenia"].neighbours["turkmenistan"].relation),
        ("events.kg_tj_border_treaty.relation=0.3", lambda s: s.events["kg_tj_border_treaty"]["relation"]),
        ("shocks.leadership_change.opinion_sd=0.1", lambda s: s.shocks["leadership_change"]["opinion_sd"]),
        ("shocks.leadership_change.start=2026-01-01", lambda s: s.shocks["leadership_change"]["start"]),
        ("corridors.tripp_zangezur.segments.4.capacity=3", lambda s: s.corridors["tripp_zangezur"].segments[4].capacity),
    ],
)
def test_set_reaches_settings_the_file_leaves_at_their_defaults(item, read):
    # entries keyed by a known id, an event type's parameters and list elements are
    # settings of the schema even where the file does not write them
    path, _, text = item.partition("=")
    assert read(load(BASELINE, [item])) == yaml.safe_load(text)


def test_set_checks_schema_paths_with_hints(tiny):
    path, msg = only_problem(tiny, ["states.a.opinion.qq=0.1"])
    assert "did you mean 'q'" in msg and "p, q" in msg
    path, msg = only_problem(tiny, ["states.a.neighbours.a.relation=0.1"])  # itself: refused by validation
    assert path == "states.a.neighbours.a" and msg == "a state cannot be its own neighbour"
    path, msg = only_problem(BASELINE, ["corridors.tripp_zangezur.segments.9.capacity=3"])
    assert "no such setting '9'" in msg and "0, 1, 2, 3, 4, 5, 6, 7" in msg
    path, msg = only_problem(BASELINE, ["events.kg_tj_border_treaty.relatoin=0.3"])
    assert "did you mean 'relation'" in msg and "threat_relief" in msg
    path, msg = only_problem(BASELINE, ["generated.n_states=4"])  # not a generated world
    assert "generated is null" in msg


def test_one_pass_reports_the_rules_problems_beside_the_structures(tmp_path):
    """A broken structure (a key typo, a step count of 0) used to hide the rule entries'
    problems, which were checked only once the rest held: five mistakes took three rounds
    of validate to see (newcomer review)."""
    broken = write(tmp_path / "many.yaml", {
        "extends": str(BASELINE), "time": {"steps": 0}, "opinon": 3,
        "rules": {"decision": {"cap": 3}, "coercion": {"strength": -1}, "decay": {"name": "exponentail"}},
    })
    found = dict(problems_of(broken))
    assert set(found) == {"time.steps", "opinon", "rules.decision.cap", "rules.coercion.strength", "rules.decay.name"}, found
    assert "did you mean 'exponential'" in found["rules.decay.name"]


def test_a_rule_entry_broken_in_its_structure_is_reported_once(tmp_path):
    broken = write(tmp_path / "b.yaml", {"extends": str(BASELINE), "opinon": 3, "rules": {"decision": "hedging"}})
    assert sorted(path for path, _ in problems_of(broken)) == ["opinon", "rules.decision"]
    # a mapping pydantic refuses (a key that is no text) is not checked again as a rule
    (tmp_path / "k.yaml").write_text(f"extends: {BASELINE}\nopinon: 3\nrules:\n  decision: {{name: hedging, 1: 2}}\n")
    paths = [path for path, _ in problems_of(tmp_path / "k.yaml")]
    assert paths.count("opinon") == 1 and len([p for p in paths if p.startswith("rules.decision")]) == 1, paths


@pytest.mark.parametrize(("setting", "message"), [
    ("rules.decision.cap=-0.2", "must be in (0, 1] (got -0.2)"),  # both bounds, the open one shown open
    ("rules.decay.rate=3", "must be in [0, 1) (got 3)"),
    ("time.steps=0", "must be in [1, 10000] (got 0)"),
    ("states.armenia.opinion.japan=3", "must be in [-1, 1] (got 3)"),  # a mapping's values
])
def test_a_value_out_of_range_is_told_the_whole_range(setting, message):
    """pydantic names only the bound crossed ("less than or equal to 1"); the allowed
    range is what a user needs to pick a value."""
    path, msg = only_problem(BASELINE, [setting])
    assert (path, msg) == (setting.split("=")[0], message)


@pytest.mark.parametrize(("setting", "message"), [
    ("rules.decision.noise=-1", "must be at least 0 (got -1)"),  # bounded below only: not pydantic's "Input should be greater than or equal to 0"
    ("seed=", "a whole number is expected (got null, an empty value)"),  # YAML's words, not Python's None
    ("states.armenia.gdp=1e400", "a finite number is expected (got infinity: .inf, or a number beyond about 1.8e308)"),
    ("states.armenia.gdp=.nan", "a finite number is expected (got .nan, not a number)"),
    ("states.armenia.needs=", "must be a mapping with keys from: investment, security, trade (got null, an empty value)"),
    ("states.armenia.ties={secruity: {russia: 0.2}}", "must be one of: 'investment', 'security', 'trade' (got 'secruity')"),  # a key of the wrong name, not of the wrong kind
])
def test_a_value_given_is_echoed_in_yamls_words(setting, message):
    assert only_problem(BASELINE, [setting]) == (setting.split("=")[0], message)


@pytest.mark.parametrize(("text", "path"), [("~: 1\n", ""), ("states:\n  armenia:\n    opinion: {1: 0.2}\n", "states.armenia.opinion")])
def test_a_key_that_is_not_text_is_a_problem_of_its_mapping(tmp_path, text, path):
    assert only_problem(write(tmp_path / "k.yaml", f"extends: {BASELINE}\n{text}")) == (path, f"a key must be text (got {'null, an empty value' if '~' in text else 1})")


def test_the_range_told_is_the_tightest_of_an_alias_and_a_fields_own_bounds():
    """A field narrowing a bounded alias (Unit, [0, 1], with gt=0) was told the alias's
    range, which the refused value fits (diff review)."""
    from typing import Annotated

    from pydantic import BaseModel, Field, ValidationError

    from abm.scenario import pydantic_problems
    from abm.units import Unit

    class Narrowed(BaseModel):
        share: Annotated[Unit, Field(gt=0)]
        part: Annotated[Unit, Field(lt=0.5)]

    for data, told in (({"share": 0, "part": 0.1}, "must be in (0, 1] (got 0)"), ({"share": 0.5, "part": 0.7}, "must be in [0, 0.5) (got 0.7)")):
        with pytest.raises(ValidationError) as info:
            Narrowed.model_validate(data)
        assert [msg for _, msg in pydantic_problems(info.value, Narrowed)] == [told]


def test_a_rule_given_by_its_name_alone_is_shown_how_to_write_it():
    path, msg = only_problem(BASELINE, ["rules.decision=hedging"])
    assert path == "rules.decision" and "--set rules.decision.name=hedging" in msg and "{name: hedging}" in msg


def test_a_power_cannot_be_called_other(tmp_path):
    """Its alignment column was the unnamed partners' one: agents.csv kept one of the two
    and the alignment chart drew a band too many (diff review)."""
    raw = yaml.safe_load(BASELINE.read_text())
    raw["powers"]["other"] = raw["powers"].pop("japan")
    for st in raw["states"].values():
        for shares in st.get("ties", {}).values():
            if "japan" in shares:
                shares["other"] = shares.pop("japan")
    problems = dict(problems_of(raw))
    assert "powers.other" in problems


def test_a_regional_format_with_a_leader_is_refused():
    """A leader made Russia a patron of the C6 (a club's bonus, a guarantor) while the
    format's rivalry spill-over, which counts member powers, stayed as it was: the same
    lever gave other effects depending on how it was written (model review)."""
    path, msg = only_problem(BASELINE, ["organisations.CMHS.leader=russia"])
    assert path == "organisations.CMHS.leader" and "organisations.CMHS.powers" in msg


def test_growth_that_overflows_over_the_horizon_is_refused_at_validation():
    """Every rate and the horizon in range, yet 100% freight growth a year for 1,250
    years overflowed a float and crashed the run part-way (model review)."""
    from abm.scenario import with_run_settings

    path, msg = only_problem(BASELINE, ["time.steps=5000", "freight.growth.east_west=1.0"])
    assert path == "freight.growth.east_west" and "shorten the horizon" in msg
    fast = load(BASELINE, ["freight.growth.east_west=1.0"])
    with pytest.raises(ScenarioError) as info:
        with_run_settings(fast, steps=5000)  # --steps, after validation
    assert info.value.problems[0][0] == "time.steps" and "freight.growth.east_west" in info.value.problems[0][1]
    assert load(BASELINE, ["time.steps=10000"]).time.steps == 10000  # the baseline's own rates hold over the longest horizon
    path, _ = only_problem(BASELINE, ["time.steps=5000", "freight.growth.east_west=1.0", "freight.demand.east_west=0"])
    assert path == "freight.growth.east_west"  # the growth factor is computed before it multiplies a demand of 0 (diff review)


def test_a_set_typo_does_not_hide_the_files_problems(tmp_path):
    """A --set whose path does not exist stopped the check before the file was read for
    its own problems (newcomer review): both are reported, each blamed on its source."""
    broken = write(tmp_path / "b.yaml", {"extends": str(BASELINE), "rules": {"decision": {"cap": 3}}})
    with pytest.raises(ScenarioError) as info:
        load(broken, ["time.stpes=4", "seed=2"])
    assert [path for path, _ in info.value.problems] == ["time.stpes (from --set)", "rules.decision.cap"]
    assert info.value.source == str(broken)
    path, msg = only_problem(BASELINE, ["time.stpes=4"])  # a sound file: the command line's problem alone
    assert path == "time.stpes" and "did you mean 'steps'" in msg


def test_set_value_on_a_schema_path_gets_the_field_message():
    path, msg = only_problem(BASELINE, ["states.armenia.opinion.japan=3"])
    assert path == "states.armenia.opinion.japan" and "must be in [-1, 1] (got 3)" in msg


def test_set_event_parameter_of_a_newly_chosen_type():
    scn = load(BASELINE, ["events.kg_tj_border_treaty.damage=0.4", "events.kg_tj_border_treaty.type=border_clash"])
    assert scn.events["kg_tj_border_treaty"]["damage"] == 0.4


def test_set_impossible_date(tiny):
    path, _ = only_problem(tiny, ["time.start=2025-02-30"])
    assert path == "time.start"


@pytest.mark.parametrize("value", ["{name: hedging", "[0.1, 0.2"])
def test_set_an_unclosed_mapping_or_list_is_said_to_be_one(value):
    # it was taken as text, and the advice then nested the text in a rule entry
    assert only_problem(BASELINE, [f"rules.decision={value}"]) == ("rules.decision", f"'{value}' is not a valid YAML mapping or list (write {{key: value}} or [a, b], quoted for the shell)")


# =========================================================================== bad files


def test_missing_file(tmp_path):
    path, msg = only_problem(tmp_path / "nope.yaml")
    assert "not found" in msg and "nope.yaml" in msg


def test_yaml_syntax_error(tmp_path):
    bad = write(tmp_path / "bad.yaml", "name: x\ntime: {steps: 5\n")
    _, msg = only_problem(bad)
    assert "YAML syntax error" in msg
    assert "line" in msg


def test_yaml_must_be_a_mapping(tmp_path):
    bad = write(tmp_path / "list.yaml", "- a\n- b\n")
    _, msg = only_problem(bad)
    assert "mapping" in msg


def test_yaml_tags_are_not_executed(tmp_path):
    bad = write(tmp_path / "evil.yaml", "name: !!python/object/apply:os.system ['echo hacked']\n")
    _, msg = only_problem(bad)
    assert "YAML" in msg


def test_empty_scenario_needs_states_and_powers(tmp_path):
    empty = write(tmp_path / "empty.yaml", "")
    paths = {p for p, _ in problems_of(empty)}
    assert {"states", "powers"} <= paths


def test_unknown_key_with_suggestion(tiny):
    tiny["powers"]["p"]["budgett"] = tiny["powers"]["p"].pop("budget")
    path, msg = only_problem(tiny)
    assert path == "powers.p.budgett"
    assert "did you mean 'budget'" in msg
    assert "credibility" in msg  # and the allowed keys


def test_unknown_top_level_key_with_suggestion(tiny):
    tiny["rulez"] = tiny.pop("rules")
    path, msg = only_problem(tiny)
    assert path == "rulez"
    assert "did you mean 'rules'" in msg


def test_unknown_key_in_a_file_names_the_field(tmp_path):
    f = write(tmp_path / "s.yaml", tiny_scenario(time={"stepz": 4}))
    path, msg = only_problem(f)
    assert path == "time.stepz"
    assert "steps" in msg


def test_wrong_type(tiny):
    tiny["states"]["a"]["gdp"] = "big"
    path, msg = only_problem(tiny)
    assert path == "states.a.gdp"
    assert "number" in msg and "big" in msg


def test_wrong_container_type(tiny):
    tiny["states"]["a"]["neighbours"] = ["b"]
    path, _ = only_problem(tiny)
    assert path == "states.a.neighbours"


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("states", "a", "governance"), 1.5),
        (("states", "a", "opinion", "p"), -2.0),
        (("states", "a", "gdp"), 0.0),
        (("powers", "p", "credibility"), -0.1),
        (("powers", "p", "budget", "trade"), -1.0),
        (("time", "steps"), 0),
        (("time", "step_months"), 13),
    ],
)
def test_out_of_range(tiny, where, value):
    node = tiny
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path, msg = only_problem(tiny)
    assert path == ".".join(where)
    assert str(value).rstrip("0").rstrip(".") in msg or "greater" in msg or "less" in msg


def test_missing_required_field(tiny):
    del tiny["states"]["a"]["gdp"]
    path, msg = only_problem(tiny)
    assert path == "states.a.gdp"
    assert "required" in msg


def test_unknown_rule_in_a_file(tmp_path):
    f = write(tmp_path / "s.yaml", tiny_scenario(rules={"decay": {"name": "exponentail"}}))
    path, msg = only_problem(f)
    assert path == "rules.decay.name"
    for name in ("exponential", "expiry", "linear", "none"):
        assert name in msg


def test_rule_without_a_name(tiny):
    tiny["rules"]["decay"] = {"rate": 0.1}
    path, msg = only_problem(tiny)
    assert path == "rules.decay.name"
    assert "exponential" in msg


def test_bad_rule_parameter_value(tiny):
    tiny["rules"]["decision"] = {"name": "threshold", "noise": -1}
    path, _ = only_problem(tiny)
    assert path == "rules.decision.noise"


def test_rule_name_of_the_wrong_type(tiny):
    tiny["rules"]["decision"] = {"name": ["hedging"]}
    path, _ = only_problem(tiny)
    assert path == "rules.decision.name"


@pytest.mark.parametrize(
    ("edit", "field", "known"),
    [
        (lambda s: s["states"]["a"]["opinion"].update(r=0.1), "states.a.opinion.r", "p"),
        (lambda s: s["states"]["a"]["ties"]["trade"].update(r=0.1), "states.a.ties.trade.r", "q"),
        (lambda s: s["powers"]["p"]["rivals"].update(r=0.1), "powers.p.rivals.r", "q"),
        (lambda s: s["powers"]["p"]["interests"].update(zz=0.1), "powers.p.interests.zz", "c"),
        (lambda s: s["states"]["a"]["neighbours"].update(zz={}), "states.a.neighbours.zz", "b"),
    ],
)
def test_unknown_references(tiny, edit, field, known):
    edit(tiny)
    path, msg = only_problem(tiny)
    assert path == field
    assert "unknown" in msg
    assert known in msg


def test_unknown_reference_suggests_the_closest(tiny):
    tiny["powers"]["p"]["interests"]["bb"] = 0.3
    path, msg = only_problem(tiny)
    assert path == "powers.p.interests.bb"
    assert "did you mean 'b'" in msg


def test_exclusivity_names_a_known_power(tiny):
    tiny["powers"]["p"]["conditions"] = {"exclusivity": ["x"]}
    path, msg = only_problem(tiny)
    assert path == "powers.p.conditions.exclusivity.x"
    assert "unknown power" in msg and "q" in msg


def test_a_state_cannot_be_its_own_neighbour(tiny):
    tiny["states"]["a"]["neighbours"]["a"] = {}
    assert only_problem(tiny) == ("states.a.neighbours.a", "a state cannot be its own neighbour")  # not "unknown", with another state suggested


@pytest.mark.parametrize(("setting", "problem"), [
    ("powers.russia.rivals.russia=0.3", ("powers.russia.rivals.russia", "a power cannot be its own rival")),
    ("powers.russia.conditions.exclusivity=[russia]", ("powers.russia.conditions.exclusivity.russia", "a power cannot be its own excluded rival")),
])
def test_a_power_naming_itself_is_told_so(setting, problem):
    assert only_problem(BASELINE, [setting]) == problem


@pytest.mark.parametrize(("setting", "hint"), [
    ("organisations.EAEU.leader=rusia", "did you mean 'russia'?"),
    ("powers.china.conditions.exclusivity=[united_state]", "did you mean 'united_states'?"),
    ("rules.decision.name=HEDGING", "did you mean 'hedging'?"),  # a name differing in case only
])
def test_a_near_miss_is_given_the_name_it_misses(setting, hint):
    _, msg = only_problem(BASELINE, [setting])
    assert hint in msg


def test_a_misspelt_market_is_given_the_market_it_misses(tmp_path):
    path, msg = only_problem(write(tmp_path / "m.yaml", f"extends: {BASELINE}\nfreight: {{demand: {{east_wst: 3}}}}\n"))
    assert path == "freight.demand.east_wst" and "did you mean 'east_west'?" in msg


def test_every_problem_is_reported_at_once(tiny):
    tiny["states"]["a"]["gdp"] = "big"
    tiny["states"]["b"]["governance"] = 2
    tiny["powers"]["p"]["budgett"] = {}
    tiny["time"]["steps"] = -1
    paths = {p for p, _ in problems_of(tiny)}
    assert {"states.a.gdp", "states.b.governance", "powers.p.budgett", "time.steps"} <= paths


def test_every_reference_problem_is_reported_at_once(tiny):
    tiny["states"]["a"]["opinion"]["r"] = 0.1
    tiny["powers"]["q"]["interests"]["zz"] = 0.5
    tiny["rules"]["decay"] = {"name": "nope"}
    paths = {p for p, _ in problems_of(tiny)}
    assert {"states.a.opinion.r", "powers.q.interests.zz", "rules.decay.name"} <= paths


def test_error_message_is_readable(tiny):
    tiny["states"]["a"]["gdp"] = "big"
    with pytest.raises(ScenarioError) as info:
        load(tiny)
    text = str(info.value)
    assert text.startswith("1 problem")
    assert "states.a.gdp" in text
    assert "Traceback" not in text


def test_impossible_date_in_a_file(tmp_path):
    text = yaml.safe_dump(tiny_scenario()).replace("start: '2025-01-01'", "start: 2025-13-01")
    assert "start: 2025-13-01" in text
    path, msg = only_problem(write(tmp_path / "s.yaml", text))
    assert path == "time.start" or "2025-13-01" in msg


def test_negative_seed_is_a_scenario_error(tiny):
    tiny["seed"] = -1
    path, _ = only_problem(tiny)
    assert path == "seed"


def test_negative_generated_seed_is_a_scenario_error():
    path, _ = only_problem(GENERATED, ["generated.seed=-1"])
    assert path == "generated.seed"


def test_unknown_parameter_of_a_rule_without_parameters(tiny):
    tiny["rules"]["allocation"] = {"name": "interest", "intensity": 1.0}
    path, msg = only_problem(tiny)
    assert path == "rules.allocation.intensity"
    assert not msg.rstrip().endswith(":")
    assert "no parameters" in msg or "none" in msg


def test_generated_must_be_a_mapping(tiny):
    tiny["generated"] = "big"
    path, _ = only_problem(tiny)
    assert path == "generated"


# =========================================================================== switching rules


@pytest.mark.parametrize("rule", ["threshold", "bandwagon", "balance"])
def test_switching_decision_rule_keeps_noise_and_threshold(tmp_path, rule):
    """Rules are compared at equal settings: the baseline's decision noise (0.1, against
    the rules' default 0.05) and threshold survive a switch by --set and by extends."""
    by_set = load(BASELINE, ["rules.decision.threshold=0.2", f"rules.decision.name={rule}"]).rules.decision
    assert by_set["name"] == rule and by_set["noise"] == 0.1 and by_set["threshold"] == 0.2
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "rules": {"decision": {"name": rule}}})
    by_extends = load(child).rules.decision
    assert by_extends["noise"] == 0.1 and "cap" not in by_extends


@pytest.mark.parametrize("entry", [{"name": "hedging", "cap": 0.3}, {"name": "bandwagon"}, {"name": "threshold", "noise": 0.3}, {"cap": 0.3}])
def test_a_rule_entry_resolves_alike_in_a_file_by_set_and_in_a_sweep(tmp_path, entry):
    """A whole rule entry means the same wherever it is written: an ``extends:`` file, a
    ``--set rules.decision={...}`` and a sweep's labelled value give the same rule, so a
    sweep's run is reproduced by hand. (A mapping once replaced the baseline's entry by
    --set, dropping its noise of 0.1 for the rule's default 0.05.)"""
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "rules": {"decision": entry}})
    in_file = load(child).rules.decision
    assert load(BASELINE, [f"rules.decision={json.dumps(entry)}"]).rules.decision == in_file
    assert in_file["noise"] == entry.get("noise", 0.1) and ("cap" in in_file) == (in_file["name"] == "hedging")
    spec = write(tmp_path / "e.yaml", {"name": "e", "scenario": str(BASELINE), "grid": {"rules.decision": {"x": entry}}, "replications": 1, "seed": 1})
    exp = experiment.load(spec)
    (point,) = exp.points
    assert load(exp.bases[point.scenario].raw, list(point.sets)).rules.decision == in_file  # as a sweep's worker builds its run


def test_a_rule_entry_applies_before_the_parameters_set_beside_it(tmp_path):
    """Like a rule's name, a whole entry that names a rule goes first, whatever the order
    of the --set items: threshold has no cap, so a cap beside it is refused, not dropped."""
    for sets in (["rules.decision.cap=0.3", "rules.decision={name: threshold}"], ["rules.decision={name: threshold}", "rules.decision.cap=0.3"]):
        path, message = only_problem(BASELINE, sets)
        assert path == "rules.decision.cap" and "'threshold' has no" in message
    assert load(BASELINE, ["rules.decision.cap=0.3", "rules.decision={name: hedging}"]).rules.decision["cap"] == 0.3
    broken = write(tmp_path / "b.yaml", {"extends": str(BASELINE), "rules": 5})
    for given in ("rules.decision={name: bandwagon}", "rules.decision.name=bandwagon", "rules.decision.cap=0.3"):
        assert problems_of(broken, [given])  # told in words, not an AttributeError


def test_switching_a_rule_restarts_what_it_does_not_carry():
    """hedging's cap does not follow into bandwagon; linear decay's rate is an amount, not
    exponential decay's share, so it starts from its own default."""
    assert "cap" not in load(BASELINE, ["rules.decision.name=bandwagon"]).rules.decision
    assert load(BASELINE, ["rules.decay.name=linear"]).rules.decay == {"name": "linear", "rate": 0.001}
    explicit = load(BASELINE, ["rules.decision.name=threshold", "rules.decision.noise=0.3"]).rules.decision
    assert explicit["noise"] == 0.3


def test_switching_between_share_decays_keeps_the_rate(tmp_path):
    """Exponential and expiry decay both read ``rate`` as a share lost per step: a switch
    between them compares the two rules at the parent's rate, not at the default."""
    assert load(BASELINE, ["rules.decay.rate=0.05", "rules.decay.name=expiry"]).rules.decay == {"name": "expiry", "rate": 0.05}
    parent = write(tmp_path / "p.yaml", {"extends": str(BASELINE), "rules": {"decay": {"name": "expiry", "rate": 0.07}}})
    child = write(tmp_path / "c.yaml", {"extends": str(parent), "rules": {"decay": {"name": "exponential"}}})
    assert load(child).rules.decay == {"name": "exponential", "rate": 0.07}
    assert load(child, ["rules.decay.name=linear"]).rules.decay == {"name": "linear", "rate": 0.001}


@pytest.mark.parametrize("family, name, param", [("opinion", "static", "rate"), ("opinion", "static", "harm"), ("decay", "none", "rate")])
def test_a_parameter_the_chosen_rule_ignores_is_refused(tiny, tmp_path, capsys, family, name, param):
    """Static opinion and no decay read no parameter: a rate set for them would be
    silently ignored, in a file, by --set, or as a whole entry."""
    tiny["rules"][family] = {"name": name, param: 0.05}
    path, msg = only_problem(tiny)
    assert path == f"rules.{family}.{param}"
    assert msg == f"the {family} rule '{name}' has no parameter '{param}'; it takes none"
    path, msg = only_problem(BASELINE, [f"rules.{family}.name={name}", f"rules.{family}.{param}=0.05"])
    assert path == f"rules.{family}.{param}" and f"the {family} rule '{name}' has no such parameter" in msg
    path, _ = only_problem(BASELINE, [f"rules.{family}={{name: {name}, {param}: 0.05}}"])
    assert path == f"rules.{family}.{param}"
    code, err = cli_exit(capsys, "validate", BASELINE, "--set", f"rules.{family}.name={name}", "--set", f"rules.{family}.{param}=0.05")
    assert code == 2 and f"rules.{family}.{param}" in err


def test_a_switch_drops_the_base_parameters_the_new_rule_lacks(tmp_path):
    """The baseline's opinion rate and decay rate are the baseline's rules' settings: a
    switch to static opinion or no decay drops them, by --set and by extends; the same
    parameter written beside the new rule in the child file is the user's, and refused."""
    scn = load(BASELINE, ["rules.opinion.name=static", "rules.decay.name=none"])
    assert scn.rules.opinion == {"name": "static"} and scn.rules.decay == {"name": "none"}
    child = write(tmp_path / "c.yaml", {"extends": str(BASELINE), "rules": {"opinion": {"name": "static"}, "decay": {"name": "none"}}})
    assert load(child).rules.opinion == {"name": "static"}
    child = write(tmp_path / "d.yaml", {"extends": str(BASELINE), "rules": {"decay": {"name": "none", "rate": 0.02}}})
    assert only_problem(child)[0] == "rules.decay.rate"


def test_a_parameter_of_another_rule_is_refused_naming_what_the_rule_takes(tiny):
    tiny["rules"]["decision"] = {"name": "hedging", "bonus": 0.2}
    path, msg = only_problem(tiny)
    assert path == "rules.decision.bonus"
    assert msg == "the decision rule 'hedging' has no parameter 'bonus'; it takes threshold, noise, cap"


def test_an_unknown_key_of_an_event_or_shock_is_told_its_timing_type_and_parameters(tiny):
    # "unknown key; allowed: power, turn, ..." left out date and type, which the entry may hold
    tiny["events"] = {"x": {"date": "2026-01-01", "type": "election", "power": "p", "magntude": 1}, "y": {"dtae": "2026-01-01", "type": "election", "power": "p"}}
    tiny["shocks"] = {"z": {"type": "unrest", "hazard": 0.1, "ened": "2027-01-01", "state": "a"}}
    assert problems_of(tiny) == [("events.x.magntude", "unknown key; allowed: type, date, power, turn, budget_factor, credibility_loss"),
                                 ("events.y.dtae", "unknown key; did you mean 'date'? allowed: type, date, power, turn, budget_factor, credibility_loss"),
                                 ("events.y.date", "required field is missing"),
                                 ("shocks.z.ened", "unknown key; did you mean 'end'? allowed: type, hazard, start, end, state, threat, governance")]
    tiny["events"] = {"x": {"date": "2000-01-01", "type": "electoin", "power": "p"}}  # an unknown type hides no other problem
    assert [path for path, _ in problems_of({**tiny, "shocks": {}})] == ["events.x.date", "events.x.type"]


def test_a_shock_whose_window_ends_before_the_start_is_refused(tiny):
    # it was accepted and never fired, without a word; an event dated before the start is refused
    tiny["shocks"] = {"z": {"type": "unrest", "hazard": 1.0, "end": str(tiny["time"]["start"]), "state": "a"}}
    path, msg = only_problem(tiny)
    assert path == "shocks.z.end" and msg.endswith("the shock could never fire")
    tiny["shocks"]["z"]["end"] = str(dt.date.fromisoformat(str(tiny["time"]["start"])) + dt.timedelta(days=1))
    assert load(tiny).shocks["z"]["end"]


@pytest.mark.parametrize("change", [{"type": "budget_change", "power": "p", "factor": 2, "domains": ["trade", "trade"]},
                                    {"type": "new_money", "power": "p", "amount": 2, "domains": ["trade", "trade"]},
                                    {"type": "strike", "nodes": ["a", "a"]}, {"type": "route_risk", "nodes": ["a", "a"], "risk": 0.5},
                                    {"type": "withdrawal", "power": "p", "organisations": ["o", "o"]}], ids=lambda c: c["type"])
def test_an_entry_listed_twice_in_an_event_is_refused(tiny, change):
    # a factor applied once per listing: [trade, trade] doubled China's trade twice
    field = next(key for key, value in change.items() if isinstance(value, list))
    tiny["events"] = {"x": {"date": str(tiny["time"]["start"]), **change}}
    path, msg = problems_of(tiny)[0]
    assert (path, msg.endswith("is listed twice; list each once")) == (f"events.x.{field}", True)


def test_carried_parameters_are_parameters_of_their_rule():
    from abm.rules import registry

    for family in registry.FAMILIES:
        for name, cls in registry.REGISTRY[family].items():
            assert set(cls.carried) <= set(cls.Params.model_fields), f"{family}.{name}"


# =========================================================================== what run and compare refuse, validate refuses


def cli_exit(capsys, *args) -> tuple[int, str]:
    """``abm ARGS`` in this process: its exit code and what it printed to stderr."""
    from abm import cli

    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("source", [BASELINE, GENERATED, "tiny"])
def test_metric_names_are_the_models_columns(source, tiny):
    from abm.model import RegionModel

    scn = load(tiny if source == "tiny" else source)
    assert scn.metric_names() == list(RegionModel(scn, rng=0).datacollector.model_reporters)


@pytest.mark.parametrize("change", ["computed only", "declared only", "order"])
def test_a_metric_added_to_the_model_but_not_declared_is_refused_in_words(change, monkeypatch):
    """A metric computed by RegionModel.measure and not declared in Scenario.metric_columns
    was written by abm run and called unknown by sweeps; the reverse was left out without
    a word. Whoever adds a metric is told at once, naming the columns."""
    from abm.model import RegionModel

    measure = RegionModel.measure

    def changed(model):
        measure(model)
        if change == "computed only":
            model.metrics["patron_concentration"] = 0.0
        elif change == "declared only":
            del model.metrics["polarization"]
        else:
            model.metrics = dict(reversed(model.metrics.items()))

    monkeypatch.setattr(RegionModel, "measure", changed)
    said = {"computed only": r"computed only: \['patron_concentration'\]", "declared only": r"declared only: \['polarization'\]", "order": "the same columns in another order"}[change]
    with pytest.raises(RuntimeError, match=said):
        RegionModel(load(BASELINE), rng=0)


@pytest.mark.parametrize("extra", [1, -1])
def test_a_per_state_column_computed_but_not_declared_is_refused_in_words(extra, monkeypatch):
    """A per-state column declared in state_columns and not computed by state_table made
    the run fail at its end with an IndexError and no agents.csv; one computed and not
    declared was dropped without a word."""
    from abm import metrics
    from abm.model import RegionModel

    table = metrics.state_table

    def changed(*args):
        values = table(*args)
        return np.concatenate([values, values[:, :1]], axis=1) if extra > 0 else values[:, :-1]

    monkeypatch.setattr(metrics, "state_table", changed)
    declared = len(metrics.state_columns(list(load(BASELINE).powers)))
    with pytest.raises(RuntimeError, match=f"state_table computes {declared + extra} per-state columns where abm.scenario.state_columns declares {declared}"):
        RegionModel(load(BASELINE), rng=0)


def test_watch_names_known_metrics(tiny, tmp_path, capsys):
    tiny["watch"] = ["fragmentation", "fragmentaton"]
    path, msg = only_problem(tiny)
    assert path == "watch.1" and "did you mean 'fragmentation'" in msg
    code, err = cli_exit(capsys, "validate", write(tmp_path / "s.yaml", tiny))
    assert code == 2 and "watch.1: unknown metric 'fragmentaton'" in err
    tiny["watch"] = ["fragmentation_north", "influence_q"]  # per subregion and per power
    assert load(tiny).watch == tiny["watch"]
    # a misspelt power lists its kind's columns first, which the list of every metric, cut, could hide
    tiny["watch"] = ["influence_usa"]
    path, msg = only_problem(tiny)
    assert msg.endswith("its kind here: influence_p, influence_q"), msg


@pytest.mark.parametrize("item", ["seed=true", "time.steps=true", "offers.duration=true", "offers.max_targets=false", "powers.p.credibility=true", "states.a.lat=false"])
def test_true_or_false_is_not_a_number(tiny, item):
    # pydantic reads true as 1: seed=true ran seed 1, time.steps=true one step
    path, msg = only_problem(tiny, [item])
    assert path == item.partition("=")[0] and "not true or false" in msg


def test_true_or_false_is_not_a_number_in_events_and_generated_worlds():
    path, msg = only_problem(BASELINE, ["events.kg_tj_border_treaty.relation=true"])
    assert path == "events.kg_tj_border_treaty.relation" and "not true or false" in msg
    path, msg = only_problem(GENERATED, ["generated.n_states=true"])
    assert path == "generated.n_states" and "not true or false" in msg


@pytest.mark.parametrize("item", ["rules.membership.every=true", "rules.decision.noise=false", "rules.membership.freeze=false"])
def test_true_or_false_is_not_a_number_in_rule_parameters(item):
    # membership every=true reviewed every step; the baseline leaves membership to its default rule
    path, msg = only_problem(BASELINE, [item])
    assert path == item.partition("=")[0] and "not true or false" in msg


def test_a_rule_parameter_can_be_set_where_the_file_leaves_the_rule_to_its_default(tiny):
    # it lost the default's name: "rules.membership.name: required"
    assert load(BASELINE, ["rules.membership.every=3"]).rules.membership["every"] == 3
    del tiny["rules"]["decision"]
    assert load(tiny, ["rules.decision.noise=0.2"]).rules.decision == {"name": "threshold", "threshold": 0.0, "noise": 0.2}


def test_a_whole_number_written_as_a_float_is_taken(tiny):
    assert load(tiny, ["offers.duration=8.0"]).offers.duration == 8  # as a posterior's draw sets it


def test_yes_no_on_and_off_are_text_as_in_yaml_1_2(tiny):
    # YAML 1.1 read them as booleans: "name: Input should be a valid string (got True)"
    assert load(tiny, ["name=yes"]).name == "yes"
    assert load(tiny, ["name=off"]).name == "off"
    path, msg = only_problem(tiny, ["rules.decision.name=on"])
    assert path == "rules.decision.name" and "unknown decision rule 'on'" in msg


@pytest.mark.parametrize("where, text, message", [
    ("seed", "'5'", "a number is expected, not the text '5'; remove the quotes"),
    ("time.steps", '"12"', "a number is expected, not the text '12'; remove the quotes"),
    ("time.steps", "1_2", "a number is expected, not the text '1_2'; write it without '_' (YAML 1.2 reads it as text)"),
    ("powers.p.budget.trade", "'1e1'", "a number is expected, not the text '1e1'; remove the quotes"),
    ("states.a.lat", "north", "a number is expected, not the text 'north'"),
    ("rules.decision.noise", "'0.4'", "a number is expected, not the text '0.4'; remove the quotes"),
    ("states.a.neighbours.b.border_open", "no", "true or false is expected, not the text 'no'"),
    ("states.a.neighbours.b.border_open", "1", "true or false is expected here (got 1)"),
])
def test_text_is_not_taken_for_a_number_or_a_boolean(tiny, tmp_path, where, text, message):
    # pydantic's lax mode converted "0.4" and 1_2 (text to the YAML reader) to numbers, and 'no' to false
    assert only_problem(tiny, [f"{where}={text}"]) == (where, message)
    keys = where.split(".")
    node = tiny
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = "VALUE"
    path = write(tmp_path / "s.yaml", yaml.safe_dump(tiny).replace("VALUE", text))
    assert only_problem(path) == (where, message)


@pytest.mark.parametrize("text, got", [("2026", "2026"), ("0", "0"), ("2031-01", "'2031-01'"), ("'2026/01/01'", "'2026/01/01'"), ("true", "true")])
def test_a_date_must_be_written_as_a_date(tiny, text, got):
    # pydantic read 2026 as seconds since 1970 and refused it in words about datetimes,
    # took 0 as 1970-01-01, and called 2031-01 "too short"
    expected = f"a date written YYYY-MM-DD is expected, e.g. 2030-01-01 (got {got})"
    assert only_problem(tiny, [f"time.start={text}"]) == ("time.start", expected)
    value = yaml.safe_load(f"v: {text}")["v"]
    tiny["events"] = {"e": {"date": value, "type": "unrest"}}
    tiny["shocks"] = {"s": {"type": "unrest", "hazard": 0.1, "start": value}}
    assert sorted(problems_of(tiny)) == [("events.e.date", expected), ("shocks.s.start", expected)]
    tiny["events"]["e"]["date"] = tiny["shocks"]["s"]["start"] = "2025-06-01"  # quoted, it is still a date
    assert load(tiny).late_events() == []


def test_numbers_are_read_as_yaml_1_2_reads_them(tiny, tmp_path):
    # PyYAML's YAML 1.1 read seed=010 as octal 8 and 1:30 as 90 (base 60)
    assert load(tiny, ["seed=010"]).seed == 10
    assert load(tiny, ["name=1:30"]).name == "1:30"
    path, msg = only_problem(tiny, ["time.steps=1:30"])
    assert path == "time.steps" and "'1:30'" in msg
    assert load(tiny, ["seed=0o17", "time.steps=0x1F", "powers.p.budget.trade=1e1"]).to_dict() == load(tiny, ["seed=15", "time.steps=31", "powers.p.budget.trade=10.0"]).to_dict()
    tiny["seed"] = "SEED"
    text = yaml.safe_dump(tiny).replace("seed: SEED", "seed: 010")
    assert load(write(tmp_path / "s.yaml", text)).seed == 10


def test_a_neighbour_pair_declared_on_both_sides_must_agree(tiny):
    # the second declaration was silently ignored: the first in scenario order won
    path, msg = only_problem(tiny, ["states.b.neighbours.a.relation=0.5"])
    assert path == "states.b.neighbours.a" and "states.a.neighbours.b" in msg and "relation 0.2" in msg
    alike = load(tiny, ["states.b.neighbours.a={relation: 0.2, border_open: true, trade: 1.0}"])
    assert alike.states["b"].neighbours["a"] == alike.states["a"].neighbours["b"]


def test_an_event_after_the_end_is_a_warning_not_an_error(tiny, tmp_path, capsys):
    # refusing it would refuse a scenario that an extending one runs for longer
    tiny["events"] = {"late": {"date": "2205-01-01", "type": "unrest", "state": "a"}, "soon": {"date": "2025-06-01", "type": "unrest"}}
    tiny["shocks"] = {"later": {"type": "unrest", "hazard": 0.5, "start": "2027-01-01"}}
    scn = load(tiny)  # 8 quarters: the run ends 2027-01-01
    assert scn.late_events() == [
        "events.late: dated 2205-01-01, after the run's end 2027-01-01; it will not fire",
        "shocks.later: starts 2027-01-01, at the run's end 2027-01-01; it will not fire",
    ]
    assert scn.late_events(steps=12) == ["events.late: dated 2205-01-01, after the run's end 2028-01-01; it will not fire"]
    tiny["events"]["cut_off"] = {"date": "2026-06-01", "type": "unrest"}  # a run cut short is warned about what it cuts off
    assert [line.split(":")[0] for line in load(tiny).late_events(steps=4)] == ["events.late", "events.cut_off", "shocks.later"]
    path = write(tmp_path / "s.yaml", tiny)
    code, err = cli_exit(capsys, "validate", path)
    assert code == 0 and err.splitlines() == [f"warning: {line}" for line in scn.late_events()]
    code, err = cli_exit(capsys, "run", path, "--steps", 2, "--no-charts", "--out", tmp_path / "out")
    assert code == 0 and err.splitlines() == [f"warning: {line}" for line in load(path).late_events(steps=2)]


def test_a_long_text_where_a_number_belongs_is_quoted_once():
    with pytest.raises(ScenarioError) as info:
        load(BASELINE, ['seed="' + "x" * 80 + '"'])
    (path, message), = info.value.problems
    assert path == "seed" and message.count("xxx...") == 1 and "(got" not in message


def test_in_force_is_the_last_step_on_or_before_a_date_and_none_outside_the_run():
    steps = ["2025-01-01", "2025-04-01", "2025-07-01"]
    assert [in_force(steps, dt.date.fromisoformat(d)) for d in ("2025-01-01", "2025-03-31", "2025-04-01", "2025-07-01")] == [0, 0, 1, 2]
    assert in_force(steps, dt.date(2024, 12, 31)) == -1 and in_force(steps, dt.date(2025, 7, 2)) == -1
    assert in_force(pd.to_datetime(steps), dt.date(2025, 5, 1)) == 1  # timestamps as compare's series hold them
    assert in_force([], dt.date(2025, 1, 1)) == -1


@pytest.mark.parametrize("item, problem", [
    ("seed=42.5", ("seed", "a whole number is expected (got 42.5)")),
    ("time.steps=1e30", ("time.steps", "must be in [1, 10000] (got 1e+30)")),  # not "Unable to parse input string"
    ("metrics.blocs_method=louvian", ("metrics.blocs_method", "must be one of: 'louvain', 'single_linkage', 'main_patron' (got 'louvian')")),
    ("name=[a, b]", ("name", "text is expected (got a list)")),
    ("watch=fragmentation", ("watch", "a list is expected (got 'fragmentation')")),
    ("events.am_az_peace=5", ("events.am_az_peace", "a mapping is expected (got 5)")),
    ("states.armenia.lat=1e400", ("states.armenia.lat", "a finite number is expected (got infinity: .inf, or a number beyond about 1.8e308)")),
    ("time.start=2025-02-30", ("time.start", "no such day in the calendar (got '2025-02-30')")),
    ("corridors.tripp_zangezur.segments=[]", ("corridors.tripp_zangezur.segments", "must not be empty")),
    ("events.am_az_peace.states=[armenia]", ("events.am_az_peace.states", "must have at least 2 items, not 1")),
])
def test_pydantics_common_messages_read_in_the_house_style(item, problem):
    # they came through as pydantic words them: "Input should be a valid integer, got a
    # number with a fractional part (got 42.5)"
    assert only_problem(BASELINE, [item]) == problem


def test_a_value_where_a_mapping_belongs_is_told_the_keys_not_a_class_name():
    """pydantic says 'a valid dictionary or instance of DomainValues': the class is ours,
    the reader wants the keys."""
    for setting, keys in (("powers.united_states.budget=1", "investment, security, trade"), ("time=3", "start, steps, step_months")):
        with pytest.raises(ScenarioError) as caught:
            load(BASELINE, [setting])
        message = caught.value.listing()
        assert f"must be a mapping with keys from: {keys}" in message and "instance of" not in message


def test_a_union_members_errors_read_as_one_problem_in_words():
    """pydantic reports a value of a union type once per member, its type tag in the path."""
    from pydantic import BaseModel

    from abm.scenario import _without_members

    class Holder(BaseModel):
        a: list[str] | list[int] | dict[str, str]
        states: dict[str, int]

    def err(*loc, msg="m"):
        return {"loc": loc, "msg": msg, "type": "t", "input": 5}

    assert _without_members([err("a", "list[str]"), err("a", "dict[str,str]")], Holder) == [{**err("a"), "type": "union", "msg": "expected a list or a mapping"}]
    assert _without_members([err("a", "list[str]"), err("a", "list[int]")], Holder)[0]["msg"] == "expected a list"  # not "expected  or a list"
    assert _without_members([err("a", "list[str]", 0, msg="not text"), err("a", "literal['all']")], Holder) == [err("a", 0, msg="not text")]  # given as a list: its item's error
    assert _without_members([err("states", "x", "[key]")], Holder) == [err("states", "x", "[key]")]  # a mapping's key is no member
    assert _without_members([err("states", "int"), err("states", "na[me")], Holder) == [err("states", "int"), err("states", "na[me")]  # nor an id that looks like a tag


def test_a_key_that_looks_like_a_type_tag_is_named_as_written(tmp_path):
    """pydantic tags a union member's errors with its type (``int``, ``list[str]``); a key
    the user wrote in that shape, in a scenario that has no union, is no tag: it was
    dropped from the path (an IndexError at the top level; 'states.armenia: expected
    na[me or a whole number' below it)."""
    for key in ("na[me", "int"):
        source = write(tmp_path / "s.yaml", f"extends: {BASELINE}\n{key}: 1\n")
        assert only_problem(source)[0] == key
        source = write(tmp_path / "s.yaml", f"extends: {BASELINE}\nstates:\n  armenia:\n    {key}: 1\n")
        path, message = only_problem(source)
        assert path == f"states.armenia.{key}" and message.startswith("unknown key;"), message


def test_a_run_that_would_end_after_the_year_9999_is_refused_by_its_field():
    """A run ending past the calendar's last year stopped with a traceback (a date of year
    10001) in run, validate, compare and sweep; --steps goes through the same rule."""
    generated = BASELINE.parent / "generated.yaml"  # no dated events, whose own checks caught the baseline's case
    message = "a run of 10 quarters from 9998-01-01 would end after the year 9999, the last a date can hold; start earlier or run fewer steps (got 10)"
    assert only_problem(generated, ["time.start=9998-01-01", "time.steps=10"]) == ("time.steps", message)
    assert load(generated, ["time.start=9998-01-01", "time.steps=7"]).date(7) == dt.date(9999, 10, 1)  # the last quarter that fits
    with pytest.raises(ScenarioError) as caught:
        with_run_settings(load(generated, ["time.start=9998-01-01", "time.steps=4"]), steps=10)
    assert caught.value.problems == [("time.steps", message)]


@pytest.mark.parametrize("section, ident", [("states", ""), ("states", "a.b"), ("powers", "p,q"), ("organisations", "C5 plus"), ("corridors", "x/y")])
def test_an_id_that_cannot_name_a_column_or_a_set_path_is_refused(tmp_path, section, ident):
    """An empty state id ran to a blank 'state' in agents.csv, a power 'p,q' to quoted
    columns, and a dot made an id that --set could not reach."""
    raw = yaml.safe_load(BASELINE.read_text())
    raw[section][ident] = raw[section].pop(next(iter(raw[section])))
    path, message = only_problem(write(tmp_path / "s.yaml", raw))
    assert path == section and message.startswith("an id of 1-100 letters, digits, '_' or '-'") and f"got '{ident}'" in message


def test_the_calendar_check_holds_for_the_default_number_of_steps(tmp_path):
    """pydantic does not validate defaults, so a late start with time.steps left at 60
    ended in a traceback (year 10005 is out of range) in validate and run."""
    source = write(tmp_path / "s.yaml", {"states": {"a": {"name": "A", "subregion": "r", "lat": 40, "lon": 45, "gdp": 10, "population": 1}},
                                         "powers": {"p": {"name": "P"}}, "time": {"start": "9990-01-01"}})
    path, message = only_problem(source)
    assert path == "time.steps" and message.startswith("a run of 60 quarters from 9990-01-01 would end after the year 9999")


@pytest.mark.parametrize("settings, says", [
    (["states.armenia.gdp=1e-310"], "must be in [0.001, 1000000000]"),
    (["states.armenia.gdp=0.002", "states.armenia.gdp_growth=-0.2", "time.steps=400"], "-0.2 a year for the 100 years of time.steps shrinks GDP 0.002 to about 4.1e-13, under 0.001"),
    (["states.armenia.gdp_growth=0.3", "time.steps=4000"], "0.3 a year for the 1000 years of time.steps grows it to about 1e115, past 1e+100"),  # the other way: past float range
])  # fmt: skip
def test_a_gdp_too_small_for_the_arithmetic_is_refused(settings, says):
    """A GDP of 1e-310 (or one shrinking towards it) passed validation and ran to tables of
    NaN and inf with exit 0: trade and offers are read against GDP."""
    path, message = only_problem(BASELINE, settings)
    assert path.startswith("states.armenia.gdp") and says in message, message
    assert load(BASELINE, ["states.armenia.gdp=0.002", "states.armenia.gdp_growth=-0.2", "time.steps=8"]).states["armenia"].gdp == 0.002
    result = run(load(BASELINE, ["states.armenia.gdp=0.001", "time.steps=8"]), seed=0)  # at the floor the tables are numbers
    for frame in (result.model, result.agents, result.relations):
        assert np.isfinite(frame.select_dtypes("number").to_numpy(dtype=float)).all()


@pytest.mark.parametrize("settings, problem", [
    (["organisations.EAEU.excludes=[russia]"], ("organisations.EAEU.excludes.russia", "the organisation's own leader; an organisation cannot exclude its patrons")),
    (["organisations.CMHS.powers=[united_states]", "organisations.CMHS.excludes=[united_states]"], ("organisations.CMHS.excludes.united_states", "the organisation's own member power; an organisation cannot exclude its patrons")),
    (["events.ru_az_crisis={date: 2026-01-01, type: sanctions, by: russia, target: russia}"], ("events.ru_az_crisis.target", "'russia' is the power that sanctions; a power cannot sanction itself")),
    (["events.az_joins_c6={date: 2026-01-01, type: power_joins, power: european_union, organisation: EAEU}"],
     ("events.az_joins_c6.power", "EAEU excludes european_union (organisations.EAEU.excludes): its offers would gain the club's bonus and cost its obligation at once")),
])
def test_an_organisation_or_a_sanction_turned_on_itself_is_refused(settings, problem):
    """All validated: the EAEU excluding Russia gave Russia's offers the club's bonus and
    its obligation at once, and a power sanctioned itself (found by a bad-input audit); a
    power joining a club that excludes it did the first during the run (found by an audit
    of the organisations against the ODD)."""
    assert only_problem(BASELINE, settings) == problem


@pytest.mark.parametrize("settings, problem", [
    (["events.ru_az_crisis={date: 2026-01-01, type: sanctions, by: russia, target: armnia}"], ("events.ru_az_crisis.target", "unknown target 'armnia'; did you mean 'armenia'? known: ")),
    (["events.ru_az_crisis={date: 2026-01-01, type: sanctions, by: russia, target: armenia, hazard: 0.1}"], ("events.ru_az_crisis.hazard", "unknown key; 'hazard' times a shock, which goes under shocks:; allowed: type, date, ")),
    (["events.ru_az_crisis={date: 2026-01-01, type: unrest, state: armenia, start: 2026-01-01}"], ("events.ru_az_crisis.start", "unknown key; 'start' times a shock, which goes under shocks:; did you mean 'state'? allowed: ")),
    (["shocks.unrest={type: unrest, hazard: 0.1, date: 2026-01-01, state: armenia}"], ("shocks.unrest.date", "unknown key; 'date' times a dated event, which goes under events:; did you mean 'state'? allowed: type, hazard, ")),
])  # fmt: skip
def test_an_event_written_as_the_other_kind_or_aimed_at_a_misspelt_target_says_what_was_meant(settings, problem):
    """A misspelt target's hint was cut off: the list of every state, node and power came
    first. A hazard on a dated event (or a date on a shock) was only an unknown key."""
    path, message = only_problem(BASELINE, settings)
    assert path == problem[0] and message.startswith(problem[1]), message


@pytest.mark.parametrize("setting, path, problems", [
    ("states.armenia={gdp: 30}", "states.armenia", 1),  # it was "new state 'armenia' lacks ...; did you mean 'turkmenistan'?"
    ("powers.russia={budget: {investment: 2}}", "powers.russia", 2),  # with the missing name, which is true
])
def test_an_entry_given_whole_with_set_says_it_replaced_the_files(setting, path, problems):
    found = problems_of(BASELINE, [setting])
    key = setting.split("{")[1].split(":")[0]
    assert len(found) == problems and (path, f"--set gave the whole entry, which replaces the file's; to change one key, write {path}.<key>=<value>") in found, found
    assert not any("did you mean" in message for _, message in found)
    assert load(BASELINE, [f"{path}.{key}=30" if key == "gdp" else f"{path}.budget.investment=2"])  # the way it points to applies


LABEL_VALUES = {"name": "renamed", "description": "another text", "watch": ["integration"], "lat": 1.5, "lon": 2.5, "population": 0.7, "color": "#123456"}


@pytest.mark.parametrize("label", scenario.LABELS)
def test_a_setting_a_sweep_refuses_as_a_label_changes_no_run(label):
    """Every path a sweep refuses as a mere label (scenario.LABELS) gives the same run,
    table for table, whatever it holds: otherwise the refusal would hide an effect."""
    base = load(BASELINE)
    ids = {"states": next(iter(base.states)), "powers": next(iter(base.powers)), "organisations": next(iter(base.organisations)), "corridors": next(iter(base.corridors))}
    parts = label.split(".")
    path = ".".join(ids[parts[0]] if p == "*" else p for p in parts)
    changed = load(base, [f"{path}={json.dumps(LABEL_VALUES[parts[-1]])}"])
    assert changed.to_dict() != base.to_dict()
    for seed in (0, 1):
        before, after = run(base, seed=seed, steps=12), run(changed, seed=seed, steps=12)
        for table in ("model", "agents", "coercions", "events", "relations"):
            pd.testing.assert_frame_equal(getattr(before, table), getattr(after, table))
    assert scenario.labels_only(path) is not None and scenario.labels_only(f"{path}.x") is None


@pytest.mark.parametrize("setting, path", [
    ("states.armenia.memberships=[CSTO, EAEU, CSTO]", "states.armenia.memberships"),
    ("states.armenia.bases=[russia, russia]", "states.armenia.bases"),
    ("powers.russia.coercion.tools=[bases, bases]", "powers.russia.coercion.tools"),
    ("organisations.EAEU.observers=[uzbekistan, uzbekistan]", "organisations.EAEU.observers"),
    ("watch=[integration, integration]", "watch"),
])
def test_an_id_listed_twice_is_refused(setting, path):
    """A list of ids is read as a set: a repeat ran as one entry, and was often a typo
    for another id."""
    assert only_problem(BASELINE, [setting]) == (path, f"'{setting.split('[')[1].split(',')[0]}' is listed twice; list each once")


@pytest.mark.parametrize("value", ['""', "south caucasus", "a/b"])
def test_a_subregion_that_cannot_end_a_metric_name_is_refused(value):
    """A subregion names metrics (fragmentation_<subregion>) and, through summaries, files:
    an empty one made the metric fragmentation_."""
    path, message = only_problem(BASELINE, [f"states.armenia.subregion={value}"])
    assert path == "states.armenia.subregion" and message.startswith("1-100 letters, digits, '_', '.' or '-' (it ends metric names")


@pytest.mark.parametrize("name", [".x", "a/b", "tab\there", "x" * 101])
def test_a_name_that_cannot_name_a_folder_is_told_why_within_the_line(name):
    # the reason came after 200 characters of explanation, and the line was cut before it
    with pytest.raises(ScenarioError) as info:
        load(BASELINE, [f"name={json.dumps(name)}"])
    assert "no '/', '\\' or control characters, not starting with '.', 1-100 characters, at most 200 bytes in UTF-8" in str(info.value)


def test_a_check_of_a_whole_mapping_is_reported_at_that_mapping_in_its_own_words():
    """A rule's check of its parameters' order was reported at 'rules.membership.' and,
    like the check of a state's tie shares, ended in a noisy '(got a mapping)'."""
    assert only_problem(BASELINE, ["rules.membership.freeze=0.5"]) == ("rules.membership", "freeze (0.5) must lie between leave (-0.2) and join (0.05)")
    path, message = only_problem(BASELINE, ["states.armenia.ties.trade.russia=0.99"])
    assert path == "states.armenia.ties" and message.endswith("(the rest is 'other' partners)")
    assert only_problem(BASELINE, ["organisations.EAEU.open={a: 1}"]) == ("organisations.EAEU.open", "true or false is expected here (got a mapping)")  # a mapping where none belongs is still named


def test_a_corridor_market_without_demand_is_refused(tmp_path):
    """A misspelt market once passed validation and made a market of its own that no
    freight entered: the Middle Corridor carried nothing, without a word (a bad-input
    audit). A market of no freight is given as 0 in freight.demand."""
    path, message = only_problem(BASELINE, ["corridors.middle_corridor.market=east_wset"])
    assert path == "corridors.middle_corridor.market"
    assert "no freight.demand for market 'east_wset'; did you mean 'east_west'?" in message and "east_west, north_south" in message
    served = load(write(tmp_path / "new_market.yaml", {"extends": str(BASELINE), "corridors": {"middle_corridor": {"market": "east_wset"}}, "freight": {"demand": {"east_wset": 0}}}))
    assert served.corridors["middle_corridor"].market == "east_wset"
