"""The one naming scheme of every view of a graph: names local to the view, numbered in order.

A node is named by what it is: a parameter or a named input by the user's name, a call or an
exception by its op (``add``, ``split`` for ``call_method:split``), a constant ``const`` and an
unnamed input ``input``. No process-wide counter is involved: each view of a graph (the text
of :func:`tracegraph.text.format_graph`, the DOT picture, the run viewer's JSON, an optimizer's
prompt and its feedback messages) numbers the nodes it shows with :func:`view_names`, so they
all say ``add_2`` for the same node, in every process and thread.

The order that numbers nodes is :func:`view_order`: nodes grouped by the first output they
reach (outputs in the order given), then in topological order. It does not depend on which
thread made a node first when the outputs of a minibatch were traced concurrently.

>>> import tracegraph as tg
>>> y = tg.param(1, name="y")
>>> z = (y + 1) * (y + 2)
>>> [view_names(z)[n] for n in view_order(z)]
['y', 'const_1', 'add_1', 'const_2', 'add_2', 'mul_1']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tracegraph.graph import as_nodes, toposort
from tracegraph.node import Node, NodeKind

__all__ = ["base_name", "display_names", "view_names", "view_order"]

_AUTO_INPUT = re.compile(r"input(_\d+)?")  # tg.node(value) without a name (older traces: input_7)
_NUMBERED = (NodeKind.CALL, NodeKind.EXCEPTION, NodeKind.CONSTANT)


def base_name(node: Node) -> str | None:
    """What ``node`` is called before numbering, or None when it keeps the user's name."""
    kind = node.kind
    if kind in _NUMBERED:
        if kind is NodeKind.CONSTANT:
            return "const"
        return node.op.rpartition(":")[2] if node.op else node.name
    if kind is NodeKind.INPUT and _AUTO_INPUT.fullmatch(node.name):
        return "input"
    return None


def display_names(order: Iterable[Node]) -> dict[Node, str]:
    """A name per node, unique among ``order`` and numbered in that order.

    Calls, exceptions, constants and unnamed inputs are ``<base>_<n>`` (n counted per base
    from 1, skipping numbers a user's name already holds); user-named nodes keep their name,
    and a name repeated among them gets ``~2``, ``~3``...
    """
    order = list(order)
    bases = [base_name(node) for node in order]
    kept = {node.name for node, base in zip(order, bases, strict=True) if base is None}
    counts: dict[str, int] = {}  # per base
    repeats: dict[str, int] = {}  # per user name
    names: dict[Node, str] = {}
    for node, base in zip(order, bases, strict=True):
        if node in names:
            continue
        if base is None:
            count = repeats[node.name] = repeats.get(node.name, 0) + 1
            names[node] = node.name if count == 1 else f"{node.name}~{count}"
            continue
        while True:  # skip numbers a user-given name already holds
            count = counts[base] = counts.get(base, 0) + 1
            name = f"{base}_{count}"
            if name not in kept:
                break
        names[node] = name
    return names


def view_order(outputs: Node | Iterable[Node]) -> list[Node]:
    """The outputs and their ancestors by (first output reached, topological position).

    Still topological: a parent reaches every output its child reaches, so it sorts no later.
    """
    outs = as_nodes(outputs)
    order = toposort(outs)
    if len(outs) < 2:
        return order
    last = len(outs)
    rank: dict[Node, int] = {}
    for i, out in enumerate(outs):
        rank.setdefault(out, i)
    for node in reversed(order):
        r = rank.get(node, last)
        for parent in node.parents:
            if r < rank.get(parent, last):
                rank[parent] = r
    pos = {node: i for i, node in enumerate(order)}
    return sorted(order, key=lambda n: (rank.get(n, last), pos[n]))


def view_names(outputs: Node | Iterable[Node]) -> dict[Node, str]:
    """The names every view of the graph below ``outputs`` shows: :func:`display_names` of
    :func:`view_order`."""
    return display_names(view_order(outputs))
