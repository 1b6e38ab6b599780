"""Step sizes of numbers (optimizers/step/numbers.py), alone and inside whole optimizer steps.

The plodding model below plays what the local 1.5B model did on direction-only feedback: it
reads "too small" right and moves by +2, every step, forever.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.numbers import NumberSteps


class Plodder(ScriptedClient):
    """Moves the number by ``size`` the way the feedback in the prompt says; never converges."""

    def __init__(self, size: float) -> None:
        super().__init__([])
        self.size = size

    def _send(self, request: Any) -> Any:
        text = request.payload()["messages"][1]["content"]  # the problem (re-asks come later)
        now = float(re.findall(r"current value \(JSON\): (\S+)", text)[0])
        up = "feedback: too small" in text
        new = now + self.size if up else max(now - self.size, now / 2)  # it knows x >= 0
        with self._lock:
            self._script.append(json.dumps({"reasoning": "", "updates": {"x": new}}))
        return super()._send(request)


@tg.op
def probe(x: float) -> float:
    """Send x to the system under test."""
    return float(x)


def solve(target: float, start: float, size: float, steps: int = 12, **config: Any) -> int | None:
    """Steps a plodding model needs with the default GraphOptimizer (None: not solved)."""
    x = tg.param(start, name="x", bounds=(0, None))
    opt = GraphOptimizer([x], llm=Plodder(size), **config)
    for i in range(steps):
        out = probe(x)
        if abs(out.value - target) <= 0.02 * target:
            return i
        opt.zero_feedback()
        out.backward("too small" if out.value < target else "too large")
        opt.step()
        opt.record_score(-abs(x.value - target) / target)
    return None if abs(x.value - target) > 0.02 * target else steps


@pytest.mark.parametrize(("target", "start"), [(0.37, 5.0), (27.3, 1.0), (1250.0, 100.0)])
def test_a_plodding_model_finds_hidden_numbers_of_every_scale(target: float, start: float) -> None:
    for size in (0.5, 2.0, 100.0):  # (measured: 4 to 8 steps each)
        used = solve(target, start, size=size)
        assert used is not None and used <= 9, (size, used)
    if target > 1:  # without number steps (as before) +2 a step is too slow for far targets
        assert solve(target, start, size=2.0, number_steps=False) is None


def test_growth_bisection_and_bounds_explain_themselves() -> None:
    steps = NumberSteps()
    for old, new in [(0.0001, 0.001), (0.001, 0.01)]:  # 10x a step: kept twice
        assert steps.adjust("lr", old, new, (1e-5, 2.0)) == (new, "")
        steps.record("lr", old, new)
    value, why = steps.adjust("lr", 0.01, 0.1, (1e-5, 2.0))  # 10x again: 10**4 x, past 2.0
    assert value == pytest.approx(1.005) and "halfway to the upper bound 2" in why
    steps.record("lr", 0.01, value)
    value, why = steps.adjust("lr", value, 0.001, (1e-5, 2.0))  # flipped: between 0.01 and 1
    assert value == pytest.approx((0.01 * 1.005) ** 0.5, rel=1e-3) and "between 0.01 and 1" in why
    assert steps.hint("lr").endswith("the best value is above 0.01 and below 1.005")
    steps.record("lr", 1.005, value)
    low = value
    value, why = steps.adjust("lr", low, 3.0, (1e-5, 2.0))  # up, past the bracket's end: once
    assert value == pytest.approx((low * 1.005) ** 0.5, rel=1e-3) and "and 1.005" in why
    steps.record("lr", low, value)
    now = value
    value, why = steps.adjust("lr", now, 3.0, (1e-5, 2.0))  # again: that end was wrong
    assert value == pytest.approx((now + 2.0) / 2, rel=1e-3) and "halfway to the upper" in why


def test_a_model_asking_twice_for_the_end_of_the_bracket_drops_that_end() -> None:
    """Measured on the local model (target 1250): 100 -> 200 (too small), then a move down to
    150 (against the feedback) set the bracket's high end to 200; the model then asked for 200
    each step, and bisection crept 160, 180, ..., 199.98 without ever reaching it."""
    steps = NumberSteps()
    for old, new in [(100.0, 200.0), (200.0, 150.0)]:
        steps.adjust("x", old, new, None)
        steps.record("x", old, new)
    value, why = steps.adjust("x", 150.0, 200.0, None)  # once: still inside, halfway
    assert value == pytest.approx(175.0) and "between 150 and 200" in why
    steps.record("x", 150.0, value)
    value, why = steps.adjust("x", value, 200.0, None)  # twice: the end was wrong
    assert value >= 200.0 and "below 200" not in steps.hint("x"), (value, steps.hint("x"))


def test_a_converging_model_is_never_overruled_outside_a_bracket() -> None:
    steps = NumberSteps()
    for old, new in [(0.0, 10.0), (10.0, 14.0), (14.0, 14.5)]:
        assert steps.adjust("x", old, new, None) == (new, "")
        steps.record("x", old, new)


def test_integers_move_by_whole_steps_and_stop_when_the_bracket_closes() -> None:
    steps = NumberSteps()
    for old, new in [(2, 3), (3, 4)]:
        assert steps.adjust("k", old, new, (1, 9), integer=True) == (new, "")
        steps.record("k", old, new)
    assert steps.adjust("k", 4, 5, (1, 9), integer=True)[0] == 8.0  # the step grew
    steps.record("k", 4, 8)
    assert steps.adjust("k", 8, 7, (1, 9), integer=True)[0] == 6.0  # same size: bisected
    steps.record("k", 8, 6)
    assert steps.adjust("k", 6, 7, (1, 9), integer=True) == (7, "")  # inside [4, 8]: kept
    steps.record("k", 6, 7)
    assert steps.adjust("k", 7, 8, (1, 9), integer=True) == (8, "")  # nothing left inside


@example(moves=[(1.0, 2.0), (2.0, 5e-324)])  # a ratio that under- and overflows (found by CI)
@given(
    st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=20),
)
@settings(max_examples=60, deadline=None)
def test_adjusted_values_keep_the_direction_and_bounds(moves: list[tuple[float, float]]) -> None:
    steps = NumberSteps()
    for current, proposed in moves:
        value, why = steps.adjust("x", current, proposed, (-1e3, 1e3))
        assert -1e3 <= value <= 1e3
        if proposed != current:
            assert (value > current) == (proposed > current)
        assert bool(why) == (value != proposed)
        steps.record("x", current, value)
        state = json.loads(json.dumps(steps.state_dict()))
        other = NumberSteps()
        other.load_state_dict(state)
        assert other.state_dict() == steps.state_dict()


def test_inside_the_bracket_a_v_through_the_scores_finds_the_peak() -> None:
    steps = NumberSteps()
    for value, score in [(0, -42.0), (5, -27.0), (25, -33.0)]:  # 3x + 5 against 47
        steps.observe("x", value, score)
    steps.adjust("x", 0, 5, None, integer=True)
    steps.record("x", 0, 5)
    steps.adjust("x", 5, 25, None, integer=True)
    steps.record("x", 5, 25)
    value, why = steps.adjust("x", 25, 20, None, integer=True)
    assert value == 14 and "where a V through the scores so far peaks" in why
    steps.observe("x", 99, -1.0, context="other values")  # scored under other values: unused
    assert steps.adjust("x", 25, 20, None, integer=True)[0] == 14


def test_a_bracket_whose_ends_tie_does_not_pull_a_move_beyond_it_inside() -> None:
    def bracketed(top: float) -> NumberSteps:  # F1 at 0.4, 0.7 and 0.65; bracket (0.65, 0.7)
        steps = NumberSteps()
        for value, score in [(0.4, 0.75), (0.7, top), (0.65, 0.857)]:
            steps.observe("t", value, score)
        for old, new in [(0.4, 0.7), (0.7, 0.65)]:
            steps.adjust("t", old, new, (0.0, 1.0))
            steps.record("t", old, new)
        return steps

    # both ends scored 0.857: flat there, the model's value beyond the bracket stands
    assert bracketed(0.857).adjust("t", 0.65, 0.75, (0.0, 1.0)) == (0.75, "")
    value, why = bracketed(0.9).adjust("t", 0.65, 0.75, (0.0, 1.0))  # no tie: pulled inside
    assert 0.65 < value < 0.7 and "halfway between 0.65 and 0.7" in why


def test_the_evidence_holds_only_while_the_other_choices_stay_the_same() -> None:
    steps = NumberSteps()
    steps.adjust("lr", 0.001, 0.0001, None, choices='{"normalize": "none"}')
    steps.record("lr", 0.001, 0.0001)
    same = steps.adjust("lr", 0.0001, 0.001, None, choices='{"normalize": "none"}')
    assert "between 0.0001 and 0.001" in same[1]  # under the same choice: bisected
    steps = NumberSteps()
    steps.adjust("lr", 0.001, 0.0001, None, choices='{"normalize": "none"}')
    steps.record("lr", 0.001, 0.0001)
    assert steps.adjust("lr", 0.0001, 0.001, None, choices='{"normalize": "standard"}') == (
        0.001,
        "",
    )


def test_a_direction_held_three_times_grows_the_step_whatever_the_sizes() -> None:
    """Seen on the local model: 1250 from 100 by +1, +4, +1, +4 ... (no two steps alike)."""
    steps = NumberSteps()
    for old, new in [(200.0, 201.0), (201.0, 205.0), (205.0, 206.0)]:
        assert steps.adjust("x", old, new, (0, None)) == (new, "")
        steps.record("x", old, new)
    value, why = steps.adjust("x", 206.0, 210.0, (0, None))
    assert value == 210.0 and why == ""  # (+4 after +1: the model chose a bigger step itself)
    steps.record("x", 206.0, 210.0)
    assert steps.adjust("x", 210.0, 211.0, (0, None)) == (
        226.0,
        "the direction held, so the step grew",
    )
