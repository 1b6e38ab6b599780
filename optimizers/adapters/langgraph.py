"""LangGraph, trainable (needs ``tracegraph[langgraph]``: ``langgraph``).

:class:`TrainableGraph` takes a LangGraph ``StateGraph`` (or the compiled graph made from it)
and the prompts its nodes read — from the state (``state["system_prompt"]``) or from the run's
config (``config["configurable"]["system_prompt"]``) — as text parameters. Each node is
wrapped so that a run records which state keys it read and what it wrote; the run becomes a
graph with one CALL node per node that actually ran (its real branching: a branch not taken
leaves no node), whose parents are the prompts it read and the nodes that last wrote the
state it read. Feedback on the output then reaches the prompts.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.graph import StateGraph

import tracegraph as tg
from optimizers.adapters import recorded_call
from optimizers.errors import refuse_running_loop
from tracegraph.errors import TracegraphError
from tracegraph.node import Node

__all__ = ["TrainableGraph"]

ROUTE = "route:"  # the record of a conditional edge's decision: "route:SOURCE"
RUN_KEY = "tracegraph_run"  # where a run's recorder travels in config["configurable"]
_ALL = "*"  # a node whose reads cannot be seen read everything


class _Reads(dict):
    """A state dict that remembers which keys a node read."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def items(self) -> Any:
        self.read.update(self.keys())
        return super().items()

    def values(self) -> Any:
        self.read.update(self.keys())
        return super().values()


@dataclasses.dataclass
class _Ran:
    node: str
    step: int
    order: int
    read: set[str]
    update: Any


class _Run:
    """What one invocation recorded, node by node (threads of one superstep append at once)."""

    def __init__(self) -> None:
        self.ran: list[_Ran] = []
        self._lock = threading.Lock()

    def add(self, node: str, config: Mapping[str, Any], read: set[str], update: Any) -> None:
        step = int((config.get("metadata") or {}).get("langgraph_step", 0))
        with self._lock:
            self.ran.append(_Ran(node, step, len(self.ran), read, update))


def _recording(name: str, runnable: Any) -> RunnableLambda[Any, Any]:
    """The node (or conditional edge) ``name`` wrapped: the same work, plus a record of what
    it read and what it returned."""

    def prepare(state: Any, config: Any) -> tuple[Any, Any, _Run | None]:
        run = (config.get("configurable") or {}).get(RUN_KEY)
        if run is None:
            return state, config, None
        seen = _Reads(state) if isinstance(state, dict) else state
        configurable = _Reads(config.get("configurable") or {})
        return seen, {**config, "configurable": configurable}, run

    def finish(run: _Run | None, seen: Any, config: Any, update: Any) -> Any:
        if run is not None:
            read = set(seen.read) if isinstance(seen, _Reads) else {_ALL}
            read |= config["configurable"].read - {RUN_KEY}
            run.add(name, config, read, update)
        return update

    def node(state: Any, config: Any) -> Any:
        seen, config, run = prepare(state, config)
        return finish(run, seen, config, runnable.invoke(seen, config))

    async def anode(state: Any, config: Any) -> Any:
        seen, config, run = prepare(state, config)
        return finish(run, seen, config, await runnable.ainvoke(seen, config))

    return RunnableLambda(node, afunc=anode, name=name)


