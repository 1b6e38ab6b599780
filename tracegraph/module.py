"""``Module``: a base class whose instances find their parameters, copy them and save them.

Parameters are found in the instance's attributes (also inside nested modules, lists, tuples
and dicts; a trainable function kept in an attribute counts with its code) and in its trainable
methods (each instance has its own code parameter). Names are dotted paths: ``prompt``,
``reader.prompt``, ``steps.0.prompt``, ``answer`` (a method).

The saved file is JSON a person can read and edit::

    {"format": "tracegraph.module", "version": 1, "class": "app.Agent",
     "parameters": {"prompt": {"type": "text", "value": "Answer briefly."},
                    "answer": {"type": "code", "value": "def answer(self, q):\\n..."}}}

``load`` checks everything (format, version, class, names, types, constraints) before it
changes anything: a bad file raises PersistenceError and leaves the module as it was.

Loading code is opt-in, as PyTorch's ``weights_only=True`` makes loading objects opt-in: a file
whose code parameter differs from the code the module has now is refused (the error shows the
code) unless the caller passes ``allow_code=True``. Code in a file runs at the next call, so
only load code you would run.

>>> import tracegraph as tg
>>> class Agent(tg.Module):
...     def __init__(self):
...         self.prompt = tg.param("Answer briefly.", name="prompt")
>>> [name for name, _ in Agent().named_parameters()]
['prompt']
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracegraph.code import INSTANCE_CODES, BoundTrainable, TrainableFunction
from tracegraph.errors import PersistenceError
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamType

__all__ = ["FORMAT", "VERSION", "Module", "refuse_code"]

FORMAT = "tracegraph.module"
VERSION = 1


def _walk(value: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, Node]]:
    """Parameters inside one attribute value, depth first, in attribute order."""
    if isinstance(value, Node):
        if value.kind is NodeKind.PARAMETER:
            yield prefix, value
        return
    if isinstance(value, (TrainableFunction, BoundTrainable)):  # a trainable kept in an attribute
        yield prefix, value.code
        return
    if id(value) in seen:
        return
    if isinstance(value, Module):
        seen.add(id(value))
        yield from value._named(prefix + ".", seen)
    elif isinstance(value, (list, tuple)):
        seen.add(id(value))
        for i, item in enumerate(value):
            yield from _walk(item, f"{prefix}.{i}", seen)
    elif isinstance(value, dict):
        seen.add(id(value))
        for key, item in value.items():
            yield from _walk(item, f"{prefix}.{key}", seen)


def _class_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _fresh_copy(p: Node) -> Node:
    """A parameter with the same value and spec, a new identity and no feedback."""
    value = copy.deepcopy(p._value)
    return Node(value, NodeKind.PARAMETER, p.name, location=p.location, spec=p.spec)


class Module:
    """Base class for trainable programs: subclass it and keep parameters in attributes."""

    def _named(self, prefix: str, seen: set[int]) -> Iterator[tuple[str, Node]]:
        for attr, value in vars(self).items():
            if attr != INSTANCE_CODES:
                yield from _walk(value, prefix + attr, seen)
        done: set[str] = set()
        for klass in type(self).__mro__:
            for attr, value in vars(klass).items():
                if isinstance(value, TrainableFunction) and attr not in done:
                    done.add(attr)
                    yield prefix + attr, value.code_for(self)

    def named_parameters(self, *, include_fixed: bool = False) -> list[tuple[str, Node]]:
        """``(dotted name, parameter)`` pairs; fixed (``trainable=False``) ones on request."""
        out: list[tuple[str, Node]] = []
        found: set[int] = set()
        for name, p in self._named("", {id(self)}):
            if id(p) not in found and (include_fixed or p.trainable):
                found.add(id(p))
                out.append((name, p))
        return out

    def parameters(self, *, include_fixed: bool = False) -> list[Node]:
        """The parameters of this module, in attribute order (trainable ones by default)."""
        return [p for _, p in self.named_parameters(include_fixed=include_fixed)]

    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        # Parameters are copied fresh (new identity, no feedback); everything else as usual.
        for _, p in self.named_parameters(include_fixed=True):
            if id(p) not in memo:
                memo[id(p)] = _fresh_copy(p)
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in vars(self).items():
            vars(new)[key] = copy.deepcopy(value, memo)
        return new

    # ---------------------------------------------------------------------------- persistence

    def state_dict(self) -> dict[str, Any]:
        """The saved form: format, version, class and every parameter's type and value."""
        params = {
            name: {"type": p.spec.type.value if p.spec else "?", "value": p._value}
            for name, p in self.named_parameters(include_fixed=True)
        }
        return {
            "format": FORMAT,
            "version": VERSION,
            "class": _class_name(self),
            "parameters": params,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to ``path`` as JSON, atomically (a crash leaves the old file)."""
        state = self.state_dict()
        try:
            text = json.dumps(state, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PersistenceError(
                f"cannot save {_class_name(self)} to {str(path)!r}: a value is not JSON ({exc}); "
                "fix: keep parameter values to text, numbers, bools, lists and dicts"
            ) from exc
        import tempfile  # only here: keeps `import tracegraph` light

        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: str | os.PathLike[str], *, allow_code: bool = False) -> None:
        """Read parameters saved by :meth:`save`; check them all, then apply them all.

        Raises PersistenceError (and changes nothing) for an unreadable or corrupt file, another
        format or version, another class, missing or unknown names, wrong types or values, and
        code that differs from the module's own unless ``allow_code=True``.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PersistenceError(f"cannot read {str(path)!r}: {exc}") from exc
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PersistenceError(
                f"{str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno} column "
                f"{exc.colno}; fix: repair the file or save it again"
            ) from exc
        except RecursionError:
            raise PersistenceError(
                f"{str(path)!r} nests values deeper than Python can read; expected a file "
                "written by Module.save (values nest at most 100 levels)"
            ) from None
        self.load_state_dict(state, source=str(path), allow_code=allow_code)

    def load_state_dict(
        self, state: Any, *, source: str = "the state", allow_code: bool = False
    ) -> None:
        """Apply a :meth:`state_dict` after checking all of it (all or nothing); code that
        differs from the module's own only with ``allow_code=True``."""
        values = _checked(self, state, source)
        if not allow_code:
            names = {id(p): name for name, p in self.named_parameters(include_fixed=True)}
            changed = {
                names[id(p)]: value
                for p, value in values
                if p.spec is not None and p.spec.type is ParamType.CODE and value != p._value
            }
            if changed:
                raise refuse_code(source, changed, "module.load(path, allow_code=True)")
        for p, value in values:
            p._value = value


def refuse_code(source: str, changed: dict[str, str], fix: str) -> PersistenceError:
    """The error for code found where loading it was not allowed: the code shown, the opt-in."""
    shown = []
    for name, code in changed.items():
        text = code if len(code) <= 1500 else code[:1500] + "\n... (cut)"
        shown.append(f"  {name}:\n" + "\n".join("    | " + line for line in text.splitlines()))
    return PersistenceError(
        f"refusing to load code from {source}: it would replace the code of "
        f"{', '.join(map(repr, changed))}, and that code runs at the next call:\n"
        + "\n".join(shown)
        + f"\nnothing was changed. If you trust this file and would run this code, opt in: {fix}"
    )


def _checked(module: Module, state: Any, source: str) -> list[tuple[Node, Any]]:
    """Every parameter with its new value, or PersistenceError naming every problem."""
    head = f"cannot load {source} into {_class_name(module)}"
    if not isinstance(state, dict):
        raise PersistenceError(f"{head}: expected a JSON object, got {type(state).__name__}")
    if state.get("format") != FORMAT:
        raise PersistenceError(f"{head}: format is {state.get('format')!r}, expected {FORMAT!r}")
    if state.get("version") != VERSION:
        raise PersistenceError(
            f"{head}: file version {state.get('version')!r}, this tracegraph reads {VERSION}"
        )
    if state.get("class") != _class_name(module):
        raise PersistenceError(
            f"{head}: the file was saved from {state.get('class')!r}; "
            f"fix: load it into an instance of that class"
        )
    saved = state.get("parameters")
    if not isinstance(saved, dict):
        raise PersistenceError(f"{head}: 'parameters' must be an object")
    expected = dict(module.named_parameters(include_fixed=True))
    problems = [f"missing parameter {n!r}" for n in expected if n not in saved]
    problems += [f"unknown parameter {n!r}" for n in saved if n not in expected]
    out = []
    for name, p in expected.items():
        entry = saved.get(name)
        if name in saved:
            problems += _entry_problems(name, p, entry)
            if isinstance(entry, dict) and "value" in entry and p.spec is not None:
                out.append((p, p.spec.normalize(entry["value"])))
    if problems:
        raise PersistenceError(f"{head}; nothing was changed:\n  " + "\n  ".join(problems))
    return out


def _entry_problems(name: str, p: Node, entry: Any) -> list[str]:
    if not isinstance(entry, dict) or set(entry) != {"type", "value"}:
        return [f"{name!r}: expected {{'type': ..., 'value': ...}}, got {entry!r:.80}"]
    assert p.spec is not None
    if entry["type"] != p.spec.type.value:
        return [f"{name!r}: saved as {entry['type']!r}, the module has {p.spec.type.value!r}"]
    return [f"{name!r}: {problem}" for problem in p.spec.check(entry["value"])]
