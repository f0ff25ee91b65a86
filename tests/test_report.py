"""abm report: summary tables and charts that say what produced them; sensitivity
analyses that refuse incomplete designs."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from types import SimpleNamespace

import matplotlib.patches
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from abm import chartstyle as cs
from abm import experiment, report, results, store, sweep
from abm.cli import main
from abm.runner import run

try:
    from tests.test_charts import texts
    from tests.test_compare import same_chart
    from tests.test_sweep import reference, tiny_spec  # noqa: F401  (reference is a fixture)
except ImportError:
    from test_charts import texts
    from test_compare import same_chart
    from test_sweep import reference, tiny_spec  # noqa: F401


def failing_above(scenario, seed):
    """Raises for coercion strength above 0.7, so a sampled design has holes."""
    if scenario.rules.coercion["strength"] > 0.7:
        raise RuntimeError("injected failure for the test")
    return run(scenario, seed)


def sampled_spec(method: str, n: int, **sample) -> dict:
    return tiny_spec(
        name=f"tiny_{method}",
        set={"time.steps": 2},
        grid={},
        sample={"method": method, "n": n, "ranges": {"rules.coercion.strength": [0.0, 1.0], "rules.decision.noise": [0.0, 0.3]}, **sample},
        replications=1,
        charts=[{"type": method, "metrics": ["fragmentation_final", "integration_mean_last2"]}],
    )


@pytest.fixture(scope="module")
def made(reference):
    assert main(["report", str(reference)]) == 0
    return reference / "report"


def test_the_report_writes_a_summary_table_and_every_chart(made):
    names = {p.name for p in made.iterdir()}
    for stem in ("timeseries_fragmentation_integration", "phase_fragmentation_final", "box_integration_mean_last2"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    assert {"summary.csv", "summary.md", "phase_fragmentation_final.csv"} <= names


def test_the_summary_table_has_mean_and_spread_per_point(made, reference):
    table = pd.read_csv(made / "summary.csv")
    assert len(table) == 4 and (table["runs_ok"] == 3).all() and (table["runs_failed"] == 0).all()
    with closing(sqlite3.connect(reference / "results.sqlite")) as conn:
        values = pd.read_sql_query(
            "SELECT d.point, s.fragmentation_final FROM summaries s JOIN design d ON d.run = s.run", conn
        ).groupby("point")["fragmentation_final"]
    pd.testing.assert_series_equal(table.set_index("point")["fragmentation_final_mean"], values.mean(), check_names=False)
    pd.testing.assert_series_equal(table.set_index("point")["fragmentation_final_sd"], values.std(), check_names=False)
    md = (made / "summary.md").read_text()
    assert md.startswith("# tiny") and "| point | scenario | rules.coercion.strength |" in md and "![phase_fragmentation_final]" in md
    assert "Model commit `" in md and "`, source fingerprint `" in md and "`None`" not in md  # the code is named in or out of git
    # every column defined in words, with its unit: a derived name alone did not say what it was
    assert "- `fragmentation_final`: `fragmentation` at the end of the run; index, 0-1" in md
    assert "- `integration_mean_last2`: mean of `integration` over the last 2 steps; index, 0-1" in md
    assert "- `offers_accepted_max`: greatest value of `offers_accepted` over every step, the start included;" in md


def test_summary_md_names_code_outside_git_by_its_source_fingerprint(reference, tmp_path):
    """A sweep run from an installed copy records no commit: summary.md said `None`."""
    copy = tmp_path / "sweep"
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"].update(commit=None, dirty=None)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(copy)]) == 0
    md = (copy / "report" / "summary.md").read_text()
    assert f"Model commit `unknown`, source fingerprint `{manifest['model']['source']}`" in md


def test_the_report_records_the_code_and_command_that_drew_it(made, reference):
    """The report quoted the sweep's commit alone: a change to the code that draws it
    (report.py, chartstyle.py: outside the sweep's source fingerprint) changed its tables'
    intervals with nothing recorded (found by a provenance audit)."""
    from abm.runner import git_state, source_hash

    drawn = yaml.safe_load((made / "provenance.yaml").read_text())
    assert drawn["argv"][1:] == ["report", str(reference)] and drawn["results"] == str(reference.resolve())
    assert drawn["presentation"] == source_hash(presentation=True) != source_hash() and drawn["model"]["commit"] == git_state()["commit"]
    assert drawn["packages"]["matplotlib"] and "kernels)" in drawn["blas"]
    assert f"presentation fingerprint `{drawn['presentation']}`" in (made / "summary.md").read_text()


def test_a_sweep_resumed_under_changed_code_says_which_versions_made_its_runs(made, reference, tmp_path):
    """A sweep finished with --resume --allow-model-change was reported as the work of its
    first session's code alone, in summary.md and in the exported attributes."""
    copy = tmp_path / "sweep"
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((copy / "manifest.json").read_text())
    first = manifest["sessions"][0]["model"]
    same_code = {**manifest["sessions"][0], "model": {**first, "commit": "f" * 40}}  # a resume after a commit that changed no model file
    older = {k: v for k, v in manifest["sessions"][0].items() if k != "model"}  # a session recorded before sessions named their code
    manifest["sessions"] += [same_code, older, {**manifest["sessions"][0], "model": {**first, "dirty": True, "source": "0" * 16}}]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(copy)]) == 0
    versions = [f"source {first['source']} at commit {results.commit_text(first)}", f"source {'0' * 16} at commit {first['commit']} (with uncommitted changes)"]
    md = (copy / "report" / "summary.md").read_text()
    assert "made by 2 versions of the model's code" in md and all(f"`{v}`" in md for v in versions)
    assert results.load(copy).provenance()["session_commits"] == ", ".join(versions)
    assert "versions of the model's code" not in (made / "summary.md").read_text()  # one session, one version: not a word


def test_runs_kept_from_workers_running_other_code_are_credited_to_that_code(reference, tmp_path):
    """summary.md and the exported attributes credited every run to the main process's
    code, though a resume under --allow-model-change had kept a stale worker's runs; a
    session that refused a worker stored none of its runs, so its code is not named."""
    copy = tmp_path / "sweep"
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((copy / "manifest.json").read_text())
    first = manifest["sessions"][0]
    numpy = manifest["packages"]["numpy"]
    manifest["sessions"] += [{**first, "other_code": {"node7:42": {"source": "0" * 16, "libraries": {"numpy": numpy}}, "node7:43": {"source": "0" * 16, "libraries": {"numpy": numpy}}}},
                             {**first, "other_code": {"node8:1": {"source": first["model"]["source"], "libraries": {"numpy": "1.0.0"}}}},
                             {**first, "other_code": {"node9:1": {"source": "1" * 16, "libraries": {}}}, "refused": "refused the results of worker node9:1"}]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(copy)]) == 0
    versions = [f"source {first['model']['source']} at commit {results.commit_text(first['model'])}", f"source {'0' * 16} on worker node7:42", f"source {first['model']['source']} on worker node8:1 with numpy 1.0.0"]
    assert results.load(copy).session_code() == versions
    assert "made by 3 versions of the model's code" in (copy / "report" / "summary.md").read_text()


