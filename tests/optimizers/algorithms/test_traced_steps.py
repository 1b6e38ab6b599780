"""Optimizer steps on graphs made by real tracing (tg.param, @tg.op, @tg.trainable, Module)."""

from __future__ import annotations

import json
import re

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.step.trial import TrialConfig


def reply(updates: dict[str, object]) -> str:
    return json.dumps({"reasoning": "r", "updates": updates})


@tg.op
def scale(x: float, factor: float) -> float:
    """Multiply x by factor."""
    return x * factor


def test_a_numeric_parameter_moves_and_the_next_trace_uses_it() -> None:
    factor = tg.param(1.0, name="factor", bounds=(0.0, 10.0))
    out = scale(tg.node(3.0, name="x"), factor)
    out.backward("the result should be 9")
    opt = GraphOptimizer([factor], llm=ScriptedClient([reply({"factor": 3})]))
    text = opt.step()
    assert text.applied == {"factor": (1.0, 3.0)}
    assert scale(tg.node(3.0, name="x"), factor).value == 9.0
    prompt = text.prompts[0][-1]["content"]
    assert "scale_" in prompt and "Multiply x by factor." in prompt
    assert "x = 3.0  # input, READ-ONLY" in prompt


@tg.trainable
def last_number(text: str) -> int:
    """Extract the final integer of a sentence."""
    return int(re.findall(r"\d+", text)[0])


def test_a_trainable_function_is_fixed_after_a_trial_on_its_traced_input() -> None:
    code = tg.code_of(last_number)
    original = code.value
    try:
        out = last_number(tg.node("from 3 to 5", name="sentence"))
        assert out.value == 3
        out.backward("expected 5: the LAST number")
        wrong = "def last_number(text):\n    return int(text.split()[-1][0:0])\n"  # raises
        fixed = "def last_number(text):\n    return int(re.findall(r'\\d+', text)[-1])\n"
        llm = ScriptedClient([reply({"last_number": wrong}), reply({"last_number": fixed})])
        report = GraphOptimizer([code], llm=llm, trial=TrialConfig(timeout=5)).step()
        assert "ValueError" in report.rejected[0].reasons[0]
        # `re` is a global of this module: the trial could not know it and did not reject
        assert report.applied == {"last_number": (original, fixed)}
        assert last_number(tg.node("from 3 to 5", name="sentence")).value == 5
    finally:
        code.set_value(original)


class Agent(tg.Module):
    def __init__(self) -> None:
        self.greeting = tg.param("Hi", name="greeting")
        self.frozen = tg.param(0.5, name="frozen", trainable=False)


def test_a_module_gives_its_trainable_parameters() -> None:
    agent = Agent()
    opt = GraphOptimizer(agent, llm=ScriptedClient([]))
    assert [p.name for p in opt.params] == ["greeting"]
