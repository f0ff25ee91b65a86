"""Numbers quoted in the docs and notebooks come from the code: each test reads a quoted
figure from its document and recomputes it (issue 11: "generated, or checked by a test").
docs/behaviour.md, docs/calibration.md and docs/validation.md are generated instead, by the
commands they name (scripts/behaviour_tables.py, abm calibrate, scripts/validate_2020.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from abm import experiment, scenario
from abm.calibrate import weighted_quantile
from abm.cli import main
from abm.metrics import state_columns
from abm.rules.registry import REGISTRY
from abm.runner import run
from tests.conftest import BASELINE, ROOT

ODD = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
CALIBRATION = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")
NB04 = (ROOT / "notebooks" / "04_experiments.ipynb").read_text(encoding="utf-8")
NB06 = (ROOT / "notebooks" / "06_fitting_the_model.ipynb").read_text(encoding="utf-8")
PUBLISHED = json.loads((ROOT / "data" / "posterior_baseline.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed0():
    return run(BASELINE, seed=0)


def quoted(text: str, anchor: str, length: int = 600) -> str:
    at = text.index(anchor)
    return " ".join(text[at:at + length].split())


def test_odd_quotes_the_seed_0_run_of_abm_run(seed0):
    """ODD 7.15.4: first and last values that `abm run configs/baseline.yaml --seed 0` prints."""
    text = quoted(ODD, "For the baseline with seed 0 (`abm run configs/baseline.yaml --seed 0`")
    model = seed0.model
    names = {"fragmentation": "fragmentation", "division": "division", "integration": "integration",
             "polarization": "polarization", "blocs": "blocs", "mean dependency HHI": "mean_dependency_hhi",
             "regional trade share": "regional_trade_share"}
    for label, column in names.items():
        first, last = re.search(rf"{label} ([\d.]+) -> ([\d.]+)", text).groups()
        assert (float(first), float(last)) == (round(model[column].iloc[0], 3), round(model[column].iloc[-1], 3)), label
    influence = dict(re.findall(r"(Russia|China|EU|Turkey|Israel) (\d+\.\d+)", text.split("influence at the end", 1)[1]))
    columns = {"Russia": "russia", "China": "china", "EU": "european_union", "Turkey": "turkey", "Israel": "israel"}
    assert set(influence) == set(columns)
    for name, value in influence.items():
        assert float(value) == round(model[f"influence_{columns[name]}"].iloc[-1], 2), name


def test_odd_quotes_georgias_russian_alignment_over_twelve_seeds(twelve):
    path = np.array([r.agents[r.agents["state"] == "georgia"]["alignment_russia"].iloc[[0, -1]] for r in twelve])
    falls = int((path[:, 1] < path[:, 0]).sum())
    expected = f"({path[0, 0]:.3f} -> median {np.median(path[:, 1]):.3f} by 2040, falls in {falls} of 12 seeds)"
    assert " ".join(ODD.split()).count(expected) == 2, expected  # the patterns table (section 1.2) and section 8


def test_odd_quotes_russias_spending_in_the_first_quarter(seed0):
    text = quoted(ODD, "reported as `spending_<power>`", 120)
    assert float(re.search(r"Russia's come to ([\d.]+) bn in the first quarter", text).group(1)) == round(seed0.model["spending_russia"].iloc[1], 1)


def test_odd_quotes_what_reallocation_costs_in_belief():
    """ODD 8.12: delivery's range and the EU's mean belief at the end of the seed-0 baseline."""
    from abm.model import RegionModel

    text = quoted(ODD, "under the baseline's `contest`", 200)
    low, high, belief, base = map(float, re.search(r"delivery ends within ([\d.]+)-([\d.]+) and the EU's mean belief ends at ([\d.]+) against a base of ([\d.]+)", text).groups())
    model = RegionModel(BASELINE, rng=0)
    while model.running:
        model.step()
    eu = model.power_index["european_union"]
    assert (low, high) == (round(model.delivery.min(), 2), round(model.delivery.max(), 2))
    assert (belief, base) == (round(model.credibility[:, eu].mean(), 3), model.power("european_union").credibility)


@pytest.fixture(scope="module")
def twelve():
    return [run(BASELINE, seed=s) for s in range(12)]


def test_odd_quotes_russias_ground_in_the_south_caucasus_over_twelve_seeds(twelve):
    """ODD 1.2, the pattern "Russia ... loses ground in Armenia and Azerbaijan"."""
    text = quoted(ODD, "`influence_russia` largest at step 0", 500)
    assert float(re.search(r"largest at step 0 \(([\d.]+)\)", text).group(1)) == round(twelve[0].model["influence_russia"].iloc[0], 3)
    for state in ("Armenia", "Azerbaijan"):
        path = np.array([r.agents[r.agents["state"] == state.lower()]["alignment_russia"].iloc[[0, -1]] for r in twelve])
        start, mean, low, high, falls = re.search(rf"{state} \(([\d.]+) -> mean ([\d.]+), range ([\d.]+)-([\d.]+); falls in (\d+) of 12", text).groups()
        assert float(start) == round(path[0, 0], 3)
        assert (float(mean), float(low), float(high)) == tuple(round(x, 3) for x in (path[:, 1].mean(), path[:, 1].min(), path[:, 1].max()))
        assert int(falls) == int((path[:, 1] < path[:, 0]).sum())


def test_odd_quotes_the_twelve_seed_spread_of_the_baseline(twelve):
    """ODD section 8, item 6: means, s.d. and counts of drawn events over seeds 0-11."""
    text = quoted(ODD, "over 12 seeds (`abm.runner.run(\"configs/baseline.yaml\", seed=s)`", 900)
    runs = twelve
    last = {c: np.array([r.model[c].iloc[-1] for r in runs]) for c in ("fragmentation", "integration", "division")}
    for name, values in last.items():
        mean, sd = re.search(rf"{name}(?: is)? (\d+\.\d+) \(sd (\d+\.\d+)", text).groups()
        assert float(mean) == round(values.mean(), 3), name
        assert float(sd) == round(values.std(ddof=1), len(sd.split(".")[1])), name
    shocks = [r.events[r.events["source"] == "shock"]["type"] for r in runs]
    count = lambda kind: sum(int((s == kind).sum()) for s in shocks)  # noqa: E731
    drawn = re.search(r"drew (\d+) leadership changes, (\d+) secondary sanctions, (\d+) strikes on Iran and (\d+) bouts of unrest", text).groups()
    assert tuple(map(int, drawn)) == (count("leadership_change"), count("sanctions"), count("strike"), count("unrest"))
    elections = [e for r in runs for e in r.events[r.events["type"] == "election"]["turned"]]
    turned, held = map(int, re.search(r"and (\d+) of their (\d+) US elections changed course", text).groups())
    assert (turned, held) == (sum(str(e) == "True" for e in elections), len(elections))


def test_notebook_04_quotes_the_shipped_experiments_sizes():
    phase = experiment.load(ROOT / "experiments" / "fragmentation_phase.yaml")
    assert f"(`replications: {phase.spec.replications}` in the file)" in NB04
    sensitivity = experiment.load(ROOT / "experiments" / "sensitivity.yaml")
    size = f"({len(sensitivity.points):,} points x {sensitivity.spec.replications} replications = {len(sensitivity.runs):,} runs;"
    assert size in NB04


def agrees(text: str, value: float) -> bool:
    """A figure quoted as ``text`` is ``value`` rounded to the decimals the text shows."""
    return float(text) == round(float(value), len(text.split(".")[1]) if "." in text else 0)


def test_the_calibration_table_quotes_the_published_constraint_table():
    """docs/calibration.md section 5: one row per fitted parameter of the constraint table
    that data/posterior_baseline.json publishes, with its figures and verdict."""
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in CALIBRATION.split("**What the patterns constrain**", 1)[1].split("\n\n", 2)[1].splitlines()[2:]}
    assert set(rows) == {row["parameter"] for row in PUBLISHED["constraint"]}
    for row in PUBLISHED["constraint"]:
        _, prior, mean, interval, ratio, verdict = rows[row["parameter"]]
        low, high = interval.split("-")
        assert (prior, verdict) == (row["prior"], row["verdict"]), row["parameter"]
        assert all(agrees(t, row[k]) for t, k in ((mean, "posterior_mean"), (low, "q05"), (high, "q95"), (ratio, "sd_ratio"))), row["parameter"]


def test_calibration_md_quotes_the_effective_sizes_and_the_second_seed():
    """Section 5's robustness paragraph: the shipped posterior's effective sample size, and
    the same spec under --seed 1 (data/posterior_baseline_seed1.json): its effective sample
    size, the parameter it comes closest to constraining (the one it partly constrains, if
    any) with its sd ratio and interval, and that parameter's sd ratio under seed 0."""
    other = json.loads((ROOT / "data" / "posterior_baseline_seed1.json").read_text(encoding="utf-8"))
    assert other["spec"]["seed"] == 1 and other["spec_hash"] != PUBLISHED["spec_hash"]
    text = quoted(CALIBRATION, "The final weights are healthy", 1200)
    ess, size = re.search(r"effective sample size ([\d.]+) of (\d+) particles", text).groups()
    assert agrees(ess, PUBLISHED["constraint"][0]["ess"]) and int(size) == PUBLISHED["spec"]["population"]
    second = {row["parameter"]: row for row in other["constraint"]}
    assert agrees(re.search(r"`\.json`,\s*effective sample size ([\d.]+)\)", text).group(1), other["constraint"][0]["ess"])
    said = " ".join(text.split())
    label, ratio, low, high, assumed, seed0 = re.search(
        r"(?:partly constrains the|puts the) ([\w ]+?) (?:closest )?\(sd ratio ([\d.]+), 90% interval ([\d.]+)-([\d.]+), around the assumed ([\d.]+)\), which seed 0 leaves at ([\d.]+)", said).groups()
    name = {v: k for k, v in LABELS.items()}[label]
    partly = {p for p, row in second.items() if row["verdict"] != "loose"}
    assert partly == {name} if "partly constrains the" in said else (not partly and name == min(second, key=lambda p: float(second[p]["sd_ratio"])))
    row = second[name]
    assert agrees(ratio, row["sd_ratio"]) and agrees(low, row["q05"]) and agrees(high, row["q95"])
    baseline = scenario.load(BASELINE).model_dump()
    for key in name.split("."):
        baseline = baseline[key]
    assert float(assumed) == baseline
    assert agrees(seed0, {r["parameter"]: r for r in PUBLISHED["constraint"]}[name]["sd_ratio"])


