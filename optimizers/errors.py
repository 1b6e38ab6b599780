"""Errors raised by the optimizers package, all rooted in :class:`TracegraphError`.

The tree, grouped by who raises it::

    TracegraphError
    └── LLMError                      anything about talking to a model
        ├── ClientConfigError         bad or missing configuration (model, key, endpoint)
        ├── APIStatusError            the endpoint answered with an HTTP error
        │   ├── RateLimited           429 (retried; carries ``retry_after``)
        │   └── ServerError           5xx (retried)
        ├── LLMTimeout                no answer within the timeout (retried)
        ├── LLMConnectionError        connection refused or dropped (retried)
        ├── ReplyParseError           the reply did not parse or validate (quotes the raw reply)
        ├── ReplyTooLarge             the reply body passed max_reply_bytes (abandoned unread)
        ├── BudgetExceeded            a Budget limit was reached before the next call
        ├── CassetteMiss              replay met a request the cassette never recorded
        └── ScriptExhausted           a ScriptedClient ran out of replies
    OptimizerError                    an optimizer built or used in a way that cannot work
    InsideEventLoop                   a sync entry point called inside a running event loop

Every message names the model and endpoint where one is known, says what was expected and what
came, and gives the fix. No message ever contains an API key: text from servers passes through
:func:`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tracegraph.errors import TracegraphError
from tracegraph.shorten import shorten

__all__ = [
    "APIStatusError",
    "BudgetExceeded",
    "CassetteMiss",
    "ClientConfigError",
    "LLMConnectionError",
    "LLMError",
    "LLMTimeout",
    "RateLimited",
    "ReplyParseError",
    "ReplyTooLarge",
    "ScriptExhausted",
    "ServerError",
    "redact",
    "too_long",
    "unanswered",
]

# Key shapes worth hiding even when we were not told the key (a server echoing a header back).
_KEY_PATTERNS = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.]{8,})")
_QUOTE_LIMIT = 2000


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every given secret and anything shaped like an API key hidden.

    >>> redact("key sk-abcdefghijkl1234 was refused")
    'key [redacted] was refused'
    >>> redact("token=hunter2hunter2", ["hunter2hunter2"])
    'token=[redacted]'
    """
    for secret in secrets:
        # Short strings are not secrets worth hiding and would shred ordinary text.
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERNS.sub("[redacted]", text)


def quote(text: str | None, limit: int = _QUOTE_LIMIT) -> str:
    """Quote a reply for an error message, cut to ``limit`` characters so errors stay readable."""
    if text is None:
        return "<no text>"
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... [{len(text) - limit} more characters]"


