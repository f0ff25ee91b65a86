"""abm compare: common seeds, the table at chosen dates, charts, clean failures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from abm.cli import main
from abm.compare import compare, differences, markdown, table
from abm.experiment import Summary, summarise
from abm.runner import run
from abm.scenario import ScenarioError
from tests.conftest import BASELINE, GENERATED, ROOT

NO_PEACE = ROOT / "configs" / "no_peace.yaml"


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The baseline against no_peace (2 seeds, 4 steps, the table on 2026-01-01), compared
    once for the tests that only read what it returned and wrote: its table (a copy to
    each test) and its folder."""
    out = tmp_path_factory.mktemp("compared") / "c"
    return compare([str(BASELINE), str(NO_PEACE)], out, seeds=2, steps=4, dates=["2026-01-01"]), out


def test_compare_uses_the_same_seeds_as_single_runs(compared):
    tab, out = compared[0].copy(), compared[1]
    series = pd.read_csv(out / "series.csv")
    for seed in (0, 1):
        alone = run(BASELINE, seed=seed, steps=4).model
        mine = series[(series["scenario"] == "baseline") & (series["seed"] == seed)]
        assert np.allclose(mine["fragmentation"].to_numpy(), alone["fragmentation"].to_numpy())
    assert set(tab["scenario"]) == {"baseline", "no_peace"}
    row = tab[tab["scenario"] == "baseline"].iloc[0]
    at = series[(series["scenario"] == "baseline") & (series["date"] == "2026-01-01")]["integration"]
    assert row["integration_mean"] == pytest.approx(at.mean())
    assert row["integration_sd"] == pytest.approx(at.std(ddof=1))
    for name in ("series.csv", "compare.csv", "compare.md", "compare.png", "compare.svg"):
        assert (out / name).stat().st_size > 0


def test_table_picks_the_step_in_force_on_each_date():
    """The last step on or before a date, as sweep summaries' ``at:`` and calibration
    patterns read it, so the tools agree on a date between two steps."""
    series = pd.DataFrame(
        {"scenario": ["a"] * 6, "seed": [0, 0, 0, 1, 1, 1], "step": [0, 1, 2] * 2,
         "date": ["2025-01-01", "2025-04-01", "2025-07-01"] * 2, "x": [1.0, 2.0, 5.0, 3.0, 6.0, 9.0]}
    )
    tab = table(series, ["2025-06-15"], ["x"])
    assert tab["date"].tolist() == [pd.Timestamp("2025-04-01")]  # dates are datetimes
    assert tab["x_mean"].tolist() == [4.0]  # (2 + 6) / 2
    assert tab["x_sd"].iloc[0] == pytest.approx(np.std([2.0, 6.0], ddof=1))
    assert table(series, ["2025-07-01"], ["x"])["x_mean"].tolist() == [7.0]  # a step's own date
    summary = Summary(metric="x", stat="at", date="2025-06-15")
    assert summarise(series[series["seed"] == 0], [summary]) == [2.0]


def test_dates_in_the_same_step_give_one_row_not_copies():
    """``--dates 2025-04-01 2025-04-01 2025-01-01 2025-02-15`` names each step twice: the
    table and the differences hold it once, as a step is what they describe (2025-05-15,
    after the last step, names none)."""
    series = pd.DataFrame(
        {"scenario": ["a"] * 4 + ["b"] * 4, "seed": [0, 0, 1, 1] * 2, "step": [0, 1] * 4,
         "date": ["2025-01-01", "2025-04-01"] * 4, "x": [1.0, 2.0, 3.0, 4.0, 1.0, 3.0, 3.0, 6.0]}
    )
    dates = ["2025-04-01", "2025-05-15", "2025-04-01", "2025-01-01", "2025-02-15"]
    tab, diffs = table(series, dates, ["x"]), differences(series, dates, ["x"])
    assert tab[["scenario", "date"]].astype(str).values.tolist() == [["a", "2025-04-01"], ["b", "2025-04-01"], ["a", "2025-01-01"], ["b", "2025-01-01"]]
    assert len(diffs) == 2 and diffs["date"].nunique() == 2
    # which dates were asked stays visible: 2025-02-15 is shown by the quarter starting 2025-01-01
    assert tab["asked"].tolist() == ["2025-04-01"] * 2 + ["2025-01-01, 2025-02-15"] * 2
    assert diffs["asked"].tolist() == ["2025-04-01", "2025-01-01, 2025-02-15"]
    note = "Dates asked, shown by the step in force on them (a step is a quarter, dated by its first day): 2025-01-01, 2025-02-15 -> 2025-01-01.\n"
    assert note in markdown(tab, diffs, ["x"])
    assert "Dates asked" not in markdown(tab[tab["asked"] == "2025-04-01"], diffs, ["x"])


