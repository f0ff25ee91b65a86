"""The out-of-sample start in 2020: its figures match the data tables, its exogenous events
are the ones the tables list, it runs to 2025, and the validation table can be regenerated."""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from abm import patterns, runner, validation
from abm.scenario import load
from tests.conftest import ROOT
from tests.conftest import script as load_script

CONFIG = ROOT / "configs" / "start_2020.yaml"
DATA = yaml.safe_load((ROOT / "data" / "region_2020.yaml").read_text())


def test_the_2020_figures_are_those_of_the_data_tables():
    scn = load(CONFIG)
    assert scn.time.start == dt.date(2020, 1, 1) and scn.date(scn.time.steps) == dt.date(2025, 1, 1)
    for sid, state in scn.states.items():
        assert state.gdp == DATA["gdp_usd_bn_2020"][state.name]
        assert state.population == DATA["population_m_2020"][state.name]
    arms = DATA["arms_import_shares_pct_2016_2020"]
    assert abs(scn.states["armenia"].ties["security"]["russia"] - arms["Armenia"]["russia"] / 100) < 1e-9
    assert abs(scn.states["kazakhstan"].ties["security"]["russia"] - arms["Kazakhstan"]["russia"] / 100) < 1e-9
    eu_share = (arms["Uzbekistan"]["france"] + arms["Uzbekistan"]["spain"]) / 100
    assert abs(scn.states["uzbekistan"].ties["security"]["european_union"] - eu_share) < 1e-9
    members = DATA["memberships_2020"]
    for org in ("EAEU", "CSTO"):
        assert sorted(s.name for s in scn.states.values() if org in s.memberships) == sorted(members[org])


def test_the_exogenous_events_are_scheduled_and_fire_before_2025():
    scn = load(CONFIG)
    scheduled = {str(e["date"]) for e in scn.events.values() if e is not None}
    listed = {str(e["date"]) for e in DATA["exogenous_events_2020_2024"]}
    assert scheduled == listed
    run = runner.run(CONFIG, seed=1)
    fired = set(run.events["id"].dropna()) & set(scn.events)
    assert fired == {k for k, e in scn.events.items() if e is not None}
    assert run.model["date"].iloc[-1] == "2025-01-01"


def test_the_validation_table_can_be_regenerated(tmp_path):
    script = load_script("validate_2020")
    assert script.main(["--seeds", "2", "--workers", "1", "--out", str(tmp_path)]) == 0
    values = pd.read_csv(tmp_path / "validation.csv")
    observed = patterns.load(ROOT / "data" / "observed_2020_2024.yaml")
    assert list(values.columns) == ["seed"] + [o.id for o in observed] and len(values) == 2
    assert values.notna().all().all()
    assert script.main(["--seeds", "0"]) == 2


