"""The one module that imports ``openai``: a client for any OpenAI-compatible endpoint.

Configure in code or by environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
``TRACEGRAPH_MODEL``)::

    OpenAIClient(model="gpt-4o-mini")                                   # OpenAI
    OpenAIClient(model="qwen2.5", base_url="http://localhost:11434/v1")   # Ollama
    OpenAIClient(model="m", base_url="http://localhost:8000/v1")          # vLLM, llama.cpp
    # Azure OpenAI, v1 API (model = your deployment name):
    OpenAIClient(model="<deployment>",
                 base_url="https://<resource>.openai.azure.com/openai/v1/", api_key="...")
    # Azure OpenAI, dated API: AzureOpenAI under the hood, base_url is the resource endpoint:
    OpenAIClient(model="<deployment>", api_version="2024-10-21",
                 base_url="https://<resource>.openai.azure.com", api_key="...")

A client you already have (``openai.OpenAI`` / ``AsyncOpenAI``, with its headers, organization
and project) is wrapped with ``OpenAIClient(model="gpt-4o-mini", client=your_client)``: its calls
then go through this layer's budget, cache, cassette and retries.

Retries (ours only: the ``openai`` client's own are turned off) use exponential backoff with
full jitter on 429, 5xx, timeouts and dropped connections, and wait at least a 429's
``Retry-After``. 400/401/403/404 are not retried: they raise at once, naming model and endpoint.
Async calls share an :class:`AdaptiveLimiter` that halves the calls in flight on a 429.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import openai
from tenacity import (
    AsyncRetrying,
    Retrying,
)

from optimizers.errors import (
    ClientConfigError,
    LLMConnectionError,
    LLMError,
    LLMTimeout,
    RateLimited,
    redact,
)
from optimizers.llm.budget import Budget
from optimizers.llm.cassette import Cassette
from optimizers.llm.client_base import DEFAULT_CACHE, BaseClient, CacheSetting
from optimizers.llm.concurrency import AdaptiveLimiter
from optimizers.llm.endpoints import (
    OPENAI_URL,
    check_base_url,
    check_cost_budget,
    find_key,
    safe_url,
)
from optimizers.llm.limits import (
    DEFAULT_MAX_REPLY_BYTES,
    DeadlinePassed,
    capped,
    declared_length,
    raw_from_body,
    read_body,
    run_until,
)
from optimizers.llm.retries import retry_args
from optimizers.llm.statuses import status_error
from optimizers.llm.structured import DEFAULT_MAX_TEXT_LENGTH, Mode
from optimizers.llm.types import Prices, RawReply, Request

__all__ = ["OpenAIClient"]

logger = logging.getLogger("optimizers.llm")

# Parameters chat.completions.create takes by name (``timeout`` is per call, never sent as a
# field); anything else goes in ``extra_body``.
_NAMED = {
    "frequency_penalty", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "n",
    "presence_penalty", "reasoning_effort", "seed", "stop", "temperature", "top_logprobs",
    "top_p", "user", "metadata", "service_tier", "verbosity", "timeout",
}  # fmt: skip
# The HTTP library under the SDK (httpx; httpx2 in newer SDKs): a streamed body raises its errors.
_HTTP: Any = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])


class OpenAIClient(BaseClient):
    """A client for an OpenAI-compatible chat-completions endpoint.

    Args:
        model: model (or Azure deployment) name; default ``$TRACEGRAPH_MODEL``.
        base_url: endpoint; default ``$OPENAI_BASE_URL``, else OpenAI.
        api_key: default ``$OPENAI_API_KEY``; not needed for servers on 127.0.0.1.
        api_version: for Azure's dated API (uses ``AzureOpenAI`` with ``base_url`` as endpoint).
        budget: a :class:`Budget` every call is charged against (may be shared by clients).
        cache: a path, a :class:`ResponseCache`, ``None`` to turn it off; default on disk.
        cassette: a :class:`Cassette` to record to or replay from.
        timeout: seconds one attempt may take, start to end (a deadline however slowly the
            server sends; the per-call option ``timeout=`` overrides it).
        max_retries: retries after the first try on 429/5xx/timeouts/dropped connections.
        prices: :class:`Prices` for cost accounting (models without a price cost zero).
        max_concurrency: the most async calls in flight (shrinks on 429s, grows back).
        max_reasks: re-asks after a reply that does not validate against the schema.
        backoff: first backoff in seconds (doubled each retry, with jitter).
        max_retry_wait: the longest single wait between retries, Retry-After included.
        max_text_length: ``maxLength`` given to free-text fields of schemas.
        mode: the first structured mode to try (``"json_schema"``, ``"json_object"``, ``"text"``).
        client: an ``openai.OpenAI`` or ``openai.AsyncOpenAI`` (Azure ones too) to send through,
            instead of ``base_url``/``api_key``/``api_version``: its key, endpoint, headers,
            query, organization and project are kept; its own retries are turned off (ours
            apply). Calls of the other kind (async for a sync client) use a twin built from
            the same settings.
        max_reply_bytes: the largest reply body read; a larger one is abandoned (never held
            whole in memory, never cached) with :class:`ReplyTooLarge`.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        api_version: str | None = None,
        budget: Budget | None = None,
        cache: CacheSetting = DEFAULT_CACHE,
        cassette: Cassette | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        prices: Prices | None = None,
        max_concurrency: int = 16,
        max_reasks: int = 2,
        backoff: float = 0.5,
        max_retry_wait: float = 60.0,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
        mode: Mode = "json_schema",
        client: openai.OpenAI | openai.AsyncOpenAI | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        model = model or os.environ.get("TRACEGRAPH_MODEL")
        if client is not None:
            base_url = _adopt(client, base_url, api_key, api_version)
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        check_base_url(base_url)  # before the key: a bad address is not a missing key
        if not model:
            raise ClientConfigError(
                "no model named",
                endpoint=safe_url(base_url or OPENAI_URL),
                fix="OpenAIClient(model='gpt-4o-mini') or export TRACEGRAPH_MODEL=gpt-4o-mini",
            )
        given_key = getattr(client, "api_key", None)
        self._secret = (
            find_key(api_key, base_url, api_version, model)
            if client is None
            else (given_key if isinstance(given_key, str) else "")
        )
        prices = prices or Prices()
        check_cost_budget(budget, prices, model, base_url)
        super().__init__(
            model,
            budget=budget,
            cache=cache,
            cassette=cassette,
            prices=prices,
            max_reasks=max_reasks,
            max_text_length=max_text_length,
            mode=mode,
        )
        self.endpoint = safe_url(base_url or OPENAI_URL)
        self._base_url = base_url
        self.api_version = api_version
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self.max_reply_bytes = max_reply_bytes
        self.limiter = AdaptiveLimiter(max_concurrency)
        self._lock = threading.Lock()
        self._given = client
        if client is not None and isinstance(client.timeout, (int, float)):
            self.timeout = float(client.timeout)
        self._sync: openai.OpenAI | None = None
        # The async HTTP client is bound to the loop that made it: one per event loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._async = weakref.WeakKeyDictionary()

    # ---- the openai SDK objects --------------------------------------------------------------
    def _sdk_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"api_key": self._secret, "timeout": self.timeout}
        kwargs["max_retries"] = 0  # ours are the only retries
        if self.api_version:
            kwargs.update(azure_endpoint=self._base_url, api_version=self.api_version)
        else:
            kwargs["base_url"] = self._base_url or OPENAI_URL
        return kwargs

    def _twin_kwargs(self, given: Any) -> dict[str, Any]:
        """The settings of the user's client, for a twin of the other kind (sync/async)."""
        if isinstance(given, (openai.AzureOpenAI, openai.AsyncAzureOpenAI)):
            raise ClientConfigError(
                "a wrapped Azure client serves only its own kind of call (sync or async)",
                model=self.model,
                endpoint=self.endpoint,
                fix="wrap an AzureOpenAI for complete() and an AsyncAzureOpenAI for acomplete()",
            )
        return {
            "api_key": given.api_key,
            "organization": given.organization,
            "project": given.project,
            "base_url": given.base_url,
            "default_headers": getattr(given, "_custom_headers", None),
            "default_query": getattr(given, "_custom_query", None),
            "timeout": given.timeout,
            "max_retries": 0,
        }

    def _sync_client(self) -> openai.OpenAI:
        with self._lock:
            if self._sync is None and isinstance(self._given, openai.OpenAI):
                self._sync = self._given.with_options(max_retries=0)
            elif self._sync is None and self._given is not None:
                self._sync = openai.OpenAI(**self._twin_kwargs(self._given))
            if self._sync is None:
                cls = openai.AzureOpenAI if self.api_version else openai.OpenAI
                self._sync = cls(**self._sdk_kwargs())
            return self._sync

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async.get(loop)
            if client is None and isinstance(self._given, openai.AsyncOpenAI):
                client = self._async[loop] = self._given.with_options(max_retries=0)
            elif client is None and self._given is not None:
                http = openai.DefaultAsyncHttpxClient()
                kwargs = self._twin_kwargs(self._given)
                client = self._async[loop] = openai.AsyncOpenAI(**kwargs, http_client=http)
            if client is None:
                cls = openai.AsyncAzureOpenAI if self.api_version else openai.AsyncOpenAI
                # Our own HTTP client: the SDK's default one schedules its closing on whatever
                # loop runs when it is collected, which fails once its own loop has closed.
                http = openai.DefaultAsyncHttpxClient()
                client = self._async[loop] = cls(**self._sdk_kwargs(), http_client=http)
            return client

    def close(self) -> None:
        """Close the synchronous HTTP connections (async ones close with their event loop)."""
        with self._lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    async def aclose(self) -> None:
        """Close the HTTP connections this event loop's calls opened."""
        with self._lock:
            client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    # ---- sending: every attempt is metered, has a deadline and a size cap ---------------------
    meters_attempts = True

    def _send(self, request: Request) -> RawReply:
        sent = [0]  # attempts that went out (a refused budget sends nothing)
        try:
            for attempt in Retrying(**retry_args(self)):
                with attempt:
                    raw = self._metered(lambda: self._attempt(request, sent))
                    return dataclasses.replace(raw, attempts=sent[0])
        except LLMError as exc:
            exc.attempts = sent[0]  # type: ignore[attr-defined]
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _asend(self, request: Request) -> RawReply:
        sent = [0]
        try:
            async for attempt in AsyncRetrying(**retry_args(self)):
                with attempt:
                    async with self.limiter.slot():
                        raw = await self._ametered(lambda: self._aattempt(request, sent))
                    self.limiter.on_success()
                    return dataclasses.replace(raw, attempts=sent[0])
        except LLMError as exc:
            exc.attempts = sent[0]  # type: ignore[attr-defined]
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _seconds(self, request: Request) -> float:
        return float(request.options.get("timeout", self.timeout))

    def _attempt(self, request: Request, sent: list[int]) -> RawReply:
        sent[0] += 1
        deadline = time.monotonic() + self._seconds(request)
        client = self._sync_client()

        def fetch() -> RawReply:
            try:
                with client.chat.completions.with_streaming_response.create(
                    **_args(request)
                ) as response:
                    return self._read(response.iter_bytes(), response.headers, deadline, request)
            except (openai.OpenAIError, _HTTP.HTTPError) as exc:
                raise self._translate(exc, request) from None

        return run_until(deadline, fetch, lambda: self._late(request))

    async def _aattempt(self, request: Request, sent: list[int]) -> RawReply:
        sent[0] += 1
        seconds = self._seconds(request)
        deadline = time.monotonic() + seconds
        client = self._async_client()

        async def fetch() -> RawReply:
            async with client.chat.completions.with_streaming_response.create(
                **_args(request)
            ) as response:
                chunks = [c async for c in capped(response.iter_bytes(), self.max_reply_bytes)]
                return self._read(chunks, response.headers, deadline, request)

        try:
            return await asyncio.wait_for(fetch(), seconds)
        except TimeoutError:
            raise self._late(request) from None
        except (openai.OpenAIError, _HTTP.HTTPError) as exc:
            error = self._translate(exc, request)
            if isinstance(error, RateLimited):
                self.limiter.on_rate_limited()
            raise error from None

    def _read(
        self, chunks: Iterable[bytes], headers: Any, deadline: float, request: Request
    ) -> RawReply:
        where = {"model": self.model, "endpoint": self.endpoint}
        try:
            announced = declared_length(headers)
            body = read_body(chunks, announced, self.max_reply_bytes, deadline, where)
        except DeadlinePassed:
            raise self._late(request) from None
        return raw_from_body(body, self.model, where)

    def _late(self, request: Request) -> LLMTimeout:
        return LLMTimeout(
            f"no answer within {self._seconds(request):g} s (a deadline on the whole attempt, "
            "however slowly the server sends)",
            fix="raise timeout=..., shorten the prompt or lower max_tokens",
            model=self.model,
            endpoint=self.endpoint,
        )

    # ---- errors ----------------------------------------------------------------------------------
    def _translate(self, exc: Exception, request: Request) -> LLMError:
        where = {"model": self.model, "endpoint": self.endpoint}
        if isinstance(exc, (_HTTP.TimeoutException, openai.APITimeoutError)):
            return self._late(request)
        if isinstance(exc, (_HTTP.HTTPError, openai.APIConnectionError)):  # HTTPError: mid-body
            cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else None
            return LLMConnectionError(
                f"connection failed or dropped: {redact(str(cause or exc), [self._secret])}",
                fix=f"check that a server is running at {self.endpoint}",
                **where,
            )
        if not isinstance(exc, openai.APIStatusError):
            return LLMError(f"unexpected answer: {redact(str(exc), [self._secret])}", **where)
        body = redact(_message_of(exc), [self._secret])[:1000]
        formatted = request.response_format is not None
        return status_error(exc.status_code, exc.response.headers, body, formatted, where)


def _adopt(client: Any, base_url: str | None, api_key: str | None, api_version: str | None) -> str:
    """Check a user's SDK client and return its endpoint."""
    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise ClientConfigError(
            f"client= must be an openai.OpenAI or openai.AsyncOpenAI, got {type(client).__name__}",
            fix="OpenAIClient(model='gpt-4o-mini', client=openai.OpenAI())",
        )
    if base_url or api_key or api_version:
        raise ClientConfigError(
            "client= already holds its endpoint and key; base_url, api_key and api_version "
            "must not be given with it",
            endpoint=safe_url(str(client.base_url)),
            fix="set them on the openai client, or drop client=",
        )
    return str(client.base_url)


def _args(request: Request) -> dict[str, Any]:
    payload = request.payload()
    extra = {k: payload.pop(k) for k in list(payload) if k not in _NAMED | _CORE}
    if extra:
        payload["extra_body"] = extra
    return payload


_CORE = {"model", "messages", "response_format"}


def _message_of(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    return str(exc.message)
