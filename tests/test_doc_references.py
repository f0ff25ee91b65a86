"""The documents point readers at code by name (`Calculus.values`, `test_rules.py`,
`test_a_patron_that_cuts_...`); a renamed method or test must not leave them pointing at
nothing."""

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = re.compile(r"`([^`\n]+)`")
METHOD = re.compile(r"([A-Z]\w*)\.(\w+)(?:\(.*\))?")  # Class.member, as the ODD names rules
TEST = re.compile(r"\btest_\w+")


def _trees(folder: str):
    return [ast.parse(path.read_text(encoding="utf-8")) for path in (ROOT / folder).rglob("*.py")]


@functools.cache
def _class_members() -> dict[str, set[str]]:
    """Each class of the package with the names its body defines (methods, fields)."""
    members: dict[str, set[str]] = {}
    for tree in _trees("abm"):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = members.setdefault(node.name, set())
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return members


@functools.cache
def _test_names() -> set[str]:
    """Test functions and test modules (without `.py`), the two things the documents name."""
    functions = {node.name for tree in _trees("tests") for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return functions | {path.stem for path in (ROOT / "tests").glob("test_*.py")}


def _quoted(document: Path) -> list[str]:
    return CODE.findall(document.read_text(encoding="utf-8"))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_quoted_method_is_a_member_of_its_class(document):
    members = _class_members()
    wrong = [name for name in _quoted(document) if (m := METHOD.fullmatch(name)) and m[1] in members and m[2] not in members[m[1]]]
    assert not wrong, f"{document.name} names members its classes do not have: {wrong}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_quoted_test_exists(document):
    tests = _test_names()
    wrong = [name for quoted in _quoted(document) for name in TEST.findall(quoted) if name not in tests]
    assert not wrong, f"{document.name} names tests that do not exist: {wrong}"