def test_the_validation_never_overwrites_a_file_it_did_not_write(tmp_path, capsys):
    script = load_script("validate_2020")
    (tmp_path / "validation.md").write_text("my own notes")
    assert script.main(["--seeds", "1", "--workers", "1", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "validation.md").read_text() == "my own notes"
    assert "not an earlier output of validate_2020.py" in capsys.readouterr().err
    again = tmp_path / "out"
    assert script.main(["--seeds", "1", "--workers", "1", "--out", str(again)]) == 0
    assert script.main(["--seeds", "1", "--workers", "1", "--out", str(again)]) == 0  # its own earlier output is replaced
    assert sorted(p.name for p in again.iterdir()) == [".abm-output.json", "provenance.yaml", "validation.csv", "validation.md"]
    record = yaml.safe_load((again / "provenance.yaml").read_text())  # the table tied to its code and inputs (a publisher's audit)
    assert record["argv"][-2:] == ["--out", str(again)] and record["seeds"] == 1 and "commit" in record["model"]
    assert record["inputs"]["observed"]["sha256"] == hashlib.sha256((ROOT / "data" / "observed_2020_2024.yaml").read_bytes()).hexdigest()
    assert "posterior" not in record["inputs"]
    drawn = tmp_path / "drawn"
    assert script.main(["--seeds", "1", "--workers", "1", "--posterior", str(ROOT / "data" / "posterior_baseline.csv"), "--out", str(drawn)]) == 0
    record = yaml.safe_load((drawn / "provenance.yaml").read_text())
    assert record["inputs"]["posterior"]["sha256"] == hashlib.sha256((ROOT / "data" / "posterior_baseline.csv").read_bytes()).hexdigest()


def test_the_validation_scripts_help_says_a_whole_sentence(capsys):
    script = load_script("validate_2020")
    with pytest.raises(SystemExit):
        script.main(["--help"])
    assert "against the observed ones of data/observed_2020_2024.yaml." in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("change, says", [
    (("2025-01-01", "2030-01-01"), "date 2030-01-01 is outside the run (2020-01-01 to 2025-01-01)"),
    (("column: opinion_russia", "column: no_such_column"), "output.column 'no_such_column' is not a numeric output of the agents table"),
    (("state: armenia", "state: narnia"), "output.state 'narnia' is not a state of the scenario"),
])  # fmt: skip
def test_observations_a_run_cannot_give_are_refused_before_the_runs(tmp_path, capsys, monkeypatch, change, says):
    """An observation dated after the run printed a table of nan and exited 0; an unknown
    column or state ended in a traceback after every run."""
    script = load_script("validate_2020")
    observed = tmp_path / "observed.yaml"
    observed.write_text((ROOT / "data" / "observed_2020_2024.yaml").read_text().replace(*change, 1))
    monkeypatch.setattr(script.validation, "compare", lambda *a: pytest.fail("the runs started"))
    assert script.main(["--seeds", "1", "--workers", "1", "--observed", str(observed), "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and says in err and len(err.splitlines()) == 1 and not out
    assert not (tmp_path / "out").exists()
    assert script.main(["--workers", "0"]) == 2 and "--workers must be at least 1 (got 0)" in capsys.readouterr().err
    assert script.main(["--workers", "10000"]) == 2 and "error: --workers 10000: at most" in capsys.readouterr().err  # abm sweep's limit, not 10,000 processes
    assert script.main(["--workers", "999"]) == 2 and "(--allow-large to start them anyway)" in capsys.readouterr().err
    with pytest.raises(pytest.fail.Exception, match="the runs started"):  # the option it names is the script's too
        script.main(["--workers", "999", "--allow-large"])
    assert script.main(["--posterior", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: --posterior: posterior file not found")  # an option of the script's, not a --set


@pytest.mark.parametrize("target, way", [({"above": 0.0}, 1), ({"below": 0.0}, -1), ({"value": -1.0}, -1), ({"value": 0.11}, 1),
                                         ({"between": [-0.03, 0.03]}, 0), ({"above": -0.1}, 0), ({"between": [0.1, 0.2]}, 1), ({"value": 0.0}, 0),
                                         ({"between": [0.0, 0.2]}, 1), ({"between": [-0.2, 0.0]}, -1), ({"below": 0.1}, 0)])
def test_a_target_moves_one_way_only_where_every_hit_shares_a_sign(target, way):
    """'Moves the observed way' counts runs whose change goes the way the target asks;
    a target that a fall and a rise can both meet, or only no change, has no direction."""
    assert patterns.Target(**target).direction() == way


def test_the_table_and_its_count_line_read_the_runs_as_a_reader_would(monkeypatch):
    """Three made-up observations and four runs, one without a value: the shares, the
    standstill column, the way moved (over the runs with a value) and the count line."""
    observed = [patterns.Pattern(description=k, source=[{"author": "a", "title": "t", "outlet": "o", "date": "2020"}], output={"column": "fragmentation", "from": "2020-01-01", "to": "2021-01-01"},
                                 target=t, tolerance=0.1) for k, t in (("rise", {"above": 0.0}), ("big", {"value": 1.0}), ("still", {"between": [-0.05, 0.05]}))]
    for o in observed:
        o.id = o.description  # as patterns.load names them, by their key
    runs = {0: {"rise": 0.3, "big": 1.05, "still": 0.0}, 1: {"rise": -0.05, "big": 0.2, "still": 0.2}, 2: {"rise": -0.3, "big": 0.95, "still": 0.1}, 3: {"rise": float("nan"), "big": 1.0, "still": 0.0}}
    monkeypatch.setattr(validation, "one_run", lambda scenario, obs, seed: runs[seed])
    values, table = validation.compare(None, observed, 4, SimpleNamespace(map=map))
    table = table.set_index("observation")
    assert list(table["reproduced"]) == [0.5, 0.75, 0.75]  # rise: 0.3 and -0.05 (within 0.1); the NaN run misses
    assert list(table["no_change"]) == ["yes", "no", "yes"]
    assert list(table["right_way"]) == ["0.33", "1.00", "none observed"]  # rise: 1 of the 3 runs with a value
    assert validation.counts(values, observed) == ("Observations reproduced per run (of 3): 1 in 1 run, 2 in 2 runs, 3 in 1 run. "
                                                   "A change of zero everywhere reproduces 2: rise, still.")