class LLMError(TracegraphError):
    """Base of every error about talking to a model.

    Attributes:
        model: the model name, when known.
        endpoint: the base URL (without credentials), when known.
        fix: what the user can do about it.
    """

    def __init__(
        self, message: str, *, model: str | None = None, endpoint: str | None = None, fix: str = ""
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.fix = fix
        parts = [message]
        if model or endpoint:
            parts.append(f"  model: {model or '?'} at {endpoint or '?'}")
        if fix:
            parts.append(f"  fix: {fix}")
        super().__init__("\n".join(parts))


class ClientConfigError(LLMError):
    """The client cannot be built or used as configured (no model, no key, bad option)."""


class APIStatusError(LLMError):
    """The endpoint answered with an HTTP error status.

    Attributes:
        status: the HTTP status code.
        body: the server's error text, redacted and cut short.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str = "",
        model: str | None = None,
        endpoint: str | None = None,
        fix: str = "",
    ) -> None:
        self.status = status
        self.body = body
        super().__init__(
            f"{message} (HTTP {status}): {body}", model=model, endpoint=endpoint, fix=fix
        )


class RateLimited(APIStatusError):
    """HTTP 429. ``retry_after`` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerError(APIStatusError):
    """HTTP 5xx: the server failed; worth retrying."""


class LLMTimeout(LLMError):
    """No complete answer arrived within the client's timeout."""


class ReplyTooLarge(LLMError):
    """The reply body was larger than ``max_reply_bytes``; it was abandoned unread, not cached."""


class LLMConnectionError(LLMError):
    """The connection was refused, reset or dropped before a complete answer arrived."""


class ReplyParseError(LLMError):
    """A reply could not be parsed or validated, even after the bounded re-asks.

    Attributes:
        raw: the last raw reply text, unchanged.
        problems: one line per failed attempt saying what was wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str | None,
        problems: list[str] | None = None,
        model: str | None = None,
        endpoint: str | None = None,
        fix: str = "",
    ) -> None:
        self.raw = raw
        self.problems = list(problems or [])
        lines = [message]
        lines += [f"  attempt {i + 1}: {p}" for i, p in enumerate(self.problems)]
        lines.append(f"  last raw reply: {quote(raw)}")
        super().__init__("\n".join(lines), model=model, endpoint=endpoint, fix=fix)


class BudgetExceeded(LLMError):
    """A :class:`~optimizers.llm.budget.Budget` limit was reached; no further call was sent.

    Attributes:
        limit: which limit: ``"calls"``, ``"tokens"``, ``"cost"`` or ``"seconds"``.
        used: how much of it was used.
        allowed: the limit itself.
    """

    def __init__(self, limit: str, used: float, allowed: float, **kwargs: str | None) -> None:
        self.limit = limit
        self.used = used
        self.allowed = allowed
        super().__init__(
            f"budget exhausted: {limit} used {used:g} of {allowed:g}; the next call was not sent",
            fix=f"raise Budget(max_{limit}=...) or stop earlier; "
            "work done so far is kept (nothing was half-applied)",
            **kwargs,
        )


class CassetteMiss(LLMError):
    """Replay met a request that the cassette never recorded."""


class ScriptExhausted(LLMError):
    """A ScriptedClient was asked for more replies than it was given."""


# ------------------------------------------------------------------------ optimizer errors
# Raised by the optimizers themselves (optimizers/algorithms/).
# A step whose proposals fail validation does not raise: it reports the rejections.


class OptimizerError(TracegraphError):
    """An optimizer was built or used in a way that cannot work; the message gives the fix."""


class DuplicateParameterName(OptimizerError):
    """Two trainable parameters of one optimizer share a name, so updates keyed by name would
    be ambiguous. The message names both and where each was created."""


class InsideEventLoop(TracegraphError):
    """A sync entry point (``Trainer.fit``, ``BestOfN.step``...) was called where an event loop
    is already running (a notebook cell, async code); the message names the async twin."""


def refuse_running_loop(call: str, fix: str) -> None:
    """Raise :class:`InsideEventLoop` when called inside a running event loop.

    A sync entry point that runs its own loop (``asyncio.run``) calls this first, so a
    notebook user gets the fix instead of asyncio's bare RuntimeError.

    >>> refuse_running_loop("BestOfN.step()", "await search.astep()")  # no loop here: returns
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise InsideEventLoop(
        f"{call} was called inside a running event loop (a notebook cell or async code), "
        f"where it cannot start its own. Fix: `{fix}`"
    )


__all__ += ["DuplicateParameterName", "InsideEventLoop", "OptimizerError", "refuse_running_loop"]


def too_long(exc: APIStatusError | ReplyParseError) -> bool:
    """Whether the server refused the request for its length (llama.cpp: "exceeds the
    available context size"; OpenAI: "maximum context length")."""
    text = f"{exc} {getattr(exc, 'body', '')}".lower()
    return isinstance(exc, APIStatusError) and any(
        w in text for w in ("context size", "context length", "too long", "too many tokens")
    )


def unanswered(exc: APIStatusError | ReplyParseError) -> tuple[str, str]:
    """Why a request got no usable reply: as the step's error (the first request), and as a
    note (a re-ask, after which what was accepted before is applied)."""
    kept = "the updates accepted before it are applied"
    if isinstance(exc, APIStatusError):  # e.g. a request over the server's context
        said = shorten(str(exc), 300)
        return (
            f"the server refused the request, nothing changed: {said}",
            f"the server refused a re-ask ({said}); {kept}",
        )
    return (
        f"the reply could not be read, nothing changed: {exc}",
        f"a re-ask could not be read ({exc.problems[-1:]}); {kept}",
    )
