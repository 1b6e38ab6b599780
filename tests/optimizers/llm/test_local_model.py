"""The real local model (Qwen2.5-Coder via llama.cpp) end to end: marked ``local_model``.

Skipped with the reason when the ``[local]`` extra (xllamacpp and the weight packages) is not
installed. The weights are joined into the usual cache directory (``$TRACEGRAPH_CACHE_DIR`` or
``~/.cache/tracegraph``) once and shared with every other process, as users get them. The tests
check structure and direction, never exact model text.

The two process tests start their own short-lived server (1 s idle timeout, small context) in a
private cache directory whose ``models/`` links to the shared one, so they can watch it exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from optimizers.errors import BudgetExceeded
from optimizers.llm import Budget, OpenAIClient, Reply, local_model
from optimizers.llm.local import LocalServer, local_server
from optimizers.llm.local.files import WeightsNotInstalledError, cache_dir, pid_alive
from optimizers.llm.local.weights import WEIGHT_SETS, check_runtime, locate_chunks

pytestmark = pytest.mark.local_model

ROOT = Path(__file__).resolve().parents[3]


def _missing_reason() -> str | None:
    try:
        check_runtime()
        locate_chunks(WEIGHT_SETS["1.5b"])
    except WeightsNotInstalledError as exc:
        return f"the [local] extra is not installed: {exc.fix.split(',')[0]}"
    return None


_MISSING = _missing_reason()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """One lease on the shared server for the whole module (joins the weights if needed)."""
    with local_server() as held:
        yield held


def _client(server: LocalServer, tmp_path: Path, **options: Any) -> OpenAIClient:
    del server  # held by the fixture: local_model() below only joins it
    options.setdefault("cache", tmp_path / "replies.sqlite")
    return local_model(quiet=True, **options)


class Proposal(BaseModel):
    """A reply shape like an optimizer's: a short reason and a number."""

    reasoning: str = Field(max_length=300)
    x: float


def _ask_for_x(llm: OpenAIClient, **options: Any) -> Reply:
    messages = [
        {"role": "system", "content": "You tune one number. Answer in JSON."},
        {
            "role": "user",
            "content": "We minimise f(x) = (x - 10)**2. With x = 3, f = 49: x is too small. "
            "Propose a larger x.",
        },
    ]
    return llm.complete(messages, schema=Proposal, temperature=0, max_tokens=200, **options)


def test_a_structured_reply_parses(server: LocalServer, tmp_path: Path) -> None:
    reply = _client(server, tmp_path).complete(
        [{"role": "user", "content": "Name one prime number between 10 and 20 and say why."}],
        schema=Proposal,
        temperature=0,
        max_tokens=200,
    )
    assert isinstance(reply.parsed, Proposal)
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.cost == 0.0


def test_a_numeric_suggestion_moves_the_right_way(server: LocalServer, tmp_path: Path) -> None:
    reply = _ask_for_x(_client(server, tmp_path))
    assert isinstance(reply.parsed, Proposal)
    assert reply.parsed.x > 3


def test_temperature_zero_is_deterministic(server: LocalServer, tmp_path: Path) -> None:
    llm = _client(server, tmp_path, cache=None)
    messages = [{"role": "user", "content": "Write one short sentence about gradients."}]
    # llama.cpp reuses the KV cache of a repeated prompt prefix, which evaluates it in other
    # batch shapes and can change a temperature-0 answer; cache_prompt=False (sent through
    # extra_body) evaluates both prompts the same way, so the answers must match byte for byte.
    first = llm.complete(messages, temperature=0, max_tokens=30, cache_prompt=False)
    second = llm.complete(messages, temperature=0, max_tokens=30, cache_prompt=False)
    assert first.text and first.text == second.text
    assert not first.cached and not second.cached


def test_the_cache_serves_a_repeat_without_a_call(server: LocalServer, tmp_path: Path) -> None:
    online = _client(server, tmp_path)
    first = _ask_for_x(online)
    # Same model name and cache file, but an endpoint where nothing listens: only the cache
    # can answer. Replies are kept per endpoint (a cache scope); the local model's scope is its
    # weights, so a client that says it serves the same weights shares them.
    offline = OpenAIClient(
        model=server.model,
        base_url="http://127.0.0.1:9/v1",
        api_key="unused",
        cache=tmp_path / "replies.sqlite",
        max_retries=0,
        timeout=2,
    )
    offline.cache_scope = online.cache_scope
    again = _ask_for_x(offline)
    assert again.cached and again.text == first.text
    assert [c.cached for c in offline.usage.calls()] == [True]


def test_a_budget_stops_a_loop(server: LocalServer, tmp_path: Path) -> None:
    budget = Budget(max_calls=2)
    llm = _client(server, tmp_path, cache=None, budget=budget)
    done = 0
    with pytest.raises(BudgetExceeded):
        for i in range(5):
            llm.complete([{"role": "user", "content": f"Say {i}."}], temperature=0, max_tokens=5)
            done += 1
    assert done == 2
    assert llm.usage.total.calls == 2


_HOLDER = textwrap.dedent(
    """
    import json, sys, time, urllib.request
    from optimizers.llm.local import local_server
    server = local_server(n_ctx=1024, idle_timeout=1.0, max_reply_tokens=6)
    # No max_tokens: the server's ceiling must end the reply.
    req = urllib.request.Request(
        server.base_url + "/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": "Count from 1 to 100."}],
                         "temperature": 0}).encode(),
        headers={"Authorization": "Bearer " + server.api_key,
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        ok = resp.status == 200 and json.loads(resp.read())["usage"]["completion_tokens"] <= 6
    print(server.pid, server.started, ok, flush=True)
    time.sleep(float(sys.argv[1]))
    """
)


@pytest.fixture
def private_cache(server: LocalServer, tmp_path: Path) -> Path:
    """A cache dir of its own for servers, sharing the already joined weights."""
    del server  # makes sure the weights are joined first
    private = tmp_path / "cache"
    private.mkdir()
    (private / "models").symlink_to(cache_dir() / "models", target_is_directory=True)
    return private


def _holder(private: Path, hold: float) -> subprocess.Popen[str]:
    env = {**os.environ, "TRACEGRAPH_CACHE_DIR": str(private), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", _HOLDER, str(hold)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)


def _server_states(private: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in private.glob("servers/*/state.json")]


def test_two_processes_share_one_server(private_cache: Path) -> None:
    first = _holder(private_cache, hold=2)
    assert first.stdout is not None
    pid, started, ok = first.stdout.readline().split()
    second = _holder(private_cache, hold=0)
    out, _ = second.communicate(timeout=120)
    assert out.split() == [pid, "False", "True"]
    assert (started, ok) == ("True", "True")
    [state] = _server_states(private_cache)
    first.communicate(timeout=30)
    for log in private_cache.glob("servers/*/server.log"):
        assert str(state["api_key"]) not in log.read_text(errors="replace")


def test_killing_the_holder_does_not_orphan_the_server(private_cache: Path) -> None:
    holder = _holder(private_cache, hold=120)
    assert holder.stdout is not None
    pid = int(holder.stdout.readline().split()[0])
    assert pid_alive(pid)
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 20
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), "the server outlived its only holder by more than 20 s"
    assert _server_states(private_cache) == []
