"""Recording Python into the graph: parameters, inputs, ops and where the user made them.

* ``param`` makes a trainable leaf, ``node`` a fixed input.
* ``op`` turns a function into a traced op: a call becomes one CALL node whose parents are the
  traced arguments and the nodes the body read without receiving them (implicit reads).
* ``no_trace`` turns tracing off in a block: ops and operators then return plain values.

Inside an op body nothing new is traced: inner ops and operators run on plain values, and every
node they touch is recorded as an implicit read of the outer call. Non-node arguments passed
explicitly to an op become CONSTANT parents (so the listing shows ``f(x=x, n=3)``); defaults
that were not passed are recorded only when they are nodes; a first argument named ``self`` or
``cls`` is a parent only when it is a node.

>>> import tracegraph as tg
>>> @tg.op
... def shout(text: str) -> str:
...     "Upper-case the text."
...     return text.upper() + "!"
>>> out = shout(tg.node("hi", name="greeting"))
>>> out.value, [p.name for p in out.parents]
('HI!', ['greeting'])
"""

from __future__ import annotations

import functools
import inspect
import re
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from tracegraph.context import CURRENT_READS, TRACING
from tracegraph.errors import ParameterError
from tracegraph.node import Node, NodeKind, SourceLocation
from tracegraph.params import ParamSpec, infer_type
from tracegraph.sites import ExceptionInfo, _seq, constant, exception_node, user_location

__all__ = ["ExceptionInfo", "OpFunction", "no_trace", "node", "op", "param"]

F = TypeVar("F", bound=Callable[..., Any])

READ_LABEL = "<read>"


@contextmanager
def no_trace() -> Iterator[None]:
    """Turn tracing off in a block: ops and operators compute on plain values and return them.

    >>> import tracegraph as tg
    >>> with tg.no_trace():
    ...     y = tg.node(2, name="y") + 1
    >>> y
    3
    """
    token = TRACING.set(False)
    try:
        yield
    finally:
        TRACING.reset(token)


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or name != name.strip() or "\n" in name:
        raise ParameterError(
            f"{what} needs a name: a non-empty one-line text without surrounding spaces, "
            f"got {name!r}",
            fix=f'{what}(value, name="my_name")',
        )
    return name


def param(
    value: Any,
    *,
    name: str,
    description: str = "",
    bounds: tuple[float | None, float | None] | None = None,
    choices: Sequence[Any] | None = None,
    pattern: str | None = None,
    max_length: int | None = None,
    must_contain: Sequence[str] = (),
    predicate: Callable[[Any], bool | str] | None = None,
    trainable: bool = True,
) -> Node:
    """A trainable leaf: its kind follows the first value and bounds what optimizers may propose.

    Raises ParameterError when the first value breaks its own constraints.

    >>> import tracegraph as tg
    >>> t = tg.param(0.7, name="temperature", bounds=(0.0, 2.0))
    >>> t.value, t.spec.describe()
    (0.7, 'number in [0.0, 2.0]')
    """
    _check_name(name, "tg.param")
    where = user_location()
    head = f"tg.param {name!r} at {where}"
    try:
        kind = infer_type(value, choices)
    except TypeError as exc:
        raise ParameterError(f"{head}: {exc}", fix="pass a supported value") from None
    if choices is not None and len(choices) == 0:
        raise ParameterError(f"{head}: choices is empty", fix="choices=['a', 'b']")
    _check_bounds(bounds, head)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ParameterError(f"{head}: bad pattern {pattern!r}: {exc}") from None
    spec = ParamSpec(
        kind,
        description=description,
        bounds=bounds,
        choices=None if choices is None else tuple(choices),
        pattern=pattern,
        max_length=max_length,
        must_contain=tuple(must_contain),
        predicate=predicate,
        trainable=trainable,
        example=value,
    )
    problems = spec.check(value)
    if problems:
        raise ParameterError(
            f"{head}: the first value {value!r:.200} breaks its own constraints: "
            + "; ".join(problems),
            fix="start from a value that meets the constraints, or loosen them",
        )
    return Node(spec.normalize(value), NodeKind.PARAMETER, name, location=where, spec=spec)


