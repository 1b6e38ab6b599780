"""OpenAIClient(client=...): a user's own openai client, under our budget, cache and retries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from optimizers.errors import BudgetExceeded, ClientConfigError
from optimizers.llm import Budget, FakeOpenAIServer, Fault
from optimizers.llm.openai_client import OpenAIClient

HI = [{"role": "user", "content": "hi"}]


def _theirs(server: FakeOpenAIServer, cls: type = openai.OpenAI) -> object:
    return cls(
        api_key="user-key-not-secret",
        base_url=server.url,
        organization="org-42",
        project="proj-7",
        default_headers={"X-Team": "search"},
        max_retries=5,  # theirs would retry too: ours must be the only retries
    )


def test_a_sync_client_keeps_its_headers_and_gets_our_retries(tmp_path: Path) -> None:
    with FakeOpenAIServer([Fault.server_error(), "hello"]) as server:
        llm = OpenAIClient(model="m", client=_theirs(server), cache=None, backoff=0.001)
        assert llm.complete(HI).text == "hello"
        assert llm.endpoint.startswith(server.url)
    assert server.request_count == 2  # one failure, one retry by us, none by the SDK
    last = server.headers[-1]
    assert last["openai-organization"] == "org-42" and last["openai-project"] == "proj-7"
    assert last["x-team"] == "search"
    assert "authorization" not in last and server.authorization_seen == 2


def test_budget_and_cache_apply_to_a_wrapped_client(tmp_path: Path) -> None:
    with FakeOpenAIServer(["one", "two"]) as server:
        budget = Budget(max_calls=1)
        llm = OpenAIClient(
            model="m", client=_theirs(server), cache=tmp_path / "c.sqlite", budget=budget
        )
        assert llm.complete(HI).text == "one"
        again = llm.complete(HI)
        assert again.text == "one" and again.cached  # served by our cache, not the server
        with pytest.raises(BudgetExceeded):
            llm.complete([{"role": "user", "content": "other"}])
    assert server.request_count == 1


def test_an_async_client_serves_both_kinds_of_call() -> None:
    with FakeOpenAIServer(["sync", "async"]) as server:
        llm = OpenAIClient(model="m", client=_theirs(server, openai.AsyncOpenAI), cache=None)
        assert llm.complete(HI).text == "sync"  # through a sync twin with the same settings

        async def main() -> str:
            reply = await llm.acomplete([{"role": "user", "content": "x"}])
            return reply.text

        assert asyncio.run(main()) == "async"
    assert all(h["openai-project"] == "proj-7" for h in server.headers)
    assert all(h["x-team"] == "search" for h in server.headers)


def test_wrong_or_conflicting_arguments_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEGRAPH_MODEL", raising=False)
    with pytest.raises(ClientConfigError, match=r"openai\.OpenAI"):
        OpenAIClient(model="m", client="not a client")  # type: ignore[arg-type]
    sdk = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ClientConfigError, match="already holds"):
        OpenAIClient(model="m", client=sdk, base_url="http://elsewhere/v1")
    with pytest.raises(ClientConfigError, match="no model"):
        OpenAIClient(client=sdk)
