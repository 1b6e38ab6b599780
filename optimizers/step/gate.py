"""Acceptance gated by evaluation: with a score function, a step applies only what scores well.

An optimizer given ``evaluate`` (``{name: value} -> score``, higher is better) scores each
proposal before applying it, against the current values (both cached by value set):

* a proposal that scores **at least as well** as the current values is applied; where it moved
  numbers and scored better, the same move made **longer** (twice the step, or the factor
  squared) is scored too, and the better of the two is applied: a line search whose direction
  the model chose;
* a proposal that scores **worse** (or the same, when it moved numbers) is not applied as it
  is: the **opposite move**, a **shorter move** (half the step; on a plateau, where the score
  did not move, a **far opposite move**, four times the step, and the positive numbers the
  proposal left alone doubled and halved; when several numbers moved together, each one's
  move alone, either way), and, for a choice parameter,
  an option **never applied** yet (with the real-number parameters swept over scales x10, /10,
  x100...: another choice often needs another scale; also when the proposal did score better)
  are scored (at most ``max_evaluations`` new value sets a step), and the
  best of them is applied if it beats the current values; otherwise nothing changes and every
  candidate is a :class:`~optimizers.step.replies.Rejection` that gives its score, which the
  re-ask and the next prompts show to the model.

So a step never makes the score worse, a small model's wrong direction costs no step, and
what every scored value set implies is kept: scored numbers feed the brackets of
:mod:`optimizers.step.numbers` (a better score after a move up says the best value is above).

>>> import tracegraph as tg
>>> x = tg.param(4.0, name="x")
>>> gate = Gate(lambda v: -abs(v["x"] - 1.0))
>>> chosen = gate.judge([x], {x: 7.0}, {})    # the wrong way: the opposite move wins
>>> chosen.values, chosen.origin
({'x': 1.0}, 'the opposite move')
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optimizers.step.numbers import finite_number
from optimizers.step.problem import show_value
from optimizers.step.replies import Rejection, same_value
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = [
    "Candidate",
    "Evaluate",
    "Gate",
    "Verdict",
    "far_opposite",
    "is_move",
    "longer",
    "numeric_value",
    "opposite",
    "rejections",
    "rescaled",
    "rounded",
    "said_scores",
    "short_values",
    "shorter",
    "variant",
]

Evaluate = Callable[[dict[str, Any]], "float | Awaitable[float]"]
CACHE = 512  # scored value sets kept
SWEEP = (1.0, 10.0, 0.1, 100.0, 0.01, 1000.0, 0.001)  # scales tried with a new choice


@dataclass
class Candidate:
    """One scored value set: the values that differ from the current ones, and where from."""

    values: dict[str, Any]
    origin: str
    score: float
    error: str = ""


@dataclass
class Verdict:
    """What the gate decided: ``values`` to apply (empty: nothing), the scores it saw."""

    values: dict[str, Any]
    origin: str
    current: float
    tried: list[Candidate] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        for c in self.tried:
            if c.values == self.values and c.origin == self.origin:
                return c.score
        return None


def values_key(values: Mapping[str, Any]) -> str:
    try:
        return json.dumps(values, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(sorted(values.items(), key=lambda kv: kv[0]))


class Gate:
    """Scores value sets with the user's ``evaluate`` (cached) and judges proposals.

    Args:
        evaluate: ``{name: value} -> score`` (higher is better); it must read the values from
            its argument, not from the parameters. A coroutine function is run to completion.
        max_evaluations: the most value sets scored in one step (the proposal included).
    """

    def __init__(self, evaluate: Evaluate, max_evaluations: int = 6) -> None:
        if not callable(evaluate):
            raise TypeError(f"evaluate must be callable, got {evaluate!r:.80}")
        if max_evaluations < 1:
            raise ValueError("max_evaluations must be >= 1")
        self.evaluate = evaluate
        self.max_evaluations = max_evaluations
        self.cache: dict[str, tuple[float, str]] = {}
        self.evaluations = 0  # calls of evaluate (cache hits not counted)

    def score(self, values: Mapping[str, Any]) -> tuple[float, str]:
        """The score of a complete value set, and the error text if evaluating it failed
        (then the score is -inf: a value set that breaks the workflow is never applied)."""
        key = values_key(values)
        if key in self.cache:
            return self.cache[key]
        self.evaluations += 1
        try:
            result = self.evaluate(dict(values))
            if inspect.isawaitable(result):
                result = asyncio.run(_wait(result))
            score, error = float(result), ""
            if math.isnan(score):
                score, error = -math.inf, "evaluate returned NaN"
        except Exception as exc:  # the user's workflow failing on these values is a verdict
            score, error = -math.inf, f"evaluate raised {type(exc).__name__}: {exc}"[:300]
        if len(self.cache) >= CACHE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = (score, error)
        return score, error

    def judge(
        self,
        params: Sequence[Node],
        proposal: Mapping[Node, Any],
        untried: Mapping[str, list[Any]],
        last: Mapping[str, tuple[float, float]] | None = None,
    ) -> Verdict:
        """Score ``proposal`` (node -> new value) and its variants against the current values.

        ``last``: per number, its last applied move (from, to); a longer move in the same
        direction is at least twice as long as that one (a small model that moved +200 and
        then proposes +1 is not converging, it lost track of the scale)."""
        now = {p.name: p.peek() for p in params}
        base, _ = self.score(now)
        moves = {n.name: v for n, v in proposal.items()}
        nodes = {p.name: p for p in params}
        verdict = Verdict({}, "", base)
        budget = [self.max_evaluations]

        def trial(values: dict[str, Any], origin: str) -> Candidate | None:
            if not values or any(c.values == values for c in verdict.tried):
                return None
            if all(same_value(now[k], v) for k, v in values.items()):
                return None
            if values_key({**now, **values}) not in self.cache:  # cached scores are free
                if budget[0] <= 0:
                    return None
                budget[0] -= 1
            score, error = self.score({**now, **values})
            verdict.tried.append(c := Candidate(values, origin, score, error))
            return c

        first = trial(moves, "proposed")
        if first is None:
            return verdict
        numeric = {k: v for k, v in moves.items() if is_move(nodes[k], now[k], v)}
        best = first if first.score >= base else None
        if numeric and first.score > base:  # a good direction: try going further
            further = variant(moves, numeric, now, nodes, longer, last or {})
            c = trial(further, "a longer move")
            if c is not None and c.score > first.score:
                best = c
        elif numeric:  # worse: the other way, or not as far; the same (a plateau): other way, far
            second = ("a shorter move", shorter)
            if first.score == base:
                second = ("a far opposite move", far_opposite)
            for origin, how in (("the opposite move", opposite), second):
                c = trial(variant(moves, numeric, now, nodes, how), origin)
                if c is not None and c.score > base and (best is None or c.score > best.score):
                    best = c
                    break  # (with one peak, better the other way means worse this way)
            for name in numeric if best is None and len(numeric) > 1 else ():
                # the numbers moved together did not help: each one's move alone, either way
                one = {name: numeric[name]}
                for alone, origin in ((one, "alone"), (variant(one, one, now, nodes, opposite),
                                                       "alone, the other way")):  # fmt: skip
                    c = trial(alone, f"{name} {origin}")
                    if c is not None and c.score > base and (best is None or c.score > best.score):
                        best = c
            if first.score == base and best in (None, first):  # a plateau: numbers left alone
                for name, node in nodes.items():
                    for factor in () if name in moves else (2.0, 0.5):
                        c = trial(_doubled(node, now[name], factor, moves), f"{name} x{factor:g}")
                        if (
                            c is not None
                            and c.score > base
                            and (best is None or c.score > best.score)
                        ):
                            best = c
        for name, options in untried.items():  # a choice never applied, with the proposal
            if name not in nodes or not options:
                continue
            switched = {**moves, name: options[0]}
            origin = f"{name} = {options[0]!r}, never tried"
            # another choice often needs another scale of the rates and thresholds: swept
            # over the steps (scored value sets are cached and cost nothing again)
            for factor in SWEEP:
                scaled = rescaled(switched, now, nodes, factor) if factor != 1 else switched
                said = origin if factor == 1 else f"{origin}, the real numbers x{factor:g}"
                c = trial(scaled, said)
                if c is not None and c.score > base and (best is None or c.score > best.score):
                    best = c
        if best is not None:
            verdict.values, verdict.origin = best.values, best.origin
        return verdict


async def _wait(result: Awaitable[float]) -> float:
    return await result


def numeric_value(node: Node, value: Any) -> bool:
    """Whether ``node`` is a number parameter (real or integer) and ``value`` a finite number."""
    spec = node.spec
    numeric = spec is not None and spec.type in (ParamType.NUMBER, ParamType.INTEGER)
    return numeric and finite_number(value)


def rounded(kind: ParamType, value: float) -> float:
    """An integer parameter's value rounded, a number's to 6 significant digits."""
    return round(value) if kind is ParamType.INTEGER else float(f"{value:.6g}")


def is_move(node: Node, old: Any, new: Any) -> bool:
    return numeric_value(node, old) and finite_number(new) and old != new


def _factor(old: float, new: float) -> bool:
    """Moves of positive numbers by a factor of 2 or more are repeated as factors."""
    return old > 0 and new > 0 and max(old / new, new / old) >= 2


def longer(old: float, new: float, before: tuple[float, float] | None = None) -> float:
    """Twice the step (or the factor squared), and at least twice the last move that way."""
    value = new * new / old if _factor(old, new) else new + (new - old)
    if before is None or before[1] != old or (before[1] > before[0]) != (new > old):
        return value
    a, b = before
    bigger = old * (b / a) ** 2 if _factor(a, b) and old > 0 else old + 2 * (b - a)
    return max(value, bigger) if new > old else min(value, bigger)


def opposite(old: float, new: float) -> float:
    return old * old / new if _factor(old, new) else old - (new - old)


def far_opposite(old: float, new: float) -> float:
    """Four times the step the other way (a plateau: small moves tell nothing)."""
    return old * (old / new) ** 4 if _factor(old, new) else old - 4 * (new - old)


def shorter(old: float, new: float) -> float:
    return math.sqrt(old * new) if _factor(old, new) else old + (new - old) / 2


def _doubled(node: Node, old: Any, factor: float, moves: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal with a positive number it left alone multiplied by ``factor`` (rounded for
    an integer, within bounds); {} when that number cannot move so."""
    spec = node.spec
    if spec is None or not numeric_value(node, old) or old <= 0:
        return {}
    value = rounded(spec.type, old * factor)
    if value == old or spec.check(value):
        return {}
    return {**moves, node.name: value}


