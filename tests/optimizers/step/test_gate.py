"""Acceptance gated by evaluation (optimizers/step/gate.py) inside whole optimizer steps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.gate import Gate


def reply(**updates: Any) -> str:
    return json.dumps({"reasoning": "", "updates": updates})


@tg.op
def probe(x: Any) -> Any:
    """Send x to the system under test."""
    return x


def fed(x: tg.Node, text: str = "fix it") -> None:
    probe(x).backward(text)


def test_a_wrong_way_proposal_is_turned_around_by_the_scores() -> None:
    x = tg.param(4.0, name="x")
    opt = GraphOptimizer([x], llm=ScriptedClient([reply(x=7.0)]), evaluate=lambda v: -abs(v["x"]))
    fed(x)
    report = opt.step()
    assert x.value == 1.0  # 4 -> 7 scored worse; the opposite move 4 -> 1 scored better
    assert report.applied == {"x": (4.0, 1.0)}
    assert any("the opposite move is applied" in n for n in report.notes)
    assert [(r.param, r.value) for r in report.rejected] == [("x", 7.0)]
    assert "scored -7, worse than the current values (-4)" in report.rejected[0].reasons[0]


def test_nothing_better_changes_nothing_and_the_reask_says_the_scores() -> None:
    text = tg.param("draft", name="text")
    llm = ScriptedClient([reply(text="worse"), reply(text="also worse")])
    scores = {"draft": 0.5, "worse": 0.2, "also worse": 0.1}
    opt = GraphOptimizer([text], llm=llm, evaluate=lambda v: scores[v["text"]], max_reasks=1)
    fed(text)
    report = opt.step()
    assert text.value == "draft" and report.applied == {}
    reask = llm.requests[1]["messages"][-1]["content"]
    assert "REJECTED" in reask and "scored 0.2, worse than the current values (0.5)" in reask
    assert any("nothing scored better" in n for n in report.notes)
    assert {r.value for r in report.rejected} == {"worse", "also worse"}


def test_a_better_move_is_tried_longer_and_the_better_of_both_applied() -> None:
    x = tg.param(2.0, name="x")
    llm = ScriptedClient([reply(x=3.0)])
    opt = GraphOptimizer([x], llm=llm, evaluate=lambda v: -abs(v["x"] - 4.0), number_steps=False)
    fed(x)
    report = opt.step()
    assert x.value == 4.0  # 2 -> 3 was better; twice the step, 2 -> 4, better still
    assert "a longer move is applied" in report.notes[-1]
    assert opt.numbers.hint("x") == "from the feedback so far, the best value is above 2"


def test_a_choice_never_tried_is_scored_when_the_proposal_does_not_help() -> None:
    lr = tg.param(0.1, name="lr", bounds=(0.0, 1.0))
    norm = tg.param("none", name="norm", choices=["none", "standard", "minmax"])

    def evaluate(v: dict[str, Any]) -> float:
        return (1.0 if v["norm"] == "standard" else 0.0) - abs(v["lr"] - 0.1)

    opt = GraphOptimizer([lr, norm], llm=ScriptedClient([reply(lr=0.1001)]), evaluate=evaluate)
    probe(lr).backward("fix")
    probe(norm).backward("fix")
    report = opt.step()
    assert norm.value == "standard"  # the first option never tried, with the proposal
    assert "never tried" in " ".join(report.notes)


def test_a_failing_evaluation_is_never_applied_and_says_why() -> None:
    x = tg.param(1.0, name="x")

    def evaluate(v: dict[str, Any]) -> float:
        if v["x"] > 1:
            raise ValueError("the workflow broke")
        return 0.0

    opt = GraphOptimizer(
        [x], llm=ScriptedClient([reply(x=5.0)]), evaluate=evaluate, max_evaluations=1, max_reasks=0
    )
    fed(x)
    report = opt.step()
    assert x.value == 1.0 and report.applied == {}
    assert "ValueError: the workflow broke" in report.rejected[0].reasons[0]


def test_evaluations_per_step_are_bounded_and_cached() -> None:
    calls: list[float] = []

    def evaluate(v: dict[str, Any]) -> float:
        calls.append(v["x"])
        return -abs(v["x"])

    gate = Gate(evaluate, max_evaluations=2)
    x = tg.param(4.0, name="x")
    gate.judge([x], {x: 7.0}, {})
    assert len(calls) == 3  # the current values, then at most 2 candidates
    gate.judge([x], {x: 7.0}, {})
    assert len(calls) == 3  # all cached


def test_an_async_evaluate_is_awaited() -> None:
    async def evaluate(v: dict[str, Any]) -> float:
        await asyncio.sleep(0)
        return -abs(v["x"] - 2.0)

    x = tg.param(0.0, name="x")
    opt = GraphOptimizer([x], llm=ScriptedClient([reply(x=2.0)]), evaluate=evaluate)
    fed(x)
    opt.step()
    assert x.value == 2.0


@settings(max_examples=40, deadline=None)
@example(target=1.0, start=3.1566936282062847e-141, proposals=[2.225073858507e-311])  # overflow
@given(
    target=st.floats(-50, 50),
    start=st.floats(-50, 50),
    proposals=st.lists(st.floats(-100, 100), min_size=1, max_size=6),
)
def test_with_a_score_a_step_never_makes_it_worse(
    target: float, start: float, proposals: list[float]
) -> None:
    x = tg.param(start, name="x")

    def evaluate(v: dict[str, Any]) -> float:
        return -abs(v["x"] - target)

    opt = GraphOptimizer(
        [x], llm=ScriptedClient([reply(x=p) for p in proposals] * 3), evaluate=evaluate
    )
    for _ in proposals:
        before = evaluate({"x": x.value})
        opt.zero_feedback()
        fed(x, "too small" if x.value < target else "too large")
        opt.step()
        assert evaluate({"x": x.value}) >= before


def test_on_a_plateau_the_other_way_is_tried_far() -> None:
    t = tg.param(0.95, name="threshold", bounds=(0.0, 1.0))

    def f1(v: dict[str, Any]) -> float:  # nothing is found above 0.91: flat until then
        return 0.5 if v["threshold"] < 0.91 else 0.0

    opt = GraphOptimizer([t], llm=ScriptedClient([reply(threshold=0.97)]), evaluate=f1)
    fed(t)
    report = opt.step()
    assert t.value == 0.87  # 0.97 and 0.93 score 0 like 0.95; four times the step back: 0.5
    assert "a far opposite move is applied" in report.notes[-1]


def test_a_new_choice_is_swept_over_scales_across_steps() -> None:
    lr = tg.param(1e-4, name="lr", bounds=(1e-6, 1.0))
    norm = tg.param("none", name="norm", choices=["none", "standard"])

    def loss_score(v: dict[str, Any]) -> float:  # standard only pays off at a larger rate
        if v["norm"] == "standard":
            return 1.0 if v["lr"] >= 0.05 else -1.0
        return -0.5 + v["lr"]  # "none" improves a little as lr grows: a local optimum

    up = [reply(lr=1e-4 * 1.1 ** (i + 1)) for i in range(4)]
    opt = GraphOptimizer([lr, norm], llm=ScriptedClient(up), evaluate=loss_score)
    for _ in range(2):
        opt.zero_feedback()
        probe(lr).backward("lower the loss")
        probe(norm).backward("lower the loss")
        opt.step()
    assert (norm.value, lr.value) == ("standard", 0.1)  # 1e-4 x 1000, found at the 2nd step
    assert opt.gate is not None and opt.gate.evaluations <= 1 + 2 * 6


def test_a_number_at_its_bound_stays_while_the_others_move_the_other_way() -> None:
    k = tg.param(1, name="top_k", bounds=(1, 9))
    t = tg.param(0.95, name="threshold", bounds=(0.0, 1.0))

    def f1(v: dict[str, Any]) -> float:
        return 0.5 if v["threshold"] < 0.91 else 0.0

    llm = ScriptedClient([reply(top_k=2, threshold=0.97)])
    opt = GraphOptimizer([k, t], llm=llm, evaluate=f1, number_steps=False)
    probe(k).backward("more")
    probe(t).backward("more")
    opt.step()
    assert (k.value, t.value) == (1, 0.87)  # top_k cannot go below 1: only the threshold turns


def test_numbers_moved_together_are_tried_alone_when_together_they_do_not_help() -> None:
    a = tg.param(1.0, name="a")
    b = tg.param(1.0, name="b")

    def score(v: dict[str, Any]) -> float:  # a should grow, b should stay
        return v["a"] - 10 * abs(v["b"] - 1.0)

    llm = ScriptedClient([reply(a=1.5, b=1.5)])
    opt = GraphOptimizer([a, b], llm=llm, evaluate=score, number_steps=False)
    probe(a).backward("more")
    probe(b).backward("more")
    report = opt.step()
    assert (a.value, b.value) == (1.5, 1.0)
    assert "a alone is applied" in report.notes[-1]


def test_on_a_plateau_the_numbers_the_proposal_left_alone_are_doubled_and_halved() -> None:
    k = tg.param(2, name="top_k", bounds=(1, 9))
    t = tg.param(0.5, name="threshold", bounds=(0.0, 1.0))

    def f1(v: dict[str, Any]) -> float:  # only more passages help; the threshold is flat here
        return 1.0 if v["top_k"] >= 4 else 0.8

    opt = GraphOptimizer([k, t], llm=ScriptedClient([reply(threshold=0.52)]), evaluate=f1)
    probe(k).backward("more")
    probe(t).backward("more")
    report = opt.step()
    assert (k.value, t.value) == (4, 0.52)
    assert "top_k x2 is applied" in report.notes[-1]
