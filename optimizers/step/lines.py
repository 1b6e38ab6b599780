"""Line searches along one number at a time, from the best values, with no model call.

A number's **line** is the value sets scored so far that equal the best values but for that
number. Each side of the best value on it is either **bracketed** (some value there scored
worse) or **open** (nothing there scored worse: never tried, or only ties). A bracketed side
is bisected: halfway between the farthest tie and the first worse value (a golden-section
search, so one side cannot be narrowed forever). An open side is moved far: halfway from the
farthest tie to the bound (as a factor on a positive range 10x or wider), x4 or /4 without
bounds. Bisections come first, widest first, then open sides, widest first: where a step
went back to the best values and learned nothing, it now tries a side no score has ruled out
(the local 1.5B model's pipeline run sat on threshold ties at 0.95..0.98 while 0.47 solved
it). Measured offline (``benchmarks/numeric_probes.py``, ``benchmarks/hyper_steps.py``):
neutral to slightly better (227 / 179 -> 227 / 180; 28 of 30 retrieval runs either way);
taking turns between numbers instead (another number's open side before a second bisection)
was worse: 28 -> 25 of 30 retrieval runs. Only a **narrow** next bisection (a move under 1/16
of the range, as factors on a scale: ``probes.small_move``) of the number whose bisection
just scored worse waits for the open sides: the model's pipeline runs halved a threshold's
bracket 0.95..1.475 four times over while the other side and the window were never tried
(offline 229 / 181 -> 230 / 186; retrieval and the model's replayed proposals,
``benchmarks/replay_probes.py``, unchanged).

A number whose open side is four times as wide as its bracketed one or more (a rate that
scored worse at 0.0001 and best at 0.001, never tried above) is moved far that way before its
bracket is bisected: the model's training_b run bisected 0.001..0.00032 five times while 0.1
was never tried (offline 249 / 209 -> 253 / 212, the pipeline stand-ins 55 / 46 -> 59 / 49; the
model's replayed proposals, retrieval and the rest unchanged).

Where the feedback states a count and the count it expects ("found 3 events, expected 5"),
the way each number moved that count along its line so far says which way closes the gap; a
probe the other way comes after all the rest (the model's pipeline runs bisected towards
higher thresholds, fewer events, with too few found already: replayed 7 -> 9 of 15 solved).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from optimizers.step.gate import numeric_value, rounded
from optimizers.step.numbers import finite_number
from optimizers.step.probes import Probe, far_moves, small_move
from optimizers.step.replies import same_value
from tracegraph.node import Node

__all__ = ["BISECTION", "bisections", "count_gap", "line_probes", "open_sides", "widens_gap"]

BISECTION = "a bisection"  # the end of a bisection's origin
MIN_WIDTH = 0.02  # a side narrower than this (log ratio, or relative to the value) is done
OPEN_FIRST = 4  # an open side this many times as wide as the number's bisection goes first

Scored = Sequence[tuple[Mapping[str, Any], float]]


def line_probes(
    best: Mapping[str, Any],
    best_score: float,
    tried: Scored,
    params: Sequence[Node],
    bisected: str | None = None,
    gaps: Scored = (),
) -> list[Probe]:
    """Every bisection (widest first), then every open side's far move (widest first); a
    number whose open side is :data:`OPEN_FIRST` times as wide as its bisection or more is
    moved far first, its bisection after the other open sides; after a bisection of
    ``bisected`` that scored worse, its next one after all the rest. ``gaps``:
    value sets with the count their feedback states minus the count it expects ("found 3
    events, expected 5": -2); a probe that moves a number the way its line says makes the gap
    wider comes after all the others."""
    nodes = {p.name: p for p in params}
    halves = sorted(_bisections(best, best_score, tried, params), key=lambda wp: -wp[0])
    narrow = [p for _, p in halves if _moved(best, p) == bisected and _narrow(nodes, best, p)]
    opens = sorted(_open(best, best_score, tried, params), key=lambda wp: -wp[0])
    wide: dict[str | None, float] = {}  # each number's widest open side
    for width, p in opens:
        wide.setdefault(_moved(best, p), width)
    later = [
        p
        for width, p in halves
        if p not in narrow and wide.get(_moved(best, p), 0.0) >= OPEN_FIRST * width
    ]
    first = {_moved(best, p) for p in later}
    lead = [p for _, p in opens if _moved(best, p) in first]
    found = lead + [p for _, p in halves if p not in narrow and p not in later]
    found += [p for _, p in opens if p not in lead] + later + narrow
    ways = {p.name: _count_way(best, p.name, gaps) for p in params}
    return sorted(found, key=lambda p: _against(best, p, ways))  # stable: the order above


COUNT_GAP = re.compile(
    r"\b(?:found|got|returned|detected|retrieved|kept|selected|produced)\s+(\d+)\b[^;.]{0,40}?"
    r"\b(?:expected|wanted|needed|target(?:ed)?|should be)\s+(\d+)\b",
    re.IGNORECASE,
)


def count_gap(feedback: str) -> int | None:
    """The count a feedback states minus the one it expects, or None.

    >>> count_gap("precision 0.75, recall 0.60, F1 0.67; found 4 events, expected 5")
    -1
    >>> count_gap("F1 = 0.50 (1 of 3 relevant passages found)") is None
    True
    """
    found = COUNT_GAP.findall(feedback[:2000])
    return int(found[0][0]) - int(found[0][1]) if len(found) == 1 else None


def _count_way(best: Mapping[str, Any], name: str, gaps: Scored) -> int:
    """Which way ``name`` should move to close the count gap at ``best`` (+1, -1; 0: unknown),
    from how the gap moved along its line (every step between neighbours must agree)."""
    at_best = [g for v, g in gaps if all(same_value(v.get(k), x) for k, x in best.items())]
    if not at_best or at_best[0] == 0:
        return 0
    line = sorted(set(_line(best, name, gaps)) | {(float(best[name]), at_best[0])})
    signs = {
        math.copysign(1, (g2 - g1) / (x2 - x1))
        for (x1, g1), (x2, g2) in itertools.pairwise(line)
        if x2 != x1 and g2 != g1
    }
    if len(signs) != 1:
        return 0
    return int(-math.copysign(1, at_best[0]) * signs.pop())


def widens_gap(best: Mapping[str, Any], probe: Probe, params: Sequence[Node], gaps: Scored) -> bool:
    """Whether ``probe`` moves one number the way its line says widens the count gap."""
    return _against(best, probe, {p.name: _count_way(best, p.name, gaps) for p in params})


def _against(best: Mapping[str, Any], probe: Probe, ways: Mapping[str, int]) -> bool:
    name = _moved(best, probe)
    if name is None or not ways.get(name):
        return False
    return (float(probe["values"][name]) - float(best[name])) * ways[name] < 0


def _narrow(nodes: Mapping[str, Node], best: Mapping[str, Any], probe: Probe) -> bool:
    """A bisection that moves its number by a sliver of its range (``small_move``)."""
    name = _moved(best, probe)
    if name is None or name not in nodes:
        return False
    return small_move(nodes[name], best[name], probe["values"][name])


def _moved(best: Mapping[str, Any], probe: Probe) -> str | None:
    names = [k for k, v in probe["values"].items() if not same_value(best.get(k), v)]
    return names[0] if len(names) == 1 else None


def bisections(
    best: Mapping[str, Any], best_score: float, tried: Scored, params: Sequence[Node]
) -> list[Probe]:
    """The bracketed sides' bisections, widest first (one per number: its wider side)."""
    return [
        p for _, p in sorted(_bisections(best, best_score, tried, params), key=lambda wp: -wp[0])
    ]


def open_sides(
    best: Mapping[str, Any], best_score: float, tried: Scored, params: Sequence[Node]
) -> list[Probe]:
    """The open sides' far moves, widest first."""
    return [p for _, p in sorted(_open(best, best_score, tried, params), key=lambda wp: -wp[0])]


def _line(best: Mapping[str, Any], name: str, tried: Scored) -> list[tuple[float, float]]:
    return [
        (float(v[name]), s)
        for v, s in tried
        if finite_number(v.get(name))
        and all(same_value(v.get(k), x) for k, x in best.items() if k != name)
    ]


def _bisections(
    best: Mapping[str, Any], best_score: float, tried: Scored, params: Sequence[Node]
) -> list[tuple[float, Probe]]:
    """For each number: on each side of the best value, the nearest value that scored worse
    and the farthest that tied before it; the value halfway between those two (a tie is as
    good as the best: the optimum may lie past it), on the side with the wider gap; halfway as
    a factor for positive numbers a factor of 2 or more apart."""
    found: list[tuple[float, Probe]] = []
    for node in params:
        name, spec = node.name, node.spec
        if spec is None or not numeric_value(node, best.get(name)):
            continue
        b = float(best[name])
        segments = [
            (i, v, score) for i, v, score in _sides(b, _line(best, name, tried), best_score)
            if v is not None
        ]  # fmt: skip
        if not segments:
            continue
        ratio = b > 0 and all(v > 0 for _, v, _ in segments)
        ratio = ratio and any(max(v / i, i / v) >= 2 for i, v, _ in segments)
        gaps = [(_gap(i, v, b, ratio), v, i, score) for i, v, score in segments]
        width, value, inner, score = max(gaps)  # a tie: the larger value's side
        mid = math.sqrt(inner * value) if ratio else (inner + value) / 2
        mid = rounded(spec.type, mid)
        if (
            width < MIN_WIDTH
            or spec.check(mid)
            or any(same_value(mid, x) for x in (b, inner, value))
        ):
            continue
        origin = f"{name} halfway to {value:g} (scored {score:g}): {BISECTION}"
        found.append((width, Probe(values={**best, name: mid}, origin=origin)))
    return found


def _open(
    best: Mapping[str, Any], best_score: float, tried: Scored, params: Sequence[Node]
) -> list[tuple[float, Probe]]:
    """For each number and each side of its best value where nothing scored worse: the far
    move from the farthest tie on that side (``far_moves``); its width is twice the move's."""
    found: list[tuple[float, Probe]] = []
    for node in params:
        name = node.name
        if node.spec is None or not numeric_value(node, best.get(name)):
            continue
        b = float(best[name])
        for side, (inner, worse, _) in zip(
            (-1, 1), _sides(b, _line(best, name, tried), best_score), strict=True
        ):
            if worse is not None:
                continue
            for value in far_moves(node, inner):
                if (float(value) - inner) * side <= 0:
                    continue
                ratio = inner > 0 and value > 0 and max(value / inner, inner / value) >= 2
                width = 2 * _gap(inner, float(value), b, ratio)
                if width < MIN_WIDTH:
                    continue
                tie = "" if inner == b else f" past {inner:g} (it tied)"
                origin = f"{name} moved far{tie}: nothing that way scored worse yet"
                found.append((width, Probe(values={**best, name: value}, origin=origin)))
    return found


def _sides(
    b: float, line: Sequence[tuple[float, float]], best_score: float
) -> list[tuple[float, float | None, float]]:
    """Per side of ``b`` (below, then above): the farthest value that tied before the nearest
    worse one, that worse value and its score (None and nan: nothing there scored worse)."""
    out: list[tuple[float, float | None, float]] = []
    for side in (-1, 1):
        inner, worse, score = b, None, math.nan
        for v, s in sorted((vs for vs in line if (vs[0] - b) * side > 0),
                           key=lambda vs: abs(vs[0] - b)):  # fmt: skip
            if s < best_score:
                worse, score = v, s
                break
            inner = v
        out.append((inner, worse, score))
    return out


def _gap(inner: float, outer: float, b: float, ratio: bool) -> float:
    """How wide a segment is: as a log ratio, or relative to the best value's size."""
    return abs(math.log(outer / inner)) if ratio else abs(outer - inner) / max(abs(b), 1e-12)
