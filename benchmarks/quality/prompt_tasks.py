"""Families where the same local model is also the task model: (d) prompt tuning.

(d) ``labels``: sentiment with the exact labels ``POS``/``NEG``, which the model can only learn
from the feedback; ``digits``: two-digit sums answered with the number alone. Each has a fixed
train/test split; the seed picks the starting instruction. Calibration measures the test
accuracy of a short hand-written instruction (it must score well, the starting ones poorly).
The task model's op and memo here are shared with (f) extraction (``extract_tasks``).

Task-model calls are labelled ``student``, run at temperature 0 and are memoised per client for
the process (the same prompt and input give the same answer), so only new questions cost calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tracegraph as tg
from benchmarks.quality.task import Episode, Family, Task
from optimizers.llm.types import LLMClient

POS = [
    "An absolute delight from start to finish.",
    "The battery lasts all day and charging is quick.",
    "Friendly staff and the food arrived hot.",
    "I would happily buy this again.",
    "Clear instructions, setup took five minutes.",
    "The best concert I have been to in years.",
    "Comfortable shoes, no blisters after a long walk.",
    "It works exactly as advertised.",
    "The hotel room was spotless and quiet.",
    "Great value for the price.",
]
NEG = [
    "The screen cracked after two days.",
    "Customer service never answered my emails.",
    "Cold soup and a rude waiter.",
    "It stopped working within a week.",
    "The plot was dull and far too long.",
    "Shipping took a month and the box was crushed.",
    "Way too loud, I returned it.",
    "The app crashes every time I open it.",
    "Uncomfortable seats and a blurry screen.",
    "A complete waste of money.",
]
LABEL_TRAIN = [(t, "POS") for t in POS[:4]] + [(t, "NEG") for t in NEG[:4]]
LABEL_TEST = [(t, "POS") for t in POS[4:]] + [(t, "NEG") for t in NEG[4:]]
LABEL_STARTS = [
    "Classify the sentiment of the review.",
    "What is the sentiment of this review?",
    "Read the review and tell whether the customer liked it.",
]
LABEL_HANDWRITTEN = (
    "Answer with exactly one word: POS if the review is positive, NEG if it is negative."
)

_PAIRS = [(37, 48), (52, 19), (66, 27), (14, 79), (83, 11), (45, 45), (28, 63), (71, 18)]
_PAIRS += [(39, 56), (22, 67), (58, 34), (91, 15), (17, 26), (64, 29), (33, 88), (76, 47)]
DIGIT_DATA = [(f"What is {a} + {b}?", str(a + b)) for a, b in _PAIRS]
DIGIT_TRAIN, DIGIT_TEST = DIGIT_DATA[:6], DIGIT_DATA[6:]
DIGIT_STARTS = [
    "You are a helpful assistant.",
    "Solve the math problem.",
    "Explain how to compute the answer.",
]
DIGIT_HANDWRITTEN = "Reply with only the resulting number, no words."

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
                if got.value == want:
                    right += 1
                else:
                    feedback.append(
                        (got, f"expected exactly {want!r} (nothing else), got {got.value!r}")
                    )
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
    8,
)
DIGITS = _prompt_family(
    "digits",
    "d",
    "prompt tuning: sums answered with the number alone (same model)",
    DIGIT_TRAIN,
    DIGIT_TEST,
    DIGIT_STARTS,
    DIGIT_HANDWRITTEN,
    24,
)
