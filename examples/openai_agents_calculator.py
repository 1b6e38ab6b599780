"""Tune an OpenAI Agents SDK agent: its instructions and its tool's description.

An agent with an ``add`` tool answers sums; an answer counts only when it is exactly the
number. The agent's instructions and the tool's description are trainable; each run is
recorded (model turns, tool calls) so feedback on the answer reaches both. At the end the
optimized agent is a plain ``agents.Agent`` again.

    python examples/openai_agents_calculator.py                       # the local model
    python examples/openai_agents_calculator.py --model gpt-4o-mini   # or OPENAI_API_KEY / ...
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from _common import (
    ENV,
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
)
from agents import Agent, OpenAIChatCompletionsModel, RunConfig, function_tool
from openai import AsyncOpenAI

import tracegraph as tg
from optimizers.adapters.openai_agents import TrainableAgent
from optimizers.llm.types import LLMClient

DATA = [("What is 17 + 25?", "42"), ("What is 38 + 47?", "85")]


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def agent_model(llm: LLMClient, args: argparse.Namespace) -> Any:
    """The agent talks to the same model as ``llm`` through the Agents SDK's own client."""
    if args.model or args.base_url or any(os.environ.get(v) for v in ENV):
        base_url, key = str(getattr(llm, "endpoint", "")), os.environ.get("OPENAI_API_KEY")
    else:  # the local model: lease the same shared server and use its key
        from optimizers.llm.local import local_server

        server = local_server(args.local)
        base_url, key = server.base_url + "/v1", server.api_key
    client = AsyncOpenAI(base_url=base_url, api_key=key or "none", timeout=900.0, max_retries=1)
    return OpenAIChatCompletionsModel(model=llm.model, openai_client=client)


def evaluate(agent: TrainableAgent) -> tuple[list[tg.Node], float]:
    """Ask every question; feedback on each wrong answer; the outputs and the accuracy."""
    outputs, right = [], 0
    for question, want in DATA:
        out = agent(question)
        got = str(out.value).strip()
        if got == want:
            right += 1
        else:
            out.backward(f"expected exactly {want!r} (only the number), got {got!r}")
        outputs.append(out)
    return outputs, right / len(DATA)


def run(
    llm: LLMClient,
    steps: int = 2,
    out: str = "runs/examples",
    optimizer: str = "graph",
    model: Any = None,
) -> Outcome:
    """Tune the agent for up to ``steps`` steps (stop when every answer is exact); ``model``
    is the agent's Agents SDK model."""
    base = Agent(
        name="calculator", instructions="You are a helpful assistant.", tools=[add], model=model
    )
    agent = TrainableAgent(base, max_turns=4, run_config=RunConfig(tracing_disabled=True))
    opt = make_optimizer(optimizer, agent.parameters(), llm)
    outcome = Outcome("openai_agents_calculator")
    outputs, score = evaluate(agent)
    outcome.scores.append(score)
    for _ in range(steps):
        if score == 1.0:
            break
        report = opt.step()
        opt.zero_feedback()
        outputs, score = evaluate(agent)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    optimized = agent.agent()  # a normal Agent: Runner.run(optimized, ...) as before
    outcome.values = {"instructions": optimized.instructions}
    outcome.values.update({f"{t.name}.description": t.description for t in optimized.tools})
    outcome.solved = score == 1.0
    outcome.picture = picture(outputs, out, "openai_agents_calculator")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None, model: Any = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    args = base_parser(__doc__ or "", steps=2).parse_args(argv)
    llm = llm or client_from(args)
    model = model or agent_model(llm, args)
    return finish(run(llm, args.steps, args.out, args.optimizer, model))


if __name__ == "__main__":
    sys.exit(main())
