"""Python operators on nodes, traced: each use records one CALL node.

The operators are rows of one table, :data:`OPERATORS`, keyed by op name; ``Node``'s dunder
methods only look a row up and call :func:`apply`. Adding an operator adds a row.

What is traced and what is not:

* arithmetic (with reflected forms), comparisons (``==`` and ``!=`` included), ``[]``, calls,
  attribute access and method calls (``node.upper()`` records ``call_method:upper``), iteration
  (each item is a ``getitem`` node for sequences, an ``iter_item`` node otherwise) and
  ``node.len()`` / ``tg.len_(node)`` each record a node.
* ``bool(node)``, ``len(node)``, ``str(node)``, ``format(node)`` (f-strings), ``int(node)``,
  ``float(node)`` and ``x in node`` must return plain Python values, so they record no node:
  they use the value (inside an op body that read counts as an implicit read, like any read).
  Text made from a node while tracing, outside an op body, warns (``TraceLostWarning``): what
  is built from that text is cut off from the graph.
  ``if node:`` therefore branches on the value and leaves no trace in the graph; use
  ``node.len()`` when the length itself should be traced.
* Attributes of the node itself (``name``, ``value``, ``parents``, ...) and names starting with
  ``_`` are not forwarded to the value; use ``getattr_(node, "name")`` for a value's attribute
  with such a name.

An operator that raises records an EXCEPTION node and raises ``OpError`` (the original error is
its ``__cause__``), like an op; only a missing attribute raises a plain ``AttributeError`` so
that ``hasattr`` keeps working. Inside an op body and under ``no_trace`` operators compute on
plain values and return plain values.

>>> import tracegraph as tg
>>> y = tg.param(1, name="y")
>>> z = (y + 1) * 3
>>> z.value, z.op, [p.op or p.kind.value for p in z.parents]
(6, 'mul', ['add', 'constant'])
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tracegraph.backward import backward
from tracegraph.context import CURRENT_READS, TRACING
from tracegraph.errors import TraceLostWarning
from tracegraph.node import Node, NodeKind, SourceLocation
from tracegraph.sites import constant, exception_node, user_location

__all__ = [
    "OPERATORS",
    "OperatorRule",
    "apply",
    "attribute",
    "call",
    "getattr_",
    "iterate",
    "len_",
]


_CALL = NodeKind.CALL


@dataclass(frozen=True)
class OperatorRule:
    """How one operator computes, how its arguments are labelled, and what it means."""

    fn: Callable[..., Any]
    labels: tuple[str, ...]
    doc: str


def _binary(fn: Callable[[Any, Any], Any], symbol: str) -> OperatorRule:
    return OperatorRule(fn, ("left", "right"), f"left {symbol} right")


def _unary(fn: Callable[[Any], Any], text: str) -> OperatorRule:
    return OperatorRule(fn, ("operand",), text)


OPERATORS: dict[str, OperatorRule] = {
    "add": _binary(operator.add, "+"),
    "sub": _binary(operator.sub, "-"),
    "mul": _binary(operator.mul, "*"),
    "truediv": _binary(operator.truediv, "/"),
    "floordiv": _binary(operator.floordiv, "//"),
    "mod": _binary(operator.mod, "%"),
    "pow": _binary(operator.pow, "**"),
    "matmul": _binary(operator.matmul, "@"),
    "and": _binary(operator.and_, "&"),
    "or": _binary(operator.or_, "|"),
    "xor": _binary(operator.xor, "^"),
    "lshift": _binary(operator.lshift, "<<"),
    "rshift": _binary(operator.rshift, ">>"),
    "eq": _binary(operator.eq, "=="),
    "ne": _binary(operator.ne, "!="),
    "lt": _binary(operator.lt, "<"),
    "le": _binary(operator.le, "<="),
    "gt": _binary(operator.gt, ">"),
    "ge": _binary(operator.ge, ">="),
    "neg": _unary(operator.neg, "-operand"),
    "pos": _unary(operator.pos, "+operand"),
    "abs": _unary(abs, "abs(operand)"),
    "invert": _unary(operator.invert, "~operand"),
    "round": OperatorRule(round, ("number", "ndigits"), "round(number, ndigits)"),
    "len": _unary(len, "len(operand)"),
    "getitem": OperatorRule(operator.getitem, ("obj", "key"), "obj[key]"),
    "getattr": OperatorRule(getattr, ("obj", "attr"), "obj.attr"),
    "call": OperatorRule(lambda f, *a, **k: f(*a, **k), ("fn",), "fn(*args, **kwargs)"),
}


def apply(op_name: str, *args: Any) -> Any:
    """Run operator ``op_name`` on ``args``: traced to a node, or plainly when not tracing."""
    rule = OPERATORS[op_name]
    if not TRACING.get() or CURRENT_READS.get() is not None:
        return rule.fn(*[a.value if isinstance(a, Node) else a for a in args])
    return record(op_name, rule, args)


def binary(op_name: str, left: Any, right: Any) -> Any:
    """``apply`` for two operands, unrolled: this is the hot path of ``y = y + 1``."""
    rule = OPERATORS[op_name]
    if not TRACING.get() or CURRENT_READS.get() is not None:
        return rule.fn(
            left.value if isinstance(left, Node) else left,
            right.value if isinstance(right, Node) else right,
        )
    where = user_location(3)  # skip this function and the Node dunder that called it
    if isinstance(left, Node):
        a = left._value
    else:
        a, left = left, constant(left, where, 0)
    if isinstance(right, Node):
        b = right._value
    else:
        b, right = right, constant(right, where, 1)
    try:
        value = rule.fn(a, b)
    except Exception as exc:
        raise _failed(exc, op_name, rule, (left, right), rule.labels, where) from exc
    return Node(value, _CALL, op_name, op_name, (left, right), rule.labels, where, doc=rule.doc)


def _failed(
    exc: Exception,
    op_name: str,
    rule: OperatorRule,
    parents: tuple[Node, ...],
    labels: tuple[str, ...],
    where: SourceLocation,
) -> Exception:
    return exception_node(
        exc,
        op_name=op_name,
        name=op_name.rpartition(":")[2],
        parents=parents,
        labels=labels,
        where=where,
        doc=rule.doc,
    )


def record(
    op_name: str,
    rule: OperatorRule,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
) -> Node:
    """Compute ``rule.fn`` on the plain arguments and record the CALL (or EXCEPTION) node."""
    where = user_location()
    values = []
    parents = []
    for i, a in enumerate(args):
        if isinstance(a, Node):
            values.append(a._value)
            parents.append(a)
        else:
            values.append(a)
            parents.append(constant(a, where, i if i < 2 else -1))
    labels = rule.labels[: len(parents)]
    if len(labels) < len(parents):  # variadic calls: label the extra arguments by position
        labels += tuple(f"args[{i}]" for i in range(len(parents) - len(labels)))
    plain_kwargs = {}
    if kwargs:
        for k, v in kwargs.items():
            parents.append(v if isinstance(v, Node) else constant(v, where))
            plain_kwargs[k] = v._value if isinstance(v, Node) else v
        labels += tuple(kwargs)
    try:
        value = rule.fn(*values, **plain_kwargs)
    except Exception as exc:
        raise _failed(exc, op_name, rule, tuple(parents), labels, where) from exc
    name = op_name.rpartition(":")[2]  # "call_method:split" is named "split"
    return Node(value, _CALL, name, op_name, tuple(parents), labels, where, doc=rule.doc)


class BoundMethod:
    """``node.method`` before it is called: the call records ``call_method:<method>``."""

    __slots__ = ("method", "obj")

    def __init__(self, obj: Node, method: str) -> None:
        self.obj = obj
        self.method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        method = self.method
        rule = OperatorRule(
            lambda obj, *a, **k: getattr(obj, method)(*a, **k),
            ("obj",),
            f"obj.{method}(*args, **kwargs)",
        )
        return record(f"call_method:{method}", rule, (self.obj, *args), kwargs)

    def __repr__(self) -> str:
        return f"<traced method {self.method} of {self.obj!r}>"


def attribute(obj: Node, name: str) -> Any:
    """``obj.name`` for a name the node itself lacks: a traced attribute or a bound method."""
    if name.startswith("_") or name in _NODE_NAMES:
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    if not TRACING.get() or CURRENT_READS.get() is not None:
        return getattr(obj.value, name)
    target = getattr(obj._value, name)  # a missing attribute stays an AttributeError
    if callable(target) and not isinstance(target, type):
        return BoundMethod(obj, name)
    return record("getattr", OPERATORS["getattr"], (obj, name))


def call(fn: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)`` for a node holding a callable."""
    if not TRACING.get() or CURRENT_READS.get() is not None:
        plain_args = [a.value if isinstance(a, Node) else a for a in args]
        plain_kwargs = {k: v.value if isinstance(v, Node) else v for k, v in kwargs.items()}
        return fn.value(*plain_args, **plain_kwargs)
    return record("call", OPERATORS["call"], (fn, *args), kwargs)