class TrainableGraph:
    """A LangGraph graph whose prompts are trainable; each run is recorded as a graph.

    Args:
        graph: a ``StateGraph`` or a compiled one (it is recompiled with recording nodes;
            pass compile options with ``compile_options``).
        state_prompts: prompts the nodes read from the state, by key, with their first text.
        config_prompts: prompts the nodes read from ``config["configurable"]``, by key.
        output: the state key that holds the answer (the run's output node); None: the whole
            final state.
        input_key: with it, calling the object with a plain value runs ``{input_key: value}``.
    """

    def __init__(
        self,
        graph: Any,
        *,
        state_prompts: Mapping[str, str] | None = None,
        config_prompts: Mapping[str, str] | None = None,
        output: str | None = None,
        input_key: str | None = None,
        compile_options: Mapping[str, Any] | None = None,
    ) -> None:
        builder = getattr(graph, "builder", graph)
        if not isinstance(builder, StateGraph):
            raise TracegraphError(
                f"TrainableGraph needs a langgraph StateGraph or its compiled graph, got "
                f"{type(graph).__name__}"
            )
        prompts = {**(state_prompts or {}), **(config_prompts or {})}
        self.params = {
            key: tg.param(text, name=key, description=f"prompt {key!r} of the LangGraph graph")
            for key, text in prompts.items()
        }
        self.state_keys = list(state_prompts or {})
        self.config_keys = list(config_prompts or {})
        self.output, self.input_key = output, input_key
        self.docs = {name: self._doc(name, spec) for name, spec in builder.nodes.items()}
        recording = copy.copy(builder)
        recording.nodes = {
            name: dataclasses.replace(spec, runnable=_recording(name, spec.runnable))
            for name, spec in builder.nodes.items()
        }
        recording.branches = copy.copy(builder.branches)
        self.ends: dict[str, dict[str, str]] = {}
        for source, branches in builder.branches.items():
            recording.branches[source] = {}
            for key, branch in branches.items():
                path = _recording(f"{ROUTE}{source}", branch.path)
                recording.branches[source][key] = branch._replace(path=path)
                ends = {str(k): str(v) for k, v in (branch.ends or {}).items()}
                self.ends[source] = {**self.ends.get(source, {}), **ends}
        self.app: Any = recording.compile(**dict(compile_options or {}))

    @staticmethod
    def _doc(name: str, spec: Any) -> str:
        fn = getattr(spec.runnable, "func", None) or getattr(spec.runnable, "afunc", None)
        doc = inspect.getdoc(fn) if fn is not None else None
        return (doc or f"the LangGraph node {name!r}").split("\n\n")[0]

    def parameters(self) -> list[Node]:
        """The prompts, as parameters for an optimizer."""
        return list(self.params.values())

    def values(self) -> dict[str, str]:
        """The prompts' current values, by key (to put back into the state or config)."""
        return {key: p.peek() for key, p in self.params.items()}

    def _inputs(self, input: Any, config: Mapping[str, Any] | None) -> tuple[dict, dict, _Run]:
        state = {self.input_key: input} if self.input_key and not isinstance(input, dict) else input
        if not isinstance(state, dict):
            raise TracegraphError(
                f"a TrainableGraph run needs a state dict, got {type(input).__name__}. "
                "Fix: TrainableGraph(..., input_key='question') to run on plain values"
            )
        run = _Run()
        state = {**state, **{k: self.params[k].peek() for k in self.state_keys}}
        configurable = {**dict((config or {}).get("configurable") or {}), RUN_KEY: run}
        configurable.update({k: self.params[k].peek() for k in self.config_keys})
        return state, {**dict(config or {}), "configurable": configurable}, run

    def __call__(self, input: Any) -> Node:
        return self.run(input)

    def run(self, input: Any, config: Mapping[str, Any] | None = None) -> Node:
        """Invoke the graph; return the output's node (see the class doc)."""
        refuse_running_loop("TrainableGraph.run()", "await graph.arun(input)")
        state, full, run = self._inputs(input, config)
        return self._graph(state, self.app.invoke(state, full), run)

    async def arun(self, input: Any, config: Mapping[str, Any] | None = None) -> Node:
        """Async form of :meth:`run`."""
        state, full, run = self._inputs(input, config)
        return self._graph(state, await self.app.ainvoke(state, full), run)

    def _call(self, ran: _Ran, op: str, writers: dict[str, Node], route: Node | None) -> Node:
        """The CALL node of one recorded node or decision: parents are what it read."""
        prompt_keys = set(self.params)
        keys = sorted(set(writers) | prompt_keys) if _ALL in ran.read else sorted(ran.read)
        parents = [(k, self.params[k]) for k in keys if k in prompt_keys]
        parents += [(k, writers[k]) for k in keys if k in writers and k not in prompt_keys]
        if route is not None:
            parents.append(("route", route))
        doc = self.docs.get(ran.node, f"the decision of the conditional edge after {op[6:]!r}")
        return recorded_call(op, ran.update, parents, doc)

    def _targets(self, source: str, decision: Any) -> list[str]:
        """The node names a conditional edge's result sends the run to."""
        found = decision if isinstance(decision, (list, tuple)) else [decision]
        ends = self.ends.get(source, {})
        names = [getattr(d, "node", d) for d in found]  # a Send names its node
        return [str(ends.get(n, n)) if isinstance(n, str) else str(n) for n in names]

    def _graph(self, state: dict[str, Any], final: Any, run: _Run) -> Node:
        prompt_keys = set(self.params)
        writers: dict[str, Node] = {
            k: tg.node(v, name=f"input_{k}") for k, v in state.items() if k not in prompt_keys
        }
        nodes: list[Node] = []
        routed: dict[str, Node] = {}  # node name -> the decision that sent the run there
        for step in sorted({r.step for r in run.ran}):
            done = sorted((r for r in run.ran if r.step == step), key=lambda r: r.order)
            written: dict[str, Node] = {}
            for ran in (r for r in done if not r.node.startswith(ROUTE)):
                node = self._call(ran, ran.node, writers, routed.pop(ran.node, None))
                nodes.append(node)
                for key in ran.update if isinstance(ran.update, dict) else ():
                    written[key] = node
            writers.update(written)  # a superstep's nodes do not see each other's writes
            for ran in (r for r in done if r.node.startswith(ROUTE)):
                source = ran.node[len(ROUTE) :]
                decision = self._call(ran, f"route_{source}", writers, None)
                for target in self._targets(source, ran.update):
                    routed[target] = decision
        if self.output is not None:
            writer = writers.get(self.output)
            if writer is None or not isinstance(final, Mapping) or self.output not in final:
                raise TracegraphError(f"no node of the run wrote the output key {self.output!r}")
            return recorded_call("graph_output", final[self.output], [(self.output, writer)],
                                 f"the graph's output {self.output!r}")  # fmt: skip
        made = {id(n) for n in nodes}  # by identity: `in` on nodes would be a traced ==
        last = [(k, n) for k, n in writers.items() if id(n) in made]
        return recorded_call("graph_output", final, last, "the graph's final state")
