"""BestOfN and BeamSearch, offline: candidates, concurrent scoring, restoring on every path."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from optimizers import BeamSearch, BestOfN, GraphOptimizer, HistoryOptimizer, ScriptedClient
from optimizers.errors import LLMTimeout
from tests.optimizers.graphs import call, param
from tracegraph.backward import backward
from tracegraph.node import Node
from tracegraph.params import ParamType


def reply(updates: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "r", "updates": updates})


def number(value: float = 1.0) -> Node:
    x = param(value, "x", ParamType.NUMBER, bounds=(-100, 100))
    backward(call("f", value, "f_1", {"x": x}), "closer to 5")
    return x


def near_five(values: dict[str, Any]) -> float:
    return -abs(values["x"] - 5)


def test_keeps_the_best_candidate_and_asks_at_a_spread_of_temperatures() -> None:
    x = number()
    llm = ScriptedClient([reply({"x": v}) for v in (2, 9, 4)])
    search = BestOfN([x], llm=llm, evaluate=near_five, k=3)
    report = search.step()
    assert x.value == 4.0 and report.applied == {"x": (1.0, 4.0)}
    assert [r["temperature"] for r in llm.requests] == [0.0, 0.5, 0.9]
    assert isinstance(search.inner, GraphOptimizer)
    assert "candidate 3 (temperature 0.9): score -1  <- kept" in report.notes
    assert report.usage.calls == 3 and len(report.prompts) == 3


def test_every_proposal_starts_from_the_same_values_and_scoring_sees_candidates_only() -> None:
    x = number()
    seen: list[float] = []

    def evaluate(values: dict[str, Any]) -> float:
        assert x.value == 1.0  # parameters hold the start values while candidates are scored
        seen.append(values["x"])
        return near_five(values)

    llm = ScriptedClient([reply({"x": v}) for v in (2, 3)])
    BestOfN([x], llm=llm, evaluate=evaluate, k=2).step()
    prompts = [r["messages"][-1]["content"] for r in llm.requests]
    assert all("current value (JSON): 1.0" in p for p in prompts)
    assert sorted(seen) == [1.0, 2.0, 3.0] and x.value == 3.0


def test_the_current_values_stay_when_no_candidate_beats_them() -> None:
    x = number(5.0)
    llm = ScriptedClient([reply({"x": v}) for v in (2, 9)])
    report = BestOfN([x], llm=llm, evaluate=near_five, k=2).step()
    assert x.value == 5.0 and report.applied == {}
    assert "current: score 0  <- kept" in report.notes


async def test_async_scoring_overlaps_and_respects_the_limit() -> None:
    x = number()
    running = 0
    peak = 0

    async def evaluate(values: dict[str, Any]) -> float:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return near_five(values)

    llm = ScriptedClient([reply({"x": v}) for v in (2, 3, 4, 6)])
    search = BestOfN([x], llm=llm, evaluate=evaluate, k=4, max_concurrency=2)
    await search.astep()
    assert peak == 2 and x.value in (4.0, 6.0)


def test_sync_scoring_runs_in_parallel_threads() -> None:
    x = number()
    together = threading.Barrier(3, timeout=5)  # passes only if 3 evaluations overlap

    def evaluate(values: dict[str, Any]) -> float:
        together.wait()
        return near_five(values)

    llm = ScriptedClient([reply({"x": v}) for v in (2, 3)])
    report = BestOfN([x], llm=llm, evaluate=evaluate, k=2, max_concurrency=3).step()
    assert x.value == 3.0 and report.error is None


def test_a_failing_evaluation_loses_only_its_candidate() -> None:
    x = number()

    def evaluate(values: dict[str, Any]) -> float:
        if values["x"] == 4:
            raise ValueError("the minibatch broke")
        return near_five(values)

    llm = ScriptedClient([reply({"x": v}) for v in (4, 3)])
    report = BestOfN([x], llm=llm, evaluate=evaluate, k=2).step()
    assert x.value == 3.0
    assert any("evaluate failed: ValueError: the minibatch broke" in n for n in report.notes)


def test_nothing_scorable_changes_nothing_and_says_so() -> None:
    x = number()
    llm = ScriptedClient([reply({"x": 2})])
    report = BestOfN([x], llm=llm, evaluate=lambda v: float("nan"), k=1).step()
    assert x.value == 1.0 and report.error is not None and "unchanged" in report.error


def test_an_error_while_proposing_restores_the_start_values_and_the_inner_state() -> None:
    x = number()
    llm = ScriptedClient([reply({"x": 2}), RuntimeError("the network cable")])
    inner = GraphOptimizer([x], llm=llm)
    before = inner.state_dict()
    with pytest.raises(RuntimeError, match="network cable"):
        BestOfN(inner, evaluate=near_five, k=3).step()
    assert x.value == 1.0 and inner.state_dict() == before


def test_a_model_error_stops_proposing_and_the_best_so_far_is_kept() -> None:
    x = number()
    llm = ScriptedClient([reply({"x": 4}), LLMTimeout("slow"), reply({"x": 5})])
    report = BestOfN([x], llm=llm, evaluate=near_five, k=3).step()
    assert x.value == 4.0 and llm.remaining == 1
    assert any("candidate 2: failed: slow" in n for n in report.notes)


def test_scored_candidates_enter_the_inner_history_best_last() -> None:
    x = param(1.0, "x", ParamType.NUMBER)
    inner = HistoryOptimizer([x], llm=ScriptedClient([reply({"x": v}) for v in (2, 9, 4, 6)]))
    search = BestOfN(inner, evaluate=near_five, k=3)
    search.step()
    # worst first (ties in the order they were scored), the kept one last
    assert [(h.values["x"], h.score) for h in inner.history] == [
        (9.0, -4.0),
        (1.0, -4.0),
        (2.0, -3.0),
        (4.0, -1.0),
    ]
    assert inner.history[-1].values == {"x": 4.0} and inner.steps == 1
    shown = search.step().prompts[0][-1]["content"]  # the next proposals see the scores
    assert "x=4.0 -> score -1  (current)" in shown and "x=9.0 -> score -4" in shown


def test_beam_keeps_the_best_sets_across_steps_and_expands_each() -> None:
    x = param(0.0, "x", ParamType.NUMBER)
    replies = [reply({"x": v}) for v in (3, 8)]  # step 1: expand the start
    replies += [reply({"x": v}) for v in (4, 4.5, 7, 5.8)]  # step 2: expand both members
    inner = HistoryOptimizer([x], llm=ScriptedClient(replies))
    seen: list[float] = []

    def forward(values: dict[str, Any]) -> None:
        seen.append(values["x"])

    beam = BeamSearch(inner, evaluate=near_five, k=2, beam=2, forward=forward)
    beam.step()
    assert x.value == 3.0 and beam.members == [{"x": 3.0}, {"x": 8.0}]
    report = beam.step()
    assert seen == [0.0, 3.0, 8.0]  # each member's own forward pass before its expansion
    assert x.value == 4.5 and beam.members == [{"x": 4.5}, {"x": 5.8}]
    assert report.applied == {"x": (3.0, 4.5)}
    state = json.loads(json.dumps(beam.state_dict()))
    other = BeamSearch(
        HistoryOptimizer([param(0.0, "x", ParamType.NUMBER)], llm=ScriptedClient([])),
        evaluate=near_five,
    )
    other.load_state_dict(state)
    assert other.members == beam.members and other.state_dict() == beam.state_dict()


def test_a_failing_forward_pass_restores_the_start_values() -> None:
    x = param(0.0, "x", ParamType.NUMBER)
    inner = HistoryOptimizer([x], llm=ScriptedClient([reply({"x": v}) for v in (3, 8)]))

    def forward(values: dict[str, Any]) -> None:
        if values["x"] == 8.0:
            raise KeyError("dataset")

    beam = BeamSearch(inner, evaluate=near_five, k=2, beam=2, forward=forward)
    beam.step()
    inner.llm = ScriptedClient([reply({"x": 4})] * 2)
    with pytest.raises(KeyError):
        beam.step()
    assert x.value == 3.0
