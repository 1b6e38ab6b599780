"""GraphOptimizer: one model call per step proposes updates for every parameter at once.

The model sees the rendered problem (:mod:`optimizers.step.problem`): the program around the
parameters, the outputs with their feedback, and the history of tried and rejected values.

>>> import tracegraph.params as tp
>>> from tracegraph.backward import backward
>>> from tracegraph.node import Node, NodeKind
>>> from optimizers.llm.scripted import ScriptedClient
>>> x = Node(1.0, NodeKind.PARAMETER, "x", spec=tp.ParamSpec(tp.ParamType.NUMBER))
>>> y = Node(2.0, NodeKind.CALL, "double_1", op="double", parents=(x,), arg_names=("v",))
>>> backward(y, "should be larger")
>>> opt = GraphOptimizer([x], llm=ScriptedClient(['{"reasoning": "go up", "updates": {"x": 3}}']))
>>> opt.step().applied
{'x': (1.0, 3.0)}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from optimizers.algorithms.optimizer import Message, Optimizer, StepContext
from optimizers.step.problem import ProblemConfig, render_problem
from optimizers.step.replies import Rejection, same_value
from tracegraph.node import Node

__all__ = ["GraphOptimizer"]

SYSTEM = (
    "You tune the parameters of a program from feedback on its outputs. Read the program, "
    "the feedback and what was tried before, then propose new values for the parameters you "
    "may change. Reply with one JSON object only."
)


class GraphOptimizer(Optimizer):
    """The graph-aware optimizer: the whole relevant subgraph in one prompt, one call per step.

    Args:
        params: the parameters (or a ``tg.Module``).
        llm: the model client.
        problem: sizes of the rendered problem (the default fits a 4k-token context).
        system: the system message.
        allow_repeats: accept a proposal that brings back a set of values tried before
            (off by default: going back and forth is how a small model wastes steps).
        **config: see :class:`~optimizers.algorithms.optimizer.Optimizer`.
    """

    label = "optimizer:graph"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        problem: ProblemConfig | None = None,
        system: str = SYSTEM,
        allow_repeats: bool = False,
        **config: Any,
    ) -> None:
        super().__init__(params, **config)
        self.problem = problem or ProblemConfig()
        self.system = system
        self.allow_repeats = allow_repeats

    def build_messages(self, ctx: StepContext) -> list[Message]:
        text = render_problem(
            ctx.sub,
            ctx.params,
            # a lone entry is the current state, already shown in full above
            history=self.history if len(self.history) > 1 else [],
            rejected=self.rejected,
            config=self.problem,
            hints=self.hints(ctx.params),
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]

    def validate(
        self, raw: Mapping[str, Any], ctx: StepContext
    ) -> tuple[dict[Node, Any], list[Rejection]]:
        """The base checks, then: values that bring back an earlier set are rejected."""
        accepted, rejected = super().validate(raw, ctx)
        if not accepted or self.allow_repeats:
            return accepted, rejected
        proposal = {**self.values(), **{n.name: v for n, v in accepted.items()}}
        for entry in self.history[:-1]:  # the last entry holds the current values
            if all(same_value(entry.values.get(k), v) for k, v in proposal.items()):
                said = f"; feedback then: {entry.feedback[:150]}" if entry.feedback else ""
                score = "" if entry.score is None else f" (score {entry.score:g})"
                reason = f"exactly these values were tried at step {entry.step}{score}{said}"
                rejected += [Rejection(n.name, v, [reason]) for n, v in accepted.items()]
                return {}, rejected
        return accepted, rejected
