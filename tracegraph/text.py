"""The text view of a graph: one stable line per node, in topological order.

This is the first view of a graph (tests compare it against golden files) and the source of
the labels the DOT view draws; nodes are named as in every view (:mod:`tracegraph.names`).
File paths are shown by base name so the text does not depend on where the code lives; long
values are cut with a visible ``...<+N chars>`` marker.

>>> from tracegraph.node import Node, NodeKind
>>> a = Node(2, NodeKind.INPUT, "a")
>>> b = Node(4, NodeKind.CALL, "double", op="double", parents=(a,), arg_names=("x",))
>>> print(format_graph(b))
a: input = 2
double_1 = double(x=a) -> 4
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tracegraph.names import display_names, view_order
from tracegraph.node import Node, NodeKind, SourceLocation
from tracegraph.shorten import short_repr

__all__ = ["NodeView", "display_names", "format_graph", "node_view", "short_repr"]


def short_location(location: SourceLocation) -> str:
    """``file:line`` with the file's base name; empty when the location is unknown."""
    if location.line <= 0 and location.file.startswith("<"):
        return ""
    return f"{os.path.basename(location.file)}:{location.line}"


@dataclass(frozen=True)
class NodeView:
    """The pieces every view shows of one node.

    Attributes:
        name: the display name.
        head: ``parameter[text]``, ``input``, ``constant`` or ``op(arg=name, ...)``.
        value: the truncated value, or ``raised Type: message`` for an exception.
        where: ``file:line`` or empty.
        call: True for a call or exception node (it has an op).
        error: True for an exception node.
    """

    name: str
    head: str
    value: str
    where: str
    call: bool
    error: bool

    def line(self) -> str:
        """The node as one line of :func:`format_graph`."""
        if self.call:
            text = f"{self.name} = {self.head}"
            text += f" !! {self.value}" if self.error else f" -> {self.value}"
        else:
            text = f"{self.name}: {self.head} = {self.value}"
        return f"{text}  # {self.where}" if self.where else text


def node_view(node: Node, names: dict[Node, str], max_value: int) -> NodeView:
    """What to show of ``node``; ``names`` must hold its parents (from :func:`display_names`)."""
    kind = node.kind
    if kind is NodeKind.PARAMETER:
        spec = node.spec
        tag = spec.type.value if spec is not None else "?"
        head = f"parameter[{tag}{'' if node.trainable else ', fixed'}]"
    elif kind in (NodeKind.INPUT, NodeKind.CONSTANT):
        head = kind.value
    else:
        args = ", ".join(
            f"{arg}={names.get(parent, parent.name)}"
            for arg, parent in zip(node.arg_names, node.parents, strict=False)
        )
        head = f"{node.op}({args})"
    call = kind in (NodeKind.CALL, NodeKind.EXCEPTION)
    error = kind is NodeKind.EXCEPTION
    value = _exception_text(node._value, max_value) if error else short_repr(node._value, max_value)
    where = short_location(node.location)
    return NodeView(names.get(node, node.name), head, value, where, call, error)


def _exception_text(info: Any, max_value: int) -> str:
    """``raised Type: message`` from an ExceptionInfo-like value (or an exception)."""
    if isinstance(info, BaseException):
        kind, message = type(info).__name__, str(info)
    else:
        kind = str(getattr(info, "type", type(info).__name__))
        message = str(getattr(info, "message", info))
    message = message.replace("\n", " ")
    if len(message) > max_value:
        message = f"{message[:max_value]}...<+{len(message) - max_value} chars>"
    return f"raised {kind}: {message}"


def feedback_lines(order: list[Node], names: dict[Node, str], max_value: int) -> list[str]:
    """Trailing lines: feedback given to nodes, then feedback received by parameters."""
    lines = []
    for node in order:
        for fb in node.feedback:
            lines.append(f"feedback on {names[node]}: {short_repr(str(fb), max_value)}")
    for node in order:
        for rec in node.received:
            source = names.get(rec.output, rec.output.name)
            shown = short_repr(str(rec.feedback), max_value)
            lines.append(f"received by {names[node]} from {source}: {shown}")
    return lines


def format_graph(outputs: Node | Iterable[Node], *, max_value: int = 60) -> str:
    """The graph below ``outputs`` as text, one line per node in topological order.

    Nodes are listed, and named, in :func:`tracegraph.names.view_order` (grouped by the
    first output they reach), under the names every view uses (``add_1``, ``const_2``).

    Calls read ``name = op(arg=parent, ...) -> value  # file:line``; parameters
    ``name: parameter[type] = value``; inputs and constants alike; exception nodes show
    ``!! raised Type: message``. Feedback follows as ``feedback on ...`` / ``received by ...``
    lines.

    Args:
        outputs: one node or several.
        max_value: the longest value shown before it is cut.
    """
    order = view_order(outputs)
    names = display_names(order)
    lines = [node_view(node, names, max_value).line() for node in order]
    return "\n".join(lines + feedback_lines(order, names, max_value))
