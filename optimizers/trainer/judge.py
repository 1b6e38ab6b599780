"""A model as the judge: grade an output against a rubric or a checklist, with reasons.

The model answers in a structured form (a pydantic model sent as the reply schema), so the
verdict is parsed and validated by the client layer, never scraped from prose. With a checklist
the score is computed here (the fraction of items passed), not taken from the model's word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from optimizers.trainer.cases import Case, Verdict
from tracegraph.errors import TracegraphError
from tracegraph.shorten import short_text

__all__ = ["ChecklistItem", "ChecklistVerdict", "LLMJudge", "RubricVerdict"]

_REASON_CHARS = 400  # keeps a small local model from looping inside a string


class RubricVerdict(BaseModel):
    """The judge's reply when grading against a rubric."""

    reasons: list[str] = Field(
        description="short reasons for the grade, most important first", max_length=6
    )
    score: float = Field(ge=0.0, le=1.0, description="grade between 0 (bad) and 1 (perfect)")


class ChecklistItem(BaseModel):
    """One checklist item as judged."""

    item: int = Field(ge=1, description="the item's number in the checklist")
    passed: bool
    reason: str = Field(max_length=_REASON_CHARS)


class ChecklistVerdict(BaseModel):
    """The judge's reply when grading against a checklist: one entry per item."""

    items: list[ChecklistItem]


class LLMJudge:
    """Grade each case with a model, against a rubric or a checklist.

    Args:
        llm: a client of the client layer (``complete``/``acomplete`` with ``schema=``).
        rubric: what a good output is, in words; the model grades 0..1 with reasons.
        checklist: items an output must satisfy; the score is the fraction passed.
        task: one sentence on what the workflow does, shown to the judge.
        show_target: include the example's target (a reference answer) in the question.

    Example:
        >>> judge = LLMJudge(llm=None, checklist=["is polite", "answers in one sentence"])
        >>> judge.mode
        'checklist'
    """

    def __init__(
        self,
        llm: Any,
        *,
        rubric: str | None = None,
        checklist: Sequence[str] | None = None,
        task: str = "",
        show_target: bool = True,
        label: str = "judge",
    ) -> None:
        if (rubric is None) == (checklist is None) or (checklist is not None and not checklist):
            raise TracegraphError(
                "LLMJudge needs exactly one of rubric='...' or checklist=[...] (non-empty); "
                f"got rubric={rubric!r}, checklist={checklist!r}"
            )
        self.llm = llm
        self.rubric = rubric
        self.checklist = list(checklist) if checklist is not None else None
        self.task = task
        self.show_target = show_target
        self.label = label
        self.__name__ = f"LLMJudge({self.mode})"

    @property
    def mode(self) -> str:
        return "rubric" if self.rubric is not None else "checklist"

    def messages(self, case: Case) -> list[dict[str, str]]:
        """The question put to the judge for one case (deterministic, so it caches)."""
        system = (
            "You are a strict grader of a program's outputs. Read the input and the output, "
            "judge only what is asked, and reply in the requested JSON form."
        )
        parts = []
        if self.task:
            parts.append(f"Task of the program: {self.task}")
        parts.append(f"Input:\n{short_text(case.input, 2000)}")
        if self.show_target and case.target is not None:
            parts.append(f"Reference answer:\n{short_text(case.target, 2000)}")
        parts.append(f"Output to grade:\n{short_text(case.value, 4000)}")
        if self.rubric is not None:
            parts.append(f"Rubric:\n{self.rubric}\n\nGive a score from 0 to 1 and short reasons.")
        else:
            assert self.checklist is not None
            items = "\n".join(f"{i}. {item}" for i, item in enumerate(self.checklist, 1))
            parts.append(
                f"Checklist:\n{items}\n\nFor every item give its number, whether the output "
                "passes it, and a short reason."
            )
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _verdict(self, parsed: Any) -> Verdict:
        if isinstance(parsed, RubricVerdict):
            return Verdict(
                score=parsed.score, text="\n".join(parsed.reasons), reasons=parsed.reasons
            )
        assert self.checklist is not None and isinstance(parsed, ChecklistVerdict)
        by_item = {entry.item: entry for entry in parsed.items}
        reasons: list[str] = []
        passed = 0
        for i, item in enumerate(self.checklist, 1):
            entry = by_item.get(i)
            if entry is None:
                reasons.append(f"FAILED {item}: the judge gave no verdict on this item")
            elif entry.passed:
                passed += 1
            else:
                reasons.append(f"FAILED {item}: {entry.reason}")
        score = passed / len(self.checklist)
        text = "\n".join(reasons) if reasons else "passes every checklist item"
        return Verdict(score=score, text=text, reasons=reasons)

    def _schema(self) -> type[BaseModel]:
        return RubricVerdict if self.rubric is not None else ChecklistVerdict

    async def ajudge(self, case: Case) -> Verdict:
        """Ask the model about one case (async)."""
        reply = await self.llm.acomplete(
            self.messages(case), schema=self._schema(), label=self.label
        )
        return self._verdict(reply.parsed)

    def __call__(self, case: Case) -> Verdict:
        """Ask the model about one case (sync)."""
        reply = self.llm.complete(self.messages(case), schema=self._schema(), label=self.label)
        return self._verdict(reply.parsed)
