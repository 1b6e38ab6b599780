"""The OpenAI Agents SDK, trainable (needs ``tracegraph[agents]``: ``openai-agents``).

:class:`TrainableAgent` wraps an ``agents.Agent``: its instructions and the descriptions of
its function tools become text parameters; :meth:`TrainableAgent.run` runs the agent with the
current values and returns the run as a graph — one ``agent_turn`` node per model response
(parents: the instructions, the input, the tool descriptions offered, the turn before and the
tool results it read) and one ``tool_NAME`` node per tool call (parents: the turn that asked
for it and the tool's description) — so feedback on the final output reaches the
instructions and the descriptions. :meth:`TrainableAgent.agent` gives back a normal ``Agent``
with the current (optimized) values. See docs/integrations.md.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

from agents import Agent, FunctionTool, Runner

import tracegraph as tg
from optimizers.adapters import recorded_call, slug
from optimizers.errors import refuse_running_loop
from tracegraph.errors import TracegraphError
from tracegraph.node import Node

__all__ = ["TrainableAgent"]


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """The event loop of sync runs: one, in a daemon thread, started on first use."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="agents-runs", daemon=True).start()
        return _LOOP


def _text(output: Any) -> str:
    """The text of a model response's message items."""
    parts = []
    for item in output:
        if getattr(item, "type", None) == "message":
            parts += [getattr(c, "text", "") for c in getattr(item, "content", [])]
    return "".join(parts)


class TrainableAgent:
    """An ``agents.Agent`` whose instructions and tool descriptions are trainable.

    Args:
        agent: the agent (its ``instructions`` must be text, not a function).
        train_tools: also train the descriptions of its function tools.
        max_turns, run_config: passed to ``Runner.run``.

    ``instructions`` and ``tool_descriptions`` (by tool name) are the parameters;
    :meth:`parameters` lists them for an optimizer. Calling the object runs it (sync);
    :meth:`arun` is the async form.
    """

    def __init__(
        self,
        agent: Agent[Any],
        *,
        train_tools: bool = True,
        max_turns: int = 10,
        run_config: Any = None,
    ) -> None:
        if not isinstance(agent.instructions, str):
            raise TracegraphError(
                f"agent {agent.name!r} has instructions of type "
                f"{type(agent.instructions).__name__}; only text instructions can be trained. "
                "Fix: Agent(instructions='...')"
            )
        self.base = agent
        self.max_turns = max_turns
        self.run_config = run_config
        self.instructions = tg.param(
            agent.instructions,
            name=f"{slug(agent.name)}_instructions",
            description=f"instructions (system prompt) of the agent {agent.name!r}",
        )
        self.tool_descriptions: dict[str, Node] = {}
        for tool in agent.tools if train_tools else []:
            if isinstance(tool, FunctionTool) and tool.description:
                self.tool_descriptions[tool.name] = tg.param(
                    tool.description,
                    name=f"{slug(tool.name)}_description",
                    description=f"description of the tool {tool.name!r}, as the model reads it",
                )

    def parameters(self) -> list[Node]:
        """The trainable parameters: the instructions, then the tool descriptions."""
        return [self.instructions, *self.tool_descriptions.values()]

    def agent(self) -> Agent[Any]:
        """A normal ``Agent`` with the parameters' current values (the base agent unchanged)."""
        tools = []
        for tool in self.base.tools:
            if isinstance(tool, FunctionTool) and tool.name in self.tool_descriptions:
                tool = copy.copy(tool)
                tool.description = self.tool_descriptions[tool.name].peek()
            tools.append(tool)
        return self.base.clone(instructions=self.instructions.peek(), tools=tools)

    def __call__(self, input: str) -> Node:
        return self.run(input)

    def run(self, input: str) -> Node:
        """Run the agent on ``input``; return the final output's node (see the module doc).

        Sync runs share one event loop in a background thread, so an ``AsyncOpenAI`` client
        in the agent's model (bound to the loop of its first call) serves every run.
        """
        refuse_running_loop("TrainableAgent.run()", "await agent.arun(input)")
        return asyncio.run_coroutine_threadsafe(self.arun(input), _loop()).result()

    async def arun(self, input: str) -> Node:
        """Async form of :meth:`run`."""
        result = await Runner.run(
            self.agent(), input, max_turns=self.max_turns, run_config=self.run_config
        )
        return self._graph(input, result)

    def _graph(self, input: str, result: Any) -> Node:
        outputs: dict[str, str] = {}
        for item in result.new_items:
            raw = getattr(item, "raw_item", None)
            if getattr(item, "type", "") == "tool_call_output_item" and isinstance(raw, dict):
                outputs[str(raw.get("call_id"))] = str(getattr(item, "output", raw.get("output")))
        offered = [(f"tool:{name}", p) for name, p in self.tool_descriptions.items()]
        start = [("instructions", self.instructions), ("input", tg.node(input, name="agent_input"))]
        last: Node | None = None
        read: list[tuple[str, Node]] = []
        for response in result.raw_responses:
            calls = [o for o in response.output if getattr(o, "type", None) == "function_call"]
            value = _text(response.output) or "; ".join(f"{c.name}({c.arguments})" for c in calls)
            parents = [*start, *offered, *([("previous", last)] if last else []), *read]
            doc = f"one model response of the agent {self.base.name!r}"
            last = recorded_call("agent_turn", value, parents, doc)
            read = []
            for call in calls:
                described = self.tool_descriptions.get(call.name)
                tool_parents = [
                    ("call", last),
                    *([("description", described)] if described else []),
                ]
                node = recorded_call(
                    f"tool_{slug(call.name)}",
                    outputs.get(str(call.call_id), ""),
                    tool_parents,
                    f"the tool {call.name!r} called with {call.arguments}",
                )
                read.append(("tool_result", node))
        if last is None:
            raise TracegraphError(f"the agent {self.base.name!r} ran without a model response")
        final = result.final_output
        return recorded_call(
            "agent_output", final, [("turn", last)], f"the final output of {self.base.name!r}"
        )
