"""One exception tree for the whole library.

Every error raised by tracegraph or optimizers derives from :class:`TracegraphError`.
Errors that concern a node name it and the user's source line, say what was expected and
what came, and give the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracegraph.node import Node


class TracegraphError(Exception):
    """Base class of every error raised by tracegraph and optimizers."""


class NodeError(TracegraphError):
    """An error about one node; the message names it and where the user created it."""

    def __init__(self, message: str, node: Node | None = None, *, fix: str = "") -> None:
        self.node = node
        self.fix = fix
        parts = [message]
        if node is not None:
            parts.append(f"  node: {node.name!r} ({node.kind.value}) created at {node.location}")
        if fix:
            parts.append(f"  fix: {fix}")
        super().__init__("\n".join(parts))


class ParameterError(NodeError):
    """A parameter was declared or assigned a value that breaks its kind or constraints."""


class OpError(NodeError):
    """An op raised while running; ``.node`` is the exception node recorded in the graph."""


class FeedbackError(NodeError):
    """Feedback of the wrong type, or backward called on something that cannot take it."""


class GraphError(TracegraphError):
    """The graph breaks an invariant (a cycle, a dangling parent...)."""


class PersistenceError(TracegraphError):
    """A saved file is missing, corrupt, of another version, or does not match the module."""


class TraceLostWarning(UserWarning):
    """A node became plain text (``str(node)``, an f-string) while tracing: the trace stops there.

    Silence it for a block with ``warnings.catch_warnings()``, or read the value on purpose
    with ``node.peek()``.
    """


class IsolationError(TracegraphError):
    """An isolated call (``@tg.trainable(isolated=True)``, or model-written code the Trainer
    scores) could not give a result: its worker crashed, timed out, or sent no plain data."""
