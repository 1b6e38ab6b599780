"""Recording Python into the graph: parameters, inputs, ops and where the user made them.

* ``param`` makes a trainable leaf, ``node`` a fixed input.
* ``op`` turns a function into a traced op: a call becomes one CALL node whose parents are the
  traced arguments and the nodes the body read without receiving them (implicit reads).
* ``no_trace`` turns tracing off in a block: ops and operators then return plain values.

Inside an op body nothing new is traced: inner ops and operators run on plain values, and every
node they touch is recorded as an implicit read of the outer call. How arguments become parents
(constants, defaults, ``self``, containers) is in :mod:`tracegraph.arguments`.

Implicit reads live in a context variable, so concurrent calls in threads and asyncio tasks
each see their own. A thread started inside an op body with ``threading`` or a thread pool begins
with an empty context: its reads are not recorded for the call (``asyncio.to_thread`` and
``contextvars.copy_context().run`` carry the context, so there they are). An op that is a
generator function records only what its body read before returning the generator.

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

import copy
import functools
import inspect
import re
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from tracegraph.arguments import Bound, Plan, bind, finish, plain
from tracegraph.context import CURRENT_READS, OBSERVER, TRACING
from tracegraph.errors import ParameterError
from tracegraph.node import Node, NodeKind, SourceLocation
from tracegraph.params import ParamSpec, ParamType, infer_type, json_problems
from tracegraph.sites import ExceptionInfo, exception_node, user_location

__all__ = ["ExceptionInfo", "OpFunction", "no_trace", "node", "op", "param"]

_CALL = NodeKind.CALL


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
    _check_options(head, kind, bounds, choices, pattern, max_length)
    bad = json_problems(value) if kind is ParamType.JSON else []
    if bad:  # before the copy below: a value nested too deep must not reach recursive code
        raise ParameterError(f"{head}: " + "; ".join(bad), fix="start from JSON data")
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
        example=copy.deepcopy(value) if kind is ParamType.JSON else value,
    )
    problems = spec.check(value)
    if problems:
        raise ParameterError(
            f"{head}: the first value {value!r:.200} breaks its own constraints: "
            + "; ".join(problems),
            fix="start from a value that meets the constraints, or loosen them",
        )
    return Node(spec.normalize(value), NodeKind.PARAMETER, name, location=where, spec=spec)


def _check_options(
    head: str,
    kind: ParamType,
    bounds: object,
    choices: Sequence[Any] | None,
    pattern: str | None,
    max_length: int | None,
) -> None:
    """Constraints that cannot apply to this kind of value, or are malformed."""
    problem = ""
    if choices is not None and len(choices) == 0:
        problem = "choices is empty; fix: choices=['a', 'b']"
    elif bounds is not None and kind not in (ParamType.NUMBER, ParamType.INTEGER):
        problem = f"bounds apply to numbers, and this parameter is {kind.value}"
    elif bounds is not None and not _good_bounds(bounds):
        problem = f"bounds must be a (low, high) pair with low <= high, got {bounds!r}"
    elif (pattern is not None or max_length is not None) and kind is not ParamType.TEXT:
        problem = f"pattern and max_length apply to text, and this parameter is {kind.value}"
    elif max_length is not None and (type(max_length) is not int or max_length < 0):
        problem = f"max_length must be a whole number >= 0, got {max_length!r}"
    elif pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            problem = f"bad pattern {pattern!r}: {exc}"
    if problem:
        raise ParameterError(f"{head}: {problem}")


def _good_bounds(bounds: object) -> bool:
    if not (isinstance(bounds, tuple) and len(bounds) == 2):
        return False
    lo, hi = bounds
    if not all(
        b is None or (isinstance(b, (int, float)) and not isinstance(b, bool)) for b in bounds
    ):
        return False
    return lo is None or hi is None or lo <= hi


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
        name = "input"  # views number unnamed inputs: input_1, input_2
    _check_name(name, "tg.node")
    return Node(value, NodeKind.INPUT, name, location=user_location())


def tracing_active() -> bool:
    """True when a call here should build nodes (tracing on and not inside an op body)."""
    return TRACING.get() and CURRENT_READS.get() is None


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
        if not TRACING.get() or CURRENT_READS.get() is not None:
            plain_args = [plain(a) for a in args]
            plain_kwargs = {k: plain(v) for k, v in kwargs.items()}
            return impl(*plain_args, **plain_kwargs)
        where = user_location(2)
        bound = bind(self.plan, args, kwargs, where)
        if code is not None:
            values, keywords, parents, labels = bound
            bound = values, keywords, [*parents, code], [*labels, "<code>"]
        if self.is_async:
            return self._arun(impl, bound, where, code, source)
        observer, handle = self._observe(bound)
        reads: dict[int, Node] = {}
        token = CURRENT_READS.set(reads)
        try:
            value = impl(*bound[0], **bound[1]) if bound[1] else impl(*bound[0])
        except Exception as exc:
            error = self._failed(exc, bound, where, impl, source, reads, code)
            raise _told(observer, handle, error) from exc
        finally:
            CURRENT_READS.reset(token)
        return _told(observer, handle, self._node(value, reads, bound, where, code))

    async def _arun(
        self,
        impl: Callable[..., Any],
        bound: Bound,
        where: SourceLocation,
        code: Node | None,
        source: tuple[str, int, str] | None,
    ) -> Node:
        observer, handle = self._observe(bound)
        reads: dict[int, Node] = {}
        token = CURRENT_READS.set(reads)  # this task's context only: concurrent calls stay apart
        try:
            value = await impl(*bound[0], **bound[1])
        except Exception as exc:
            error = self._failed(exc, bound, where, impl, source, reads, code)
            raise _told(observer, handle, error) from exc
        finally:
            CURRENT_READS.reset(token)
        return _told(observer, handle, self._node(value, reads, bound, where, code))

    def _observe(self, bound: Bound) -> tuple[Any, Any]:
        """Tell the observer (``tracegraph.otel``) a call starts; ``(None, None)`` without one."""
        observer = OBSERVER.get()
        if observer is None:
            return None, None
        return observer, observer.start(self.op_name, bound[2], bound[3])

    def _node(
        self,
        value: Any,
        reads: dict[int, Node],
        bound: Bound,
        where: SourceLocation,
        code: Node | None,
    ) -> Node:
        """The CALL node of a finished call: explicit parents, then the implicit reads."""
        meta: dict[str, Any] | None = None
        _, _, parents, labels = bound
        if reads or isinstance(value, Node):
            value, parents, labels, implicit = finish(value, reads, parents, labels)
            if implicit:
                meta = {"implicit": implicit}
        return Node(
            value,
            _CALL,
            self.op_name,
            self.op_name,
            tuple(parents),
            tuple(labels),
            where,
            meta,
            doc=self.doc,
            code_param=code,
        )

    def _failed(
        self,
        exc: Exception,
        bound: Bound,
        where: SourceLocation,
        impl: Callable[..., Any],
        source: tuple[str, int, str] | None,
        reads: dict[int, Node],
        code: Node | None,
    ) -> Exception:
        """The OpError to raise for an exception in the body, with its EXCEPTION node."""
        _, parents, labels, _ = finish(None, reads, bound[2], bound[3])
        return exception_node(
            exc,
            op_name=self.op_name,
            name=self.op_name,
            parents=tuple(parents),
            labels=tuple(labels),
            where=where,
            code=getattr(inspect.unwrap(impl), "__code__", None),  # the failing line is inside
            source=source,
            doc=self.doc,
            code_param=code,
        )


_Told = TypeVar("_Told", Node, Exception)


def _told(observer: Any, handle: Any, outcome: _Told) -> _Told:
    """Tell the observer how a call ended (its node, or the OpError); return ``outcome``."""
    if observer is not None:
        observer.end(handle, outcome)
    return outcome


@overload
def op(fn: Callable[..., Any], /) -> OpFunction: ...
@overload
def op(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], OpFunction]: ...
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