def test_the_summary_says_what_each_label_of_a_labelled_axis_stands_for(made, tmp_path):
    """summary.md and columns.csv showed 'bandwagon_1' alone: what it set was only in
    experiment.yaml."""
    out = tmp_path / "labelled"
    grid = {"rules.decision": {"hedging": {"name": "hedging", "cap": 0.5}, "bandwagon_1": {"name": "bandwagon", "bonus": 1.0}}, "rules.coercion.strength": [0.0, 1.0]}
    assert sweep.run(tiny_spec(name="labelled", set={"time.steps": 2}, grid=grid, replications=1, charts=[]), out, workers=1, progress=False).ok == 4
    assert main(["report", str(out)]) == 0
    summary = (out / "report" / "summary.md").read_text()
    assert "- `rules.decision`: `hedging` = `{name: hedging, cap: 0.5}`; `bandwagon_1` = `{name: bandwagon, bonus: 1.0}`\n" in summary
    assert "`rules.coercion.strength`:" not in summary  # a list of values is its own label
    meanings = pd.read_csv(out / "report" / "columns.csv").set_index("column")["meaning"]
    assert meanings["rules.decision"].endswith("; a label, whose value summary.md gives") and "label" not in meanings["rules.coercion.strength"]
    assert "labelled swept setting" not in (made / "summary.md").read_text()


def test_columns_csv_gives_every_column_of_the_summary_with_its_unit(made):
    """Units were only in summary.md's prose: a table read by a script had none."""
    table, columns = pd.read_csv(made / "summary.csv"), pd.read_csv(made / "columns.csv", keep_default_na=False)
    assert columns["column"].tolist() == list(table.columns)
    unit = columns.set_index("column")["unit"]
    assert unit["fragmentation_final_mean"] == unit["fragmentation_final_ci95"] == "index, 0-1"
    assert unit["offers_accepted_max_sd"] == "offers per step" and unit["runs_ok"] == unit["fragmentation_final_n"] == "runs"
    assert unit["rules.decision.cap"] == ""  # an index
    assert all(columns["meaning"].str.len() > 10)
    from abm import chartstyle as cs

    assert cs.parameter_unit("powers.china.budget.investment") == "USD bn per quarter"  # what a swept budget's row would say
    # a swept mapping's levels give each domain's new money, not the total (tipping's "0.5" is 1.5 bn a quarter)
    assert cs.parameter_unit("powers.european_union.budget") == "USD bn per quarter and domain"
    assert cs.parameter_unit("generated.budget") == "USD bn per quarter and domain"


def test_a_class_threshold_is_written_as_its_summarys_values_with_the_runs_it_came_from():
    """A decimal year's was written to 4 digits (2028.497 as 2028, which puts a run crossing
    in 2028.25 on the wrong side), and a quantile said it came from every successful run
    where only those with a value count."""
    from abm.report import _class_definition

    runs = pd.DataFrame({"integration_first_above_0.49": [2028.25, 2028.75, np.nan, np.nan], "fragmentation_final": [0.4, 0.5, 0.6, 0.7]})
    units = {"integration_first_above_0.49": "decimal year", "fragmentation_final": "index 0-1"}
    assert _class_definition(runs, "integration_first_above_0.49 >= q50 and fragmentation_final < 0.55", units) == (
        "integration_first_above_0.49 >= q50 and fragmentation_final < 0.55 (integration_first_above_0.49 >= 2028.50: q50 over the sweep's 4 successful runs, "
        "the 2 with a value; fragmentation_final < 0.5500)")
    assert _class_definition(runs, "fragmentation_final >= q25", units) == "fragmentation_final >= q25 (fragmentation_final >= 0.4750: q25 over the sweep's 4 successful runs)"


def test_the_summary_gives_each_points_share_of_runs_in_each_outcome_class(reference, tmp_path):
    """Outcome classes were read by discovery charts alone: summary.csv and summary.md did
    not say how many of a point's runs end fragmented. Each point now has its share of runs
    in each class with the 95% Wilson interval, a quantile threshold being the whole
    sweep's (as a discovery's), not the point's."""
    import shutil

    from scipy import stats

    copy = tmp_path / "classes"
    shutil.copytree(reference, copy)
    spec = tmp_path / "classes.yaml"  # classes added by resuming with them, as docs/experiments.md says: no run repeated
    spec.write_text(yaml.safe_dump(tiny_spec(outcomes={"few_offers": "offers_accepted_max < 1000", "fragmented": "fragmentation_final >= q50"})))
    assert main(["sweep", str(spec), "--out", str(copy), "--resume"]) == 0
    out = tmp_path / "report"
    assert main(["report", str(copy), "--out", str(out)]) == 0
    table = pd.read_csv(out / "summary.csv")
    runs = results.load(copy).table()
    threshold = np.quantile(runs["fragmentation_final"], 0.5)  # over the sweep's 12 runs
    inside = (runs["fragmentation_final"] >= threshold).groupby(runs["point"])
    assert table["fragmented_runs"].tolist() == inside.sum().tolist() and table["fragmented_share"].tolist() == inside.mean().tolist()
    assert table["fragmented_share"].nunique() > 1  # the premise: q50 within each point would put about half of every point in the class
    wilson = [stats.binomtest(int(k), 3).proportion_ci(method="wilson") for k in inside.sum()]
    assert table["fragmented_ci95_low"].tolist() == pytest.approx([w.low for w in wilson])
    assert table["fragmented_ci95_high"].tolist() == pytest.approx([w.high for w in wilson])
    assert (table["few_offers_share"] == 1).all() and table["few_offers_ci95_low"].tolist() == pytest.approx([stats.binomtest(3, 3).proportion_ci(method="wilson").low] * 4)
    md = (out / "summary.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| point |"))
    assert header.endswith("| offers_accepted_max | few_offers_share | fragmented_share |")
    first = table.iloc[0]
    row = next(line for line in md.splitlines() if line.startswith("| 0 |"))
    assert row.endswith(f"| 1.00 (0.44-1.00) | {first['fragmented_share']:.2f} ({first['fragmented_ci95_low']:.2f}-{first['fragmented_ci95_high']:.2f}) |")
    assert f"- `fragmented_share`: share of the point's runs in the outcome class `fragmented`: fragmentation_final >= q50 (fragmentation_final >= {threshold:#.4g}: q50 over the sweep's 12 successful runs)" in md
    assert "- `few_offers_share`: share of the point's runs in the outcome class `few_offers`: offers_accepted_max < 1000\n" in md
    assert "a quantile threshold (such as q80) is taken over every run of the sweep" in md
    plain = tmp_path / "plain"  # classes on fixed numbers only: no word of quantiles
    shutil.copytree(reference, plain)
    spec.write_text(yaml.safe_dump(tiny_spec(outcomes={"few_offers": "offers_accepted_max < 1000"})))
    assert main(["sweep", str(spec), "--out", str(plain), "--resume"]) == 0
    assert main(["report", str(plain), "--out", str(tmp_path / "plain_report")]) == 0
    md = (tmp_path / "plain_report" / "summary.md").read_text()
    assert "`<class>_share` cell" in md and "quantile" not in md
    columns = pd.read_csv(out / "columns.csv", keep_default_na=False).set_index("column")
    assert list(columns.index) == list(table.columns)
    assert columns.at["fragmented_share", "unit"] == "share, 0-1" and "Wilson" in columns.at["fragmented_ci95_low", "meaning"]


