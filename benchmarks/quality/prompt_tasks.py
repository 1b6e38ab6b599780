"""Families where the same local model is also the task model: (d) prompt tuning.

(d) ``labels``: sentiment with the exact labels ``POS``/``NEG``, which the model can only learn
from the feedback; ``digits``: two-digit sums answered with the number alone; ``topics``:
support tickets routed with the exact labels ``BILLING``/``TECHNICAL``/``SHIPPING`` (written
after the optimizer was built: a held-out task). Each has a fixed train/test split; the seed
picks the starting instruction. Calibration measures the test
accuracy of a short hand-written instruction (it must score well, the starting ones poorly).
The task model's op and memo here are shared with (f) extraction (``extract_tasks``).

Task-model calls are labelled ``student``, run at temperature 0 and are memoised per client for
the process (the same prompt and input give the same answer), so only new questions cost calls.
The data (train/test sets, instructions, token limits) is in ``prompt_data``, standard library
only, which the Trace runner reads too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tracegraph as tg
from benchmarks.quality.prompt_data import (  # the data, shared with the Trace runner
    DIGIT_DATA,
    DIGIT_HANDWRITTEN,
    DIGIT_STARTS,
    DIGIT_TEST,
    DIGIT_TOKENS,
    DIGIT_TRAIN,
    LABEL_HANDWRITTEN,
    LABEL_STARTS,
    LABEL_TEST,
    LABEL_TOKENS,
    LABEL_TRAIN,
    NEG,
    POS,
    TOPIC_HANDWRITTEN,
    TOPIC_STARTS,
    TOPIC_TEST,
    TOPIC_TOKENS,
    TOPIC_TRAIN,
    answer_verdict,
)
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient

__all__ = [
    "DIGITS",
    "DIGIT_DATA",
    "DIGIT_HANDWRITTEN",
    "DIGIT_STARTS",
    "DIGIT_TEST",
    "DIGIT_TRAIN",
    "LABELS",
    "LABEL_HANDWRITTEN",
    "LABEL_STARTS",
    "LABEL_TEST",
    "LABEL_TRAIN",
    "NEG",
    "POS",
    "TOPICS",
    "accuracy",
    "ask_student",
    "prefetch",
    "student_op",
]

# -------------------------------------------------------------------- the task model

_MEMO: dict[tuple[int, str, str, int], str] = {}
_MEMO_LOCK = threading.Lock()


def ask_student(llm: LLMClient, system: str, user: str, max_tokens: int) -> str:
    """The task model's reply at temperature 0, memoised per client for this process."""
    key = (id(llm), system, user, max_tokens)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return hit
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    text = llm.complete(messages, label="student", temperature=0.0, max_tokens=max_tokens).text
    text = text.strip()
    with _MEMO_LOCK:
        _MEMO[key] = text
    return text


def prefetch(llm: LLMClient, system: str, users: Iterable[str], max_tokens: int) -> None:
    """Ask the task model several inputs at once (a server with several slots answers them
    together); the answers land in the memo the traced calls then read."""
    todo = [u for u in dict.fromkeys(users) if (id(llm), system, u, max_tokens) not in _MEMO]
    if len(todo) > 1:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda u: ask_student(llm, system, u, max_tokens), todo))


def student_op(llm: LLMClient, max_tokens: int) -> Callable[..., Any]:
    """The traced op that asks the task model one input under the instruction."""

    @tg.op
    def answer(instruction: str, text: str) -> str:
        """Ask the task model: the instruction is its system prompt, the text its input."""
        return ask_student(llm, instruction, text, max_tokens)

    return answer


def accuracy(llm: LLMClient, instruction: str, data: list[tuple[str, str]], tokens: int) -> float:
    """Exact-match accuracy of ``instruction`` on ``data``, untraced."""
    prefetch(llm, instruction, (q for q, _ in data), tokens)
    right = sum(ask_student(llm, instruction, q, tokens) == want for q, want in data)
    return right / len(data)


# -------------------------------------------------------------------- (d) prompt tuning


def _prompt_family(
    name: str,
    letter: str,
    description: str,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    starts: list[str],
    handwritten: str,
    tokens: int,
) -> Family:
    def make(seed: int, student: LLMClient | None) -> Task:
        assert student is not None, f"the {name} family needs a task model"
        llm = student
        answer = student_op(llm, tokens)
        start = starts[seed % len(starts)]
        prompt = tg.param(
            start, name="instruction", max_length=300, description="the task model's instruction"
        )

        def run() -> Episode:
            feedback: list[tuple[tg.Node, str]] = []
            right = 0
            prefetch(llm, str(prompt.value), (q for q, _ in train), tokens)
            for q, want in train:
                got = answer(prompt, q)
                said = answer_verdict(want, got.value)
                if said is None:
                    right += 1
                else:
                    feedback.append((got, said))
            score = right / len(train)
            return Episode(feedback, score, score == 1.0)

        def evaluate(values: dict[str, Any]) -> float:
            return accuracy(llm, str(values["instruction"]), train, tokens)

        def held_out() -> dict[str, float]:
            return {"test_accuracy": accuracy(llm, str(prompt.value), test, tokens)}

        return Task(
            name,
            f"{name}/start={seed % len(starts)}",
            [prompt],
            run,
            evaluate,
            held_out,
            info={"start": start},
        )

    def calibrate(llm: LLMClient) -> dict[str, Any]:
        return {
            "handwritten": handwritten,
            "handwritten_test_accuracy": accuracy(llm, handwritten, test, tokens),
            "start_test_accuracy": {s: accuracy(llm, s, test, tokens) for s in starts},
        }

    return Family(name, letter, description, make, uses_model=True, calibrate=calibrate)


LABELS = _prompt_family(
    "labels",
    "d",
    "prompt tuning: sentiment with exact labels POS/NEG (same model)",
    LABEL_TRAIN,
    LABEL_TEST,
    LABEL_STARTS,
    LABEL_HANDWRITTEN,
    LABEL_TOKENS,
)
DIGITS = _prompt_family(
    "digits",
    "d",
    "prompt tuning: sums answered with the number alone (same model)",
    DIGIT_TRAIN,
    DIGIT_TEST,
    DIGIT_STARTS,
    DIGIT_HANDWRITTEN,
    DIGIT_TOKENS,
)
TOPICS = _prompt_family(
    "topics",
    "d",
    "prompt tuning: tickets routed with exact labels BILLING/TECHNICAL/SHIPPING (same model)",
    TOPIC_TRAIN,
    TOPIC_TEST,
    TOPIC_STARTS,
    TOPIC_HANDWRITTEN,
    TOPIC_TOKENS,
)
