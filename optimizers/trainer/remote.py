"""The trainer's evaluations through an executor (``optimizers.executors``): the seam to Ray.

With ``Trainer(executor=...)`` each example becomes an :class:`~optimizers.executors.EvalTask`:
the workflow call and its feedback run where the executor puts them (a Ray worker, say), and
the trace comes back and is rebuilt onto the driver's parameters, where backward and the
optimizer step run exactly as with the built-in path.

Accounting on a remote executor: the workers' model clients are fresh copies built from the
driver's configuration, so the run's call journal cannot wrap them. For the fit, the trainer
*lends* each evaluation client that has none its budget (an unlimited one when the run has no
budget, so that calls are still counted) and, when the run has a directory, a reply cache in it
(``RUN_DIR/eval_cache.sqlite``). The executor's ledger then charges every worker call —
attempts whose worker died included — and keeps every paid reply in that cache, so a resumed run
is served free. After each executor run, the journal gets one ``remote`` entry with the usage the
run charged (see ``CallJournal.record_usage``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from optimizers.errors import BudgetExceeded
from optimizers.executors import (
    EvalResult,
    EvalTask,
    Executor,
    ExecutorError,
    OnInput,
    Outcome,
    get_executor,
)
from optimizers.llm.budget import Budget
from optimizers.llm.cache import ResponseCache
from optimizers.llm.types import Usage
from optimizers.trainer.cases import Case, Example, Verdict
from optimizers.trainer.evaluate import Workflow, _reraise_infrastructure
from optimizers.trainer.feedback import judge_case
from optimizers.trainer.journal import CallJournal
from tracegraph.errors import OpError, TracegraphError
from tracegraph.node import Node

__all__ = ["CaseJudge", "evaluate", "lend", "make_executor", "to_pair"]

_BUDGET = re.compile(r"BudgetExceeded: budget exhausted: (\w+) used (\S+) of (\S+?);")


def make_executor(spec: Any, concurrency: int) -> tuple[Executor | None, str]:
    """The executor for ``Trainer(executor=spec)`` (None: the built-in path) and its name for
    ``run.json``."""
    if spec is None or spec == "local":
        return None, "local"
    executor = get_executor(spec, concurrency=concurrency)
    return executor, spec if isinstance(spec, str) else type(spec).__name__


class CaseJudge:
    """The trainer's feedback function as an executor's ``feedback_fn`` (module level, so it
    pickles): the outcome becomes a Case, judged as on the built-in path."""

    def __init__(self, feedback: Any) -> None:
        self.feedback = feedback

    async def __call__(self, o: Outcome) -> Verdict:
        if isinstance(o.error, OpError):
            _reraise_infrastructure(o.error)  # an exhausted budget stops the run, as locally
        case = Case(o.index, o.item, o.output, error=o.error,
                    plain=o.value if o.output is None else None)  # fmt: skip
        return await judge_case(self.feedback, case)


def _failure(index: int, text: str) -> Exception:
    """The error a failed evaluation becomes on the driver (a budget refusal stays one)."""
    found = _BUDGET.search(text)
    if found is not None:
        return BudgetExceeded(found[1], float(found[2]), float(found[3]))
    return ExecutorError(
        f"the evaluation of example {index} failed: {text}; fix: make the workflow and the "
        "feedback function raise only inside ops (an op's error becomes feedback)"
    )


def to_pair(
    index: int, example: Example, result: EvalResult, params: Mapping[str, Node]
) -> tuple[Case, Verdict]:
    """An executor's result as the (Case, Verdict) the built-in path would have produced."""
    if result.failed:
        raise _failure(index, result.error or "no error text")
    out = result.output(params)  # the live node, or the trace rebuilt onto the driver's params
    detail = result.detail or {}
    verdict = Verdict(
        score=result.score,
        text=detail.get("text", ""),
        reasons=list(detail.get("reasons", [])),
        extra=[(n, fb) for n, (_, fb) in zip(result.extra_nodes, result.extra, strict=True)],
    )
    error = TracegraphError(result.error) if result.error else None
    plain = None if out is not None else result.output_value
    return Case(index, example, out, error=error, plain=plain), verdict


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(**{f.name: getattr(a, f.name) - getattr(b, f.name) for f in dataclasses.fields(a)})


def _journal_usage(
    journal: CallJournal,
    results: Sequence[EvalResult] | None,
    counter: Budget | None,
    before: Usage | None,
) -> None:
    """One ``remote`` journal entry for an executor run: what the lent budget was charged
    (every attempt's calls) or, without one, what the results report."""
    if counter is not None and before is not None:
        used = _minus(counter.used, before)
    else:
        used = sum((r.usage for r in results or () if r.usage is not None), Usage())
    if used.calls or used.cache_hits:
        attempts = sum(r.attempts for r in results or ())
        journal.record_usage(used, "evaluations", evaluations=len(results or ()), attempts=attempts)


async def evaluate(
    executor: Any,
    workflow: Workflow,
    feedback: Any,
    examples: Sequence[Example],
    indices: Sequence[int],
    *,
    params: Mapping[str, Node],
    journal: CallJournal,
    counter: Budget | None,
) -> list[tuple[Case, Verdict]]:
    """Run and judge ``examples[i]`` for each index on ``executor``, in example order.

    Args:
        counter: the budget lent to every evaluation client (its growth is journaled), or None.
    """
    tasks = [EvalTask(OnInput(workflow), CaseJudge(feedback), examples[i]) for i in indices]
    before = counter.used if counter is not None else None
    results: list[EvalResult] | None = None
    try:
        results = await executor.arun(tasks, params=params.values())
    finally:  # charged even when the run failed: those calls were paid
        _journal_usage(journal, results, counter, before)
    return [to_pair(i, examples[i], r, params) for i, r in zip(indices, results, strict=True)]


@contextlib.contextmanager
def lend(
    clients: Sequence[Any], budget: Budget | None, cache_path: Path | None
) -> Iterator[Budget | None]:
    """For the ``with`` block, give each client without a budget ``budget`` (a new unlimited
    one when None) and each without a cache one at ``cache_path``; then take both back.

    Yields the budget that counts every evaluation call, or None when there is no client or
    some client charges a budget of its own (then the journal reports what the results say).
    """
    counter = budget if budget is not None else Budget()
    saved: list[tuple[Any, Any, Any]] = []
    cache = None
    all_counted = True
    for client in {id(c): c for c in clients}.values():
        saved.append((client, client.budget, client._cache))
        if client.budget is None:
            client.budget = counter
        all_counted = all_counted and client.budget is counter
        if client._cache is None and cache_path is not None:
            # Private: clients have no public cache setter; the lent cache is taken back below.
            cache = cache or ResponseCache(cache_path)
            client._cache = cache
    try:
        yield counter if saved and all_counted else None
    finally:
        for client, old_budget, old_cache in saved:
            client.budget, client._cache = old_budget, old_cache
        if cache is not None:
            cache.close()