def _check_bounds(bounds: object, head: str) -> None:
    if bounds is None:
        return
    ok = False
    if isinstance(bounds, tuple) and len(bounds) == 2:
        lo: object = bounds[0]
        hi: object = bounds[1]
        numeric = all(b is None or isinstance(b, (int, float)) for b in (lo, hi))
        ok = numeric and (lo is None or hi is None or lo <= hi)  # type: ignore[operator]
    if not ok:
        raise ParameterError(
            f"{head}: bounds must be a (low, high) pair with low <= high, got {bounds!r}",
            fix="bounds=(0.0, 2.0) (use None for an open end)",
        )


def node(value: Any, *, name: str | None = None) -> Node:
    """A fixed input (not trainable). A node given here is returned unchanged.

    >>> import tracegraph as tg
    >>> q = tg.node("What is 2+3?", name="question")
    >>> q.kind.value, q.value
    ('input', 'What is 2+3?')
    """
    if isinstance(value, Node):
        return value
    if name is None:
        name = f"input_{next(_seq)}"
    _check_name(name, "tg.node")
    return Node(value, NodeKind.INPUT, name, location=user_location())


def tracing_active() -> bool:
    """True when a call here should build nodes (tracing on and not inside an op body)."""
    return TRACING.get() and CURRENT_READS.get() is None


# ---------------------------------------------------------------------------- argument walking


def _has_node(value: Any) -> bool:
    if isinstance(value, Node):
        return True
    if type(value) in (list, tuple):
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


class _Bound:
    """One call's arguments: plain values for the body, and the parents they came from."""

    __slots__ = ("args", "kwargs", "labels", "parents")

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.kwargs: dict[str, Any] = {}
        self.parents: list[Node] = []
        self.labels: list[str] = []


class Plan:
    """A signature read once: ``(name, kind, default)`` per parameter, kinds as inspect's ints."""

    __slots__ = ("keywords", "params", "required", "self_first", "sig")

    def __init__(self, sig: inspect.Signature) -> None:
        self.sig = sig
        self.params = tuple((n, int(p.kind), p.default) for n, p in sig.parameters.items())
        self.keywords = frozenset(n for n, k, _ in self.params if k in (1, 3))
        self.required = frozenset(
            n for n, k, d in self.params if k not in (2, 4) and d is inspect.Parameter.empty
        )
        self.self_first = bool(self.params) and self.params[0][0] in ("self", "cls")

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


def bind(
    plan: Plan, args: tuple[Any, ...], kwargs: dict[str, Any], where: SourceLocation
) -> _Bound:
    """Match a call to the signature and collect its parents, in signature order."""
    arguments = plan.match(args, kwargs)
    out = _Bound()
    skipped = False  # after a missing positional parameter, later ones must go by keyword
    for index, (name, kind, default) in enumerate(plan.params):
        if name not in arguments:
            skipped = skipped or kind <= 1
            if isinstance(default, Node):  # node defaults are parents; plain ones are not
                out.kwargs[name] = unwrap(default, name, out.parents, out.labels)
            continue
        value = arguments[name]
        if kind == 2:
            out.args.extend(_arg(v, f"{name}[{i}]", out, where, -1) for i, v in enumerate(value))
        elif kind == 4:
            out.kwargs.update({k: _arg(v, k, out, where, -1) for k, v in value.items()})
        elif index == 0 and plan.self_first and not isinstance(value, Node):
            out.args.append(value)
        elif kind == 3 or (kind == 1 and skipped):
            out.kwargs[name] = _arg(value, name, out, where, index)
        else:
            out.args.append(_arg(value, name, out, where, index))
    return out


def _arg(value: Any, label: str, out: _Bound, where: SourceLocation, slot: int) -> Any:
    if isinstance(value, Node):
        out.parents.append(value)
        out.labels.append(label)
        return value._value
    if _has_node(value):
        return unwrap(value, label, out.parents, out.labels)
    out.parents.append(constant(value, where, slot if slot < 16 else -1))
    out.labels.append(label)
    return value


# ------------------------------------------------------------------------------------ running


def finish(
    result: Any, reads: dict[int, Node], explicit: list[Node], labels: list[str]
) -> tuple[Any, list[Node], list[str], tuple[Node, ...]]:
    """Unwrap a node result and add the implicit reads (not already explicit) as parents."""
    if isinstance(result, Node):  # a node returned from the body counts as read
        reads[id(result)] = result
        result = result._value
    if not reads:
        return result, explicit, labels, ()
    known = {id(p) for p in explicit}
    implicit = tuple(n for k, n in reads.items() if k not in known)
    parents = explicit + list(implicit)
    return result, parents, labels + [READ_LABEL] * len(implicit), implicit


