"""Value types with their allowed ranges, shared by the scenario, rule and event schemas.

Every number is finite (``allow_inf_nan`` is off in the schemas' configuration) and no
quantity exceeds ``LIMIT`` in size: the model's largest real figures (GDP in USD bn, trade,
freight in Mt) are below 10^5, and products of two quantities must stay far from overflow.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

LIMIT = 1e9


def not_bool(value: object) -> object:
    """Refuse true/false where a number is expected: pydantic would read them as 1 and 0,
    so ``--set seed=true`` ran seed 1 and ``time.steps=true`` one step."""
    if isinstance(value, bool):
        raise ValueError("a number is expected here, not true or false")
    return value


Int = Annotated[int, BeforeValidator(not_bool)]  # whole numbers (8.0 is taken as 8, true is refused)
Real = Annotated[float, BeforeValidator(not_bool)]

Unit = Annotated[Real, Field(ge=0.0, le=1.0)]  # a share, probability or index in [0, 1]
Signed = Annotated[Real, Field(ge=-1.0, le=1.0)]  # an opinion or relation in [-1, 1]
NonNeg = Annotated[Real, Field(ge=0.0, le=LIMIT, allow_inf_nan=False)]
Positive = Annotated[Real, Field(gt=0.0, le=LIMIT, allow_inf_nan=False)]
Finite = Annotated[Real, Field(ge=-LIMIT, le=LIMIT, allow_inf_nan=False)]
Count = Annotated[Int, Field(ge=0, le=1_000_000)]  # steps, targets and the like
Seed = Annotated[Int, Field(ge=0, le=2**63 - 1)]  # fits SQLite's integers


def within_limit(value: object) -> object:
    """A field validator for schemas with plain ``float`` fields: refuse sizes over LIMIT."""
    if isinstance(value, float) and not abs(value) <= LIMIT:
        raise ValueError(f"must be finite and at most {LIMIT:g} in size")
    return value


def colour(value: str) -> str:
    """A colour matplotlib can draw: '#rrggbb' (checked here) or any other form it accepts."""
    if re.fullmatch(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", value):
        return value
    from matplotlib.colors import is_color_like  # only for names and other forms

    if not is_color_like(value):
        raise ValueError("not a colour; write '#rrggbb' or a matplotlib colour name such as 'tab:blue'")
    return value


Colour = Annotated[str, Field(max_length=100), AfterValidator(colour)]
