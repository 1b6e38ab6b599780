"""Trainable functions: the function's source is a CODE parameter, and calls run its current code.

``@tg.trainable`` works like ``@tg.op`` and also captures the function's source (decorators
stripped, dedented) as a parameter of type CODE named after the function. Every call compiles
the parameter's current text (cached by text) and runs it; ``fn.code.set_value(new_source)``
changes what the next call does. The call node's parents include the code parameter, so
feedback reaches it.

How the code is run: the text is compiled as the body of a factory function and executed in
the original function's module globals; the factory's return value is the new function. So the
code may import modules or define helpers above the function, and it sees the module's globals
as they are at call time. Closures: the original function's free variables are passed to the
factory with their values at call time, so new code can use them; it cannot add new ones. The
function must keep its name (the parameter's check rejects code that does not define it).
Decorators are not part of the code: those below ``@tg.trainable`` are stripped with the rest
and do not apply to the code that runs.

Methods: each instance gets its own copy of the code parameter on first access (kept in the
instance's ``__dict__``), so two instances, or a ``deepcopy``, train independently.

Where the code runs: by default in this process, like any function of yours, on every call.
With ``@tg.trainable(isolated=True)`` every call runs in a long-lived sandboxed worker
(:mod:`tracegraph.sandbox.isolated`: no network, no secrets, writes only in its temporary
directory, limits; arguments and results cross by value, results must be plain data); a crash
or a timeout becomes an IsolationError (an exception node when traced), never a dead process.
A code parameter whose ``meta["isolate"]`` is ``"changed"`` (the Trainer sets it while it runs)
runs isolated whenever its text is not the function's original source.

>>> import tracegraph as tg
>>> @tg.trainable
... def double(x: int) -> int:
...     return x * 2
>>> double(tg.node(3, name="x")).value
6
>>> double.code.set_value("def double(x):\\n    return x + x + 1\\n")
>>> double(tg.node(3, name="x")).value
7
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import linecache
import pickle
import sys
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, overload

from tracegraph.errors import IsolationError, ParameterError, TracegraphError
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamSpec, ParamType
from tracegraph.sites import user_location
from tracegraph.tracing import OpFunction, tracing_active

if TYPE_CHECKING:
    from tracegraph.sandbox.isolated import Worker
    from tracegraph.sandbox.policy import Limits

__all__ = ["BoundTrainable", "TrainableFunction", "code_of", "function_source", "trainable"]


_CACHE_SIZE = 32
_FACTORY = "__tracegraph_factory__"
INSTANCE_CODES = "__tracegraph_code__"  # per-instance code parameters, in the instance's __dict__


def function_source(fn: Callable[..., Any]) -> str:
    """The source of ``fn`` from its ``def`` line on: decorators stripped, dedented.

    Raises ParameterError when the source cannot be read (a lambda, a function made by exec).
    """
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError) as exc:
        raise ParameterError(
            f"cannot read the source of {getattr(fn, '__qualname__', fn)!r}: {exc}",
            fix="@tg.trainable needs a function defined with `def` in a .py file",
        ) from None
    defs = [
        d
        for d in tree.body
        if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) and d.name == fn.__name__
    ]
    if not defs:
        raise ParameterError(
            f"cannot find `def {fn.__name__}` in the source of {fn.__qualname__!r}",
            fix="@tg.trainable needs a function defined with `def`, not a lambda",
        )
    lines = text.splitlines()
    first, last = defs[0].lineno, defs[0].end_lineno or len(lines)
    return "\n".join(lines[first - 1 : last]) + "\n"


class DefinesFunction:
    """keeps the function's name"""

    # A class rather than a closure so that code parameters can be pickled.
    __name__ = "defines_function"

    def __init__(self, fn_name: str) -> None:
        self.fn_name = fn_name

    def __call__(self, source: Any) -> bool | str:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, TypeError):
            return True  # the type check already reports unparsable code
        for d in tree.body:
            if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) and d.name == self.fn_name:
                return True
        return f"must define `def {self.fn_name}(...)` at top level (keep the function's name)"


class ModuleGlobals(Mapping[str, Any]):
    """The original function's module globals, read live (``code.meta["globals"]``).

    Trial runs of proposed code (``optimizers.step.trial``) send the globals the new code names, so
    a proposal may use the module's helpers and constants. Pickles as the module's name (the
    globals of a loaded module, else empty), so a code parameter still pickles when the globals
    hold things that do not.
    """

    def __init__(self, fn_globals: dict[str, Any]) -> None:
        self._globals = fn_globals

    def __getitem__(self, key: str) -> Any:
        return self._globals[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._globals))  # a copy: the module may gain names meanwhile

    def __len__(self) -> int:
        return len(self._globals)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_module_globals, (self._globals.get("__name__"),))


