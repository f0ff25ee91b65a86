"""The dashboard: its model and panels in-process, then the real app in a real browser.

The browser test starts ``abm dashboard`` on a free localhost port in its own process
group, drives Debian's headless Chromium with playwright (never a downloaded browser;
tests/harness.py, which scripts/gallery.py shares for the README's screenshot),
presses Step a few times and checks that the status line and the chart images change,
presses Reset and checks the model starts again, then stops the server's process group.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

pytest.importorskip("solara", reason="dashboard extra not installed")
from mesa.experimental.scenarios import Scenario as MesaScenario  # noqa: E402

from abm import dashboard  # noqa: E402
from abm.offers import DOMAINS  # noqa: E402
from tests import harness  # noqa: E402

ROOT = harness.ROOT


# --------------------------------------------------------------------------- in-process


def test_model_takes_dashboard_params_and_ignores_mesa_scenario():
    model = dashboard.DashboardModel(
        decision="bandwagon", allocation="adaptive", coercion="none", noise=0.2, decay_rate=0.05,
        power="china", budget_scale=2.0, seed=3, scenario=MesaScenario(),
    )
    cfg = model.config
    assert cfg.rules.decision["name"] == "bandwagon" and cfg.rules.decision["noise"] == 0.2
    assert "cap" not in cfg.rules.decision  # a hedging parameter is dropped for bandwagon
    assert cfg.rules.allocation["name"] == "adaptive"
    assert cfg.rules.coercion["name"] == "none"
    assert cfg.rules.decay["rate"] == 0.05
    model.step()
    assert model.steps == 1
    china = model.power("china")  # spending doubled from the first quarter: standing offers and new money
    assert china.commitment.tolist() == [2.0, 2.0, 2.0] and model.power("russia").commitment.tolist() == [1.0, 1.0, 1.0]


def test_stepping_past_the_horizon_does_nothing():
    """The Controls card's Render Interval calls step() that many times without looking at
    ``running``: the steps past the scenario's last quarter must not be simulated."""
    model = dashboard.DashboardModel()
    horizon = model.config.time.steps
    for _ in range(horizon + 5):
        model.step()
    assert not model.running
    assert model.steps == horizon and model.time == horizon
    assert len(model.datacollector.get_model_vars_dataframe()) == horizon + 1


def test_every_shipped_scenario_builds_and_every_panel_draws():
    assert dashboard.config_names()[0] == "baseline"
    for name in dashboard.config_names():
        model = dashboard.DashboardModel(config=name)
        model.step()
        assert dashboard.status_text(model).startswith("Step 1 of")
        for name, panel in dashboard.PANELS.items():
            assert panel(model).png(model).startswith(b"\x89PNG"), (name, "not a PNG")


