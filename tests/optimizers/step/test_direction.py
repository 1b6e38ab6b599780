"""The direction a reply's reasoning states for a number (optimizers/step/direction.py), alone
and inside whole optimizer steps: a proposal that moves against it is mirrored.

The reasonings below are the local 1.5B model's own, from the quality suite's runs
(benchmarks/results/quality_graph_2026-12-06_nogate_*.json).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.direction import feedback_direction, mirror, stated_direction

TRAIN = ["learning_rate", "epochs", "optimizer"]


@pytest.mark.parametrize(
    ("reasoning", "name", "others", "want"),
    [
        # measured: the number 1,250 from 100; the reply came with x = 150 from 200
        (
            "The feedback indicates that the current output of 200.0 is too small. To improve "
            "the output, we need to increase the value of x.",
            "x",
            [],
            1,
        ),
        ("The current output (181.0) is too small. Therefore, we should increase it", "x", [], 1),
        ("x is too large; reduce it.", "x", [], -1),
        (
            "The learning rate is too low, and the optimizer is not suitable.",
            "learning_rate",
            TRAIN,
            1,
        ),
        (
            "We should try a higher learning rate, possibly reducing the number of epochs",
            "learning_rate",
            TRAIN,
            1,
        ),
        (
            "We should try a higher learning rate, possibly reducing the number of epochs",
            "epochs",
            TRAIN,
            -1,
        ),
        (
            "The threshold should be higher to keep more relevant passages and the top_k "
            "should be lower to retrieve fewer passages.",
            "top_k",
            ["threshold"],
            -1,
        ),
        # says nothing: a comparison, a negation, a bound, a measure, both ways
        ("x is lower than the target.", "x", [], 0),
        ("There is no need to reduce x.", "x", [], 0),
        ("x is 5, the lower bound is 0.", "x", [], 0),
        ("To improve the output, we should increase.", "x", [], 0),
        ("We need a higher score.", "x", [], 0),
        ("Increase x. Then decrease x.", "x", [], 0),
        # unnamed clauses count only when the number is the only one the reply changes
        ("We should increase it.", "x", ["y"], 1),
    ],
)
def test_the_stated_direction(reasoning: str, name: str, others: list[str], want: int) -> None:
    alone = not (name == "x" and others == ["y"] and want == 0)
    assert stated_direction(reasoning, name, others, alone=alone) == want


def test_an_unnamed_action_is_not_given_to_one_of_several_numbers() -> None:
    assert stated_direction("We should increase it.", "x", ["y"], alone=False) == 0


@given(st.text(max_size=300), st.sampled_from(["x", "learning_rate", "top-k", ""]))
@settings(max_examples=200, deadline=None)
def test_any_text_gives_a_direction_or_none_and_never_raises(text: str, name: str) -> None:
    assert stated_direction(text, name, ["other"]) in (-1, 0, 1)


@given(
    st.floats(1e-6, 1e6),
    st.floats(1e-6, 1e6),
    st.tuples(st.none() | st.floats(-1e6, 0.0), st.none() | st.floats(1e6, 1e7)),
)
def test_a_mirrored_move_goes_the_other_way_and_stays_in_bounds(
    current: float, proposed: float, bounds: tuple[float | None, float | None]
) -> None:
    if current == proposed:
        return
    new = mirror(current, proposed, bounds)
    assert (new > current) != (proposed > current) or new == current
    lo, hi = bounds
    assert (lo is None or new >= lo) and (hi is None or new <= hi)


@tg.op
def probe(x: float) -> float:
    return float(x)


def _step(
    reasoning: str, value: float, start: float = 200.0, feedback: str = "wrong"
) -> tuple[float, list[str]]:
    x = tg.param(start, name="x", bounds=(0.0, None))
    probe(x).backward(feedback)
    reply = json.dumps({"reasoning": reasoning, "updates": {"x": value}})
    report = GraphOptimizer([x], llm=ScriptedClient([reply])).step()
    return float(x.value), report.notes


def test_a_proposal_against_its_own_reasoning_is_mirrored_and_says_so() -> None:
    said = "200.0 is too small. To improve the output, we need to increase the value of x."
    value, notes = _step(said, 150.0)
    assert value == 250.0
    assert any("reasoning says to raise it" in n and "150" in n for n in notes), notes


def test_reasoning_that_states_the_value_proposed_does_not_mirror_it() -> None:
    # the local model's words: "too low" but "0.70 or higher", with 0.7 from 0.75
    said = "The x of 0.75 is too low. An x of 0.70 or higher might be better."
    value, notes = _step(said, 0.7, start=0.75)
    assert value == 0.7 and not any("reasoning says" in n for n in notes), notes
    value, notes = _step("The x of 0.75 is too low, raise it.", 0.7, start=0.75)
    assert value == 0.8 and any("reasoning says to raise it" in n for n in notes), notes


def test_a_proposal_that_agrees_with_its_reasoning_is_applied_as_it_is() -> None:
    assert _step("x is too small: increase x.", 1250.0) == (1250.0, [])
    assert _step("", 150.0) == (150.0, [])  # no reasoning: the value is the direction


def test_the_reasoning_of_a_re_ask_does_not_overrule_its_value() -> None:
    """Measured: after 411 was past the bound 100, "411 is too large ... decrease x" came with
    a value for x the reasoning's direction does not apply to (it was about 411)."""
    x = tg.param(3.0, name="x", bounds=(-100.0, 100.0))
    probe(x).backward("too small")
    replies = [
        json.dumps({"reasoning": "x is too small", "updates": {"x": "a lot"}}),
        json.dumps({"reasoning": "a lot is too large: decrease x", "updates": {"x": 37.0}}),
    ]
    GraphOptimizer([x], llm=ScriptedClient(replies)).step()
    assert x.value == 37.0