LABELS = {"rules.decision.noise": "decision noise", "rules.decay.rate": "decay rate", "rules.coercion.strength": "coercion strength",
          "rules.opinion.rate": "opinion rate", "rules.allocation.intensity": "contest intensity",
          "utility.dependence": "dependence weight", "utility.opinion": "opinion weight"}


def test_readme_odd_and_notebook_06_quote_what_the_published_calibration_constrains():
    """README (Calibration), ODD 1.3 and notebook 06 say what the patterns constrain: the one
    parameter they partly constrain, or, when they leave all loose, the one that comes
    closest; each quotes its posterior against the baseline's assumption, from
    data/posterior_baseline.json and the posterior it publishes."""
    table = {row["parameter"]: row for row in PUBLISHED["constraint"]}
    assert set(table) <= set(LABELS)
    partly = [p for p, row in table.items() if row["verdict"] != "loose"]
    assert len(partly) <= 1 and all(table[p]["verdict"] == "partly constrained" for p in partly)
    name = partly[0] if partly else min(table, key=lambda p: float(table[p]["sd_ratio"]))
    row = table[name]
    posterior = pd.read_csv(ROOT / "data" / PUBLISHED["file"])
    median = weighted_quantile(posterior[name].to_numpy(), posterior["weight"].to_numpy(), 0.5)
    baseline = scenario.load(BASELINE).model_dump()
    for key in name.split("."):
        baseline = baseline[key]
    words = {6: "six", 7: "seven"}
    if partly:
        claim = r"of the (\w+) fitted parameters .*?partly constrains? only the ([\w ]+?) \(posterior mean"
    else:
        claim = r"leaves? all (\w+) fitted parameters loose.*?the ([\w ]+?) comes closest \(posterior mean"
    for where, text, anchor in (("README", README, "The fit is weak"), ("ODD", ODD, "### 1.3 Calibration")):
        quote = quoted(text, anchor, 1000)
        found = re.search(claim + r" ([\d.]+), weighted median ([\d.]+), 90% interval ([\d.]+)-([\d.]+).*?sd ratio ([\d.]+).*?baseline's assumed ([\d.]+)", quote)
        assert found, where
        fitted, label, mean, med, low, high, ratio, assumed = found.groups()
        assert fitted == words[len(table)], where
        assert label == LABELS[name], where
        assert agrees(mean, row["posterior_mean"]) and agrees(med, median) and agrees(ratio, row["sd_ratio"]), where
        assert agrees(low, row["q05"]) and agrees(high, row["q95"]), where
        assert float(assumed) == baseline, where
    if partly:
        assert f"Only the {LABELS[name]} is **partly constrained**" in NB06
    else:
        assert f"None of the {words[len(table)]} parameters is constrained" in NB06 and f"the {LABELS[name]} comes closest" in NB06


