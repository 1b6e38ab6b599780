"""Two instances of one tg.Module class optimized together (issue 10, bug 7i): their parameters
take their dotted names, so updates reach the right instance."""

from __future__ import annotations

import json

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient


class Agent(tg.Module):
    def __init__(self) -> None:
        self.prompt = tg.param("Answer.", name="prompt")


class Pair(tg.Module):
    def __init__(self) -> None:
        self.first = Agent()
        self.second = Agent()


def test_two_instances_of_one_module_class_are_optimized_by_their_dotted_names() -> None:
    pair = Pair()
    reply = {"reasoning": "be polite", "updates": {"second.prompt": "Answer politely."}}
    opt = GraphOptimizer(pair, llm=ScriptedClient([json.dumps(reply)]))
    assert [p.name for p in opt.params] == ["first.prompt", "second.prompt"]
    out = pair.first.prompt + " / " + pair.second.prompt
    out.backward("the second answer must be polite")
    opt.step()
    assert pair.first.prompt.value == "Answer."
    assert pair.second.prompt.value == "Answer politely."