def rescaled(
    values: Mapping[str, Any], now: Mapping[str, Any], nodes: Mapping[str, Node], factor: float
) -> dict[str, Any]:
    """``values`` with every positive real-number parameter (a rate, a threshold: not a count)
    multiplied by ``factor`` and rounded to a half power of ten (..., 0.1, 0.316, 1, ...),
    within its bounds; {} when none can move."""
    out, moved = dict(values), False
    for name, node in nodes.items():
        old = values.get(name, now[name])
        spec = node.spec
        if spec is None or spec.type is not ParamType.NUMBER or not finite_number(old) or old <= 0:
            continue
        # on a grid, so the sweep's value sets are the same from step to step (cached); half
        # powers of ten, as 0.0316 x10 rounded to a power of ten is 1, which diverged where
        # 0.316 solved (the training family, seed 0)
        value = float(f"{10 ** (round(2 * math.log10(old * factor)) / 2):.6g}")
        if not spec.check(value):
            out[name], moved = value, True
    return out if moved else {}


def variant(
    moves: Mapping[str, Any],
    numeric: Mapping[str, Any],
    now: Mapping[str, Any],
    nodes: Mapping[str, Node],
    how: Callable[..., float],
    last: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The proposal with every numeric move replaced by ``how(old, new)``, kept within the
    parameter's bounds (halfway to a bound it would pass); a number that cannot move so (at
    its bound already) keeps its current value; {} if no number moves."""
    out, moved = dict(moves), False
    for name, new in numeric.items():
        node, old = nodes[name], now[name]
        assert node.spec is not None
        try:
            value = how(float(old), float(new), *([last.get(name)] if last is not None else []))
        except (OverflowError, ZeroDivisionError):  # extreme values: no such variant
            value = math.nan
        lo, hi = node.spec.bounds or (None, None)
        if hi is not None and value > hi:
            value = (old + hi) / 2
        if lo is not None and value < lo:
            value = (old + lo) / 2
        if math.isfinite(value):
            value = rounded(node.spec.type, value)
        if not math.isfinite(value) or value == old or node.spec.check(value):
            out[name] = old
            continue
        out[name], moved = value, True
    return out if moved else {}


def said_scores(verdict: Verdict) -> str:
    tried = "; ".join(
        f"{c.origin} {short_values(c.values)} scored {c.score:g}"
        + (f" ({c.error})" if c.error else "")
        for c in verdict.tried
    )
    return f"current values score {verdict.current:g}; {tried}"


def short_values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show_value(v, 40)}" for k, v in values.items())


def rejections(verdict: Verdict, skip: str = "", only: str = "") -> list[Rejection]:
    """A rejection per parameter of each scored value set not applied, with its score."""
    applied = verdict.score
    out = []
    for c in verdict.tried:
        if c.origin == skip or (only and c.origin != only):
            continue
        if applied is not None and c.score > verdict.current:
            why = f"scored {c.score:g}, better than the current {verdict.current:g} but not above "
            why += f"{applied:g} ({verdict.origin}, applied)"
        else:
            word = "worse than" if c.score < verdict.current else "no better than"
            why = f"scored {c.score:g}, {word} the current values ({verdict.current:g})"
        if c.origin != "proposed":
            why = f"tried by the optimizer ({c.origin}): {why}"
        if c.error:
            why += f": {c.error}"
        out += [Rejection(k, v, [why]) for k, v in c.values.items()]
    return out
