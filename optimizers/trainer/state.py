"""The trainer's state between steps (what a checkpoint holds) and the result of a fit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from optimizers.llm.types import Usage

__all__ = ["FitResult", "TrainState", "advance"]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class TrainState:
    """Everything needed to continue a run after step ``step``, in plain JSON data.

    ``params``/``scores`` are the current parameter values and their validation scores (one
    per validation example); ``best_*`` the best so far; ``stale`` the steps since the best
    improved; ``status`` is ``running``, ``finished``, ``early_stop`` or ``budget``.
    """

    step: int
    params: dict[str, Any]
    scores: list[float]
    best_step: int
    best_params: dict[str, Any]
    best_scores: list[float]
    stale: int = 0
    status: str = "running"
    reason: str = ""
    optimizer: dict[str, Any] = field(default_factory=dict)

    @property
    def best_score(self) -> float | None:
        return _mean(self.best_scores)

    @property
    def score(self) -> float | None:
        return _mean(self.scores)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["best_score"] = self.best_score
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def advance(
    state: TrainState,
    step: int,
    candidate: dict[str, Any],
    scores: list[float],
    accepted: bool,
    *,
    keep_best: bool,
) -> TrainState:
    """The state after ``step``: the candidate becomes the best when accepted; otherwise the
    current values are the best (``keep_best``) or the candidate (exploring on)."""
    if accepted:
        return TrainState(step, candidate, scores, step, dict(candidate), list(scores), 0)
    current, cur_scores = (
        (dict(state.best_params), list(state.best_scores)) if keep_best else (candidate, scores)
    )
    return TrainState(
        step, current, cur_scores, state.best_step, dict(state.best_params),
        list(state.best_scores), state.stale + 1,
    )  # fmt: skip


@dataclass(frozen=True)
class FitResult:
    """What ``Trainer.fit()`` returns: how the run ended and the best parameters found."""

    status: str
    reason: str
    steps: int
    best_step: int | None
    best_score: float | None
    best_params: dict[str, Any]
    usage: Usage
    run_dir: Path | None

    def _repr_html_(self) -> str:
        """In a notebook: how the run ended, its usage, the learning curve, how to look in."""
        from optimizers.view.notebook import fit_html

        return fit_html(self)
