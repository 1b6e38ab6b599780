"""The graph below some outputs as plain JSON-able data, and back again on another machine.

A workflow evaluated in another process (a Ray worker) is traced there; what the driver needs to
send feedback backward is the shape of that trace. :func:`export_graph` writes it as lists and
dicts (nodes in topological order, parents as indices); :func:`import_graph` rebuilds the nodes
on the driver and puts the driver's *own* parameter nodes, found by name, where the worker's
copies were. ``out.backward(fb)`` then reaches the driver's parameters, and
``relevant_subgraph`` and ``format_graph`` read exactly as if the workflow had been traced here.

Values that are plain JSON (dicts with text keys, lists, text, finite numbers, bools, None) travel
as they are; anything else travels as its ``repr`` and comes back as an :class:`Opaque` whose
``repr`` is that text, so every view of the graph shows the same thing. Exception nodes keep
their :class:`~tracegraph.sites.ExceptionInfo`. Feedback already given to nodes travels;
feedback parameters *received* does not (the driver's parameters have their own).

>>> import tracegraph as tg
>>> p = tg.param(2, name="p")
>>> out = p * 3
>>> data = export_graph(out)
>>> [n["kind"] for n in data["nodes"]]
['parameter', 'constant', 'call']
>>> (copy,) = import_graph(data, {"p": p})
>>> copy.value, copy.parents[0] is p
(6, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from tracegraph.errors import GraphError
from tracegraph.graph import as_nodes, toposort
from tracegraph.module import refuse_code
from tracegraph.node import Feedback, Node, NodeKind, SourceLocation
from tracegraph.params import ParamSpec, ParamType
from tracegraph.sites import ExceptionInfo

__all__ = ["FORMAT", "VERSION", "GraphDataError", "Opaque", "export_graph", "import_graph"]

FORMAT = "tracegraph.graph"
VERSION = 1
_KINDS = {kind.value: kind for kind in NodeKind}


class GraphDataError(GraphError):
    """Exported graph data that cannot be rebuilt here (foreign, corrupt, or a parameter the
    driver does not have)."""


class Opaque:
    """A value that was not JSON where it was traced: shows as the ``repr`` it had there.

    >>> Opaque("(1, 2)", "builtins.tuple")
    (1, 2)
    """

    __slots__ = ("text", "type_name")

    def __init__(self, text: str, type_name: str) -> None:
        self.text = text
        self.type_name = type_name

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.text, self.type_name) == (
            other.text,
            other.type_name,
        )

    def __hash__(self) -> int:
        return hash((self.text, self.type_name))


def _is_json(value: Any, depth: int = 0) -> bool:
    """True when ``value`` survives a JSON round trip with the same types (no tuples, no NaN)."""
    if depth > 100:  # deeper than any sane value; also keeps this loop-free of recursion limits
        return False
    kind = type(value)
    if value is None or kind in (str, bool, int):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_is_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _encode(value: Any, index: Mapping[Node, int]) -> dict[str, Any]:
    """One value (of a node or of a meta entry) as tagged JSON."""
    if isinstance(value, Node):
        return {"node": index[value]}
    if isinstance(value, tuple) and value and all(isinstance(v, Node) for v in value):
        return {"nodes": [index[v] for v in value]}
    if isinstance(value, ExceptionInfo):
        return {"exception": dataclasses.asdict(value)}
    if _is_json(value):
        return {"json": value}
    try:
        text = repr(value)
    except Exception as exc:  # a user's broken __repr__ must not break the export
        text = f"<{type(value).__name__}: repr raised {type(exc).__name__}>"
    return {"repr": text, "type": f"{type(value).__module__}.{type(value).__qualname__}"}


def _decode(data: Mapping[str, Any], nodes: list[Node], where: str) -> Any:
    if "json" in data:
        return data["json"]
    if "repr" in data:
        return Opaque(str(data["repr"]), str(data.get("type", "")))
    if "exception" in data:
        return ExceptionInfo(**data["exception"])
    if "node" in data:
        return _at(nodes, data["node"], where)
    if "nodes" in data:
        return tuple(_at(nodes, i, where) for i in data["nodes"])
    raise GraphDataError(f"{where}: unknown value tag in {sorted(data)}; expected json/repr/...")


def _at(nodes: list[Node], i: Any, where: str) -> Node:
    if not isinstance(i, int) or not 0 <= i < len(nodes):
        raise GraphDataError(
            f"{where}: refers to node {i!r}, but only {len(nodes)} nodes come before it; "
            "the data is corrupt or was not written by export_graph"
        )
    return nodes[i]


def _export_spec(spec: ParamSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {
        "type": spec.type.value,
        "description": spec.description,
        "trainable": spec.trainable,
        "bounds": list(spec.bounds) if spec.bounds is not None else None,
        "choices": _encode(list(spec.choices), {}) if spec.choices is not None else None,
    }


def _export_node(node: Node, index: Mapping[Node, int]) -> dict[str, Any]:
    loc = node.location
    return {
        "kind": node.kind.value,
        "name": node.name,
        "op": node.op,
        "parents": [index[p] for p in node.parents],
        "arg_names": list(node.arg_names),
        "value": _encode(node._value, index),
        "location": [loc.file, loc.line, loc.function, loc.code],
        "doc": node.doc,
        "code_param": None if node.code_param is None else index[node.code_param],
        "meta": {key: _encode(value, index) for key, value in node.meta.items()},
        "spec": _export_spec(node.spec) if node.kind is NodeKind.PARAMETER else None,
        "feedback": [[fb.text, fb.score] for fb in node.feedback],
    }


def export_graph(outputs: Node | Iterable[Node]) -> dict[str, Any]:
    """The outputs and everything they were computed from, as JSON-able data.

    Args:
        outputs: one node or several; their order is kept in ``data["outputs"]``.

    Returns:
        ``{"format", "version", "nodes": [...], "outputs": [indices]}`` with nodes in
        topological order (parents always come before their children).
    """
    wanted = as_nodes(outputs)
    order = toposort(wanted)
    index = {node: i for i, node in enumerate(order)}
    return {
        "format": FORMAT,
        "version": VERSION,
        "nodes": [_export_node(node, index) for node in order],
        "outputs": [index[node] for node in wanted],
    }


def _driver_param(
    entry: Mapping[str, Any], params: Mapping[str, Node], strict: bool, allow_code: bool
) -> Node:
    """The driver's own parameter for an exported one (or, when not strict, a fresh copy)."""
    name = entry["name"]
    spec = entry.get("spec") or {}
    mine = params.get(name)
    if mine is None:
        if strict:
            raise GraphDataError(
                f"the evaluated graph uses parameter {name!r}, which the driver does not have "
                f"(it has {sorted(params)}); fix: pass every parameter the workflow uses, "
                "e.g. params={p.name: p for p in module.parameters(include_fixed=True)}"
            )
        if spec.get("type") == ParamType.CODE.value and not allow_code:
            text = _decode(entry["value"], [], f"parameter {name!r}")
            raise refuse_code(
                "the graph data", {name: str(text)}, "import_graph(data, params, allow_code=True)"
            )
        return _fresh_param(entry, spec)
    if mine.kind is not NodeKind.PARAMETER or mine.spec is None:
        raise GraphDataError(f"params[{name!r}] is a {mine.kind.value} node, not a parameter")
    if spec.get("type") not in (None, mine.spec.type.value):
        raise GraphDataError(
            f"parameter {name!r} is of type {spec['type']} in the evaluated graph but "
            f"{mine.spec.type.value} on the driver; fix: give distinct parameters distinct names"
        )
    return mine


