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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a fresh clone

import tracegraph as tg
from examples._common import (
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
)
from optimizers.llm.types import LLMClient

# passage id -> similarity to the question; the relevant ones are not the top 3 by accident:
# an irrelevant passage (p4) outranks one relevant passage (p9).
SIMILARITY = {
    "p1": 0.91,
    "p2": 0.83,
    "p3": 0.40,
    "p4": 0.79,
    "p5": 0.22,
    "p6": 0.35,
    "p7": 0.70,
    "p8": 0.12,
    "p9": 0.76,
}
RELEVANT = {"p1", "p2", "p9"}


@tg.op
def retrieve(top_k: int, threshold: float) -> list[str]:
    """Passages with similarity >= threshold, best first, at most top_k of them."""
    ranked = sorted(SIMILARITY, key=lambda p: -SIMILARITY[p])
    return [p for p in ranked if SIMILARITY[p] >= threshold][:top_k]


@tg.op
def rerank(passages: list[str]) -> list[str]:
    """Drop passages a cheap cross-check rejects (p4 is caught here when it is retrieved)."""
    return [p for p in passages if p != "p4"]


def judge(found: list[str]) -> tuple[str, float]:
    """Feedback on the passages kept, and the F1 score against the relevant set."""
    hits = RELEVANT & set(found)
    missed = sorted(RELEVANT - hits, key=lambda p: -SIMILARITY[p])
    wrong = sorted(set(found) - RELEVANT, key=lambda p: -SIMILARITY[p])
    precision = len(hits) / len(found) if found else 0.0
    recall = len(hits) / len(RELEVANT)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    parts = [f"F1 = {f1:.2f} ({len(hits)} of {len(RELEVANT)} relevant passages found)"]
    if missed:
        sims = ", ".join(f"{SIMILARITY[p]:.2f}" for p in missed)
        parts.append(f"missed {len(missed)} relevant passages with similarity {sims}")
    if wrong:
        sims = ", ".join(f"{SIMILARITY[p]:.2f}" for p in wrong)
        parts.append(f"kept {len(wrong)} irrelevant passages with similarity {sims}")
    return "; ".join(parts), round(f1, 4)


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
