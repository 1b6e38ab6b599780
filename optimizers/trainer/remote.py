"""The trainer's evaluations through an executor (``optimizers.executors``): the seam to Ray.

With ``Trainer(executor=...)`` each example becomes an :class:`~optimizers.executors.EvalTask`:
the workflow call and its feedback run where the executor puts them (a Ray worker, say), and
the trace comes back and is rebuilt onto the driver's parameters, where backward and the
optimizer step run exactly as with the built-in path.

Accounting on a remote executor: the workers' model clients are fresh copies built from the
driver's configuration, so the run's call journal cannot wrap them. For the fit, the trainer
*lends* each evaluation client that has no budget its own (an unlimited one when the run has
none, so that calls are still counted); for each executor run it lends each client without a
cache one under ``RUN_DIR/eval_cache/`` that holds the current step's replies only
(:class:`Lent`). The executor's ledger then charges every worker call — attempts whose worker
died included — and keeps every paid reply of the step, so a retried evaluation and a resumed
step are served free. After each executor run, the journal gets one ``remote`` entry with the
usage the run charged (``CallJournal.record_usage``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
from optimizers.trainer.evaluate import Workflow, reraise_infrastructure
from optimizers.trainer.feedback import judge_case
from optimizers.trainer.journal import CallJournal
from tracegraph.errors import OpError, TracegraphError
from tracegraph.node import Node

__all__ = ["CaseJudge", "Lent", "evaluate", "lend", "make_executor", "to_pair"]

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
            reraise_infrastructure(o.error)  # an exhausted budget stops the run, as locally
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
    """``a - b`` field by field, never below zero."""
    return Usage(
        **{f.name: max(getattr(a, f.name) - getattr(b, f.name), 0) for f in dataclasses.fields(a)}
    )


def _journal_usage(
    journal: CallJournal,
    results: Sequence[EvalResult] | None,
    counter: Budget | None,
    before: tuple[Usage, Usage] | None,
) -> None:
    """One ``remote`` journal entry for an executor run: the calls made where the journal
    could not see them. With a lent ``counter``: what it was charged (every attempt) less what
    the journal recorded itself meanwhile (calls of the driver's own clients); without one: the
    usage the results report (executors running on fresh clients report it)."""
    if counter is not None and before is not None:
        used = _minus(_minus(counter.used, before[0]), _minus(journal.paid, before[1]))
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
    lent: Lent | None,
    label: str,
) -> list[tuple[Case, Verdict]]:
    """Run and judge ``examples[i]`` for each index on ``executor``, in example order.

    Args:
        lent: what a remote fit lent the evaluation clients (None on this machine).
        label: ``"train"`` or ``"val"``: which lent cache this run uses.
    """
    tasks = [EvalTask(OnInput(workflow), CaseJudge(feedback), examples[i]) for i in indices]
    counter = lent.counter if lent is not None else None
    before = (counter.used, journal.paid) if counter is not None else None
    results: list[EvalResult] | None = None
    try:
        with lent.cache(label, journal.step) if lent else contextlib.nullcontext():
            results = await executor.arun(tasks, params=params.values())
    finally:  # journaled even when the run failed: those calls were paid
        if lent is not None:
            _journal_usage(journal, results, counter, before)
    return [to_pair(i, examples[i], r, params) for i, r in zip(indices, results, strict=True)]


@dataclass
class Lent:
    """What a remote fit lent its evaluation clients.

    Attributes:
        counter: the budget that counts every evaluation call, or None when there is no
            client or some client charges a budget of its own (then the journal reports what
            the results say they used).
        bare: the clients that had no cache: each executor run lends them a reply cache.
        folder: where those caches live (``RUN_DIR/eval_cache``); None without a run directory.
    """

    counter: Budget | None
    bare: list[Any]
    folder: Path | None
    caches: dict[str, ResponseCache] = field(default_factory=dict)

    @contextlib.contextmanager
    def cache(self, label: str, step: int) -> Iterator[None]:
        """Lend the bare clients the cache of ``label`` ("train", "val") for ``step``."""
        if self.folder is None or not self.bare:
            yield
            return
        cache = self._open(label, step)
        for client in self.bare:
            client._cache = cache  # private: clients have no public cache setter
        try:
            yield
        finally:
            for client in self.bare:
                client._cache = None

    def _open(self, label: str, step: int) -> ResponseCache:
        """One cache file per label, holding the replies of one step: a resumed step finds its
        paid replies there; a new step clears those of the last one (committed: never redone),
        so a request repeated across steps is sent again, as it is without a cache."""
        assert self.folder is not None
        if label not in self.caches:
            self.caches[label] = ResponseCache(self.folder / f"{label}.sqlite")
        cache, mark = self.caches[label], self.folder / f"{label}.step"
        if not mark.exists() or mark.read_text(encoding="utf-8").strip() != str(step):
            cache.clear()
            mark.write_text(str(step), encoding="utf-8")
        return cache

    def close(self) -> None:
        for cache in self.caches.values():
            cache.close()


@contextlib.contextmanager
def lend(clients: Sequence[Any], budget: Budget | None, folder: Path | None) -> Iterator[Lent]:
    """For the ``with`` block, give each client without a budget ``budget`` (a new unlimited
    one when None, so calls are still counted), and note those without a cache (each executor
    run lends them one in ``folder``: :meth:`Lent.cache`); then take the budgets back."""
    counter = budget if budget is not None else Budget()
    unique = list({id(c): c for c in clients}.values())
    saved = [(client, client.budget) for client in unique]
    for client in unique:
        if client.budget is None:
            client.budget = counter
    all_counted = bool(unique) and all(c.budget is counter for c in unique)
    lent = Lent(counter if all_counted else None, [c for c in unique if c.cache is None], folder)
    try:
        yield lent
    finally:
        for client, old_budget in saved:
            client.budget = old_budget
        lent.close()
