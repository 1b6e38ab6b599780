"""Tune the numeric hyperparameters of a toy retrieval workflow.

The workflow scores a fixed set of passages against a question, keeps those at or above a
similarity ``threshold``, at most ``top_k`` of them, and is judged on which relevant passages it
found (F1). Feedback names what went wrong in words ("missed 2 relevant passages, whose
similarity was 0.48 and 0.55"); the optimizer sets ``top_k`` and ``threshold`` within bounds.

    python examples/hyperparameters.py                       # the local model
    python examples/hyperparameters.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import (
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
)
from _retrieval_task import SIMILARITY, judge

import tracegraph as tg
from optimizers.llm.types import LLMClient


@tg.op
def retrieve(top_k: int, threshold: float) -> list[str]:
    """Passages with similarity >= threshold, best first, at most top_k of them."""
    ranked = sorted(SIMILARITY, key=lambda p: -SIMILARITY[p])
    return [p for p in ranked if SIMILARITY[p] >= threshold][:top_k]


@tg.op
def rerank(passages: list[str]) -> list[str]:
    """Drop passages a cheap cross-check rejects (p4 is caught here when it is retrieved)."""
    return [p for p in passages if p != "p4"]


def run(
    llm: LLMClient, steps: int = 5, out: str = "runs/examples", optimizer: str = "graph"
) -> Outcome:
    """Tune ``top_k`` and ``threshold`` until F1 is 1 (at most ``steps`` steps)."""
    top_k = tg.param(1, name="top_k", bounds=(1, 9), description="most passages retrieved")
    threshold = tg.param(
        0.95, name="threshold", bounds=(0.0, 1.0), description="minimum similarity kept"
    )
    opt = make_optimizer(optimizer, [top_k, threshold], llm)
    outcome = Outcome("hyperparameters")
    found = rerank(retrieve(top_k, threshold))
    text, score = judge(found.value)
    outcome.scores.append(score)
    for _ in range(steps):
        if score == 1.0:
            break
        opt.zero_feedback()
        found.backward(text)
        report = opt.step()
        found = rerank(retrieve(top_k, threshold))
        text, score = judge(found.value)
        opt.record_score(score)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    outcome.values = {"top_k": top_k.value, "threshold": threshold.value}
    outcome.solved = score == 1.0
    opt.zero_feedback()
    found.backward(text)
    outcome.picture = picture(found, out, "hyperparameters")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    args = base_parser(__doc__ or "", steps=5).parse_args(argv)
    return finish(run(llm or client_from(args), args.steps, args.out, args.optimizer))


if __name__ == "__main__":
    sys.exit(main())
