"""Scenario discovery (abm.discovery): PRIM finds a box that is known, outcome classes are
validated like the rest of a spec, and `abm report` writes the discovery's figures and tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from abm import discovery, experiment, results, sweep
from abm.cli import main

try:
    from tests.test_sweep import BASELINE, ROOT, tiny_spec
except ImportError:
    from test_sweep import BASELINE, ROOT, tiny_spec


def synthetic(seed: int, n: int = 1000) -> pd.DataFrame:
    """Uniform inputs; the outcome is high exactly in the box a > 0.6, b < 0.3 (c, d and
    the base scenario are irrelevant), with 3% of labels flipped as noise."""
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({p: rng.uniform(0, 1, n) for p in "abcd"})
    t["scenario"] = rng.choice(["peace", "no_peace"], n)
    inside = (t["a"] > 0.6) & (t["b"] < 0.3)
    flip = rng.uniform(0, 1, n) < 0.03
    t["y_final"] = np.where(inside ^ flip, 1.0, 0.0) + rng.uniform(0, 0.1, n)
    return t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prim_finds_the_known_box(seed):
    d = discovery.analyse(synthetic(seed), list("abcd"), "y_final > 0.5", "high", density=0.9, seed=seed)
    box = d.box.set_index("parameter")
    assert set(box.index) == {"a", "b"}, box
    assert box.at["a", "min"] == pytest.approx(0.6, abs=0.05) and box.at["a", "max"] > 0.95
    assert box.at["b", "max"] == pytest.approx(0.3, abs=0.05) and box.at["b", "min"] < 0.05
    assert (box[["qp_lower", "qp_upper"]].min(axis=1) < 1e-6).all()  # both limits matter
    chosen = d.trajectory.set_index("id").loc[d.chosen]
    assert chosen["density"] >= 0.9 and chosen["coverage"] >= 0.75
    # the trajectory starts from the whole space (then peels inward, and pastes at the end)
    assert d.trajectory["coverage"].iloc[0] == 1.0 and d.trajectory["mass"].iloc[0] == 1.0
    scores = d.scores.set_index("feature")["score"]
    assert min(scores["a"], scores["b"]) > max(scores["c"], scores["d"], scores["base"])
    # CART: the leaves that hold (almost) only the class hold most of it
    assert d.cart.loc[d.cart["density"] > 0.85, "coverage"].sum() > 0.7, d.cart


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cart_leaves_over_several_base_scenarios_are_counted_from_the_runs_in_them(seed):
    """The class holds where a > 0.5 in one base scenario only. Each leaf's limits and
    statistics must be those of the runs the tree sends to it: EMA Workbench's own leaf
    boxes gave every leaf the other base, and the class's leaf coverage and density 0."""
    rng = np.random.default_rng(seed)
    n = 400
    t = pd.DataFrame({"a": rng.uniform(0, 1, n), "b": rng.uniform(0, 1, n), "scenario": np.repeat(["baseline", "no_peace"], n // 2)})
    t["y_final"] = ((t["a"] > 0.5) & (t["scenario"] == "no_peace")).astype(float)
    cart = discovery.analyse(t, ["a", "b"], "y_final > 0.5", seed=seed).cart
    assert cart["mass"].sum() == pytest.approx(1.0) and cart["coverage"].sum() == pytest.approx(1.0)
    found = cart[cart["density"] == 1.0]
    assert len(found) == 1 and found["coverage"].iloc[0] == 1.0, cart
    assert "base in {no_peace}" in found["limits"].iloc[0] and "a > 0.5" in found["limits"].iloc[0], cart
    y = t["y_final"] > 0.5
    for _, leaf in cart.iterrows():  # every leaf's figures, recounted from its limits in words
        inside = pd.Series(True, index=t.index)
        for part in filter(None, leaf["limits"].split("; ")):
            if part.startswith("base in "):
                inside &= t["scenario"].isin(part.removeprefix("base in {").removesuffix("}").split(", "))
            elif " < " in part:
                lo, rest = part.split(" < ")
                col, hi = rest.split(" <= ")
                inside &= (t[col] > float(lo)) & (t[col] <= float(hi))
            elif " > " in part:
                col, lo = part.split(" > ")
                inside &= t[col] > float(lo)
            else:
                col, hi = part.split(" <= ")
                inside &= t[col] <= float(hi)
        assert leaf["mass"] == pytest.approx(inside.mean()) and leaf["coverage"] == pytest.approx((inside & y).sum() / y.sum()), leaf


def test_the_discovery_is_reproducible():
    one, two = (discovery.analyse(synthetic(4), list("abcd"), "y_final > 0.5", seed=7) for _ in range(2))
    pd.testing.assert_frame_equal(one.box, two.box)
    pd.testing.assert_frame_equal(one.holdout, two.holdout)  # the same halves for the same seed
    other = discovery.analyse(synthetic(4), list("abcd"), "y_final > 0.5", seed=8)
    assert not one.holdout[["held_coverage", "held_density"]].equals(other.holdout[["held_coverage", "held_density"]])
    pd.testing.assert_frame_equal(one.scores, two.scores)
    pd.testing.assert_frame_equal(one.cart, two.cart)


def test_classes_read_numbers_quantiles_and_conjunctions():
    t = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, np.nan], "z": [1.0, 1.0, 0.0, 1.0, 1.0]})
    assert discovery.classify(t, "x > 1").tolist() == [False, False, True, True, False]
    assert discovery.classify(t, "x >= q50").tolist() == [False, False, True, True, False]  # quantiles of the finite values
    assert discovery.classify(t, "x <= quantile(0.25) and z > 0.5").tolist() == [True, False, False, False, False]
    terms = discovery.parse("x >= q80 and z < -1e-3")
    assert [(t.summary, t.op, t.value, t.quantile) for t in terms] == [("x", ">=", 0.8, True), ("z", "<", -1e-3, False)]


