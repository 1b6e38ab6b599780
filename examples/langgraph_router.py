"""Tune the prompts of a LangGraph graph: a router sends sums to a calculator node and
everything else to a chat node; each node asks the model under its own prompt.

The math node reads its system prompt from the state, the chat node reads its style from the
run's config; both are trainable. Only the branch a question takes is recorded, so feedback on
a sum reaches the math prompt (and the router's decision), never the chat style.

    python examples/langgraph_router.py                       # the local model
    python examples/langgraph_router.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TypedDict

from _common import Outcome, base_parser, client_from, finish, log_step, make_optimizer, picture
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

import tracegraph as tg
from optimizers.adapters.langgraph import TrainableGraph
from optimizers.llm.types import LLMClient

DATA = [("What is 17 + 25?", "42"), ("What is 38 + 47?", "85"), ("What is 56 + 29?", "85")]


class State(TypedDict, total=False):
    question: str
    math_prompt: str
    route: str
    answer: str


def build_graph(llm: LLMClient) -> Any:
    """The app as its author wrote it: plain LangGraph, prompts read from state and config."""

    def route(state: State) -> State:
        """Send questions with a '+' to the calculator, the rest to chat."""
        return {"route": "math" if "+" in state["question"] else "chat"}

    def math(state: State) -> State:
        """Ask the model for the sum under the math prompt (from the state)."""
        messages = [
            {"role": "system", "content": state["math_prompt"]},
            {"role": "user", "content": state["question"]},
        ]
        return {"answer": llm.complete(messages, temperature=0.0, max_tokens=32).text.strip()}

    def chat(state: State, config: RunnableConfig) -> State:
        """Answer anything else in the style given by the run's config."""
        style = config["configurable"]["chat_style"]
        messages = [
            {"role": "system", "content": style},
            {"role": "user", "content": state["question"]},
        ]
        return {"answer": llm.complete(messages, temperature=0.0, max_tokens=64).text.strip()}

    graph = StateGraph(State)
    graph.add_node("route", route)
    graph.add_node("math", math)
    graph.add_node("chat", chat)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", lambda s: s["route"], ["math", "chat"])
    graph.add_edge("math", END)
    graph.add_edge("chat", END)
    return graph.compile()


def evaluate(app: TrainableGraph) -> tuple[list[tg.Node], float]:
    """Run every question; feedback on each wrong answer; the outputs and the accuracy."""
    outputs, right = [], 0
    for question, want in DATA:
        out = app(question)
        if out.value == want:
            right += 1
        else:
            out.backward(f"expected exactly {want!r} (only the number), got {out.value!r}")
        outputs.append(out)
    return outputs, right / len(DATA)


def run(
    llm: LLMClient, steps: int = 2, out: str = "runs/examples", optimizer: str = "graph"
) -> Outcome:
    """Tune the graph's prompts for up to ``steps`` steps (stop when every answer is exact)."""
    app = TrainableGraph(
        build_graph(llm),
        state_prompts={"math_prompt": "You are a helpful assistant."},
        config_prompts={"chat_style": "Be friendly."},
        output="answer",
        input_key="question",
    )
    opt = make_optimizer(optimizer, app.parameters(), llm)
    outcome = Outcome("langgraph_router")
    outputs, score = evaluate(app)
    outcome.scores.append(score)
    for _ in range(steps):
        if score == 1.0:
            break
        report = opt.step()
        opt.zero_feedback()
        outputs, score = evaluate(app)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    outcome.values = app.values()
    outcome.solved = score == 1.0
    outcome.picture = picture(outputs, out, "langgraph_router")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    args = base_parser(__doc__ or "", steps=2).parse_args(argv)
    return finish(run(llm or client_from(args), args.steps, args.out, args.optimizer))


if __name__ == "__main__":
    sys.exit(main())