def test_the_feedback_on_the_output_and_how_it_moves_with_the_number_outrank_the_reasoning() -> (
    None
):
    """probe returns x: the first output already shows that it grows with x."""
    value, notes = _step("we should lower x", 150.0, feedback="too small")
    assert value == 250.0
    assert any("feedback asks for a larger output, and it grows with x" in n for n in notes)


@tg.op
def remaining(x: float) -> float:
    return 100.0 - x


def test_which_way_the_output_moves_is_learned_from_the_outputs_seen() -> None:
    x = tg.param(10.0, name="x", bounds=(0.0, 100.0))
    replies = [json.dumps({"reasoning": "", "updates": {"x": v}}) for v in (20.0, 30.0, 25.0)]
    opt = GraphOptimizer([x], llm=ScriptedClient(replies), patience=None)
    for _ in range(2):  # 10 -> 20 -> 30: the output went 90 -> 80: it shrinks with x
        opt.zero_feedback()
        remaining(x).backward("too large")
        opt.step()
    assert x.value == 30.0
    opt.zero_feedback()
    remaining(x).backward("too small")  # so x must go down; the model's 25 already does
    assert opt.step().notes == [] and x.value == 25.0
    opt.zero_feedback()
    remaining(x).backward("too small")
    opt.llm = ScriptedClient([json.dumps({"reasoning": "", "updates": {"x": 35.0}})])
    notes = opt.step().notes
    assert x.value < 25.0 and any("it shrinks with x" in n for n in notes), notes


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("go up", 1),
        ("go down", -1),
        ("the reading is below the target", 1),
        ("above the target", -1),
        ("overshot", -1),
        ("undershot it", 1),
        ("not enough", 1),
        ("not high enough", 1),
        ("not small enough", -1),
        ("over the target", -1),
        ("it is not too small", 0),
        ("right: keep it", 0),
    ],
)
def test_more_ways_feedback_says_which_way(text: str, want: int) -> None:
    assert feedback_direction(text) == want