def test_a_class_that_holds_everywhere_or_nowhere_is_refused():
    with pytest.raises(discovery.ClassError, match="holds for 0 of"):
        discovery.analyse(synthetic(1), list("abcd"), "y_final > 5")


def test_a_quantile_of_a_summary_no_run_has_leaves_the_class_undefined_not_empty():
    """q50 of a summary without a value in any run (a threshold no run crossed) was NaN,
    with numpy's All-NaN warning: no run was in the class, and its share came out 0. The
    class is undefined and says why; a number threshold still leaves such runs out of it."""
    t = synthetic(1, 40).assign(never=np.nan)
    with pytest.raises(discovery.ClassError, match=r"^'never' has no value in any of the 40 runs, so it has no quantile q50$"):
        discovery.classify(t, "y_final > 0.5 and never <= q50")
    assert not discovery.classify(t, "never < 2030").any()
    with pytest.raises(discovery.ClassError, match=r"^outcome 'early' \(never <= quantile\(0.5\)\) is undefined: 'never' has no value in any of the 40 runs"):
        discovery.analyse(t, list("abcd"), "never <= quantile(0.5)", outcome="early")


def _spec(tmp_path, **changes):
    spec = tiny_spec(
        name="tiny_discovery",
        set={"time.steps": 4},
        grid={},
        sample={"method": "latin", "n": 24, "ranges": {"rules.coercion.strength": [0.0, 1.0], "rules.decision.noise": [0.0, 0.3]}},
        replications=1,
        outcomes={"fragmented": "fragmentation_final >= q50"},
        charts=[{"type": "discovery", "outcome": "fragmented", "mass_min": 0.1}],
    )
    spec.update(changes)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