def test_unknown_metric_is_a_clean_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ScenarioError, match="nonsense"):
        compare([str(BASELINE)], tmp_path / "c", seeds=1, steps=2, metrics=["nonsense"])
    assert not (tmp_path / "c").exists()
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "2", "--metrics", "nonsense", "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()


def test_same_named_scenarios_are_refused_naming_the_files(tmp_path):
    """A file extending the baseline without a name: of its own takes 'baseline'; the
    refusal said 'got baseline, baseline', naming neither file nor the fix."""
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {BASELINE}\nrules:\n  decision: {{name: bandwagon}}\n")
    with pytest.raises(ScenarioError, match="its own name") as info:
        compare([str(BASELINE), str(child)], tmp_path / "c", seeds=1, steps=2)
    ((field, message),) = info.value.problems
    assert field == "name" and message.endswith("'baseline' names baseline.yaml, child.yaml") and "its own name:" in message


def test_a_horizon_out_of_range_is_refused_from_python_too(tmp_path):
    """compare() called from Python (a notebook) checks steps as abm compare --steps does:
    40,000 quarters ran past the year 9999 while it worked out the dates, a traceback."""
    with pytest.raises(ScenarioError, match=r"must be in \[1, 10000\] \(got 40000\)"):
        compare([str(BASELINE)], tmp_path / "c", seeds=1, steps=40_000)
    assert not (tmp_path / "c").exists()


def test_a_seed_set_on_the_command_line_is_refused_not_ignored(tmp_path, capsys):
    """compare runs seeds 0..N-1 whatever the scenario's seed: --set seed=5 would be
    ignored while provenance.yaml recorded it."""
    assert main(["compare", str(BASELINE), str(ROOT / "configs" / "no_peace.yaml"), "--seeds", "1", "--steps", "2", "--set", "seed=5", "--out", str(tmp_path / "c")]) == 2
    assert "--set seed: abm compare runs every scenario with the same seeds 0..N-1 (--seeds N)" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_differences_are_paired_by_seed_with_a_t_interval():
    series = pd.DataFrame({
        "scenario": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2, "step": [0] * 6, "date": ["2025-01-01"] * 6,
        "x": [1.0, 5.0, 9.0, 1.5, 5.4, 9.7],  # big spread between seeds, small and steady paired gap
    })
    d = differences(series, ["2025-01-01"], ["x"]).iloc[0]
    gaps = np.array([0.5, 0.4, 0.7])
    half = 4.302652729749464 * gaps.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert d["scenario"] == "b" and d["reference"] == "a" and d["seeds"] == 3
    assert d["difference"] == pytest.approx(gaps.mean())
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((gaps.mean() - half, gaps.mean() + half))
    assert d["clear"]  # paired, the gap is clear although the seeds' spread is ten times larger


def test_default_metrics_are_those_the_scenarios_questions_name(compared):
    out = compared[1]
    tab = pd.read_csv(out / "compare.csv")
    for metric in ("fragmentation_south_caucasus", "integration_south_caucasus", "corridor_tripp_zangezur_volume"):  # no_peace's question
        assert f"{metric}_mean" in tab.columns and f"{metric}_ci95" in tab.columns
    diffs = pd.read_csv(out / "differences.csv", parse_dates=["date"])
    assert set(diffs["scenario"]) == {"no_peace"} and set(diffs["reference"]) == {"baseline"}
    assert diffs["date"].dt.year.tolist()[0] == 2026
    assert (out / "differences.png").stat().st_size > 0
    assert "2 seeds" in (out / "differences.svg").read_text()  # as compare.png says; differences.png did not
    md = (out / "compare.md").read_text()
    assert "95% confidence interval" in md and "Differences from baseline" in md
    rows = [line for line in md.split("## Differences from")[1].splitlines() if line.startswith("| no_peace |")]
    cells = len(rows) * (rows[0].count("|") - 3)  # each row: scenario, date, then one cell per metric
    assert f"not adjusted for the table's {cells} cells" in md  # a * is one cell's own interval: 1 in 20 of many cells are starred by chance
    assert "corridor_tripp_zangezur_volume: Mt per year" in md and "fragmentation_south_caucasus: index, 0-1" in md  # a volume beside 0-1 indices


