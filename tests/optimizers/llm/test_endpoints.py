"""Configuration helpers: URLs without credentials, Retry-After parsing, redaction of keys."""

from __future__ import annotations

import email.utils
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers.errors import redact
from optimizers.llm.endpoints import is_loopback, retry_after_seconds, safe_url


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://user:pw@api.example.com/v1?api-key=abc#x", "https://api.example.com/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://r.openai.azure.com/openai/v1/", "https://r.openai.azure.com/openai/v1/"),
    ],
)
def test_safe_url_drops_credentials(url: str, safe: str) -> None:
    assert safe_url(url) == safe


def test_loopback_detection() -> None:
    assert is_loopback("http://localhost:11434/v1") and is_loopback("http://127.0.0.1:1/v1")
    assert not is_loopback("https://api.openai.com/v1") and not is_loopback(None)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_seconds({"retry-after": future}) or 0) <= 31


key_alphabet = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
secrets = st.text(key_alphabet, min_size=6, max_size=40).filter(lambda k: k not in "[redacted]")


@settings(max_examples=200, deadline=None)
@given(secrets, st.text(max_size=50), st.text(max_size=50), st.integers(1, 3))
def test_a_secret_never_survives_redaction(
    secret: str, before: str, after: str, times: int
) -> None:
    text = before + (secret + after) * times
    assert secret not in redact(text, [secret])


@settings(max_examples=100, deadline=None)
@given(st.text(key_alphabet, min_size=20, max_size=60))
def test_key_shaped_strings_are_hidden_without_being_told(body: str) -> None:
    for key in (f"sk-{body}", f"Bearer {body}"):
        assert key not in redact(f"error: {key} refused")


@pytest.mark.parametrize(
    ("base_url", "fix"),
    [
        ("localhost:8000/v1", "http://localhost:8000/v1"),
        ("127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
        ("api.example.com/v1", "https://api.example.com/v1"),
        ("user:secret@example.com/v1", "https://example.com/v1"),
    ],
)
def test_a_base_url_without_a_scheme_is_named_as_such_not_as_a_missing_key(
    monkeypatch: pytest.MonkeyPatch, base_url: str, fix: str
) -> None:
    # Issue 10, 7(e): "localhost:8000/v1" was diagnosed as "no API key".
    from optimizers import ClientConfigError, OpenAIClient

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ClientConfigError) as info:
        OpenAIClient(model="m", base_url=base_url, cache=None)
    message = str(info.value)
    assert "not an http(s) URL" in message and f"base_url={fix!r}" in message
    assert "API key" not in message and "secret" not in message
