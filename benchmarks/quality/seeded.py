"""A client that sends every request with a fixed sampling ``seed``: seeded runs differ.

With temperature 0 the seed changes nothing; above it (the optimizers raise the temperature
while steps stall, the searches sample at a spread) each seed samples its own answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from optimizers.llm.types import LLMClient, Message, Reply, UsageLedger


class SeededClient:
    """``llm`` with ``seed=seed`` added to every request that does not name its own."""

    def __init__(self, llm: LLMClient, seed: int) -> None:
        self.llm = llm
        self.seed = seed
        self.model: str = llm.model
        self.usage: UsageLedger = llm.usage  # calls are booked on the wrapped client's ledger

    def complete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        options.setdefault("seed", self.seed)
        return self.llm.complete(messages, schema=schema, label=label, **options)

    async def acomplete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        options.setdefault("seed", self.seed)
        return await self.llm.acomplete(messages, schema=schema, label=label, **options)

    def __getattr__(self, name: str) -> Any:  # anything else: the wrapped client's
        return getattr(self.llm, name)