def test_every_shipped_scenario_watches_metrics_the_model_reports():
    columns = set(run(BASELINE, seed=0, steps=1).model.columns)
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        from abm.scenario import load

        unknown = [m for m in load(path).watch if m not in columns]
        assert not unknown, f"{path.name}: {unknown}"


@pytest.mark.parametrize("name", ["date", "scenario", "step", "seed", "fragmentaton"])
def test_metrics_are_checked_against_the_models_metrics_before_any_run(tmp_path, monkeypatch, capsys, name):
    """Only metrics: the series' other columns (date, scenario, step, seed) are refused
    like a typo, with one line naming --metrics, and before the first run starts."""
    monkeypatch.setattr("abm.compare.run", lambda *a, **k: pytest.fail("a model ran before the check"))
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "2", "--metrics", name, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--metrics" in err and "fragmentation_south_caucasus" in err
    if name == "fragmentaton":
        assert "did you mean fragmentation or" in err
    else:  # no near match: every metric is listed
        assert "did you mean" not in err and "influence_european_union" in err and "regional_trade_share" in err
    assert not (tmp_path / "d").exists()


def test_a_watched_typo_is_refused_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setattr("abm.compare.run", lambda *a, **k: pytest.fail("a model ran before the check"))
    scenario = tmp_path / "typo.yaml"
    scenario.write_text(f"extends: {BASELINE}\nname: typo\nwatch: [integraton]\n")
    with pytest.raises(ScenarioError, match="watch.*integraton.*did you mean '?integration"):
        compare([str(BASELINE), str(scenario)], tmp_path / "c", seeds=1, steps=2)


