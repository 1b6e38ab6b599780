"""The trained parameters by name: read and write their values as the run directory keeps them."""

from __future__ import annotations

import json
from typing import Any

from tracegraph.errors import PersistenceError, TracegraphError
from tracegraph.node import Node
from tracegraph.params import ParamType

__all__ = ["ParamSet", "same"]


def same(a: Any, b: Any) -> bool:
    """Equal as stored JSON (so tuples and lists compare as they will be saved).

    >>> same({"x": (1, 2)}, {"x": [1, 2]}), same({"x": 1}, {"x": 2})
    (True, False)
    """

    def dump(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=repr)

    return dump(a) == dump(b)


class ParamSet:
    """An optimizer's parameters keyed by their (unique) names."""

    def __init__(self, optimizer: Any) -> None:
        self.by_name: dict[str, Node] = {}
        for p in getattr(optimizer, "params", []):
            if p.name in self.by_name:
                raise TracegraphError(
                    f"two trainable parameters are named {p.name!r}; the run directory keys "
                    "values by name. Fix: give them distinct tg.param(..., name=...)"
                )
            self.by_name[p.name] = p
        if not self.by_name:
            raise TracegraphError(
                f"the optimizer {type(optimizer).__name__} has no parameters to train; "
                "expected an optimizer built with the parameters, e.g. GraphOptimizer([prompt])"
            )

    def names(self) -> list[str]:
        return sorted(self.by_name)

    def describe(self) -> list[dict[str, Any]]:
        """Name and type of each parameter, for ``run.json``."""
        out = []
        for name, p in self.by_name.items():
            kind = getattr(getattr(p, "spec", None), "type", None)
            out.append({"name": name, "type": getattr(kind, "value", kind)})
        return out

    def values(self) -> dict[str, Any]:
        """The current value of every parameter, by name."""
        return {name: p.value for name, p in self.by_name.items()}

    def foreign_code(self, saved: Any) -> dict[str, str]:
        """Code in ``saved`` (a checkpoint: values, best values, optimizer state, walked
        without recursion) for a code parameter, that differs from the code it has now."""
        code = {
            name: p.value
            for name, p in self.by_name.items()
            if getattr(getattr(p, "spec", None), "type", None) is ParamType.CODE
        }
        found: dict[str, str] = {}
        todo = [saved]
        while todo and code:
            item = todo.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if key in code and isinstance(value, str) and value != code[key]:
                        found.setdefault(key, value)
                    todo.append(value)
            elif isinstance(item, list):
                todo.extend(item)
        return found

    def set(self, values: dict[str, Any]) -> None:
        """Give every parameter its value from ``values`` (checked by each parameter's spec)."""
        for name, p in self.by_name.items():
            if name not in values:
                raise PersistenceError(
                    f"the checkpoint has no value for parameter {name!r} (it has "
                    f"{sorted(values)}); the script's parameters changed since the run started"
                )
            if not same(p.value, values[name]):
                p.set_value(values[name])
