"""Callbacks: code of yours that the Trainer calls at the start and end of a run and of each step.

Subclass :class:`Callback`, override the methods you need, and pass instances to
``Trainer(..., callbacks=[...])``. A callback that raises is reported (a
:class:`CallbackWarning`, a line in the run directory's ``callbacks.jsonl``, and
``trainer.callbacks.errors``); the run goes on as if the callback had not been there.

>>> from optimizers.callbacks import Callback
>>> class Printer(Callback):
...     def on_step_end(self, trainer, report, scores):
...         print(scores.step, scores.val_score)

Built in: :class:`~optimizers.callbacks.mlflow.MLflowCallback` (needs ``tracegraph[mlflow]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimizers.callbacks.callback import (
    Callback,
    CallbackList,
    CallbackWarning,
    StepScores,
    scores_of,
)

if TYPE_CHECKING:
    from optimizers.callbacks.mlflow import MLflowCallback

__all__ = [
    "Callback",
    "CallbackList",
    "CallbackWarning",
    "MLflowCallback",
    "StepScores",
    "scores_of",
]


def __getattr__(name: str) -> Any:
    # MLflowCallback's module imports mlflow only when a run starts; still, load it on demand.
    if name == "MLflowCallback":
        from optimizers.callbacks.mlflow import MLflowCallback

        return MLflowCallback
    raise AttributeError(f"module 'optimizers.callbacks' has no attribute {name!r}")
