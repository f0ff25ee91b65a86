"""Print the tables of docs/behaviour.md: what the model does, measured.

    .venv/bin/python scripts/behaviour_tables.py                 # every table (under 2 minutes on 2 cores)
    .venv/bin/python scripts/behaviour_tables.py screen          # one section (the seven are listed below)

Every run is ``abm.model.RegionModel(scenario, rng=seed)`` stepped to its horizon, as
``abm run --seed`` does; values are read in the last quarter (2040-01-01). Seeds are the
common seeds 0..N-1 on both sides of every comparison (paired differences). Sections:

* memberships: what the membership calculus gives each state for each organisation at
  the review of January 2027, in the baseline and with Russia in the C6;
* switch: how far the C6 accession of Armenia and Georgia, with Russia in the format, sits
  from its threshold: one assumption of the calculus moved a little at a time, and the
  calibrated posterior;
* screen: each lever a modeler would suspect, swept alone around the baseline; the
  mean outcome at each value, the largest change between two neighbouring values, the
  largest seed spread in any cell, and how many runs end with a main-patron map (the
  power holding each state's largest share) different from the lever's first value;
* bandwagon: how often each main-patron map ends a bandwagon run, over 120 seeds a bonus;
* scenarios: each library scenario against the baseline on the outcomes its question
  names: mean paired difference with a 95% t interval, the baseline's seed s.d., and the
  s.d. of the same outcome over the parameter ranges of experiments/sensitivity.yaml;
* uncertainty: the spread of 2040 outcomes from seeds (decision noise, coercion and
  clash draws), from the stochastic shocks, and from parameter uncertainty (two draws
  of the hypercube, since 32 points pin the spread down only roughly);
* outbidding: powers answering their rivals' new money (rules.spending: outbid) against
  fixed budgets, in the baseline and at the accession switch (EU money in the South
  Caucasus, Russia in the C6).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import qmc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from abm import chartstyle as cs  # noqa: E402
from abm.model import RegionModel  # noqa: E402
from abm.scenario import load  # noqa: E402

BASELINE = ROOT / "configs" / "baseline.yaml"
OUTCOMES = {  # short name -> model column
    "F": "fragmentation",
    "D": "division",
    "I": "integration",
    "F_sc": "fragmentation_south_caucasus",
    "F_ca": "fragmentation_central_asia",
    "D_sc": "division_south_caucasus",
    "D_ca": "division_central_asia",
    "I_sc": "integration_south_caucasus",
    "I_ca": "integration_central_asia",
    "infl_RU": "influence_russia",
    "infl_EU": "influence_european_union",
    "infl_CN": "influence_china",
}
SCREEN_SEEDS = range(6)
PAIRED_SEEDS = range(12)
SPREAD_SEEDS = range(24)
EU_MONEY = ("powers.european_union.budget.investment", "powers.european_union.budget.security", "powers.european_union.budget.trade")
EU_IN_SC_ONLY = ["powers.european_union.default_interest=0", "powers.european_union.interests.kazakhstan=0", "powers.european_union.interests.uzbekistan=0"]

# lever label -> (base scenario, paths set together, values, fixed overrides)
LEVERS = {
    "EU new money, whole region (USD bn/quarter/domain)": (BASELINE, EU_MONEY, [0, 0.1, 0.25, 0.5, 1, 2], []),
    "EU new money, South Caucasus only": (BASELINE, EU_MONEY, [0, 0.1, 0.25, 0.5, 1, 2], EU_IN_SC_ONLY),
    "EU new money, South Caucasus only, bandwagon rule (bonus 1)": (BASELINE, EU_MONEY, [0, 0.1, 0.25, 0.5], [*EU_IN_SC_ONLY, "rules.decision.name=bandwagon", "rules.decision.bonus=1"]),
    "coercion strength": (BASELINE, ("rules.coercion.strength",), [0, 0.25, 0.5, 0.75, 1], []),
    "contest intensity": (BASELINE, ("rules.allocation.intensity",), [0, 1, 2, 4], []),
    "hedging cap": (BASELINE, ("rules.decision.cap",), [0.3, 0.4, 0.5, 0.7, 1.0], []),
    "bandwagon bonus (bandwagon rule)": (BASELINE, ("rules.decision.bonus",), [0, 0.5, 1, 2, 4, 6], ["rules.decision.name=bandwagon"]),
    "decay rate": (BASELINE, ("rules.decay.rate",), [0.005, 0.01, 0.02, 0.05, 0.1], []),
    "decision noise": (BASELINE, ("rules.decision.noise",), [0.02, 0.05, 0.1, 0.2, 0.3], []),
    "rivalry spill-over": (BASELINE, ("rules.neighbours.spillover",), [0, 0.5, 1, 2], []),
    "C6 rivalry import, Russia inside": (ROOT / "configs" / "russia_joins_regional_format.yaml", ("organisations.CMHS.rivalry_import",), [0, 1, 2, 4], []),
    "membership neighbour pull": (BASELINE, ("rules.membership.neighbour_pull",), [0.1, 0.2, 0.25, 0.3, 0.4], ["rules.membership.name=calculus"]),
}

# scenario -> (question in short, outcomes its question names: column or (label, states, power))
CA = ("kazakhstan", "kyrgyzstan", "tajikistan", "turkmenistan", "uzbekistan")
SC = ("armenia", "azerbaijan", "georgia")
SCENARIOS = {
    "no_peace": ["fragmentation_south_caucasus", "division_south_caucasus", "integration_south_caucasus", "transit_revenue_armenia", "corridor_tripp_zangezur_volume"],
    "russia_joins_regional_format": ["integration_central_asia", "integration", "division_central_asia", ("Russia's share in Central Asia", CA, "russia")],
    "iran_strikes": ["corridor_southern_corridor_volume", "corridor_instc_west_volume", "corridor_instc_east_volume", "transit_revenue_turkmenistan", ("Iran's share in Central Asia", CA, "iran")],
    "us_withdraws": ["influence_united_states", ("US share in AM+AZ", ("armenia", "azerbaijan"), "united_states"), ("Russia's share in AM+AZ", ("armenia", "azerbaijan"), "russia"), ("EU share in AM+AZ", ("armenia", "azerbaijan"), "european_union"), ("Turkey's share in AM+AZ", ("armenia", "azerbaijan"), "turkey"), "corridor_tripp_zangezur_volume"],
    "northern_route_reopens": ["corridor_northern_route_volume", "corridor_middle_corridor_volume", "transit_revenue_azerbaijan", "transit_revenue_georgia"],
    "japan_minerals": ["influence_japan", ("Japan's share in Central Asia", CA, "japan"), ("Russia+China share in Central Asia", CA, ("russia", "china")), "mean_dependency_hhi"],
    "china_backs_southern_route": ["corridor_southern_corridor_volume", ("China's share in Central Asia", CA, "china"), "fragmentation_central_asia", "transit_revenue_turkmenistan"],
}
SENSITIVITY = ROOT / "experiments" / "sensitivity.yaml"
PARAMETER_POINTS = 32
# the interdependence rule's rates, which integration's trade and relations follow and which
# sensitivity.yaml does not sample: half to double the baseline's assumed values
NEIGHBOUR_RANGES = {
    "rules.neighbours.trade_growth": [0.005, 0.02],
    "rules.neighbours.membership_boost": [0.25, 1.0],
    "rules.neighbours.peace_dividend": [0.25, 1.0],
    "rules.neighbours.spillover": [0.25, 1.0],
    "rules.neighbours.adjustment": [0.025, 0.1],
}


def final(job) -> dict:
    """Run (scenario, sets, seed) to the horizon; the last quarter's metrics and alignments."""
    scenario, sets, seed = job
    model = RegionModel(load(scenario, list(sets)), rng=seed)
    while model.running:
        model.step()
    values = dict(model.metrics)
    values["_alignment"] = model.alignment.copy()
    values["_states"] = list(model.state_keys)
    values["_powers"] = list(model.power_keys)
    values["_patrons"] = tuple(model.alignment.argmax(axis=1).tolist())
    values["_coercions"] = len(model.coercions)
    values["_answered"] = float(model.answered.sum())  # new money added in answer to rivals, USD bn in the last quarter
    c6 = [org for org in model.organisations if org.key == "CMHS"]
    values["_both_in_c6"] = bool(c6) and {"armenia", "georgia"} <= {model.state_keys[i] for i in c6[0].members}
    return values


