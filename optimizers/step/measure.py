"""A score the feedback implies: feedback that is a measurement ("final training loss: 0.0173",
"accuracy 0.8").

Without ``record_score`` an optimizer sees scores only where the feedback carries one. But
users often send the measurement itself as the feedback text, and a small model reads
"final training loss: 8.09" as the output to produce (measured on the local 1.5B model). Such
text names the measure: a loss, an error or a cost is better lower, a score, an accuracy or a
reward higher. Read from the text, it becomes the step's score (minus the number for a loss),
so the history shows which change helped and the optimizer can keep the best values.

Only an unambiguous measurement counts: exactly one measure word in the text, with its number
right after it (a colon, "=", "is", "was" or "of" may come between; "75%" is 0.75).

>>> implied_score("final training loss: 0.0173")
-0.0173
>>> implied_score("accuracy 0.75 on the dev set")
0.75
>>> implied_score("F1 = 0.50 (1 of 3 relevant passages found)")
0.5
>>> implied_score("too small") is None, implied_score("loss 3.2, accuracy 0.5") is None
(True, True)
"""

from __future__ import annotations

import math
import re

__all__ = ["implied_score"]

_LOWER = r"loss|error|cost|mse|rmse|mae|regret|latency|perplexity|distance"
_HIGHER = r"score|accuracy|f1|reward|precision|recall|pass rate|success rate"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_MEASURE = re.compile(
    rf"\b(?P<word>{_LOWER}|{_HIGHER})\b(?:\s+(?:is|was|of|=|:)|\s*[:=])?\s*(?P<num>{_NUMBER})"
    r"(?P<pct>\s*%)?(?![\w.])",
    re.IGNORECASE,
)
_ANY_MEASURE = re.compile(rf"\b(?:{_LOWER}|{_HIGHER})\b", re.IGNORECASE)


def implied_score(text: str) -> float | None:
    """The score (higher is better) that ``text`` states as its one measurement, else None."""
    text = text[:500]
    found = list(_MEASURE.finditer(text))
    if len(found) != 1 or len(_ANY_MEASURE.findall(text)) != 1:
        return None
    m = found[0]
    value = float(m.group("num")) / (100.0 if m.group("pct") else 1.0)
    if not math.isfinite(value):
        return None
    lower = re.fullmatch(_LOWER, m.group("word"), re.IGNORECASE) is not None
    return -value if lower else value
