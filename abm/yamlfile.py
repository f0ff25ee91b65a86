"""The one YAML reader of scenarios, experiments and ``--set`` values.

Built on libyaml's C parser with PyYAML's safe constructor (``yaml.CSafeLoader``: about
seven times faster than ``yaml.safe_load``, and no tag constructs a Python object), with
the limits a careless or hostile file needs:

- regular files only (a FIFO, device or directory is refused before it is read, so
  ``extends: /dev/zero`` cannot block or fill memory), at most ``MAX_BYTES``;
- a key given twice in one mapping is refused, naming both lines (YAML would keep the
  last silently, e.g. a second ``rules:`` block dropping the first);
- nesting at most ``MAX_DEPTH`` levels, aliases expanding to at most ``MAX_VALUES``
  values (a few hundred bytes of nested aliases can otherwise stand for billions of
  values), and no alias that contains itself;
- no ``!!binary``, ``!!set``, ``!!omap`` or ``!!pairs`` values (no setting takes one);
- numbers and booleans as YAML 1.2 (core schema) reads them, not as PyYAML's YAML 1.1:
  ``010`` is 10 (not octal 8), ``1:30`` (not 90, base 60), ``1_000`` and ``0b11`` are text;
  ``0o17``, ``0x1F``, ``1e5`` are numbers. What a person types as a number is the number
  meant. Only ``true`` and ``false`` are booleans: ``yes``, ``no``, ``on`` and ``off`` are
  text (``--set name=yes`` names a scenario 'yes'). The schemas take no text for a number
  (:mod:`abm.units`), so ``"0.4"`` or ``1_000`` where a number belongs is refused, not
  converted.

Problems are :class:`YamlError` with the line they concern.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 8 * 2**20  # the largest shipped scenario is 26 kB
MAX_DEPTH = 64  # the deepest shipped file nests 5 levels
MAX_VALUES = 1_000_000  # values after alias expansion


class YamlError(ValueError):
    """Text that cannot be read as YAML here; ``line`` is 1-based (None: the whole text);
    ``limit``: valid YAML refused by a limit above (not a syntax error)."""

    def __init__(self, message: str, line: int | None = None, limit: bool = True, path: str = ""):
        self.line, self.limit, self.path = line, limit, path  # path: the dotted key of the value at fault, when known
        super().__init__(message if line is None or "line" in message else f"line {line}: {message}")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check_graph(root: yaml.Node) -> None:
    """Depth, expanded size and cycles of the node graph, without recursion (a deep file
    must not exhaust Python's stack while being checked)."""
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded values, height)
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        kids = _children(node)
        if leaving:
            size = 1 + sum(done[id(k)][0] for k in kids)
            height = 1 + max((done[id(k)][1] for k in kids), default=0)
            if height > MAX_DEPTH:
                raise YamlError(f"nested more than {MAX_DEPTH} levels deep", _line(node))
            if size > MAX_VALUES:
                raise YamlError(f"its aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)", _line(node))
            done[key] = (size, height)
            continue
        if key in done:
            continue
        if key in entered:
            raise YamlError("an alias refers to a value that contains it (a recursive alias)", _line(node))
        entered.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in kids)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class Loader(yaml.CSafeLoader):
    """``yaml.CSafeLoader`` that checks the composed document before building it and
    refuses duplicate keys."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_graph(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            merged = None
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merges: its keys may be overridden on purpose, but which of two '<<' wins depends on PyYAML's internals
                    if merged is not None:
                        raise YamlError(f"'<<' is given twice, at lines {merged} and {_line(key_node)}; merge several mappings with one '<<: [*a, *b]'", _line(key_node))
                    merged = _line(key_node)
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                    seen[key] = _line(key_node)
                except TypeError:
                    continue  # unhashable: the constructor refuses it with its own message
                if first is not None:
                    raise YamlError(f"key '{cut(str(key), 60)}' is given twice, at lines {first} and {_line(key_node)} (YAML would silently keep the last)", _line(key_node))
        return super().construct_mapping(node, deep)


BOOL, INT, FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.2 core schema (yaml.org/spec/1.2.2, 10.3.2)
BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
FLOAT_12 = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def _construct_int(loader: Loader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    try:
        return int(text, {"0o": 8, "0x": 16}.get(text[:2], 10))  # int("010") is 10
    except ValueError:  # '!!int 0b11', or more digits than Python converts
        most = sys.get_int_max_str_digits()
        raise YamlError(f"'{cut(text, 40)}' is not a whole number this reader takes: decimal digits{f' (at most {most})' if most else ''}, 0o... or 0x...", _line(node)) from None


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (BOOL, INT, FLOAT)]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(BOOL, BOOL_12, list("tTfF"))
Loader.add_implicit_resolver(INT, INT_12, list("-+0123456789"))  # before floats: '1' is an int
Loader.add_implicit_resolver(FLOAT, FLOAT_12, list("-+0123456789."))
Loader.add_constructor(INT, _construct_int)


def _refuse_tag(loader: Loader, node: yaml.Node) -> Any:
    """Bytes, sets and ordered pairs: no setting takes them, and the schemas' messages
    about a value built from one (``b'hello'`` for a seed) would not say what was written."""
    tag = node.tag.rsplit(":", 1)[-1]
    raise YamlError(f"a !!{tag} value is not read here: write text, a number, a list or a mapping", _line(node))


for _tag in ("binary", "set", "omap", "pairs"):
    Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


class Dumper(yaml.CSafeDumper):
    """libyaml's safe dumper, for the files this project writes and reads back (resolved
    scenarios, provenance, specs with their overrides): text that the reader above would
    take for a number or a boolean (``1e5``, ``0o17``, ``0x1F``: text to PyYAML's YAML 1.1
    resolver, which leaves them unquoted) is quoted, so that it reads back as text."""


def _represent_str(dumper: Dumper, value: str) -> yaml.ScalarNode:
    looks_typed = BOOL_12.match(value) or INT_12.match(value) or FLOAT_12.match(value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if looks_typed else None)


Dumper.add_representer(str, _represent_str)


def dump(data: Any, stream=None, **options) -> str | None:
    """YAML text (or written to ``stream``) that :func:`parse` reads back as ``data``."""
    return yaml.dump(data, stream, Dumper=Dumper, **options)


def cut(text: str, limit: int = 200) -> str:
    """``text`` on one line and shortened to ``limit`` characters, so that no message
    echoes a huge value."""
    text = " ".join(text.split("\n"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(name: object, options) -> str:
    """The hint a message gives for a name that is not among ``options``: the closest
    one, as "did you mean 'x'? ", or nothing when none is close. Failing that, case is
    ignored: a name typed in capitals (HEDGING) is otherwise too far from every one."""
    shown = [str(o) for o in options]
    folded = {o.lower(): o for o in reversed(shown)}  # of two options differing in case alone, the first
    near = difflib.get_close_matches(str(name), shown, n=1) or [folded[m] for m in difflib.get_close_matches(str(name).lower(), list(folded), n=1)]
    return f"did you mean '{near[0]}'? " if near else ""


def choices(name: object, options, label: str, none: str = "none") -> str:
    """The hint and the list a message gives for a name that is not among ``options``:
    "did you mean 'x'? summaries: x, y". With a single option the list alone answers,
    so the message does not name it twice."""
    shown = [str(o) for o in options]
    hint = did_you_mean(name, shown) if len(shown) > 1 else ""
    return f"{hint}{label} {', '.join(shown) or none}"


def parse(text: str) -> Any:
    """Parse one YAML document with the limits above; errors are YamlError."""
    try:
        return yaml.load(text, Loader=Loader)
    except YamlError:
        raise
    except ValueError as exc:  # the constructor builds dates and raises on impossible ones
        raise _bad_date(text, exc) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = cut(getattr(exc, "problem", None) or str(exc), 120)
        indent = text[text.rfind("\n", 0, mark.index) + 1:mark.index + 1] if mark else ""
        if indent.endswith("\t") and not indent.strip(" \t") and "tab" not in problem:  # YAML indents with spaces only; libyaml's words do not say the tab is the fault
            problem += " (a tab: indent with spaces)"
        raise YamlError(f"YAML syntax error{f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''}: {problem}", mark.line + 1 if mark else None, limit=False) from None
    except RecursionError:  # defensive: the graph check should have refused it first
        raise YamlError(f"nested more than {MAX_DEPTH} levels deep") from None


def _key_of(text: str, line: int, value: str) -> str:
    """The dotted key of the scalar ``value`` on ``line`` (1-based), found in the composed
    node tree, which builds no values (so an impossible date cannot stop it); "" if none."""
    def walk(node, keys):
        if isinstance(node, yaml.ScalarNode):
            return ".".join(keys) if node.value == value and _line(node) == line else None
        children = node.value if isinstance(node, yaml.MappingNode) else enumerate(node.value) if isinstance(node, yaml.SequenceNode) else []
        for key, child in children:
            found = walk(child, (*keys, str(key.value if isinstance(key, yaml.Node) else key)))
            if found:
                return found
        return None

    try:
        return walk(yaml.compose(text, Loader=Loader), ()) or ""
    except yaml.YAMLError:
        return ""


def _bad_date(text: str, exc: ValueError) -> YamlError:
    """Locate the impossible date that made the constructor fail."""
    for number, line in enumerate(text.splitlines(), 1):
        for match in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", line):
            try:
                dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                return YamlError(f"'{match.group(0)}' is not a valid date ({exc}); write dates as YYYY-MM-DD", number, limit=False, path=_key_of(text, number, match.group(0)))
    return YamlError(f"invalid value: {cut(str(exc), 120)}", limit=False)


def read_text(path: Path) -> str:
    """The text of a regular UTF-8 file of at most MAX_BYTES; OSError, UnicodeDecodeError
    or YamlError (not a regular file, too large) otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))  # a FIFO must not block the open
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or special file"
            raise YamlError(f"{path} is {kind}, not a regular file")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise YamlError(f"{path} is larger than {MAX_BYTES // 2**20} MiB; a scenario or experiment is a few kB")
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")
