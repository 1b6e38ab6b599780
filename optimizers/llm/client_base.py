"""What every client shares: the path of one request through cassette, cache and budget, and
the structured-reply loop on top of it.

A subclass only says how to send one :class:`Request` (``_send`` / ``_asend``) and, when its
server may reject a response format, raises :class:`FormatRejected` so the client falls back to
the next mode (``json_schema`` -> ``json_object`` -> ``text``) and remembers that choice.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from optimizers.errors import LLMError
from optimizers.llm.budget import Budget
from optimizers.llm.cache import ResponseCache, cacheable, default_cache_path
from optimizers.llm.cassette import Cassette
from optimizers.llm.metering import Metered
from optimizers.llm.structured import (
    DEFAULT_MAX_TEXT_LENGTH,
    MODES,
    Mode,
    Outcome,
    dialogue,
    json_schema_for,
    messages_for_mode,
    response_format,
)
from optimizers.llm.types import Message, Prices, RawReply, Reply, Request, Usage, UsageLedger

__all__ = ["DEFAULT_CACHE", "BaseClient", "CacheSetting", "FormatRejected"]

logger = logging.getLogger("optimizers.llm")


class _DefaultCache:
    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


#: Sentinel for ``cache=``: the default on-disk cache (see ``default_cache_path``).
DEFAULT_CACHE: Any = _DefaultCache()
CacheSetting = ResponseCache | str | Path | None | _DefaultCache


class FormatRejected(LLMError):
    """The server refused the requested response format; the client tries the next mode."""


def open_cache(cache: CacheSetting) -> ResponseCache | None:
    """Turn a ``cache=`` argument into a cache object (or None when off)."""
    if cache is None or isinstance(cache, ResponseCache):
        return cache
    if isinstance(cache, _DefaultCache):
        return ResponseCache(default_cache_path())
    return ResponseCache(cache)


class BaseClient(Metered):
    """The shared core of :class:`OpenAIClient` and :class:`ScriptedClient`."""

    endpoint: str = "<none>"
    #: Calls through this class charge every budget per HTTP attempt themselves (the Trainer's
    #: journal must not charge them again).
    meters_budgets: bool = True
    #: True when ``_send`` meters each of its own attempts with :meth:`_metered` (it retries);
    #: else the whole ``_send`` is one metered attempt.
    meters_attempts: bool = False

    def __init__(
        self,
        model: str,
        *,
        budget: Budget | None = None,
        cache: CacheSetting = None,
        cassette: Cassette | None = None,
        prices: Prices | None = None,
        max_reasks: int = 2,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
        mode: Mode = "json_schema",
    ) -> None:
        self.model = model
        self.budget = budget
        self.cassette = cassette
        self.prices = prices or Prices()
        self.max_reasks = max_reasks
        self.max_text_length = max_text_length
        self.usage = UsageLedger()
        self._cache = open_cache(cache)
        # Per endpoint and model: the best structured mode known to work. Shared (by reference)
        # with no_cache() views so what one learns the other knows.
        self._modes: dict[tuple[str, str], Mode] = {}
        self._first_mode: Mode = mode
        self._parent: BaseClient | None = None
        self._cache_scope = ""

    @property
    def cache_scope(self) -> str:
        """Who answers, as far as the reply cache is concerned: the endpoint by default (two
        servers answering to one model name keep their replies apart)."""
        return self._cache_scope or self.endpoint

    @cache_scope.setter
    def cache_scope(self, scope: str) -> None:
        self._cache_scope = scope

    @property
    def cache(self) -> ResponseCache | None:
        """The reply cache, or None when caching is off."""
        return self._cache

    def no_cache(self) -> BaseClient:
        """A view of this client that skips the cache (usage, budget and limits are shared).

        >>> from optimizers.llm.scripted import ScriptedClient
        >>> ScriptedClient(["hi"]).no_cache().cache is None
        True
        """
        view = copy.copy(self)
        view._cache = None
        view._parent = self  # keeps the original (and anything tied to its life) alive
        return view

    @property
    def mode(self) -> Mode:
        """The structured-reply mode this client uses now for its endpoint and model."""
        return self._modes.get((self.endpoint, self.model), self._first_mode)

    # ---- what subclasses provide -------------------------------------------------------------
    def _send(self, request: Request) -> RawReply:
        raise NotImplementedError

    async def _asend(self, request: Request) -> RawReply:
        raise NotImplementedError

    # ---- public API ----------------------------------------------------------------------------
    def complete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        """Send ``messages`` and return the reply; see the module docs of optimizers.llm.

        Args:
            messages: chat messages, ``{"role": ..., "content": ...}``.
            schema: a pydantic model; the reply is parsed and validated into ``reply.parsed``.
            label: who is calling (e.g. ``"optimizer"``, ``"judge"``): usage is counted per label.
            **options: ``temperature``, ``max_tokens``, ``seed``, ``n``...; ``cache=False``
                skips the cache for this call.
        """
        use_cache = bool(options.pop("cache", True))
        talk = dialogue(messages, schema, self.max_reasks)
        sent, total = next(talk), Usage()
        while True:
            try:
                raw = self._round(sent, schema, options, label, use_cache)
            except LLMError as exc:  # what the call spent before failing, for the run's journal
                exc.usage = total + Usage(calls=int(getattr(exc, "attempts", 0)))  # type: ignore
                raise
            total = total + self._usage_of(raw)
            try:
                sent = talk.send(raw)
            except StopIteration as stop:
                return self._reply(stop.value, total)

    async def acomplete(
        self,
        messages: list[Message],
        *,
        schema: type[BaseModel] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> Reply:
        """Async twin of :meth:`complete`."""
        use_cache = bool(options.pop("cache", True))
        talk = dialogue(messages, schema, self.max_reasks)
        sent, total = next(talk), Usage()
        while True:
            try:
                raw = await self._around(sent, schema, options, label, use_cache)
            except LLMError as exc:  # what the call spent before failing, for the run's journal
                exc.usage = total + Usage(calls=int(getattr(exc, "attempts", 0)))  # type: ignore
                raise
            total = total + self._usage_of(raw)
            try:
                sent = talk.send(raw)
            except StopIteration as stop:
                return self._reply(stop.value, total)

    # ---- one round: build the request for the current mode, fall back when rejected -----------
    def _build(
        self, messages: list[Message], schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Request:
        if schema is None:
            return Request(self.model, tuple(dict(m) for m in messages), None, dict(options))
        mode = self.mode
        limit = None if mode == "json_schema_unbounded" else self.max_text_length
        shape = json_schema_for(schema, max_text_length=limit)
        return Request(
            self.model,
            messages_for_mode(messages, mode, shape),
            response_format(mode, shape, schema.__name__),
            dict(options),
        )

    def _fall_back(self, rejected: FormatRejected) -> None:
        current = self.mode
        following = MODES[MODES.index(current) + 1 :]
        if not following:
            raise rejected
        logger.warning(
            "%s at %s rejected response format %r (%s); using %r from now on",
            self.model,
            self.endpoint,
            current,
            str(rejected).splitlines()[0],
            following[0],
        )
        self._modes[(self.endpoint, self.model)] = following[0]

    def _round(
        self,
        messages: list[Message],
        schema: type[BaseModel] | None,
        options: dict[str, Any],
        label: str | None,
        use_cache: bool,
    ) -> RawReply:
        refused = 0  # attempts the server refused for their response format: sent, so counted
        while True:
            request = self._build(messages, schema, options)
            try:
                return _plus(self._obtain(request, label, use_cache), refused)
            except FormatRejected as rejected:
                refused += int(getattr(rejected, "attempts", 0))
                self._fall_back(rejected)

    async def _around(
        self,
        messages: list[Message],
        schema: type[BaseModel] | None,
        options: dict[str, Any],
        label: str | None,
        use_cache: bool,
    ) -> RawReply:
        refused = 0
        while True:
            request = self._build(messages, schema, options)
            try:
                return _plus(await self._aobtain(request, label, use_cache), refused)
            except FormatRejected as rejected:
                refused += int(getattr(rejected, "attempts", 0))
                self._fall_back(rejected)

    # ---- one request: cassette, cache, budget, send, account --------------------------------
    def _stored(self, request: Request, label: str | None, use_cache: bool) -> RawReply | None:
        if self.cassette is not None and self.cassette.replaying:
            raw = self.cassette.replay(request)
            self.usage.record(self.model, self._usage_of(raw), label=label, cached=True)
            return raw
        if use_cache and self._cache is not None and cacheable(request):
            hit = self._cache.get(request, self.cache_scope)
            if hit is not None:
                self.usage.record(self.model, self._usage_of(hit), label=label, cached=True)
                if self.cassette is not None:
                    self.cassette.record(request, hit)
                return hit
        return None

    def _settle(
        self, request: Request, raw: RawReply | None, started: float, label: str | None, tries: int
    ) -> RawReply | None:
        seconds = time.monotonic() - started
        if raw is None:  # the call failed after `tries` attempts: they were sent, so they count
            self.usage.record(self.model, Usage(calls=tries, seconds=seconds), label=label)
            return None
        raw = dataclasses.replace(raw, seconds=seconds)
        self.usage.record(self.model, self._usage_of(raw), label=label)
        if self._cache is not None and raw.text is not None and cacheable(request):
            self._cache.put(request, raw, self.cache_scope)
        if self.cassette is not None:
            self.cassette.record(request, raw)
        return raw

    def _obtain(self, request: Request, label: str | None, use_cache: bool) -> RawReply:
        stored = self._stored(request, label, use_cache)
        if stored is not None:
            return stored
        started, raw, tries = time.monotonic(), None, 1
        try:
            if self.meters_attempts:
                raw = self._send(request)
            else:
                raw = self._metered(lambda: self._send(request))
        except BaseException as exc:
            tries = int(getattr(exc, "attempts", 0))
            raise
        finally:
            settled = self._settle(request, raw, started, label, tries)
        assert settled is not None
        return settled

    async def _aobtain(self, request: Request, label: str | None, use_cache: bool) -> RawReply:
        stored = self._stored(request, label, use_cache)
        if stored is not None:
            return stored
        started, raw, tries = time.monotonic(), None, 1
        try:
            if self.meters_attempts:
                raw = await self._asend(request)
            else:
                raw = await self._ametered(lambda: self._asend(request))
        except BaseException as exc:
            tries = int(getattr(exc, "attempts", 0))
            raise
        finally:
            settled = self._settle(request, raw, started, label, tries)
        assert settled is not None
        return settled

    # ---- accounting --------------------------------------------------------------------------
    def _usage_of(self, raw: RawReply) -> Usage:
        if raw.cached:
            return Usage(cache_hits=1)
        return Usage(
            calls=raw.attempts,
            input_tokens=raw.input_tokens,
            output_tokens=raw.output_tokens,
            cost=self.prices.cost(self.model, raw.input_tokens, raw.output_tokens),
            seconds=raw.seconds,
        )

    def _reply(self, outcome: Outcome, total: Usage) -> Reply:
        raw = outcome.raw
        return Reply(
            text=raw.text or "",
            parsed=outcome.parsed,
            usage=total,
            model=raw.model or self.model,
            cached=raw.cached and total.calls == 0,
            finish_reason=raw.finish_reason,
            attempts=outcome.attempts,
            raw=raw.to_dict(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, endpoint={self.endpoint!r})"


def _plus(raw: RawReply, attempts: int) -> RawReply:
    return dataclasses.replace(raw, attempts=raw.attempts + attempts) if attempts else raw