def test_an_outcome_class_that_no_run_can_decide_has_no_share_and_says_why_once(tmp_path, capsys):
    """A class on a quantile of a summary no run has (a threshold never crossed) got a
    share of 0 at every point, with numpy's All-NaN warnings: its share is now blank, the
    report says once which class and why, and its discovery chart refers to that."""
    spec = tiny_spec(
        name="never", set={"time.steps": 2}, grid={"rules.coercion.strength": [0.0, 1.0]}, replications=2,
        metrics={"series": ["fragmentation"], "summaries": [{"metric": "fragmentation", "stat": "final"}, {"metric": "fragmentation", "stat": "first_crossing", "threshold": 2}]},
        outcomes={"early": "fragmentation_first_above_2 <= q50", "fragmented": "fragmentation_final >= q50"},
        charts=[{"type": "discovery", "outcome": "early"}],
    )
    out = tmp_path / "never"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 4
    capsys.readouterr()
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    why = "'fragmentation_first_above_2' has no value in any of the 4 runs, so it has no quantile q50"
    assert err.splitlines() == [
        f"warning: outcome 'early' (fragmentation_first_above_2 <= q50) is undefined: {why}; its share is left blank (summary.csv) or 'undefined' (summary.md), not 0",
        "warning: chart 0 (discovery): outcome 'early' is undefined: nothing to discover",
    ]
    table = pd.read_csv(out / "report" / "summary.csv")
    assert table[["early_runs", "early_share", "early_ci95_low", "early_ci95_high"]].isna().all().all()
    assert table["fragmented_share"].notna().all()  # the other class is unaffected
    md = (out / "report" / "summary.md").read_text()
    assert md.count(why) == 1 and f"`early`: fragmentation_first_above_2 <= q50 (undefined: {why}; the share is left blank)" in md
    assert all(line.split(" | ")[-2] == "undefined" for line in md.splitlines() if line.startswith(("| 0 |", "| 1 |")))


def test_the_wilson_interval_is_scipys():
    from scipy import stats

    k, n = np.array([0, 1, 5, 12, 3]), np.array([12, 12, 12, 12, 4])
    low, high = cs.wilson95(k, n)
    wilson = [stats.binomtest(int(a), int(b)).proportion_ci(method="wilson") for a, b in zip(k, n)]
    assert low.tolist() == pytest.approx([w.low for w in wilson]) and high.tolist() == pytest.approx([w.high for w in wilson])
    assert np.isnan(cs.wilson95(0, 0)).all()  # no run, no share


def test_the_phase_table_has_one_cell_per_grid_pair(made):
    cells = pd.read_csv(made / "phase_fragmentation_final.csv")
    assert sorted(zip(cells["rules.coercion.strength"], cells["rules.decision.cap"])) == [(0.0, 0.4), (0.0, 1.0), (1.0, 0.4), (1.0, 1.0)]
    assert (cells["n"] == 3).all()


def test_every_chart_says_what_produced_it(made):
    for svg in made.glob("*.svg"):
        text = svg.read_text()
        assert "experiment tiny" in text and "12 runs" in text and "4 points x 3 replication(s)" in text, svg.name
        assert "SeedSequence(11).spawn(3)" in text, svg.name
    ts = (made / "timeseries_fragmentation_integration.svg").read_text()
    assert "(index, 0-1)" in ts and "coercion strength" in ts and "95% confidence interval" in ts


def test_runs_shared_by_identical_points_count_once(tmp_path):
    """A value listed twice makes identical points that share their runs: 6 planned runs, 4
    computed. The footer must not let a reader believe 6 were, and a chart's cell or line
    counts each run once: twice, its n doubled and its interval shrank (7-fold at n = 2)."""

    out = tmp_path / "twice"
    grid = {"rules.decision.noise": [0.05, 0.05, 0.3], "rules.decision.cap": [0.4, 1.0]}  # noise acts from the first step
    assert sweep.run(tiny_spec(name="twice", set={"time.steps": 2}, grid=grid, replications=1, charts=[]), out, workers=1, progress=False).ok == 4
    res = results.load(out)
    ctx = report.ReportContext(res)
    assert "6 runs (4 distinct: identical points share their runs), 6 points x 1 replication(s)" in ctx.footer
    phase = experiment.CHARTS["phase"].model_validate({"type": "phase", "x": "rules.decision.noise", "y": "rules.decision.cap", "metric": "fragmentation_final"})
    assert report.phase_cells(ctx, phase)["n"].tolist() == [1, 1, 1, 1]
    fig = report.figure(out, {"type": "timeseries", "metrics": ["fragmentation"], "by": "rules.decision.cap"})
    drawn = fig.subfigs[1].axes[0].get_lines()[0].get_ydata()[-1]  # decision cap 0.4, last date
    table = res.table()
    distinct = table[table["rules.decision.cap"] == 0.4].drop_duplicates("run")["fragmentation_final"]
    assert len(distinct) == 2 and distinct.nunique() == 2  # the premise: weighting the shared run twice would move the line
    assert drawn == pytest.approx(distinct.mean()) and drawn != pytest.approx((2 * distinct.iloc[0] + distinct.iloc[1]) / 3)
    # one replication: no band, which the note puts down to the one seed of a pooled group, not to one run
    def said(figure):  # the note as read, whatever lines it wraps to
        return " ".join(texts(figure).split())

    assert "(one seed per group: no band)" in said(fig) and "one run per group" not in said(fig)
    assert "(one run per group: no band)" in said(report.figure(out, {"type": "timeseries", "metrics": ["fragmentation"], "by": "point"}))
    box = report.figure(out, {"type": "box", "metrics": ["fragmentation_final"], "by": "point"})
    assert len(box.subfigs[1].axes[0].patches) == 6  # a box per point, the identical ones too
    zoomed = report.figure(out, {"type": "box", "metrics": ["fragmentation_final"], "by": "point", "zoom": True})
    low, high = zoomed.subfigs[1].axes[0].get_ylim()
    assert f"fragmentation, final: {cs.zoom_note(low, high)}" in said(zoomed)  # a zoomed scale says so, as documented
    assert np.isfinite(drawn)


def test_the_footer_counts_the_distinct_runs_computed():
    """Points 0 and 2 share run 'a' (computed); two runs of point 1 are missing: one run was
    computed, not the three the planned runs' keys would count."""
    runs = pd.DataFrame({"point": [0, 1, 2, 1], "run": ["a", "b", "a", "c"], "status": ["ok", "missing", "ok", "missing"]})
    fake = SimpleNamespace(manifest={"spec": {"replications": 1, "seed": 3}}, runs=runs, params=pd.DataFrame({"point": [0, 1, 2]}), experiment="fake", spec_hash="0" * 16)
    assert "experiment fake (spec 0000000000): 2 runs (1 distinct: identical points share their runs; 0 failed, 2 not run), 3 points" in report.ReportContext(fake).footer


