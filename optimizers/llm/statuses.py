"""What an HTTP error status from a chat endpoint means for us: retry, fall back, or stop."""

from __future__ import annotations

from collections.abc import Mapping

from optimizers.errors import APIStatusError, LLMError, RateLimited, ServerError
from optimizers.llm.client_base import FormatRejected
from optimizers.llm.endpoints import retry_after_seconds

__all__ = ["status_error"]

# Words in an error that blame the response format (llama-cpp-python answers such with a 500).
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema", "grammar", "supported")
_STATUS_FIXES = {
    400: ("bad request", "read the server's message above: it names the field it refused"),
    401: ("authentication failed", "check OPENAI_API_KEY (or api_key=) for this endpoint"),
    403: ("permission denied", "this key may not use this model; check the account or project"),
    404: (
        "not found",
        "check the model name and base_url (OpenAI-compatible servers serve under /v1)",
    ),
}


def status_error(
    status: int,
    headers: Mapping[str, str],
    body: str,
    formatted: bool,
    where: Mapping[str, str],
) -> LLMError:
    """The error for an HTTP ``status`` whose (redacted) message is ``body``.

    ``formatted``: the request asked for a response format, so a refusal that blames it
    becomes :class:`FormatRejected` (the client falls back to the next mode).

    >>> type(status_error(503, {}, "overloaded", False, {})).__name__
    'ServerError'
    """
    if status == 429:
        return RateLimited(
            "rate limited",
            retry_after=retry_after_seconds(headers),
            status=status,
            body=body,
            fix="lower max_concurrency, or set a Budget; retries wait for Retry-After",
            **where,
        )
    refusable = status in (400, 404, 415, 422) or status >= 500
    lowered = body.lower()
    if formatted and refusable and any(word in lowered for word in _FORMAT_WORDS):
        return FormatRejected(f"HTTP {status}: {body}", **where)
    if status >= 500:
        return ServerError("server error", status=status, body=body, **where)
    what, fix = _STATUS_FIXES.get(status, ("request refused", "see the server's message"))
    return APIStatusError(what, status=status, body=body, fix=fix, **where)
