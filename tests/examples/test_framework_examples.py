"""The framework examples run offline: scripted replies for the workflow's model and the
optimizer (LangGraph), a scripted Agents SDK model for the agent (OpenAI Agents SDK)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from optimizers import ScriptedClient


def reply(updates: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "from the feedback", "updates": updates})


def scores_printed(out: str) -> tuple[float, float]:
    found = re.search(r"score before: (\S+)\s+after: (\S+)", out)
    assert found, out
    return float(found.group(1)), float(found.group(2))


def test_langgraph_router(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("langgraph", reason="needs the [langgraph] extra")
    import langgraph_router

    better = "Reply with the number only."
    first = ["The sum is 42.", "85", "85"]  # the three first answers: one is not exact
    update = reply({"math_prompt": better, "chat_style": None})
    llm = ScriptedClient([*first, update, "42", "85", "85"])
    assert langgraph_router.main(["--out", str(tmp_path)], llm=llm) == 0
    out = capsys.readouterr().out
    assert scores_printed(out) == pytest.approx((2 / 3, 1.0))
    asked = llm.requests[3]["messages"][-1]["content"]
    assert "The sum is 42." in asked and "chat_style" not in asked  # the chat branch never ran
    assert llm.requests[4]["messages"][0]["content"] == better
    assert f"math_prompt = {better!r}" in out


def test_openai_agents_calculator(tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("agents", reason="needs the [agents] extra")
    import openai_agents_calculator

    from tests.optimizers.adapters.test_openai_agents import ScriptedModel, message, tool_call

    first = [tool_call({"a": 17, "b": 25}, "c1", "add"), message("The answer is 42.")]
    model = ScriptedModel([*first, message("85"), message("42"), message("85")])
    better = "Answer with the number only."
    llm = ScriptedClient([reply({"calculator_instructions": better, "add_description": None})])
    assert openai_agents_calculator.main(["--out", str(tmp_path)], llm=llm, model=model) == 0
    out = capsys.readouterr().out
    assert scores_printed(out) == (0.5, 1.0)
    assert model.seen[-1][0] == better and f"instructions = {better!r}" in out
    assert "add.description = 'Add two numbers.'" in out
    asked = llm.requests[0]["messages"][-1]["content"]
    assert "The answer is 42." in asked
