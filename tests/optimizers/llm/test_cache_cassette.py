"""The on-disk cache (hits, keys, bypass, concurrent writers) and cassette record/replay/miss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import BaseModel

from optimizers import Cassette, CassetteMiss, ClientConfigError, FakeOpenAIServer, OpenAIClient
from optimizers.llm.cache import ResponseCache
from optimizers.llm.types import RawReply, Request

ASK = [{"role": "user", "content": "propose a value"}]


class Proposal(BaseModel):
    value: int


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACEGRAPH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACEGRAPH_CACHE_DIR", str(tmp_path / "default-cache"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    # Every answer names the request number, so a served-from-cache reply is recognisable.
    with FakeOpenAIServer(responder=lambda body: f'{{"value": {len(server_requests)}}}') as fake:
        server_requests = fake.requests
        yield fake


def test_a_repeat_is_served_from_the_cache_without_a_request(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    llm = server.client(cache=tmp_path / "c.sqlite")
    first = llm.complete(ASK, schema=Proposal, temperature=0)
    again = llm.complete(ASK, schema=Proposal, temperature=0)
    assert server.request_count == 1
    assert again.parsed == first.parsed and again.cached and not first.cached
    assert (again.usage.calls, again.usage.cache_hits, again.usage.total_tokens) == (0, 1, 0)
    # A new client on the same file (another process, a later run) hits too.
    other = server.client(cache=tmp_path / "c.sqlite")
    assert other.complete(ASK, schema=Proposal, temperature=0).cached
    assert server.request_count == 1


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.7},
        {"seed": 2},
        {"max_tokens": 50},
        {"schema": None},
        {"messages": [{"role": "user", "content": "propose another value"}]},
    ],
)
def test_anything_that_shapes_the_answer_is_in_the_key(
    server: FakeOpenAIServer, tmp_path: Path, change: dict[str, object]
) -> None:
    llm = server.client(cache=tmp_path / "c.sqlite")
    base: dict[str, object] = {"messages": ASK, "schema": Proposal, "temperature": 0, "seed": 1}
    llm.complete(**base)  # type: ignore[arg-type]
    llm.complete(**{**base, **change})  # type: ignore[arg-type]
    assert server.request_count == 2


def test_two_endpoints_answering_to_one_model_name_keep_their_replies_apart(
    tmp_path: Path,
) -> None:
    # Issue 10, 7(d): the key left out the endpoint, so server B was answered with A's reply.
    cache = tmp_path / "c.sqlite"
    with FakeOpenAIServer(['{"value": 1}']) as a, FakeOpenAIServer(['{"value": 2}']) as b:
        assert a.client(cache=cache).complete(ASK, schema=Proposal, temperature=0).parsed
        reply = b.client(cache=cache).complete(ASK, schema=Proposal, temperature=0)
        assert reply.parsed == Proposal(value=2) and not reply.cached
        assert a.client(cache=cache).complete(ASK, schema=Proposal, temperature=0).cached


def test_samples_are_not_served_from_the_cache_unless_seeded(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    # Issue 10, 7(d): a temperature-0.9 "sample" came back from the cache, the same every time.
    llm = server.client(cache=tmp_path / "c.sqlite")
    first = llm.complete(ASK, schema=Proposal, temperature=0.9)
    second = llm.complete(ASK, schema=Proposal, temperature=0.9)
    assert server.request_count == 2 and not second.cached and first.parsed != second.parsed
    seeded = llm.complete(ASK, schema=Proposal, temperature=0.9, seed=4)
    assert llm.complete(ASK, schema=Proposal, temperature=0.9, seed=4).parsed == seeded.parsed
    assert server.request_count == 3  # a seeded sample is a deliberate, repeatable one


def test_the_cache_can_be_bypassed_per_call_or_per_view(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    llm = server.client(cache=tmp_path / "c.sqlite")
    llm.complete(ASK)
    llm.complete(ASK, cache=False)
    llm.no_cache().complete(ASK)
    assert server.request_count == 3
    assert llm.complete(ASK).cached and server.request_count == 3


def test_the_cache_is_on_by_default_under_the_cache_dir(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    from optimizers.llm.client_base import DEFAULT_CACHE

    llm = server.client(cache=DEFAULT_CACHE)
    assert llm.cache is not None and llm.cache.path == tmp_path / "default-cache" / "llm.sqlite"
    assert OpenAIClient(model="m", base_url=server.url).cache is not None


# The same writes as _hammer, run by other processes.
HAMMER = """
import sys
from optimizers.llm.cache import ResponseCache
from optimizers.llm.types import RawReply, Request
cache = ResponseCache(sys.argv[1])
for i in range(int(sys.argv[2]), int(sys.argv[2]) + 50):
    cache.put(Request("m", ({"role": "user", "content": str(i)},)), RawReply(str(i), "m"))
"""


def _hammer(path: str, start: int) -> None:
    cache = ResponseCache(path)
    for i in range(start, start + 50):
        cache.put(Request("m", ({"role": "user", "content": str(i)},)), RawReply(str(i), "m"))


def test_threads_and_processes_write_one_cache_together(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    procs = [
        subprocess.Popen([sys.executable, "-c", HAMMER, path, str(1000 * (p + 1))], env=env)
        for p in range(2)
    ]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: _hammer(path, s), [0, 100, 200, 300]))
    assert [proc.wait(60) for proc in procs] == [0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 6 * 50
    hit = cache.get(Request("m", ({"role": "user", "content": "1049"},)))
    assert hit is not None and hit.text == "1049"


def test_record_then_replay_offline(server: FakeOpenAIServer, tmp_path: Path) -> None:
    tape = tmp_path / "calls.jsonl"
    recorder = server.client(cassette=Cassette(tape, mode="record"))
    recorded = [recorder.complete(ASK, schema=Proposal).parsed, recorder.complete(ASK).text]
    lines = [json.loads(line) for line in tape.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["request"]["messages"] == ASK
    # Replay against an address where nothing listens: no request may go out.
    player = OpenAIClient(
        model="fake-model",
        base_url="http://127.0.0.1:9/v1",
        cache=None,
        cassette=Cassette(tape),
        max_retries=0,
    )
    replayed = [player.complete(ASK, schema=Proposal).parsed, player.complete(ASK).text]
    assert replayed == recorded and server.request_count == 2


def test_replay_of_an_unseen_request_raises_a_clear_miss(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    tape = tmp_path / "calls.jsonl"
    server.client(cassette=Cassette(tape, mode="record")).complete(ASK, temperature=0)
    player = server.client(cassette=Cassette(tape))
    with pytest.raises(CassetteMiss) as info:
        player.complete(ASK, temperature=0.5)
    message = str(info.value)
    assert "1 recorded calls" in message and "differs in: temperature" in message
    assert "mode='record'" in message and server.request_count == 1


def test_a_missing_or_broken_cassette_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match="no cassette"):
        Cassette(tmp_path / "absent.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"key": "k"}\n')
    with pytest.raises(ClientConfigError, match="line 1"):
        Cassette(broken)
