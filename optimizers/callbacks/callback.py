"""The callback protocol: what the Trainer tells your code; how a failing callback is reported."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optimizers.llm.types import Usage

if TYPE_CHECKING:
    from optimizers.algorithms.optimizer import StepReport
    from optimizers.trainer.state import FitResult
    from optimizers.trainer.trainer import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "CallbackWarning",
    "StepScores",
    "scores_of",
]

ERRORS_FILE = "callbacks.jsonl"


class CallbackWarning(UserWarning):
    """A callback raised; the run went on without it for that call."""


@dataclass(frozen=True)
class StepScores:
    """How a step scored, as a callback sees it (step 0 is the baseline).

    ``record`` is the step's whole ``step.json``; ``usage`` is this step's model usage,
    ``total`` the run's so far.
    """

    step: int
    train_score: float | None
    val_score: float | None
    best_score: float | None
    best_step: int | None
    accepted: bool
    usage: Usage
    total: Usage
    record: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The numbers worth plotting, by name (missing scores left out)."""
        found: dict[str, float | None] = {
            "train_score": self.train_score,
            "val_score": self.val_score,
            "best_score": self.best_score,
            "accepted": float(self.accepted),
            "calls": self.usage.calls,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "tokens": self.usage.total_tokens,
            "cost": self.usage.cost,
            "total_calls": self.total.calls,
            "total_tokens": self.total.total_tokens,
            "total_cost": self.total.cost,
        }
        return {k: float(v) for k, v in found.items() if v is not None}


def scores_of(
    step: int, record: dict[str, Any], best_step: int | None, usage: Usage, total: Usage
) -> StepScores:
    """The :class:`StepScores` of a step from its ``step.json`` record."""
    return StepScores(
        step=step,
        train_score=record.get("train_score"),
        val_score=record.get("val_score"),
        best_score=record.get("best_score"),
        best_step=record.get("best_step", best_step),
        accepted=bool(record.get("accepted")),
        usage=usage,
        total=total,
        record=record,
    )


class Callback:
    """Called by the Trainer; every method does nothing unless overridden."""

    def on_run_start(self, trainer: Trainer, *, resumed: bool) -> None:
        """The run opened (``resumed``: it continues from a checkpoint of ``trainer.rundir``)."""

    def on_validation(self, trainer: Trainer, step: int, scores: list[float]) -> None:
        """The parameters of ``step`` were scored on the validation set (one score each)."""

    def on_step_end(self, trainer: Trainer, report: StepReport | None, scores: StepScores) -> None:
        """Step ``scores.step`` was committed; ``report`` is the optimizer's (None: baseline)."""

    def on_run_end(self, trainer: Trainer, result: FitResult) -> None:
        """The run stopped (finished, early stop or budget) with ``result``."""


class CallbackList:
    """Calls every callback in order; a failing one is warned about and recorded, not raised."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        self.callbacks = list(callbacks)
        self.errors: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def call(self, trainer: Trainer, method: str, *args: Any, **kwargs: Any) -> None:
        """``callback.<method>(trainer, *args, **kwargs)`` for each callback, failures caught."""
        for callback in self.callbacks:
            try:
                getattr(callback, method)(trainer, *args, **kwargs)
            except Exception as exc:  # a logging hook must never kill a training run
                self._report(trainer, callback, method, exc)

    def _report(self, trainer: Trainer, callback: Callback, method: str, exc: Exception) -> None:
        error = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "callback": type(callback).__name__,
            "method": method,
            "step": trainer.journal.step,
            "error": f"{type(exc).__name__}: {exc}",
        }
        self.errors.append(error)
        warnings.warn(
            f"callback {error['callback']}.{method} failed at step {error['step']} "
            f"({error['error']}); the run goes on without it",
            CallbackWarning,
            stacklevel=2,
        )
        if trainer.rundir is not None and trainer.rundir.path.is_dir():
            with open(trainer.rundir.path / ERRORS_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(error, default=repr) + "\n")
