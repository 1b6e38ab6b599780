"""benchmarks/replay_probes.py: a recorded run's model proposals are read in order and replayed;
a proposal that solves the task solves the replay at once."""

from __future__ import annotations

from typing import Any

from benchmarks import replay_probes


def record(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"family": "retrieval", "task": "retrieval/start=1,0.95", "seed": 0, "rows": rows}


def test_the_proposals_are_the_values_of_the_steps_that_called_the_model() -> None:
    rows = [
        {"step": 1, "optimizer_calls": 1, "values": {"top_k": 3, "threshold": 0.5}},
        {"step": 2, "optimizer_calls": 0, "values": {"top_k": 3, "threshold": 0.2}},  # a probe
        {"step": 3, "optimizer_calls": 2, "values": {"top_k": 4, "threshold": 0.5}},
        {"step": 4, "optimizer_calls": 1},  # an old record without values
    ]
    assert replay_probes.proposals(record(rows)) == [
        {"top_k": 3, "threshold": 0.5},
        {"top_k": 4, "threshold": 0.5},
    ]


def test_a_replayed_proposal_that_solves_the_task_is_a_solved_run() -> None:
    assert replay_probes.replay(record([]), [{"top_k": 4, "threshold": 0.5}])  # F1 1.0
