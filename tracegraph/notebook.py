"""How nodes and traced graphs display themselves in a notebook (Jupyter and friends).

A :class:`~tracegraph.node.Node` shows its name, kind, value, source line and feedback, and the
graph below it; a :class:`~tracegraph.graph.Subgraph` (what ``tg.relevant_subgraph`` returns)
shows its parameters, the feedback of its outputs and its graph. The picture is SVG drawn by
graphviz's ``dot`` when it is installed, else the text view. Node cannot import this module
(it sits below everything), so :func:`install` puts the methods on the classes when
``tracegraph`` is imported.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterable
from typing import Any

from tracegraph.dot import to_dot
from tracegraph.graph import Subgraph, toposort
from tracegraph.names import view_names
from tracegraph.node import Node
from tracegraph.shorten import short_repr
from tracegraph.text import format_graph, short_location

__all__ = ["graph_html", "install", "node_html", "subgraph_html"]

MAX_PICTURE = 300  # nodes; a larger graph is shown as text (dot gets slow, the picture unreadable)
_STYLE = "font-family:monospace;font-size:12px;border-collapse:collapse"


def graph_html(outputs: Node | Iterable[Node]) -> str:
    """The graph below ``outputs``: inline SVG when ``dot`` is installed, else the text view."""
    order = toposort(outputs)
    if shutil.which("dot") is not None and len(order) <= MAX_PICTURE:
        try:
            svg = to_dot(outputs).pipe(format="svg").decode("utf-8")
            return svg[svg.index("<svg") :]
        except Exception:  # a broken dot install: fall back to text, which always works
            pass
    return f"<pre>{html.escape(format_graph(outputs))}</pre>"


def _row(key: str, value: str) -> str:
    return (
        f'<tr><th style="text-align:left;padding-right:1em">{html.escape(key)}</th>'
        f"<td>{html.escape(value)}</td></tr>"
    )


def node_html(node: Node) -> str:
    """A node's facts in a small table, and the graph it was computed from."""
    rows = [_row("name", view_names(node)[node]), _row("kind", node.kind.value)]
    if node.op:
        rows.append(_row("op", node.op))
    rows.append(_row("value", short_repr(node._value, 500)))
    where = short_location(node.location)
    if where:
        rows.append(_row("where", where))
    rows += [_row("feedback", str(fb)) for fb in node.feedback]
    return f'<table style="{_STYLE}">{"".join(rows)}</table>{graph_html(node)}'


def subgraph_html(sub: Subgraph) -> str:
    """The parameters, the outputs with their feedback, and the graph of a Subgraph."""
    rows = [_row("parameter", f"{p.name} = {short_repr(p._value, 200)}") for p in sub.params]
    names = view_names([out for out, _ in sub.outputs])  # as the picture below names them
    rows += [_row(f"feedback on {names.get(out, out.name)}", str(fb)) for out, fb in sub.outputs]
    picture = graph_html([out for out, _ in sub.outputs]) if sub.outputs else ""
    head = (
        f"<p>{len(sub.nodes)} nodes between {len(sub.params)} parameter(s) and their feedback</p>"
    )
    return f'{head}<table style="{_STYLE}">{"".join(rows)}</table>{picture}'


def _node_bundle(self: Node, include: Any = None, exclude: Any = None) -> dict[str, str]:
    return {"text/plain": repr(self), "text/html": node_html(self)}


def _subgraph_html(self: Subgraph) -> str:
    return subgraph_html(self)


def install() -> None:
    """Give Node ``_repr_mimebundle_`` and Subgraph ``_repr_html_`` (done on import)."""
    Node._repr_mimebundle_ = _node_bundle  # type: ignore[attr-defined]
    Subgraph._repr_html_ = _subgraph_html  # type: ignore[attr-defined]


install()
