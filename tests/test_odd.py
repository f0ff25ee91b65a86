"""The model description (docs/ODD.md) names every setting a scenario can make: each rule
variant and its parameters (with the default and limits the code enforces), the fields of
states, powers, offers and metrics, and every column of model.csv and agents.csv. A
parameter or output column added to the code without its line in the ODD fails here."""

import re
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from abm import rules, scenario
from abm.units import LIMIT
from abm.metrics import state_columns
from abm.model import RegionModel
from abm.rules.registry import FAMILIES, REGISTRY
from tests.conftest import BASELINE, GENERATED

ODD = (Path(__file__).resolve().parents[1] / "docs" / "ODD.md").read_text(encoding="utf-8")
PARAMETERS = ODD.split("### 7.16 Parameters", 1)[1].split("## 8.", 1)[0]


def test_every_rule_family_and_variant_is_described():
    assert rules.FAMILIES == FAMILIES
    missing = [f"{family}.{name}" for family in FAMILIES for name in REGISTRY[family] if f"`{name}`" not in ODD]
    assert not missing, f"rule variants not in docs/ODD.md: {missing}"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_rule_parameter_has_a_row_in_the_parameter_tables(family):
    rows = [line for line in PARAMETERS.splitlines() if line.startswith(f"| {family} |")]
    missing = []
    for name, cls in REGISTRY[family].items():
        for field in cls.Params.model_fields:
            if not any(f"`{field}`" in row for row in rows):
                missing.append(f"{family}.{name}.{field}")
    assert not missing, f"rule parameters without a row in docs/ODD.md 7.16.8: {missing}"


@pytest.mark.parametrize(
    "prefix, spec",
    [
        ("", scenario.StateSpec),
        ("", scenario.PowerSpec),
        ("offers.", scenario.OfferSpec),
        ("utility.", scenario.UtilitySpec),
        ("metrics.", scenario.MetricsSpec),
        ("generated.", scenario.GeneratedSpec),
    ],
)
def test_every_scenario_field_has_a_row_in_the_parameter_tables(prefix, spec):
    missing = [f"{prefix}{field}" for field in spec.model_fields
               if not re.search(rf"`{re.escape(prefix + field)}[`.]", PARAMETERS)]
    assert not missing, f"{spec.__name__} fields without a row in docs/ODD.md 7.16: {missing}"


def test_every_top_level_scenario_field_has_a_row_in_the_parameter_tables():
    missing = [field for field in scenario.Scenario.model_fields if not re.search(rf"`{field}[`.]", PARAMETERS)]
    assert not missing, f"scenario fields without a row in docs/ODD.md 7.16: {missing}"


EVENT_ROWS = [[cell.strip() for cell in line.strip("|").split("|")]
              for line in PARAMETERS.split("#### 7.16.9", 1)[1].split("####", 1)[0].splitlines() if line.startswith("| `")]


def _event_row(kind: str, field: str) -> list[str]:
    """The row of 7.16.9 for an event type's parameter, following 'as `other`' to the type
    whose rows it shares."""
    own = [row for row in EVENT_ROWS if f"`{kind}`" in row[0]]
    for row in own:
        if f"`{field}`" in row[1]:
            return row if not row[3].startswith("as `") else [*row[:3], _event_row(row[3].split("`")[1], field)[3], *row[4:]]
    shared = [row[1].split("`")[1] for row in own if row[1].startswith("as `")]
    assert shared, f"{kind}.{field} has no row in docs/ODD.md 7.16.9"
    return _event_row(shared[0], field)


@pytest.mark.parametrize("kind", sorted(REGISTRY["event"]))
def test_every_event_parameter_has_a_row_with_its_limits_and_a_source(kind):
    """7.16.9 gives each event parameter's allowed range as the code enforces it (an upper
    limit left out of the table misleads whoever sweeps it) and says where its default comes from."""
    for field, info in REGISTRY["event"][kind].Params.model_fields.items():
        row = _event_row(kind, field)
        assert len(row) == 6 and row[5], f"{kind}.{field}: no source column"
        limits = {float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e\d+)?", row[3])}
        bounds = scenario.Bounds.of(info.metadata).values()
        assert bounds <= limits, f"{kind}.{field}: code allows {bounds}, docs/ODD.md says {row[3]!r}"


