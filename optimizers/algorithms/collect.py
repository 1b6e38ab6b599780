"""The trainable parameters an optimizer takes: from a list of nodes or a ``tg.Module``.

Names must be unique (updates are keyed by name); two instances of one Module class get their
dotted paths (``first.prompt``, ``second.prompt``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from optimizers.errors import DuplicateParameterName, OptimizerError
from tracegraph.node import Node, NodeKind

__all__ = ["collect_params"]


def collect_params(params: Iterable[Node] | Any) -> list[Node]:
    """The trainable parameters among ``params`` (a Module or an iterable of nodes)."""
    if hasattr(params, "named_parameters") and callable(params.named_parameters):
        params = _dotted_on_clash(params.named_parameters())
    elif hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    nodes = list(params)
    for p in nodes:
        if not isinstance(p, Node) or p.kind is not NodeKind.PARAMETER:
            raise OptimizerError(
                f"optimizers take parameters; got {p!r:.80}: create trainable values with "
                "tg.param(value, name=...) or @tg.trainable and pass those"
            )
    found = [p for p in nodes if p.trainable]
    if not found:
        raise OptimizerError("no trainable parameters were given (all are trainable=False?)")
    seen: dict[str, Node] = {}
    for p in found:
        other = seen.setdefault(p.name, p)
        if other is not p:
            raise DuplicateParameterName(
                f"two trainable parameters are both named {p.name!r}: one created at "
                f"{other.location}, the other at {p.location}; updates are keyed by name, so "
                f'names must be distinct. Fix: tg.param(..., name="{p.name}_2") on one of them; '
                "for two instances of one tg.Module class, pass a Module that holds both: "
                "their parameters then take their dotted names (first.prompt, second.prompt)"
            )
    return list(dict.fromkeys(found))


def _dotted_on_clash(named: list[tuple[str, Node]]) -> list[Node]:
    """The module's parameters; those whose names clash are renamed to their dotted paths
    (two instances of one Module class: ``first.prompt`` and ``second.prompt``)."""
    count: dict[str, int] = {}
    for _, p in named:
        count[p.name] = count.get(p.name, 0) + 1
    for dotted, p in named:
        if count[p.name] > 1:
            p.name = dotted
    return [p for _, p in named]
