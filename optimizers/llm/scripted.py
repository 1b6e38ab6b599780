"""A client that serves given reply texts in order, for unit tests with no model at all.

Replies go through the same extraction, validation and re-asks as a real model's, so a test of
an optimizer that scripts a broken reply sees exactly what a real broken reply would cause.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from optimizers.errors import ScriptExhausted
from optimizers.llm.budget import Budget
from optimizers.llm.cassette import Cassette
from optimizers.llm.client_base import BaseClient, CacheSetting
from optimizers.llm.structured import Mode
from optimizers.llm.types import Prices, RawReply, Request

__all__ = ["ScriptedClient"]


class ScriptedClient(BaseClient):
    """Serve ``replies`` in order; record every request in ``.requests``.

    Args:
        replies: raw reply texts; an exception instance in the list is raised at its turn
            (to script a timeout or a rate limit).
        model: the model name reported in replies and usage.
        mode: the structured mode to pretend the server supports (``"text"`` exercises the
            lenient extraction path exactly as a server without response formats would).
        budget, cache, cassette, prices, max_reasks: as for :class:`OpenAIClient`; the cache is
            off by default here so tests stay independent.

    Token counts are words (whitespace-separated), so usage is deterministic.

    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     value: int
    >>> llm = ScriptedClient(['Here you go: {"value": 3}'])
    >>> llm.complete([{"role": "user", "content": "3?"}], schema=Answer).parsed
    Answer(value=3)
    """

    endpoint = "scripted"

    def __init__(
        self,
        replies: Iterable[str | BaseException],
        *,
        model: str = "scripted",
        mode: Mode = "json_schema",
        budget: Budget | None = None,
        cache: CacheSetting = None,
        cassette: Cassette | None = None,
        prices: Prices | None = None,
        max_reasks: int = 2,
    ) -> None:
        super().__init__(
            model,
            budget=budget,
            cache=cache,
            cassette=cassette,
            prices=prices,
            max_reasks=max_reasks,
            mode=mode,
        )
        self._script = list(replies)
        self._served = 0
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    @property
    def remaining(self) -> int:
        """Replies not served yet."""
        with self._lock:
            return len(self._script) - self._served

    def _send(self, request: Request) -> RawReply:
        payload = request.payload()
        with self._lock:
            self.requests.append(payload)
            if self._served >= len(self._script):
                last = payload["messages"][-1]["content"] if payload["messages"] else ""
                raise ScriptExhausted(
                    f"ScriptedClient ran out after {len(self._script)} replies; "
                    f"request {len(self.requests)} (last message {str(last)[:200]!r}) has none",
                    model=self.model,
                    endpoint=self.endpoint,
                    fix="add more replies to ScriptedClient([...]) (re-asks after invalid "
                    "replies also take one each)",
                )
            item = self._script[self._served]
            self._served += 1
        if isinstance(item, BaseException):
            raise item
        words_in = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
        return RawReply(
            text=item,
            model=self.model,
            finish_reason="stop",
            input_tokens=words_in,
            output_tokens=len(item.split()),
            texts=(item,),
        )

    async def _asend(self, request: Request) -> RawReply:
        await asyncio.sleep(0)  # let other tasks run, as a real call would
        return self._send(request)
