"""Budgets stop before the next call (sync and async, shared by clients); the adaptive limit
shrinks on 429s, grows back, and bounds the calls in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from optimizers import (
    Budget,
    BudgetExceeded,
    ClientConfigError,
    FakeOpenAIServer,
    Fault,
    OpenAIClient,
    Prices,
)
from optimizers.llm.concurrency import AdaptiveLimiter

ASK = [{"role": "user", "content": "propose a value"}]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACEGRAPH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACEGRAPH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=lambda body: "one two three") as fake:
        yield fake


def test_budget_stops_a_loop_before_the_next_call(server: FakeOpenAIServer) -> None:
    budget = Budget(max_calls=3)
    llm = server.client(budget=budget)
    done = 0
    with pytest.raises(BudgetExceeded) as info:
        while True:
            llm.complete([{"role": "user", "content": f"step {done}"}])
            done += 1
    assert done == 3 and server.request_count == 3
    assert (info.value.limit, info.value.used, info.value.allowed) == ("calls", 3, 3)
    assert "fake-model" in str(info.value)


def test_token_budget_is_shared_by_two_clients(server: FakeOpenAIServer) -> None:
    budget = Budget(max_tokens=10)  # each call: 3 prompt words + 3 reply words
    optimizer, judge = server.client(budget=budget), server.client(budget=budget)
    optimizer.complete(ASK)
    judge.complete(ASK)
    with pytest.raises(BudgetExceeded, match="tokens used 12 of 10"):
        optimizer.complete(ASK)
    assert server.request_count == 2 and budget.remaining().tokens == 0


def test_cost_budget_needs_a_price_for_a_hosted_model() -> None:
    with pytest.raises(ClientConfigError, match="no price is set for 'gpt-x'"):
        OpenAIClient(model="gpt-x", api_key="k" * 10, budget=Budget(max_cost=1.0), cache=None)


def test_cost_budget_with_prices(server: FakeOpenAIServer) -> None:
    budget = Budget(max_cost=0.001)
    prices = Prices({"fake-model": (100.0, 100.0)})  # 6 tokens a call = $0.0006
    llm = server.client(budget=budget, prices=prices)
    llm.complete(ASK)
    llm.complete(ASK)
    with pytest.raises(BudgetExceeded, match="cost"):
        llm.complete(ASK)
    assert llm.usage.total.cost == pytest.approx(0.0012)


async def test_max_calls_is_exact_under_concurrency(server: FakeOpenAIServer) -> None:
    server.latency = 0.05
    budget = Budget(max_calls=5)
    llm = server.client(budget=budget, max_concurrency=16)
    results = await asyncio.gather(
        *(llm.acomplete([{"role": "user", "content": f"q{i}"}]) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 15
    assert server.request_count == 5


async def test_calls_in_flight_stay_within_the_limit(server: FakeOpenAIServer) -> None:
    server.latency = 0.05
    llm = server.client(max_concurrency=4)
    await asyncio.gather(*(llm.acomplete([{"role": "user", "content": f"{i}"}]) for i in range(24)))
    assert server.peak_in_flight == 4 and llm.limiter.in_flight == 0


async def test_the_limit_shrinks_on_429_and_the_calls_still_finish(
    server: FakeOpenAIServer,
) -> None:
    server.latency = 0.02
    server.script(*[Fault.rate_limit(retry_after=0.05)] * 8)
    llm = server.client(max_concurrency=16, backoff=0.01)
    replies = await asyncio.gather(
        *(llm.acomplete([{"role": "user", "content": f"{i}"}]) for i in range(16))
    )
    assert all(r.text == "one two three" for r in replies)
    assert llm.limiter.lowest <= 8 and server.request_count == 24


async def test_a_client_works_across_event_loops(server: FakeOpenAIServer) -> None:
    llm = server.client()
    assert (await llm.acomplete(ASK)).text == "one two three"

    def in_another_loop() -> str:
        return asyncio.run(llm.acomplete(ASK)).text

    assert await asyncio.to_thread(in_another_loop) == "one two three"


def test_limiter_halves_once_per_burst_and_grows_back() -> None:
    limiter = AdaptiveLimiter(8, cooldown=60.0)
    limiter.on_rate_limited()
    limiter.on_rate_limited()  # same burst: no second cut
    assert limiter.limit == 4
    for _ in range(4 + 5 + 6 + 7):
        limiter.on_success()
    assert limiter.limit == 8
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8  # never above the maximum
    floor = AdaptiveLimiter(2, minimum=2, cooldown=0.0)
    floor.on_rate_limited()
    assert floor.limit == 2


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.in_flight == 0
    async with limiter.slot():
        assert limiter.in_flight == 1
