"""Feedback functions: matches, scores, unit tests, exceptions, a model judge, a person."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracegraph as tg
from optimizers import GraphOptimizer, ReplyParseError, ScriptedClient
from optimizers.trainer import (
    Case,
    Example,
    HumanFeedback,
    LLMJudge,
    Trainer,
    Verdict,
    exact_match,
    score_fn,
    unit_tests,
)
from optimizers.trainer.cases import as_examples, as_verdict
from optimizers.trainer.feedback import judge_case
from tests.optimizers.trainer.tasks import updates
from tracegraph.errors import FeedbackError, TracegraphError


def case(value: Any, target: Any = None, inp: Any = "q") -> Case:
    return Case(0, Example(inp, target), None, plain=value)


@given(st.text(max_size=20))
def test_exact_match_ignores_case_and_spacing_but_not_content(text: str) -> None:
    judge = exact_match()
    assert judge(case(f"  {text.upper()} ", text)).score == (
        1.0 if " ".join(text.upper().split()).casefold() == " ".join(text.split()).casefold()
        else 0.0
    )  # fmt: skip
    assert exact_match(case_sensitive=True)(case(text + "x", text)).score == 0.0


def test_exact_match_says_what_was_expected() -> None:
    verdict = exact_match()(case("Lyon", "Paris"))
    assert verdict.score == 0.0 and verdict.text == "expected 'Paris', got 'Lyon'"


@pytest.mark.parametrize(
    ("got", "want", "score"),
    [(7, "7", 1.0), (7.0, "7", 1.0), (" 7 ", 7, 1.0), ("7", 7.5, 0.0), (8, "7", 0.0)],
)
def test_exact_match_compares_a_number_and_a_text_as_numbers(
    got: object, want: object, score: float
) -> None:
    # Issue 10, 7(g): "expected '7', got 7" and score 0 for the same answer.
    assert exact_match()(case(got, want)).score == score


def test_exact_match_names_the_types_when_they_cannot_match() -> None:
    verdict = exact_match()(case(None, "7"))
    assert verdict.score == 0.0 and verdict.text == "expected the str '7', got the NoneType None"
    assert exact_match()(case(True, "True")).text == "expected the str 'True', got the bool True"
    assert exact_match()(case(8, "7")).text == "expected '7', got 8"  # both read as numbers


def test_score_fn_takes_numbers_bools_and_pairs() -> None:
    assert score_fn(lambda o, t: o == t)(case(1, 1)).score == 1.0
    pair = score_fn(lambda o, t: (0.25, "close"))(case(1, 2))
    assert (pair.score, pair.text) == (0.25, "close")
    with pytest.raises(FeedbackError, match="finite"):
        score_fn(lambda o, t: float("nan"))(case(1, 2))


def test_unit_tests_score_the_fraction_passed_and_name_the_failures() -> None:
    def is_sorted(out: list[int], _: Any) -> None:
        assert out == sorted(out), f"{out} is not sorted"

    def same_length(out: list[int], target: list[int]) -> None:
        assert len(out) == len(target)

    def no_crash(out: list[int], _: Any) -> None:
        out.index(99)

    verdict = unit_tests({"sorted": is_sorted, "length": same_length, "has 99": no_crash})(
        case([3, 1], [1, 3])
    )
    assert verdict.score == pytest.approx(1 / 3)
    assert "sorted: AssertionError: [3, 1] is not sorted" in verdict.text
    assert "has 99: ValueError" in verdict.text and "length" not in verdict.text


def test_coercion_errors_say_what_to_return() -> None:
    with pytest.raises(FeedbackError, match="expected a Verdict"):
        as_verdict(object())
    with pytest.raises(TracegraphError, match=r"train\[1\]"):
        as_examples([(1, 2), [1, 2, 3]])


async def test_an_op_error_gets_exception_feedback_naming_the_failure() -> None:
    @tg.op
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    with pytest.raises(tg.OpError) as info:
        divide(tg.node(1.0, name="a"), tg.node(0.0, name="b"))
    failed = Case(0, Example(None), info.value.node, error=info.value)
    verdict = await judge_case(exact_match(), failed)
    assert verdict.score == 0.0 and "ZeroDivisionError" in verdict.text
    assert "a / b" in verdict.text  # the failing source line is shown


# -- the model judge ------------------------------------------------------------------------
def test_rubric_judge_returns_the_models_score_and_reasons() -> None:
    llm = ScriptedClient([json.dumps({"reasons": ["too long", "no number"], "score": 0.3})])
    judge = LLMJudge(llm, rubric="A good answer is one short sentence with the number.")
    verdict = judge(case("It is probably around four or so.", "4", "2+2?"))
    assert verdict.score == 0.3 and verdict.reasons == ["too long", "no number"]
    sent = llm.requests[0]["messages"][-1]["content"]
    assert "one short sentence" in sent and "2+2?" in sent and "Reference answer" in sent


def test_checklist_judge_scores_the_fraction_passed_itself() -> None:
    reply = {
        "items": [
            {"item": 1, "passed": True, "reason": "polite"},
            {"item": 2, "passed": False, "reason": "two sentences"},
        ]
    }
    llm = ScriptedClient([json.dumps(reply)])
    judge = LLMJudge(llm, checklist=["is polite", "is one sentence", "names the city"])
    verdict = judge(case("Hello. Paris."))
    assert verdict.score == pytest.approx(1 / 3)  # item 3 unanswered counts as failed
    assert "FAILED is one sentence: two sentences" in verdict.text
    assert "FAILED names the city: the judge gave no verdict" in verdict.text


async def test_the_judge_is_async_and_a_malformed_verdict_is_loud() -> None:
    llm = ScriptedClient(['{"reasons": [], "score": 7}'] * 3)
    judge = LLMJudge(llm, rubric="anything")
    with pytest.raises(ReplyParseError):
        await judge.ajudge(case("x"))
    with pytest.raises(TracegraphError, match="exactly one of"):
        LLMJudge(llm, rubric="a", checklist=["b"])


# -- a person -------------------------------------------------------------------------------
def test_human_feedback_reads_score_and_remark_and_asks_again_on_bad_input() -> None:
    out = io.StringIO()
    human = HumanFeedback(input=io.StringIO("great\n2\n0.25\nshorter please\n"), output=out)
    verdict = human(case("a long answer"))
    assert (verdict.score, verdict.text) == (0.25, "shorter please")
    assert out.getvalue().count("is not a number from 0 to 1") == 2


def test_human_feedback_on_a_closed_stream_is_an_error() -> None:
    with pytest.raises(FeedbackError, match="input stream ended"):
        HumanFeedback(input=io.StringIO(""), output=io.StringIO())(case("x"))


def test_human_feedback_lands_on_an_intermediate_node_during_training() -> None:
    query = tg.param("cats", name="query", description="search query")
    docs = {"cats": "Cats purr.", "dogs": "Dogs bark."}

    @tg.op
    def retrieve(q: str) -> str:
        """Look the query up."""
        return docs.get(q, "")

    @tg.op
    def summarize(text: str) -> str:
        """Summarize the retrieved text."""
        return text.split()[0]

    out = io.StringIO()
    answers = io.StringIO("0\nwrong document: this is about cats\n" * 2)
    human = HumanFeedback(input=answers, output=out, at="retrieve")
    seen: list[str] = []
    opt = GraphOptimizer([query], llm=ScriptedClient([updates({"query": "dogs"})]))
    original = opt.astep

    async def spy() -> Any:
        seen.extend(str(r.feedback) for r in query.received)
        return await original()

    opt.astep = spy  # type: ignore[method-assign]
    trainer = Trainer(
        lambda _: summarize(retrieve(query)), opt, train=[("q", "Dogs")], feedback=human,
        val=[("q", "Dogs")], quiet=True, max_steps=1, patience=None,
    )  # fmt: skip
    with pytest.raises(FeedbackError, match="input stream ended"):
        trainer.fit()  # the person is asked for the baseline, the step and the candidate
    assert "step 'retrieve" in out.getvalue()
    assert any("wrong document" in s for s in seen)


def test_verdict_feedback_joins_reasons_when_there_is_no_text() -> None:
    fb = Verdict(score=0.5, reasons=["a", "b"]).feedback()
    assert fb == tg.Feedback(text="- a\n- b", score=0.5)
