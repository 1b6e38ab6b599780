"""(f) Structured extraction with a format constraint: a trainable instruction and parser.

The task model reads a sentence under a trainable instruction; a trainable parser turns its
reply into a dict with fixed keys and formats. Both start out wrong: prose replies, and a parser
that is ``json.loads(reply)`` (the model fences its JSON unless told not to). The feedback is
what the checker says about the parsed dict (format first) or the parser's exception.

``extract``: a name and a date as ``YYYY-MM-DD``. ``invoice``: a vendor, a total as a number and
a 3-letter currency code (a second task of the family, added after the optimizer's extraction
strategy was built on ``extract``, to see whether it carries over). ``contact``: a name, an
e-mail address in lowercase and a phone number as digits only, where the texts write them
otherwise (a third task, written after the optimizer was built).

The data (instructions, starting and hand-written parsers, feedback texts) is in
``prompt_data``, standard library only, which the Trace runner reads too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import tracegraph as tg
from benchmarks.quality import prompt_data
from benchmarks.quality.code_tasks import compile_source
from benchmarks.quality.prompt_data import EXTRACT_TOKENS as TOKENS
from benchmarks.quality.prompt_data import ExtractData, Verdict, raised_feedback
from benchmarks.quality.prompt_tasks import ask_student, prefetch, student_op
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient

_ = re  # the module's globals are the parsers': `re` and `json` are there to use
__all__ = ["CONTACT", "EXTRACT", "HANDWRITTEN_PARSER", "INVOICE", "TOKENS", "Verdict", "accuracy"]

HANDWRITTEN_PARSER: dict[str, str] = {}  # family -> the hand-written parser (calibration)


@tg.trainable
def parse_reply(reply: str) -> dict[str, str]:
    """Turn the model's reply into a dict with the keys "name" and "date" (YYYY-MM-DD)."""
    return dict(json.loads(reply))


@tg.trainable
def read_invoice(reply: str) -> dict[str, Any]:
    """The model's reply as a dict: "vendor", "total" (a number) and "currency" (3 letters)."""
    return dict(json.loads(reply))


@tg.trainable
def read_contact(reply: str) -> dict[str, Any]:
    """The model's reply as a dict: "name", "email" (lowercase) and "phone" (digits only)."""
    return dict(json.loads(reply))


def accuracy(
    llm: LLMClient,
    cases: list[tuple[str, dict[str, Any]]],
    verdict: Verdict,
    instruction: str,
    fn_name: str,
    parser_source: str,
) -> float:
    """The share of ``cases`` an instruction and a parser get exactly right, untraced."""
    try:
        parse = compile_source(fn_name, parser_source, globals())
    except Exception:
        return 0.0
    right = 0
    prefetch(llm, instruction, (t for t, _ in cases), TOKENS)
    for text, want in cases:
        try:
            got = parse(ask_student(llm, instruction, text, TOKENS))
        except Exception:
            continue
        right += verdict(text, want, got) is None
    return right / len(cases)


def _family(name: str, description: str, fn: Any, data: ExtractData) -> Family:
    fn_name = fn.__name__
    assert (fn_name, " ".join(str(fn.__doc__).split())) == (data.fn_name, data.doc), fn_name
    cases, verdict, starts, handwritten = data.cases, data.verdict, data.starts, data.handwritten
    start_parser, handwritten_parser = data.start_parser, data.handwritten_parser
    HANDWRITTEN_PARSER[name] = handwritten_parser

    def score(llm: LLMClient, instruction: str, parser_source: str) -> float:
        return accuracy(llm, cases, verdict, instruction, fn_name, parser_source)

    def make(seed: int, student: LLMClient | None) -> Task:
        assert student is not None, f"the {name} family needs a task model"
        llm = student
        answer = student_op(llm, TOKENS)
        start = starts[seed % len(starts)]
        instruction = tg.param(
            start, name="instruction", max_length=300, description="the task model's instruction"
        )
        code = tg.code_of(fn)
        code.set_value(start_parser)

        def run() -> Episode:
            feedback: list[tuple[tg.Node, str]] = []
            right = 0
            prefetch(llm, str(instruction.value), (t for t, _ in cases), TOKENS)
            for text, want in cases:
                reply = answer(instruction, text)
                try:
                    out = fn(reply)
                except tg.OpError as exc:
                    assert exc.node is not None
                    why = type(exc.__cause__ or exc).__name__
                    feedback.append((exc.node, raised_feedback(fn_name, why, want)))
                    continue
                said = verdict(text, want, out.value)
                if said is None:
                    right += 1
                else:
                    feedback.append((out, said))
            value = right / len(cases)
            return Episode(feedback, value, value == 1.0)

        def evaluate(values: dict[str, Any]) -> float:
            return score(llm, str(values["instruction"]), str(values[fn_name]))

        params = [instruction, code]
        info = {"start": start}
        return Task(name, f"{name}/start={seed % len(starts)}", params, run, evaluate, info=info)

    def calibrate(llm: LLMClient) -> dict[str, Any]:
        """Hand-written instruction and parser, and the starting ones."""
        return {
            "handwritten": handwritten,
            "handwritten_score": score(llm, handwritten, handwritten_parser),
            "handwritten_instruction_start_parser": score(llm, handwritten, start_parser),
            "start_score": {s: score(llm, s, start_parser) for s in starts},
        }

    return Family(name, "f", description, make, uses_model=True, calibrate=calibrate)


EXTRACT = _family(
    "extract",
    "extract name and ISO date into a dict: instruction + parser (same model)",
    parse_reply,
    prompt_data.EXTRACT,
)

INVOICE = _family(
    "invoice",
    "extract vendor, numeric total and currency code into a dict: instruction + parser",
    read_invoice,
    prompt_data.INVOICE,
)

CONTACT = _family(
    "contact",
    "extract name, lowercase e-mail and digits-only phone into a dict: instruction + parser",
    read_contact,
    prompt_data.CONTACT,
)