def value(run: dict, outcome) -> float:
    if isinstance(outcome, str):
        return float(run[outcome])
    _, states, powers = outcome
    powers = (powers,) if isinstance(powers, str) else powers
    rows = [run["_states"].index(s) for s in states]
    cols = [run["_powers"].index(p) for p in powers]
    return float(run["_alignment"][np.ix_(rows, cols)].sum(axis=1).mean())


def label(outcome) -> str:
    return outcome if isinstance(outcome, str) else outcome[0]


def run_all(pool, jobs: list) -> list[dict]:
    return pool.map(final, jobs, chunksize=4)


# --------------------------------------------------------------------------- screen


def patron_maps(cell: list[dict], by_count: bool = False) -> str:
    """The main-patron maps of a cell's runs, one letter per state in scenario order
    (the power's initial, upper case; 'j' Japan, 'i' India, 'p' Pakistan, 'l' Israel),
    each with its number of runs: in the runs' order, or the most frequent first."""
    letters = {"japan": "j", "india": "i", "pakistan": "p", "israel": "l", "iran": "I"}
    powers = cell[0]["_powers"]
    maps = ["".join(letters.get(powers[k], powers[k][0].upper()) for k in r["_patrons"]) for r in cell]
    order = sorted(set(maps), key=lambda m: (-maps.count(m), m)) if by_count else dict.fromkeys(maps)
    return ", ".join(f"{m} x{maps.count(m)}" for m in order)


