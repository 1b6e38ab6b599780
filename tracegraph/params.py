"""What a parameter may hold: its type (inferred from the first value) and its constraints.

The spec is the contract between the user and the optimizers: an optimizer may only produce
values that pass :meth:`ParamSpec.check`, and every violation comes back as a sentence that can
be shown to the model.
"""

from __future__ import annotations

import ast
import enum
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_DEPTH", "ParamSpec", "ParamType", "infer_type", "json_problems"]

#: JSON values nest at most this deep (deeper ones are refused with a clear error, before any
#: recursive code such as copy, comparison or saving meets them).
MAX_DEPTH = 100
_SCALARS = (str, int, float, bool, type(None))


class ParamType(enum.Enum):
    TEXT = "text"
    NUMBER = "number"  # a float
    INTEGER = "integer"
    BOOL = "bool"
    CHOICE = "choice"  # one of ``choices``
    JSON = "json"  # a structured JSON value; proposals keep the original's shape
    CODE = "code"  # the source of one Python function


def infer_type(value: Any, choices: Sequence[Any] | None = None, code: bool = False) -> ParamType:
    """The parameter type of a first value.

    >>> [infer_type(v).value for v in (0.7, 3, True, "hi", {"k": [1]})]
    ['number', 'integer', 'bool', 'text', 'json']
    """
    if code:
        return ParamType.CODE
    if choices is not None:
        return ParamType.CHOICE
    if isinstance(value, bool):
        return ParamType.BOOL
    if isinstance(value, int):
        return ParamType.INTEGER
    if isinstance(value, float):
        return ParamType.NUMBER
    if isinstance(value, str):
        return ParamType.TEXT
    if isinstance(value, (dict, list)) or value is None:
        return ParamType.JSON
    raise TypeError(
        f"cannot make a parameter of {type(value).__name__}: use text, a number, a bool, "
        "a JSON value (dict/list), or pass choices=[...]"
    )


def json_problems(value: Any, path: str = "value") -> list[str]:
    """Why ``value`` is not JSON data (dicts with text keys, lists, text, numbers, bools,
    None; tuples count as lists), looked at without recursion; empty when it is.

    >>> json_problems({"a": {"b", "c"}})
    ["value['a'] is a set, which JSON cannot hold; fix: use a list, e.g. sorted(the_set)"]
    """
    todo: list[tuple[Any, str, int]] = [(value, path, 0)]
    while todo:
        item, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            return [f"{path} nests deeper than {MAX_DEPTH} levels (at {where[:60]}...); "
                    "fix: flatten it, or keep it out of the parameter"]  # fmt: skip
        if isinstance(item, dict):
            for k, v in item.items():
                if not isinstance(k, str):
                    return [f"{where} has the key {k!r}; JSON keys are text, fix: str(key)"]
                todo.append((v, f"{where}[{k!r}]", depth + 1))
        elif isinstance(item, (list, tuple)):
            todo += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item)]
        elif isinstance(item, (set, frozenset)):
            return [
                f"{where} is a set, which JSON cannot hold; fix: use a list, e.g. sorted(the_set)"
            ]
        elif not isinstance(item, _SCALARS):
            return [f"{where} is a {type(item).__name__}, which JSON cannot hold; fix: keep to "
                    "text, numbers, bools, None, lists and dicts"]  # fmt: skip
        elif isinstance(item, float) and not math.isfinite(item):
            return [f"{where} is {item!r}, which JSON cannot hold; fix: use a finite number"]
    return []