def test_a_long_note_grows_the_head_band_and_leaves_the_panels_their_height():
    footer = "made by a test"
    short, body = report._canvas(4.0, 3.0)
    body.add_subplot()
    report._decorate(short, footer, "A title", "a note")
    assert short.get_figheight() == pytest.approx(3.0 + report.HEAD + report.FOOT)
    long, body = report._canvas(4.0, 3.0)
    body.add_subplot()
    report._decorate(long, footer, "A title", "a note that wraps to many lines " * 12)
    head, panels, foot = long.bands.get_height_ratios()
    assert head > report.HEAD and (panels, foot) == pytest.approx((3.0, report.FOOT))
    assert long.get_figheight() == pytest.approx(head + panels + foot)


def test_report_of_a_missing_directory_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "holds no sweep results" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["report", "export"])
def test_a_file_given_as_the_sweep_folder_is_named_as_that_not_as_out(tmp_path, capsys, command):
    """'abm export afile' said '--out afile/arrays: cannot create a folder in afile',
    about an option the user never gave."""
    given = tmp_path / "afile"
    given.write_text("hi\n")
    assert main([command, str(given)]) == 2
    err = capsys.readouterr().err
    assert "holds no sweep results" in err and "--out" not in err.split("make one with")[0], err
    assert given.read_text() == "hi\n"


@pytest.mark.parametrize("command", ["report", "export"])
def test_the_store_given_for_its_folder_is_pointed_to_the_folder(reference, tmp_path, capsys, command):
    store_file, link = reference / "results.sqlite", tmp_path / "results.sqlite"
    link.symlink_to(store_file)  # a link to the store points to the folder the store is in
    for given in (store_file, link):
        assert main([command, str(given)]) == 2
        assert capsys.readouterr().err == f"error: cannot {command}: {given} is the sweep's store; give the sweep folder that holds it: {reference}\n"


def test_a_report_stopped_while_exporting_leaves_nothing_and_the_next_one_is_written(reference, tmp_path, monkeypatch):
    """The export used to follow the report's publication: stopped there, the report
    stood without its export, holding files its listing did not name, and every later
    report into that folder was refused."""
    out = tmp_path / "r"
    with monkeypatch.context() as patch:
        def export_then_stop(self, folder, fmt="csv", overwrite=False):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"params.{fmt}").write_text("half an export")
            raise KeyboardInterrupt

        patch.setattr(results.Results, "export", export_then_stop)
        assert main(["report", str(reference), "--out", str(out), "--export", "csv"]) == 130
    assert not list(tmp_path.iterdir())
    assert main(["report", str(reference), "--out", str(out), "--export", "csv"]) == 0
    assert len(pd.read_csv(out / "export" / "params.csv")) == 4


def test_report_exports_parquet(reference, tmp_path):
    assert main(["report", str(reference), "--out", str(tmp_path / "r"), "--export", "parquet"]) == 0
    summaries = pd.read_parquet(tmp_path / "r" / "export" / "summaries.parquet")
    assert len(summaries) == 12


@pytest.mark.parametrize("method, n, columns", [("sobol", 4, ["S1", "S1_conf", "ST", "ST_conf"]), ("morris", 3, ["mu", "mu_star", "mu_star_conf", "sigma"])])
def test_sensitivity_report(tmp_path, method, n, columns):
    out = tmp_path / method
    assert sweep.run(sampled_spec(method, n), out, workers=2, progress=False).failed == 0
    assert main(["report", str(out)]) == 0
    table = pd.read_csv(out / "report" / f"{method}_fragmentation_final_integration_mean_last2.csv")
    assert sorted(table["parameter"].unique()) == ["rules.coercion.strength", "rules.decision.noise"]
    assert len(table) == 4 and table[columns].notna().all().all()
    assert (out / "report" / f"{method}_fragmentation_final_integration_mean_last2.svg").exists()
    note = (out / "report" / f"{method}_fragmentation_final_integration_mean_last2.md").read_text().split("\n- ")[1]  # the first note says what the columns hold
    assert all(c in note for c in columns) and "half-width" in note and "95% bootstrap" in note
    if method == "morris":  # mu* >= 0: an interval wider than mu* is drawn down to 0, not below
        wide = table.assign(mu_star_conf=2 * table["mu_star"] + 0.01)
        chart = experiment.CHARTS["morris"].model_validate({"type": "morris", "metrics": ["fragmentation_final", "integration_mean_last2"]})
        fig = report.morris(report.ReportContext(results.load(out)), chart, wide)
        bars = [c for ax in fig.subfigs[1].axes for c in ax.containers if getattr(c, "errorbar", None) is not None]
        lows = [seg[:, 1].min() for c in bars for seg in c.errorbar.lines[2][0].get_segments()]
        assert len(lows) == 4 and min(lows) == 0.0, lows
        assert "nested markers" not in " ".join(texts(fig).split())
        # mu* is in the summary's unit over a parameter's whole range, not a 0-1 scale per range
        assert fig.subfigs[1].axes[1].get_xlabel() == "mu*: change over a parameter's full range\n(index, 0-1)"
        same = table.assign(mu_star=0.0, mu_star_conf=0.0, sigma=0.0)  # no parameter matters: both sit on the origin, the first must ring the second
        fig = report.morris(report.ReportContext(results.load(out)), chart, same)
        sizes = [[c.get_sizes()[0] for c in ax.collections] for ax in (fig.subfigs[1].axes[1], fig.subfigs[1].axes[3])]
        assert all(len(s) == 2 and s[0] > s[1] for s in sizes), sizes
        assert "parameters on the same point are drawn as nested markers" in " ".join(texts(fig).split())
        assert all(fig.subfigs[1].axes[k].get_ylim()[0] == 0 for k in (0, 2))  # no bar axis reaching below 0
        # three trajectories: the chart and its table say mu* and its interval are rough
        few = "few trajectories: n=3 (below 10)"
        assert few in " ".join(texts(fig).split())
        assert few in (out / "report" / f"{method}_fragmentation_final_integration_mean_last2.md").read_text()
        assert report.morris_warnings(10) == []


def test_a_sobol_design_drawn_for_second_order_reports_them(tmp_path):
    """sample.second_order doubled the runs, yet no S2 reached the report."""
    out = tmp_path / "s2"
    assert sweep.run(sampled_spec("sobol", 4, second_order=True), out, workers=1, progress=False).failed == 0
    assert main(["report", str(out)]) == 0
    pairs = pd.read_csv(out / "report" / "sobol_fragmentation_final_integration_mean_last2_second_order.csv")
    assert list(pairs.columns) == ["metric", "parameter", "with", "S2", "S2_conf"]
    assert list(pairs["metric"]) == ["fragmentation_final", "integration_mean_last2"] and set(pairs["parameter"]) == {"rules.coercion.strength"}
    assert pairs[["S2", "S2_conf"]].notna().all().all()
    assert (out / "report" / "sobol_fragmentation_final_integration_mean_last2_second_order.md").exists()
    svg = " ".join((out / "report" / "sobol_fragmentation_final_integration_mean_last2.svg").read_text().split())
    assert "(normal approximation, as SALib gives them: 1.96" in svg  # what the error bars are (the note wraps after it)


