"""The whole stack: the real ``openai`` client over real HTTP against the fake server, one test
per injected fault. Backoffs are shrunk so the suite stays fast; Retry-After is real."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import BaseModel

from optimizers import (
    APIStatusError,
    Cassette,
    ClientConfigError,
    FakeOpenAIServer,
    Fault,
    LLMConnectionError,
    LLMTimeout,
    OpenAIClient,
    RateLimited,
    ReplyParseError,
    ServerError,
)

ASK = [{"role": "user", "content": "propose a value"}]
GOOD = '{"reasoning": "larger is better", "value": 7}'


class Proposal(BaseModel):
    reasoning: str
    value: int


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACEGRAPH_MODEL", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACEGRAPH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def fast_client(server: FakeOpenAIServer, **kwargs: object) -> OpenAIClient:
    kwargs.setdefault("backoff", 0.001)
    kwargs.setdefault("timeout", 2.0)
    return server.client(**kwargs)


def test_a_plain_reply_carries_text_and_usage(server: FakeOpenAIServer) -> None:
    server.script("seven")
    reply = fast_client(server).complete(ASK, temperature=0, seed=1)
    assert (reply.text, reply.finish_reason, reply.model) == ("seven", "stop", "fake-model")
    assert (reply.usage.calls, reply.usage.input_tokens, reply.usage.output_tokens) == (1, 3, 1)
    body = server.requests[0]
    assert (body["temperature"], body["seed"], body["messages"]) == (0, 1, ASK)
    assert server.authorization_seen == 1


def test_429_waits_for_retry_after_then_succeeds(server: FakeOpenAIServer) -> None:
    server.script(Fault.rate_limit(retry_after=0.4), "ok")
    started = time.monotonic()
    assert fast_client(server).complete(ASK).text == "ok"
    assert time.monotonic() - started >= 0.4
    assert server.request_count == 2


def test_429_without_end_raises_rate_limited_after_the_retries(server: FakeOpenAIServer) -> None:
    server.script(*[Fault.rate_limit(retry_after=0)] * 3)
    with pytest.raises(RateLimited) as info:
        fast_client(server, max_retries=2).complete(ASK)
    assert info.value.retry_after == 0 and info.value.status == 429
    assert server.request_count == 3


def test_500_is_retried(server: FakeOpenAIServer) -> None:
    server.script(Fault.server_error(), Fault.server_error(503), "ok")
    assert fast_client(server).complete(ASK).text == "ok"
    assert server.request_count == 3


def test_openai_internal_retries_are_off(server: FakeOpenAIServer) -> None:
    server.script(Fault.server_error(), "never reached")
    with pytest.raises(ServerError, match="HTTP 500"):
        fast_client(server, max_retries=0).complete(ASK)
    assert server.request_count == 1


def test_a_hang_past_the_timeout_is_retried(server: FakeOpenAIServer) -> None:
    server.script(Fault.hang(5), "on time")
    started = time.monotonic()
    assert fast_client(server, timeout=0.5).complete(ASK).text == "on time"
    assert 0.5 <= time.monotonic() - started < 3


def test_hangs_to_the_end_raise_a_timeout(server: FakeOpenAIServer) -> None:
    server.script(Fault.hang(5), Fault.hang(5))
    with pytest.raises(LLMTimeout, match=r"no answer within 0\.3 s") as info:
        fast_client(server, timeout=0.3, max_retries=1).complete(ASK)
    assert info.value.model == "fake-model" and info.value.endpoint == server.url


def test_a_dropped_connection_is_retried(server: FakeOpenAIServer) -> None:
    server.script(Fault.drop(), "ok")
    assert fast_client(server).complete(ASK).text == "ok"
    assert server.request_count == 2


def test_dropped_connections_to_the_end_raise(server: FakeOpenAIServer) -> None:
    server.script(Fault.drop(), Fault.drop())
    with pytest.raises(LLMConnectionError, match="connection failed or dropped"):
        fast_client(server, max_retries=1).complete(ASK)


@pytest.mark.parametrize(
    ("status", "fix"),
    [(400, "names the field"), (401, "OPENAI_API_KEY"), (403, "permission"), (404, "model name")],
)
def test_client_errors_are_not_retried(server: FakeOpenAIServer, status: int, fix: str) -> None:
    server.script(Fault.http_error(status, "refused"), "never reached")
    with pytest.raises(APIStatusError) as info:
        fast_client(server).complete(ASK)
    message = str(info.value)
    assert server.request_count == 1 and info.value.status == status
    assert "fake-model" in message and server.url in message and fix in message


def test_truncated_json_is_reasked_then_accepted(server: FakeOpenAIServer) -> None:
    server.script(Fault.truncated(GOOD), GOOD)
    reply = fast_client(server).complete(ASK, schema=Proposal)
    assert reply.parsed == Proposal(reasoning="larger is better", value=7)
    assert reply.attempts == 2
    reask = server.requests[1]["messages"][-1]["content"]
    assert "cut off" in reask and "Keep every text field short" in reask


def test_schema_breaking_replies_end_in_a_quoted_parse_error(server: FakeOpenAIServer) -> None:
    bad = '{"reasoning": "no value here"}'
    server.script(bad, bad, bad)
    with pytest.raises(ReplyParseError) as info:
        fast_client(server, max_reasks=2).complete(ASK, schema=Proposal)
    assert info.value.raw == bad and repr(bad) in str(info.value)
    assert "value: Field required" in str(info.value)
    assert server.request_count == 3


def test_formats_fall_back_and_the_choice_is_remembered(server: FakeOpenAIServer) -> None:
    server.formats = frozenset({"text"})
    server.script(f"Here:\n```json\n{GOOD}\n```", GOOD)
    llm = fast_client(server)
    assert llm.complete(ASK, schema=Proposal).parsed is not None
    kinds = [(b.get("response_format") or {}).get("type") for b in server.requests]
    assert kinds == ["json_schema", "json_schema", "json_object", None]
    assert llm.mode == "text"
    assert llm.complete(ASK, schema=Proposal).parsed is not None
    assert server.request_count == 5  # the second call went straight to text mode


def test_a_500_that_blames_the_format_falls_back_without_retries(
    server: FakeOpenAIServer,
) -> None:
    server.formats, server.reject_status = frozenset({"text"}), 500
    server.script(GOOD)
    llm = fast_client(server)
    assert llm.complete(ASK, schema=Proposal).parsed is not None
    assert llm.mode == "text" and server.request_count == 4


def test_a_client_is_safe_to_share_between_threads(server: FakeOpenAIServer) -> None:
    server.responder = lambda body: body["messages"][-1]["content"].upper()
    llm = fast_client(server)
    with ThreadPoolExecutor(8) as pool:
        texts = list(
            pool.map(lambda i: llm.complete([{"role": "user", "content": f"q{i}"}]).text, range(32))
        )
    assert texts == [f"Q{i}" for i in range(32)]
    assert llm.usage.total.calls == 32 and server.request_count == 32


def test_a_refused_length_bound_keeps_the_strict_schema(server: FakeOpenAIServer) -> None:
    server.script(
        Fault.http_error(400, "Invalid schema for response_format: 'maxLength' is not permitted"),
        GOOD,
    )
    llm = fast_client(server)
    assert llm.complete(ASK, schema=Proposal).parsed is not None
    assert llm.mode == "json_schema_unbounded"
    first, second = (b["response_format"]["json_schema"]["schema"] for b in server.requests)
    assert "maxLength" in json.dumps(first) and "maxLength" not in json.dumps(second)
    assert second["additionalProperties"] is False


def test_json_object_mode_is_used_when_schemas_are_not(server: FakeOpenAIServer) -> None:
    server.formats = frozenset({"json_object", "text"})
    server.script(GOOD)
    llm = fast_client(server)
    assert llm.complete(ASK, schema=Proposal).parsed is not None
    assert llm.mode == "json_object"
    assert "JSON schema" in server.requests[-1]["messages"][0]["content"]


def test_configuration_comes_from_the_environment(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("TRACEGRAPH_MODEL", "env-model")
    server.script("hi")
    llm = OpenAIClient(cache=None)  # loopback: no key needed
    assert (llm.model, llm.endpoint, llm.complete(ASK).text) == ("env-model", server.url, "hi")
    assert server.requests[0]["model"] == "env-model"


def test_missing_model_or_key_is_a_config_error() -> None:
    with pytest.raises(ClientConfigError, match="TRACEGRAPH_MODEL"):
        OpenAIClient(cache=None)
    with pytest.raises(ClientConfigError, match="OPENAI_API_KEY"):
        OpenAIClient(model="gpt-4o-mini", cache=None)


SECRET = "sk-test-DO-NOT-LEAK-0123456789abcdef"


def test_the_api_key_never_leaves_the_process(
    server: FakeOpenAIServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A careless server that echoes the key it was sent in its error text.
    server.script(Fault.http_error(500, f"bad key {SECRET}"), "ok")
    cassette = Cassette(tmp_path / "calls.jsonl", mode="record")
    llm = fast_client(server, api_key=SECRET, cache=tmp_path / "c.sqlite", cassette=cassette)
    assert llm.complete(ASK).text == "ok"
    server.script(Fault.http_error(401, f"Incorrect API key provided: {SECRET}"))
    with pytest.raises(APIStatusError) as info:
        llm.complete([{"role": "user", "content": "again"}])
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert written and SECRET.encode() not in written
    assert SECRET not in str(info.value) and SECRET not in caplog.text
    assert "[redacted]" in str(info.value) and "[redacted]" in caplog.text
    assert SECRET not in repr(llm) and SECRET not in str(vars(llm.cache))


def test_the_server_runs_in_a_process_of_its_own() -> None:
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from optimizers.llm.fakeserver import main; main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().strip()
    try:
        llm = OpenAIClient(model="fake-model", base_url=url, cache=None)
        assert llm.complete(ASK).text.startswith("answer ")
        with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as response:
            assert json.load(response) == {"requests": 1, "peak_in_flight": 1}
    finally:
        proc.stdin.close()
        assert proc.wait(10) == 0


def test_the_fake_server_explains_its_own_misuse(server: FakeOpenAIServer) -> None:
    with pytest.raises(APIStatusError, match="no scripted reply left"):
        fast_client(server).complete(ASK)

    def broken(body: dict[str, object]) -> str:
        raise KeyError("oops")

    server.responder = broken
    with pytest.raises(APIStatusError, match="responder raised KeyError"):
        fast_client(server).complete(ASK)
    assert server.request_count == 2  # neither was retried


def test_a_per_call_timeout_is_honoured_and_never_sent(server: FakeOpenAIServer) -> None:
    server.script(Fault.hang(5), Fault.hang(5))
    llm = fast_client(server, timeout=30, max_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match=r"within 0\.3 s"):
        llm.complete(ASK, timeout=0.3)
    assert time.monotonic() - started < 3
    assert all("timeout" not in body for body in server.requests)
