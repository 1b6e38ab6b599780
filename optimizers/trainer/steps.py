"""One step of a Trainer run: a minibatch, its feedback, backward, the optimizer, the decision.

:class:`StepLoop` holds the step half of :class:`~optimizers.trainer.trainer.Trainer` (which
keeps the settings, opening and resuming a run, and the loop around the steps): evaluate here or
on the executor, validate, send feedback backward, step the optimizer, accept or revert, and
commit the step folder and the checkpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optimizers.callbacks import CallbackList, scores_of
from optimizers.executors import find_params
from optimizers.trainer.cases import Case, Example, Verdict, mean_score
from optimizers.trainer.evaluate import Workflow, run_cases
from optimizers.trainer.journal import CallJournal, usage_to_dict
from optimizers.trainer.progress import ProgressView
from optimizers.trainer.records import (
    StepResult,
    rejection_rows,
    step_files,
    step_record,
    trace_files,
)
from optimizers.trainer.remote import Lent, evaluate
from optimizers.trainer.rundir import RunDir
from optimizers.trainer.selection import Decision, decide, stderr
from optimizers.trainer.state import TrainState, advance
from optimizers.trainer.values import same
from tracegraph.errors import TracegraphError

__all__ = ["StepLoop"]


class StepLoop:
    """The steps of a run; mixed into Trainer, whose attributes it reads."""

    train: list[Example]
    val: list[Example]
    seed: int
    batch_size: int
    concurrency: int
    min_delta: float
    noise: float
    revert: bool
    workflow: Workflow
    feedback: Any
    optimizer: Any
    executor: Any
    journal: CallJournal
    callbacks: CallbackList
    rundir: RunDir | None
    state: TrainState | None
    _view: ProgressView
    _lent: Lent | None

    if TYPE_CHECKING:  # defined by Trainer

        @property
        def steps_per_epoch(self) -> int: ...
        def values(self) -> dict[str, Any]: ...
        def _set_values(self, values: dict[str, Any]) -> None: ...
        def _hook(self, point: str, step: int) -> None: ...
        def _tell(self, method: str, *args: Any) -> None: ...

    # -- one step ------------------------------------------------------------------------------
    def _batch(self, step: int) -> tuple[int, list[int]]:
        epoch, pos = divmod(step - 1, self.steps_per_epoch)
        order = list(range(len(self.train)))
        random.Random(f"{self.seed}:{epoch}").shuffle(order)  # str seeds: same in every process
        return epoch, order[pos * self.batch_size : (pos + 1) * self.batch_size]

    async def _evaluate(
        self, examples: Sequence[Any], indices: Sequence[int], label: str
    ) -> list[tuple[Case, Verdict]]:
        """Run and judge the examples here (built-in path) or on the executor."""
        if self.executor is None:
            self._view.phase.start(label, len(indices))
            return await run_cases(
                self.workflow, self.feedback, examples, indices, concurrency=self.concurrency,
                on_case=self._view.phase.advance,
            )  # fmt: skip
        params = find_params(self.workflow, self.optimizer.params)
        return await evaluate(
            self.executor, self.workflow, self.feedback, examples, indices,
            params=params, journal=self.journal, lent=self._lent, label=label,
        )  # fmt: skip

    async def _validate(self) -> tuple[list[tuple[Case, Verdict]], list[float]]:
        pairs = await self._evaluate(self.val, range(len(self.val)), "val")
        mean_score([v for _, v in pairs])  # raises a clear error on a verdict without a score
        scores = [float(v.score) for _, v in pairs if v.score is not None]
        self._tell("on_validation", self.journal.step, scores)
        return pairs, scores

    async def _baseline(self) -> TrainState:
        self.journal.step = 0
        self._hook("step_start", 0)
        val, scores = await self._validate()
        values = self.values()
        state = TrainState(0, values, scores, 0, dict(values), list(scores))
        state.optimizer = self._optimizer_state()
        record = {
            "step": 0,
            "baseline": True,
            "val_score": state.score,
            "val_stderr": stderr(scores),
            "accepted": True,
            "best_score": state.score,
            "decision": "baseline: the starting parameters",
        }
        self._commit(state, StepResult(record, val, val=val))
        return state

    def _optimizer_state(self) -> dict[str, Any]:
        return self.optimizer.state_dict() if hasattr(self.optimizer, "state_dict") else {}

    async def _optimizer_step(self) -> Any:
        if hasattr(self.optimizer, "astep"):
            return await self.optimizer.astep()
        return await asyncio.to_thread(self.optimizer.step)

    def _backward(self, pairs: Sequence[tuple[Case, Verdict]]) -> None:
        from tracegraph.backward import backward

        for case, verdict in pairs:  # in example order, so the optimizer's input is stable
            if case.output is None:
                raise TracegraphError(
                    f"the workflow returned a plain value for example {case.index} "
                    f"({type(case.plain).__name__}); feedback needs the traced result. "
                    "Fix: return the Node the ops produced, not its .value"
                )
            backward(case.output, verdict.feedback())
            for node, fb in verdict.extra:
                backward(node, fb)

    async def _step(self, state: TrainState) -> TrainState:
        k = state.step + 1
        started = time.monotonic()
        self.journal.step = k
        self._hook("step_start", k)
        epoch, indices = self._batch(k)
        self.optimizer.zero_feedback()
        train = await self._evaluate(self.train, indices, "train")
        self._backward(train)
        traced = trace_files(train)
        self._view.phase.start("optimizer", 1)
        report = await self._optimizer_step()
        self._hook("after_apply", k)
        candidate = self.values()
        changed = not same(candidate, state.params)
        val, scores = await self._validate() if changed else (None, list(state.scores))
        decision = (
            decide(scores, state.best_scores, min_delta=self.min_delta, noise=self.noise)
            if changed
            else Decision(False, 0.0, 0.0, "rejected: the step changed no parameter")
        )
        keep_best = self.revert or not changed
        new = advance(state, k, candidate, scores, decision.accepted, keep_best=keep_best)
        if not decision.accepted and keep_best:
            self._set_values(state.best_params)
        if hasattr(self.optimizer, "record_score"):
            self.optimizer.record_score(sum(scores) / len(scores) if scores else 0.0)
        new.optimizer = self._optimizer_state()
        record = step_record(
            new, epoch, indices, train, scores, decision, report,
            usage=usage_to_dict(self.journal.step_usage(k)),
            total=usage_to_dict(self.journal.paid),
            seconds=time.monotonic() - started,
        )  # fmt: skip
        rejections = rejection_rows(report, decision.accepted, decision.reason, changed, candidate)
        result = StepResult(record, train, candidate, val, report, rejections, traced)
        self._commit(new, result)
        return new

    def _commit(self, state: TrainState, result: StepResult) -> None:
        k = state.step
        if self.rundir is not None:
            self.rundir.write_step(k, step_files(result, state.params))
            self._hook("before_checkpoint", k)
            self.rundir.write_checkpoint(
                state.to_dict(),
                journal_seq=self.journal.seq,
                before_rename=lambda: self._hook("during_checkpoint", k),
            )
            self._hook("after_checkpoint", k)
        self.state = state
        self._show(state, result.record.get("val_score"))
        if self.callbacks:
            paid = self.journal.paid
            scores = scores_of(k, result.record, state.best_step, self.journal.step_usage(k), paid)
            self._tell("on_step_end", result.report, scores)

    def _show(self, state: TrainState, score: float | None) -> None:
        paid = self.journal.paid
        self._view.phase.clear()
        self._view.update(
            step=state.step, score=score, best=state.best_score, calls=paid.calls, cost=paid.cost
        )
