"""Search candidates scored through an executor: each candidate on each item, in one run.

A search step (``BestOfN``, ``BeamSearch``) scores value sets. With an executor, every
(candidate, item) pair is one evaluation, and all of them go out in one run, so a Ray cluster
works on every candidate at once while the driver's parameters never change.

>>> import tracegraph as tg
>>> from optimizers.executors import LocalExecutor
>>> x = tg.param(1.0, name="x")
>>> score = evaluator(LocalExecutor(), lambda item: x + item, lambda o: -abs(o.value - 5),
...                   [1.0, 2.0], params=[x])
>>> import asyncio
>>> asyncio.run(score({"x": 3.5}))
-0.5
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from optimizers.executors import EvalResult, EvalTask, Executor, ExecutorError
from tracegraph.node import Node

__all__ = ["evaluator", "score_candidates"]


def _mean(chunk: list[EvalResult]) -> tuple[float | None, str | None]:
    """The mean score of one candidate's evaluations, or None and why not."""
    for r in chunk:
        if r.failed:
            return None, f"item {r.index % len(chunk)} failed: {r.error}"
        if r.score is None:
            return None, f"item {r.index % len(chunk)} got feedback without a score"
    return sum(r.score for r in chunk if r.score is not None) / len(chunk), None


async def score_candidates(
    executor: Executor,
    workflow: Callable[[Any], Any],
    feedback_fn: Callable[[Any], Any],
    items: Sequence[Any],
    candidates: Sequence[Mapping[str, Any]],
    *,
    params: Sequence[Node] = (),
) -> list[tuple[float | None, str | None]]:
    """Mean score of each candidate over ``items``: ``(score, None)`` or ``(None, why)``.

    Args:
        executor: where the evaluations run.
        workflow, feedback_fn: as for :class:`~optimizers.executors.EvalTask`.
        items: the minibatch every candidate is scored on.
        candidates: value sets ``{parameter name: value}``.
        params: the parameters the values are for.
    """
    if not items:
        raise ExecutorError("score_candidates needs at least one item to score on")
    tasks = [EvalTask(workflow, feedback_fn, item, dict(c)) for c in candidates for item in items]
    results = await executor.arun(tasks, params=params)
    n = len(items)
    return [_mean(results[i * n : (i + 1) * n]) for i in range(len(candidates))]


def evaluator(
    executor: Executor,
    workflow: Callable[[Any], Any],
    feedback_fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    params: Sequence[Node] = (),
) -> Callable[[dict[str, Any]], Awaitable[float]]:
    """An ``evaluate(values) -> score`` for ``BestOfN``/``BeamSearch`` that runs on ``executor``.

    A failed evaluation raises (the search marks that candidate as failed).
    """

    async def evaluate(values: dict[str, Any]) -> float:
        ((score, why),) = await score_candidates(
            executor, workflow, feedback_fn, items, [values], params=params
        )
        if score is None:
            raise ExecutorError(f"candidate {values!r:.200} could not be scored: {why}")
        return score

    return evaluate
