"""Without a score function, the gate's variants spread over the steps: probes.

With ``evaluate=`` the gate (:mod:`optimizers.step.gate`) scores a proposal and its variants
inside one step. Without it, a value set is scored only by the user's loop, one per step
(``record_score``, or the measurement the feedback states). Going back to the best values
after a worse step then costs a step that learns nothing: the best values' score is known.
Measured on the local 1.5B model (training family, no gate): 5 of 12 steps were such returns,
and the proposals in between changed all four parameters at once, so no score said which
change hurt.

So when a proposal made the score worse, the step that goes back to the best values applies,
from them, one **probe** of that change instead, the next step another (no model call for
either; each says so in its report):

* a number the proposal moved by a **sliver** of its range (under 1/16; as factors on a
  scale) gets none of the probes below: a line search comes in their place (its far moves,
  then bisections; offline, ``benchmarks/numeric_probes.py``, 243 / 201 -> 249 / 209 runs
  solved, the model's replayed proposals 37 -> 40 of 49: its pipeline runs had spent steps
  on a threshold's 0.95 -> 0.98 alone, opposite and shorter while 0.47 solved it);
* each change **alone**, when the proposal changed several parameters (choices first: a
  number moved with the wrong choice tells little; replayed on the local model's recorded
  proposals, `benchmarks/replay_probes.py`, 29 -> 32 of 42 runs solved);
* the numbers' **opposite** move, then a **shorter** one;
* a choice option **never tried**, then each other option alone (one tried only together
  with other changes may still be right on its own);
* on a plateau (the score has not moved for two steps, so small moves tell nothing): the
  numbers' **far opposite** move, four times the step the other way, and each number the
  proposal left alone moved **far** (halfway to either bound, the farther first): the ones
  moved may not be the ones that bind (a threshold explored while ``top_k = 1`` caps it),
  then all of them at once (each alone may be flat where only a joint move helps).

When nothing is queued, a step that would go back to the best values **bisects** instead: a
number whose tried values (the others as in the best) bracket the best value between worse
scores is tried halfway to the neighbour across the wider gap (a threshold between a value that
keeps too much and one that keeps too little, a rate between too slow and divergent).

A probe that scores better than the best becomes the best, and, when it moved numbers, the
same move once more (**longer**: the same step again, or the same factor) is the next probe, and
so on while the score improves, each step twice the last: a line search whose direction the
probes found (measured offline: a decay crawling 0.093, 0.088, 0.084, ... for 8 steps).
After any step that switched a choice and scored better, and after a probe of a choice that
scored worse, the real numbers are probed **x10 and /10** with it, each alone (another
optimizer or scaling of the features often needs another learning rate; past a value set
already tried, x100 and so on); after such a step, each count it changed is first
**undone** alone (a batch size doubled along with a better schedule may be what holds the
loss up). After a probe that scored
better, the probes still queued go on from the new best values: one change at a time, each
kept when it helps. A value set already tried is never probed again. When the values are the
best and the model proposes them again (a plateau), the step **explores** from them instead:
each choice switched alone, then each number far, then all far at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from optimizers.step.gate import (
    far_opposite,
    is_move,
    longer,
    numeric_value,
    opposite,
    rescaled,
    rounded,
    shorter,
    values_key,
    variant,
)
from optimizers.step.replies import same_value
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = [
    "LONGER",
    "MAX_PROBES",
    "SCALE",
    "Probe",
    "after_better",
    "after_worse",
    "explorations",
    "small_move",
    "untried_probe",
]

MAX_PROBES = 4  # probes queued from one worse proposal
SMALL = 16  # a move under 1/SMALL of a bounded number's range is small
LONGER = "the same move again, longer"
SCALE = "(another choice often needs another scale)"


class Probe(TypedDict):
    """A complete value set to apply, and where it comes from (said in the report)."""

    values: dict[str, Any]
    origin: str


def _moves(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in base and not same_value(base[k], v)}


def after_worse(
    best: Mapping[str, Any],
    worse: Mapping[str, Any],
    params: Sequence[Node],
    untried: Mapping[str, list[Any]],
    plateau: bool = False,
) -> list[Probe]:
    """The probes of the change from ``best`` to ``worse`` (which scored worse), best first;
    ``plateau``: it scored the same, after steps that all did (small moves tell nothing)."""
    nodes = {p.name: p for p in params}
    # a number moved by a sliver of its range tells little either way: its line searches
    # (far moves, bisections) come in place of its probes
    move = {
        k: v
        for k, v in _moves(best, worse).items()
        if k in nodes and not small_move(nodes[k], best[k], v)
    }
    numeric = {k: v for k, v in move.items() if is_move(nodes[k], best[k], v)}
    found: list[tuple[dict[str, Any], str]] = []
    blocked: set[str] = set()  # at a bound already: its far opposite cannot move it
    if plateau and numeric:
        far = variant(numeric, numeric, best, nodes, far_opposite)
        blocked = {k for k in numeric if same_value(far.get(k, best[k]), best[k])}
        found.append((far, "a far opposite move"))
    elif len(move) > 1:  # choices first: a number's change is worth little with the wrong one
        order = sorted(move, key=lambda k: not alternatives(nodes[k], best[k]))
        found += [({k: move[k]}, f"{k} changed alone (of the {len(move)} changes)") for k in order]
    if plateau:  # the numbers moved do not bind here: move the others, far
        for name, node in nodes.items():
            tested = name in move and name not in blocked
            for value in [] if tested else far_moves(node, best[name]):
                found.append(
                    ({name: value}, f"{name} moved far (the score did not follow the rest)")
                )
        joint = {k: v[0] for k, node in nodes.items() if (v := far_moves(node, best[k]))}
        if len(joint) > 1:  # where each alone is flat, both may have to move
            found.append((joint, "every number moved far at once"))
    if numeric and not plateau:
        found.append((variant(numeric, numeric, best, nodes, opposite), "the opposite move"))
        found.append((variant(numeric, numeric, best, nodes, shorter), "a shorter move"))
    for name, options in untried.items():
        if name in nodes and options and name not in move:
            found.append(({name: options[0]}, f"{name} = {options[0]!r}, never tried"))
    for name, node in nodes.items():  # tried only with other changes, maybe not alone
        if name not in move:
            found += [({name: o}, f"{name} = {o!r} alone") for o in alternatives(node, best[name])]
    out: list[Probe] = []
    keys: set[str] = set()
    for change, origin in found:
        values = {**best, **change}
        if change and _moves(best, values) and values_key(values) not in keys:
            keys.add(values_key(values))
            out.append(Probe(values=values, origin=origin))
    return out[:MAX_PROBES]


def small_move(node: Node, old: Any, new: Any) -> bool:
    """A move of a bounded number by less than 1/16 of its range, as factors on a positive
    range 10x or wider (a threshold of 0..2 from 0.95 to 0.98: the local model's pipeline runs
    spent their steps on such moves' probes, each alone, its opposite, a shorter one, while
    0.47 solved it)."""
    spec = node.spec
    lo, hi = (spec.bounds or (None, None)) if spec is not None else (None, None)
    if lo is None or hi is None or hi <= lo or not is_move(node, old, new):
        return False
    a, b = float(old), float(new)
    if lo > 0 and hi / lo >= 10 and a > 0 and b > 0:  # a scale: as factors (far_moves)
        return abs(math.log(b / a)) < math.log(hi / lo) / SMALL
    return abs(b - a) < (hi - lo) / SMALL


def explorations(
    best: Mapping[str, Any], params: Sequence[Node], untried: Mapping[str, list[Any]]
) -> list[Probe]:
    """From ``best``, when the model has nothing new to propose there: each choice switched
    alone (options never tried first), then each number moved far (halfway to either bound),
    then all numbers far at once. Choices first: a far number on a plateau of the wrong choice
    tells little (the training family sat on 'momentum' while 'sgd' solved)."""
    nodes = {p.name: p for p in params}
    found: list[tuple[dict[str, Any], str]] = []
    for name, node in nodes.items():
        new = [o for o in untried.get(name, []) if not same_value(o, best[name])]
        rest = [o for o in alternatives(node, best[name]) if o not in new]
        found += [({name: o}, f"{name} = {o!r}, never tried") for o in new]
        found += [({name: o}, f"{name} = {o!r} alone") for o in rest]
    for name, node in nodes.items():
        found += [({name: v}, f"{name} moved far") for v in far_moves(node, best[name])]
    joint = {k: v[0] for k, node in nodes.items() if (v := far_moves(node, best[k]))}
    if len(joint) > 1:
        found.append((joint, "every number moved far at once"))
    out: list[Probe] = []
    keys: set[str] = set()
    for change, origin in found:
        values = {**best, **change}
        if _moves(best, values) and values_key(values) not in keys:
            keys.add(values_key(values))
            out.append(Probe(values=values, origin=origin))
    return out


def far_moves(node: Node, current: Any) -> list[Any]:
    """A number halfway to each bound, the farther first (as factors for a positive range
    10x or wider: a window of 1..31 samples at 2 goes to 8, not 16), or x4 and /4 without
    bounds (positive numbers); [] for other kinds."""
    spec = node.spec
    if spec is None or not numeric_value(node, current):
        return []
    b = float(current)
    lo, hi = spec.bounds or (None, None)
    if lo is None or hi is None:
        found = [b * 4, b / 4] if b > 0 else []
    elif lo > 0 and hi / lo >= 10 and b > 0:
        found = sorted((math.sqrt(b * lo), math.sqrt(b * hi)), key=lambda v: -abs(math.log(v / b)))
    else:
        found = sorted(((b + lo) / 2, (b + hi) / 2), key=lambda v: -abs(v - b))
    out = []
    for value in found:
        value = rounded(spec.type, value)
        if not same_value(value, current) and not spec.check(value):
            out.append(value)
    return out


def alternatives(node: Node, current: Any) -> list[Any]:
    """The other options of a choice (or bool) parameter; [] for other kinds."""
    spec = node.spec
    options: Sequence[Any] = ()
    if spec is not None and spec.type is ParamType.CHOICE:
        options = spec.choices or ()
    elif spec is not None and spec.type is ParamType.BOOL:
        options = (True, False)
    return [o for o in options if not same_value(o, current)]


def after_better(
    before: Mapping[str, Any],
    better: Mapping[str, Any],
    params: Sequence[Node],
    tried: Sequence[Mapping[str, Any]] = (),
    grow: bool = False,
) -> list[Probe]:
    """After a step that scored better: for a move of numbers only, the same move once more,
    longer (halfway from ``better`` to a bound it would pass; ``grow``: the move was itself a
    longer one, so twice its step); for a move that switched a
    choice, each count it changed back alone (which change helped? a batch size the proposal
    doubled with a better schedule), then the real numbers (rates, thresholds) x10 and /10,
    rounded to half powers of ten: another choice often needs another scale."""
    nodes = {p.name: p for p in params}
    move = {k: v for k, v in _moves(before, better).items() if k in nodes}
    numeric = {k: v for k, v in move.items() if is_move(nodes[k], before[k], v)}
    if len(numeric) < len(move):  # counts have no scale: each one's change undone alone
        undo = [
            Probe(values={**better, k: before[k]}, origin=f"{k} back to {before[k]!r} alone")
            for k in numeric
            if getattr(nodes[k].spec, "type", None) is ParamType.INTEGER
        ]
        return undo + other_scales(before, better, params, tried)
    if not numeric:
        return []
    values = dict(better)
    for name, new in numeric.items():
        spec = nodes[name].spec
        assert spec is not None
        try:
            value = longer(float(before[name]), float(new))
            value = longer(float(new), value) if grow else value
        except (OverflowError, ZeroDivisionError):
            continue
        lo, hi = spec.bounds or (None, None)
        value = (new + hi) / 2 if hi is not None and value > hi else value
        value = (new + lo) / 2 if lo is not None and value < lo else value
        if not math.isfinite(value):
            continue
        value = rounded(spec.type, _snapped(value, spec.bounds))
        if not same_value(value, new) and not spec.check(value):
            values[name] = value
    if not _moves(better, values):
        return []
    return [Probe(values=values, origin=LONGER)]


def _snapped(value: float, bounds: tuple[float | None, float | None] | None) -> float:
    """A bound for a value within a thousandth of the range from it: a decay that factors
    took 0.01, 1e-4, 1e-8 ... has reached 0 as far as any score can tell."""
    lo, hi = bounds or (None, None)
    if lo is None or hi is None:
        return value
    near = (hi - lo) / 1000
    return lo if abs(value - lo) < near else hi if abs(hi - value) < near else value


def other_scales(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    params: Sequence[Node],
    tried: Sequence[Mapping[str, Any]] = (),
    worst: Sequence[Mapping[str, Any]] = (),
    scores: Mapping[str, float] | None = None,
) -> list[Probe]:
    """When the change from ``before`` to ``after`` switched a choice: ``after`` with each real
    number (a rate, a threshold) alone x10 and /10, rounded to half powers of ten; else []. A value
    set in ``tried`` is scaled again the same way (its score is known: the next one along the
    line is what is new; a proposal that already went x10 made x100 the probe to try), but not
    past one in ``worst`` (the worst score yet: a rate that diverged there diverges beyond),
    nor past one that scored below the value set before it on the way (``scores``, by
    ``values_key``: the line turns down there; a rate walked /10 four times on a falling loss)."""
    nodes = {p.name: p for p in params}
    if not any(alternatives(nodes[k], v) for k, v in _moves(before, after).items() if k in nodes):
        return []
    scores = scores or {}
    seen = {values_key(t) for t in tried}
    stop = {values_key(t) for t in worst}
    out = []
    for name, node in nodes.items():  # each alone: a rate x10 must not take a decay with it
        for factor in (10.0, 0.1):
            scaled: dict[str, Any] = dict(after)
            last = scores.get(values_key(after))
            back = rescaled(after, after, {name: node}, 1 / factor)
            behind = scores.get(values_key(back)) if back else None
            if behind is not None and last is not None and behind > last:
                continue  # the step before this way scored better: further on is downhill
            for times in range(1, MAX_PROBES + 1):
                more = rescaled(scaled, scaled, {name: node}, factor)
                if not more or not _moves(scaled, more):
                    break
                scaled = more
                if values_key(scaled) in stop:
                    break
                if values_key(scaled) in seen:
                    score = scores.get(values_key(scaled))
                    if score is not None and last is not None and score < last:
                        break
                    last = score if score is not None else last
                    continue
                how = f"x{factor**times:g}" if factor > 1 else f"/{factor**-times:g}"
                origin = f"{name} {how} {SCALE}"
                out.append(Probe(values=scaled, origin=origin))
                break
    return out


def rebased(probes: Sequence[Probe], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Probe]:
    """Probes queued from the ``old`` best values, each change made to the ``new`` best
    instead: after a probe that scored better the rest go on from it, one change at a time."""
    out = []
    for p in probes:
        values = {**new, **_moves(old, p["values"])}
        if _moves(new, values):
            out.append(Probe(values=values, origin=p["origin"]))
    return out


def untried_probe(probes: list[Probe], tried: Sequence[Mapping[str, Any]]) -> Probe | None:
    """Pop the first probe whose value set was never tried; None when none is left."""
    seen = {values_key(t) for t in tried}
    while probes:
        probe = probes.pop(0)
        if values_key(probe["values"]) not in seen:
            return probe
    return None