def memberships(pool) -> None:
    """The membership calculus at the first review of 2027, for the regional format."""
    print("## Membership values at the 2027 review (rules.membership: join above 0.05, leave below -0.2)\n")
    for name in ("baseline", "russia_joins_regional_format"):
        model = RegionModel(load(ROOT / "configs" / f"{name}.yaml"), rng=0)
        while model.steps < 8:
            model.step()
        rule = model.rules["membership"]
        print(f"{name} (seed 0; * member):\n")
        print("| organisation | " + " | ".join(model.state_keys) + " |")
        print("|---" * (len(model.state_keys) + 1) + "|")
        values = rule.values(model)  # states x organisations
        for row, org in enumerate(model.organisations):
            v = values[:, row]
            print(f"| {org.key} | " + " | ".join(("*" if i in org.members else "") + f"{x:.3f}" for i, x in enumerate(v)) + " |")
        print()


def screen(pool) -> None:
    print("## Screen: one lever at a time around the baseline (2040, mean of seeds 0-5)\n")
    summary = []
    for name, (base, paths, values, fixed) in LEVERS.items():
        jobs = [(str(base), [*fixed, *(f"{p}={v}" for p in paths)], s) for v in values for s in SCREEN_SEEDS]
        runs = run_all(pool, jobs)
        n = len(SCREEN_SEEDS)
        cells = [runs[k * n : (k + 1) * n] for k in range(len(values))]
        means = np.array([[np.mean([r[c] for r in cell]) for c in OUTCOMES.values()] for cell in cells])
        sds = np.array([[np.std([r[c] for r in cell], ddof=1) for c in OUTCOMES.values()] for cell in cells])
        flips = sum(r["_patrons"] != cells[0][i]["_patrons"] for cell in cells[1:] for i, r in enumerate(cell))
        print(f"### {name}\n")
        print("| value | " + " | ".join(OUTCOMES) + " | coercions per run | main-patron maps (runs) |")
        print("|---" * (len(OUTCOMES) + 3) + "|")
        for v, row, cell in zip(values, means, cells):
            coerced = np.mean([r["_coercions"] for r in cell])
            print(f"| {v} | " + " | ".join(f"{x:.3f}" for x in row) + f" | {coerced:.1f} | {patron_maps(cell)} |")
        steps = np.abs(np.diff(means, axis=0))
        print("| largest step | " + " | ".join(f"{x:.3f}" for x in steps.max(axis=0)) + " | | |")
        print("| largest seed s.d. | " + " | ".join(f"{x:.3f}" for x in sds.max(axis=0)) + " | | |")
        print(f"\nruns whose main-patron map differs from the same seed at {values[0]}: {flips} of {n * (len(values) - 1)}\n")
        k = int(np.unravel_index(steps.argmax(), steps.shape)[1])
        j = int(steps[:, k].argmax())
        summary.append((name, list(OUTCOMES)[k], steps[j, k], f"{values[j]} -> {values[j + 1]}", sds.max(axis=0)[k], flips, n * (len(values) - 1)))
    print("### Largest step of any outcome, per lever\n")
    print("| lever | outcome | largest step | between | largest seed s.d. of that outcome | patron-map changes |")
    print("|---|---|---|---|---|---|")
    for name, outcome, step, between, sd, flips, total in summary:
        print(f"| {name} | {outcome} | {step:.3f} | {between} | {sd:.3f} | {flips} / {total} |")
    print()


