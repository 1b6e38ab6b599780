"""Limits on one HTTP attempt that a server cannot stretch: a wall-clock deadline and a size cap.

An HTTP client's ``timeout`` bounds each *read*, so a server that trickles one byte every half
second holds a call for as long as it likes. Here the whole attempt has a deadline: async
attempts run under ``asyncio.wait_for``; a sync attempt runs in a daemon worker thread that the
caller stops waiting for at the deadline (the worker itself stops at its next chunk). The body
is read in chunks and abandoned at a byte cap, so a huge reply is neither held in memory nor
cached.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar

from optimizers.errors import LLMError, ReplyTooLarge
from optimizers.llm.types import RawReply

__all__ = [
    "DEFAULT_MAX_REPLY_BYTES",
    "DeadlinePassed",
    "capped",
    "declared_length",
    "raw_from_body",
    "read_body",
    "run_until",
]

#: The largest reply body read (16 MB): far above any chat completion, far below harm.
DEFAULT_MAX_REPLY_BYTES = 16_000_000
T = TypeVar("T")


class DeadlinePassed(Exception):
    """Internal: the attempt's deadline passed while its body was being read."""


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` a server announced, if it is a number."""
    value = headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_body(
    chunks: Iterable[bytes],
    announced: int | None,
    cap: int,
    deadline: float,
    where: Mapping[str, str],
) -> bytes:
    """Join ``chunks`` until they end; raise :class:`ReplyTooLarge` past ``cap`` bytes (at once
    when the announced length is larger) and :class:`DeadlinePassed` after ``deadline``."""
    too_large = ReplyTooLarge(
        f"the reply is larger than max_reply_bytes={cap:,}"
        + (f" (Content-Length {announced:,})" if announced is not None else "")
        + "; it was abandoned unread and not cached",
        fix="check the endpoint (a chat reply is kilobytes), or raise max_reply_bytes=",
        **where,
    )
    if announced is not None and announced > cap:
        raise too_large
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise too_large
        parts.append(chunk)
        if time.monotonic() > deadline:
            raise DeadlinePassed
    return b"".join(parts)


async def capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    """Pass chunks on, but stop reading one chunk past ``cap`` bytes (the reader refuses)."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        yield chunk
        if size > cap:
            return


def run_until(deadline: float, fn: Callable[[], T], late: Callable[[], BaseException]) -> T:
    """``fn()`` in a daemon thread (in a copy of this context); raise ``late()`` if it has not
    finished by ``deadline``. The thread is left to stop on its own (``fn`` checks the deadline
    between chunks), so the caller never waits past the deadline."""
    box: dict[str, Any] = {}
    done = threading.Event()
    ctx = contextvars.copy_context()

    def work() -> None:
        try:
            box["value"] = ctx.run(fn)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="tracegraph-http", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise late()
    if "error" in box:
        raise box["error"]
    return box["value"]


def raw_from_body(body: bytes, model: str, where: Mapping[str, str]) -> RawReply:
    """A chat-completions JSON body as a :class:`RawReply` (lenient about missing fields)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise LLMError(
            f"the endpoint's reply is not JSON ({exc}): {body[:200]!r}",
            fix="check that base_url points at an OpenAI-compatible /v1 endpoint",
            **where,
        ) from None
    if not isinstance(data, dict):
        raise LLMError(f"unexpected answer: {str(data)[:200]}", **where)
    choices = [c for c in data.get("choices") or [] if isinstance(c, dict)]
    first = choices[0] if choices else {}
    message = first.get("message") or {}
    usage = data.get("usage") or {}
    return RawReply(
        text=message.get("content"),
        model=str(data.get("model") or model),
        finish_reason=first.get("finish_reason"),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        refusal=message.get("refusal"),
        texts=tuple((c.get("message") or {}).get("content") for c in choices),
    )