def test_the_export_examples_name_sweeps_that_keep_per_state_series():
    """`abm export runs/NAME` in the README and docs/experiments.md must name a shipped
    experiment whose sweep keeps `metrics.states`: without them the command exits 2."""
    shipped = {e.spec.name: e for e in map(experiment.load, sorted((ROOT / "experiments").glob("*.yaml")))}
    named = {name for text in (README, (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8"))
             for name in re.findall(r"abm export runs/(\w+)", text)}
    assert named and named <= set(shipped), named - set(shipped)
    assert not [name for name in named if not shipped[name].spec.metrics.states]


def written(argv: list[str], out) -> list[str]:
    """The files an `abm` command writes, as its output folder's .abm-output.json lists them."""
    assert main([*argv, "--out", str(out)]) == 0
    return json.loads((out / ".abm-output.json").read_text(encoding="utf-8"))["files"]


def test_readme_and_odd_describe_what_abm_compare_writes(tmp_path):
    """The README names every file of `abm compare`; ODD 7.15.4 defines every column of its
    tables (`<metric>_ci95` is a half-width, differences.csv's `ci95_low`/`ci95_high` bounds)."""
    out = tmp_path / "c"
    files = written(["compare", str(BASELINE), str(ROOT / "configs" / "no_peace.yaml"), "--seeds", "2", "--steps", "2", "--metrics", "fragmentation"], out)
    text = quoted(README, "Compare scenarios with the same seeds", 800)
    missing = [f for f in files if f"`{f}`" not in text and not (f.endswith(".svg") and f"`{f[:-4]}.png`" in text and "SVG" in text)]
    assert not missing, missing
    odd = quoted(ODD, "`abm compare` runs several scenarios with common", 1600)
    columns = [c.replace("fragmentation_", "<metric>_") for name in ("compare.csv", "differences.csv") for c in pd.read_csv(out / name, nrows=0).columns]
    assert not [c for c in columns if f"`{c}`" not in odd and c not in ("scenario", "date", "metric")]
    assert "`<metric>_ci95` (the **half-width**" in odd and "**bounds** `ci95_low` and `ci95_high`" in odd


def test_odd_lists_every_file_abm_run_writes_and_every_value_it_prints(tmp_path, capsys):
    files = written(["run", str(BASELINE), "--seeds", "2", "--steps", "2"], tmp_path / "r")
    printed = re.findall(r"^  (\w+)\s+[\d.]+ +->", capsys.readouterr().out, flags=re.M)
    section = ODD.split("#### 7.15.4", 1)[1].split("### 7.16", 1)[0]
    table, said = section.split("The command also prints", 1)
    assert not [f for f in [*files, ".abm-output.json"] if f"| `{f}` |" not in table]
    assert printed and not [p for p in printed if f"`{p}`" not in said[:400]], printed


def test_readme_lists_every_event_type_and_per_state_column_and_counts_the_notebooks():
    events = quoted(README, "**Events** (`events:`", 900).split("Dated events fire", 1)[0]
    listed = set(re.findall(r"`(\w+)`", events)) - {"events", "shocks"}
    assert listed == set(REGISTRY["event"]), listed ^ set(REGISTRY["event"])
    agents = quoted(README, "`agents.csv` (per state and step", 500).split(")", 2)[1]
    kept = [c for c in state_columns(["russia"]) if not c.endswith("_russia") and c != "alignment_other"]
    assert all(c.replace("_", " ").replace("hhi", "HHI") in agents for c in kept), (kept, agents)
    count = {5: "five", 6: "six", 7: "seven"}[len(list((ROOT / "notebooks").glob("*.ipynb")))]
    assert f"in the browser, {count} notebooks" in README and f"{count.capitalize()} notebooks explain" in README


def test_odd_quotes_the_standing_offers_the_balance_computes():
    """ODD section 5, the powers table: standing offers inv/sec/trade per quarter at the start."""
    from abm.model import RegionModel

    model = RegionModel(BASELINE, rng=0)
    totals = model.standing.sum(axis=2)
    names = {model.config.powers[k].name: k for k in model.power_keys}
    quoted_rows = re.findall(r"^\| ([A-Z][\w ]+?) \| ([\d.]+)/([\d.]+)/([\d.]+)\b", ODD, re.M)
    assert {name for name, *_ in quoted_rows} == set(names)
    for name, *values in quoted_rows:
        for text, value in zip(values, totals[model.power_index[names[name]]]):
            assert agrees(text, value), (name, values, totals[model.power_index[names[name]]].round(4))


@pytest.fixture(scope="module")
def start():
    """The baseline at step 0, as ODD sections 1.2 and 5 measure it."""
    from abm.model import RegionModel

    return RegionModel(BASELINE, rng=0)


def test_odd_quotes_the_patterns_at_step_0(start):
    """ODD 1.2, the patterns table: the subregions' measures, the INSTC leg share and the
    range of the states' dependency HHI at the start."""
    m = start.metrics
    table = ODD.split("### 1.2 Patterns", 1)[1].split("### 1.3", 1)[0]
    for kind, tail in (("fragmentation", " at step 0 of the baseline"), ("division", ""), ("integration", " at step 0")):
        first, second = (m[f"{kind}_{r}"] for r in (("central_asia", "south_caucasus") if kind == "integration" else ("south_caucasus", "central_asia")))
        quoted_pair = re.search(rf"`{kind}_\w+` > `{kind}_\w+` \(([\d.]+) vs ([\d.]+){tail}\)", table).groups()
        assert tuple(map(float, quoted_pair)) == (round(first, 3), round(second, 3)), kind
    assert f"`instc_leg_share_instc_east` = {m['instc_leg_share_instc_east']:.3f} at step 0" in table
    hhi = start.state_table[:, state_columns(start.power_keys).index("dependency_hhi")]
    assert f"({hhi.min():.2f}-{hhi.max():.2f} at step 0)" in table


def test_odd_quotes_single_standing_offers(start):
    """ODD section 5 (Russia's security offers to Kazakhstan and Azerbaijan) and section 9
    (the standing offers us_withdraws and china_backs_southern_route scale)."""
    standing = start.standing  # powers x domains x states, USD bn a quarter at the start
    p, s = start.power_index, start.state_index
    text = " ".join(ODD.split())
    kazakhstan, azerbaijan = re.search(r"security offers to Kazakhstan come to ([\d.]+) bn a quarter\) .*? security ties with Azerbaijan need ([\d.]+) bn a quarter", text).groups()
    assert agrees(kazakhstan, standing[p["russia"], 1, s["kazakhstan"]])
    assert agrees(azerbaijan, standing[p["russia"], 1, s["azerbaijan"]])
    us = re.search(r"standing offers x0\.2 \(USD ([\d.]+) bn a quarter of standing offers at the start\)", text).group(1)
    assert agrees(us, standing[p["united_states"]].sum())
    china = re.search(r"its standing investment offers, ([\d.]+) bn a quarter at the start", text).group(1)
    assert agrees(china, standing[p["china"], 0].sum())


def test_odd_quotes_the_size_of_the_output_tables():
    """ODD 7.15.4: rows and columns of model.csv and agents.csv for the baseline."""
    scn = scenario.load(BASELINE)
    table = ODD.split("#### 7.15.4", 1)[1].split("The command also prints", 1)[0]
    steps = scn.time.steps + 1
    model_rows, model_columns = map(int, re.search(r"\((\d+) rows for the baseline: steps 0-\d+\).*?\((\d+) columns in the baseline", table).groups())
    agent_rows, agent_columns = map(int, re.search(r"\((\d+) rows in the baseline\), columns of 7\.15\.3 \((\d+) in the baseline", table).groups())
    assert (model_rows, model_columns) == (steps, 2 + len(scn.metric_names()))
    assert (agent_rows, agent_columns) == (steps * len(scn.states), 3 + len(state_columns(list(scn.powers))))


def test_odd_quotes_the_start_chances_of_the_ties_out_of_balance(start):
    """ODD section 5, "Out of balance in the baseline": how many ties have standing offers
    and how many are taken almost surely; each listed tie's start share and chance, and its
    expected uptake over its drain at the final sizes; the floor holds exactly the ties the
    table says (section 8, items 5 and 6, repeat the counts)."""
    from scipy.special import ndtr

    from abm.offers import DOMAINS, Offers, evaluate

    chance = start.start_chance
    held = chance[~np.isnan(chance)]
    text = quoted(ODD, "**Out of balance in the baseline**", 300)
    ties, sure = map(int, re.search(r"(\d+) ties have standing offers; (\d+)% are taken with a chance of at least 0\.99", text).groups())
    assert (ties, sure) == (len(held), round(100 * (held >= 0.99).mean()))
    item6 = quoted(ODD, "**Acceptance saturates", 500)
    assert f"at the start {sure}% of them are taken with a chance of at least" in item6
    clear = int(re.search(r"about (\d+)% clear the threshold by more than three noise standard deviations", item6).group(1))
    assert abs(clear - 100 * (held > ndtr(3.0)).mean()) < 1
    table = ODD.split("| Tie | Start share | Start chance |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\w+), (\w+), (\w+) \| ([\d.]+) \| ([\d.]+)( \(floor\))? \| ([\d.]+) \|", table, re.M)
    names = {spec.name: key for key, spec in {**start.config.states, **start.config.powers}.items()}
    upkeep = start.rules["decay"].upkeep(start.ties)
    floored = set()
    for state, domain, power, share, at_start, floor, ratio in rows:
        s, d, p = start.state_index[names[state]], DOMAINS.index(domain), start.power_index[names[power]]
        offer = Offers.of(p, s, d, start.standing[p, d, s])
        uptake = start.rules["decision"].probability(offer, evaluate(offer, start), start)[0] * offer.terms["gain"][0]
        assert agrees(share, start.ties[s, d, p]) and agrees(at_start, chance[s, d, p]), (state, domain, power)
        assert agrees(ratio, uptake / upkeep[s, d, p]), (state, domain, power, uptake / upkeep[s, d, p])
        if floor:
            floored.add((s, d, p))
    assert floored == set(zip(*np.nonzero(chance <= start.config.offers.min_acceptance)))


def test_odd_quotes_what_is_quiet_over_twelve_seeds(twelve):
    """ODD section 8, items 12 and 21: the clashes of the twelve baseline runs, the
    memberships their own calculus changed (state, organisation, step, date, seeds), and
    that none of them coerced."""
    clashes = sum(int(r.model["conflict_events"].sum()) for r in twelve)
    assert f"(in the baseline, {clashes} clashes in 12 seeds)" in " ".join(ODD.split())
    changes = [(seed, e.type, e.state, e.organisation, int(e.step), e.date)
               for seed, r in enumerate(twelve) for e in r.events[r.events["source"] == "calculus"].itertuples()]
    text = quoted(ODD, "memberships are sticky:", 500)
    assert f"changes one in {len({c[0] for c in changes})} of the 12 seeds" in text
    said = re.findall(r"(\w+) (?:joins|returns to) the (\w+) at step (\d+), (\d{4}-\d\d-\d\d),\s+in seeds? ([\d ,and]+)\)?", text)
    quoted_changes = {(int(seed), "accession", state.lower(), org, int(step), date)
                      for state, org, step, date, seeds in said for seed in re.findall(r"\d+", seeds)}
    assert quoted_changes == set(changes)
    assert "no coercion in 12 runs" in " ".join(ODD.split()) and not any(len(r.coercions) for r in twelve)


def test_odd_quotes_the_other_share_of_the_start(start):
    """ODD section 5: the range of the states' `other` share (suppliers and partners that are
    not modelled powers), a state's mean over the three domains at the start."""
    other = (1 - start.ties.sum(axis=2)).mean(axis=1)
    names = {start.state_index[k]: spec.name for k, spec in start.config.states.items()}
    low, high, first, low_value, last, high_value = re.search(
        r"at the start ([\d.]+)-([\d.]+) of a state's ties: (\w+) ([\d.]+) to (\w+) ([\d.]+)\)", " ".join(ODD.split())).groups()
    assert (first, last) == (names[int(other.argmin())], names[int(other.argmax())])
    assert agrees(low, other.min()) and agrees(high, other.max()) and agrees(low_value, other.min()) and agrees(high_value, other.max())