# --------------------------------------------------------------------------- scenarios and uncertainty


def parameter_sets(ranges: dict[str, list[float]] | None = None, draw: int = 20261202) -> list[list[str]]:
    """A Latin hypercube (its seed ``draw``) over ``ranges``, by default those of
    experiments/sensitivity.yaml (with its fixed set)."""
    spec = yaml.safe_load(SENSITIVITY.read_text())
    fixed = [] if ranges else [f"{k}={v}" for k, v in spec.get("set", {}).items()]
    ranges = ranges or spec["sample"]["ranges"]
    unit = qmc.LatinHypercube(d=len(ranges), seed=draw).random(PARAMETER_POINTS)
    lows, highs = np.array([r[0] for r in ranges.values()]), np.array([r[1] for r in ranges.values()])
    points = qmc.scale(unit, lows, highs)
    return [[*fixed, *(f"{k}={v:.6g}" for k, v in zip(ranges, point))] for point in points]


def parameter_spread(pool, base: Path, outcomes: list) -> dict:
    """s.d. of each outcome over the parameter sample, seed 0 throughout."""
    runs = run_all(pool, [(str(base), sets, 0) for sets in parameter_sets()])
    return {label(o): float(np.std([value(r, o) for r in runs], ddof=1)) for o in outcomes}


def scenarios(pool) -> None:
    print(f"## Scenarios against the baseline (2040; paired over seeds 0-{len(PAIRED_SEEDS) - 1})\n")
    print("Parameter s.d.: the baseline's outcome over a Latin hypercube of "
          f"{PARAMETER_POINTS} points in the ranges of experiments/sensitivity.yaml (seed 0).\n")
    base_runs = run_all(pool, [(str(BASELINE), [], s) for s in PAIRED_SEEDS])
    every = sorted({label(o): o for outs in SCENARIOS.values() for o in outs}.items())
    params = parameter_spread(pool, BASELINE, [o for _, o in every])
    print("| scenario | outcome | baseline mean | mean paired difference | 95% CI | seed s.d. (baseline) | parameter s.d. | difference / seed s.d. |")
    print("|---|---|---|---|---|---|---|---|")
    for name, outcomes in SCENARIOS.items():
        runs = run_all(pool, [(str(ROOT / "configs" / f"{name}.yaml"), [], s) for s in PAIRED_SEEDS])
        for o in outcomes:
            b = np.array([value(r, o) for r in base_runs])
            x = np.array([value(r, o) for r in runs])
            d = x - b
            half = float(cs.ci95(d.std(ddof=1), len(d)))
            sd = b.std(ddof=1)
            ratio = abs(d.mean()) / sd if sd > 0 else float("inf")
            print(f"| {name} | {label(o)} | {b.mean():.4g} | {d.mean():+.4g} | [{d.mean() - half:+.3g}, {d.mean() + half:+.3g}] | {sd:.3g} | {params[label(o)]:.3g} | {ratio:.1f} |")
    print()


