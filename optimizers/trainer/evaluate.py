"""Run the workflow on many examples at once, bounded, and judge each result.

A sync workflow runs in worker threads (each thread gets a copy of the caller's context, so
tracing state stays per call); an async workflow runs as tasks. Either way at most
``concurrency`` examples are in flight. Results come back in the order of the examples, so
everything after (backward, the records) is deterministic whatever the timing.

One example is run by :func:`optimizers.executors.executor.call_workflow`, the same function
the executors use: there is one local way to call a workflow (and a feedback function).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from optimizers.errors import BudgetExceeded
from optimizers.executors.executor import call_workflow
from optimizers.trainer.cases import Case, Example, Verdict
from optimizers.trainer.feedback import judge_case
from tracegraph.errors import OpError

__all__ = ["reraise_infrastructure", "run_case", "run_cases"]

Workflow = Callable[[Any], Any]


def reraise_infrastructure(exc: OpError) -> None:
    """An exhausted budget inside an op is the run's limit, not the parameters' fault: it stops
    the run instead of becoming feedback (so does anything that is not an ``Exception``)."""
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        if isinstance(cause, BudgetExceeded) or not isinstance(cause, Exception):
            raise cause
        cause = cause.__cause__


async def run_case(
    workflow: Workflow, example: Example, index: int, pool: Executor | None = None
) -> Case:
    """Call the workflow on one example; an op that raised becomes a case with an error."""
    node, value, error = await call_workflow(workflow, example.input, pool)
    if error is not None:
        reraise_infrastructure(error)
        return Case(index, example, node, error=error)
    if node is not None:
        return Case(index, example, node)
    return Case(index, example, None, plain=value)


async def run_cases(
    workflow: Workflow,
    feedback: Any,
    examples: Sequence[Example],
    indices: Sequence[int],
    *,
    concurrency: int,
    on_case: Callable[[], None] | None = None,
) -> list[tuple[Case, Verdict]]:
    """Run and judge ``examples[i]`` for each index, at most ``concurrency`` at a time;
    ``on_case()`` after each one is judged (the progress bar counts them)."""
    gate = asyncio.Semaphore(max(1, concurrency))
    # Our own pool: the loop's default one has min(32, cores + 4) threads, fewer than a large
    # `concurrency` would need for sync workflows.
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="tracegraph")

    async def one(i: int) -> tuple[Case, Verdict]:
        async with gate:
            case = await run_case(workflow, examples[i], i, pool)
            verdict = await judge_case(feedback, case, pool)
            if on_case is not None:
                on_case()
            return case, verdict

    try:
        return list(await asyncio.gather(*(one(i) for i in indices)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
