"""The cross-reference checks (abm.scenario.CHECKS) read only what READS declares for them.

One pass of validation runs them with the broken fields set aside, defaults in their
place, and drops a problem only when it is in a broken entry or its check reads a section
READS names for it (``_references_beside``). A check that reads a section READS does not
name would report a follow-on of a default as the user's own mistake. Each check runs
here on a scenario that records what it reads, over the shipped scenarios and broken
copies of them (unknown ids, entries without a type), which take the checks down their
problem branches.
"""

from __future__ import annotations

import functools

import pytest

from abm.scenario import CHECKS, ENTRIES, NAMED, READS, Scenario, _key_of, _read_by, load
from tests.conftest import ROOT

READ: set[tuple[str, str | None]] = set()  # (section, entry id) read since cleared; None for the section as a whole


class Entries(dict):
    """An entry section that records the entries read. The ids of a section of NAMED are
    free to read (iteration, ``in``, ``len``): its entries are never set aside whole, so
    they stay; another section's (events) are its entries' too."""

    def __init__(self, section: str, entries: dict):
        super().__init__(entries)
        self.section = section

    def __iter__(self):
        if self.section not in NAMED:
            READ.update((self.section, ident) for ident in dict.__iter__(self))
        return super().__iter__()

    def __contains__(self, ident):
        if self.section not in NAMED:
            READ.add((self.section, ident))
        return super().__contains__(ident)

    def __len__(self):
        if self.section not in NAMED:
            READ.update((self.section, ident) for ident in dict.__iter__(self))
        return super().__len__()

    def __getitem__(self, ident):
        READ.add((self.section, ident))
        return super().__getitem__(ident)

    def get(self, ident, default=None):
        READ.add((self.section, ident))
        return super().get(ident, default)

    def items(self):
        READ.update((self.section, ident) for ident in self)
        return super().items()

    def values(self):
        READ.update((self.section, ident) for ident in self)
        return super().values()


class Recording(Scenario):
    """A scenario that records the sections read through it (entry sections by entry)."""

    def __getattribute__(self, name):
        if name in Scenario.model_fields and name not in ENTRIES:
            READ.add((name, None))
        elif name in ("model_dump", "model_dump_json"):  # pydantic's serialiser reads every field without asking
            READ.update((field, None) for field in Scenario.model_fields)
        return super().__getattribute__(name)


def recording(scn: Scenario) -> Recording:
    fields = {name: getattr(scn, name) for name in Scenario.model_fields}
    return Recording.model_construct(**{**fields, **{s: Entries(s, fields[s]) for s in ENTRIES}})


def broken(scn: Scenario) -> Scenario:
    """``scn`` without the first entry of each section other entries name (which they now
    name as unknown), with an event and a shock lacking their type and an unknown metric
    watched: valid field by field, wrong in every cross-reference."""
    raw = scn.to_dict()
    for section in ("states", "powers", "organisations", "corridors"):
        raw[section].pop(next(iter(raw[section]), None), None)
    raw["events"]["untyped"] = {"date": "2030-01-01"}
    raw["shocks"]["untyped"] = {"hazard": 0.1}
    raw["watch"] = [*raw["watch"], "influence_nobody"]
    return Scenario.model_validate(raw)


@functools.cache
def corpus() -> list[tuple[str, Scenario]]:
    scenarios = []
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        scn = load(path)
        scenarios += [(path.name, scn), (f"{path.name}, broken", broken(scn))]
    return scenarios


def reads(check, scn: Scenario):
    """Each run of ``check`` on ``scn`` (one per entry of its section, or one): the
    sections it read besides its own entry (or its own section, when that is not one of
    entries) and the ids of NAMED, and the problems it reported."""
    rec = recording(scn)
    for args in dict.items(getattr(scn, check.section)) if check.each else [()]:
        READ.clear()
        problems = check.run(rec, *args)
        own = (check.section, args[0]) if check.each else (check.section, None) if check.section not in ENTRIES else None
        yield {section for section, ident in READ if (section, ident) != own}, problems


@pytest.mark.parametrize("check", CHECKS, ids=[f"{k}-{c.key}" for k, c in enumerate(CHECKS)])
def test_a_cross_reference_check_reads_only_what_READS_declares_for_it(check):
    for name, scn in corpus():
        for read, problems in reads(check, scn):
            undeclared = read - set(_read_by(check.key))
            assert not undeclared, f"{name}: the check at {check.key} reads {sorted(undeclared)}: add them to READS['{check.key}']"
            for path, _ in problems:  # and what it reports is held back as its key's are
                undeclared = read - set(_read_by(_key_of(path)))
                assert not undeclared, f"{name}: the check at {check.key} reports at {path}, whose READS lack {sorted(undeclared)}"


def test_the_recording_sees_what_the_checks_read():
    """Each READS entry names a section its checks are seen to read: a recording gone
    blind (pydantic reading fields another way) would pass the test above whatever READS says."""
    seen: dict[str, set[str]] = {}
    for check in CHECKS:
        for _, scn in corpus():
            for read, _ in reads(check, scn):
                seen.setdefault(check.key, set()).update(read)
    assert [key for key, sections in READS.items() if not seen.get(key, set()) & set(sections)] == []