class OpFunction:
    """A traced op: calling it records one node. Made by ``@tg.op``; works as a method too."""

    def __init__(self, fn: Callable[..., Any], name: str | None, description: str | None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.op_name = name or fn.__name__
        doc = description if description is not None else inspect.getdoc(fn) or ""
        self.doc = doc.strip().split("\n\n")[0].strip()
        self.signature = inspect.signature(fn)
        self.plan = Plan(self.signature)
        self.is_async = inspect.iscoroutinefunction(fn)
        if self.is_async and hasattr(inspect, "markcoroutinefunction"):
            inspect.markcoroutinefunction(self)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.invoke(self.fn, args, kwargs, None)

    def invoke(
        self,
        impl: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        code: Node | None,
        source: tuple[str, int, str] | None = None,
    ) -> Any:
        """Call ``impl`` traced (or plainly when tracing is off or inside another op body).

        ``code`` is the code parameter of a trainable function: an extra parent.
        ``source`` is (text, first line, file) of the code that runs, for error reports.
        """
        if not tracing_active():
            plain_args = [plain(a) for a in args]
            plain_kwargs = {k: plain(v) for k, v in kwargs.items()}
            return impl(*plain_args, **plain_kwargs)
        where = user_location()
        bound = bind(self.plan, args, kwargs, where)
        if code is not None:
            bound.parents.append(code)
            bound.labels.append("<code>")
        if self.is_async:
            return self._arun(impl, bound, where, code, source)
        reads: dict[int, Node] = {}
        token = CURRENT_READS.set(reads)
        try:
            value = impl(*bound.args, **bound.kwargs)
        except Exception as exc:
            raise self._failed(exc, bound, where, impl, source, reads) from exc
        finally:
            CURRENT_READS.reset(token)
        return self._node(finish(value, reads, bound.parents, bound.labels), where, code)

    async def _arun(
        self,
        impl: Callable[..., Any],
        bound: _Bound,
        where: SourceLocation,
        code: Node | None,
        source: tuple[str, int, str] | None,
    ) -> Node:
        reads: dict[int, Node] = {}
        token = CURRENT_READS.set(reads)  # this task's context only: concurrent calls stay apart
        try:
            value = await impl(*bound.args, **bound.kwargs)
        except Exception as exc:
            raise self._failed(exc, bound, where, impl, source, reads) from exc
        finally:
            CURRENT_READS.reset(token)
        return self._node(finish(value, reads, bound.parents, bound.labels), where, code)

    def _node(
        self,
        result: tuple[Any, list[Node], list[str], tuple[Node, ...]],
        where: SourceLocation,
        code: Node | None,
    ) -> Node:
        value, parents, labels, implicit = result
        meta: dict[str, Any] = {"doc": self.doc}
        if implicit:
            meta["implicit"] = implicit
        if code is not None:
            meta["code_param"] = code
        name = f"{self.op_name}_{next(_seq)}"
        return Node(
            value, NodeKind.CALL, name, self.op_name, tuple(parents), tuple(labels), where, meta
        )

    def _failed(
        self,
        exc: Exception,
        bound: _Bound,
        where: SourceLocation,
        impl: Callable[..., Any],
        source: tuple[str, int, str] | None,
        reads: dict[int, Node],
    ) -> Exception:
        """The OpError to raise for an exception in the body, with its EXCEPTION node."""
        _, parents, labels, _ = finish(None, reads, bound.parents, bound.labels)
        return exception_node(
            exc,
            op_name=self.op_name,
            name=f"{self.op_name}_{next(_seq)}",
            parents=tuple(parents),
            labels=tuple(labels),
            where=where,
            code=getattr(impl, "__code__", None),
            source=source,
            meta={"doc": self.doc},
        )


@overload
def op(fn: F, /) -> F: ...
@overload
def op(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...
def op(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Make a function a traced op (``@tg.op`` or ``@tg.op(name=..., description=...)``).

    A call returns a Node whose parents are the traced arguments plus implicit reads; the body
    receives plain values; the docstring (or ``description``) describes the op to optimizers.
    """
    if fn is None:
        return lambda f: OpFunction(f, name, description)
    return OpFunction(fn, name, description)
