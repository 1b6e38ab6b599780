"""Examples, the result of running the workflow on one (a :class:`Case`) and its :class:`Verdict`.

A feedback function takes a Case and returns a Verdict (or something that coerces to one: a
``tg.Feedback``, a number, a bool or a sentence). The trainer sends the verdict's feedback
backward from the case's output node, and any extra feedback to the intermediate nodes it names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracegraph.errors import FeedbackError, TracegraphError
from tracegraph.node import Feedback, Node
from tracegraph.shorten import short_text

__all__ = ["Case", "Example", "Verdict", "as_examples", "as_verdict"]


@dataclass(frozen=True)
class Example:
    """One item of a dataset: what the workflow is called with, and what it should produce."""

    input: Any
    target: Any = None


def as_examples(data: Iterable[Any], what: str = "train") -> list[Example]:
    """A dataset as Examples: accepts Examples, ``(input, target)`` pairs and
    ``{"input": ..., "target": ...}`` dicts.

    >>> as_examples([(1, 2), {"input": 3, "target": 4}])
    [Example(input=1, target=2), Example(input=3, target=4)]
    """
    out: list[Example] = []
    for i, item in enumerate(data):
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            out.append(Example(item[0], item[1]))
        elif isinstance(item, dict) and "input" in item:
            out.append(Example(item["input"], item.get("target")))
        else:
            raise TracegraphError(
                f"{what}[{i}] is {short_text(item, 80)}; expected an (input, target) pair, a "
                "{'input': ..., 'target': ...} dict or optimizers.trainer.Example(input, target)"
            )
    return out


@dataclass
class Case:
    """The workflow run on one example.

    ``output`` is the node the workflow returned, or the exception node when an op raised
    (then ``error`` is the ``tg.OpError``). ``value`` is the output's plain value (None on error).
    """

    index: int
    example: Example
    output: Node | None
    error: BaseException | None = None
    plain: Any = None  # the workflow's result when it returned a plain value, not a node

    @property
    def input(self) -> Any:
        return self.example.input

    @property
    def target(self) -> Any:
        return self.example.target

    @property
    def value(self) -> Any:
        if self.error is not None:
            return None
        if self.output is not None:
            return self.output.peek()  # read without recording: we are outside any op
        return self.plain


@dataclass
class Verdict:
    """What a feedback function says about one case.

    ``score`` is what the trainer compares candidates by (higher is better); ``text`` is what
    the optimizer reads; ``reasons`` itemise it; ``extra`` sends further feedback to intermediate
    nodes (for example a person's remark about a retrieval step).
    """

    score: float | None
    text: str = ""
    reasons: list[str] = field(default_factory=list)
    extra: list[tuple[Node, Feedback]] = field(default_factory=list)

    def feedback(self) -> Feedback:
        """The feedback sent backward from the case's output."""
        text = self.text
        if self.reasons and not text:
            text = "\n".join(f"- {r}" for r in self.reasons)
        return Feedback(text=text, score=self.score)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "text": self.text,
            "reasons": list(self.reasons),
            "extra": [{"node": n.name, "feedback": str(fb)} for n, fb in self.extra],
        }


def as_verdict(result: Any, source: str = "feedback function") -> Verdict:
    """Coerce what a feedback function returned into a Verdict.

    >>> as_verdict(True).score, as_verdict(0.5).score, as_verdict("too long").text
    (1.0, 0.5, 'too long')
    """
    if isinstance(result, Verdict):
        verdict = result
    elif isinstance(result, Feedback):
        verdict = Verdict(score=result.score, text=result.text)
    elif isinstance(result, bool):
        verdict = Verdict(score=1.0 if result else 0.0, text="correct" if result else "wrong")
    elif isinstance(result, (int, float)):
        verdict = Verdict(score=float(result))
    elif isinstance(result, str):
        verdict = Verdict(score=None, text=result)
    elif isinstance(result, tuple) and len(result) == 2:
        verdict = Verdict(score=float(result[0]), text=str(result[1]))
    else:
        raise FeedbackError(
            f"{source} returned {short_text(result, 80)} ({type(result).__name__}); expected a "
            "Verdict, tg.Feedback, a number, a bool, text or a (score, text) pair",
            fix="return optimizers.trainer.Verdict(score=..., text=...)",
        )
    if verdict.score is not None and not math.isfinite(verdict.score):
        raise FeedbackError(
            f"{source} returned the score {verdict.score!r}; expected a finite number"
        )
    return verdict


def mean_score(verdicts: Sequence[Verdict], source: str = "feedback function") -> float:
    """The mean score of verdicts; a verdict without a score is an error (nothing to compare)."""
    scores = []
    for v in verdicts:
        if v.score is None:
            raise FeedbackError(
                f"{source} gave feedback without a score ({short_text(v.text, 80)}); the trainer "
                "compares candidates by score on the validation set",
                fix="return tg.Feedback(text=..., score=...) or a Verdict with a score",
            )
        scores.append(v.score)
    return sum(scores) / len(scores) if scores else 0.0
