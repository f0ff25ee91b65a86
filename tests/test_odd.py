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
