"""The LangGraph adapter, offline: nodes that call a ScriptedClient, a conditional branch, a
prompt in the state and one in the config."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest

pytest.importorskip("langgraph", reason="needs the [langgraph] extra")

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from optimizers import GraphOptimizer, ScriptedClient
from optimizers.adapters.langgraph import TrainableGraph


class State(TypedDict, total=False):
    question: str
    system_prompt: str
    route: str
    answer: str


def build(llm: ScriptedClient) -> Any:
    def classify(state: State) -> State:
        """Route short questions to the quick answerer."""
        return {"route": "quick" if len(state["question"]) < 25 else "careful"}

    def quick(state: State) -> State:
        """Answer with the system prompt from the state."""
        messages = [
            {"role": "system", "content": state["system_prompt"]},
            {"role": "user", "content": state["question"]},
        ]
        return {"answer": llm.complete(messages).text}

    def careful(state: State, config: RunnableConfig) -> State:
        """Answer with the style prompt from the config."""
        style = config["configurable"]["style"]
        prompt = f"{style}\n{state['question']}"
        return {"answer": llm.complete([{"role": "user", "content": prompt}]).text}

    graph = StateGraph(State)
    graph.add_node("classify", classify)
    graph.add_node("quick", quick)
    graph.add_node("careful", careful)
    graph.add_edge(START, "classify")
    graph.add_conditional_edges("classify", lambda s: s["route"], ["quick", "careful"])
    graph.add_edge("quick", END)
    graph.add_edge("careful", END)
    return graph.compile()


def _trainable(llm: ScriptedClient) -> TrainableGraph:
    return TrainableGraph(
        build(llm),
        state_prompts={"system_prompt": "Answer."},
        config_prompts={"style": "Think step by step."},
        output="answer",
        input_key="question",
    )


def _by_label(node: Any) -> dict[str, Any]:
    return dict(zip(node.arg_names, node.parents, strict=True))


def test_the_branch_taken_is_the_graph_and_feedback_reaches_its_prompt() -> None:
    llm = ScriptedClient(["4", "It is the ratio of a circle's circumference to its diameter."])
    trainable = _trainable(llm)
    out = trainable("What is 2+2?")
    assert out.value == "4"
    quick = _by_label(out)["answer"]
    assert quick.op == "quick"
    assert sorted(_by_label(quick)) == ["question", "route", "system_prompt"]
    assert _by_label(quick)["system_prompt"] is trainable.params["system_prompt"]
    decision = _by_label(quick)["route"]  # the conditional edge that chose this branch
    assert decision.op == "route_classify" and decision.value == "quick"
    classify = _by_label(decision)["route"]
    assert classify.op == "classify" and classify.value == {"route": "quick"}
    out.backward("Say four in words.")
    assert [r.feedback.text for r in trainable.params["system_prompt"].received] == [
        "Say four in words."
    ]
    assert trainable.params["style"].received == []  # the careful branch did not run

    out2 = trainable("Please explain what the number pi is exactly")
    careful = _by_label(out2)["answer"]
    assert careful.op == "careful" and sorted(_by_label(careful)) == ["question", "route", "style"]
    assert _by_label(careful)["route"].value == "careful"


def test_a_step_changes_a_prompt_and_the_next_run_uses_it() -> None:
    llm = ScriptedClient(["4", "four"])
    trainable = _trainable(llm)
    trainable("What is 2+2?").backward("Answer in words, not digits.")
    reply = json.dumps({"reasoning": "words", "updates": {
        "system_prompt": "Answer in words.", "style": None}})  # fmt: skip
    GraphOptimizer(trainable.parameters(), llm=ScriptedClient([reply])).step()
    assert trainable.values() == {
        "system_prompt": "Answer in words.",
        "style": "Think step by step.",
    }
    assert trainable("What is 2+2?").value == "four"
    assert llm.requests[-1]["messages"][0]["content"] == "Answer in words."


async def test_async_runs_record_the_same_graph() -> None:
    llm = ScriptedClient(["4"])
    out = await _trainable(llm).arun({"question": "What is 2+2?"})
    assert _by_label(out)["answer"].op == "quick"