BAD = {
    "unreadable class": ({"outcomes": {"fragmented": "fragmentation_final is large"}}, "outcomes.fragmented: cannot read 'fragmentation_final is large'"),
    "quantile out of range": ({"outcomes": {"fragmented": "fragmentation_final > q120"}}, "outcomes.fragmented: 'fragmentation_final > q120': a quantile must lie strictly between 0 and 1"),
    "unknown summary": ({"outcomes": {"fragmented": "fragmentation_2040 > 0.5"}}, "outcomes.fragmented: 'fragmentation_2040' is not a summary; did you mean 'fragmentation_final'?"),
    "undeclared class": ({"charts": [{"type": "discovery", "outcome": "fragmentd"}]}, "charts.0.outcome: 'fragmentd' is not an outcome class; declared: fragmented"),
    "parameter not swept": ({"charts": [{"type": "discovery", "outcome": "fragmented", "parameters": ["rules.decision.cap"]}]}, "charts.0.parameters: 'rules.decision.cap' is not swept"),
    "no parameters": ({"charts": [{"type": "discovery", "outcome": "fragmented", "parameters": []}]}, "charts.0.parameters: must not be empty"),  # searched every swept one, silently
    "bad density": ({"charts": [{"type": "discovery", "outcome": "fragmented", "density": 1.5}]}, "charts.0.density: must be in (0, 1] (got 1.5)"),
    "bad holdout": ({"charts": [{"type": "discovery", "outcome": "fragmented", "holdout": -1}]}, "charts.0.holdout: must be in [0, 100] (got -1)"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_outcome_classes_exit_2_with_one_line(case, tmp_path, capsys):
    changes, message = BAD[case]
    path = _spec(tmp_path, **changes)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_latin_sample_runs_in_each_of_several_scenarios():
    spec = yaml.safe_load(_spec_text())
    exp = experiment.load(spec, base_dir=ROOT / "experiments")
    assert len(exp.points) == 2 * 24 and {p.scenario for p in exp.points} == {"peace", "no_peace"}
    first = [p.values for p in exp.points if p.scenario == "peace"]
    assert first == [p.values for p in exp.points if p.scenario == "no_peace"]  # the same sample in each


def _spec_text() -> str:
    spec = tiny_spec(
        grid={}, scenario=None, scenarios={"peace": "../configs/baseline.yaml", "no_peace": "../configs/no_peace.yaml"},
        sample={"method": "latin", "n": 24, "ranges": {"rules.coercion.strength": [0.0, 1.0]}}, charts=[],
    )
    return yaml.safe_dump(spec)


def test_a_sobol_sample_still_needs_one_scenario():
    spec = yaml.safe_load(_spec_text())
    spec["sample"] = {"method": "sobol", "n": 8, "ranges": {"rules.coercion.strength": [0.0, 1.0]}}
    with pytest.raises(experiment.ExperimentError, match="a sobol sample needs a single base"):
        experiment.load(spec, base_dir=ROOT / "experiments")


def test_report_of_a_discovery_sweep_writes_its_figures_and_tables(tmp_path):
    out = tmp_path / "sweep"
    assert sweep.run(_spec(tmp_path), out, workers=1, progress=False).ok == 24
    assert main(["report", str(out)]) == 0
    report = out / "report"
    stem = "discovery_fragmented"
    for suffix in ("prim", "box", "cart", "scores"):
        assert (report / f"{stem}_{suffix}.png").stat().st_size > 1000 and (report / f"{stem}_{suffix}.svg").exists()
    trajectory = pd.read_csv(report / f"{stem}_trajectory.csv")
    assert trajectory["coverage"].iloc[0] == 1.0 and trajectory["density"].iloc[0] == pytest.approx(0.5, abs=0.05)
    assert set(pd.read_csv(report / f"{stem}_scores.csv")["feature"]) == {"rules.coercion.strength", "rules.decision.noise"}
    box = pd.read_csv(report / f"{stem}_box.csv")
    assert list(box.columns) == ["parameter", "min", "max", "qp_lower", "qp_upper", "range_min", "range_max", "pruned_min", "pruned_max", "refits_restricted", "refits_significant"]
    notes = (report / f"{stem}_box.md").read_text()
    assert "quasi-p-values" in notes and "(Bonferroni over the box's" in notes and "- pruned box (pruned_min/pruned_max" in notes
    assert "- held out (5 refits on random halves, each box tested on the other half): median coverage" in notes
    holdout = pd.read_csv(report / f"{stem}_holdout.csv")
    assert len(holdout) == 5 and {"held_coverage", "held_density", "restricted", "significant"} <= set(holdout.columns)
    assert f"![{stem}_prim]({stem}_prim.png)" in (report / "summary.md").read_text()
    # the class is computed from the stored summaries, as the report says
    table = results.load(out).table()
    assert discovery.classify(table, "fragmentation_final >= q50").mean() == pytest.approx(0.5, abs=0.05)


def test_a_run_shared_by_identical_points_counts_once(tmp_path):
    """A grid listing a value twice makes two points share their runs: PRIM must see each
    run once, or the shared runs weigh double in every box's density and coverage."""
    spec = yaml.safe_load(_spec(tmp_path).read_text())
    spec.pop("sample")
    spec["grid"] = {"rules.coercion.strength": [0.0, 0.5, 0.5, 1.0], "rules.decision.noise": [0.05, 0.3]}
    spec["replications"] = 3
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "sweep"
    sweep.run(path, out, workers=1, progress=False)
    res = results.load(out)
    assert len(res.table()) == 24 and res.table()["run"].nunique() == 18  # the premise: 6 runs shared
    ctx = SimpleNamespace(results=res, spec=spec)
    found = discovery.run(ctx, experiment.load(path).charts[0])
    assert found.trajectory["n"].iloc[0] == 18


def holding(t: pd.DataFrame, limits: pd.DataFrame) -> np.ndarray:
    """The runs of ``t`` inside the limits of a box table's rows (``min`` to ``max``, both
    included, as PRIM counts; the base's kept values listed in ``min``), counted by hand."""
    inside = np.ones(len(t), dtype=bool)
    for lim in limits.itertuples():
        if lim.parameter == "base":
            inside &= t["scenario"].astype(str).isin(lim.min.split(", ")).to_numpy()
        else:
            inside &= ((t[lim.parameter] >= lim.min) & (t[lim.parameter] <= lim.max)).to_numpy()
    return inside


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_box_of_the_peeling_trajectory_can_be_chosen_with_its_limits(seed):
    """box_at(i) gives the limits of box i: exactly the runs inside them make the
    trajectory's count and class count of that box, for every box from the whole space in."""
    t = synthetic(seed)
    d = discovery.analyse(t, list("abcd"), "y_final > 0.5", "high", density=0.9, seed=seed)
    pd.testing.assert_frame_equal(d.box_at(d.chosen), d.box.drop(columns=["refits_restricted", "refits_significant"]))
    y = discovery.classify(t, "y_final > 0.5")
    for row in d.trajectory.itertuples():
        limits = d.box_at(row.id)
        assert len(limits) == row.res_dim and (row.res_dim == 0) == (row.id == 0)
        inside = holding(t, limits)
        assert (inside.sum(), y[inside].sum()) == (row.n, row.k), (row, limits)
    assert d.describe(d.chosen).startswith(f"box {d.chosen}: coverage")
    with pytest.raises(KeyError, match="no box"):
        d.box_at(len(d.trajectory) + 5)


def test_the_pruned_box_keeps_the_significant_limits_and_is_counted_on_the_runs():
    """A limit is significant below 0.05 divided by the number of limits its box tests
    (Bonferroni); the pruned box keeps only those, and its coverage, density, mass and
    counts are those of the runs inside what is left, counted here by hand. The class:
    a > 0.5 in the no_peace base, its labels flipped in 15% of the runs where c > 0.5 and
    2% elsewhere; on these 400 runs PRIM's box limits b and c besides the base, and c's
    upper limit (qp 0.035) would pass at 0.05 but not at 0.05 / 5."""
    t = synthetic(4, 400)
    flip = np.random.default_rng(4).uniform(0, 1, len(t)) < np.where(t["c"] > 0.5, 0.15, 0.02)
    t["y_final"] = (((t["a"] > 0.5) & (t["scenario"] == "no_peace")) ^ flip).astype(float)
    d = discovery.analyse(t, list("abcd"), "y_final > 0.5", "high", seed=4, fits=0)
    box = d.box
    qp = box[["qp_lower", "qp_upper"]]
    threshold = 0.05 / qp.notna().sum().sum()
    significant = qp < threshold  # an untested side (NaN) is not
    # the premise: a significant category kept, and a limit between the threshold and 0.05 dropped
    assert significant.loc[box["parameter"] == "base", "qp_lower"].all(), box
    assert ((qp >= threshold) & (qp < 0.05)).any().any(), box
    assert discovery.significance(int(qp.notna().sum().sum())) == threshold
    kept = box.assign(min=box["min"].where(significant["qp_lower"], box["range_min"]), max=box["max"].where(significant["qp_upper"], box["range_max"]))
    assert kept[["min", "max"]].astype(str).values.tolist() == box[["pruned_min", "pruned_max"]].astype(str).values.tolist()
    y = discovery.classify(t, "y_final > 0.5")
    inside = holding(t, kept)
    assert d.pruned == pytest.approx({"coverage": y[inside].sum() / y.sum(), "density": y[inside].mean(), "mass": inside.mean(), "n": inside.sum(), "k": y[inside].sum()})
    assert d.pruned["n"] > d.trajectory.set_index("id").at[d.chosen, "n"]  # fewer limits, more runs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_box_fitted_to_noise_holds_no_more_of_the_class_than_its_share_out_of_sample(seed):
    """The class is drawn independently of every input: on the half it was fitted to, PRIM
    still finds a box denser than the class's share, and on the other half, the holdout's,
    the box holds the class at about its share."""
    t = synthetic(seed, 600)
    t["y_final"] = np.random.default_rng(seed + 100).uniform(0, 1, len(t))
    d = discovery.analyse(t, list("abcd"), "y_final > 0.7", "noise", density=0.5, seed=seed)
    h = d.holdout
    assert len(h) == discovery.HOLDOUT_FITS and list(h["fit"]) == list(range(discovery.HOLDOUT_FITS))
    assert h["density"].median() > d.share + 0.05  # the premise: in sample, PRIM finds something
    assert abs(h["held_density"].median() - d.share) < 0.05, h
    assert h["held_density"].median() < h["density"].median() - 0.05, h


def test_a_points_replications_stay_in_one_half_of_the_holdout():
    """Halves were drawn by run: with replications, the held-out half held the very points
    the box was fitted on, so a box fitted to noise that every replication of a point
    shares (a class drawn per point, with nothing to do with the inputs) kept much of its
    in-sample density out of sample (0.08 above the class's share, averaged over five
    seeds). Split by point, it holds the class at about its share."""
    above, held_above = [], []
    for seed in range(1, 6):
        points = synthetic(seed, 200)
        points["y_final"] = np.random.default_rng(seed + 100).uniform(0, 1, len(points))  # one draw per point
        t = pd.concat([points] * 3, ignore_index=True)  # three replications of each point, alike
        d = discovery.analyse(t, list("abcd"), "y_final > 0.7", "noise", density=0.5, seed=seed)
        above.append(d.holdout["density"].median() - d.share)
        held_above.append(d.holdout["held_density"].median() - d.share)
    assert np.mean(above) > 0.1  # the premise: in sample, PRIM finds something
    assert np.mean(held_above) < 0.04, held_above


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_holdout_finds_a_known_box_again_on_the_other_half(seed):
    """The box a > 0.6, b < 0.3 is in the model, not in the sample: every refit restricts
    a and b by significant limits, never c or d by one, and counted on the other half the
    box keeps most of its coverage and density."""
    d = discovery.analyse(synthetic(seed), list("abcd"), "y_final > 0.5", "high", density=0.9, seed=seed)
    h = d.holdout
    assert h["held_density"].median() > 0.9 and h["held_coverage"].median() > 0.7, h
    assert discovery.restricted(h, "significant").to_dict() == {"a": 5, "b": 5}, h
    assert d.box.set_index("parameter")[["refits_restricted", "refits_significant"]].loc[["a", "b"]].eq(5).all().all()


def test_a_class_at_one_point_gets_no_holdout_and_says_why():
    """Halves of points with the class at a single point (a 5x5 grid, 4 replications, the
    class in one corner): every refit fitted a half without the class, or tested on one
    without it, and reported coverage 0 with nothing restricted, which read as "a trait
    of the sample". The refits are skipped and the reason given."""
    grid = pd.DataFrame([(a, b) for a in range(5) for b in range(5)] * 4, columns=["a", "b"]).astype(float)
    grid["y_final"] = ((grid["a"] == 4) & (grid["b"] == 0)).astype(float)
    d = discovery.analyse(grid, ["a", "b"], "y_final > 0.5", "corner", density=0.5, seed=1)
    assert d.holdout.empty and "1 parameter point(s) with a run in the class and 24 without one" in d.holdout.attrs["skipped"]
    assert discovery._held(d) == d.holdout.attrs["skipped"] and not d.box.columns.str.startswith("refits_").any()


def test_a_discovery_without_refits_says_nothing_of_them():
    """holdout: 0 (fits=0) skips the refits: no held-out table, and no refits columns of zeros in the box table."""
    d = discovery.analyse(synthetic(1), list("abcd"), "y_final > 0.5", "high", density=0.9, seed=1, fits=0)
    assert d.holdout.empty and not any(c.startswith("refits_") for c in d.box.columns)
    assert "held out" not in " ".join(t.get_text() for t in discovery.box_figure(SimpleNamespace(footer="footer"), d).findobj(lambda a: hasattr(a, "get_text")))


def test_the_box_picker_shows_the_box_chosen_on_the_slider(tmp_path):
    import ipywidgets as widgets
    out = tmp_path / "sweep"
    assert sweep.run(_spec(tmp_path), out, workers=1, progress=False).ok == 24
    res = results.load(out)
    d = discovery.analyse(res.table(), res.parameters, "fragmentation_final >= q50", "fragmented", mass_min=0.1, seed=11)
    picker = discovery.box_picker(d, out)
    slider, (image, table) = picker.children[0], picker.children[1].children
    assert isinstance(slider, widgets.SelectionSlider) and slider.value == d.chosen
    assert d.describe(d.chosen) in table.value and image.value[:4] == b"\x89PNG"
    first = image.value
    slider.value = 0  # the whole space: nothing restricted
    assert d.describe(0) in table.value and "restricts none" in table.value
    assert image.value != first


def test_the_shipped_discovery_experiment_has_2000_runs_over_levers_and_both_yes_no_levers():
    exp = experiment.load(ROOT / "experiments" / "discovery.yaml")
    assert len(exp.runs) >= 2000
    assert set(exp.bases) == {"peace", "no_peace", "peace_russia_in_format", "no_peace_russia_in_format"}
    assert "am_az_peace" not in exp.bases["no_peace_russia_in_format"].raw.get("events", {}) or exp.bases["no_peace_russia_in_format"].raw["events"]["am_az_peace"] is None
    assert "russia_joins_c6" in exp.bases["no_peace_russia_in_format"].raw["events"]
    assert {"powers.united_states.budget.investment", "rules.decision.cap", "freight.risk_premium"} <= set(exp.parameters)
    assert BASELINE.exists()


def test_prim_restricts_a_category_when_the_class_depends_on_it():
    t = synthetic(5)
    t["y_final"] = ((t["a"] > 0.5) & (t["scenario"] == "no_peace")).astype(float)
    d = discovery.analyse(t, list("abcd"), "y_final > 0.5", density=0.95, seed=5)
    box = d.box.set_index("parameter")
    assert box.at["base", "min"] == "no_peace" and box.at["base", "qp_lower"] < 1e-6
    assert box.at["a", "min"] == pytest.approx(0.5, abs=0.05)
    assert d.scores.set_index("feature")["score"].nlargest(2).index.tolist() in (["a", "base"], ["base", "a"])


def test_runs_without_a_value_are_counted_where_the_class_is_said():
    """A class of the latest crossings put the runs that never crossed (the latest of all)
    outside it, and no figure or table of the discovery said so."""
    t = synthetic(2)
    t.loc[t.index[:150], "y_final"] = np.nan
    d = discovery.analyse(t, list("abcd"), "y_final > 0.5", "high", seed=2)
    assert d.blank == 150
    assert "counting 150 run(s) without a value (threshold never crossed) as outside it" in discovery._what(d)
    assert "without a value" not in discovery._what(discovery.analyse(synthetic(2), list("abcd"), "y_final > 0.5", seed=2))


def test_the_tree_names_a_category_in_words_not_by_its_coded_column():
    """CART splits on 0/1 columns named 'base!?!no_peace'; the figure showed that name."""
    t = synthetic(5)
    t["y_final"] = ((t["a"] > 0.5) & (t["scenario"] == "no_peace")).astype(float)
    d = discovery.analyse(t, list("abcd"), "y_final > 0.5", seed=5)
    fig = discovery.cart_figure(SimpleNamespace(footer="footer"), d)
    shown = " ".join(t.get_text() for ax in fig.subfigs[1].axes for t in ax.texts)
    assert "(base scenario = no_peace) <= 0.5" in shown and discovery.DUMMY_SEP not in shown
    def said(fig):
        return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))

    assert "(parameter = value) <= 0.5: the runs with another value go left" in said(fig)
    numeric_only = discovery.analyse(synthetic(5), list("abcd"), "y_final > 0.5", seed=5, depth=1)  # one split, on a or b
    assert "(parameter = value)" not in said(discovery.cart_figure(SimpleNamespace(footer="footer"), numeric_only))
