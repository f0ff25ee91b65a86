"""The model description (docs/ODD.md) names every setting a scenario can make: each rule
variant and its parameters, and the fields of states, powers, offers and metrics. A
parameter added to the code without its line in the ODD fails here."""

import re
from pathlib import Path

import pytest

from abm import rules, scenario
from abm.rules.registry import FAMILIES, REGISTRY

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
        bounds = [v for m in info.metadata for k in ("ge", "gt", "le", "lt") if (v := getattr(m, k, None)) is not None]
        assert set(map(float, bounds)) <= limits, f"{kind}.{field}: code allows {bounds}, docs/ODD.md says {row[3]!r}"
