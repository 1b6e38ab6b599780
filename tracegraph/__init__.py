"""tracegraph: trace plain Python into a graph, propagate feedback, let an LLM optimize.

>>> import tracegraph as tg
>>> prompt = tg.param("Answer briefly.", name="prompt")
>>> @tg.op
... def build(question: str, prompt: str) -> str:
...     "Join the prompt and the question."
...     return prompt + " " + question
>>> out = build("What is 2+3?", prompt)
>>> out.value
'Answer briefly. What is 2+3?'
"""

from tracegraph.backward import zero_feedback
from tracegraph.code import code_of, trainable
from tracegraph.dot import to_dot
from tracegraph.errors import (
    FeedbackError,
    GraphError,
    NodeError,
    OpError,
    ParameterError,
    PersistenceError,
    TracegraphError,
    TraceLostWarning,
)
from tracegraph.graph import relevant_subgraph, to_networkx
from tracegraph.module import Module
from tracegraph.node import Feedback, Node, NodeKind
from tracegraph.notebook import install as _install_notebook_views
from tracegraph.operators import len_
from tracegraph.sites import ExceptionInfo
from tracegraph.text import format_graph
from tracegraph.tracing import no_trace, node, op, param

_install_notebook_views()  # Node and Subgraph display themselves in notebooks

__all__ = [
    "ExceptionInfo",
    "Feedback",
    "FeedbackError",
    "GraphError",
    "Module",
    "Node",
    "NodeError",
    "NodeKind",
    "OpError",
    "ParameterError",
    "PersistenceError",
    "TraceLostWarning",
    "TracegraphError",
    "code_of",
    "format_graph",
    "len_",
    "no_trace",
    "node",
    "op",
    "param",
    "relevant_subgraph",
    "to_dot",
    "to_networkx",
    "trainable",
    "zero_feedback",
]
