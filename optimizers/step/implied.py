"""Tests the feedback implies: a call whose feedback names the result it should have returned.

Unit-test feedback such as "slugify('Hello, World!') returned 'hello,-world!', expected
'hello-world'" is a test case: the call's recorded inputs and the expected result. Without a
score function (``evaluate=``), a proposed function is replayed on those inputs in its trial
(:func:`optimizers.step.trial.code_trial`, in the sandbox) and compared with the expected
results; the current code's recorded results are the baseline. A proposal that gets fewer of
them right than the current code is rejected with the cases it broke (:func:`regression`):
nothing that worked is lost to a rewrite, and the model is told which cases it broke. So is
one that turns the current code's exception into a wrong result and fixes nothing (a
placeholder that hides the error). A call whose feedback only says it is right ("= 'HI!':
correct", "passed") is a test too, with the result it returned as the expected one: a rewrite
that fixes the failing case and breaks a passing one does not count as a fix (the local model's
invert_mapping repairs did exactly that, step after step). The graph optimizer also uses the
counts to sample another repair when one does not help. Feedback on one field of a dict result
("phone '030 1234' is not digits only (expected '0301234')") is a test too: the dict with that
field as expected (:func:`optimizers.step.difference.expected_for`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from optimizers.step.difference import expected_for
from optimizers.step.trial import TrialResult, returned
from tracegraph.node import Node, NodeKind

__all__ = ["any_failing", "implied_tests", "improves", "passed", "regression"]

# a verdict that the result is right: the feedback ends in one, or says "is correct" / "passed"
_PASSED = re.compile(
    r"(?:\b(?:correct|right|passed|passes|pass|ok|okay)|\u2713|\u2714)\W*$"
    r"|\b(?:is|was|looks|are) (?:correct|right)\b|\b(?:test|check|case)s? pass(?:ed|es)?\b",
    re.IGNORECASE,
)
# ... and none of these anywhere (a verdict with a "but", or a wrong one)
_DOUBT = re.compile(
    r"\b(?:not|no|incorrect|wrong|fail\w*|error\w*|raised?|should|instead|but|expected|"
    r"missing|except|almost|partly|partially)\b|n't|\u2717|\u2718",
    re.IGNORECASE,
)


def implied_tests(code_param: Node, outputs: Sequence[tuple[Node, Any]]) -> list[tuple[Node, Any]]:
    """(call, expected result) for each output that is a call of ``code_param``'s function and
    whose feedback names the expected result ("expected <Python literal>", "== <literal>"), or
    says it is right (:func:`passed`: then the result it returned is the expected one)."""
    tests: list[tuple[Node, Any]] = []
    for output, feedback in outputs:
        if output.code_param is not code_param:
            continue
        if output.kind not in (NodeKind.CALL, NodeKind.EXCEPTION):
            continue
        found, want = expected_for(output.peek(), str(feedback))
        if found:
            tests.append((output, want))
        elif output.kind is NodeKind.CALL and passed(str(feedback)):
            tests.append((output, output.peek()))  # what works now must keep working
    return tests


def passed(feedback: str) -> bool:
    """Whether the feedback only says the result is right ("f(2) = 4: correct", "passed")."""
    text = feedback.strip()[:2000]
    return bool(_PASSED.search(text)) and not _DOUBT.search(text)


def any_failing(tests: Sequence[tuple[Node, Any]]) -> bool:
    """Whether the current code got one of the implied tests wrong (raised, or returned
    another result: the same comparison as the trial's baseline)."""
    return not all(returned(call, want) for call, want in tests)


def regression(result: TrialResult, tests: Sequence[tuple[Node, Any]] = ()) -> list[str]:
    """Why a proposal that passed its trial is still rejected: it gets fewer of the implied
    tests right than the current code, or no more of them while calls on which the current
    code raised now return a wrong result (the error hidden behind a placeholder, not fixed:
    the trial rejects a proposal that raises, so a small model's cheapest way past it is a
    ``try``/``except`` that returns something). Nothing when it helps or changes nothing."""
    if result.reasons or not result.compared:
        return []
    broke = "; ".join(result.failed[:3])
    if result.passed < result.baseline:
        return [
            f"it returns the expected result for {result.passed} of the {len(result.compared)} "
            f"calls whose feedback names one, the current code for {result.baseline}: {broke}"
        ]
    raised = sum(1 for call, _ in tests if call.kind is NodeKind.EXCEPTION)
    if raised and result.passed == result.baseline and result.failed:
        return [
            f"it returns a wrong result where the current code raised ({broke}): that hides "
            "the error instead of fixing it; return the expected result, or leave the error"
        ]
    return []


def improves(result: TrialResult | None) -> bool:
    """Whether a proposal passed its trial and got more implied tests right than the current
    code."""
    return result is not None and not result.reasons and result.passed > result.baseline