def uncertainty(pool) -> None:
    print("## Which source of uncertainty dominates a 15-year projection (2040 values, s.d.)\n")
    raw = yaml.safe_load(BASELINE.read_text())
    quiet = {**raw, "shocks": {}}
    still = {**quiet, "rules": {**raw["rules"], "decision": {**raw["rules"]["decision"], "noise": 0.0}}}
    sources = {
        f"seeds, baseline as is ({len(SPREAD_SEEDS)} seeds)": [(str(BASELINE), [], s) for s in SPREAD_SEEDS],
        "seeds, no stochastic shocks": [(quiet, [], s) for s in SPREAD_SEEDS],
        "seeds, no shocks and no decision noise": [(still, [], s) for s in SPREAD_SEEDS],
        f"parameters ({PARAMETER_POINTS} points, seed 0)": [(str(BASELINE), sets, 0) for sets in parameter_sets()],
        f"parameters, another draw ({PARAMETER_POINTS} points, seed 1)": [(str(BASELINE), sets, 1) for sets in parameter_sets(draw=1)],  # how much the ratio to the seeds owes to one draw
        f"parameters and seeds ({PARAMETER_POINTS} points, seed = point)": [(str(BASELINE), sets, k) for k, sets in enumerate(parameter_sets())],
        f"neighbour-rule rates, x0.5-x2 ({PARAMETER_POINTS} points, seed 0)": [(str(BASELINE), sets, 0) for sets in parameter_sets(NEIGHBOUR_RANGES)],
    }
    print("| source | " + " | ".join(OUTCOMES) + " |")
    print("|---" * (len(OUTCOMES) + 1) + "|")
    start = RegionModel(load(BASELINE), rng=0).metrics  # the 2025 start, before any step
    ends = None
    for name, jobs in sources.items():
        runs = run_all(pool, jobs)
        if ends is None:
            ends = runs
        print(f"| {name} | " + " | ".join(f"{np.std([r[c] for r in runs], ddof=1):.4f}" for c in OUTCOMES.values()) + " |")
    print("| change 2025 -> 2040, baseline mean | " + " | ".join(f"{np.mean([r[c] for r in ends]) - start[c]:+.4f}" for c in OUTCOMES.values()) + " |")
    print()


RUSSIA_JOINS = ROOT / "configs" / "russia_joins_regional_format.yaml"
POSTERIOR = ROOT / "data" / "posterior_baseline.csv"
# variant -> (sets, seeds, with the calibrated posterior); each moves one assumption of the
# calculus a little, to show how far the accession switch sits from its threshold
SWITCH_VARIANTS = {
    "as shipped": ([], PAIRED_SEEDS, False),
    "join threshold 0.055 (0.05)": (["rules.membership.join=0.055"], PAIRED_SEEDS, False),
    "neighbour pull 0.19 (0.2)": (["rules.membership.neighbour_pull=0.19"], PAIRED_SEEDS, False),
    "C6 membership cost 0.16 (0.15)": (["organisations.CMHS.membership_cost=0.16"], PAIRED_SEEDS, False),
    "C6 security benefit 0.08 (0.1)": (["organisations.CMHS.benefits.security=0.08"], PAIRED_SEEDS, False),
    "decay rate 0.05 (0.02)": (["rules.decay.rate=0.05"], PAIRED_SEEDS, False),
    "calibrated posterior (a draw per seed)": ([], SPREAD_SEEDS, True),
}


