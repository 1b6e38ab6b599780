"""The direction a reply's reasoning states for a number, to check the number it proposes.

A small model reads the feedback right in words and writes the wrong number: measured on the
local 1.5B model, "200 is too small ... we need to increase the value of x" came with
``"x": 150``, and the false bracket it implied cost the run. So the reasoning is read for what
it says to do with each number, and a proposal that moves the other way is mirrored (the same
step in the stated direction; see :meth:`~optimizers.algorithms.memory.Memory._step_size`).

Only plain statements count, clause by clause (a sentence ends at ``.``, ``;``, ``!``, ``?``
before a space or a line break; a clause at a comma, "but" or "and"):

* a clause that names the parameter and no other: an action ("increase", "reduce", "a higher
  value", "should be larger") or a state of the parameter ("x is too small", "too high");
* a clause that names no parameter: only an action, only when the number is the only one the
  reply changes ("we should increase it"), and only when its sentence names no measure of
  the outputs ("reduce the loss", "to improve the output, increase" say what to reach, not
  which way the number goes);
* a clause with a negation ("not", "no need", "instead of") or a comparison ("higher than",
  which describes rather than asks) says nothing.

The stated direction is the one every counting clause agrees on; 0 when none counts or they
disagree (a model that argues both ways is not overruled).

>>> stated_direction("The output 200.0 is too small, so we need to increase x.", "x", [])
1
>>> stated_direction("The learning rate is too high; keep epochs.", "learning_rate", ["epochs"])
-1
>>> stated_direction("x is lower than the target. There is no need to reduce it.", "x", [])
0
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

__all__ = ["feedback_direction", "mirror", "names_value", "relation", "stated_direction"]

_SENTENCES = re.compile(r"[.;!?\n]+(?:\s|$)")
_CLAUSES = re.compile(r",\s|\bbut\b|\band\b", re.IGNORECASE)
_UP = r"increas\w*|rais(?:e|es|ed|ing)|boost\w*|grow\w*|doubl\w*|bump\w*"
_DOWN = r"decreas\w*|reduc\w*|lower(?:ed|ing|s)?\b(?! bound| limit)|shrink\w*|halv\w*|cut"
_UP_MORE = r"(?:higher|larger|bigger|greater)(?! bound| limit)"
_DOWN_MORE = r"(?:lower|smaller)(?! bound| limit)"
_TARGET = r"(?:the )?(?:target|goal|mark|optimum|right value)"
_UP_STATE = rf"too (?:small|low|little|short|few)|(?:below|under) {_TARGET}|undersho\w*"
_DOWN_STATE = rf"too (?:large|high|big|long|many|much)|(?:above|over) {_TARGET}|oversho\w*"
_UP_GO = r"(?:go|move|step|push it) (?:up|higher)"
_DOWN_GO = r"(?:go|move|step|bring it) (?:down|lower)"
# "not enough" asks for more, though it says "not"
_ENOUGH_UP = re.compile(r"\bnot (?:\w+ )?enough\b|\bnot (?:big|large|high) enough\b", re.I)
_ENOUGH_DOWN = re.compile(r"\bnot (?:small|low) enough\b", re.I)
_NEGATION = re.compile(
    r"\b(?:not|no need|never|don't|doesn't|instead of|rather than|without|avoid)\b", re.I
)
# what the workflow is judged by: an unnamed "reduce the loss" says nothing about one number
_MEASURES = re.compile(
    r"\b(?:loss|score|accuracy|f1|error|performance|precision|recall|reward|outputs?|results?)\b",
    re.IGNORECASE,
)
_THAN = re.compile(rf"\b(?:{_UP_MORE}|{_DOWN_MORE})\s+than\b", re.IGNORECASE)
_ACTION_UP = re.compile(rf"\b(?:{_UP}|{_UP_GO})\b|\b{_UP_MORE}\b", re.IGNORECASE)
_ACTION_DOWN = re.compile(rf"\b(?:{_DOWN}|{_DOWN_GO})|\b{_DOWN_MORE}\b", re.IGNORECASE)
_STATE_UP = re.compile(rf"\b{_UP_STATE}\b", re.IGNORECASE)
_STATE_DOWN = re.compile(rf"\b{_DOWN_STATE}\b", re.IGNORECASE)


def _names(name: str) -> re.Pattern[str]:
    """The parameter as a model writes it: ``learning_rate``, "learning rate", "learning-rate"."""
    words = [re.escape(w) for w in re.split(r"[_\-\s]+", name) if w]
    if not words:
        return re.compile(r"(?!)")
    return re.compile(r"(?<![\w.])" + r"[_\-\s]".join(words) + r"(?![\w])", re.IGNORECASE)


def _sign(clause: str, states: bool) -> int:
    """+1, -1 or 0 for one clause: what it says to do (and, with ``states``, what it says the
    value is: "too small" asks for more)."""
    clause = _ENOUGH_UP.sub("too small", _ENOUGH_DOWN.sub("too large", clause))
    if _NEGATION.search(clause) or _THAN.search(clause):
        return 0
    up = bool(_ACTION_UP.search(clause)) or (states and bool(_STATE_UP.search(clause)))
    down = bool(_ACTION_DOWN.search(clause)) or (states and bool(_STATE_DOWN.search(clause)))
    return int(up) - int(down)


def stated_direction(reasoning: str, name: str, others: Sequence[str], alone: bool = True) -> int:
    """+1 when ``reasoning`` says to raise ``name``, -1 to lower it, 0 when it says neither or
    both. ``others``: the names of the other parameters; ``alone``: ``name`` is the only number
    the reply changes (then clauses that name no parameter count too)."""
    mine = _names(name)
    theirs = [_names(o) for o in others if o != name]
    votes: set[int] = set()
    for sentence in _SENTENCES.split(reasoning[:4000]):
        measured = bool(_MEASURES.search(sentence))
        for clause in _CLAUSES.split(sentence):
            named = bool(mine.search(clause))
            if any(t.search(clause) for t in theirs):
                continue
            if not named and (not alone or measured):
                continue
            sign = _sign(mine.sub(" ", clause), states=named)
            if sign:
                votes.add(sign)
    return votes.pop() if len(votes) == 1 else 0


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE]-?\d+)?")


def names_value(reasoning: str, name: str, value: float) -> bool:
    """Whether a sentence of ``reasoning`` that names ``name`` also states ``value`` ("a
    threshold of 0.70 or higher"): the words then give the value the reply proposes, and
    what they say about its direction is no evidence against it (the local model wrote "the
    threshold of 0.75 is too low ... a threshold of 0.70 or higher" with 0.7)."""
    mine = _names(name)
    for sentence in _SENTENCES.split(reasoning[:4000]):
        if mine.search(sentence):
            for m in _NUMBER.finditer(sentence):  # each match is a float literal
                if math.isclose(float(m.group()), value, rel_tol=1e-9, abs_tol=1e-12):
                    return True
    return False


def mirror(
    current: float, proposed: float, bounds: tuple[float | None, float | None] | None = None
) -> float:
    """The move from ``current`` to ``proposed``, the other way: by the same factor when both are
    positive and at least a factor 2 apart (a model thinking in factors), else by the same
    difference; halfway to a bound it would pass.

    >>> mirror(200.0, 150.0), mirror(0.01, 0.001), mirror(0.5, 0.2, (0.0, 0.6))
    (250.0, 0.1, 0.55)
    """
    if current > 0 and proposed > 0 and max(current / proposed, proposed / current) >= 2:
        value = current * (current / proposed)
    else:
        value = 2 * current - proposed
    lo, hi = bounds or (None, None)
    if hi is not None and value > hi:
        value = (current + hi) / 2
    if lo is not None and value < lo:
        value = (current + lo) / 2
    return value if math.isfinite(value) else proposed


def feedback_direction(text: str) -> int:
    """+1 when feedback on an output says it should be larger ("too small", "increase it"), -1
    smaller, 0 when it says neither or both."""
    votes = {_sign(c, states=True) for c in _CLAUSES.split(text[:2000])} - {0}
    return votes.pop() if len(votes) == 1 else 0


def relation(points: Sequence[tuple[float, float]]) -> int:
    """+1 when the output grows with the number in every pair of (number, output) observed, -1
    when it shrinks in every pair, 0 when unknown (fewer than two numbers, or not monotone).
    A lone observation whose output equals the number counts as growing (an identity)."""
    pairs = sorted({x: y for x, y in points}.items())
    if len(pairs) == 1:
        return 1 if pairs[0][0] == pairs[0][1] else 0
    signs = {(b[1] > a[1]) - (b[1] < a[1]) for a, b in itertools.pairwise(pairs)}
    return signs.pop() if len(signs) == 1 else 0
