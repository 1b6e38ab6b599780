"""The graphviz view: the text view's traversal and labels, drawn.

Parameters are boxes, exception nodes red, feedback a note attached to the node it was given
to. ``graphviz`` (the Python package) is imported only when a picture is asked for; rendering
also needs graphviz's ``dot`` program, and :func:`render` says how to install it when it is
missing (after writing the ``.dot`` source anyway).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tracegraph.errors import TracegraphError
from tracegraph.names import display_names, view_order
from tracegraph.node import Node, NodeKind
from tracegraph.text import NodeView, node_view, short_repr

if TYPE_CHECKING:
    import graphviz

__all__ = ["DotNotFoundError", "render", "to_dot"]

_INSTALL_HINT = (
    "graphviz's `dot` program is not installed; install it with "
    "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
    "or `conda install graphviz`, then render again"
)


class DotNotFoundError(TracegraphError):
    """The ``dot`` program needed to draw a picture is missing; the ``.dot`` source was written."""


def _label(*lines: str) -> str:
    """Lines joined by DOT's line break; backslashes and ``<...>`` in values are kept literal."""
    import graphviz

    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def _style(node: Node, view: NodeView) -> dict[str, str]:
    if view.error:
        return {
            "shape": "ellipse",
            "color": "red",
            "fontcolor": "red",
            "style": "filled",
            "fillcolor": "#ffe5e5",
        }
    if node.kind is NodeKind.PARAMETER:
        return {"shape": "box", "style": "filled,bold", "fillcolor": "#e5efff"}
    if node.kind in (NodeKind.INPUT, NodeKind.CONSTANT):
        return {"shape": "ellipse", "color": "gray40", "fontcolor": "gray20"}
    return {"shape": "ellipse"}


def to_dot(outputs: Node | Iterable[Node], *, max_value: int = 40) -> graphviz.Digraph:
    """The graph below ``outputs`` as a ``graphviz.Digraph`` (``.render(...)`` draws it).

    Node ids follow the topological order (``n0``, ``n1``...), so the source is stable.

    Args:
        outputs: one node or several.
        max_value: the longest value (or feedback) shown before it is cut.
    """
    import graphviz

    order = view_order(outputs)
    names = display_names(order)
    ids = {node: f"n{i}" for i, node in enumerate(order)}
    dot = graphviz.Digraph(
        "tracegraph",
        graph_attr={"rankdir": "TB"},
        node_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for node in order:
        view = node_view(node, names, max_value)
        dot.node(
            ids[node],
            _label(view.name, view.head, view.value),
            tooltip=_label(view.where or view.name),
            **_style(node, view),
        )
        for parent, arg in zip(node.parents, node.arg_names, strict=False):
            dot.edge(ids[parent], ids[node], label=_label(arg), fontsize="8")
    for node in order:
        if node.feedback:
            _feedback_note(dot, ids[node], node, max_value)
    return dot


def _feedback_note(dot: graphviz.Digraph, target: str, node: Node, max_value: int) -> None:
    """A note holding the feedback given to ``node``, tied to it by a dashed line."""
    texts = [short_repr(str(fb), max_value) for fb in node.feedback]
    note = f"{target}_feedback"
    label = _label("feedback:", *texts)
    dot.node(note, label, shape="note", color="darkorange", fontcolor="darkorange4")
    dot.edge(note, target, style="dashed", color="darkorange", arrowhead="none")


def render(
    outputs: Node | Iterable[Node], path: str | Path, format: str = "svg", *, max_value: int = 40
) -> Path:
    """Write ``<path>.dot`` always, and draw ``<path>.<format>`` with graphviz's ``dot``.

    Returns:
        The picture's path.

    Raises:
        DotNotFoundError: ``dot`` is not installed (the message says how to install it and
            where the ``.dot`` source was written).
    """
    base = Path(path)
    if base.suffix == ".dot":
        base = base.with_suffix("")
    source = base.parent / (base.name + ".dot")
    source.parent.mkdir(parents=True, exist_ok=True)
    dot = to_dot(outputs, max_value=max_value)
    source.write_text(dot.source, encoding="utf-8")
    if shutil.which("dot") is None:
        raise DotNotFoundError(f"{_INSTALL_HINT}; the graph source was written to {source}")
    picture = dot.render(
        filename=source.name,
        directory=str(source.parent),
        format=format,
        outfile=str(base.parent / f"{base.name}.{format}"),
    )
    return Path(picture)
