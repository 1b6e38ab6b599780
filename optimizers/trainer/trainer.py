"""The Trainer: minibatches, feedback, backward, one optimizer step, validation, keep the best.

One step::

    run the workflow on a minibatch (concurrently) -> judge each output -> backward
    -> optimizer.astep() (validates and applies all of its updates, or none)
    -> score the candidate on the validation set -> accept only beyond noise, else revert
    -> write the step folder -> commit the checkpoint (atomic rename)

The checkpoint is the commit point: a step is done when its checkpoint is renamed into place.
Whatever happened after the previous checkpoint is redone on resume, with its model calls
served from the run's call journal, so nothing is paid twice and no step is lost or repeated.
A :class:`~optimizers.errors.BudgetExceeded` raised by any call stops the run cleanly: the
parameters and the optimizer go back to the last checkpoint (the step never half-applies).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from optimizers.callbacks import Callback, CallbackList
from optimizers.errors import BudgetExceeded, refuse_running_loop
from optimizers.executors import LocalExecutor
from optimizers.llm.budget import budget as budget_scope
from optimizers.trainer.cases import as_examples
from optimizers.trainer.checkpoint import validated_state
from optimizers.trainer.evaluate import Workflow
from optimizers.trainer.journal import CallJournal
from optimizers.trainer.progress import ProgressView, StepPhase
from optimizers.trainer.remote import Lent, lend, make_executor
from optimizers.trainer.report import write_at_end
from optimizers.trainer.rundir import RunDir, RunDirError
from optimizers.trainer.settings import RECORDED, TrainerSettings
from optimizers.trainer.state import FitResult, TrainState
from optimizers.trainer.steps import StepLoop
from optimizers.trainer.values import ParamSet
from tracegraph.errors import TracegraphError
from tracegraph.module import refuse_code
from tracegraph.params import ParamType

__all__ = ["Hook", "Trainer"]

#: ``hook(point, step)``; points: step_start, before_call, after_call, after_apply,
#: before_checkpoint, during_checkpoint (temp file written, not yet renamed), after_checkpoint.
Hook = Callable[[str, int], None]


class Trainer(StepLoop):
    """Optimize a workflow's parameters over a dataset.

    Args:
        workflow: ``workflow(input) -> Node`` (sync or async); the traced output is judged.
        optimizer: an optimizer of this package (``params``, ``zero_feedback``, ``astep``,
            ``state_dict``/``load_state_dict``, ``record_score``).
        train: examples: ``(input, target)`` pairs, ``{"input", "target"}`` dicts or Examples.
        val: validation examples (default: the training set) scored after every step.
        feedback: a feedback function (see ``optimizers.trainer.feedback``).
        batch_size, epochs: minibatch size; passes over ``train`` (shuffled per epoch by seed).
        concurrency: most examples in flight at once.
        budget: an ``optimizers.Budget`` charged with every call of the run's clients.
        run_dir: where the run is recorded; None keeps nothing (and cannot resume).
        patience: stop after this many steps without improvement (None: never).
        min_delta, noise: a candidate must beat the best by more than
            ``max(min_delta, noise * standard error of the paired differences)``.
        revert: after a rejected step, go back to the best parameters (else keep exploring
            from the candidate; the best are restored at the end either way).
        clients: more model clients to journal and charge (the optimizer's ``llm`` and the
            feedback's ``llm`` are included automatically), e.g. the workflow's own client.
        quiet: no progress bar.
        executor: where the examples are evaluated: None or ``"local"`` (this process, the
            default), ``"ray"``, ``"ray://host:port"``, or an ``optimizers.executors`` executor
            object (closed when ``fit`` returns). See docs/ray.md.
        hook: called at named points of a step (tests inject crashes there).
        callbacks: :class:`optimizers.callbacks.Callback` objects told of the run's start,
            each validation, each committed step and the end; one that raises is reported
            (warning, ``RUN_DIR/callbacks.jsonl``), never stops the run.
        isolate_code: while the run lasts, a trainable function whose code a model changed
            runs in a sandboxed worker (``@tg.trainable(isolated=True)``'s), so candidates
            are scored isolated; its original source still runs in this process. False runs
            model-written code here (only for code you would run unread).
    """

    def __init__(
        self,
        workflow: Workflow,
        optimizer: Any,
        *,
        train: Iterable[Any],
        feedback: Any,
        val: Iterable[Any] | None = None,
        batch_size: int = 4,
        epochs: int = 1,
        concurrency: int = 4,
        budget: Any = None,
        run_dir: str | Path | None = None,
        patience: int | None = 3,
        min_delta: float = 0.0,
        noise: float = 1.0,
        seed: int = 0,
        max_steps: int | None = None,
        revert: bool = True,
        clients: Sequence[Any] = (),
        quiet: bool = False,
        hook: Hook | None = None,
        executor: Any = None,
        callbacks: Sequence[Callback] = (),
        isolate_code: bool = True,
    ) -> None:
        self.workflow, self.optimizer, self.feedback = workflow, optimizer, feedback
        self.isolate_code = isolate_code
        self.train = as_examples(train, "train")
        self.val = as_examples(val, "val") if val is not None else self.train
        self.use_settings(TrainerSettings(
            batch_size, epochs, concurrency, patience, min_delta, noise, seed, max_steps, revert,
            quiet,
        ))  # fmt: skip
        self.budget = budget
        self.rundir = RunDir(run_dir) if run_dir is not None else None
        self.hook = hook
        # None: the built-in path (evaluate.run_cases); otherwise the executor seam.
        self.executor, self._executor_name = make_executor(executor, concurrency)
        self._lent: Lent | None = None  # what a remote fit lent the evaluation clients
        self.source: dict[str, Any] | None = None  # how to rebuild this trainer (set by the CLI)
        self.clients = list(clients)
        self.state: TrainState | None = None
        self._params = ParamSet(optimizer)
        self._view = ProgressView(0, quiet=True)
        self._pending_note: str | None = None
        self.journal = CallJournal(None)
        self.callbacks = CallbackList(callbacks)

    # -- configuration -------------------------------------------------------------------------
    def use_settings(self, settings: TrainerSettings) -> None:
        """Run with ``settings`` (checked first); they are also read as ``self.batch_size``..."""
        settings.check(len(self.train))
        self.settings = st = settings
        self.batch_size, self.epochs, self.concurrency = st.batch_size, st.epochs, st.concurrency
        self.patience, self.seed, self.revert = st.patience, st.seed, st.revert
        self.min_delta, self.noise, self.max_steps, self.quiet = (
            st.min_delta, st.noise, st.max_steps, st.quiet,
        )  # fmt: skip

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.batch_size)

    @property
    def total_steps(self) -> int:
        total = self.epochs * self.steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)

    def config(self) -> dict[str, Any]:
        """The run's settings, as written to ``run.json``."""
        return {
            **{name: getattr(self, name) for name in RECORDED},
            "train_size": len(self.train),
            "val_size": len(self.val),
            "total_steps": self.total_steps,
            "executor": self._executor_name,
        }

    def _run_file(self) -> dict[str, Any]:
        return {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": self.config(),
            "params": self._params.describe(),
            "optimizer": type(self.optimizer).__name__,
            "workflow": getattr(self.workflow, "__qualname__", repr(self.workflow)),
            "source": self.source,
        }

    # -- parameter values ----------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The current value of every trained parameter, by name."""
        return self._params.values()

    def _set_values(self, values: dict[str, Any]) -> None:
        self._params.set(values)

    def _tell(self, method: str, *args: Any) -> None:
        """Tell the callbacks (``callback.<method>(self, *args)``)."""
        self.callbacks.call(self, method, *args)

    def _hook(self, point: str, step: int) -> None:
        if self.hook is not None:
            self.hook(point, step)

    # -- running -------------------------------------------------------------------------------
    def fit(self, *, resume: bool = False, allow_code: bool = False) -> FitResult:
        """Train until the steps run out, patience runs out, or the budget does.

        ``resume=True`` continues the run in ``run_dir`` from its last checkpoint. A checkpoint
        whose code parameters differ from the script's code is refused (the error shows the
        code) unless ``allow_code=True``: code read from disk runs only when asked for.
        """
        refuse_running_loop("Trainer.fit()", "await trainer.afit()")
        return asyncio.run(self.afit(resume=resume, allow_code=allow_code))

    async def afit(self, *, resume: bool = False, allow_code: bool = False) -> FitResult:
        """Async twin of :meth:`fit`. One process at a time runs a run directory: its lock is
        held from opening to the end (a second process gets a RunDirError naming the first)."""
        with self.rundir.lock(create=not resume) if self.rundir else contextlib.nullcontext():
            return await self._afit(resume, allow_code)

    async def _afit(self, resume: bool, allow_code: bool) -> FitResult:
        state = self._open(resume, allow_code)
        self.callbacks.call(self, "on_run_start", resumed=resume)
        try:
            view = ProgressView(
                self.total_steps, quiet=self.quiet, start=state.step if state else 0,
                phase=StepPhase(lambda: self.journal.in_flight),
            )  # fmt: skip
            with view, self._lending(), self._budget_scope(), self._isolating():
                self._view = view
                if self._pending_note:
                    view.note(self._pending_note)
                if state is not None:  # a resumed run shows where it is, not step 0
                    self._show(state, state.score)
                state = await self._loop(state)
                if self.rundir is not None:  # the report, and the line that names it last
                    report = write_at_end(self.rundir)
                    shown = f"; report: {report}" if report else ""
                    view.finish(f"look into it: tracegraph view {self.rundir.path}{shown}")
        finally:
            self.journal.detach()
            if self.executor is not None:
                self.executor.close()
        self.state = state
        if state is not None:
            self._set_values(state.best_params)
        result = self._result(state)
        self.callbacks.call(self, "on_run_end", result)
        return result

    async def _loop(self, state: TrainState | None) -> TrainState | None:
        try:
            if state is None:
                state = await self._baseline()
            while (why := self._stop_reason(state)) is None:
                state = await self._step(state)
        except BudgetExceeded as exc:
            return self._stop(state, "budget", f"budget exhausted: {exc}".splitlines()[0])
        return self._stop(state, why, _WHY[why])

    @contextlib.contextmanager
    def _isolating(self) -> Iterator[None]:
        """Mark the code parameters so that model-written code runs isolated while we run."""
        marked = [
            p
            for p in self._params.by_name.values()
            if self.isolate_code and p.spec is not None and p.spec.type is ParamType.CODE
            and "isolate" not in p.meta
        ]  # fmt: skip
        for p in marked:
            p.meta["isolate"] = "changed"
        try:
            yield
        finally:
            for p in marked:
                p.meta.pop("isolate", None)

    @contextlib.contextmanager
    def _lending(self) -> Iterator[None]:
        """On a remote executor, lend the evaluation clients (``clients=`` and the feedback's
        ``llm``) the run's budget and cache: see ``optimizers.trainer.remote``."""
        if self.executor is None or isinstance(self.executor, LocalExecutor):
            yield
            return
        found = (*self.clients, getattr(self.feedback, "llm", None))
        folder = self.rundir.path / "eval_cache" if self.rundir is not None else None
        with lend([c for c in found if c is not None], self.budget, folder) as self._lent:
            try:
                yield
            finally:
                self._lent = None

    def _budget_scope(self) -> contextlib.AbstractContextManager[Any]:
        """The run's budget, active for every client called during the run (the workflow's
        own ones too, listed in ``clients=`` or not): see ``optimizers.budget``."""
        return budget_scope(self.budget) if self.budget is not None else contextlib.nullcontext()

    def _stop_reason(self, state: TrainState) -> str | None:
        if state.step >= self.total_steps:
            return "finished"
        if self.patience is not None and state.stale >= self.patience:
            return "early_stop"
        if self.budget is not None and self.budget.exhausted():
            return "budget"
        return None

    def _stop(self, state: TrainState | None, status: str, reason: str) -> TrainState | None:
        self._view.finish(f"stopped after step {state.step if state else 0}: {reason}")
        if state is None:  # the budget ran out before the baseline was scored
            return None
        self._restore(state)  # undo a half-done step: back to the last commit
        state.status, state.reason = status, reason
        if self.rundir is not None:
            self.rundir.write_checkpoint(state.to_dict(), journal_seq=self.journal.seq)
        return state

    def _result(self, state: TrainState | None) -> FitResult:
        return FitResult(
            status=state.status if state else "budget",
            reason=state.reason if state else "budget exhausted before the baseline",
            steps=state.step if state else 0,
            best_step=state.best_step if state else None,
            best_score=state.best_score if state else None,
            best_params=dict(state.best_params) if state else self.values(),
            usage=self.journal.paid,
            run_dir=self.rundir.path if self.rundir else None,
        )

    # -- opening a run -------------------------------------------------------------------------
    def _open(self, resume: bool, allow_code: bool = False) -> TrainState | None:
        path = self.rundir.journal_path if self.rundir else None
        self.journal = CallJournal(path, budget=self.budget, hook=self.hook)
        state = self._resume(allow_code) if resume else None
        if not resume:
            self._create()
        for client in self._run_clients():
            self.journal.attach(client)
        return state

    def _run_clients(self) -> list[Any]:
        """The clients whose calls the run journals and charges (looked up when it starts)."""
        if getattr(self.optimizer, "llm", False) is None:
            from optimizers.llm import default_client

            self.optimizer.llm = default_client()  # what its first step would do, journaled now
        found = [*self.clients, getattr(self.optimizer, "llm", None)]
        found.append(getattr(self.feedback, "llm", None))
        return [c for c in found if c is not None]

    def _create(self) -> None:
        if self.rundir is not None:
            self.rundir.create(self._run_file())

    def _resume(self, allow_code: bool = False) -> TrainState | None:
        if self.rundir is None:
            raise TracegraphError("resume needs a run_dir: Trainer(..., run_dir='runs/NAME')")
        run = self.rundir.read_run()
        names = sorted(p["name"] for p in run.get("params", []))
        if names != self._params.names():
            raise RunDirError(
                f"the run at {self.rundir.path} trained parameters {names}, but this trainer has "
                f"{self._params.names()}. Fix: resume with the script that started the run"
            )
        ckpt = self.rundir.read_checkpoint()
        foreign = self._params.foreign_code(ckpt) if ckpt and not allow_code else {}
        if foreign:
            raise refuse_code(
                f"the checkpoint of {self.rundir.path}", foreign,
                "trainer.fit(resume=True, allow_code=True), or `tracegraph resume --allow-code`",
            )  # fmt: skip
        fresh = self._optimizer_state() if hasattr(self.optimizer, "state_dict") else None
        state = None if ckpt is None else validated_state(
            ckpt, self.rundir, names=self._params.names(), total_steps=self.total_steps,
            val_size=len(self.val), optimizer_state=fresh,
        )  # fmt: skip
        committed = state.step if state else -1
        self.rundir.discard_uncommitted(committed)
        replayable = self.journal.load(committed)
        if state is None:
            return None
        try:
            self._restore(state)
        except TracegraphError as exc:  # a value edited into one its parameter refuses
            raise RunDirError(f"the checkpoint's values do not fit the parameters: {exc}") from None
        self._pending_note = (
            f"resuming {self.rundir.path} after step {committed}; "
            f"{replayable} recorded calls can be replayed free"
        )
        return state

    def _restore(self, state: TrainState) -> None:
        self._set_values(state.params)
        if state.optimizer and hasattr(self.optimizer, "load_state_dict"):
            self.optimizer.load_state_dict(state.optimizer)


_WHY = {
    "finished": "all steps done",
    "early_stop": "no improvement for `patience` steps",
    "budget": "budget exhausted at the end of a step",
}
