"""Tune a system prompt on a small generated dataset, with exact-match feedback.

A student model answers arithmetic questions under a trainable system prompt. An answer counts
only when it is exactly the expected text ("42", not "The answer is 42."); every miss becomes
feedback on that answer. ``--best-of K`` wraps the optimizer in :class:`optimizers.BestOfN`:
K candidate prompts per step, each scored on the dataset (concurrently), the best kept.

    python examples/prompt_tuning.py                       # the local model
    python examples/prompt_tuning.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from _common import (
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
)

import tracegraph as tg
from optimizers import BestOfN
from optimizers.algorithms.optimizer import Optimizer
from optimizers.llm.types import LLMClient

START_PROMPT = "You are a helpful assistant."


def make_dataset(n: int = 6, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` questions with their exact expected answers, the same for the same seed."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        a, b = rng.randint(11, 99), rng.randint(11, 99)
        data.append((f"What is {a} + {b}?", str(a + b)))
    return data


def make_student(llm: LLMClient) -> Callable[..., Any]:
    """The traced op that asks the student model one question under the system prompt."""

    @tg.op
    def answer(system_prompt: str, question: str) -> str:
        """Ask the student model the question, with the system prompt; its reply text."""
        messages = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": question},
        ]
        reply = llm.complete(messages, label="student", temperature=0.0, max_tokens=32)
        return reply.text.strip()

    return answer


def evaluate_all(answer: Callable[..., Any], prompt: Any, data: list[tuple[str, str]]) -> Any:
    """Answer every question; feedback on each answer; the outputs and the accuracy."""
    outputs, right = [], 0
    for question, want in data:
        got = answer(prompt, question)
        text = got.value if isinstance(got, tg.Node) else got
        if text == want:
            right += 1
        elif isinstance(got, tg.Node):
            got.backward(f"expected exactly {want!r} (nothing else), got {text!r}")
        outputs.append(got)
    return outputs, right / len(data)


def run(
    llm: LLMClient,
    steps: int = 3,
    out: str = "runs/examples",
    optimizer: str = "graph",
    student: LLMClient | None = None,
    best_of: int = 0,
) -> Outcome:
    """Tune the system prompt for up to ``steps`` steps (stop when every answer is exact)."""
    answer = make_student(student or llm)
    data = make_dataset()
    prompt = tg.param(
        START_PROMPT,
        name="system_prompt",
        max_length=300,
        description="the student's system prompt",
    )
    opt: Optimizer = make_optimizer(optimizer, [prompt], llm)
    if best_of:

        def score(values: dict[str, Any]) -> float:
            with tg.no_trace():
                return float(evaluate_all(answer, values["system_prompt"], data)[1])

        opt = BestOfN(opt, evaluate=score, k=best_of, max_concurrency=2)
    outcome = Outcome("prompt_tuning")
    outputs, score_now = evaluate_all(answer, prompt, data)
    outcome.scores.append(score_now)
    for _ in range(steps):
        if score_now == 1.0:
            break
        report = opt.step()
        opt.zero_feedback()
        outputs, score_now = evaluate_all(answer, prompt, data)
        opt.record_score(score_now)
        outcome.scores.append(score_now)
        outcome.reports.append(report)
        log_step(report, score_now)
    outcome.values = {"system_prompt": prompt.value}
    outcome.solved = score_now == 1.0
    outcome.picture = picture(outputs, out, "prompt_tuning")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    parser = base_parser(__doc__ or "", steps=3)
    parser.add_argument("--best-of", type=int, default=0, help="candidates per step (BestOfN)")
    args = parser.parse_args(argv)
    client = llm or client_from(args)
    return finish(run(client, args.steps, args.out, args.optimizer, best_of=args.best_of))


if __name__ == "__main__":
    sys.exit(main())
