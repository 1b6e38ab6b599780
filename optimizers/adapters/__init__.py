"""Adapters: make workflows written with an agent framework trainable.

Each adapter lives in its own module and needs its own extra; importing this package imports
no framework:

- :mod:`optimizers.adapters.openai_agents` — the OpenAI Agents SDK (``tracegraph[agents]``)
- :mod:`optimizers.adapters.langgraph` — LangGraph (``tracegraph[langgraph]``)

An adapter turns the framework's prompts into ``tg.param`` parameters and records each run as
a graph of CALL nodes (what ran, in its real order), so feedback on the run's output reaches
the prompts and any optimizer of this package can improve them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from tracegraph.node import Node, NodeKind

__all__ = ["recorded_call", "slug"]

_seq = itertools.count(1)


def slug(text: str) -> str:
    """``text`` as a parameter-name part: letters, digits and underscores.

    >>> slug("Dictionary bot!")
    'Dictionary_bot'
    """
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "x"


def recorded_call(
    op: str, value: Any, parents: Sequence[tuple[str, Node]], doc: str, **meta: Any
) -> Node:
    """A CALL node for a step the framework ran (its parents labelled), as ``@tg.op`` makes."""
    return Node(
        value,
        NodeKind.CALL,
        f"{op}_{next(_seq)}",
        op=op,
        parents=tuple(node for _, node in parents),
        arg_names=tuple(label for label, _ in parents),
        meta=dict(meta),
        doc=doc,
    )
