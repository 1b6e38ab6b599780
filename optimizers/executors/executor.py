"""What an executor is: the protocol, one evaluation (:class:`EvalTask`) and its result.

One evaluation is an :class:`EvalTask`: call the workflow on one item with given parameter
values, judge the outcome with the feedback function, and capture the trace. An executor runs a
list of them and returns one :class:`EvalResult` per task, in task order, each exactly once.
Optimizer steps never run in an executor: the driver sends feedback backward from
``result.output(params)`` (the live node here, or the trace rebuilt from ``graph_data`` when the
evaluation ran elsewhere) and steps as usual.

>>> import tracegraph as tg
>>> from optimizers.executors import LocalExecutor
>>> k = tg.param(2.0, name="k")
>>> @tg.op
... def times(x: float, k: float) -> float:
...     "Multiply x by k."
...     return x * k
>>> tasks = [EvalTask(lambda x: times(x, k), lambda o: 6 - abs(o.value - 6), x, {"k": 3.0})
...          for x in (1.0, 2.0)]
>>> [r.score for r in LocalExecutor(concurrency=2).run(tasks, params=[k])]
[3.0, 6.0]
>>> k.value  # the candidate value was used for the run only
2.0
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import math
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor as ThreadPool
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from optimizers.llm.types import Usage
from tracegraph.errors import OpError, TracegraphError
from tracegraph.graph import ancestors
from tracegraph.module import Module
from tracegraph.node import Feedback, Node, NodeKind
from tracegraph.serialize import export_graph, import_graph

__all__ = [
    "EvalResult",
    "EvalTask",
    "EvaluationLost",
    "Executor",
    "ExecutorError",
    "NotSerializable",
    "OnInput",
    "Outcome",
    "call_in_thread",
    "call_workflow",
    "find_params",
    "run_one",
]


class ExecutorError(TracegraphError):
    """An evaluation could not be run as asked (setup, parameters, a lost worker...)."""


class NotSerializable(ExecutorError):
    """A workflow, feedback function or item cannot be sent to a worker."""


class EvaluationLost(ExecutorError):
    """Evaluations that failed on every allowed attempt (their workers kept dying)."""


@dataclass(frozen=True)
class EvalTask:
    """One evaluation: ``feedback_fn(Outcome(...workflow(item)...))`` with ``param_values`` set.

    Attributes:
        workflow: ``workflow(item)``, sync or async; returns a node (or a plain value).
        feedback_fn: ``feedback_fn(outcome)`` returning ``tg.Feedback``, a number, a bool, text,
            ``(score, text)``, or an object with ``.feedback()`` and ``.score`` (the trainer's
            Verdict); sync or async.
        item: what the workflow is called with.
        param_values: parameter name -> value for this evaluation (a search candidate); the
            driver's own parameters are unchanged afterwards.
    """

    workflow: Callable[[Any], Any]
    feedback_fn: Callable[[Outcome], Any]
    item: Any
    param_values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OnInput:
    """``workflow(item.input)``: a workflow for items that carry their input in ``.input``
    (the trainer's Examples), so the feedback function still sees the whole item."""

    workflow: Callable[[Any], Any]

    def __call__(self, item: Any) -> Any:
        return self.workflow(item.input)


@dataclass
class Outcome:
    """What the feedback function judges: the workflow's result on one item."""

    index: int
    item: Any
    output: Node | None  # the node returned, or the exception node when an op raised
    value: Any  # the plain value (None when an op raised)
    error: BaseException | None = None  # the tg.OpError when an op raised


@dataclass
class EvalResult:
    """The result of one evaluation, as it comes back to the driver.

    ``graph_data`` (from :func:`tracegraph.serialize.export_graph`) holds the output first and
    then the nodes named in ``extra``; ``node`` is the live output when the evaluation ran in
    this process. ``failed`` means there is no output at all: the workflow raised something other
    than an op error, or the feedback function raised (``error`` says what). ``usage`` is the
    model usage of this evaluation alone where it ran on fresh clients (Ray); None locally,
    where the driver's clients count the whole run.
    """

    index: int
    output_value: Any = None
    feedback: Feedback | None = None
    score: float | None = None
    usage: Usage | None = None
    graph_data: dict[str, Any] | None = None
    error: str | None = None
    failed: bool = False
    extra: list[tuple[int, Feedback]] = field(default_factory=list)  # (graph output pos, fb)
    detail: dict[str, Any] | None = None  # the verdict's to_dict(), when it has one
    attempts: int = 1
    node: Node | None = field(default=None, repr=False, compare=False)
    extra_nodes: list[Node] = field(default_factory=list, repr=False, compare=False)

    def output(self, params: Mapping[str, Node] | Iterable[Node]) -> Node | None:
        """The output node on the driver (rebuilt onto ``params`` when it ran elsewhere)."""
        if self.node is None and self.graph_data is not None:
            nodes = import_graph(self.graph_data, _by_name(params))
            self.node, self.extra_nodes = nodes[0], nodes[1:]
        return self.node

    def backward(self, params: Mapping[str, Node] | Iterable[Node]) -> None:
        """Send this result's feedback backward on the driver (the output, then extra nodes)."""
        out = self.output(params)
        if out is None or self.feedback is None:
            return
        out.backward(self.feedback)
        for pos, fb in self.extra:
            self.extra_nodes[pos - 1].backward(fb)


@runtime_checkable
class Executor(Protocol):
    """Runs evaluations; results come back in task order, one per task."""

    def run(self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()) -> list[EvalResult]:
        """Run every task; block until all are done."""
        ...

    async def arun(
        self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()
    ) -> list[EvalResult]:
        """Async twin of :meth:`run`."""
        ...

    def close(self) -> None:
        """Release what the executor holds (a cluster connection, threads)."""
        ...


def _by_name(params: Mapping[str, Node] | Iterable[Node]) -> dict[str, Node]:
    if isinstance(params, Mapping):
        return dict(params)
    out: dict[str, Node] = {}
    for p in params:
        if out.setdefault(p.name, p) is not p:
            raise ExecutorError(
                f"two different parameters are named {p.name!r}; evaluations find parameters "
                "by name: fix: give each tg.param a distinct name="
            )
    return out


def find_params(workflow: Any, params: Iterable[Node] = ()) -> dict[str, Node]:
    """Parameters by name: ``params`` plus those of a ``tg.Module`` workflow (or its method)."""
    found = list(params)
    if isinstance(workflow, OnInput):
        workflow = workflow.workflow
    owner = getattr(workflow, "__self__", workflow)
    if isinstance(owner, Module):
        found += owner.parameters(include_fixed=True)
    return _by_name(found)


def set_values(values: Mapping[str, Any], params: Mapping[str, Node]) -> None:
    """Give each named parameter its value (validated); name a missing one clearly."""
    for name, value in values.items():
        node = params.get(name)
        if node is None:
            raise ExecutorError(
                f"param_values names {name!r}, but the workflow's parameters are "
                f"{sorted(params)}; fix: pass params=[...] with that parameter to the executor"
            )
        node.set_value(value)


def _coerce(result: Any) -> tuple[Feedback, list[tuple[Node, Feedback]], dict[str, Any] | None]:
    """A feedback function's answer as (feedback, extra node feedback, detail)."""
    if isinstance(result, Feedback):
        return result, [], None
    if callable(getattr(result, "feedback", None)) and hasattr(result, "score"):
        extra = [(n, Feedback.coerce(fb)) for n, fb in getattr(result, "extra", [])]
        to_dict = getattr(result, "to_dict", None)
        return result.feedback(), extra, to_dict() if callable(to_dict) else None
    if isinstance(result, bool):
        return Feedback("correct" if result else "wrong", 1.0 if result else 0.0), [], None
    if isinstance(result, tuple) and len(result) == 2:
        return Feedback(str(result[1]), float(result[0])), [], None
    try:
        return Feedback.coerce(result), [], None
    except TypeError as exc:
        raise ExecutorError(
            f"the feedback function returned {result!r:.80} ({type(result).__name__}); "
            "expected tg.Feedback, a number, a bool, text or (score, text)"
        ) from exc


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects, not callability
    )