def test_a_sobol_metric_that_never_varies_is_refused_alone(tmp_path, monkeypatch):
    """A summary equal at every design point got indices of 0 for every parameter; it is
    refused, and the other metrics are analysed."""
    out = tmp_path / "flat"
    assert sweep.run(sampled_spec("sobol", 4), out, workers=1, progress=False).failed == 0
    real = report._design_outputs
    monkeypatch.setattr(report, "_design_outputs", lambda ctx, metric: (np.full(16, 0.5), 0) if metric == "fragmentation_final" else real(ctx, metric))
    chart = experiment.CHARTS["sobol"].model_validate({"type": "sobol", "metrics": ["fragmentation_final", "integration_mean_last2"]})
    table = report.sobol_table(report.ReportContext(results.load(out)), chart)
    assert set(table["metric"]) == {"integration_mean_last2"}
    assert "the same value (0.5) at every design point" in table.attrs["refused"]["fragmentation_final"]


def test_sobol_refuses_a_design_with_failed_runs(tmp_path, capsys):
    out = tmp_path / "holes"
    result = sweep.run(sampled_spec("sobol", 4), out, workers=2, runner=failing_above, progress=False)
    res = results.load(out)
    expected = int((res.params["rules.coercion.strength"] > 0.7).sum())
    assert 0 < expected < 16 and result.failed == expected
    assert main(["report", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"refused, {expected} of 16 design points have no usable value ({expected} without a finished run, 0 NaN)" in err
    assert not list((out / "report").glob("sobol_*"))
    assert "## Charts not made" in (out / "report" / "summary.md").read_text()


def test_series_carry_the_run_parameters_and_dates_are_datetimes(reference, tmp_path):
    res = results.load(reference)
    series = res.series(["fragmentation"], with_params=True)
    assert pd.api.types.is_datetime64_any_dtype(series["date"]) and series["date"].min() == pd.Timestamp("2025-01-01")
    expected = series[["point"]].merge(res.params, on="point", how="left")
    for column in ("scenario", "rules.coercion.strength", "rules.decision.cap"):
        assert series[column].tolist() == expected[column].tolist()
    assert list(res.series(["fragmentation"]).columns) == ["point", "replication", "seed", "run", "step", "date", "fragmentation"]
    res.export(tmp_path / "pq", "parquet")
    assert pd.api.types.is_datetime64_any_dtype(pd.read_parquet(tmp_path / "pq" / "series.parquet")["date"])
    assert pd.api.types.is_datetime64_any_dtype(pd.read_parquet(tmp_path / "pq" / "runs.parquet")["finished"])


def test_report_charts_are_reproducible(reference, tmp_path):
    for out in ("a", "b"):
        assert main(["report", str(reference), "--out", str(tmp_path / out)]) == 0
    svgs = sorted(p.name for p in (tmp_path / "a").glob("*.svg"))
    assert svgs
    for name in svgs + [s.replace(".svg", ".png") for s in svgs]:
        assert same_chart(tmp_path / "a" / name, tmp_path / "b" / name), name


def test_overrides_of_the_spec_are_shown_by_the_folder_the_summary_and_every_chart(tmp_path):
    """``abm sweep --set set.time.steps=2``: a figure of ``fragmentation_final`` is then
    the value after 2 quarters, not the spec file's 4, and the folder must say so."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(replications=1, charts=tiny_spec()["charts"][1:2])))
    out = tmp_path / "small"
    sets = ["--set", "set.time.steps=2", "--set", "replications=1"]
    assert main(["sweep", str(spec), "--workers", "1", "--out", str(out), *sets]) == 0
    written = yaml.safe_load((out / "experiment.yaml").read_text())
    assert written["set"] == {"time.steps": 2} and written["overrides"] == ["set.time.steps=2", "replications=1"]
    assert f"# scenario paths below are relative to {tmp_path.resolve()}\n" in (out / "experiment.yaml").read_text()  # where to load it from
    assert experiment.load(out / "experiment.yaml", base_dir=tmp_path).bases["baseline"].scenario.time.steps == 2
    assert main(["report", str(out)]) == 0
    summary = (out / "report" / "summary.md").read_text()
    assert "`set.time.steps=2`, `replications=1`" in summary
    # the shared settings and the period, so that "at the end of the run" has a date
    assert "Every run shares the spec's `set:` `time.steps: 2`. Runs: baseline from 2025-01-01 to 2025-07-01, every 3 month(s)." in summary
    assert report.ReportContext(results.load(out)).footer.endswith("; spec overridden by abm sweep --set set.time.steps=2 --set replications=1")  # as typed: a value may hold ", "
    for svg in (out / "report").glob("*.svg"):
        assert "abm sweep --set set.time.steps=2 --set" in svg.read_text(), svg.name  # the footer, wrapped


def test_a_spec_rerun_from_its_folder_keeps_its_earlier_overrides(tmp_path):
    raw = experiment.override_spec({"name": "x", "overrides": ["replications=2"]}, ["seed=3"])
    assert raw["overrides"] == ["replications=2", "seed=3"]


def test_report_and_export_leave_nothing_beside_the_store_and_the_sweep_no_lock(tmp_path):
    """A finished sweep hands its store back as one file (rollback journal), so read-only
    commands leave no -wal or -shm beside it; and the sweep removes the lock file it made."""
    spec = tiny_spec(replications=1, set={"time.steps": 2}, charts=[])
    spec["metrics"]["states"] = ["welfare"]
    out = tmp_path / "s"
    assert sweep.run(spec, out, workers=1, progress=False).ok == 4
    made = sorted(p.name for p in out.iterdir())
    assert made == ["experiment.yaml", "manifest.json", "results.sqlite"]
    assert main(["report", str(out)]) == 0 and main(["export", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*made, "arrays", "report"])


def test_a_reader_sees_runs_a_connected_writer_has_committed(tmp_path):
    """While a sweep is writing, its committed runs may be in the -wal file only: readers then read through it."""
    out = tmp_path / "s"
    assert sweep.run(tiny_spec(replications=1, set={"time.steps": 2}, charts=[]), out, workers=1, progress=False).ok == 4
    with store.Store(out) as writer:
        with writer.conn:
            writer.conn.execute("DELETE FROM runs WHERE run IN (SELECT run FROM runs LIMIT 1)")
        assert (out / "results.sqlite-wal").exists()
        assert results.load(out).sql("SELECT COUNT(*) AS n FROM runs")["n"].item() == 3


def test_a_reader_open_while_a_writer_starts_sees_only_committed_runs(tmp_path):
    """A reader connected before a writer (a notebook holding Results while a sweep
    resumes) reads consistent tables: an immutable connection would read them torn."""
    out = tmp_path / "s"
    assert sweep.run(tiny_spec(replications=1, set={"time.steps": 2}, charts=[]), out, workers=1, progress=False).ok == 4
    held = store.reader(out / store.FILE)  # one connection across reads, as iter_series keeps
    assert held.execute("SELECT COUNT(*) FROM runs").fetchone() == (4,)
    with store.Store(out) as writer:
        with writer.conn:
            writer.conn.execute("DELETE FROM runs WHERE run IN (SELECT run FROM runs LIMIT 2)")
        assert held.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    held.close()


def test_a_phase_cell_from_fewer_runs_than_the_others_is_hatched_and_says_how_many(reference):
    """summary.md counts each cell's runs; the phase chart drew a cell of 1 run like one of
    3, so a reader took its colour at the others' confidence. Such cells are now hatched,
    carry their n, and the note says how few."""
    ctx = report.ReportContext(results.load(reference))
    chart = experiment.CHARTS["phase"].model_validate({"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"})
    cells = report.phase_cells(ctx, chart)
    assert cells["n"].tolist() == [3, 3, 3, 3]
    whole = report.phase(ctx, chart, cells)
    assert "hatched" not in texts(whole) and not any(p.get_hatch() for ax in whole.subfigs[1].axes for p in ax.patches)
    cells.loc[2, ["n", "valued"]] = 1  # as when two of a cell's runs failed
    fig = report.phase(ctx, chart, cells)
    said = " ".join(texts(fig).split())
    assert "hatched: 1 cell(s) from fewer runs than the others' 3 (as few as 1; runs written in the cell)" in said
    panels = [ax for ax in fig.subfigs[1].axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    for ax in panels:
        hatched = [p for p in ax.patches if p.get_hatch()]
        assert len(hatched) == 1
        x, y = hatched[0].get_xy()
        centre = (x + hatched[0].get_width() / 2, y + hatched[0].get_height() / 2)
        marked = [t for t in ax.texts if t.get_text().endswith("\nruns=1")]
        assert len(marked) == 1 and marked[0].get_position() == pytest.approx(centre)
        strength, cap = cells.loc[2, ["rules.coercion.strength", "rules.decision.cap"]]
        assert centre == pytest.approx((strength, cap))  # the hatched cell is the one with fewer runs


def test_a_phase_cell_pooling_other_parameters_takes_its_interval_over_seeds(monkeypatch, reference):
    """A cell pooled over a third swept parameter holds several runs of each seed, which
    share its draws; the phase chart took its t interval over the runs as if independent
    (n=6 where 3 seeds gave 2 runs each: 2.6 times too narrow in helper-213's sweep), where
    the timeseries and difference charts average each seed's runs first."""
    rng = np.random.default_rng(3)
    seeds, offsets = np.repeat([11, 12, 13], 2), np.repeat(rng.normal(0, 0.05, 3), 2)  # each seed's pair of runs shares its draws
    rows = [{"rules.coercion.strength": s, "rules.decision.cap": c, "run_seed": seed, "value": 0.5 + off + 0.001 * k}
            for s in (0.0, 1.0) for c in (0.4, 1.0) for k, (seed, off) in enumerate(zip(seeds, offsets))]
    monkeypatch.setattr(report, "_run_values", lambda ctx, metric, columns, per_point=False: pd.DataFrame(rows))
    ctx = report.ReportContext(results.load(reference))
    cells = report.phase_cells(ctx, _phase_chart())
    assert cells["n"].tolist() == [3] * 4 and cells["valued"].tolist() == cells["runs"].tolist() == [6] * 4
    cell = pd.DataFrame(rows[:6]).groupby("run_seed")["value"].mean()
    assert cells.loc[0, "mean"] == pytest.approx(cell.mean())
    assert cells.loc[0, "ci95"] == pytest.approx(scipy.stats.t.ppf(0.975, 2) * cell.std() / np.sqrt(3))
    note = " ".join(texts(report.phase(ctx, _phase_chart(), cells)).split())
    assert "cell: mean over the seeds of each seed's runs in the cell (other parameters pooled); right: half-width of its 95% confidence interval (t, over seeds)" in note and "hatched" not in note


def crafted_box(monkeypatch, reference, sizes: dict, value=None, unit=None, zoom=True, sd=0.1):
    """A box chart of the reference sweep over made-up run values: ``sizes`` maps each
    (decision cap, coercion strength) group to its number of runs."""
    rng = np.random.default_rng(0)
    rows = [{"rules.decision.cap": cap, "rules.coercion.strength": strength, "value": rng.normal(0.5, sd) if value is None else value}
            for (cap, strength), n in sizes.items() for _ in range(n)]
    monkeypatch.setattr(report, "_run_values", lambda *args, **kwargs: pd.DataFrame(rows))
    ctx = report.ReportContext(results.load(reference))
    if unit:
        monkeypatch.setattr(ctx, "summary_unit", lambda metric: unit)
    chart = experiment.CHARTS["box"].model_validate({"type": "box", "metrics": ["fragmentation_final"], "by": "rules.decision.cap", "zoom": zoom})
    return report.box(ctx, chart)


def test_a_box_of_few_runs_is_drawn_as_its_runs_and_unequal_groups_say_their_n(monkeypatch, reference):
    """A box of 2 runs looked like one of 8: its quartiles carry no more than the 2 values."""
    fig = crafted_box(monkeypatch, reference, {(0.4, 0.0): 8, (0.4, 1.0): 8, (1.0, 0.0): 2, (1.0, 1.0): 8})
    ax = fig.subfigs[1].axes[0]
    dots = [c for c in ax.collections if len(c.get_offsets()) and np.ma.getdata(c.get_offsets())[:, 0].size == 2]
    assert len(dots) == 1 and np.ma.getdata(dots[0].get_offsets())[:, 0].mean() == pytest.approx(1 - 0.2)  # cap 1.0, the first of two hues
    boxes = [p for p in ax.patches if isinstance(p, matplotlib.patches.PathPatch) and np.isfinite(p.get_path().vertices).all()]
    assert len(boxes) == 3
    assert sorted(t.get_text() for t in ax.texts) == ["n=2", "n=8", "n=8", "n=8"]
    said = " ".join(texts(fig).split())
    assert "a group of fewer than 5 runs: each run a dot, no box" in said and "n: a group's runs with a value" in said
    assert "whiskers 1.5 x IQR, runs beyond them small black dots" in said  # a box's outliers, told from a small group's coloured dots
    even = crafted_box(monkeypatch, reference, {(0.4, 0.0): 8, (0.4, 1.0): 8, (1.0, 0.0): 8, (1.0, 1.0): 8})
    assert not even.subfigs[1].axes[0].texts and "each run a dot" not in " ".join(texts(even).split()) and "n:" not in texts(even)


def test_a_box_chart_says_when_its_runs_are_too_close_to_see(monkeypatch, reference):
    """Runs within 0.005 of each other on a 0-1 axis drew every box as a black bar, and
    nothing said that zoom would show them."""
    sizes = {(0.4, 0.0): 8, (0.4, 1.0): 8, (1.0, 0.0): 8, (1.0, 1.0): 8}
    tight = " ".join(texts(crafted_box(monkeypatch, reference, sizes, zoom=False, sd=0.001)).split())
    assert "fragmentation, final: the runs span only" in tight and "zoom: true fits the axis to them" in tight
    wide = texts(crafted_box(monkeypatch, reference, sizes, zoom=False))
    zoomed = texts(crafted_box(monkeypatch, reference, sizes, sd=0.001))
    assert "span only" not in wide and "span only" not in zoomed
    assert report._hidden_spread(pd.Series([0.5, 0.5198]), "index, 0-1", zoom=False).startswith("the runs span only 0.0198,")  # not rounded to the limit, 0.02
    assert report._hidden_spread(pd.Series([0.5, 0.5001]), "index, 0-1", zoom=False).startswith("the runs span only 0.0001,")
    assert report._hidden_spread(pd.Series([0.5, 0.52]), "index, 0-1", zoom=False) == ""


def test_a_box_chart_of_equal_values_keeps_a_readable_axis(monkeypatch, reference):
    """Every run crossing a threshold in the same quarter gave a 1925-2125 axis."""
    fig = crafted_box(monkeypatch, reference, dict.fromkeys([(0.4, 0.0), (0.4, 1.0), (1.0, 0.0), (1.0, 1.0)], 6), value=2031.25, unit="decimal year")
    assert fig.subfigs[1].axes[0].get_ylim() == pytest.approx((2030.75, 2031.75))


def test_runs_drawn_as_dots_stay_apart_and_the_note_claims_no_boxes(monkeypatch, reference):
    """Three runs crossing in the same quarter were one dot; with no box drawn, the note
    still explained quartiles and whiskers."""
    fig = crafted_box(monkeypatch, reference, dict.fromkeys([(0.4, 0.0), (0.4, 1.0), (1.0, 0.0), (1.0, 1.0)], 3), value=2031.25, unit="decimal year")
    ax = fig.subfigs[1].axes[0]
    groups = [np.ma.getdata(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
    assert len(groups) == 4 and all(len(set(g[:, 0])) == 3 and set(g[:, 1]) == {2031.25} for g in groups)
    said = " ".join(texts(fig).split())
    assert "quartiles" not in said and "each run a dot, no box; a spread of runs, not a confidence interval" in said


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_one_metric_with_gaps_leaves_the_others_indices_drawn(tmp_path, monkeypatch, capsys, method):
    """One summary without a value in some runs (a threshold never crossed) used to drop the
    whole sensitivity chart, the complete metrics' indices with it."""
    out = tmp_path / method
    assert sweep.run(sampled_spec(method, 4 if method == "sobol" else 3), out, workers=1, progress=False).failed == 0
    real = report._design_outputs

    def with_gaps(ctx, metric):
        y, missing = real(ctx, metric)
        if metric == "integration_mean_last2":
            y = y.copy()
            y[::5] = np.nan
        return y, missing

    monkeypatch.setattr(report, "_design_outputs", with_gaps)
    assert main(["report", str(out)]) == 1  # a chart's part not made is a problem to report
    assert f"{method.capitalize()} analysis of integration_mean_last2: refused" in capsys.readouterr().err
    stem = f"{method}_fragmentation_final_integration_mean_last2"
    table = pd.read_csv(out / "report" / f"{stem}.csv")
    assert set(table["metric"]) == {"fragmentation_final"} and table.drop(columns="metric").notna().all().all()
    assert (out / "report" / f"{stem}.png").exists()
    summary = (out / "report" / "summary.md").read_text()
    assert "## Charts not made" in summary and "analysis of integration_mean_last2: refused" in summary
    chart = experiment.CHARTS[method].model_validate({"type": method, "metrics": ["fragmentation_final", "integration_mean_last2"]})
    fig = report.figure(out, chart.model_dump())
    assert len({ax.get_subplotspec().rowspan.start for ax in fig.subfigs[1].axes}) == 1  # one row of panels: the complete metric's
    assert "not drawn: integration, mean of the last 2 steps" in " ".join(texts(fig).split())


def test_a_phase_chart_writes_means_to_3_figures_and_half_widths_to_2(reference):
    """Half-widths to 3 figures (0.000515) ran into the next cell in docs/img's tipping
    charts; summary.md gives them to 2, and so do the chart's cells now."""
    ctx = report.ReportContext(results.load(reference))
    chart = experiment.CHARTS["phase"].model_validate({"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"})
    cells = report.phase_cells(ctx, chart)
    cells["mean"], cells["ci95"] = [0.123456, 0.234567, 0.345678, 0.456789], [0.000515432, 0.00113421, 0.0529123, 0.0001]
    mean_panel, half_panel = [ax for ax in report.phase(ctx, chart, cells).subfigs[1].axes if ax.get_label() != "<colorbar>"]
    assert sorted(t.get_text() for t in mean_panel.texts) == ["0.123", "0.235", "0.346", "0.457"]
    assert sorted(t.get_text() for t in half_panel.texts) == ["0.0001", "0.00052", "0.0011", "0.053"]


def test_a_cell_with_a_bar_or_a_line_break_stays_in_its_column():
    """A grid label 'hedge|cap' or a failed run's two-line error ended its cell (or its row)
    in summary.md, shifting every later number one column to the right."""
    from abm.compare import differences, markdown as compare_markdown, table as compare_table

    frame = pd.DataFrame({"label": ["hedge|cap", "plain"], "error": ["ValueError: 2 errors\n  x | must be > 0", ""], "n": [1.5, 2.0]})
    series = pd.DataFrame({"scenario": ["a|b"] * 2 + ["c"] * 2, "seed": [0, 1] * 2, "step": [0] * 4, "date": ["2025-01-01"] * 4, "x": [1.0, 2.0, 1.5, 2.5]})
    compared = compare_markdown(compare_table(series, ["2025-01-01"], ["x"]), differences(series, ["2025-01-01"], ["x"]), ["x"])
    for text, columns in ((report.markdown(frame), 3), (compared, 3)):
        rows = [line for line in text.splitlines() if line.startswith("|")]
        assert len(rows) >= 4 and all(len(re.split(r"(?<!\\)\|", row)) == columns + 2 for row in rows), text
    assert "hedge\\|cap" in report.markdown(frame) and "a\\|b" in compared


def _phase_chart():
    return experiment.CHARTS["phase"].model_validate({"type": "phase", "x": "rules.coercion.strength", "y": "rules.decision.cap", "metric": "fragmentation_final"})


def test_a_phase_chart_of_a_summary_no_run_has_is_not_made(reference):
    """Every cell empty drew a blank heatmap with a -0.1..0.1 colour bar."""
    ctx = report.ReportContext(results.load(reference))
    cells = report.phase_cells(ctx, _phase_chart())
    cells[["mean", "sd", "ci95"]], cells["n"] = np.nan, 0
    with pytest.raises(report.ChartNotMadeError, match="no run has a value of fragmentation_final"):
        report.phase(ctx, _phase_chart(), cells)


def test_a_phase_chart_of_one_date_keeps_a_year_around_it(monkeypatch, reference):
    """Two cells of one run each, both 2029.0: the colour scale ran 1826-2232 and the blank
    interval panel said nothing."""
    ctx = report.ReportContext(results.load(reference))
    monkeypatch.setattr(ctx, "summary_unit", lambda metric: "decimal year")
    cells = report.phase_cells(ctx, _phase_chart())
    cells["mean"], cells["sd"], cells["ci95"], cells["n"] = [2029.0, 2029.0, np.nan, np.nan], np.nan, np.nan, [1, 1, 0, 0]
    fig = report.phase(ctx, _phase_chart(), cells)
    mean_panel = fig.subfigs[1].axes[0]
    assert (mean_panel.collections[0].norm.vmin, mean_panel.collections[0].norm.vmax) == (2028.5, 2029.5)
    assert "no interval: no cell has a value in two runs" in " ".join(texts(fig).split())


def test_a_box_chart_counts_the_runs_left_out_of_each_panel(monkeypatch, reference):
    """The runs left out were summed over panels: 70 of a 36-run sweep."""
    def values(ctx, metric, columns, per_point=False):
        blank = {"fragmentation_final": 2, "integration_mean_last2": 5}[metric]
        rows = [{"rules.decision.cap": cap, "rules.coercion.strength": s, "value": np.nan if k < blank else 0.5 + 0.01 * k}
                for k, (cap, s) in enumerate([(c, s) for c in (0.4, 1.0) for s in (0.0, 1.0) for _ in range(6)])]
        return pd.DataFrame(rows)

    monkeypatch.setattr(report, "_run_values", values)
    ctx = report.ReportContext(results.load(reference))
    chart = experiment.CHARTS["box"].model_validate({"type": "box", "metrics": ["fragmentation_final", "integration_mean_last2"], "by": "rules.decision.cap"})
    said = " ".join(texts(report.box(ctx, chart)).split())
    assert "fragmentation, final: 2 run(s) without a value" in said and ": 5 run(s) without a value" in said
    assert "7 run(s)" not in said


@pytest.mark.parametrize("kind", ["timeseries", "box"])
def test_a_chart_of_more_lines_or_boxes_than_can_be_told_apart_is_not_made(monkeypatch, reference, kind):
    """One line per point of a 256-point sample drew its legend over the panels."""
    monkeypatch.setattr(report, "MAX_LINES" if kind == "timeseries" else "MAX_BOXES", 1)
    spec = {"type": kind, "metrics": ["fragmentation" if kind == "timeseries" else "fragmentation_final"], "by": "rules.decision.cap"}
    drawn = 2 if kind == "timeseries" else 4  # boxes: 2 caps, each split by the 2 coercion strengths
    with pytest.raises(report.ChartNotMadeError, match=rf"{drawn} (lines|boxes) in a panel, more than the 1 that can be told apart"):
        report.figure(reference, spec)
    monkeypatch.setattr(report, "MAX_LINES" if kind == "timeseries" else "MAX_BOXES", drawn)
    report.figure(reference, spec)


def test_a_timeseries_says_when_some_runs_have_no_value_at_some_dates(reference, tmp_path):
    """Half the runs without a value from step 2 on: the lines went on over the other half."""
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    with closing(sqlite3.connect(copy / "results.sqlite")) as conn, conn:
        conn.execute("UPDATE series SET fragmentation = NULL WHERE step >= 2 AND run IN (SELECT run FROM design WHERE replication = 0)")
    spec = {"type": "timeseries", "metrics": ["fragmentation", "integration"], "by": "rules.coercion.strength"}
    said = " ".join(texts(report.figure(copy, spec)).split())
    assert "fragmentation: some runs have no value at some dates, which average the runs that have one" in said
    assert "some runs have no value" not in texts(report.figure(reference, spec))


def test_sensitivity_reports_say_how_much_of_the_indices_the_seeds_could_make(tmp_path, capsys):
    """Audit of the sensitivity path: the indices are those of the mean over replications
    and their bootstrap intervals resample the design points with the seeds fixed, so the
    report never showed the seeds' part. Checked against a computation of its own: the
    two-way residual variance of the runs over R, against the variance of the point means,
    and SALib's ST from each replication alone."""
    from abm import sensitivity

    out = tmp_path / "two"
    assert sweep.run({**sampled_spec("sobol", 8), "replications": 2}, out, workers=1, progress=False).failed == 0
    assert main(["report", str(out)]) == 0
    stem = "sobol_fragmentation_final_integration_mean_last2"
    seeds = pd.read_csv(out / "report" / f"{stem}_seeds.csv")
    res = results.load(out)
    runs, seed = res.summaries, report.ReportContext(res).spec["seed"]
    ranges = {"rules.coercion.strength": (0.0, 1.0), "rules.decision.noise": (0.0, 0.3)}
    for metric in ("fragmentation_final", "integration_mean_last2"):
        y = runs.pivot(index="point", columns="replication", values=metric).to_numpy()
        means = y.mean(axis=1)
        residual = y - means[:, None] - y.mean(axis=0) + y.mean()
        share = (residual**2).sum() / (len(y) - 1) / 2 / means.var(ddof=1)
        rows = seeds[seeds["metric"] == metric].set_index("parameter")
        assert rows["seed_share"].to_numpy() == pytest.approx(share)
        assert (rows["replications"] == 2).all() and (rows["analysed_alone"] == 2).all()
        alone = [sensitivity.sobol_indices(ranges, y[:, r], seed=seed)["ST"].to_numpy() for r in (0, 1)]
        assert rows.loc[list(ranges), "ST_seed_min"].to_numpy() == pytest.approx(np.minimum(*alone))
        assert rows.loc[list(ranges), "ST_seed_max"].to_numpy() == pytest.approx(np.maximum(*alone))

    one = tmp_path / "one"
    assert sweep.run(sampled_spec("sobol", 8), one, workers=1, progress=False).failed == 0
    chart = experiment.CHARTS["sobol"].model_validate({"type": "sobol", "metrics": ["fragmentation_final"]})
    table = report.sobol_table(report.ReportContext(results.load(one)), chart)
    assert "seeds" not in table.attrs and report.seed_warnings(table) == ["one replication per point: how much of the indices the seeds make is unknown (run 2 or more)"]


def test_the_seed_share_counts_what_a_seed_does_differently_from_point_to_point(monkeypatch):
    """Every point runs the same seeds: a seed's effect alike at every point moves every
    mean and no index, so it must not count; noise of its own at each point must."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=400)
    compute = lambda metric, y, kept=True: pd.DataFrame({"parameter": ["a"], "ST": [float(np.var(y))]})  # noqa: E731
    ctx = SimpleNamespace(spec={"sample": {"ranges": {"a": [0, 1]}}})

    def share(y):
        monkeypatch.setattr(report, "_by_replication", lambda ctx, metric: y)
        return report.seed_spread(ctx, "m", compute, "ST")["seed_share"].iloc[0]

    common = signal[:, None] + np.array([0.0, 5.0, -3.0, 2.0])  # four seeds, each shifting every point alike
    assert share(common) == pytest.approx(0.0, abs=1e-12)
    own = signal[:, None] + rng.normal(scale=1.0, size=(400, 4))  # noise of variance 1 per run: 1/4 in a mean of 4
    assert share(own) == pytest.approx(0.25 / (1 + 0.25), rel=0.15)
    table = pd.DataFrame({"metric": ["m"], "parameter": ["a"]})
    table.attrs["seeds"] = pd.DataFrame({"metric": ["m", "quiet"], "seed_share": [0.3, 0.01]})
    assert [w.split(":")[0] for w in report.seed_warnings(table, str)] == ["seeds make 30% of the variance between points of m"]
