"""Every graph a test builds is checked with ``check_graph`` when the test ends, like a lint.

The library keeps no registry of nodes (style point 6), so the tests keep one, per test only:
an autouse fixture wraps ``Node.__init__`` to note a weak reference to each node made during
the test, and at teardown checks the graph below the nodes still alive (one traversal). Nodes
made in other processes, or rebuilt by unpickling, are not seen. A test that builds a broken
graph on purpose, or measures memory, says so with ``@pytest.mark.no_graph_check``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tracegraph.graph import check_graph
from tracegraph.node import Node


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_graph_check: the graphs this test builds are not checked "
        "(broken on purpose, or memory measured)",
    )


@pytest.fixture(autouse=True)
def _check_graphs_built(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("no_graph_check") is not None:
        yield
        return
    made: list[weakref.ref[Node]] = []
    original = Node.__init__
    note = made.append
    ref = weakref.ref

    def init(self: Node, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        note(ref(self))

    Node.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Node.__init__ = original  # type: ignore[method-assign]
    alive = [node for node in (r() for r in made) if node is not None]
    if alive:
        check_graph(alive)
