"""The OpenAI Agents SDK adapter, offline: a scripted agents Model answers (tool call, then a
message) and records what it was sent, so the test sees the trained values reach the agent."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import pytest

pytest.importorskip("agents", reason="needs the [agents] extra")

from agents import Agent, ModelResponse, RunConfig, Usage, function_tool
from agents.models.interface import Model
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from optimizers import GraphOptimizer, ScriptedClient
from optimizers.adapters.openai_agents import TrainableAgent

DEFINITIONS = {"apple": "the round fruit of a tree of the rose family"}


@function_tool
def lookup(word: str) -> str:
    """Look up a word in the dictionary."""
    return DEFINITIONS.get(word, "no such word")


def tool_call(arguments: dict[str, Any], call_id: str, name: str = "lookup") -> Any:
    return ResponseFunctionToolCall(
        type="function_call", name=name, arguments=json.dumps(arguments), call_id=call_id,
        id=call_id,
    )  # fmt: skip


def message(text: str) -> ResponseOutputMessage:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[])]
    return ResponseOutputMessage(
        id="m", type="message", role="assistant", status="completed", content=content
    )


class ScriptedModel(Model):
    """Answers the given outputs in order; keeps the instructions and tools each call saw."""

    def __init__(self, outputs: list[Any]) -> None:
        self.outputs = deque(outputs)
        self.seen: list[tuple[str | None, dict[str, str]]] = []

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any,
                           tools: Any, *args: Any, **kwargs: Any) -> ModelResponse:  # fmt: skip
        self.seen.append((system_instructions, {t.name: t.description for t in tools}))
        return ModelResponse(output=[self.outputs.popleft()], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def _agent(model: ScriptedModel) -> TrainableAgent:
    agent = Agent(name="Dictionary bot", instructions="Answer.", tools=[lookup], model=model)
    return TrainableAgent(agent, run_config=RunConfig(tracing_disabled=True))


def test_a_run_is_a_graph_and_feedback_reaches_the_prompts() -> None:
    model = ScriptedModel([tool_call({"word": "apple"}, "c1"), message("An apple is a fruit.")])
    trainable = _agent(model)
    assert [p.name for p in trainable.parameters()] == [
        "Dictionary_bot_instructions",
        "lookup_description",
    ]
    out = trainable.run("What is an apple?")
    assert out.value == "An apple is a fruit."
    (turn,) = out.parents
    parents = dict(zip(turn.arg_names, turn.parents, strict=True))
    tool = parents["tool_result"]
    assert tool.op == "tool_lookup" and tool.value == DEFINITIONS["apple"]
    first = dict(zip(tool.arg_names, tool.parents, strict=True))["call"]
    assert first.op == "agent_turn" and 'lookup({"word": "apple"})' in first.value
    out.backward("Quote the definition word for word.")
    for param in trainable.parameters():
        assert [r.feedback.text for r in param.received] == ["Quote the definition word for word."]


def test_the_optimized_agent_is_a_normal_agent_with_the_new_values() -> None:
    model = ScriptedModel([message("A fruit."), message("An apple is the round fruit.")])
    trainable = _agent(model)
    trainable.run("What is an apple?").backward("Too short: look the word up and quote it.")
    better = "Always call lookup first, then quote the definition."
    reply = json.dumps({"reasoning": "use the tool", "updates": {
        "Dictionary_bot_instructions": better, "lookup_description": None}})  # fmt: skip
    report = GraphOptimizer(trainable.parameters(), llm=ScriptedClient([reply])).step()
    assert report.applied == {"Dictionary_bot_instructions": ("Answer.", better)}
    agent = trainable.agent()
    assert isinstance(agent, Agent) and agent.instructions == better
    assert trainable.base.instructions == "Answer."  # the original is left alone
    trainable.run("What is an apple?")
    assert model.seen[-1][0] == better  # the next run used the new instructions
    assert model.seen[-1][1] == {"lookup": "Look up a word in the dictionary."}