def _named_columns(section: str, scn: scenario.Scenario) -> list[re.Pattern]:
    """The column names a table of docs/ODD.md 7.15 defines (first cell, every `name`),
    as patterns in which a placeholder such as `<power>` stands for the scenario's ids of
    that kind only: matching any text, `influence_<power>` passed an undocumented
    `influence_hhi`."""
    ids = {"subregion": {s.subregion for s in scn.states.values()}, "power": scn.powers, "state": scn.states, "id": scn.corridors,
           "group": {c.group for c in scn.corridors.values()} - {None}, "org": scn.organisations, "format": scn.organisations}
    text = ODD.split(f"#### {section}", 1)[1].split("####", 1)[0]
    names = [name for line in text.splitlines() if line.startswith("| `")
             for name in re.findall(r"`([^`]+)`", line.split("|")[1])]
    return [re.compile(re.sub(r"<(\w+)>", lambda m: "(?:" + "|".join(map(re.escape, sorted(ids[m.group(1)]))) + ")", re.escape(name).replace(r"\<", "<").replace(r"\>", ">")))
            for name in names]


@pytest.mark.parametrize("path", [BASELINE, GENERATED], ids=["baseline", "generated"])
def test_every_output_column_has_a_row_in_the_metric_tables(path):
    """A metric added to model.csv or agents.csv without its row (formula, range, source)
    in docs/ODD.md 7.15.1 or 7.15.3 fails here; the two scenarios name every kind of
    column (subregions, powers, corridors and their groups, organisations, formats)."""
    scn = scenario.load(path)
    for section, columns in (("7.15.1", ["step", "date", *scn.metric_names()]),
                             ("7.15.3", ["step", "date", "state", *state_columns(list(scn.powers))])):
        rows = _named_columns(section, scn)
        missing = [c for c in columns if not any(row.fullmatch(c) for row in rows)]
        assert not missing, f"{path.name}: columns without a row in docs/ODD.md {section}: {missing}"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_parameter_tables_give_each_rule_parameter_its_default_and_limits(family):
    """7.16.8 states the default and the allowed range the code enforces: a default or a
    limit changed in a rule's Params without the table fails here."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in PARAMETERS.splitlines() if line.startswith(f"| {family} |")]
    wrong = []
    for name, cls in REGISTRY[family].items():
        for field, info in cls.Params.model_fields.items():
            row = next((r for r in rows if f"`{field}`" in r[2] and (f"`{name}`" in r[1] or r[1].startswith("all"))), None)
            if row is None:
                wrong.append(f"{name}.{field}: no row in docs/ODD.md 7.16.8 (| {family} | `{name}` | `{field}` | default | allowed | unit | baseline | source |)")
                continue
            default = row[3].split(" (")[0] if name != "linear" else re.search(r"`linear`: ([\d.]+)", row[3]).group(1)
            said = None if default == "None" or default.startswith("none") else float(default)
            if said != info.default:
                wrong.append(f"{name}.{field}: default {info.default!r}, docs/ODD.md {row[3]!r}")
            bounds = scenario.Bounds.of(info.metadata).values()
            if not bounds <= stated(row[4]):
                wrong.append(f"{name}.{field}: limits {sorted(bounds)}, docs/ODD.md {row[4]!r}")
    assert not wrong, wrong


SPECS = [  # (subsection of 7.16, the settings' path prefix, the schema that holds them)
    ("7.16.1", "", scenario.Scenario), ("7.16.1", "time.", scenario.TimeSpec), ("7.16.1", "metrics.", scenario.MetricsSpec),
    ("7.16.1", "metrics.integration_weights.", scenario.IntegrationWeights),
    ("7.16.2", "", scenario.StateSpec), ("7.16.2", "needs.", scenario.Needs), ("7.16.2", "neighbours.<state>.", scenario.Neighbour),
    ("7.16.3", "", scenario.PowerSpec), ("7.16.3", "budget.", scenario.DomainValues), ("7.16.3", "conditions.", scenario.Conditions),
    ("7.16.3", "coercion.", scenario.CoercionSpec), ("7.16.4", "offers.", scenario.OfferSpec), ("7.16.4", "utility.", scenario.UtilitySpec),
    ("7.16.5", "corridors.<id>.", scenario.CorridorSpec), ("7.16.5", "corridors.<id>.segments[].", scenario.SegmentSpec),
    ("7.16.5", "corridors.<id>.upgrades[].", scenario.UpgradeSpec), ("7.16.5", "freight.", scenario.FreightSpec),
    ("7.16.6", "", scenario.OrganisationSpec), ("7.16.6", "benefits.", scenario.DomainValues), ("7.16.7", "generated.", scenario.GeneratedSpec),
]


@pytest.mark.parametrize("section, prefix, spec", SPECS, ids=[f"{s}:{p or spec.__name__}" for s, p, spec in SPECS])
def test_the_parameter_tables_give_each_scalar_setting_its_default(section, prefix, spec):
    """7.16.1-7.16.7 state the value a scenario gets when it omits a setting: a default
    changed in abm/scenario.py without its row fails here (mappings, lists and sections,
    whose rows describe their entries, are left to the presence tests above)."""
    text = PARAMETERS.split(f"#### {section}", 1)[1].split("####", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| `")]
    wrong = []
    for field, info in spec.model_fields.items():
        default = info.default
        if isinstance(default, (BaseModel, dict, list)) or field == "generated" or field == "segments":
            continue
        key = prefix + field
        row = next((r for r in rows if key in (names := re.findall(r"`([^`]+)`", r[0]))
                    or (prefix and names[0].startswith(prefix) and f".{field}" in names) or (not prefix and field in names)), None)
        if row is None:
            wrong.append(f"{key}: no row")
            continue
        said = row[1].replace("`", "").split(" (")[0].removesuffix(" each").strip()
        if default is PydanticUndefined:
            ok = said == "required"
        elif default is None:
            ok = said.startswith("none")
        elif isinstance(default, bool):
            ok = said == str(default).lower()
        elif isinstance(default, (int, float)):
            ok = re.fullmatch(r"-?\d+(\.\d+)?", said) is not None and float(said) == default
        else:
            ok = said == (str(default) if default != "" else '""')
        if not ok:
            wrong.append(f"{key}: code {default!r}, docs/ODD.md {row[1]!r}")
        bounds = scenario.Bounds.of(info.metadata).values() - {LIMIT, -LIMIT}
        if not bounds <= stated(row[2]):
            wrong.append(f"{key}: limits {sorted(bounds)}, docs/ODD.md {row[2]!r}")
    assert not wrong, wrong


def stated(allowed: str) -> set[float]:
    """The numbers an 'Allowed' cell states, powers written 10^6 or 2^63 - 1 included; the
    limit of every number, 10^9, is said once above the tables and need not be repeated."""
    powers = re.sub(r"(\d+)\^(\d+)( - 1)?", lambda m: str(int(m[1]) ** int(m[2]) - (1 if m[3] else 0)), allowed)
    return {float(x) for x in re.findall(r"(?:(?<![\w.])-)?\d+(?:\.\d+)?(?:e-?\d+)?", powers)}


def test_the_table_of_interests_is_the_baselines():
    """Section 5's table of the powers' interests, read back cell by cell against
    configs/baseline.yaml (a listed interest as a number, a default in parentheses)."""
    base = scenario.load(BASELINE)
    lines = ODD.split("| Interest of |", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in lines[0].strip(" |").split("|")]
    assert header == [s.name for s in base.states.values()]
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip(" |").split("|")] for line in lines[2:])}
    assert list(rows) == [p.name for p in base.powers.values()]
    for power in base.powers.values():
        want = [f"{power.interests[s]:g}" if s in power.interests else f"({power.default_interest:g})" for s in base.states]
        assert rows[power.name] == want, power.name


@pytest.mark.parametrize("section", ["2.1", "2.2", "2.5"])
def test_odd_state_variables_are_the_agents_attributes(section):
    """Each variable ODD section 2 lists for the states, the powers and the organisations
    is an attribute of every such object in a running model, under that name (2.1 said
    `name` while the agents called it `label`)."""
    part = ODD.split(f"### {section} ", 1)[1].split("\n### ", 1)[0]
    names = [re.sub(r"\[.*", "", n) for line in part.splitlines() if line.startswith("| `") for n in re.findall(r"`([^`]+)`", line.split("|")[1])]
    assert len(names) >= 5
    model = RegionModel(scenario.load(BASELINE), rng=0)
    model.step()
    objects = {"2.1": model.states, "2.2": model.powers, "2.5": list(model.organisations.by_key.values())}[section]
    assert [n for n in names if not all(hasattr(o, n) for o in objects)] == []
