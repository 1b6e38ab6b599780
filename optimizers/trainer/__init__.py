"""Training over datasets: the Trainer, feedback functions, the run directory.

>>> from optimizers.trainer import Trainer, exact_match, RunDir
"""

from __future__ import annotations

from optimizers.trainer.cases import Case, Example, Verdict
from optimizers.trainer.feedback import (
    HumanFeedback,
    LLMJudge,
    exact_match,
    exception_feedback,
    score_fn,
    unit_tests,
)
from optimizers.trainer.rundir import FORMAT_VERSION, RunDir, RunDirError
from optimizers.trainer.selection import decide
from optimizers.trainer.state import FitResult, TrainState
from optimizers.trainer.trainer import Hook, Trainer

__all__ = [
    "FORMAT_VERSION",
    "Case",
    "Example",
    "FitResult",
    "Hook",
    "HumanFeedback",
    "LLMJudge",
    "RunDir",
    "RunDirError",
    "TrainState",
    "Trainer",
    "Verdict",
    "decide",
    "exact_match",
    "exception_feedback",
    "score_fn",
    "unit_tests",
]