def getattr_(obj: Node, name: str) -> Any:
    """The value's attribute ``name``, traced, even where the node has its own (e.g. ``name``)."""
    if not TRACING.get() or CURRENT_READS.get() is not None:
        return getattr(obj.value, name)
    return record("getattr", OPERATORS["getattr"], (obj, name))


def len_(obj: Any) -> Any:
    """``len`` of a node as a traced node (``len(node)`` itself must return a plain int).

    >>> import tracegraph as tg
    >>> n = tg.len_(tg.node("abc", name="s"))
    >>> n.value, n.op
    (3, 'len')
    """
    if not isinstance(obj, Node):
        return len(obj)
    return apply("len", obj)


def iterate(obj: Node) -> Iterator[Any]:
    """Items of the value: a traced node each (``getitem`` for sequences, else ``iter_item``)."""
    if not TRACING.get() or CURRENT_READS.get() is not None:
        yield from obj.value
        return
    value = obj._value
    if isinstance(value, (list, tuple, str, bytes, range)):
        for i in range(len(value)):
            yield apply("getitem", obj, i)
        return
    # Other iterables (dicts, sets, generators) are walked once; item i is what iter() gave.
    items = list(value)
    rule = OperatorRule(lambda _obj, i: items[i], ("obj", "index"), "item index of iter(obj)")
    for i in range(len(items)):
        yield record("iter_item", rule, (obj, i))


