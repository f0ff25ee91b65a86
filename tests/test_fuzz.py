"""Fuzz: 240 mutated copies of the shipped scenarios and experiments (seeded, so a
failure is reproducible with scripts/fuzz.py --runs N --seed S) each give exit 0 with
finite outputs or exit 2 with one line; never a traceback, another status or a hang."""

from __future__ import annotations

from tests.fuzzing import fuzz, report

CASES = 240


def test_mutated_inputs_are_run_or_refused_in_one_line(tmp_path):
    # every valid scenario is also run: at a half, the dozen valid ones gave 4 to 6 runs as the shipped files changed
    tally = fuzz(CASES, seed=20261202, folder=tmp_path, experiments=0.25, full_runs=1.0)
    assert tally.cases == CASES
    assert not tally.failures, report(tally)
    refused = sum(n for (_, _, result), n in tally.outcomes.items() if result.startswith("refused"))
    assert refused > CASES / 2, report(tally)  # the mutations do break things
    assert tally.full_runs >= 5, report(tally)