def _fresh_param(entry: Mapping[str, Any], spec: Mapping[str, Any]) -> Node:
    value = _decode(entry["value"], [], f"parameter {entry['name']!r}")
    kind = ParamType(spec.get("type", "json"))
    bounds = spec.get("bounds")
    choices = spec.get("choices")
    made = ParamSpec(
        kind,
        description=spec.get("description", ""),
        trainable=bool(spec.get("trainable", True)),
        bounds=(bounds[0], bounds[1]) if bounds is not None else None,
        choices=tuple(_decode(choices, [], "choices")) if choices is not None else None,
        example=value,
    )
    return Node(value, NodeKind.PARAMETER, entry["name"], spec=made)


def _import_node(entry: Mapping[str, Any], nodes: list[Node], i: int) -> Node:
    where = f"node {i} ({entry.get('name')!r})"
    kind = _KINDS.get(entry.get("kind", ""))
    if kind is None or kind is NodeKind.PARAMETER:
        raise GraphDataError(f"{where}: unknown kind {entry.get('kind')!r}")
    parents = tuple(_at(nodes, p, where) for p in entry["parents"])
    file, line, function, source_line = entry["location"]
    code = entry.get("code_param")
    node = Node(
        _decode(entry["value"], nodes, where),
        kind,
        entry["name"],
        entry["op"],
        parents,
        tuple(entry["arg_names"]),
        SourceLocation(file, line, function, source_line),
        {key: _decode(value, nodes, where) for key, value in entry["meta"].items()},
        doc=str(entry.get("doc") or ""),
        code_param=None if code is None else _at(nodes, code, where),
    )
    node.feedback.extend(Feedback(text, score) for text, score in entry["feedback"])
    return node


def import_graph(
    data: Mapping[str, Any],
    params: Mapping[str, Node],
    *,
    strict: bool = True,
    allow_code: bool = False,
) -> list[Node]:
    """Rebuild an exported graph here; return its output nodes in the exported order.

    Args:
        data: what :func:`export_graph` returned (possibly after a JSON round trip).
        params: the driver's parameters by name; each exported parameter becomes the one of
            the same name here, so feedback sent backward reaches it.
        strict: raise when the graph uses a parameter not in ``params`` (default); when False
            such a parameter is rebuilt as a fresh node (feedback then stops there).
        allow_code: rebuild a code parameter the driver does not have from the data's text
            (refused by default, like ``Module.load``: code from a file is not run unasked).

    Raises:
        GraphDataError: foreign or corrupt data, or a parameter the driver does not have.
    """
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise GraphDataError(
            f"not graph data of {FORMAT!r} version {VERSION}: got format "
            f"{data.get('format')!r} version {data.get('version')!r}; fix: pass what "
            "export_graph returned, exported by the same tracegraph version"
        )
    nodes: list[Node] = []
    for i, entry in enumerate(data["nodes"]):
        if entry.get("kind") == NodeKind.PARAMETER.value:
            nodes.append(_driver_param(entry, params, strict, allow_code))
        else:
            nodes.append(_import_node(entry, nodes, i))
    return [_at(nodes, i, "outputs") for i in data["outputs"]]
