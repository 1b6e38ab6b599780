"""Training-style loops do not leak: graphs are freed once their feedback is cleared.

Each iteration traces a small workflow from the same parameters, gives feedback, reads the
relevant subgraph (as an optimizer does) and clears the feedback. Nothing may survive an
iteration: no process-wide registry, no cache holding nodes.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import pytest

import tracegraph as tg
from tracegraph.graph import relevant_subgraph
from tracegraph.node import Node


@tg.op
def score(text: str, bonus: float) -> float:
    """Score a text."""
    return len(text) + bonus


def one_iteration(prompt: Node, bonus: Node, i: int) -> weakref.ref[Node]:
    text = prompt + f" case {i}"
    for _ in range(5):
        text = text + "."
    out = score(text, bonus) * 2
    out.backward("larger" if i % 2 else 0.5)
    sub = relevant_subgraph([prompt, bonus])
    assert len(sub.params) == 2 and sub.outputs[0][0] is out
    tg.zero_feedback(prompt, bonus)
    return weakref.ref(out)


def live_nodes() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Node))


@pytest.mark.no_graph_check
def test_graphs_are_freed_and_memory_stays_flat() -> None:
    prompt = tg.param("Be brief.", name="prompt")
    bonus = tg.param(1.0, name="bonus")
    for i in range(100):  # warm-up: caches, interned strings, code objects
        one_iteration(prompt, bonus, i)
    before_nodes = live_nodes()
    tracemalloc.start()
    try:
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        refs = [one_iteration(prompt, bonus, i) for i in range(1000)]
        # Freed by reference counting alone: the graph holds no cycles.
        assert sum(ref() is not None for ref in refs) == 0
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = end - start - 1000 * 64  # the list of weakrefs itself
    assert growth < 64 * 1024, f"memory grew by {growth} bytes over 1,000 iterations"
    assert live_nodes() == before_nodes


def test_feedback_kept_keeps_the_graph_and_clearing_frees_it() -> None:
    prompt = tg.param("Be brief.", name="prompt")
    out = prompt + "!"
    out.backward("longer")
    ref = weakref.ref(out)
    del out
    gc.collect()
    assert ref() is not None  # prompt.received still points at the output
    tg.zero_feedback(prompt)
    assert ref() is None
