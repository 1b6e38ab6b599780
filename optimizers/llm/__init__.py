"""The client layer: one narrow protocol for every model, local or hosted.

>>> from optimizers.llm import ScriptedClient
>>> ScriptedClient(["hi"]).complete([{"role": "user", "content": "hello"}]).text
'hi'

``OpenAIClient`` is imported on first use (the ``openai`` package takes most of a second to
import), so code that only uses :class:`ScriptedClient` stays quick to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimizers.errors import (
    APIStatusError,
    BudgetExceeded,
    CassetteMiss,
    ClientConfigError,
    LLMConnectionError,
    LLMError,
    LLMTimeout,
    RateLimited,
    ReplyParseError,
    ReplyTooLarge,
    ScriptExhausted,
    ServerError,
)
from optimizers.llm.budget import Budget, Remaining
from optimizers.llm.cache import ResponseCache, default_cache_path
from optimizers.llm.cassette import Cassette
from optimizers.llm.concurrency import AdaptiveLimiter
from optimizers.llm.defaults import default_client, local_model
from optimizers.llm.fakeserver import FakeOpenAIServer, Fault
from optimizers.llm.scripted import ScriptedClient
from optimizers.llm.structured import extract_json, json_schema_for
from optimizers.llm.types import LLMClient, Message, Price, Prices, Reply, Usage, UsageLedger

if TYPE_CHECKING:
    from optimizers.llm.openai_client import OpenAIClient

__all__ = [
    "APIStatusError",
    "AdaptiveLimiter",
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
    "Message",
    "OpenAIClient",
    "Price",
    "Prices",
    "RateLimited",
    "Remaining",
    "Reply",
    "ReplyParseError",
    "ReplyTooLarge",
    "ResponseCache",
    "ScriptExhausted",
    "ScriptedClient",
    "ServerError",
    "Usage",
    "UsageLedger",
    "default_cache_path",
    "default_client",
    "extract_json",
    "json_schema_for",
    "local_model",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIClient":
        from optimizers.llm.openai_client import OpenAIClient

        return OpenAIClient
    raise AttributeError(f"module 'optimizers.llm' has no attribute {name!r}")