def accession(job) -> dict:
    """Run the Russia-joins scenario; Armenia's and Georgia's value of the C6 at the 2027
    review (as the review sees it, before it acts) and whether each ends a member."""
    sets, seed, drawn = job
    scenario = load(RUSSIA_JOINS, [*sets, *([f"posterior={POSTERIOR}"] if drawn else [])])
    model = RegionModel(scenario, rng=seed)  # with the posterior: this seed's draw of the parameters
    rule, seen = model.rules["membership"], {}
    review, column = rule.review, [org.key for org in model.organisations].index("CMHS")

    def recording(m):
        if m.steps == 8:
            seen.update(zip(("armenia", "georgia"), rule.values(m)[[m.state_index["armenia"], m.state_index["georgia"]], column].tolist()))
        return review(m)

    rule.review = recording
    while model.running:
        model.step()
    members = {model.state_keys[i] for i in model.organisations["CMHS"].members}
    return {"values": seen, "both": {"armenia", "georgia"} <= members}


def switch(pool) -> None:
    """How far the C6 accession of Armenia and Georgia (Russia inside) sits from its threshold."""
    print("## The accession switch: Russia in the C6, one assumption moved at a time (join above 0.05)\n")
    print("| variant | runs | Armenia and Georgia end inside | Armenia's C6 value at the 2027 review (median) | Georgia's |")
    print("|---|---|---|---|---|")
    for name, (sets, seeds, drawn) in SWITCH_VARIANTS.items():
        runs = pool.map(accession, [(sets, seed, drawn) for seed in seeds], chunksize=2)
        am, ge = (np.median([r["values"][s] for r in runs]) for s in ("armenia", "georgia"))
        print(f"| {name} | {len(runs)} | {sum(r['both'] for r in runs)} | {am:.4f} | {ge:.4f} |")
    print()


# base -> (scenario, overrides); rule -> overrides of rules.spending
OUTBID_BASES = {
    "baseline": (BASELINE, []),
    "EU 0.5 bn in the South Caucasus, Russia in the C6": (RUSSIA_JOINS, [*EU_IN_SC_ONLY, *(f"{p}=0.5" for p in EU_MONEY)]),
}
OUTBID_RULES = {
    "fixed": [],
    **{f"outbid {r}": ["rules.spending.name=outbid", f"rules.spending.response={r}"] for r in (0.5, 0.75, 1, 1.25, 1.5, 2)},
    **{f"outbid 2, ceiling {c}": ["rules.spending.name=outbid", "rules.spending.response=2", f"rules.spending.ceiling={c}"] for c in (0.25, 4)},
}


def outbidding(pool) -> None:
    """Powers answering their rivals' new money, against fixed budgets (paired seeds)."""
    print(f"## Outbidding (rules.spending; ceiling 1 bn a quarter per domain; 2040, seeds 0-{len(PAIRED_SEEDS) - 1})\n")
    for base, (path, sets) in OUTBID_BASES.items():
        cells = {rule: run_all(pool, [(str(path), [*sets, *extra], s) for s in PAIRED_SEEDS]) for rule, extra in OUTBID_RULES.items()}
        fixed = cells["fixed"]
        print(f"### {base}\n")
        print("| rule | new money in answer (bn/quarter) | " + " | ".join(OUTCOMES) + " | coercions per run | Armenia and Georgia in the C6 | main-patron map differs from fixed |")
        print("|---" * (len(OUTCOMES) + 5) + "|")
        for rule, runs in cells.items():
            means = [np.mean([r[c] for r in runs]) for c in OUTCOMES.values()]
            diffs = [np.mean([r[c] - f[c] for r, f in zip(runs, fixed)]) for c in OUTCOMES.values()]
            shown = means if rule == "fixed" else diffs
            cells_text = " | ".join(f"{x:.3f}" if rule == "fixed" else f"{x:+.3f}" for x in shown)
            flips = sum(r["_patrons"] != f["_patrons"] for r, f in zip(runs, fixed))
            print(f"| {rule} | {np.mean([r['_answered'] for r in runs]):.2f} | {cells_text} | {np.mean([r['_coercions'] for r in runs]):.1f} | "
                  f"{sum(r['_both_in_c6'] for r in runs)} of {len(runs)} | {flips} {patron_changes(runs, fixed)} |")
        print("\n(fixed: means; outbid rows: mean paired difference from fixed, same seed; main-patron changes: state, fixed -> outbid, runs)\n")


