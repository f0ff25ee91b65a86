"""Value types with their allowed ranges, shared by the scenario, rule and event schemas.

Every number is finite (``allow_inf_nan`` is off in the schemas' configuration) and no
quantity exceeds ``LIMIT`` in size: the model's largest real figures (GDP in USD bn, trade,
freight in Mt) are below 10^5, and products of two quantities must stay far from overflow.
"""

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from abm.yamlfile import FLOAT_12, INT_12, cut

LIMIT = 1e9


def number_only(value: object) -> object:
    """Refuse true/false and text where a number is expected, which pydantic would
    convert: true and false to 1 and 0 (``--set seed=true`` ran seed 1), and text such as
    ``"0.4"`` or ``1_2`` (text in YAML 1.2, abm.yamlfile) to the number it spells, so the
    schema would take what the YAML reader calls text."""
    if isinstance(value, bool):
        raise ValueError("a number is expected here, not true or false")
    if isinstance(value, str):
        hint = ("; remove the quotes" if _spells_number(value.strip())
                else "; write it without '_' (YAML 1.2 reads it as text)" if _spells_number(value.replace("_", "")) else "")
        raise ValueError(f"a number is expected, not the text '{cut(value, 40)}'{hint}")
    return value


def _spells_number(text: str) -> bool:
    return bool(INT_12.match(text) or FLOAT_12.match(text))


def bool_only(value: object) -> object:
    """Refuse anything but true and false where a yes/no setting is expected: pydantic
    would convert the text 'no' or 'off' (text in YAML 1.2) and the numbers 0 and 1."""
    if not isinstance(value, bool):
        raise ValueError("true or false is expected" + (f", not the text '{cut(value, 40)}'" if isinstance(value, str) else " here"))
    return value


Bool = Annotated[bool, BeforeValidator(bool_only)]
Int = Annotated[int, BeforeValidator(number_only)]  # whole numbers (8.0 is taken as 8; true and text are refused)
Real = Annotated[float, BeforeValidator(number_only)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_only(value: object) -> object:
    """Take a date as YAML writes it (2030-01-01, quoted or not) and nothing else: pydantic
    would read a number as seconds since 1970 (``date: 2026`` was refused in words about
    datetimes, ``date: 0`` taken as 1970) and refuse ``2031-01`` as "too short"."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value  # pydantic checks that the day exists
    raise ValueError("a date written YYYY-MM-DD is expected, e.g. 2030-01-01")


Date = Annotated[dt.date, BeforeValidator(date_only)]

Unit = Annotated[Real, Field(ge=0.0, le=1.0)]  # a share, probability or index in [0, 1]
Signed = Annotated[Real, Field(ge=-1.0, le=1.0)]  # an opinion or relation in [-1, 1]
NonNeg = Annotated[Real, Field(ge=0.0, le=LIMIT, allow_inf_nan=False)]
Positive = Annotated[Real, Field(gt=0.0, le=LIMIT, allow_inf_nan=False)]
Finite = Annotated[Real, Field(ge=-LIMIT, le=LIMIT, allow_inf_nan=False)]
MAX_COUNT = 1_000_000
Count = Annotated[Int, Field(ge=0, le=MAX_COUNT)]  # steps, targets and the like
SEED_MAX = 2**63 - 1  # fits SQLite's integers
Seed = Annotated[Int, Field(ge=0, le=SEED_MAX)]


def within_limit(value: object) -> object:
    """A field validator for schemas with plain ``float`` and ``int`` fields: refuse sizes
    over LIMIT (a whole number of 31 digits passed, and overflowed SQLite's integers when
    a sweep stored it)."""
    if isinstance(value, (float, int)) and not isinstance(value, bool) and not abs(value) <= LIMIT:
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


def repeated(items: list) -> list:
    """The items listed more than once, each once, in the order they first appear."""
    return [item for item in dict.fromkeys(items) if items.count(item) > 1]


def distinct(items: list) -> list:
    """Refuse an entry listed twice in a list of ids, which the model reads as a set:
    ``memberships: [EAEU, EAEU]`` ran as one membership, and was often a typo for another."""
    seen: set = set()
    for item in items:
        if item in seen:
            raise ValueError(f"'{cut(str(item), 40)}' is listed twice; list each once")
        seen.add(item)
    return items


Ids = Annotated[list[str], AfterValidator(distinct)]  # ids of states, powers, organisations, nodes or metrics


MAX_NAME_BYTES = 200  # a folder or file name the tool writes: 255 bytes on common file systems, less the '.NAME.partial-XXXXXXXX' it writes first
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


def plain_name(value: str) -> str:
    """A name the tool writes as a file or folder name (an experiment's, a calibration's,
    a summary's, a chart's file): it must not choose a path or need quoting."""
    if not _PLAIN.fullmatch(value) or len(value) > MAX_NAME_BYTES or value in (".", ".."):
        raise ValueError(f"letters, digits, '_', '.' and '-' only, at most {MAX_NAME_BYTES} characters (it names a file or folder; got '{cut(value, 40)}')")
    return value


PlainName = Annotated[str, AfterValidator(plain_name)]