async def call_in_thread(fn: Callable[..., Any], arg: Any, pool: ThreadPool | None = None) -> Any:
    """``fn(arg)``: awaited when async; a sync call runs in a worker thread of ``pool`` (the
    loop's default pool when None) in a copy of the caller's context, so tracing state stays
    per call. The one way workflows and feedback functions are called on this machine."""
    if _is_async(fn):
        return await fn(arg)
    ctx = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(pool, functools.partial(ctx.run, fn, arg))
    return await result if inspect.isawaitable(result) else result


async def call_workflow(
    workflow: Callable[..., Any], item: Any, pool: ThreadPool | None = None
) -> tuple[Node | None, Any, OpError | None]:
    """Run the workflow on one item here: ``(output node, plain value, error)``.

    An op that raised gives its exception node (feedback given to it reaches the failing code)
    and the OpError; a plain result gives no node. Used by the executors and the Trainer alike.
    """
    try:
        result = await call_in_thread(workflow, item, pool)
    except OpError as exc:
        return exc.node, None, exc
    if isinstance(result, Node):
        return result, result.peek(), None
    return None, result, None


async def _outcome(task: EvalTask, index: int) -> Outcome:
    node, value, error = await call_workflow(task.workflow, task.item)
    return Outcome(index, task.item, node, value, error)


def _check_same_params(out: Node, expected: Mapping[str, Node], names: Iterable[str]) -> None:
    """Refuse a trace that used another copy of a parameter than the one given its value."""
    wanted = set(names)
    for node in ancestors(out):
        if (
            node.kind is NodeKind.PARAMETER
            and node.name in wanted
            and node is not expected[node.name]
        ):
            raise ExecutorError(
                f"the workflow used a copy of parameter {node.name!r} other than the one "
                "the executor set (it is probably a global of an importable module, which "
                "the worker imports afresh); fix: keep parameters on a tg.Module and pass "
                "the module (or its method) as the workflow, or pass params=[...]"
            )


async def run_one(
    task: EvalTask, index: int, *, export: bool, params: Mapping[str, Node] | None = None
) -> EvalResult:
    """Evaluate one task with its parameter values already set; never raises for the task.

    Args:
        task: the evaluation.
        index: its position, copied into the result.
        export: put the trace in ``graph_data`` (for a driver in another process).
        params: the parameters that were given ``task.param_values``, to check the trace used
            those very nodes.
    """
    try:
        outcome = await _outcome(task, index)
        if outcome.output is not None and params is not None:
            _check_same_params(outcome.output, params, task.param_values)
        fb, extra, detail = _coerce(await call_in_thread(task.feedback_fn, outcome))
    except Exception as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return EvalResult(index, error=text, failed=True)
    score = fb.score if fb.score is None or math.isfinite(fb.score) else None
    result = EvalResult(
        index, outcome.value, fb, score, error=None if outcome.error is None else
        str(outcome.error), detail=detail,
    )  # fmt: skip
    if outcome.output is not None:
        targets = [outcome.output] + [n for n, _ in extra]
        result.extra = [(pos, f) for pos, (_, f) in enumerate(extra, start=1)]
        if export:
            result.graph_data = export_graph(targets)
        else:
            result.node, result.extra_nodes = targets[0], targets[1:]
    return result