def _module_globals(module_name: str | None) -> Mapping[str, Any]:
    module = sys.modules.get(module_name or "")
    return ModuleGlobals(vars(module)) if module is not None else {}


def _factory_module(source: str, fn_name: str, freevars: tuple[str, ...], filename: str) -> Any:
    """``def factory(<freevars>): <source>; return <fn_name>`` as an AST, keeping line numbers."""
    tree = ast.parse(source, filename)
    template = ast.parse(f"def {_FACTORY}({', '.join(freevars)}):\n    pass\n")
    factory = template.body[0]
    assert isinstance(factory, ast.FunctionDef)
    factory.body = [*tree.body, ast.Return(ast.Name(fn_name, ast.Load()))]
    return ast.fix_missing_locations(template)


class TrainableFunction(OpFunction):
    """A trainable op: its code is the parameter ``.code``. Made by ``@tg.trainable``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        description: str | None,
        isolated: bool = False,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(fn, name, description)
        self.isolated = isolated
        self.limits = limits
        self._worker: Worker | None = None  # made at the first isolated call
        # Decorators below @tg.trainable are not part of the code (they are stripped from the
        # source), so the closure, globals and name come from the innermost function.
        self.inner = inspect.unwrap(fn)
        if not isinstance(self.inner, types.FunctionType):
            raise ParameterError(
                f"@tg.trainable needs a Python function, got {type(fn).__name__}",
                fix="decorate a function defined with `def`",
            )
        source = function_source(self.inner)
        self.filename = f"<trainable {self.inner.__qualname__}>"
        self._compiled: dict[str, Callable[..., Callable[..., Any]]] = {}
        self._shown = ""  # the text linecache holds for self.filename (for tracebacks)
        spec = ParamSpec(
            ParamType.CODE,
            description=self.doc,
            predicate=DefinesFunction(self.inner.__name__),
            example=source,
        )
        problems = spec.check(source)
        if problems:  # e.g. a decorator that renamed the function
            raise ParameterError(f"the source of {fn!r}: " + "; ".join(problems))
        self.original = source
        where = user_location()
        code_name = name or self.inner.__name__
        self.code = Node(
            source,
            NodeKind.PARAMETER,
            code_name,
            location=where,
            spec=spec,
            meta={"globals": ModuleGlobals(self.inner.__globals__)},
        )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return BoundTrainable(self, instance, self.code_for(instance))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call_with(self.code, args, kwargs)

    def code_for(self, instance: Any) -> Node:
        """The code parameter of ``instance`` (made on first use from this function's)."""
        store = getattr(instance, "__dict__", None)
        if store is None:  # no per-instance storage (slots): share the function's parameter
            return self.code
        codes = store.setdefault(INSTANCE_CODES, {})
        code: Node | None = codes.get(self.inner.__qualname__)
        if code is None:
            t = self.code
            code = Node(
                t._value,
                NodeKind.PARAMETER,
                t.name,
                location=t.location,
                spec=t.spec,
                meta=dict(t.meta),
            )
            codes[self.inner.__qualname__] = code
        return code

    def call_with(self, code: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the current text of ``code`` on the arguments, traced like an op."""
        source = code._value if tracing_active() else code.value
        isolated = self.isolated or (
            code.meta.get("isolate") == "changed" and source != self.original
        )
        impl = self._in_worker(source) if isolated else self._function(source)
        return self.invoke(impl, args, kwargs, code, (source, 1, self.filename))

    @property
    def worker(self) -> Worker:
        """The sandboxed worker of isolated calls (imported and made on first use: keeps
        ``import tracegraph`` light)."""
        if self._worker is None:
            from tracegraph.sandbox.isolated import WORKER_LIMITS, Worker

            self._worker = Worker(self.limits or WORKER_LIMITS)
        return self._worker

    def _in_worker(self, source: str) -> Callable[..., Any]:
        """A callable that runs ``source`` in the isolated worker (async for async functions)."""
        from tracegraph.sandbox.isolated import globals_for

        self._function(source)  # compile here first: a syntax error is raised the usual way
        freevars = self.inner.__code__.co_freevars
        code = compile(
            _factory_module(source, self.inner.__name__, freevars, self.filename),
            self.filename,
            "exec",
        )
        name = self.inner.__name__

        def job(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            try:
                cells = pickle.dumps([c.cell_contents for c in self.inner.__closure__ or ()])
                call = pickle.dumps((args, kwargs))
            except Exception as exc:
                raise IsolationError(
                    f"the arguments or closure of {name} cannot be sent to its isolated worker "
                    f"({type(exc).__name__}: {exc}); fix: pass plain data, or drop isolated=True"
                ) from None
            return {
                "name": name, "key": hashlib.sha256(source.encode()).hexdigest(),
                "factory": _FACTORY, "module": self.inner.__module__, "filename": self.filename,
                "source": source, "cells": cells, "call": call,
                **globals_for(source, self.inner.__globals__),
            }  # fmt: skip

        if self.is_async:

            async def arun(*args: Any, **kwargs: Any) -> Any:
                import asyncio

                return await asyncio.to_thread(self.worker.call, job(args, kwargs), code)

            return arun

        def run(*args: Any, **kwargs: Any) -> Any:
            return self.worker.call(job(args, kwargs), code)

        return run

    def _function(self, source: str) -> Callable[..., Any]:
        """The callable for ``source``; compile errors come back as a callable that raises."""
        factory = self._compiled.get(source)
        if factory is None:
            factory = self._compile(source)
        if source is not self._shown:
            lines = source.splitlines(keepends=True)
            linecache.cache[self.filename] = (len(source), None, lines, self.filename)
            self._shown = source
        closure = self.inner.__closure__ or ()
        try:
            made = factory(*[cell.cell_contents for cell in closure])
        except Exception as exc:  # top-level statements of the code failed, or a cell is empty
            return _raiser(exc)
        if not isinstance(made, types.FunctionType):
            return _raiser(TypeError(f"the code must define `def {self.inner.__name__}(...)`"))
        return made

    def _compile(self, source: str) -> Callable[..., Callable[..., Any]]:
        freevars = self.inner.__code__.co_freevars
        try:
            module = _factory_module(source, self.inner.__name__, freevars, self.filename)
            namespace: dict[str, Any] = {}
            exec(compile(module, self.filename, "exec"), self.inner.__globals__, namespace)
            factory = namespace[_FACTORY]
        except SyntaxError as exc:
            factory = _failing_factory(exc)
        if len(self._compiled) >= _CACHE_SIZE:
            # Drop the oldest; another thread may be doing the same, so tolerate losing the race.
            with contextlib.suppress(RuntimeError, StopIteration):
                self._compiled.pop(next(iter(self._compiled)), None)
        self._compiled[source] = factory
        return factory


def _raiser(exc: BaseException) -> Callable[..., Any]:
    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return raise_it


def _failing_factory(exc: SyntaxError) -> Callable[..., Callable[..., Any]]:
    return lambda *cells: _raiser(exc)


class BoundTrainable:
    """A trainable method bound to an instance, running that instance's code parameter."""

    __slots__ = ("__func__", "__self__", "code")

    def __init__(self, fn: TrainableFunction, instance: Any, code: Node) -> None:
        self.__func__ = fn
        self.__self__ = instance
        self.code = code

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__.call_with(self.code, (self.__self__, *args), kwargs)

    @property
    def __name__(self) -> str:
        return self.__func__.inner.__name__

    def __repr__(self) -> str:
        return f"<trainable method {self.__func__.inner.__qualname__} of {self.__self__!r}>"


@overload
def trainable(fn: Callable[..., Any], /) -> TrainableFunction: ...
@overload
def trainable(
    *,
    name: str | None = None,
    description: str | None = None,
    isolated: bool = False,
    limits: Limits | None = None,
) -> Callable[[Callable[..., Any]], TrainableFunction]: ...
def trainable(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    isolated: bool = False,
    limits: Limits | None = None,
) -> Any:
    """Make a function trainable: an op whose source code is a parameter (``fn.code``).

    ``name`` names the code parameter (default: the function's name). ``isolated=True`` runs
    every call in a sandboxed worker process under ``limits`` (default: 10 s per call, 512 MB;
    see :class:`tracegraph.sandbox.Limits`) instead of in this process.
    """
    if fn is None:
        return lambda f: TrainableFunction(f, name, description, isolated, limits)
    return TrainableFunction(fn, name, description, isolated, limits)


def code_of(fn: Any) -> Node:
    """The code parameter of a trainable function or bound trainable method.

    >>> import tracegraph as tg
    >>> @tg.trainable
    ... def f(x):
    ...     return x
    >>> tg.code_of(f).spec.type.value
    'code'
    """
    code = (
        getattr(fn, "code", None) if isinstance(fn, (TrainableFunction, BoundTrainable)) else None
    )
    if not isinstance(code, Node):
        raise TracegraphError(
            f"{fn!r:.80} is not a trainable function; fix: decorate it with @tg.trainable"
        )
    return code
