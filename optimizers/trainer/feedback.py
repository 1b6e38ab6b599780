"""Feedback functions: how a case's output is judged, as a score and as words for the optimizer.

A feedback function is any callable ``fn(case) -> Verdict | tg.Feedback | float | bool | str``,
sync or async, or an object with ``async ajudge(case)``. Ready-made ones:

- :func:`exact_match` — score 1 or 0 and "expected X, got Y";
- :func:`score_fn` — wrap ``fn(output, target) -> score`` (or ``(score, text)``);
- :func:`unit_tests` — named checks on the output (code under test, or its result);
- :func:`exception_feedback` — used automatically when the workflow raised inside an op: the
  feedback lands on the exception node, so the optimizer sees the failing line;
- :class:`LLMJudge` — a model grades against a rubric or a checklist (structured verdict);
- :class:`HumanFeedback` — a person answers in the terminal, optionally about an intermediate node.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

from optimizers.executors.executor import call_in_thread
from optimizers.trainer.cases import Case, Verdict, as_verdict
from optimizers.trainer.human import HumanFeedback
from optimizers.trainer.judge import LLMJudge
from tracegraph.shorten import short_text

__all__ = [
    "HumanFeedback",
    "LLMJudge",
    "exact_match",
    "exception_feedback",
    "judge_case",
    "score_fn",
    "unit_tests",
]


def _normal(value: Any, strip: bool, case_sensitive: bool) -> Any:
    if isinstance(value, str):
        if strip:
            value = " ".join(value.split())
        if not case_sensitive:
            value = value.casefold()
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_numbers(got: Any, want: Any) -> tuple[float, float] | None:
    """A number and a text that reads as a number, as two numbers (else None)."""
    pair = (got, want) if _number(got) else (want, got)
    if not (_number(pair[0]) and isinstance(pair[1], str)):
        return None
    try:
        return float(pair[0]), float(pair[1].strip())
    except ValueError:
        return None


def exact_match(*, strip: bool = True, case_sensitive: bool = False) -> Callable[[Case], Verdict]:
    """Score 1 when the output equals the target, else 0 with "expected ..., got ...".

    Text is compared with runs of whitespace collapsed and, unless ``case_sensitive``, casefolded.
    A number and a text compare as numbers when the text reads as one (a dataset's label ``"7"``
    matches an output ``7`` or ``7.0``); otherwise values of different types never match, and the
    verdict names both types so the mismatch is not mistaken for a wrong answer.

    >>> from optimizers.trainer.cases import Example
    >>> exact_match()(Case(0, Example("q", "Paris"), None, plain=" paris")).score
    1.0
    >>> exact_match()(Case(0, Example("q", "7"), None, plain=7)).score
    1.0
    >>> exact_match()(Case(0, Example("q", "7"), None, plain=[7])).text
    "expected the str '7', got the list [7]"
    """

    def judge(case: Case) -> Verdict:
        got, want = case.value, case.target
        numbers = _as_numbers(got, want)
        if numbers is not None and numbers[0] == numbers[1]:
            return Verdict(score=1.0, text="correct")
        if _normal(got, strip, case_sensitive) == _normal(want, strip, case_sensitive):
            return Verdict(score=1.0, text="correct")
        shown_want, shown_got = short_text(repr(want), 200), short_text(repr(got), 200)
        if type(got) is not type(want) and numbers is None:
            kinds = type(want).__name__, type(got).__name__
            text = f"expected the {kinds[0]} {shown_want}, got the {kinds[1]} {shown_got}"
            return Verdict(score=0.0, text=text)
        return Verdict(score=0.0, text=f"expected {shown_want}, got {shown_got}")

    judge.__name__ = "exact_match"
    return judge


def score_fn(
    fn: Callable[[Any, Any], float | bool | tuple[float, str]], *, name: str | None = None
) -> Callable[[Case], Verdict]:
    """Wrap ``fn(output_value, target)`` returning a score, a bool or ``(score, text)``.

    >>> from optimizers.trainer.cases import Example
    >>> f = score_fn(lambda out, want: (-abs(out - want), "larger" if out < want else "smaller"))
    >>> f(Case(0, Example(None, 10), None, plain=4)).text
    'larger'
    """
    label = str(name or getattr(fn, "__name__", "score function"))

    def judge(case: Case) -> Verdict:
        return as_verdict(fn(case.value, case.target), label)

    judge.__name__ = label
    return judge


def unit_tests(checks: Mapping[str, Callable[[Any, Any], object]]) -> Callable[[Case], Verdict]:
    """Run named checks ``check(output_value, target)`` that raise (usually AssertionError) on
    failure. The score is the fraction that passed; the text names each failure and its message.

    >>> from optimizers.trainer.cases import Example
    >>> def positive(out, _):
    ...     assert out > 0, f"got {out}"
    >>> unit_tests({"positive": positive})(Case(0, Example(None), None, plain=-1)).text
    '1 of 1 checks failed:\\n- positive: AssertionError: got -1'
    """

    def judge(case: Case) -> Verdict:
        failures: list[str] = []
        for name, check in checks.items():
            try:
                check(case.value, case.target)
            except Exception as exc:  # any failure of a check is feedback, never a crash
                failures.append(f"{name}: {type(exc).__name__}: {exc}".rstrip(": "))
        passed = len(checks) - len(failures)
        score = passed / len(checks) if checks else 1.0
        if not failures:
            return Verdict(score=score, text=f"all {len(checks)} checks passed")
        text = f"{len(failures)} of {len(checks)} checks failed:\n" + "\n".join(
            f"- {f}" for f in failures
        )
        return Verdict(score=score, text=text, reasons=failures)

    judge.__name__ = "unit_tests"
    return judge


def exception_feedback(case: Case, *, score: float = 0.0) -> Verdict:
    """Feedback for a case whose workflow raised: the exception, where, and the failing source.

    The trainer sends it backward from the exception node (``case.output``), whose parents
    include the code parameter when the failing op is trainable.
    """
    exc = case.error
    info = case.output.meta.get("exception") if case.output is not None else None
    kind = getattr(info, "type", None) or (type(exc.__cause__ or exc).__name__ if exc else "error")
    message = getattr(info, "message", None) or (str(exc.__cause__ or exc) if exc else "")
    lines = [f"The workflow raised {kind}: {message}"]
    where = f"{getattr(info, 'file', '')}:{getattr(info, 'line', '')}"
    if info is not None and where != ":":
        lines.append(f"at {where}")
    source = getattr(info, "source", None)
    if source:
        lines.append(str(source))
    elif exc is not None and info is None:
        lines.append("".join(traceback.format_exception_only(type(exc), exc)).strip())
    return Verdict(score=score, text="\n".join(lines), reasons=[f"{kind}: {message}"])


async def judge_case(fn: Any, case: Case, pool: Executor | None = None) -> Verdict:
    """Apply a feedback function to a case; exceptions in the workflow get exception feedback.

    Sync functions run in a worker thread so a slow one (a person, a sync model call) does not
    block the other cases.
    """
    if case.error is not None and not getattr(fn, "handles_errors", False):
        return exception_feedback(case)
    name = getattr(fn, "__name__", type(fn).__name__)
    if hasattr(fn, "ajudge"):
        result = await fn.ajudge(case)
    else:
        result = await call_in_thread(fn, case, pool)
    return as_verdict(result, name)
