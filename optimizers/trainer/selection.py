"""When is a candidate better than the best so far? Only when it is better beyond the noise.

Both are scored on the same validation examples, so the comparison is *paired*: for each example
``d_i = candidate_i - best_i``. The candidate is accepted when the mean gain exceeds

    threshold = max(min_delta, noise * standard_error(d))      standard_error = stdev(d) / sqrt(n)

A tie (gain 0) is never accepted: the best so far stays. With identical scores on all but one
example the standard error equals the gain, so a single flipped example out of many is treated
as noise; lower ``noise`` to accept such changes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Decision", "decide", "stderr"]


def stderr(values: Sequence[float]) -> float:
    """The standard error of the mean (0 for fewer than two values).

    >>> round(stderr([1.0, 0.0, 1.0, 0.0]), 4)
    0.2887
    """
    if len(values) < 2:
        return 0.0
    return statistics.stdev(values) / math.sqrt(len(values))


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing a candidate with the best so far, and why."""

    accepted: bool
    gain: float
    threshold: float
    reason: str


def decide(
    candidate: Sequence[float], best: Sequence[float], *, min_delta: float = 0.0, noise: float = 1.0
) -> Decision:
    """Accept ``candidate`` over ``best`` only if its mean gain beats ``max(min_delta, noise*SE)``.

    >>> decide([1, 1, 1, 1], [0, 0, 0, 0]).accepted
    True
    >>> decide([1, 0, 0, 0], [0, 0, 0, 0]).accepted   # one flip in four: within noise
    False
    """
    if len(candidate) != len(best):
        raise ValueError(
            f"paired comparison needs the same examples: {len(candidate)} vs {len(best)} scores"
        )
    diffs = [c - b for c, b in zip(candidate, best, strict=True)]
    gain = sum(diffs) / len(diffs) if diffs else 0.0
    se = stderr(diffs)
    threshold = max(min_delta, noise * se)
    accepted = gain > threshold
    mean_c = sum(candidate) / len(candidate) if candidate else 0.0
    mean_b = sum(best) / len(best) if best else 0.0
    verb = "accepted" if accepted else "rejected"
    reason = (
        f"{verb}: validation {mean_c:.4g} vs best {mean_b:.4g}, gain {gain:+.4g} "
        f"{'>' if accepted else '<='} threshold {threshold:.4g} "
        f"(max of min_delta {min_delta:g} and {noise:g} x standard error {se:.4g})"
    )
    return Decision(accepted=accepted, gain=gain, threshold=threshold, reason=reason)
