"""The YAML reader (abm/yamlfile.py) reads scalars by the YAML 1.2 core schema."""

from __future__ import annotations

import pytest

from abm import yamlfile
from abm.yamlfile import parse


def test_only_true_and_false_are_booleans():
    # PyYAML's YAML 1.1 read yes/no/on/off as booleans: --set name=yes failed as "not a string"
    text = "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: TRUE\nh: y\n"
    assert parse(text) == {"a": "yes", "b": "No", "c": "on", "d": "OFF", "e": True, "f": False, "g": True, "h": "y"}


@pytest.mark.parametrize("text, value", [("010", 10), ("0o17", 15), ("0x1F", 31), ("1e5", 1e5), ("-.5", -0.5),
                                         ("1_000", "1_000"), ("1:30", "1:30"), ("0b11", "0b11"), ("'0.4'", "0.4"), ("null", None), ("~", None)])
def test_numbers_and_nulls_are_read_as_yaml_1_2_reads_them(text, value):
    assert parse(f"x: {text}") == {"x": value}


@pytest.mark.parametrize("text", ["1e5", "0o17", "0x1F", "true", "+3", ".5", ".inf", "12", "yes", "010", "1_000", "-2.5e-3"])
def test_what_the_project_writes_reads_back_as_written(text):
    """Text that YAML 1.2 reads as a number (PyYAML's 1.1 dumper leaves 1e5, 0o17 and 0x1F
    unquoted) is quoted, so a resolved scenario named '1e5' stays a name."""
    data = {"name": text, "nested": [text, {"k": text}], "number": 1e5}
    assert yamlfile.parse(yamlfile.dump(data, sort_keys=False)) == data


@pytest.mark.parametrize("text, tag", [("!!binary aGVsbG8=", "binary"), ("!!set {a, b}", "set"), ("!!omap [a: 1]", "omap"), ("!!pairs [a: 1]", "pairs")])
def test_bytes_sets_and_pairs_are_refused_by_their_tag(text, tag):
    # a seed of !!binary was told "unable to parse string as an integer (got b'hello')"
    with pytest.raises(yamlfile.YamlError, match=rf"^line 2: a !!{tag} value is not read here"):
        parse(f"name: x\nseed: {text}\n")


def test_two_merge_keys_in_one_mapping_are_refused():
    """Which of two '<<' won depended on PyYAML's internals (the length of the keys)."""
    with pytest.raises(yamlfile.YamlError, match=r"'<<' is given twice, at lines 2 and 3"):
        yamlfile.parse("b:\n  <<: {n_states: 3}\n  <<: {n_states: 4}\n")
    assert yamlfile.parse("a: &x {n: 1}\nb:\n  <<: [*x, {m: 2}]\n  n: 3\n") == {"a": {"n": 1}, "b": {"n": 3, "m": 2}}


@pytest.mark.parametrize("text", ["!!int 0b11", "9" * 5000])
def test_a_whole_number_that_cannot_be_read_is_named(text):
    """They were reported as impossible dates, with Python's own advice on set_int_max_str_digits."""
    with pytest.raises(yamlfile.YamlError, match="is not a whole number this reader takes") as err:
        yamlfile.parse(f"x: 1\nseed: {text}\n")
    assert err.value.line == 2


@pytest.mark.parametrize("text", ["name: x\ntime:\n\tsteps: 5\n", "a:\n  b: 1\n\tc: 2\n"])
def test_a_tab_in_the_indentation_is_named(text):
    with pytest.raises(yamlfile.YamlError) as info:
        parse(text)
    assert "line 3, column 1" in str(info.value) and str(info.value).count("tab") == 1, info.value


def test_a_tab_that_is_not_indentation_is_not_blamed():
    with pytest.raises(yamlfile.YamlError) as info:
        parse("a: *\tb\n")
    assert "tab" not in str(info.value)


def test_the_hint_prefers_the_name_in_the_case_typed():
    assert yamlfile.did_you_mean("EAEUx", ["EAEU", "eaeu"]) == "did you mean 'EAEU'? "
    assert yamlfile.did_you_mean("eaeux", ["EAEU", "eaeu"]) == "did you mean 'eaeu'? "
    assert yamlfile.did_you_mean("HEDGING", ["hedging", "balance"]) == "did you mean 'hedging'? "
