"""The retrieval task of ``examples/hyperparameters.py``: its data and its judge.

Standard library only, so the Trace comparison (``benchmarks/vs_trace_runner.py``, which runs in
Trace's own virtual environment without our dependencies) judges with the very same code.
"""

from __future__ import annotations

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


def judge(found: list[str]) -> tuple[str, float]:
    """Feedback on the passages kept, and the F1 score against the relevant set.

    >>> judge(["p1", "p2", "p9"])
    ('F1 = 1.00 (3 of 3 relevant passages found)', 1.0)
    """
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