def test_a_scenario_watching_its_new_power_compares_with_the_baseline_on_the_metrics_given(tmp_path, capsys):
    """Its watch: names a column the baseline lacks (influence of a power the baseline does
    not have): with --metrics it was refused all the same, so that the file had to be
    edited to be compared; without --metrics the refusal says what to do."""
    scenario = tmp_path / "kr.yaml"
    scenario.write_text(f"extends: {BASELINE}\nname: kr\nwatch: [influence_south_korea]\npowers: {{south_korea: {{name: South Korea}}}}\n")
    args = ["compare", str(BASELINE), str(scenario), "--seeds", "1", "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2
    assert "or choose the metrics with --metrics" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert main([*args, "--metrics", "fragmentation", "--out", str(tmp_path / "c")]) == 0


def test_a_comparison_records_what_produced_it(tmp_path, capsys):
    """provenance.yaml: the command, seeds, overrides, versions, commit, and each scenario
    as it ran (overrides and --steps applied), loadable to re-run it."""
    from abm.scenario import load

    out = tmp_path / "c"
    args = ["compare", str(BASELINE), str(NO_PEACE), "--seeds", "2", "--steps", "2", "--dates", "2025-04-01", "--metrics", "integration", "--set", "rules.decay.rate=0.1", "--out", str(out)]
    assert main(args) == 0
    prov = yaml.safe_load((out / "provenance.yaml").read_text())
    assert prov["argv"] == ["abm", *args] and prov["seeds"] == [0, 1] and prov["sets"] == ["rules.decay.rate=0.1"]
    assert prov["dates"] == ["2025-04-01"] and prov["metrics"] == ["integration"]
    assert prov["cwd"] == str(Path.cwd())  # the command's relative paths resolve from here
    assert len(prov["model"]["commit"]) == 40 and isinstance(prov["model"]["dirty"], bool) and prov["packages"]["mesa"] and "kernels)" in prov["blas"]
    assert list(prov["scenarios"]) == ["baseline", "no_peace"]
    for name, scenario in prov["scenarios"].items():
        again = load(scenario)
        assert again.name == name and again.time.steps == 2 and again.rules.decay["rate"] == 0.1
    assert "provenance.yaml" in capsys.readouterr().out


def test_the_table_and_charts_name_the_overrides_they_ran_with(tmp_path, monkeypatch):
    """A table or chart pasted into a paper alone must say that the scenarios were not run
    as their files say (here 2 quarters and another decay rate), and which seeds and commit;
    the charts' heading fits in the figure, even over a single panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from abm import compare as module

    saved, save = {}, module.cs.save
    monkeypatch.setattr(module.cs, "save", lambda fig, path, **kw: (saved.setdefault(path.name, fig), save(fig, path, **kw)))
    out = tmp_path / "c"
    assert main(["compare", str(BASELINE), str(NO_PEACE), "--seeds", "2", "--steps", "2", "--metrics", "integration", "--set", "rules.decay.rate=0.1", "--out", str(out)]) == 0
    md = (out / "compare.md").read_text()
    assert md.startswith("Runs: seeds 0..1 in every scenario; overrides `--set rules.decay.rate=0.1`, `--steps 2`; model commit ")
    assert sorted(saved) == ["compare.png", "compare.svg", "differences.png", "differences.svg"]
    for fig in saved.values():
        assert "scenarios overridden by --set rules.decay.rate=0.1, --steps 2" in " ".join(fig.get_suptitle().split())

        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        heading, page = fig._suptitle.get_window_extent(renderer), fig.bbox
        assert page.x0 <= heading.x0 and heading.x1 <= page.x1, (heading, page)
    # an override with a space, as it would be typed again
    assert main(["compare", str(BASELINE), str(NO_PEACE), "--seeds", "1", "--steps", "1", "--metrics", "integration", "--set", "description=two words", "--out", str(tmp_path / "d")]) == 0
    assert "overrides `--set 'description=two words'`, `--steps 1`;" in (tmp_path / "d" / "compare.md").read_text()


def test_compare_md_names_the_code_outside_git_by_its_source_fingerprint():
    """An installed copy has no commit: compare.md said "model commit None"."""
    from abm.compare import source_line

    line = source_line(2, [], {"commit": None, "dirty": None, "source": "7cdd1ce42c9a6a5e"})
    assert "None" not in line and "source fingerprint 7cdd1ce42c9a6a5e" in line
    assert "model commit 0123456789ab with uncommitted changes" in source_line(2, [], {"commit": "0123456789abcdef", "dirty": True, "source": "x"})


def same_chart(a, b) -> bool:
    """Byte-identical, except that an SVG's coordinates may differ in their last written
    digit (constrained layout's solver noise, ~1e-13, on a rounding tie)."""
    if a.suffix != ".svg":
        return a.read_bytes() == b.read_bytes()
    import re

    number = r"(-?\d+\.\d+)"
    parts_a, parts_b = re.split(number, a.read_text()), re.split(number, b.read_text())
    return len(parts_a) == len(parts_b) and all(x == y if k % 2 == 0 else abs(float(x) - float(y)) <= 2e-6 for k, (x, y) in enumerate(zip(parts_a, parts_b)))


def test_the_charts_are_reproducible(tmp_path):
    """The same comparison twice gives the same chart files: no date stamp in an SVG and
    no random ids (a figure in a paper's repository does not change on every re-run)."""
    for out in ("a", "b"):
        compare([str(BASELINE), str(NO_PEACE)], tmp_path / out, seeds=1, steps=2, metrics=["integration"])
    for name in ("compare.svg", "compare.png", "differences.svg", "differences.png"):
        assert same_chart(tmp_path / "a" / name, tmp_path / "b" / name), name
    svg = (tmp_path / "a" / "compare.svg").read_text()
    assert "<dc:date>" not in svg
    import re
    import xml.etree.ElementTree as ET

    ET.fromstring(svg)  # still well-formed
    assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= set(re.findall(r'id="([^"]+)"', svg))  # every clip path it uses, defined


def test_scenarios_with_other_states_or_powers_say_so_and_show_the_start(tmp_path, capsys, compared):
    """Region-wide means over other states and powers differ at step 0 by composition
    alone, and a paired difference marked that clear like an effect, without a word."""
    for name, states, powers in (("small", 10, 5), ("wider", 11, 6)):
        (tmp_path / f"{name}.yaml").write_text(f"extends: {GENERATED}\nname: {name}\ngenerated: {{n_states: {states}, n_powers: {powers}}}\n")
    out = tmp_path / "c"
    assert main(["compare", str(tmp_path / "small.yaml"), str(tmp_path / "wider.yaml"), "--seeds", "2", "--steps", "4", "--metrics", "fragmentation", "--out", str(out)]) == 0
    notice = "the scenarios differ in who is in the region (wider states +s0010; wider powers +p005, from small): region-wide metrics differ by that alone at the start, so the tables show it too"
    assert f"notice: {notice}" in capsys.readouterr().err and notice in (out / "compare.md").read_text()
    assert pd.read_csv(out / "differences.csv")["date"].tolist() == ["2025-01-01", "2026-01-01"]  # the start, then the default dates
    assert "who is in the region" not in (compared[1] / "compare.md").read_text()  # the same states and powers: no notice, no start date
    args = [str(tmp_path / "small.yaml"), str(tmp_path / "wider.yaml"), "--seeds", "2", "--steps", "4", "--metrics", "fragmentation"]
    assert main(["compare", *args, "--dates", "2025-07-01", "--out", str(tmp_path / "dated")]) == 0  # the dates asked for, and the notice says so
    assert "alone at the start, which the tables do not show" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "dated" / "differences.csv")["date"].tolist() == ["2025-07-01"]
    assert main(["compare", *args, "--dates", "2025-02-01", "2025-07-01", "--out", str(tmp_path / "with_start")]) == 0  # a date asked for that the start is in force on
    assert "alone at the start, so the tables show it too" in capsys.readouterr().err
    assert main(["compare", "--from", str(out / "provenance.yaml"), "--out", str(tmp_path / "again")]) == 0  # its recorded dates hold the start
    assert f"notice: {notice}" in capsys.readouterr().err and notice in (tmp_path / "again" / "compare.md").read_text()
    assert pd.read_csv(tmp_path / "again" / "differences.csv")["date"].tolist() == ["2025-01-01", "2026-01-01"]
    (tmp_path / "later.yaml").write_text(f"extends: {GENERATED}\nname: later\ntime: {{start: 2025-07-01}}\ngenerated: {{n_states: 11}}\n")
    assert main(["compare", str(tmp_path / "small.yaml"), str(tmp_path / "later.yaml"), "--seeds", "2", "--metrics", "fragmentation", "--out", str(tmp_path / "later")]) == 0
    assert "which the tables do not show" in capsys.readouterr().err  # 2025-07-01 is small's step 2, not a start they share
    assert "2025-07-01" not in pd.read_csv(tmp_path / "later" / "differences.csv")["date"].tolist()


def test_scenarios_with_different_periods_are_compared_on_the_dates_they_share(tmp_path, capsys):
    """A run of 2024-01 to 2025-07 against one of 2025-01 to 2026-01: the tables hold the
    three shared quarters, for both scenarios, with no nan; a notice names both periods;
    the console summary shows both scenarios at the last shared date."""
    early = tmp_path / "early.yaml"
    early.write_text(f"extends: {BASELINE}\nname: early\ntime: {{start: 2024-01-01, steps: 6, step_months: 3}}\n")
    late = tmp_path / "late.yaml"
    late.write_text(f"extends: {BASELINE}\nname: late\ntime: {{start: 2025-01-01, steps: 4, step_months: 3}}\n")
    out = tmp_path / "c"
    assert main(["compare", str(late), str(early), "--seeds", "2", "--metrics", "fragmentation", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "notice: the tables compare only the 3 date(s) every run reaches, 2025-01-01 to 2025-07-01" in captured.err
    assert "late 2025-01-01 to 2026-01-01 every 3 month(s), early 2024-01-01 to 2025-07-01 every 3 month(s)" in captured.err
    tab = pd.read_csv(out / "compare.csv")
    assert tab["date"].tolist() == ["2025-07-01"] * 2 and tab["scenario"].tolist() == ["late", "early"]
    diffs = pd.read_csv(out / "differences.csv")
    assert diffs["difference"].notna().all() and diffs["date"].tolist() == ["2025-07-01"]
    md = (out / "compare.md").read_text()
    assert not re.search(r"\bnan\b", md) and "Note: the tables compare only" in md
    assert not re.search(r"\bnan\b", captured.out) and "  late " in captured.out and "  early " in captured.out
    assert pd.read_csv(out / "series.csv").groupby("scenario")["date"].agg(["min", "max"]).to_dict("index") == {
        "early": {"min": "2024-01-01", "max": "2025-07-01"}, "late": {"min": "2025-01-01", "max": "2026-01-01"}}  # whole runs kept


def test_scenarios_that_share_no_date_are_refused_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("abm.compare.run", lambda *a, **k: pytest.fail("a model ran before the check"))
    start_2020 = ROOT / "configs" / "start_2020.yaml"
    assert main(["compare", str(BASELINE), str(start_2020), "--seeds", "2", "--steps", "4", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: scenarios: the runs share no date") and err.count("\n") == 1
    assert "baseline 2025-01-01 to 2026-01-01 every 3 month(s), start_2020 2020-01-01 to 2021-01-01 every 3 month(s)" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("configs", [[BASELINE], [BASELINE, NO_PEACE]])
def test_compare_says_which_files_it_wrote(tmp_path, capsys, configs):
    """The "wrote" line names exactly the files written: one scenario alone has no paired
    differences, so no differences.csv (not an empty one) and no differences chart, and
    the line pointing to compare.md for the metrics not printed does not promise them."""
    out = tmp_path / "c"
    assert main(["compare", *map(str, configs), "--seeds", "2", "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("every one, with the paired differences, in" in printed) == (len(configs) > 1) and "metrics; every one" in printed
    listed = re.search(r"^wrote .*/ \((.*)\): ", printed, re.M).group(1).split(", ")
    named = {name for item in listed for name in ([item.replace("/.svg", ""), item.replace(".png/", "")] if "/." in item else [item])}
    assert named == {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert ("differences.csv" in named) == (len(configs) > 1)
    if len(configs) > 1:
        assert pd.read_csv(out / "differences.csv").columns[0] == "scenario"


def test_small_effects_keep_two_significant_digits(tmp_path, capsys):
    """A clear difference of 3e-05 reads +3.0e-05 ± ...*, not +0.000 ± 0.000* ("zero, and
    clear"); levels and half-widths below 0.01 keep two digits too; one seed prints no nan."""
    from abm.compare import markdown

    series = pd.DataFrame({
        "scenario": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2, "step": [0] * 6, "date": ["2025-01-01"] * 6,
        "x": [0.0041, 0.0043, 0.0045, 0.00413, 0.00433, 0.00453],
    })
    tab, diffs = table(series, ["2025-01-01"], ["x"]), differences(series, ["2025-01-01"], ["x"])
    md = markdown(tab, diffs, ["x"])
    assert "| a | 2025-01-01 | 0.0043 ± 5.0e-04 |" in md
    assert re.search(r"\| b \| 2025-01-01 \| \+3\.0e-05 ± \d\.\de-\d\d\* \|", md), md
    assert "0.000" not in md
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "1", "--metrics", "integration", "--out", str(tmp_path / "c")]) == 0
    assert not re.search(r"\bnan\b", capsys.readouterr().out)
    one = pd.read_csv(tmp_path / "c" / "compare.csv")  # one seed: no s.d. to estimate (it was written as 0, a spread of none)
    assert one["integration_sd"].isna().all() and one["integration_ci95"].isna().all()


def test_compare_with_steps_warns_of_events_the_runs_never_reach(tmp_path, capsys):
    """As abm run does: a run cut short by --steps leaves dated events out of its tables."""
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "2", "--metrics", "integration", "--out", str(tmp_path / "c")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert "warning: baseline: events.am_az_peace: dated 2025-08-08, after the run's end 2025-07-01; it will not fire" in warned
    assert len(warned) == len(set(warned))  # once per event


def test_provenance_names_a_posterior_relative_to_the_folder_with_its_hash(tmp_path):
    """As a run's scenario.resolved.yaml does: the folder can move with its posterior."""
    import shutil

    shutil.copy(ROOT / "data" / "posterior_baseline.csv", tmp_path / "post.csv")
    (tmp_path / "cal.yaml").write_text(f"extends: {BASELINE}\nname: cal\nposterior: post.csv\n")
    out = tmp_path / "c"
    assert main(["compare", str(tmp_path / "cal.yaml"), "--seeds", "1", "--steps", "1", "--metrics", "integration", "--out", str(out)]) == 0
    ran = yaml.safe_load((out / "provenance.yaml").read_text())["scenarios"]["cal"]
    assert ran["posterior"] == "../post.csv" and len(ran["provenance"]["posterior_sha256"]) == 64
    assert main(["compare", "--from", str(out / "provenance.yaml"), "--out", str(tmp_path / "again")]) == 0  # found from the record's folder
    assert (tmp_path / "again" / "series.csv").read_bytes() == (out / "series.csv").read_bytes()


@pytest.mark.parametrize(("steps", "rule"), [(0, "must be in [1, 10000] (got 0)"), (10_001, "must be in [1, 10000] (got 10001)")])
@pytest.mark.parametrize("command", ["run", "compare"])
def test_steps_out_of_range_is_blamed_on_steps_before_any_warning(command, steps, rule, tmp_path, capsys):
    """One check, time.steps's own (abm.scenario.with_run_settings), named as typed: the
    CLI checked only the lower bound, so abm run blamed --steps 10001 on time.steps, and
    abm compare failed with a traceback (a date past the year 9999)."""
    assert main([command, str(BASELINE), "--steps", str(steps), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: --steps: {rule}\n" and not (tmp_path / "o").exists()


def test_every_scenarios_problems_are_reported_at_once(tmp_path, capsys):
    """abm compare stopped at the first broken file, so a second one's problems showed only
    after the first was mended (newcomer review)."""
    (tmp_path / "bad1.yaml").write_text(yaml.safe_dump({"extends": str(BASELINE), "name": "b1", "time": {"steps": 0}}))
    (tmp_path / "bad2.yaml").write_text(yaml.safe_dump({"extends": str(BASELINE), "name": "b2", "rules": {"decision": {"cap": 3}}}))
    assert main(["compare", str(tmp_path / "bad1.yaml"), str(tmp_path / "bad2.yaml"), str(BASELINE), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad1.yaml: time.steps: must be in [1, 10000]" in err and "bad2.yaml: rules.decision.cap: must be in (0, 1]" in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_a_bad_set_shared_by_every_scenario_is_reported_once(tmp_path, capsys):
    assert main(["compare", str(BASELINE), str(ROOT / "configs" / "no_peace.yaml"), "--set", "rules.decision.cap=3", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "error: 1 problem(s) in --set: rules.decision.cap: must be in (0, 1] (got 3)\n"


def test_a_set_that_fails_on_some_scenarios_names_them(tmp_path, capsys):
    """An event only one file has: the override is named with the file it fails on, not
    reported as the command line's problem for every file."""
    assert main(["compare", str(BASELINE), str(ROOT / "configs" / "russia_joins_regional_format.yaml"), "--set", "events.russia_joins_c6.date=2026-06-01", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 problem(s): --set: events.russia_joins_c6.date: no such setting 'russia_joins_c6'") and err.endswith(f" (in {BASELINE})\n"), err
    assert "russia_joins_regional_format.yaml" not in err and not (tmp_path / "o").exists()
    assert main(["compare", str(BASELINE), str(ROOT / "configs" / "russia_joins_regional_format.yaml"), "--set", "events.russia_joins_c6.date=2026-06-01", "--set", "nosuch=1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err  # beside it, an override every file refuses alike is said once, naming none
    assert err.startswith("error: 2 problem(s): --set: events.russia_joins_c6.date: ") and err.count("--set: nosuch: no such setting 'nosuch'") == 1 and "(in " not in err.split("--set: nosuch:")[1], err


def test_a_comparison_runs_again_from_its_record_even_after_its_files_changed(tmp_path, capsys):
    """provenance.yaml holds every scenario as it ran: `abm compare --from` re-runs the
    comparison from it, byte for byte, though the scenario file has changed since."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"extends": str(NO_PEACE), "name": "mine", "rules": {"coercion": {"name": "none"}}}))
    first, again, more = tmp_path / "first", tmp_path / "again", tmp_path / "more"
    assert main(["compare", str(BASELINE), str(mine), "--seeds", "2", "--steps", "4", "--dates", "2025-10-01", "--out", str(first)]) == 0
    printed = capsys.readouterr().out
    assert "(the first 3 of 7 metrics; every one, with the paired differences, in" in printed  # not dropped without a word
    mine.write_text(yaml.safe_dump({"extends": str(NO_PEACE), "name": "mine"}))  # changed after the comparison
    assert main(["compare", "--from", str(first / "provenance.yaml"), "--out", str(again)]) == 0
    for name in ("series.csv", "compare.csv", "differences.csv"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    assert f"`--from {first / 'provenance.yaml'}`, `--steps 4 (recorded)`" in (again / "compare.md").read_text().splitlines()[0]  # the horizon its scenarios carry, said again
    assert main(["compare", "--from", str(first / "provenance.yaml"), "--seeds", "3", "--out", str(more)]) == 0  # what is given changes it
    series = pd.read_csv(more / "series.csv")
    assert sorted(series["seed"].unique()) == [0, 1, 2] and series["step"].max() == 4
    capsys.readouterr()

    for command in (["run", str(first / "provenance.yaml")], ["sweep", str(first / "provenance.yaml")], ["compare", str(first / "provenance.yaml")]):
        assert main([*command, "--out", str(tmp_path / "never")]) == 2
        assert f"is the record of an abm compare, not a" in capsys.readouterr().err
    assert main(["compare", "--from", str(first / "compare.csv"), "--out", str(tmp_path / "never")]) == 2
    assert main(["compare", "--from", str(mine), "--out", str(tmp_path / "never")]) == 2
    assert "is not the provenance.yaml of an abm compare" in capsys.readouterr().err
    assert main(["compare", str(mine), "--from", str(first / "provenance.yaml"), "--out", str(tmp_path / "never")]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_a_record_rerun_with_another_horizon_or_bad_parts_is_said_plainly(tmp_path, capsys):
    """--steps with --from took the record's dates (the old horizon's end): a shorter run
    was refused for --dates, which nobody gave; --seeds 0 ran 5 seeds; a problem inside a
    recorded scenario did not say which."""
    first = tmp_path / "first"
    assert main(["compare", str(BASELINE), str(NO_PEACE), "--seeds", "2", "--steps", "4", "--metrics", "integration", "--out", str(first)]) == 0
    record = first / "provenance.yaml"
    assert main(["compare", "--from", str(record), "--steps", "2", "--out", str(tmp_path / "short")]) == 0
    assert pd.read_csv(tmp_path / "short" / "compare.csv")["date"].max() == "2025-07-01"  # the new horizon's end
    for steps, end in (("2", "2025-07-01"), ("6", "2026-07-01")):  # the same horizon set by --set: shorter was refused, longer kept the old end
        assert main(["compare", "--from", str(record), "--set", f"time.steps={steps}", "--out", str(tmp_path / f"set{steps}")]) == 0
        assert pd.read_csv(tmp_path / f"set{steps}" / "compare.csv")["date"].max() == end
    capsys.readouterr()
    for args in (["compare", str(BASELINE), "--seeds", "0"], ["compare", "--from", str(record), "--seeds", "0"]):
        assert main([*args, "--out", str(tmp_path / "never")]) == 2
        assert "--seeds must be at least 1" in capsys.readouterr().err

    data = yaml.safe_load(record.read_text())
    data["scenarios"]["no_peace"]["time"]["steps"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["compare", "--from", str(bad), "--out", str(tmp_path / "never")]) == 2
    assert f"in {bad}, scenarios.no_peace: time.steps: must be in [1, 10000] (got -1)" in capsys.readouterr().err
    data = yaml.safe_load(record.read_text())
    data["dates"] = []
    bad.write_text(yaml.safe_dump(data))
    assert main(["compare", "--from", str(bad), "--out", str(tmp_path / "never")]) == 2
    assert f"in {bad}: dates: a list of dates (YYYY-MM-DD), as abm compare writes it (got [])" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("name", ["NA", "null"])
def test_a_scenario_named_like_a_missing_value_keeps_its_rows(tmp_path, name):
    """pandas reads "NA", "null" or "None" in a CSV as missing: the comparison re-read its
    series.csv that way and dropped the scenario from every table (its differences came out
    empty or "from nan"), exiting 0."""
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {NO_PEACE}\nname: \"{name}\"\n", encoding="utf-8")
    tab = compare([str(BASELINE), str(child)], tmp_path / "c", seeds=2, steps=4, dates=["2026-01-01"])
    assert tab["scenario"].tolist() == ["baseline", name]
    diffs = pd.read_csv(tmp_path / "c" / "differences.csv", keep_default_na=False)
    assert set(diffs["scenario"]) == {name} and diffs["difference"].ne("").all()


@pytest.mark.parametrize("option, values", [("--metrics", ["fragmentation", "division", "fragmentation"]), ("--dates", ["2025-04-01", "2025-04-01"])])
def test_a_metric_or_date_given_twice_is_refused_before_any_run(tmp_path, monkeypatch, capsys, option, values):
    """A repeated metric gave the table two identical columns; a repeated date, one row
    for two asked: a repeat is a slip, refused like a repeated id in a scenario."""
    monkeypatch.setattr("abm.compare.run", lambda *a, **k: pytest.fail("a model ran before the check"))
    assert main(["compare", str(BASELINE), "--seeds", "1", "--steps", "2", option, *values, "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err and f"more than once: {values[0]}" in err
    assert not (tmp_path / "d").exists()
