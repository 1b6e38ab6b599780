"""The Trainer's settings in one object: what ``run.json`` records and a run config may override.

``Trainer(..., batch_size=8)`` keeps its keyword API; the keywords build a
:class:`TrainerSettings`, and everything that lists settings (``Trainer.config()`` for
``run.json``, the keys a TOML/JSON run config may set) reads them from its fields.

>>> TrainerSettings(batch_size=8).batch_size
8
>>> "quiet" in OVERRIDABLE and "quiet" not in RECORDED
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tracegraph.errors import TracegraphError

__all__ = ["OVERRIDABLE", "RECORDED", "TrainerSettings"]


@dataclass(frozen=True)
class TrainerSettings:
    """How a Trainer runs (see ``Trainer`` for what each one does)."""

    batch_size: int = 4
    epochs: int = 1
    concurrency: int = 4
    patience: int | None = 3
    min_delta: float = 0.0
    noise: float = 1.0
    seed: int = 0
    max_steps: int | None = None
    revert: bool = True
    quiet: bool = False  # how the run is shown, not what it does: not recorded in run.json

    def check(self, train_size: int) -> None:
        """Raise TracegraphError for settings no run can use."""
        if not train_size or self.batch_size < 1 or self.epochs < 1 or self.concurrency < 1:
            raise TracegraphError(
                f"Trainer needs a non-empty train set and batch_size, epochs, concurrency >= 1; "
                f"got {train_size} examples, batch_size={self.batch_size}, epochs={self.epochs}, "
                f"concurrency={self.concurrency}"
            )

    def recorded(self) -> dict[str, Any]:
        """The settings that ``run.json`` records, in field order."""
        return {name: getattr(self, name) for name in RECORDED}


#: Every setting a run config's ``[trainer]`` table may set.
OVERRIDABLE: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainerSettings))
#: The settings written to ``run.json`` (all but how the run is displayed).
RECORDED: tuple[str, ...] = tuple(name for name in OVERRIDABLE if name != "quiet")
