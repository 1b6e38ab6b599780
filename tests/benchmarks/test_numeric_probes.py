"""benchmarks/numeric_probes.py: the stand-ins' proposals stay within bounds, and a small run
counts what it solved."""

from __future__ import annotations

import random

from benchmarks import numeric_probes
from benchmarks.quality.families import FAMILIES


def test_proposals_change_every_parameter_within_its_bounds() -> None:
    for family in numeric_probes.FAMILY_NAMES:
        task = FAMILIES[family].make(0, None)
        for k in range(20):
            found = numeric_probes.proposal(task, random.Random(k))
            assert set(found) == {p.name for p in task.params}, family
            for p in task.params:
                assert p.spec is not None and p.spec.check(found[p.name]) == [], (family, p.name)


def test_a_small_run_reports_runs_and_the_steps_of_the_solved_ones() -> None:
    result = numeric_probes.run("retrieval", 1, "repeat")
    assert result["runs"] == 3 and result["solved"] == len(result["steps_solved"])
    assert all(1 <= s <= numeric_probes.STEPS for s in result["steps_solved"])