# Node's traced methods. node.py cannot import this module (this module makes nodes), so the
# methods are installed on the class here, once, when tracegraph is imported: one row each.
def _binary_method(name: str) -> Callable[[Node, Any], Any]:
    def method(self: Node, other: Any) -> Any:
        return binary(name, self, other)

    return method


def _reflected_method(name: str) -> Callable[[Node, Any], Any]:
    def method(self: Node, other: Any) -> Any:
        return binary(name, other, self)

    return method


def _unary_method(name: str) -> Callable[[Node], Any]:
    def method(self: Node) -> Any:
        return apply(name, self)

    return method


def _backward(self: Node, feedback: Any, **kwargs: Any) -> Any:
    """Send feedback from this node to everything it was computed from.

    Delegates to :func:`tracegraph.backward.backward` (``rules=``, ``combine=`` pass through).
    """
    return backward(self, feedback, **kwargs)


def _len(self: Node) -> Any:
    """``len`` of the value as a traced node (``len(node)`` returns a plain int)."""
    return len_(self)


def _str(self: Node) -> str:
    if TRACING.get() and CURRENT_READS.get() is None:
        _trace_lost(self, "str(node)")
    return str(self.value)


def _format(self: Node, spec: str) -> str:
    if TRACING.get() and CURRENT_READS.get() is None:
        _trace_lost(self, "an f-string or format() of a node")
    return format(self.value, spec)


_LOST_SHOWN: dict[Any, Any] = {}  # warnings' registry: the default filter says it once a line


def _trace_lost(node: Node, what: str) -> None:
    """Warn at the user's line: text made from ``node`` outside an op body leaves the graph."""
    where = user_location(3)
    warnings.warn_explicit(
        f"{what} turns node {node.name!r} (made at {node.location}) into plain text at "
        f"{where}: text built from it is not traced, and feedback will not reach what it came "
        "from. Fix: build the text inside an op (@tg.op def render(x): return f'...{x}...'), "
        "or, to print or log the value on purpose, use node.peek() (f'{node.peek()}').",
        TraceLostWarning,
        where.file,
        where.line,
        registry=_LOST_SHOWN,
    )


_REFLECTED: tuple[str, ...] = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow")
_REFLECTED += ("matmul", "and", "or", "xor", "lshift", "rshift")
_METHODS: dict[str, Callable[..., Any]] = {
    **{f"__{n.strip('_')}__": _binary_method(n) for n in _REFLECTED},
    **{f"__r{n.strip('_')}__": _reflected_method(n) for n in _REFLECTED},
    **{f"__{n}__": _binary_method(n) for n in ("eq", "ne", "lt", "le", "gt", "ge")},
    **{f"__{n}__": _unary_method(n) for n in ("neg", "pos", "abs", "invert")},
    "__round__": lambda self, ndigits=None: apply("round", self, ndigits),
    "__getitem__": lambda self, key: apply("getitem", self, key),
    "__getattr__": lambda self, name: attribute(self, name),
    "__call__": lambda self, *args, **kwargs: call(self, args, kwargs),
    "__iter__": lambda self: iterate(self),
    "__str__": _str,
    "__format__": _format,
    "backward": _backward,
    "len": _len,
}
for _name, _method in _METHODS.items():
    setattr(Node, _name, _method)
# The node's own attributes (slots, properties, methods) are never forwarded to its value.
_NODE_NAMES = frozenset(Node.__slots__).union(*(vars(k) for k in Node.__mro__))
