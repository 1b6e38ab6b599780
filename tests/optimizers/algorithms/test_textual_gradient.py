"""TextualGradientOptimizer steps, offline, with the ScriptedClient.

Golden prompts live in tests/golden/optimizers/; regenerate with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers import ScriptedClient, TextualGradientOptimizer
from optimizers.algorithms.textual_gradient import _combine, _levels
from optimizers.errors import BudgetExceeded
from optimizers.llm.budget import Budget
from optimizers.step.trial import TrialConfig
from tests.optimizers.graphs import (
    BUGGY,
    call,
    chain_graph,
    code_graph,
    golden,
    inp,
    param,
    qa_graph,
)
from tracegraph.backward import backward
from tracegraph.node import Node
from tracegraph.params import ParamType


def grad(feedback: dict[str, str]) -> str:
    return json.dumps({"reasoning": "r", "feedback": feedback})


def reply(updates: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "because", "updates": updates})


class ByName(ScriptedClient):
    """A scripted reply ``"TEXTS:a|b"`` becomes feedback keyed by the names the request asks
    about, in its order: the tests do not depend on how intermediate values are named."""

    MARKER = "Write feedback for exactly these inputs: "

    def _send(self, request: Any) -> Any:
        last = request.payload()["messages"][-1]["content"]
        with self._lock:
            item = self._script[self._served] if self._served < len(self._script) else None
            if self.MARKER in last and isinstance(item, str) and item.startswith("TEXTS:"):
                names = last.split(self.MARKER)[1].strip().rstrip(".").split(", ")
                texts = item[len("TEXTS:") :].split("|")
                assert len(names) == len(texts), (names, texts)
                self._script[self._served] = grad(dict(zip(names, texts, strict=True)))
        return super()._send(request)


QA_GRADIENTS = [
    "TEXTS:the reply must end with the number",
    "TEXTS:ask for the number last|lower it|keep|more|keep",
    "TEXTS:say: end with the final number|keep plain",
]


def qa_opt(updates: list[str], **config: Any) -> tuple[TextualGradientOptimizer, dict[str, Node]]:
    params, _ = qa_graph()
    llm = ByName(QA_GRADIENTS + updates)
    return TextualGradientOptimizer(list(params.values()), llm=llm, **config), params


def test_golden_prompts_of_a_step() -> None:
    opt, _ = qa_opt([reply({})] * 6)
    report = opt.step()
    assert len(report.prompts) == 3 + 6  # one feedback call per level, one update per parameter
    text = "\n\n".join(
        f"[{m['role']}]\n{m['content']}" for msgs in report.prompts[:4] for m in msgs
    )
    golden("textgrad_step_prompts.txt", text)


def test_feedback_flows_backward_to_each_parameter_and_updates_apply() -> None:
    updates = [reply({"prompt": "End with the number."}), reply({"temperature": 0.2})]
    updates += [reply({})] * 4
    opt, _ = qa_opt(updates)
    report = opt.step()
    assert report.applied == {
        "prompt": ("Answer briefly.", "End with the number."),
        "temperature": (0.7, 0.2),
    }
    by_param = {
        msgs[-1]["content"].split("\n")[0]: msgs[-1]["content"] for msgs in report.prompts[3:]
    }
    assert "say: end with the final number" in by_param["You may change ONLY: prompt"]
    assert "lower it" in by_param["You may change ONLY: temperature"]
    # the op nearer the output is asked first, with the output's own feedback
    assert "expected 5, got 4" in report.prompts[0][-1]["content"]
    assert "the reply must end with the number" in report.prompts[1][-1]["content"]
    assert report.reasoning.startswith("prompt: because")
    assert report.usage.calls == 9


def test_ops_of_one_level_share_a_call_and_feedback_from_two_users_is_combined() -> None:
    w = param(1.0, "w", ParamType.NUMBER)
    left = call("left", 2.0, "left_1", {"a": w})
    right = call("right", 3.0, "right_1", {"a": w})
    out = call("join", 5.0, "join_1", {"l": left, "r": right})
    backward(out, "too small")
    llm = ByName(
        [
            "TEXTS:left up|right up",
            "TEXTS:raise w for left",  # the two ops of one level share one call
            reply({"w": 2.0}),
        ]
    )
    report = TextualGradientOptimizer([w], llm=llm).step()
    assert len(report.prompts) == 3 and w.value == 2.0
    both = report.prompts[1][-1]["content"]
    assert both.count("### ") == 2 and "= left(" in both and "= right(" in both
    assert "- raise w for left" in report.prompts[2][-1]["content"]


def test_a_graph_over_the_call_budget_gets_one_feedback_call_per_parameter() -> None:
    x, _ = chain_graph(400)
    llm = ScriptedClient([grad({"x": "x must grow"}), reply({"x": 9.0})])
    report = TextualGradientOptimizer([x], llm=llm, max_calls=5).step()
    assert any("more than max_calls=5" in n for n in report.notes)
    assert len(report.prompts) == 2 and x.value == 9.0
    assert "x must grow" in report.prompts[1][-1]["content"]
    assert "nodes left out" in report.prompts[0][-1]["content"]  # the budgeted rendering


def test_an_unreadable_feedback_reply_passes_the_feedback_on_unchanged() -> None:
    x = param(1.0, "x", ParamType.NUMBER)
    y = call("double", 2.0, "double_1", {"v": x})
    backward(y, "should be larger")
    llm = ScriptedClient(["no json here"] * 3 + [reply({"x": 5.0})])
    report = TextualGradientOptimizer([x], llm=llm).step()
    assert x.value == 5.0
    assert any("could not be read" in n for n in report.notes)
    assert "- should be larger" in report.prompts[-1][-1]["content"]


def test_one_unreadable_update_does_not_block_the_others() -> None:
    prose = "TERMINATE, I think def is fine"
    updates = [prose] * 3 + [reply({"temperature": 0.1})] + [reply({})] * 4
    opt, params = qa_opt(updates)
    report = opt.step()
    assert report.error is None and params["temperature"].value == 0.1
    assert params["prompt"].value == "Answer briefly."
    assert any(n.startswith("prompt: the reply could not be read") for n in report.notes)


def test_code_updates_get_their_trial_run() -> None:
    code, _, _ = code_graph()
    raises = "def parse_answer(text):\n    return int(text)\n"
    fixed = "def parse_answer(text):\n    return int(text.split()[-1])\n"
    llm = ScriptedClient(
        [
            grad({"parse_answer": "take the last word"}),
            reply({"parse_answer": raises}),
            reply({"parse_answer": fixed}),
        ]
    )
    opt = TextualGradientOptimizer([code], llm=llm, trial=TrialConfig(timeout=3.0))
    report = opt.step()
    assert "ValueError" in report.rejected[0].reasons[0]
    assert code.value == fixed and report.applied["parse_answer"] == (BUGGY, fixed)


def test_a_budget_stop_mid_step_changes_nothing() -> None:
    params, _ = qa_graph()
    llm = ByName(QA_GRADIENTS + [reply({"prompt": "x"})] * 6, budget=Budget(max_calls=4))
    opt = TextualGradientOptimizer(list(params.values()), llm=llm)
    with pytest.raises(BudgetExceeded):
        opt.step()
    assert params["prompt"].value == "Answer briefly."


def test_levels_are_longest_distances_to_an_output() -> None:
    a = param(1, "a", ParamType.INTEGER)
    b = call("f", 1, "f_1", {"a": a})
    c = call("g", 1, "g_1", {"b": b})
    d = call("h", 1, "h_1", {"a": a, "c": c, "x": inp(0, "x")})
    assert [_levels([a, b, c, d])[n] for n in (a, b, c, d)] == [3, 2, 1, 0]


@given(st.lists(st.text(max_size=400), max_size=8), st.integers(60, 2000))
@settings(max_examples=80, deadline=None)
def test_combined_feedback_fits_its_budget_and_keeps_every_distinct_piece(
    pieces: list[str], limit: int
) -> None:
    text = _combine(pieces, limit)
    distinct = list(dict.fromkeys(p.strip() for p in pieces if p.strip()))
    assert len(text.splitlines()) == len(distinct) or any("\n" in p for p in distinct) is False
    assert text.count("- ") >= len(distinct)
    per_piece_slack = 12  # the "- " prefix, the newline and the cut marker's rounding
    assert len(text) <= limit + per_piece_slack * max(len(distinct), 1)


def test_a_feedback_reply_that_writes_nothing_for_an_input_says_so() -> None:
    """Issue 10, 7(h): a readable reply with no usable feedback fell back silently."""
    x = param(1.0, "x", ParamType.NUMBER)
    y = call("double", 2.0, "double_1", {"v": x})
    backward(y, "should be larger")
    llm = ScriptedClient([grad({"x": "  "}), reply({"x": 5.0})])
    report = TextualGradientOptimizer([x], llm=llm).step()
    assert x.value == 5.0
    assert any("wrote nothing usable for x" in n for n in report.notes), report.notes


def test_a_shortcut_feedback_reply_that_says_nothing_says_so() -> None:
    x, _ = chain_graph(400)
    llm = ScriptedClient([grad({"x": ""}), reply({"x": 9.0})])
    report = TextualGradientOptimizer([x], llm=llm, max_calls=5).step()
    assert any("feedback reply for x wrote nothing" in n for n in report.notes), report.notes
