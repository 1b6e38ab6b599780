"""The value types of the client layer and the protocol every client meets.

Everything outside ``openai_client.py`` sees only these: messages in, a :class:`Reply` out, and
:class:`Usage` counted in a :class:`UsageLedger`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "CallRecord",
    "LLMClient",
    "Message",
    "Price",
    "Prices",
    "RawReply",
    "Reply",
    "Request",
    "Usage",
    "UsageLedger",
]

Message = dict[str, str]
_KEY_VERSION = "tracegraph-llm-request-v1"


@dataclass(frozen=True)
class Usage:
    """What calls consumed. Adds up with ``+``.

    >>> (Usage(calls=1, input_tokens=10) + Usage(calls=1, output_tokens=5)).total_tokens
    15
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    cache_hits: int = 0  # replies served from the cache: no tokens, no cost

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens."""

    input_per_million: float
    output_per_million: float


class Prices:
    """Per-model prices, set by the user. Models without a price cost zero (local models).

    >>> Prices({"gpt-4o-mini": (0.15, 0.60)}).cost("gpt-4o-mini", 1_000_000, 0)
    0.15
    """

    def __init__(self, table: Mapping[str, Price | tuple[float, float]] | None = None) -> None:
        self._table = {
            name: p if isinstance(p, Price) else Price(*p) for name, p in (table or {}).items()
        }

    def knows(self, model: str) -> bool:
        """Whether a price was set for ``model``."""
        return model in self._table

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Dollar cost of one call; zero when no price is set for the model."""
        price = self._table.get(model)
        if price is None:
            return 0.0
        return (
            input_tokens * price.input_per_million + output_tokens * price.output_per_million
        ) / 1_000_000

    def __repr__(self) -> str:
        return f"Prices({self._table!r})"


@dataclass(frozen=True)
class Request:
    """One request as sent to an endpoint, minus credentials. Its :meth:`key` addresses caches."""

    model: str
    messages: tuple[Message, ...]
    response_format: dict[str, Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON body of the chat-completions call."""
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in self.messages]}
        if self.response_format is not None:
            body["response_format"] = self.response_format
        body.update(self.options)
        return body

    def key(self) -> str:
        """A hash of everything that shapes the answer (model, messages, format, options)."""
        text = json.dumps([_KEY_VERSION, self.payload()], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RawReply:
    """One endpoint answer before parsing: what caches and cassettes store."""

    text: str | None
    model: str
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    refusal: str | None = None
    texts: tuple[str | None, ...] = ()  # every choice when n > 1
    cached: bool = False
    seconds: float = 0.0
    attempts: int = 1  # HTTP attempts it took (retries included); one use, not stored

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (``cached``, ``seconds``, ``attempts`` describe one use: left out)."""
        return {
            "text": self.text,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "refusal": self.refusal,
            "texts": list(self.texts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, cached: bool = False) -> RawReply:
        """Inverse of :meth:`to_dict`."""
        return cls(
            text=data.get("text"),
            model=str(data.get("model", "")),
            finish_reason=data.get("finish_reason"),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            refusal=data.get("refusal"),
            texts=tuple(data.get("texts", ())),
            cached=cached,
        )


@dataclass(frozen=True)
class Reply:
    """A model's answer.

    Attributes:
        text: the reply text (of the last attempt when re-asks happened).
        parsed: the validated pydantic object when a schema was given, else None.
        usage: everything this ``complete`` call consumed, re-asks and retries included
            (``usage.calls`` counts HTTP attempts).
        model: the model that answered.
        cached: True when every attempt was served from the cache or a cassette.
        finish_reason: the server's reason for stopping (``"stop"``, ``"length"``...).
        attempts: 1 plus the number of re-asks needed.
        raw: the last raw reply as a dict.
    """

    text: str
    parsed: BaseModel | None
    usage: Usage
    model: str
    cached: bool = False
    finish_reason: str | None = None
    attempts: int = 1
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallRecord:
    """One request charged to a ledger."""

    model: str
    label: str | None
    usage: Usage
    cached: bool
    at: float


class UsageLedger:
    """Usage per call, per caller label and in total. Safe across threads and async tasks.

    >>> ledger = UsageLedger()
    >>> ledger.record("m", Usage(calls=1, input_tokens=3), label="judge")
    >>> ledger.total.input_tokens, ledger.by_label()["judge"].calls
    (3, 1)
    """

    def __init__(self, keep_calls: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._labels: dict[str, Usage] = {}
        self._models: dict[str, Usage] = {}
        # Bounded so a week-long run cannot grow memory without end; totals stay exact.
        self._calls: deque[CallRecord] = deque(maxlen=keep_calls)

    def record(
        self, model: str, usage: Usage, *, label: str | None = None, cached: bool = False
    ) -> None:
        """Add one call's usage."""
        name = label or "<unlabelled>"
        with self._lock:
            self._total = self._total + usage
            self._labels[name] = self._labels.get(name, Usage()) + usage
            self._models[model] = self._models.get(model, Usage()) + usage
            self._calls.append(CallRecord(model, label, usage, cached, time.time()))

    @property
    def total(self) -> Usage:
        """Sum over every recorded call."""
        with self._lock:
            return self._total

    def by_label(self) -> dict[str, Usage]:
        """Usage per caller label (calls without a label under ``"<unlabelled>"``)."""
        with self._lock:
            return dict(self._labels)

    def by_model(self) -> dict[str, Usage]:
        """Usage per model name."""
        with self._lock:
            return dict(self._models)

    def calls(self) -> list[CallRecord]:
        """The most recent calls, oldest first."""
        with self._lock:
            return list(self._calls)


@runtime_checkable
class LLMClient(Protocol):
    """What optimizers, judges and users' workflows need from a model."""

    model: str
    usage: UsageLedger

    def complete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        """Send ``messages``; with ``schema``, ``reply.parsed`` is a validated instance."""
        ...

    async def acomplete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        """Async twin of :meth:`complete`."""
        ...
