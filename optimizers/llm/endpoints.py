"""Endpoint configuration that needs no ``openai``: addresses, keys, prices, Retry-After."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from optimizers.errors import ClientConfigError
from optimizers.llm.budget import Budget
from optimizers.llm.types import Prices

__all__ = [
    "OPENAI_URL",
    "check_base_url",
    "check_cost_budget",
    "find_key",
    "is_loopback",
    "retry_after_seconds",
    "safe_url",
]

OPENAI_URL = "https://api.openai.com/v1"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` points at this machine (local servers need no key and cost nothing)."""
    return bool(url) and (urlsplit(url).hostname or "") in _LOOPBACK


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_base_url(base_url: str | None) -> None:
    """Refuse an endpoint address that is not an http(s) URL, saying how to write it.

    >>> check_base_url("http://localhost:8000/v1")
    >>> check_base_url("localhost:8000/v1")
    Traceback (most recent call last):
    ...
    optimizers.errors.ClientConfigError: base_url 'localhost:8000/v1' is not an http(s) URL: ...
    ...
    """
    if base_url is None:
        return
    parts = urlsplit(base_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return
    host, _, path = base_url.split("://", 1)[-1].partition("/")
    host = host.rsplit("@", 1)[-1]  # never echo credentials
    shown = host + ("/" + path.split("?")[0] if path else "")
    local = (urlsplit(f"http://{host}").hostname or "") in _LOOPBACK
    guess = f"{'http' if local else 'https'}://{shown}" if host else "http://HOST:PORT/v1"
    raise ClientConfigError(
        f"base_url {shown or base_url[:40]!r} is not an http(s) URL: it needs http:// or "
        "https:// and a host",
        fix=f"base_url={guess!r} (or set OPENAI_BASE_URL to it)",
    )


def find_key(api_key: str | None, base_url: str | None, api_version: str | None, model: str) -> str:
    """The key to send: given, else from the environment, else a placeholder for local servers.

    Raises:
        ClientConfigError: when a remote endpoint has no key.
    """
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key and api_version:
        key = os.environ.get("AZURE_OPENAI_API_KEY")
    if key:
        return key
    if is_loopback(base_url):
        return "no-key-needed"  # local servers ignore it, the SDK insists on one
    raise ClientConfigError(
        "no API key",
        model=model,
        endpoint=safe_url(base_url or OPENAI_URL),
        fix="export OPENAI_API_KEY=... (or pass api_key=); for a local model use local_model()",
    )


def check_cost_budget(
    budget: Budget | None, prices: Prices, model: str, base_url: str | None
) -> None:
    """Refuse a cost limit on a remote model without a price (it would count zero forever)."""
    if budget is None or budget.max_cost is None or prices.knows(model) or is_loopback(base_url):
        return
    raise ClientConfigError(
        f"the budget limits cost but no price is set for {model!r}",
        model=model,
        fix=f"pass prices=Prices({{{model!r}: (input_per_million, output_per_million)}})",
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None
