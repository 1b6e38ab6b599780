"""Feedback that states a measurement is a score (optimizers/step/measure.py), and a step that
made the score worse is followed by a return to the best values (``patience=1``, the default)
unless only one number moved (its bracket steers it back)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.measure import implied_score
from tests.optimizers.graphs import call, param
from tracegraph.backward import backward
from tracegraph.node import Node
from tracegraph.params import ParamType


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("final training loss: 0.0173", -0.0173),  # the training family's feedback
        ("final training loss: 3.103e+17", -3.103e17),
        ("F1 = 0.50 (1 of 3 relevant passages found); missed 2 relevant passages", 0.5),
        ("accuracy 75%", 0.75),
        ("the error is 2", -2.0),
        ("too small", None),
        ("loss 3.2, accuracy 0.5", None),  # two measures: which one?
        ("the loss went down", None),
        ("loss is inf", None),
        ("slugify('a b') returned 'a b', expected 'a-b'", None),
    ],
)
def test_the_score_a_feedback_text_states(text: str, want: float | None) -> None:
    assert implied_score(text) == want


@given(st.text(max_size=300))
def test_any_text_gives_a_finite_score_or_none(text: str) -> None:
    got = implied_score(text)
    assert got is None or abs(got) < float("inf")


def reply(updates: dict[str, object]) -> str:
    return json.dumps({"reasoning": "", "updates": updates})


def _step(opt: GraphOptimizer, node: Node, value: float, feedback: str) -> list[str]:
    opt.zero_feedback()
    backward(call("train", value, "train_1", {"p": node}), feedback)
    return opt.step().notes


def test_a_worse_measurement_sends_the_next_step_back_to_the_best_values() -> None:
    mode = param("sgd", "mode", ParamType.CHOICE, choices=["sgd", "momentum", "adam"])
    script = ScriptedClient([reply({"mode": "momentum"}), reply({"mode": "adam"})])
    opt = GraphOptimizer([mode], llm=script)
    notes = _step(opt, mode, 3.2, "final training loss: 3.2")
    assert mode.value == "momentum"
    assert any("score -3.2, read from the feedback" in n for n in notes)
    notes = _step(opt, mode, 4.0, "final training loss: 4.0")  # worse: back, no model call
    assert mode.value == "sgd" and len(script.requests) == 1
    assert any("went back to the best values" in n and "-3.2" in n for n in notes), notes
    assert opt.history[-2].score == -4.0  # the worse values keep their measured score
    _step(opt, mode, 3.2, "final training loss: 3.2")
    assert mode.value == "adam" and len(script.requests) == 2  # the next proposal starts there


def test_without_patience_or_with_one_number_moved_the_step_asks_the_model() -> None:
    mode = param("sgd", "mode", ParamType.CHOICE, choices=["sgd", "momentum", "adam"])
    script = ScriptedClient([reply({"mode": "momentum"}), reply({"mode": "adam"})])
    opt = GraphOptimizer([mode], llm=script, patience=None)
    _step(opt, mode, 3.2, "final training loss: 3.2")
    _step(opt, mode, 4.0, "final training loss: 4.0")
    assert mode.value == "adam" and len(script.requests) == 2
    x = param(1.0, "x", ParamType.NUMBER)
    numbers = ScriptedClient([reply({"x": 5.0}), reply({"x": 3.0})])
    opt = GraphOptimizer([x], llm=numbers)
    _step(opt, x, 1.0, "loss 3.2: too small")
    _step(opt, x, 5.0, "loss 4.0: too large")  # worse, one number moved: its bracket steers
    assert len(numbers.requests) == 2 and x.value != 1.0
    y = param(1.0, "y", ParamType.NUMBER)
    scored = ScriptedClient([reply({"y": 5.0})])
    opt = GraphOptimizer([y], llm=scored)
    _step(opt, y, 1.0, "loss 3.2")
    _step(opt, y, 5.0, "loss 4.0")  # no direction said: the opposite move is probed
    assert len(scored.requests) == 1 and y.value == 0.2


def test_restore_best_ends_a_loop_on_the_best_scored_values() -> None:
    import tracegraph as tg

    prompt = tg.param("a", name="prompt")
    other = tg.param(1, name="n", bounds=(0, 10))
    script = [json.dumps({"reasoning": "", "updates": {"prompt": v}}) for v in ("b", "c")]
    opt = GraphOptimizer([prompt, other], llm=ScriptedClient(script), number_steps=False)
    assert opt.restore_best() == {}  # nothing scored yet: nothing to restore
    for score in (0.2, 0.9):  # "a" scores 0.2, then "b" 0.9, then "c" (last) 0.5
        opt.record_score(score)
        prompt.backward("make it better")
        opt.step()
        opt.zero_feedback()
    opt.record_score(0.5)
    assert prompt.value == "c"
    assert opt.restore_best() == {"prompt": ("c", "b")}
    assert prompt.value == "b" and other.value == 1
    assert opt.history[-1].values == {"prompt": "b", "n": 1} and opt.history[-1].score == 0.9
    assert opt.restore_best() == {}  # already there


def test_a_request_over_the_servers_context_is_sent_again_in_half_the_space() -> None:
    import tracegraph as tg
    from optimizers.errors import APIStatusError

    text = tg.param("word " * 400, name="text", description="a long text")
    refused = APIStatusError(
        "bad request (HTTP 400): request (4149 tokens) exceeds the available context size",
        status=400,
    )
    good = json.dumps({"reasoning": "", "updates": {"text": "short"}})
    llm = ScriptedClient([refused, good])
    opt = GraphOptimizer([text], llm=llm)
    text.backward("too long")
    report = opt.step()
    assert report.error is None and text.value == "short", report.notes
    first, second = (len(str(m)) for m in report.prompts)
    assert second < first and any("longer than the server's context" in n for n in report.notes)
    assert opt.problem.budget_chars == 6000  # the optimizer's own budget is left as it was


def test_re_asks_send_the_problem_and_the_last_exchange_only() -> None:
    import tracegraph as tg

    n = tg.param(1, name="n", bounds=(0, 10))
    bad = json.dumps({"reasoning": "", "updates": {"n": 50}})  # out of bounds: re-asked
    good = json.dumps({"reasoning": "", "updates": {"n": 3}})
    opt = GraphOptimizer([n], llm=ScriptedClient([bad, bad, good]), number_steps=False)
    n.backward("too small")
    report = opt.step()
    assert n.value == 3 and [len(p) for p in report.prompts] == [2, 4, 4]
