"""Matching an op call to its function's signature, and the parents that come with it.

Each traced argument becomes a parent labelled by its parameter (``x``, ``args[1]``, a keyword's
name); nodes inside lists, tuples and dicts are found too (``msgs[0]['content']``). A plain value
passed explicitly becomes a CONSTANT parent; a default that was not passed is a parent only when
it is a node; a first parameter named ``self`` or ``cls`` is a parent only when it is a node.
A call that does not fit the signature raises ``TypeError`` as Python would, and records nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from tracegraph.node import Node, SourceLocation
from tracegraph.sites import constant

__all__ = ["READ_LABEL", "Bound", "Plan", "bind", "finish", "plain", "unwrap"]

READ_LABEL = "<read>"
_CONTAINERS = (list, tuple, dict)


def _has_node(value: Any) -> bool:
    if isinstance(value, Node):
        return True
    if type(value) is list or type(value) is tuple:
        return any(_has_node(v) for v in value)
    if type(value) is dict:
        return any(_has_node(v) for v in value.values())
    return False


def unwrap(value: Any, label: str, parents: list[Node], labels: list[str]) -> Any:
    """The plain form of an argument; every node inside it is appended to ``parents``."""
    if isinstance(value, Node):
        parents.append(value)
        labels.append(label)
        return value._value
    if type(value) is list and _has_node(value):
        return [unwrap(v, f"{label}[{i}]", parents, labels) for i, v in enumerate(value)]
    if type(value) is tuple and _has_node(value):
        return tuple(unwrap(v, f"{label}[{i}]", parents, labels) for i, v in enumerate(value))
    if type(value) is dict and _has_node(value):
        return {k: unwrap(v, f"{label}[{k!r}]", parents, labels) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """The plain form of an argument, reading nodes through ``.value`` (records reads)."""
    if isinstance(value, Node):
        return value.value
    if type(value) in (list, tuple) and _has_node(value):
        return type(value)(plain(v) for v in value)
    if type(value) is dict and _has_node(value):
        return {k: plain(v) for k, v in value.items()}
    return value


#: One call's arguments: (positional values, keyword values) for the body, and the parents with
#: their labels. A plain tuple: it is made on every traced call, and a tuple is the cheapest.
Bound = tuple[list[Any], dict[str, Any], Sequence[Node], Sequence[str]]


class Plan:
    """A signature read once: ``(name, kind, default)`` per parameter, kinds as inspect's ints."""

    __slots__ = ("arity", "keywords", "names", "params", "required", "self_first", "sig")

    def __init__(self, sig: inspect.Signature) -> None:
        self.sig = sig
        self.params = tuple((n, int(p.kind), p.default) for n, p in sig.parameters.items())
        self.keywords = frozenset(n for n, k, _ in self.params if k in (1, 3))
        self.required = frozenset(
            n for n, k, d in self.params if k not in (2, 4) and d is inspect.Parameter.empty
        )
        self.self_first = bool(self.params) and self.params[0][0] in ("self", "cls")
        self.names = tuple(n for n, _, _ in self.params)
        # Calls with exactly this many positional arguments and no keywords bind the quick way.
        simple = all(k <= 1 for _, k, _ in self.params)
        self.arity = len(self.params) if simple else -1

    def quick(self, args: tuple[Any, ...], where: SourceLocation) -> Bound | None:
        """``bind`` for a call that passes every parameter by position; None when it does not."""
        for a in args:
            if type(a) is not Node:
                return self._quick_mixed(args, where)
        # The common case: every argument is a node, and parents are the arguments as they came.
        return [a._value for a in args], {}, args, self.names

    def _quick_mixed(self, args: tuple[Any, ...], where: SourceLocation) -> Bound | None:
        values: list[Any] = []
        parents: list[Node] = []
        labels: list[str] = []
        names = self.names
        for index in range(len(args)):  # an index loop: cheaper than enumerate(zip(...)) here
            value = args[index]
            if isinstance(value, Node):
                parents.append(value)
                labels.append(names[index])
                values.append(value._value)
            elif type(value) in _CONTAINERS:
                return None
            elif index or not self.self_first:
                parents.append(constant(value, where, index if index < 16 else -1))
                labels.append(names[index])
                values.append(value)
            else:
                values.append(value)  # a plain self/cls is not a parent
        return values, {}, parents, labels

    def match(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments by parameter name; TypeError (from ``Signature.bind``) for a bad call."""
        out: dict[str, Any] = {}
        i, n, used, twice = 0, len(args), 0, False
        for name, kind, _ in self.params:
            if kind <= 1 and i < n:
                out[name] = args[i]
                i += 1
                twice = twice or (kind == 1 and name in kwargs)
            elif kind in (1, 3) and name in kwargs:
                out[name] = kwargs[name]
                used += 1
            elif kind == 2:
                out[name], i = args[i:], n
            elif kind == 4:
                out[name] = {k: v for k, v in kwargs.items() if k not in self.keywords}
                used += len(out[name])
        if twice or i < n or used != len(kwargs) or not out.keys() >= self.required:
            return dict(self.sig.bind(*args, **kwargs).arguments)  # raises the usual TypeError
        return out


def bind(plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any], where: SourceLocation) -> Bound:
    """Match a call to the signature and collect its parents, in signature order."""
    if not kwargs and len(args) == plan.arity:
        quick = plan.quick(args, where)
        if quick is not None:
            return quick
    arguments = plan.match(args, kwargs)
    values: list[Any] = []
    keywords: dict[str, Any] = {}
    parents: list[Node] = []
    labels: list[str] = []
    skipped = False  # after a missing positional parameter, later ones must go by keyword
    for index, (name, kind, default) in enumerate(plan.params):
        if name not in arguments:
            skipped = skipped or kind <= 1
            if isinstance(default, Node):  # node defaults are parents; plain ones are not
                keywords[name] = unwrap(default, name, parents, labels)
            continue
        value = arguments[name]
        if kind == 2:
            values.extend(
                _arg(v, f"{name}[{i}]", parents, labels, where, -1) for i, v in enumerate(value)
            )
        elif kind == 4:
            keywords.update({k: _arg(v, k, parents, labels, where, -1) for k, v in value.items()})
        elif index == 0 and plan.self_first and not isinstance(value, Node):
            values.append(value)
        elif kind == 3 or (kind == 1 and skipped):
            keywords[name] = _arg(value, name, parents, labels, where, index)
        else:
            values.append(_arg(value, name, parents, labels, where, index))
    return values, keywords, parents, labels


def _arg(
    value: Any, label: str, parents: list[Node], labels: list[str], where: SourceLocation, slot: int
) -> Any:
    if isinstance(value, Node):
        parents.append(value)
        labels.append(label)
        return value._value
    if _has_node(value):
        return unwrap(value, label, parents, labels)
    parents.append(constant(value, where, slot if slot < 16 else -1))
    labels.append(label)
    return value


def finish(
    result: Any,
    reads: dict[int, Node],
    explicit: Sequence[Node],
    labels: Sequence[str],
) -> tuple[Any, list[Node], list[str], tuple[Node, ...]]:
    """Unwrap a node result and add the implicit reads (not already explicit) as parents."""
    if isinstance(result, Node):  # a node returned from the body counts as read
        reads[id(result)] = result
        result = result._value
    known = {id(p) for p in explicit}
    implicit = tuple(n for k, n in reads.items() if k not in known)
    parents = [*explicit, *implicit]
    return result, parents, [*labels, *[READ_LABEL] * len(implicit)], implicit