def _shape_problems(value: Any, like: Any, path: str = "value") -> list[str]:
    """Where ``value`` differs in structure from ``like`` (same keys, same JSON types)."""
    if isinstance(like, dict):
        if not isinstance(value, dict):
            return [f"{path} must be an object, got {type(value).__name__}"]
        out = []
        missing = sorted(set(like) - set(value))
        extra = sorted(set(value) - set(like))
        if missing:
            out.append(f"{path} lacks keys {missing}")
        if extra:
            out.append(f"{path} has unknown keys {extra}")
        for k in like:
            if k in value:
                out += _shape_problems(value[k], like[k], f"{path}[{k!r}]")
        return out
    if isinstance(like, list):
        if not isinstance(value, list):
            return [f"{path} must be a list, got {type(value).__name__}"]
        if like:
            return [
                p for i, v in enumerate(value) for p in _shape_problems(v, like[0], f"{path}[{i}]")
            ]
        return []
    if isinstance(like, bool):
        ok = isinstance(value, bool)
    elif isinstance(like, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(like, str):
        ok = isinstance(value, str)
    else:
        ok = value is None or not isinstance(value, (dict, list))
    return [] if ok else [f"{path} must be {type(like).__name__}, got {type(value).__name__}"]


@dataclass
class ParamSpec:
    """Type and constraints of a parameter. Built by ``tg.param``; read by optimizers."""

    type: ParamType
    description: str = ""
    bounds: tuple[float | None, float | None] | None = None
    choices: tuple[Any, ...] | None = None
    pattern: str | None = None  # the whole text must match this regex
    max_length: int | None = None
    must_contain: tuple[str, ...] = ()
    predicate: Callable[[Any], bool | str] | None = None  # True, or False/str explaining why not
    trainable: bool = True
    example: Any = None  # the first value, whose structure JSON proposals must keep
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, value: Any) -> list[str]:
        """Every way ``value`` breaks this spec, as sentences; empty when it is acceptable."""
        problems = self._type_problems(value)
        if problems:
            return problems
        if self.bounds is not None:
            lo, hi = self.bounds
            if lo is not None and value < lo:
                problems.append(f"must be >= {lo}, got {value} (the nearest allowed value is {lo})")
            if hi is not None and value > hi:
                problems.append(f"must be <= {hi}, got {value} (the nearest allowed value is {hi})")
        if isinstance(value, str):
            if self.max_length is not None and len(value) > self.max_length:
                problems.append(f"must be at most {self.max_length} characters, got {len(value)}")
            if self.pattern is not None and re.fullmatch(self.pattern, value, re.DOTALL) is None:
                problems.append(f"must match the pattern {self.pattern!r}")
            for phrase in self.must_contain:
                if phrase not in value:
                    problems.append(f"must keep the phrase {phrase!r}")
        if self.predicate is not None:
            try:
                verdict = self.predicate(value)
            except Exception as exc:  # the user's check failing is itself a rejection
                verdict = f"the constraint check raised {type(exc).__name__}: {exc}"
            if verdict is not True:
                name = getattr(self.predicate, "__name__", "predicate")
                problems.append(verdict if isinstance(verdict, str) else f"fails the check {name}")
        return problems

    def _type_problems(self, value: Any) -> list[str]:
        t = self.type
        if t is ParamType.CHOICE:
            assert self.choices is not None
            ok = any(value == c and type(value) is type(c) for c in self.choices)
            return [] if ok else [f"must be one of {list(self.choices)!r}, got {value!r}"]
        if t in (ParamType.TEXT, ParamType.CODE):
            if not isinstance(value, str):
                return [f"must be text, got {type(value).__name__}"]
            if t is ParamType.CODE:
                try:
                    ast.parse(value)
                except SyntaxError as exc:
                    return [f"code does not parse: {exc.msg} (line {exc.lineno})"]
            return []
        if t is ParamType.BOOL:
            return [] if isinstance(value, bool) else [f"must be true or false, got {value!r}"]
        if t is ParamType.INTEGER:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else [f"must be an integer, got {value!r}"]
        if t is ParamType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return [f"must be a number, got {value!r}"]
            return [] if math.isfinite(value) else [f"must be finite, got {value!r}"]
        return json_problems(value) or _shape_problems(value, self.example)

    def normalize(self, value: Any) -> Any:
        """The stored form of an accepted value (numbers become floats)."""
        if self.type is ParamType.NUMBER:
            return float(value)
        return value

    def describe(self) -> str:
        """The type and constraints in a few words, as shown to an optimizer.

        >>> ParamSpec(ParamType.NUMBER, bounds=(0.0, 2.0)).describe()
        'number in [0.0, 2.0]'
        """
        parts = [self.type.value]
        if self.bounds is not None:
            lo, hi = self.bounds
            parts[0] += f" in [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        if self.choices is not None:
            parts[0] = f"one of {list(self.choices)!r}"
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} characters")
        if self.pattern is not None:
            parts.append(f"matching {self.pattern!r}")
        for phrase in self.must_contain:
            parts.append(f"keeps the phrase {phrase!r}")
        if self.predicate is not None:
            doc = (self.predicate.__doc__ or "").strip().splitlines()
            parts.append(
                f"passes {getattr(self.predicate, '__name__', 'a check')}"
                + (f" ({doc[0]})" if doc else "")
            )
        return ", ".join(parts)
