"""GraphOptimizer: one model call per step proposes updates for every parameter at once.

The model sees the rendered problem (:mod:`optimizers.problem`): the program around the
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

from collections.abc import Iterable
from typing import Any

from optimizers.base import Message, Optimizer, StepContext
from optimizers.problem import ProblemConfig, render_problem
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
        **config: see :class:`~optimizers.base.Optimizer`.
    """

    label = "optimizer:graph"

    def __init__(
        self,
        params: Iterable[Node] | Any,
        *,
        problem: ProblemConfig | None = None,
        system: str = SYSTEM,
        **config: Any,
    ) -> None:
        super().__init__(params, **config)
        self.problem = problem or ProblemConfig()
        self.system = system

    def build_messages(self, ctx: StepContext) -> list[Message]:
        text = render_problem(
            ctx.sub,
            ctx.params,
            # a lone entry is the current state, already shown in full above
            history=self.history if len(self.history) > 1 else [],
            rejected=self.rejected,
            config=self.problem,
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]
