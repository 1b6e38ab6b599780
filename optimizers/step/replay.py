"""The recorded calls of a trainable function, rebuilt as arguments to replay in a trial.

A call node records each argument as a parent with its parameter name; :func:`trial_calls`
turns them back into ``(args, kwargs)`` for the function's signature, leaving out calls whose
arguments cannot be rebuilt exactly.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from tracegraph.node import Node

__all__ = ["Call", "find_def", "function_name", "replayable", "trial_calls"]

Call = tuple[tuple[Any, ...], dict[str, Any]]


def find_def(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return stmt
    return None


def function_name(source: str, code_param: Node | None = None) -> str | None:
    """The function ``source`` is called by: the name ``code_param``'s spec keeps
    (``@tg.trainable``'s function) when ``source`` defines it at its top level, else its first
    top-level function (a helper may come first); None when it defines none or does not parse.
    The trial runs it, the repair prompt names it and the format repair wraps it."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    spec = code_param.spec if code_param is not None else None
    kept = getattr(getattr(spec, "predicate", None), "fn_name", None)
    if isinstance(kept, str) and find_def(tree, kept) is not None:
        return kept
    defs = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return defs[0].name if defs else None


def trial_calls(
    code_param: Node, calls: Sequence[Node], original: str, name: str | None = None
) -> list[Call]:
    """The arguments each traced call of the function received, rebuilt from its parents.

    Calls whose arguments cannot be rebuilt exactly (an argument assembled from several nodes,
    a bound method's ``self``) are left out.
    """
    return [c for _, c in replayable(code_param, calls, original, name)]


def replayable(
    code_param: Node, calls: Sequence[Node], original: str, name: str | None
) -> list[tuple[Node, Call]]:
    tree = ast.parse(original)
    fn = find_def(tree, name or code_param.name) or next(
        (s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))), None
    )
    if fn is None:
        return []
    out: list[tuple[Node, Call]] = []
    for call in calls:
        rebuilt = _rebuild(call, code_param, fn.args)
        if rebuilt is not None:
            out.append((call, rebuilt))
    return out


def _rebuild(call: Node, code_param: Node, a: ast.arguments) -> Call | None:
    positional = [p.arg for p in a.posonlyargs + a.args]
    kwonly = {p.arg for p in a.kwonlyargs}
    star = a.vararg.arg if a.vararg else None
    named: dict[str, Any] = {}
    extra: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parent, label in zip(call.parents, call.arg_names, strict=False):
        if parent is code_param or label.startswith("<"):
            continue  # the code itself, or a value read implicitly: not an argument
        if label in positional or label in kwonly:
            named[label] = parent.peek()
        elif star and label.startswith(f"{star}[") and label[len(star) + 1 : -1].isdigit():
            extra.append(parent.peek())
        elif a.kwarg is not None and label.isidentifier():
            kwargs[label] = parent.peek()
        else:
            return None  # a nested element such as "x[0]": the container is not recorded whole
    if any(p not in named for p in positional[: len(positional) - len(a.defaults)]):
        return None
    args: list[Any] = []
    for p in positional:
        if p not in named:
            break
        args.append(named.pop(p))
    kwargs.update(named)
    return (*args, *extra), kwargs
