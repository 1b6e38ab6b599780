"""HistoryOptimizer steps, offline, with the ScriptedClient.

Golden prompts live in tests/golden/optimizers/; regenerate with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers import HistoryOptimizer, ScriptedClient
from tests.optimizers.graphs import golden, param, qa_graph
from tracegraph.params import ParamType


def reply(updates: dict[str, Any], reasoning: str = "because") -> str:
    return json.dumps({"reasoning": reasoning, "updates": updates})


def test_works_without_any_graph_from_scores_alone() -> None:
    x = param(1.0, "x", ParamType.NUMBER, bounds=(0, 10), description="the knob")
    opt = HistoryOptimizer([x], llm=ScriptedClient([reply({"x": 4.0}), reply({"x": 6})]))
    opt.record_score(0.1)  # before the first step: the start value's score
    assert opt.step().applied == {"x": (1.0, 4.0)}
    opt.record_score(0.7)
    report = opt.step()
    assert report.applied == {"x": (4.0, 6.0)} and report.skipped is None
    shown = report.prompts[0][-1]["content"]
    best, worst = shown.index("x=4.0 -> score 0.7"), shown.index("x=1.0 -> score 0.1")
    assert best < worst  # best first
    assert "(current)" in shown[best : best + 40]


def test_golden_prompt() -> None:
    params, _ = qa_graph()  # feedback in the graph is shown as the latest feedback
    opt = HistoryOptimizer([params["temperature"], params["prompt"]], llm=ScriptedClient([]))
    opt.record_score(0.25)
    opt.llm = ScriptedClient([reply({"temperature": 0.3})])
    report = opt.step()
    text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in report.prompts[0])
    golden("history_step_prompt.txt", text)
    assert "expected 5, got 4" in text


def test_a_value_set_already_tried_is_rejected_with_its_score() -> None:
    x = param(1.0, "x", ParamType.NUMBER)
    replies = [reply({"x": 2.0}), reply({"x": 1.0}), reply({"x": 3.0})]
    opt = HistoryOptimizer([x], llm=ScriptedClient(replies))
    opt.record_score(0.5)
    opt.step()
    opt.record_score(0.2)
    report = opt.step()  # proposes 1.0 again (tried, score 0.5), then 3.0
    assert report.rejected[0].value == 1.0
    assert "tried at step 0 (score 0.5)" in report.rejected[0].reasons[0]
    assert "tried at step 0" in report.prompts[1][-1]["content"]  # re-asked with the reason
    assert x.value == 3.0


def test_best_values_survive_a_short_history_and_the_state_round_trips() -> None:
    x = param(0, "x", ParamType.INTEGER)
    replies = [reply({"x": i}) for i in range(1, 8)]
    opt = HistoryOptimizer([x], llm=ScriptedClient(replies), history_size=2, top=3)
    opt.record_score(100.0)  # the start is the best ever
    for i in range(1, 8):
        opt.step()
        opt.record_score(float(i))
    assert len(opt.history) == 2
    assert [h.score for h in opt.archive] == [100.0, 7.0, 6.0]
    state = json.loads(json.dumps(opt.state_dict()))
    other = HistoryOptimizer([param(0, "x", ParamType.INTEGER)], llm=ScriptedClient([]))
    other.load_state_dict(state)
    assert other.state_dict() == opt.state_dict()


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_the_prompt_lists_scored_values_in_descending_order(scores: list[float]) -> None:
    x = param(0, "x", ParamType.INTEGER)
    replies = [reply({"x": i + 1}) for i in range(len(scores))] + [reply({})]
    opt = HistoryOptimizer([x], llm=ScriptedClient(replies), top=20, history_size=50)
    opt.record_score(scores[0])
    for s in scores[1:]:
        opt.step()
        opt.record_score(s)
    shown = opt.step().prompts[0][-1]["content"]
    listed = [
        float(line.split("score ")[1].split()[0])
        for line in shown.splitlines()
        if "score " in line and line.startswith("- x=")
    ]
    assert listed == sorted(listed, reverse=True)
    assert len(listed) == len(scores)
