"""What a task family gives the suite: a :class:`Task` per seed, and the :class:`Family` itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optimizers.llm.types import LLMClient
from tracegraph.node import Node


@dataclass
class Episode:
    """One run of a task's workflow with the current parameter values.

    ``feedback`` pairs each output node with the text to send backward from it; ``score`` is
    higher-is-better; ``solved`` says whether the hidden target is reached.
    """

    feedback: list[tuple[Node, str]]
    score: float
    solved: bool


@dataclass
class Task:
    """One seeded instance of a family.

    Attributes:
        family: the family's name.
        name: this instance (e.g. ``number/target=27.3``).
        params: the trainable parameters, set to their starting values.
        run: runs the workflow, traced, with the parameters' current values.
        evaluate: the score of a value set ``{name: value}`` without touching the parameters or
            tracing (what ``BestOfN``/``BeamSearch`` call).
        held_out: measures held-out figures (e.g. test accuracy); ``None`` when the family has
            none. Called before and after the optimization.
        info: what describes the instance (target, start) for the results.
    """

    family: str
    name: str
    params: list[Node]
    run: Callable[[], Episode]
    evaluate: Callable[[dict[str, Any]], float]
    held_out: Callable[[], dict[str, float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A task family: ``make(seed, student)`` builds its instance for ``seed``.

    ``student`` is the task model of families whose workflow calls a model (``uses_model``);
    others ignore it. ``calibrate(student)``, where given, measures the family's reference
    figures (e.g. the accuracy of a short hand-written instruction) for the results file.
    """

    name: str
    letter: str
    description: str
    make: Callable[[int, LLMClient | None], Task]
    uses_model: bool = False
    calibrate: Callable[[LLMClient], dict[str, Any]] | None = None
