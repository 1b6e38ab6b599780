"""optimizers: the model client layer, the optimizers and the trainer for tracegraph.

>>> import optimizers
>>> optimizers.ScriptedClient(["ok"]).complete([{"role": "user", "content": "hi"}]).text
'ok'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimizers.algorithms.graph import GraphOptimizer
from optimizers.algorithms.history import HistoryOptimizer
from optimizers.algorithms.optimizer import Optimizer, Rejection, StepReport
from optimizers.algorithms.textual_gradient import TextualGradientOptimizer
from optimizers.errors import (
    APIStatusError,
    BudgetExceeded,
    CassetteMiss,
    ClientConfigError,
    DuplicateParameterName,
    LLMConnectionError,
    LLMError,
    LLMTimeout,
    OptimizerError,
    RateLimited,
    ReplyParseError,
    ScriptExhausted,
    ServerError,
)
from optimizers.llm import (
    Budget,
    Cassette,
    FakeOpenAIServer,
    Fault,
    LLMClient,
    Prices,
    Reply,
    ScriptedClient,
    Usage,
    default_client,
    local_model,
)
from optimizers.llm.budget import budget
from optimizers.search import BeamSearch, BestOfN
from optimizers.step.problem import ProblemConfig
from optimizers.step.trial import TrialConfig
from optimizers.trainer import Trainer
from tracegraph.sites import add_library_root

if TYPE_CHECKING:
    from optimizers.llm.openai_client import OpenAIClient

# Nodes made inside this package point at the user's line, not at ours.
add_library_root(__file__)

__all__ = [
    # client layer
    "APIStatusError",
    "Budget",
    "BudgetExceeded",
    "Cassette",
    "CassetteMiss",
    "ClientConfigError",
    "FakeOpenAIServer",
    "Fault",
    "LLMClient",
    "LLMConnectionError",
    "LLMError",
    "LLMTimeout",
    "OpenAIClient",
    "Prices",
    "RateLimited",
    "Reply",
    "ReplyParseError",
    "ScriptExhausted",
    "ScriptedClient",
    "ServerError",
    "Usage",
    "budget",
    "default_client",
    "local_model",
    # optimizers (appended by their modules' authors)
]
__all__ += [  # optimizers: shared machinery and the graph-aware optimizer
    "DuplicateParameterName",
    "GraphOptimizer",
    "Optimizer",
    "OptimizerError",
    "ProblemConfig",
    "Rejection",
    "StepReport",
    "TrialConfig",
]
__all__ += [  # optimizers: textual gradients, history, search
    "BeamSearch",
    "BestOfN",
    "HistoryOptimizer",
    "TextualGradientOptimizer",
]

__all__ += ["Trainer"]  # the trainer (optimizers/trainer/)


def __getattr__(name: str) -> Any:
    # OpenAIClient imports `openai` (most of a second): load it only when asked for.
    if name == "OpenAIClient":
        from optimizers.llm.openai_client import OpenAIClient

        return OpenAIClient
    raise AttributeError(f"module 'optimizers' has no attribute {name!r}")