@pytest.mark.parametrize("subregions", [8, 13])
def test_a_large_generated_world_draws_every_panel_and_tells_its_lines_apart(monkeypatch, tmp_path, subregions):
    """Eight subregions ran past the list of line styles and replaced the page with a
    traceback (and then drew the eighth in the region's black); twelve powers took tab10's
    colours in turn, so powers 0 and 10 were one blue on the map and in the influence lines."""
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "big.yaml").write_text(f"extends: {dashboard.CONFIGS / 'generated.yaml'}\ngenerated: {{n_subregions: {subregions}, n_states: 60, n_powers: 12}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    model = dashboard.DashboardModel(config="big")
    model.step()
    assert len(model.subregions) >= 8
    for name, panel in dashboard.PANELS.items():
        assert panel(model).png(model).startswith(b"\x89PNG"), (name, "not a PNG")
    colours = lambda panel: [to_hex(ln.get_color()) for ln in panel(model).fig.axes[0].get_lines()]  # noqa: E731
    regions, powers = colours(dashboard.live_fragmentation), colours(dashboard.live_influence)
    assert len(regions) == len(set(regions)) == len(model.subregions) + 1
    assert len(powers) == len(set(powers)) == 12


def test_spending_slider_scales_every_power_of_a_generated_world():
    base = dashboard.load(dashboard.CONFIGS / "generated.yaml")
    model = dashboard.DashboardModel(config="generated", power="china", budget_scale=2.0)
    model.step()
    for key, spec in base.powers.items():  # "china" is not among p000..: every power is scaled
        assert model.power(key).budget[0] == pytest.approx(2 * spec.budget.investment)
        assert model.power(key).commitment.tolist() == [2.0, 2.0, 2.0]
    assert "spending ×2 for all powers" in dashboard.status_text(model)
    one = dashboard.DashboardModel(config="baseline", power="japan", budget_scale=2.0)
    assert "spending ×2 for Japan" in dashboard.status_text(one)


def test_new_money_is_the_notebooks_budget_lever():
    """The notebooks and the ODD teach a power's ``budget`` (new money, USD bn a quarter per
    domain); the dashboard's only money control scaled the standing offers too, so a
    student could not run there what a notebook runs. New money now adds to the budget of
    each domain: the run equals the scenario with the same budget set."""
    from abm.runner import run

    model = dashboard.DashboardModel(power="russia", new_money=1.0, seed=0)
    assert model.config.powers["russia"].budget.model_dump() == {"investment": 1.0, "security": 1.0, "trade": 1.0}
    assert model.config.powers["china"].budget.model_dump() == {"investment": 0.0, "security": 0.0, "trade": 0.0}
    while model.running:
        model.step()
    same = run(dashboard.load(dashboard.CONFIGS / "baseline.yaml", [f"powers.russia.budget.{d}=1" for d in ("investment", "security", "trade")]), seed=0)
    assert model.datacollector.get_model_vars_dataframe()["fragmentation"].iloc[-1] == same.model["fragmentation"].iloc[-1]
    assert "spending ×1 and 1 bn new money a quarter per domain for Russia" in dashboard.settings_text(model)


def test_the_settings_line_says_that_spending_scales_new_money_too():
    """Spending × scales the new money as well (a budget_change from the first quarter):
    at ×0, 3 bn of new money is no money, and the settings line said "3 bn new money"."""
    def run(scale, money):
        model = dashboard.DashboardModel(power="china", budget_scale=scale, new_money=money, seed=0)
        for _ in range(8):
            model.step()
        return model

    zero, none = run(0.0, 3.0), run(0.0, 0.0)
    assert (zero.datacollector.get_model_vars_dataframe() == none.datacollector.get_model_vars_dataframe()).all().all()
    assert "spending ×0, of standing offers and of 3 bn new money a quarter per domain (0 bn) for China" in dashboard.settings_text(zero)
    doubled = run(2.0, 1.0)
    assert "(2 bn) for China" in dashboard.settings_text(doubled)
    assert doubled.datacollector.get_model_vars_dataframe()["spending_china"].iloc[-1] > run(1.0, 2.0).datacollector.get_model_vars_dataframe()["spending_china"].iloc[-1]


def test_status_line_names_the_rules_the_model_was_built_with():
    default, changed = dashboard.DashboardModel(), dashboard.DashboardModel(decision="threshold", coercion="none")
    assert "decision hedging" in dashboard.status_text(default)
    assert "decision threshold" in dashboard.status_text(changed) and "coercion none" in dashboard.status_text(changed)


def test_the_calibrated_scenario_draws_its_parameters_and_the_sidebar_keeps_its_own():
    """baseline_calibrated ran as the plain baseline in the dashboard (its posterior was
    never drawn). Now the seed draws the parameters the sidebar does not set, and the
    sidebar's own values (decision noise, coercion strength, decay rate) stand."""
    calibrated = dashboard.DashboardModel(config="baseline_calibrated", seed=2, noise=0.2, coercion_strength=0.4, decay_rate=0.03)
    drawn = calibrated.config.provenance["posterior_draw"]
    assert calibrated.config.rules.allocation["intensity"] == pytest.approx(drawn["values"]["rules.allocation.intensity"])
    assert calibrated.config.utility.dependence == pytest.approx(drawn["values"]["utility.dependence"])
    rules = calibrated.config.rules
    assert (rules.decision["noise"], rules.coercion["strength"], rules.decay["rate"]) == (0.2, 0.4, 0.03)
    assert f"posterior row {drawn['row']}" in dashboard.settings_text(calibrated)
    plain = dashboard.DashboardModel(config="baseline", seed=2, noise=0.2, coercion_strength=0.4, decay_rate=0.03)
    assert plain.config.utility != calibrated.config.utility and "posterior" not in dashboard.settings_text(plain)


@pytest.mark.parametrize("seed", [0, 3])
def test_the_calibrated_scenario_chosen_in_the_sidebar_runs_as_abm_run_does(seed):
    """Choosing baseline_calibrated put the baseline's noise, coercion strength and decay
    rate on the sliders, which replaced three of the seven drawn parameters: step 12 gave
    fragmentation 0.4835 against abm run's 0.4902. The drawn ones now stand, and show,
    until a slider is moved."""
    from abm import posterior, runner

    settings, _, selects, sliders = render_settings()
    selects()[0].v_model = "baseline_calibrated"
    sliders()["Seed"].v_model = seed
    row, values = posterior.draw(dashboard.load(dashboard.CONFIGS / "baseline_calibrated.yaml").posterior, seed)
    assert sliders()["Decision noise"].label == f"Decision noise: {values['rules.decision.noise']:.6g} (drawn, posterior row {row})"  # between the slider's steps: six digits
    model = dashboard.DashboardModel(**settings.value)
    for _ in range(12):
        model.step()
    reference = runner.run(dashboard.CONFIGS / "baseline_calibrated.yaml", seed=seed, steps=12, tables=False).model
    assert model.metrics["fragmentation"] == pytest.approx(reference["fragmentation"].iloc[-1], rel=1e-12)
    assert dashboard.settings_text(model).endswith(f"parameters drawn from posterior row {row}")

    sliders()["Decision noise"].v_model = 0.3  # moved: the sidebar's value replaces the drawn one, and says so
    moved = dashboard.DashboardModel(**settings.value)
    assert moved.config.rules.decision["noise"] == 0.3 and moved.config.rules.decay["rate"] == pytest.approx(values["rules.decay.rate"])
    assert dashboard.settings_text(moved).endswith(f"parameters drawn from posterior row {row}, but the sidebar's noise")


def render_settings():
    """The sidebar, rendered in-process: its settings, its problem line, and its widgets."""
    import ipyvuetify as v
    import solara

    settings, problem = solara.reactive(dict(dashboard.DEFAULTS)), solara.reactive("")
    _, rc = solara.render(dashboard.Settings(settings, problem), handle_error=False)
    return settings, problem, lambda: rc.find(v.Select).widgets, lambda: {w.label.split(":")[0]: w for w in rc.find(v.Slider).widgets}


def test_the_sidebar_starts_at_the_baseline_as_written():
    assert {k: dashboard.DEFAULTS[k] for k in dashboard.scenario_values("baseline")} == dashboard.scenario_values("baseline")


def test_choosing_a_scenario_takes_its_own_rules_and_values():
    """The sliders started at the baseline's values and overrode the scenario chosen: the
    generated world ran with noise 0.1 and cap 0.5 instead of its own 0.05 and 0.4."""
    settings, problem, selects, sliders = render_settings()
    selects()[0].v_model = "generated"
    own = dashboard.load(dashboard.CONFIGS / "generated.yaml").rules
    assert (settings.value["noise"], settings.value["hedge_cap"]) == (own.decision["noise"], own.decision["cap"]) == (0.05, 0.4)
    assert sliders()["Decision noise"].label == "Decision noise: 0.05" and not problem.value
    model = dashboard.DashboardModel(**settings.value)
    assert model.config.rules.decision == own.decision and model.config.rules.coercion == own.coercion


def test_choosing_a_scenario_takes_its_seed_and_shows_values_off_the_sliders_steps_as_they_are(monkeypatch, tmp_path):
    """A scenario's own seed was ignored (the model ran the slider's seed 0, not the file's
    7), and a value off a slider's steps or beyond its range showed snapped or clamped in
    the slider's bubble (0.33 as 0.35, a cap of 0.1 as 0.20) while the model ran the exact
    value. The seed is the file's; the range widens to the value; a value between steps has
    no bubble until the slider is moved, then it has one again, and its label has the
    digits the value needs."""
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nseed: 123\n"
                                        "rules: {decision: {name: hedging, cap: 0.1, noise: 0.3}, coercion: {name: punish, strength: 0.333}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, sliders = render_settings()
    selects()[0].v_model = "mine"
    assert not problem.value and settings.value["seed"] == 123 and dashboard.DashboardModel(**settings.value).config.seed == 123
    seed, cap, noise, strength = (sliders()[name] for name in ("Seed", "Hedging cap", "Decision noise", "Coercion strength"))
    assert (seed.v_model, seed.max, seed.thumb_label) == (123, 123, "always")
    assert (cap.v_model, cap.min, cap.thumb_label) == (0.1, 0.1, "always")  # 0.2 widened by two steps of 0.05: 0.1 is on them
    assert (noise.v_model, noise.thumb_label) == (0.3, "always")
    assert (strength.v_model, strength.thumb_label) == (0.333, True)  # between 0.30 and 0.35: the label alone shows it,
    assert strength.label == "Coercion strength: 0.333"  # to six significant digits, not the slider's two
    strength.v_model = 0.35
    assert sliders()["Coercion strength"].thumb_label == "always"
    assert dashboard.slider_track(1.37, 0.0, 1.0, 0.05)[:2] == (0.0, 1.4) and dashboard.slider_track(0.5, 0.0, 1.0, 0.05) == (0.0, 1.0, True)
    # (0.2 - 0.05) / 0.05 is 3.0000000000000004 in floating point: three steps down, not four (a cap slider reaching 0, which the rule refuses)
    assert dashboard.slider_track(0.05, 0.2, 1.0, 0.05) == (0.05, 1.0, True) and dashboard.slider_track(1.1, 0.2, 1.0, 0.05) == (0.2, 1.1, True)


def test_choosing_a_scenario_runs_it_as_written_with_the_spending_sliders_back_at_one_and_zero():
    """Spending x2 and 1 bn of new money chosen for the baseline stayed when iran_strikes
    was chosen, so the dashboard ran a scenario its file does not describe (fragmentation
    0.414 at the horizon against abm run's 0.476) while the README says a scenario chosen
    runs as written until a control is moved."""
    settings, problem, selects, sliders = render_settings()
    sliders()["Spending ×"].v_model = 2.0
    sliders()["New money, USD bn a quarter per domain"].v_model = 1.0
    selects()[0].v_model = "iran_strikes"
    assert not problem.value and (settings.value["budget_scale"], settings.value["new_money"]) == (1.0, 0.0)
    built = dashboard.DashboardModel(**settings.value).config
    assert built.to_dict() == dashboard.load(dashboard.CONFIGS / "iran_strikes.yaml").to_dict()


def test_new_money_adds_to_what_the_scenarios_own_new_money_events_set():
    """japan_minerals' pledge is a new_money event, which sets Japan's investment budget:
    1 bn of New money for Japan ran 0.95 bn from 2026 and nothing from 2031, not 1.95 and 1
    as the settings line said ("1 bn new money a quarter per domain for Japan"), and
    Spending x2 left the pledge at 0.95 although it scales new money."""
    values = {**dashboard.scenario_values("japan_minerals"), "config": "japan_minerals", "power": "japan", "new_money": 1.0, "budget_scale": 2.0}
    model = dashboard.DashboardModel(**values)
    japan, investment = model.power("japan"), DOMAINS.index("investment")
    budgets = {}
    while model.running:
        model.step()
        budgets[model.date.year] = float(japan.budget[investment])
    assert budgets[2025] == 2.0 and budgets[2027] == pytest.approx(3.9) and budgets[2035] == pytest.approx(2.0)  # (pledge + 1) x 2
    assert [japan.budget[DOMAINS.index(d)] for d in ("security", "trade")] == [2.0, 2.0]  # the domains the pledge leaves alone: the slider's 1 bn, doubled


def test_a_slider_widened_to_a_scenarios_value_stops_where_the_rule_does():
    """A cap of 0.02 widened the hedging cap's slider by whole steps of 0.05 down to 0,
    which the rule refuses (cap > 0): moved there, Reset built the baseline instead and
    blamed the scenario's file, which is valid. A decay rate of 0.996 widened its slider
    to 1.0 (the rule takes rates below 1). Each range now ends at the value itself."""
    cap = dashboard.slider_bounds("hedge_cap", {"decision": "hedging"})
    decay = dashboard.slider_bounds("decay_rate", {"decay": "exponential"})
    assert dashboard.slider_track(0.02, 0.2, 1.0, 0.05, cap) == (0.02, 1.0, True)
    assert dashboard.slider_track(0.996, 0.0, 0.1, 0.005, decay)[:2] == (0.0, 0.996)
    assert dashboard.slider_track(0.05, 0.2, 1.0, 0.05, cap) == (0.05, 1.0, True)  # whole steps the rule allows still widen it
    assert dashboard.slider_bounds("hedge_cap", {"decision": "threshold"})(-5.0)  # a rule without a cap bounds nothing


def test_a_slider_at_either_end_builds_a_model(monkeypatch, tmp_path):
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "tight.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nrules: {{decision: {{name: hedging, cap: 0.02}}}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, sliders = render_settings()
    selects()[0].v_model = "tight"
    for end in ("min", "max"):
        slider = sliders()["Hedging cap"]
        slider.v_model = getattr(slider, end)
        model = dashboard.session_model(settings, problem)()
        assert not problem.value and model.config.rules.decision["cap"] == settings.value["hedge_cap"] == getattr(slider, end)


def test_a_slider_gives_the_model_the_value_it_shows():
    """A keyboard-stepped slider sent 0.8500000000000001, which the model ran with and the
    settings line printed: the value is rounded to the slider's own digits."""
    settings, _, _, sliders = render_settings()
    sliders()["Coercion strength"].v_model = 0.8500000000000001
    sliders()["Tie decay per quarter"].v_model = 0.035000000000000003
    sliders()["Spending ×"].v_model = 0.30000000000000004
    assert (settings.value["coercion_strength"], settings.value["decay_rate"], settings.value["budget_scale"]) == (0.85, 0.035, 0.3)
    model = dashboard.DashboardModel(**settings.value)
    assert model.config.rules.coercion["strength"] == 0.85 and model.config.rules.decay["rate"] == 0.035
    assert "coercion punish 0.85 · tie decay 0.035 · spending ×0.3 " in dashboard.settings_text(model)


def test_a_slider_the_chosen_rule_does_not_use_is_greyed_out():
    settings, _, selects, sliders = render_settings()
    assert not sliders()["Hedging cap"].disabled
    selects()[1].v_model = "threshold"  # the decision rule: no cap
    assert sliders()["Hedging cap"].disabled and "(not used by this rule)" in sliders()["Hedging cap"].label
    assert not sliders()["Decision noise"].disabled
    selects()[3].v_model = "none"  # the coercion rule: no strength
    assert sliders()["Coercion strength"].disabled
    assert dashboard.slider_applies("decay_rate", {"decay": "exponential"})


def test_the_coercion_slider_says_when_coercion_acts():
    """In the baseline (no new money) the coercion slider changed nothing, and nothing said
    why: coercion answers defections, and only a rival's new spending makes one. The note
    under the slider says so, and what it says holds."""
    import solara

    settings, problem = solara.reactive(dict(dashboard.DEFAULTS)), solara.reactive("")
    (note,) = solara.render(dashboard.Settings(settings, problem), handle_error=False)[1].find(class_="abm-coercion-note").widgets
    text = note.children[0]
    assert "more than 0.5% of its ties from a power's rivals' new spending" in text
    assert "Spending × above 1" in text and "random every quarter" in text and "interest never" in text and text.endswith("Without new spending this slider changes nothing.")
    runs = {}
    for strength in (0.0, 1.0):
        for scale in (1.0, 2.0):  # x2: standing offers scaled up beyond their upkeep, new spending
            model = dashboard.DashboardModel(coercion_strength=strength, power=dashboard.ALL_POWERS, budget_scale=scale)
            for _ in range(4):
                model.step()
            runs[strength, scale] = model.datacollector.get_model_vars_dataframe()
    assert runs[0.0, 1.0].equals(runs[1.0, 1.0]) and runs[1.0, 1.0]["coercion_events"].sum() == 0
    assert runs[1.0, 2.0]["coercion_events"].sum() > 0 and not runs[0.0, 2.0].equals(runs[1.0, 2.0])
    moved = dashboard.DashboardModel(allocation="random", coercion_strength=1.0)  # no new money, but standing offers moved at random
    for _ in range(4):
        moved.step()
    assert moved.datacollector.get_model_vars_dataframe()["coercion_events"].sum() > 0


def test_the_coercion_note_under_the_none_rule_says_it_never_coerces():
    """Under the none rule the slider was greyed out, but its note still said when coercion
    acts, as if it did."""
    import ipyvuetify as v
    import solara

    settings, problem = solara.reactive(dict(dashboard.DEFAULTS)), solara.reactive("")
    rc = solara.render(dashboard.Settings(settings, problem), handle_error=False)[1]

    def note():
        return rc.find(class_="abm-coercion-note").widget.children[0]

    rc.find(v.Select).widgets[3].v_model = "none"  # the coercion rule
    assert "never coerces" in note() and "defection" not in note()
    rc.find(v.Select).widgets[3].v_model = "punish"
    assert note().startswith("Acts only on a defection")
    model = dashboard.DashboardModel(coercion="none", power=dashboard.ALL_POWERS, budget_scale=2.0)  # new spending: punish coerces here
    for _ in range(4):
        model.step()
    assert model.datacollector.get_model_vars_dataframe()["coercion_events"].sum() == 0


def test_a_scenario_that_does_not_validate_is_refused_with_its_problems_not_a_traceback(monkeypatch, tmp_path):
    """Choosing a scenario file with a typo replaced the whole page with a traceback."""
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "my_typo.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\npowers:\n  european_union:\n    conditions: {{governence: 0.0}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, _ = render_settings()
    assert dashboard.config_names() == ["baseline", "my_typo"]
    selects()[0].v_model = "my_typo"
    assert settings.value["config"] == "baseline"  # the previous choice is kept
    assert "configs/my_typo.yaml cannot be used" in problem.value and "governence" in problem.value


def test_every_refused_scenario_leaves_the_menu_showing_the_kept_one(monkeypatch, tmp_path):
    """Only the first refusal put the menu back: after a second one (or the same again) the
    menu showed the refused file while Reset built the kept scenario."""
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    for name in ("one_typo", "two_typo"):
        (tmp_path / f"{name}.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nbogus_{name}: 1\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, _ = render_settings()
    for pick in ("one_typo", "two_typo", "two_typo", "one_typo"):
        selects()[0].v_model = pick
        assert f"configs/{pick}.yaml cannot be used" in problem.value
        assert settings.value["config"] == selects()[0].v_model == "baseline", pick


def test_a_scenario_after_the_calibrated_one_shows_a_value_on_every_slider(monkeypatch, tmp_path):
    """The calibrated baseline leaves its drawn sliders at None; a scenario whose coercion
    rule has no strength did not replace it, and the sidebar died on a missing draw."""
    for name in ("baseline", "baseline_calibrated"):
        (tmp_path / f"{name}.yaml").write_text((dashboard.CONFIGS / f"{name}.yaml").read_text().replace("../data/", f"{dashboard.CONFIGS.parent}/data/"))
    (tmp_path / "no_coercion.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nrules: {{coercion: {{name: none}}}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, sliders = render_settings()
    selects()[0].v_model = "baseline_calibrated"
    assert settings.value["coercion_strength"] is None and "drawn, posterior row" in sliders()["Coercion strength"].label
    selects()[0].v_model = "no_coercion"
    assert settings.value["config"] == "no_coercion" and not problem.value
    assert settings.value["coercion_strength"] == dashboard.DEFAULTS["coercion_strength"]
    assert sliders()["Coercion strength"].label.endswith("(not used by this rule)")
    assert None not in [settings.value[name] for name in dashboard.SLIDERS]


def test_a_posterior_broken_after_its_scenario_was_chosen_leaves_the_sidebar_standing(monkeypatch, tmp_path):
    """Moving the seed re-draws from the posterior; a file edited into an invalid one
    raised out of the sidebar instead of leaving Reset to say what is wrong."""
    import shutil

    shutil.copy(dashboard.CONFIGS.parent / "data" / "posterior_baseline.csv", tmp_path / "posterior.csv")
    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nposterior: posterior.csv\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem, selects, sliders = render_settings()
    selects()[0].v_model = "mine"
    assert settings.value["noise"] is None
    with open(tmp_path / "posterior.csv", "a") as f:
        f.write("1,2,3\n")
    settings.set({**settings.value, "seed": 7})
    assert sliders()["Decision noise"].label == f"Decision noise: {dashboard.DEFAULTS['noise']:.2f} (the posterior cannot be read: Reset says why)"
    model = dashboard.session_model(settings, problem)()
    assert model.settings["config"] == "baseline" and "configs/mine.yaml cannot be used" in problem.value


def test_a_scenario_edited_into_an_invalid_one_after_it_was_chosen_builds_the_baseline(monkeypatch, tmp_path):
    import solara

    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "mine.yaml").write_text("time: {steps: [}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    settings, problem = solara.reactive({**dashboard.DEFAULTS, "config": "mine"}), solara.reactive("")
    model = dashboard.session_model(settings, problem)()  # as Mesa's Reset builds it
    assert model.settings["config"] == "baseline" and model.steps == 0
    assert problem.value.startswith("configs/mine.yaml cannot be used, so the model was built from the baseline:")
    assert settings.value == model.settings  # the sidebar shows what was built: no "press Reset" left standing


def test_a_reset_reads_the_scenario_file_once_and_an_edit_between_resets_counts(monkeypatch, tmp_path):
    """A Reset loaded the scenario three times (about 10 ms each) with the spending slider
    moved: the file, again with the sidebar's rules, again with the spending. After the
    file was edited into an invalid one, it read the baseline's file twice. Now each file
    is read once and the sidebar's changes validated once, with no cache to go stale."""
    import solara

    (tmp_path / "baseline.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\n")
    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\ntime: {{steps: 12}}\n")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    loads, load = [], dashboard.load
    monkeypatch.setattr(dashboard, "load", lambda source, *args, **kwargs: loads.append(source) or load(source, *args, **kwargs))
    settings, problem = solara.reactive({**dashboard.DEFAULTS, "config": "mine", "budget_scale": 2.0}), solara.reactive("")
    reset = dashboard.session_model(settings, problem)  # Mesa's Reset builds type(model)()
    assert reset().config.time.steps == 12
    assert len(loads) == 2 and loads[0] == tmp_path / "mine.yaml"  # the file, then the sidebar's changes
    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\ntime: {{steps: 8}}\n")
    assert reset().config.time.steps == 8
    (tmp_path / "mine.yaml").write_text("time: {steps: [}\n")
    loads.clear()
    assert reset().settings["config"] == "baseline" and problem.value.startswith("configs/mine.yaml cannot be used")
    assert [source.name for source in loads if isinstance(source, Path)] == ["mine.yaml", "baseline.yaml"]


def test_a_step_updates_the_panels_data_without_redrawing_them():
    model = dashboard.DashboardModel()
    for kind, make in dashboard.PANELS.items():
        panel = make(model)
        first = panel.png(model)
        background = panel.background
        model_steps = model.steps
        model.step()
        second = panel.png(model)
        assert panel.background is background, f"{kind}: the static part was redrawn"
        assert second != first, f"{kind}: the image did not change after a step"
        assert model.steps == model_steps + 1


def test_events_the_model_makes_itself_are_named_by_their_parties():
    """A guarantee called in a clash showed as "guarantee failed", naming neither the
    organisation nor the power nor the state."""
    model = dashboard.DashboardModel(config="start_2020", seed=0)
    while model.running:
        model.step()
    made = [e for e in model.event_log if e[3].startswith("guarantee_")]
    assert made, "start_2020 seed 0 calls guarantees"
    model.event_log = made[-1:]
    params = json.loads(made[-1][-1])
    assert dashboard.latest_events(model) == f"{made[-1][1]} {made[-1][3].replace('_', ' ')} ({params['organisation']}, {params['power']}, {params['state']})"


def test_the_latest_events_say_when_an_event_changed_nothing():
    """An exit by a state that was never a member read as an exit that took place."""
    from abm.model import RegionModel
    from abm.scenario import resolve_extends

    raw = resolve_extends(dashboard.CONFIGS / "baseline.yaml")
    raw["events"]["georgia_exits"] = {"type": "exit", "date": "2025-02-01", "state": "georgia", "organisation": "EAEU"}
    model = RegionModel(raw, rng=0)
    model.step()
    assert "2025-04-01 exit (georgia_exits) (no effect)" in dashboard.latest_events(model, 5).split("; ")


def test_the_status_says_when_the_run_has_reached_its_horizon():
    import solara

    model = dashboard.DashboardModel(config="generated")
    finished = lambda: solara.render(dashboard.Status(model), handle_error=False)[1].find(class_="abm-finished").widgets  # noqa: E731
    assert not finished()
    while model.running:
        model.step()
    assert len(finished()) == 1 and "horizon" in finished()[0].children[0]


def test_the_status_labels_its_counts_as_the_current_quarters():
    """The offers, coercion and conflict counts are the step's (a quarter's), not the run's
    so far, and the status line did not say so."""
    model = dashboard.DashboardModel(power=dashboard.ALL_POWERS, budget_scale=2.0)  # new spending: coercion too
    for _ in range(4):
        model.step()
    m = model.metrics
    counts = f"this quarter: offers accepted {m['offers_accepted']} of {m['offers_made']} · coercion events {m['coercion_events']} · conflict events {m['conflict_events']}"
    assert counts in dashboard.status_text(model).splitlines()
    assert m["offers_made"] < model.datacollector.get_model_vars_dataframe()["offers_made"].sum()  # not cumulative


def test_the_influence_panel_says_what_it_plots():
    """Influence is each state's share of its ties averaged over the states (ODD 7.8); the
    axis said "share of the region's ties", a share of the ties pooled over the region."""
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    assert "* influence `influence_p = mean_s a[s,p]`" in odd.split("### 7.8 Perception")[1].split("### 7.9")[0]
    model = dashboard.DashboardModel()
    model.step()
    panel = dashboard.live_influence(model)
    panel.png(model)
    ax = panel.fig.axes[0]
    assert ax.get_ylabel() == "mean share of each state's ties (0-1)" and "mean material alignment" in ax.get_title()
    plotted = {line.get_label(): np.asarray(line.get_ydata())[-1] for line in ax.get_lines()}
    for k, key in enumerate(model.power_keys):  # model.alignment: a[s,p], each state's share of all its ties (ODD 2.1)
        assert plotted[model.config.powers[key].name] == pytest.approx(model.alignment[:, k].mean(), rel=1e-12)


def test_choosing_a_world_without_the_chosen_power_scales_all_powers():
    """The generated world has none of the baseline's powers: the power menu kept "china"
    as an extra entry (scaling every power, unsaid). Back in a world that has it, the
    user's pick returns (it stayed on all powers until picked again)."""
    settings, _, selects, _ = render_settings()
    assert settings.value["power"] == "china"
    selects()[0].v_model = "generated"
    assert settings.value["power"] == dashboard.ALL_POWERS
    assert [entry["value"] for entry in selects()[-1].items] == [dashboard.ALL_POWERS, *dashboard.load(dashboard.CONFIGS / "generated.yaml").powers]
    selects()[0].v_model = "baseline"
    assert settings.value["power"] == "china"
    selects()[-1].v_model = "japan"
    selects()[0].v_model = "no_peace"  # a power kept when the next scenario has it
    assert settings.value["power"] == "japan"


def test_the_power_menu_shows_names_and_selects_ids():
    """The power menu showed ids ("european_union", "united_states") where the rest of the
    dashboard names the powers."""
    settings, _, selects, _ = render_settings()
    powers = dashboard.load(dashboard.CONFIGS / "baseline.yaml").powers
    menu = selects()[-1]
    assert [entry["title"] for entry in menu.items] == [dashboard.ALL_POWERS, *(power.name for power in powers.values())]
    assert [entry["value"] for entry in menu.items] == [dashboard.ALL_POWERS, *powers]
    menu.v_model = "european_union"
    assert settings.value["power"] == "european_union"


def test_corridor_panel_names_corridors_as_the_scenario_does():
    model = dashboard.DashboardModel()
    panel = dashboard.live_corridors(model)
    shown = [t.get_text() for t in panel.fig.axes[0].get_legend().get_texts()]
    assert shown == [c.name.split(" (")[0] for c in model.config.corridors.values()]


def test_corridor_panel_reads_every_corridor_volume_column():
    model = dashboard.DashboardModel()
    columns = dashboard.corridor_columns(dashboard.model_frame(model))
    assert columns, "the baseline has corridors"
    assert all(re.fullmatch(r"corridor_.+_volume", c) for c in columns)
    assert len(columns) == len(model.config.corridors)


def test_the_question_panel_draws_each_watched_metric_on_its_own_scale():
    """A scenario's watch: list (its question's metrics) was shown nowhere on the page, and
    some of its metrics (unmet demand, dependency, transit revenue) were drawn in no panel."""
    import solara

    from abm import chartstyle as cs

    model = dashboard.DashboardModel(config="northern_route_reopens")
    panel = dashboard.live_question(model)
    for _ in range(12):
        panel.png(model)
        model.step()
    panel.png(model)
    axes = [ax for ax in panel.fig.axes if ax.axison]
    frame = dashboard.model_frame(model)
    assert [ax.get_title() for ax in axes] == model.config.watch and len(axes) == 4
    for ax, metric in zip(axes, model.config.watch):
        (line,) = ax.get_lines()
        assert line.get_ydata().tolist() == frame[metric].tolist() and ax.get_ylabel() == cs.unit(metric)
        assert frame[metric].max() <= ax.get_ylim()[1] <= 3 * frame[metric].max(), f"{metric}: its line fills less than a third of its axis"
    assert axes[0].get_ylim()[1] > 1 > axes[3].get_ylim()[1], "a volume in Mt above 1, a transit revenue below"
    page = solara.render(dashboard.Panels(model), handle_error=False)[1]
    (question,) = page.find(class_="abm-question").widgets
    assert question.children[0].startswith(model.config.description) and all(m in question.children[0] for m in model.config.watch)
    unwatched = dashboard.DashboardModel(config="generated")
    assert not unwatched.config.watch and dashboard.question_text(unwatched.config).endswith("Its watch: list names no metrics.")
    assert not [ax for ax in dashboard.live_question(unwatched).fig.axes if ax.axison]


def test_assets_are_the_versions_solara_asks_for():
    """If Solara is upgraded, ASSETS must follow, or the page would try a public CDN."""
    import solara

    package = Path(solara.__file__).parent
    sources = (package / "server/templates/solara.html.j2").read_text() + (package / "widgets/vue/gridlayout_v3.vue").read_text()
    for name, version, _ in dashboard.ASSETS:
        if name == "font-awesome":
            from solara.server import settings

            assert f"{name}@{version}" in settings.assets.fontawesome_path
        else:
            assert f"{name}@{version}/" in sources, f"Solara no longer asks for {name}@{version}"


def test_readme_says_where_the_run_buttons_are_and_what_each_does():
    """Reset, Step and ▶ are Mesa's, in its Controls card below the fold, under the sidebar's
    own card; the README named them but not where they are (the browser test checks that
    they are there)."""
    section = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split("### Dashboard")[1].split("\n## ")[0].split())
    assert "in the sidebar's **Controls** card below the scenario and rules (scroll the sidebar down)" in section
    assert all(does in section for does in ("**Reset** builds the model with the sidebar's settings", "**▶** plays", "**Step** advances one quarter"))


# --------------------------------------------------------------------------- in a browser


@pytest.fixture
def server(tmp_path):
    """``abm dashboard`` on a free port, in its own process group; stopped afterwards."""
    try:
        dashboard.fetch_assets(log=lambda _msg: None)
    except RuntimeError as exc:
        pytest.fail(f"dashboard assets unavailable: {exc}")
    with harness.dashboard_server(tmp_path) as url:
        yield url


def chart_images(page) -> list[str]:
    return page.eval_on_selector_all("img", "els => els.map(e => e.src).filter(s => s.startsWith('data:image') || s.startsWith('blob:'))")


@pytest.mark.skipif(not Path(harness.CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_dashboard_steps_and_resets_in_a_browser(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            page = harness.open_dashboard(browser, server, errors)
            before = chart_images(page)
            assert len(before) >= 4, "status and four chart panels expected"
            status0 = page.get_by_text(re.compile(r"^Step \d+ of")).inner_text()

            harness.step_to(page, 3)
            page.wait_for_function(
                "before => { const now = Array.from(document.querySelectorAll('img')).map(e => e.src);"
                " return now.filter(s => !before.includes(s)).length >= 3; }",
                arg=before, timeout=20_000,
            )
            after = chart_images(page)
            assert page.get_by_text(re.compile(r"^Step \d+ of")).inner_text() != status0
            assert len(set(after) - set(before)) >= 3, "region, fragmentation and influence charts must change"
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            page.get_by_role("button", name=re.compile("^reset$", re.I)).click()
            page.get_by_text(re.compile(r"^Step 0 of \d+")).wait_for(timeout=20_000)

            # The full title is shown, in the page and on the browser tab; every slider shows its value.
            assert page.locator(".abm-title").get_by_text(dashboard.TITLE, exact=True).is_visible()
            assert page.title() == dashboard.TITLE
            assert page.get_by_text(re.compile(r"^Coercion strength: 0\.50$")).count() == 1
            assert page.get_by_text(re.compile(r"^Spending ×: 1\.0$")).count() == 1
            assert "China" in page.locator(".v-select").filter(has_text="Power whose spending to change").inner_text()  # the name, not the id
            # The run buttons are where the README says: in Mesa's Controls card, below the sidebar's Scenario and rules.
            controls = page.locator(".v-card").filter(has=page.get_by_role("button", name=re.compile("^reset$", re.I))).last
            assert controls.locator(".v-card-title").first.inner_text() == "Controls"
            assert all(controls.get_by_role("button", name=name).count() == 1 for name in (re.compile("^step$", re.I), "▶"))
            sidebar = page.locator(".abm-sidebar").bounding_box()
            assert controls.bounding_box()["y"] >= sidebar["y"] + sidebar["height"]
            # Each slider's label sits above its value bubble, and that above the track (beside
            # the track, a long label squeezed it to nothing and the bubble covered the line above).
            for k in range(page.locator(".abm-sidebar .v-slider").count()):
                one = page.locator(".abm-sidebar .v-slider").nth(k)
                label, bubble, track = (one.locator(c).bounding_box() for c in (".v-slider__label", ".v-slider-thumb__label", ".v-slider-track"))
                assert label["y"] + label["height"] <= bubble["y"] and bubble["y"] + bubble["height"] <= track["y"] + 1, one.inner_text()

            # A rule chosen in the sidebar reaches the model and the status line on Reset.
            page.locator(".v-select").filter(has_text="Decision rule").click()
            page.get_by_role("option", name="threshold").click()
            page.get_by_text(re.compile("press Reset")).wait_for(timeout=10_000)
            page.get_by_role("button", name=re.compile("^reset$", re.I)).click()
            page.locator(".abm-settings").get_by_text(re.compile("decision threshold")).wait_for(timeout=20_000)

            # Play (to the horizon or for 15 s): seconds per step while playing, printed, not asserted.
            def shown_step():
                return int(re.search(r"Step (\d+) of (\d+)", page.locator(".abm-status").inner_text()).group(1))

            horizon = int(re.search(r"of (\d+)", page.locator(".abm-status").inner_text()).group(1))
            start_step = shown_step()
            page.get_by_role("button", name="▶").click()
            t0 = time.monotonic()
            last, last_time, seen = start_step, t0, set()
            while time.monotonic() - t0 < 15 and last < horizon:
                page.wait_for_timeout(100)
                now = shown_step()
                seen.add(page.evaluate("() => Array.from(document.querySelectorAll('img')).map(e => e.src.length + e.src.slice(-24)).join()"))
                if now != last:
                    last, last_time = now, time.monotonic()
            if last < horizon:
                page.get_by_role("button", name="❚❚").click()
            steps = last - start_step
            frames = len(seen)  # distinct sets of panel images seen, polling every 100 ms
            print(f"\ndashboard play: {steps} steps in {last_time - t0:.1f} s = {(last_time - t0) / max(steps, 1):.3f} s per step (target <= 0.25); "
                  f"the panels showed {frames} distinct frames ({(last_time - t0) / max(frames, 1):.3f} s per frame)")
            assert steps > 0
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.mark.skipif(not Path(harness.CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_page_of_abm_dashboard_with_a_file_of_ones_own_starts_from_it(tmp_path):
    """The server reads the files abm dashboard names from the environment it is given."""
    sync_api = pytest.importorskip("playwright.sync_api")
    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nname: mine\ntime: {{steps: 9}}\n")
    errors: list[str] = []
    with harness.dashboard_server(tmp_path, ("mine.yaml",)) as url, sync_api.sync_playwright() as p:
        browser = harness.launch_chromium(p)
        try:
            page = harness.open_dashboard(browser, url, errors)
            assert page.get_by_text(re.compile(r"^Step 0 of 9\b")).count() == 1
            assert "mine.yaml" in page.locator(".v-select").filter(has_text="Scenario").first.inner_text()
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"


def test_cli_reports_missing_dashboard_extra_cleanly(monkeypatch, capsys):
    """Without the dashboard extra, ``abm dashboard`` says what to install (exit 2)."""
    from abm import cli

    monkeypatch.setitem(sys.modules, "abm.dashboard", None)  # import fails as if solara were absent
    import abm

    monkeypatch.delattr(abm, "dashboard", raising=False)
    assert cli.main(["dashboard", "--no-fetch"]) == 2
    assert "in the project's folder, .venv/bin/pip install -e '.[dashboard]' (bash scripts/setup.sh dev installs every extra)" in capsys.readouterr().err


def test_screenshot_kept_in_docs():
    shot = ROOT / "docs" / "img" / "dashboard.png"
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_sigterm_to_abm_dashboard_stops_the_solara_server(tmp_path, monkeypatch):
    """``kill PID`` of ``abm dashboard`` (not of its process group) stops the Solara server
    it started and frees the port (tests/test_cli.py checks SIGHUP and SIGINT alike). The
    first port the harness picks is taken meanwhile, as by a parallel test: it tries another."""
    import os
    import signal
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    free = harness.free_port
    monkeypatch.setattr(harness, "free_port", lambda: next(ports, None) or free())
    with taken, open(tmp_path / "server.log", "wb") as log:
        proc, url = harness.start_dashboard(tmp_path, log)
    assert "already in use" in (tmp_path / "server.log").read_text()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM  # stopped, it ends by the signal (a shell shows 143)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # OSError (address in use) if the server were left
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # nothing is left in the command's process group
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_dashboard_checks_its_port_before_starting(monkeypatch, capsys):
    """A port in use is bad input (exit 2, one message, no "open ..." line, no server);
    --port 0 serves on a free port chosen beforehand, and the address printed is that one."""
    import socket

    from abm import cli

    started: list[list[str]] = []
    monkeypatch.setattr(cli, "serve", lambda command, **_: started.append(command) or 0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dashboard", "--no-fetch", "--port", str(port)]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"error: --port {port}: 127.0.0.1:{port} is already in use (another abm dashboard?); choose another --port, or --port 0 for any free one\n"
        assert captured.out == "" and not started

    assert cli.main(["dashboard", "--no-fetch", "--port", "0"]) == 0
    chosen = int(started[0][started[0].index("--port") + 1])
    assert chosen > 0 and f"http://127.0.0.1:{chosen}/" in capsys.readouterr().out

    # An IPv6 address is printed in brackets: http://::1:PORT/ is not a URL a browser opens.
    assert cli.main(["dashboard", "--no-fetch", "--host", "::1", "--port", "0"]) == 0
    chosen = int(started[1][started[1].index("--port") + 1])
    assert f"open http://[::1]:{chosen}/ in a browser" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["balance", "hedging", "threshold"])
def test_a_rule_chosen_in_the_sidebar_starts_from_its_defaults_as_a_switch_at_the_command_line_does(target):
    """The sidebar kept every parameter of the old rule the new one accepts: bandwagon's
    bonus 2.0 carried over to balance, which `--set rules.decision.name=balance` resets
    to its default (README: only the parameters both rules carry keep their values). A
    parameter with a slider (hedging's cap) runs at the value its slider shows, which
    bandwagon, without a cap, left where the sidebar had it: as `--set` of it gives."""
    changed = ["rules.decision={name: bandwagon, bonus: 2.0, noise: 0.2, threshold: 0.1}"]
    loaded = dashboard.load(dashboard.CONFIGS / "baseline.yaml", changed)
    values = {**dashboard.DEFAULTS, **dashboard.scenario_values(loaded, dashboard.ALL_POWERS), "decision": target}  # bandwagon has no cap: the sidebar keeps its slider's value
    built = dashboard.build_scenario(**values, loaded=loaded)
    shown = [f"rules.decision.cap={values['hedge_cap']}"] if target == "hedging" else []
    at_the_command_line = dashboard.load(dashboard.CONFIGS / "baseline.yaml", [*changed, f"rules.decision.name={target}", *shown])
    assert built.rules.decision == at_the_command_line.rules.decision
    assert built.rules.decision["noise"] == 0.2 and built.rules.decision["threshold"] == 0.1


def test_a_broken_baseline_is_told_before_the_dashboard_starts(monkeypatch, capsys, tmp_path):
    """The page starts from configs/baseline.yaml and falls back to it when another
    scenario is refused: a typo in it put a traceback in the page and the terminal.
    abm dashboard now refuses to start, naming the field (exit 2, no server)."""
    from abm import cli

    started: list[list[str]] = []
    monkeypatch.setattr(cli, "serve", lambda command, **_: started.append(command) or 0)
    (tmp_path / "baseline.yaml").write_text((dashboard.CONFIGS / "baseline.yaml").read_text(encoding="utf-8") + "stepz: 1\n", encoding="utf-8")
    monkeypatch.setattr(dashboard, "CONFIGS", tmp_path)
    assert cli.main(["dashboard", "--no-fetch", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert "stepz" in captured.err and "unknown key" in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not started


def test_the_influence_panel_of_many_powers_names_the_largest_and_greys_the_rest():
    """A generated world of 50 powers drew 50 lines in 20 colours, with a legend that ran
    off the figure (and matplotlib's "constrained_layout not applied"): the 12 largest at
    the start are named, each told apart by colour and line style, the others grey."""
    from abm.scenario import load

    scenario = load(ROOT / "configs" / "generated.yaml", ["generated.n_powers=50", "generated.n_states=20"])
    model = dashboard.DashboardModel(config="generated", scenario=scenario)
    start = {p: model.alignment[:, k].mean() for k, p in enumerate(model.power_keys)}
    model.step()
    panel = dashboard.live_influence(model)
    panel.png(model)  # warnings are errors here: a legend that does not fit fails
    ax = panel.fig.axes[0]
    named = [line for line in ax.get_lines() if not line.get_label().startswith("_") and "others" not in line.get_label()]
    largest = sorted(start, key=lambda p: -start[p])[: dashboard.NAMED_POWERS]
    assert [line.get_label() for line in named] == [model.config.powers[p].name for p in largest]
    assert len({(line.get_color(), line.get_linestyle()) for line in named}) == dashboard.NAMED_POWERS
    assert len(ax.get_lines()) == 50 and [t.get_text() for t in ax.get_legend().get_texts()][-1] == "the 38 others"
    legend = ax.get_legend().get_window_extent(panel.fig.canvas.get_renderer())
    assert legend.x1 <= panel.fig.bbox.x1 and legend.y0 >= 0


def test_the_influence_panel_names_a_thirteenth_power_and_survives_one_colour_for_all(monkeypatch):
    """13 powers put one in grey as "the 1 others"; powers sharing one colour (a scenario
    may set them so) ran past the line styles and raised IndexError."""
    from abm.scenario import load

    def panel(n: int):
        scenario = load(ROOT / "configs" / "generated.yaml", [f"generated.n_powers={n}", "generated.n_states=10"])
        model = dashboard.DashboardModel(config="generated", scenario=scenario)
        drawn = dashboard.live_influence(model)
        drawn.png(model)
        return [t.get_text() for t in drawn.fig.axes[0].get_legend().get_texts()]

    assert len(panel(13)) == 13 and not any("others" in t for t in panel(13))
    monkeypatch.setattr(dashboard, "power_colors", lambda model: dict.fromkeys(model.power_keys, "#336699"))
    assert panel(20)[-1] == "the 8 others"


def added_by_cli(monkeypatch, *files: str) -> dict:
    """``abm dashboard FILE ...`` (its server not started): the environment it gives the
    server, which is then this process's, as the server's process would read it."""
    from abm import cli

    envs: list[dict] = []
    monkeypatch.setattr(cli, "serve", lambda command, env=None, **_: envs.append(env) or 0)
    assert cli.main(["dashboard", "--no-fetch", "--port", "0", *files]) == 0
    monkeypatch.setenv(dashboard.ADDED_FILES, envs[0][dashboard.ADDED_FILES])
    return envs[0]


def test_abm_dashboard_adds_a_scenario_file_of_ones_own_and_starts_from_it(monkeypatch, tmp_path):
    """The dashboard offered only configs/*.yaml: a modeler's own scenario could not be
    seen in it without copying it there. A file named on the command line (relative to
    where abm dashboard was started) heads the menu, the page starts from it as written,
    and its model runs as abm run runs the file."""
    from abm import runner

    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nname: mine\nseed: 5\nrules: {{decision: {{noise: 0.2}}}}\n")
    monkeypatch.chdir(tmp_path)
    added_by_cli(monkeypatch, "mine.yaml")
    monkeypatch.chdir(ROOT)  # the server may run elsewhere: the file was resolved where it was named
    assert dashboard.config_names()[:2] == ["mine.yaml", "baseline"]
    settings, problem = dashboard.start_settings()
    assert (settings["config"], settings["seed"], settings["noise"], problem) == ("mine.yaml", 5, 0.2, "")
    model = dashboard.DashboardModel(**settings)
    for _ in range(8):
        model.step()
    reference = runner.run(tmp_path / "mine.yaml", steps=8, tables=False).model
    assert model.metrics["fragmentation"] == pytest.approx(reference["fragmentation"].iloc[-1], rel=1e-12)

    sidebar, _, selects, _ = render_settings()
    assert selects()[0].label == "Scenario" and [e for e in selects()[0].items][:1] == ["mine.yaml"]
    selects()[0].v_model = "generated"
    selects()[0].v_model = "mine.yaml"  # back to it from another scenario: its own values again
    assert (sidebar.value["config"], sidebar.value["noise"]) == ("mine.yaml", 0.2)

    (tmp_path / "mine.yaml").write_text(f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nstepz: 1\n")  # edited into an invalid file after abm dashboard checked it
    settings, problem = dashboard.start_settings()
    assert settings == dashboard.DEFAULTS and problem.startswith("mine.yaml cannot be used, so the dashboard starts from the baseline:") and "stepz" in problem


def test_a_file_named_twice_is_listed_once_and_one_named_as_a_config_keeps_its_own_file(monkeypatch, tmp_path):
    """Named two ways, one file was listed twice; a file typed as ``baseline`` (no
    extension) was replaced on the menu, silently, by configs/baseline.yaml."""
    (tmp_path / "baseline").write_text(f"extends: {dashboard.CONFIGS / 'generated.yaml'}\nname: mine\n")
    monkeypatch.chdir(tmp_path)
    added_by_cli(monkeypatch, "baseline", "./baseline", str(tmp_path / "baseline"))
    names = dashboard.config_names()
    assert names[:2] == [(tmp_path / "baseline").resolve().as_posix(), "baseline"] and len(names) == len(list(dashboard.CONFIGS.glob("*.yaml"))) + 1
    assert dashboard.load(dashboard.config_file(names[0])).name == "mine" and dashboard.start_settings()[0]["config"] == names[0]

    added_by_cli(monkeypatch, str(dashboard.CONFIGS / "generated.yaml"))
    names = dashboard.config_names()
    assert names[0] == "generated" and names.count("generated") == 1 and len(names) == len(list(dashboard.CONFIGS.glob("*.yaml")))
    assert dashboard.start_settings()[0]["config"] == "generated" and dashboard.file_label("generated") == "configs/generated.yaml"


@pytest.mark.parametrize(("text", "said"), [(None, "file not found"), (f"extends: {dashboard.CONFIGS / 'baseline.yaml'}\nstepz: 1\n", "stepz: unknown key")])
def test_a_scenario_file_named_on_the_command_line_that_cannot_be_used_stops_abm_dashboard(monkeypatch, capsys, tmp_path, text, said):
    from abm import cli

    started: list = []
    monkeypatch.setattr(cli, "serve", lambda command, **_: started.append(command) or 0)
    path = tmp_path / "mine.yaml"
    if text is not None:
        path.write_text(text)
    assert cli.main(["dashboard", "--no-fetch", "--port", "0", str(dashboard.CONFIGS / "generated.yaml"), str(path)]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and str(path) in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not started