def patron_changes(runs: list[dict], fixed: list[dict]) -> str:
    """Which states' main patrons differ from the same seed under fixed budgets, and how."""
    states, powers = fixed[0]["_states"], fixed[0]["_powers"]
    moves = [(states[i], powers[a], powers[b]) for r, f in zip(runs, fixed) for i, (a, b) in enumerate(zip(f["_patrons"], r["_patrons"])) if a != b]
    return "(" + ", ".join(f"{s} {a} -> {b} x{moves.count((s, a, b))}" for s, a, b in dict.fromkeys(moves)) + ")" if moves else ""


# --------------------------------------------------------------------------- bandwagon maps

MAP_SEEDS = range(120)


def bandwagon(pool) -> None:
    """How often each main-patron map ends a bandwagon run: the screen's six seeds a value
    show that its end states depend on the seed, not how often each one wins."""
    print(f"## Bandwagon end states (rules.decision: bandwagon; 2040, seeds 0-{len(MAP_SEEDS) - 1})\n")
    half = len(MAP_SEEDS) // 2  # the most common map's runs in each half of the seeds: whether more seeds would still move the share
    print(f"| bonus | EU influence, mean (s.d.) | main-patron maps (runs of {len(MAP_SEEDS)}) | most common map, share (95% Wilson interval) "
          f"| its runs, seeds {MAP_SEEDS[0]}-{MAP_SEEDS[half - 1]} / {MAP_SEEDS[half]}-{MAP_SEEDS[-1]} |")
    print("|---|---|---|---|---|")
    for bonus in (1, 2, 4, 6):
        runs = run_all(pool, [(str(BASELINE), ["rules.decision.name=bandwagon", f"rules.decision.bonus={bonus}"], s) for s in MAP_SEEDS])
        eu = [r["influence_european_union"] for r in runs]
        common, top = Counter(r["_patrons"] for r in runs).most_common(1)[0]
        low, high = cs.wilson95(top, len(runs))
        halves = [sum(r["_patrons"] == common for r in part) for part in (runs[:half], runs[half:])]
        print(f"| {bonus} | {np.mean(eu):.3f} ({np.std(eu, ddof=1):.3f}) | {patron_maps(runs, by_count=True)} | {top / len(runs):.2f} ({low:.2f}-{high:.2f}) | {halves[0]} / {halves[1]} |")
    print()


SECTIONS = {"memberships": memberships, "switch": switch, "screen": screen, "bandwagon": bandwagon, "scenarios": scenarios, "uncertainty": uncertainty, "outbidding": outbidding}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", metavar="section", help=f"one of {', '.join(SECTIONS)} (default: all)")
    chosen = parser.parse_args(argv).sections or list(SECTIONS)
    if unknown := [s for s in chosen if s not in SECTIONS]:
        parser.error(f"unknown section {unknown[0]!r}; sections: {', '.join(SECTIONS)}")
    with Pool(2) as pool:
        for name in chosen:
            SECTIONS[name](pool)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
