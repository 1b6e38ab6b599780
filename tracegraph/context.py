"""Tracing state, kept in context variables (never in module globals).

Each thread starts with the defaults; each asyncio task works on a copy of its creator's
context, so concurrent op calls never see each other's state.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracegraph.node import Node

#: False inside ``tg.no_trace()``: operators and ops then compute on plain values.
TRACING: ContextVar[bool] = ContextVar("tracegraph_tracing", default=True)

#: While an op body runs: the nodes it has read so far that were not passed as arguments
#: (closures, globals, attributes), keyed by ``id`` so order is kept and nodes are not compared.
#: ``None`` outside op bodies.
CURRENT_READS: ContextVar[dict[int, Node] | None] = ContextVar(
    "tracegraph_current_reads", default=None
)

#: Told of every traced op call: ``start(op_name, parents, labels) -> handle`` before the body
#: runs (in the caller's context), ``end(handle, node_or_error)`` after. Set by
#: ``tracegraph.otel.trace_ops()``; ``None``: nobody listens (the default, at no cost).
OBSERVER: ContextVar[Any] = ContextVar("tracegraph_observer", default=None)
