"""Two checks of a proposed number against a small model's slips, before its step size is
chosen (:mod:`optimizers.step.numbers`); each leaves a note in the step's report.

* :func:`halfway_past_bounds`: a value past a bound of its parameter moves halfway to that
  bound instead of being rejected and asked again (measured on the local 1.5B model: told 411
  was past the bound 100, it answered 0.726 from 3, the wrong way).
* :func:`checked_direction`: a value that moves against the direction the evidence gives is
  mirrored, the same step the other way. The evidence, strongest first: the feedback on the one
  numeric output says which way the output must go ("too small") and the outputs seen so far
  say which way it moves with the number (:func:`~optimizers.step.direction.relation`); else
  the reply's own reasoning ("we need to increase x", :mod:`optimizers.step.direction`).
  Measured: "200 is too small ... increase x" came with ``"x": 150``; with the model's bracket
  "below 350" from one such slip, it stayed below 350 for 8 steps of "too small". Words that
  state the very value proposed ("a threshold of 0.70 or higher" with 0.7) agree with it and
  are not evidence against it (:func:`~optimizers.step.direction.names_value`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimizers.step.direction import (
    feedback_direction,
    mirror,
    names_value,
    relation,
    stated_direction,
)
from optimizers.step.numbers import NumberSteps, context_key, finite_number
from optimizers.step.records import StepContext
from optimizers.step.replies import same_value
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = ["checked_direction", "halfway_past_bounds", "lone_output", "numeric"]


def numeric(node: Node) -> bool:
    return node.spec is not None and node.spec.type in (ParamType.NUMBER, ParamType.INTEGER)


def halfway_past_bounds(
    raw: Mapping[str, Any], params: list[Node]
) -> tuple[dict[str, Any], list[str]]:
    """``raw`` with each number past a bound of its parameter moved halfway to that bound, and
    a note for each. Left to the spec's rejection when the current value is at the bound."""
    nodes = {p.name: p for p in params}
    out, notes = dict(raw), []
    for name, value in raw.items():
        node = nodes.get(name)
        spec = node.spec if node is not None else None
        if node is None or spec is None or spec.bounds is None or not numeric(node):
            continue
        current = node.peek()
        if not (finite_number(value) and finite_number(current)):
            continue
        lo, hi = spec.bounds
        bound = hi if hi is not None and value > hi else None
        bound = lo if lo is not None and value < lo else bound
        if bound is None:
            continue
        new: float = (current + bound) / 2
        new = round(new) if spec.type is ParamType.INTEGER else new
        new = bound if same_value(new, current) else new
        if spec.check(new) or same_value(new, current):
            continue
        out[name] = new
        notes.append(
            f"{name}: the model proposed {value:g}, past the bound {bound:g}: {new:g}, "
            "halfway to it, is applied"
        )
    return out, notes


def lone_output(ctx_outputs: list[tuple[Node, Any]]) -> tuple[float, str] | None:
    """The value and feedback text of the one output, when there is one and it is a number."""
    if len(ctx_outputs) != 1:
        return None
    node, feedback = ctx_outputs[0]
    value = node.peek()
    return (float(value), str(feedback)) if finite_number(value) else None


def checked_direction(
    node: Node, value: Any, ctx: StepContext, numbers: NumberSteps, integer: bool
) -> Any:
    """``value``, or its mirror when it moves against the direction the evidence gives (see the
    module docstring). Only in a step's first reply: the reasoning of a re-ask is about the
    rejected value ("411 is too large ... decrease" after 411 was past the bound)."""
    current = node.peek()
    if len(ctx.report.replies) > 1 or value == current:
        return value
    numbers_here = [p for p in ctx.params if numeric(p)]
    way, why = 0, ""
    lone = lone_output(list(ctx.sub.outputs))
    if lone is not None and len(numbers_here) == 1:
        context = context_key({p.name: p.peek() for p in ctx.params}, node.name)
        grows = relation(numbers.outputs(node.name, context))
        wants = feedback_direction(lone[1])
        way = grows * wants
        if way:
            said = "larger" if wants > 0 else "smaller"
            how = "grows" if grows > 0 else "shrinks"
            why = f"the feedback asks for a {said} output, and it {how} with {node.name}"
    if not way:
        changed = [
            p
            for p in numbers_here
            if p.name in ctx.report.proposed
            and not same_value(ctx.report.proposed[p.name], p.peek())
        ]
        names = [p.name for p in ctx.params]
        alone = len(changed) <= 1
        way = stated_direction(ctx.report.reasoning, node.name, names, alone=alone)
        if way and finite_number(value) and names_value(ctx.report.reasoning, node.name, value):
            way = 0  # the words state the very value proposed: they agree with it
        why = "its reasoning says to " + ("raise" if way > 0 else "lower") + " it"
    if not way or (value > current) == (way > 0):
        return value
    mirrored = mirror(current, value, node.spec.bounds if node.spec is not None else None)
    mirrored = round(mirrored) if integer else mirrored
    if mirrored == current or (mirrored > current) != (way > 0):
        return value
    ctx.report.notes.append(
        f"{node.name}: the model proposed {value:g}, but {why}: {mirrored:g}, "
        "the same step the other way"
    )
    return mirrored
