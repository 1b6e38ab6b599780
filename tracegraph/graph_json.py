"""A graph as plain JSON nodes and edges: what the run viewer draws (no graphviz needed).

Nodes come in topological order with the names and labels of the text view
(:mod:`tracegraph.text`), so every view names a node the same way. ``received`` marks the
parameters that feedback reached during backward, and ``path`` the nodes on a path from such a
parameter to a node that was given feedback: the way the feedback went, which the viewer
highlights.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracegraph.names import display_names, view_order
from tracegraph.node import Node, NodeKind
from tracegraph.shorten import shorten
from tracegraph.text import node_view

__all__ = ["graph_data"]

MAX_NODES = 400  # a bigger graph is cut (the .dot file keeps it whole)


def _kind(node: Node, error: bool) -> str:
    if error:
        return "error"
    return "param" if node.kind is NodeKind.PARAMETER else node.kind.value


def graph_data(outputs: Node | Iterable[Node], *, max_value: int = 60) -> dict[str, Any]:
    """``{"nodes": [...], "edges": [[from, to, arg], ...], "cut": N}`` of the graph below
    ``outputs``.

    >>> from tracegraph.node import Node, NodeKind
    >>> a = Node(2, NodeKind.INPUT, "a")
    >>> b = Node(4, NodeKind.CALL, "double", op="double", parents=(a,), arg_names=("x",))
    >>> data = graph_data(b)
    >>> [n["name"] for n in data["nodes"]], data["edges"]
    (['a', 'double_1'], [[0, 1, 'x']])
    """
    order = view_order(outputs)
    names = display_names(order)  # numbered over the whole graph, as the other views do
    cut = max(0, len(order) - MAX_NODES)
    order = order[-MAX_NODES:] if cut else order
    ids = {node: i for i, node in enumerate(order)}
    nodes, edges = [], []
    for node in order:
        view = node_view(node, names, max_value)
        nodes.append(
            {
                "id": ids[node],
                "name": view.name,
                "head": view.head,
                "value": view.value,
                "where": view.where,
                "kind": _kind(node, view.error),
                "feedback": [shorten(str(fb), 400) for fb in node.feedback],
                "received": bool(node.received),
            }
        )
        for parent, arg in zip(node.parents, node.arg_names, strict=False):
            if parent in ids:
                edges.append([ids[parent], ids[node], arg])
    on_path = _feedback_path(edges, nodes)
    for node_data in nodes:
        node_data["path"] = node_data["id"] in on_path
    return {"nodes": nodes, "edges": edges, "cut": cut}


def _reach(starts: Iterable[int], links: dict[int, list[int]]) -> set[int]:
    seen, todo = set(starts), list(starts)
    while todo:
        for nxt in links.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _feedback_path(edges: list[list[Any]], nodes: list[dict[str, Any]]) -> set[int]:
    """Nodes downstream of a parameter that received feedback and upstream of a node given
    feedback (iterative: agent graphs are deep)."""
    down: dict[int, list[int]] = {}
    up: dict[int, list[int]] = {}
    for a, b, _ in edges:
        down.setdefault(a, []).append(b)
        up.setdefault(b, []).append(a)
    sources = [d["id"] for d in nodes if d["received"]]
    sinks = [d["id"] for d in nodes if d["feedback"]]
    return _reach(sources, down) & _reach(sinks, up)
