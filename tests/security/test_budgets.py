"""Budgets that hold against a hostile or broken server (issue 10, found-item 5).

Every HTTP attempt counts (retries and failures too); a budget made active with
``optimizers.budget`` or by a Trainer run covers every client; one attempt has a wall-clock
deadline however slowly the server sends; a huge reply is abandoned, never read whole or cached.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import optimizers
import tracegraph as tg
from optimizers import Budget, BudgetExceeded, FakeOpenAIServer, Fault, LLMTimeout, Trainer
from optimizers.llm import ReplyTooLarge, ScriptedClient
from optimizers.trainer import exact_match

HI = [{"role": "user", "content": "hi"}]


def test_failed_attempts_and_retries_count_against_max_calls() -> None:
    with FakeOpenAIServer(responder=lambda body: Fault.server_error(503)) as server:
        budget = Budget(max_calls=5)
        llm = server.client(budget=budget, backoff=0.001, max_retries=4)
        refused = 0
        for _ in range(20):
            try:
                llm.complete(HI)
            except BudgetExceeded:
                refused += 1
            except optimizers.ServerError:
                pass
        assert server.request_count == 5  # was 100 (20 calls x 5 attempts), used.calls 0
        assert budget.used.calls == 5
        assert refused == 19
        assert llm.usage.total.calls == 5  # the client's ledger counts the attempts too


def test_a_budget_running_out_between_retries_stops_the_retries() -> None:
    with FakeOpenAIServer(responder=lambda body: Fault.server_error(503)) as server:
        budget = Budget(max_calls=3)
        llm = server.client(budget=budget, backoff=0.001, max_retries=10)
        with pytest.raises(BudgetExceeded):
            llm.complete(HI)
        assert server.request_count == 3 and budget.used.calls == 3


async def test_async_attempts_count_too() -> None:
    with FakeOpenAIServer(responder=lambda body: Fault.server_error(503)) as server:
        budget = Budget(max_calls=4)
        llm = server.client(budget=budget, backoff=0.001, max_retries=9)
        with pytest.raises(BudgetExceeded):
            await llm.acomplete(HI)
        assert server.request_count == 4 and budget.used.calls == 4


def test_a_success_after_retries_is_charged_every_attempt() -> None:
    with FakeOpenAIServer([Fault.server_error(502), Fault.server_error(500), "ok"]) as server:
        budget = Budget(max_calls=10)
        reply = server.client(budget=budget, backoff=0.001).complete(HI)
        assert reply.text == "ok"
        assert budget.used.calls == 3 and reply.usage.calls == 3


def test_an_attempt_refused_for_its_response_format_counts_everywhere() -> None:
    from pydantic import BaseModel

    class Value(BaseModel):
        value: int

    with FakeOpenAIServer(['{"value": 1}'], formats=("json_object", "text")) as server:
        budget = Budget(max_calls=10)
        reply = server.client(budget=budget).complete(HI, schema=Value)
        sent = server.request_count  # refused modes first (json_schema...), then json_object
        assert reply.parsed == Value(value=1) and sent >= 2
        assert budget.used.calls == sent and reply.usage.calls == sent


def test_reasks_count_as_calls() -> None:
    from pydantic import BaseModel

    class Value(BaseModel):
        value: int

    budget = Budget(max_calls=2)
    llm = ScriptedClient(["not json", "still not", '{"value": 1}'], budget=budget)
    with pytest.raises(BudgetExceeded):
        llm.complete(HI, schema=Value)
    assert budget.used.calls == 2


def test_the_budget_context_covers_a_client_that_was_never_given_it() -> None:
    llm = ScriptedClient(["a"] * 10)  # no budget= of its own
    with optimizers.budget(max_calls=3) as spent:
        for _ in range(3):
            llm.complete(HI)
        with pytest.raises(BudgetExceeded):
            llm.complete(HI)
    assert spent.used.calls == 3 and llm.remaining == 7
    llm.complete(HI)  # outside the block: not limited


def test_nested_budgets_are_all_charged_and_a_client_budget_once() -> None:
    own = Budget(max_calls=100)
    llm = ScriptedClient(["a"] * 10, budget=own)
    with (
        optimizers.budget(max_calls=5) as outer,
        optimizers.budget(own),
        optimizers.budget(max_calls=2) as inner,
    ):
        llm.complete(HI)
        llm.complete(HI)
        with pytest.raises(BudgetExceeded):
            llm.complete(HI)
    assert (own.used.calls, outer.used.calls, inner.used.calls) == (2, 2, 2)


def test_the_budget_context_reaches_threads_and_tasks() -> None:
    llm = ScriptedClient(["a"] * 10)

    async def many() -> None:
        await asyncio.gather(*(llm.acomplete(HI) for _ in range(2)))
        await asyncio.to_thread(llm.complete, HI)

    with optimizers.budget(max_calls=3) as spent:
        asyncio.run(many())
        with pytest.raises(BudgetExceeded):
            llm.complete(HI)
    assert spent.used.calls == 3


def test_a_trainer_budget_covers_the_workflows_own_unlisted_client(tmp_path: Path) -> None:
    # The attack: the workflow calls its own client, not listed in clients=. It ran 32 calls
    # under max_calls=12 and finished; now the run stops at the budget.
    own = ScriptedClient(["x"] * 200, model="workflow-model")
    prompt = tg.param("p", name="prompt", description="a prompt")

    @tg.op
    def answer(p: str, q: str) -> str:
        for _ in range(4):  # a chatty workflow: four calls an example
            own.complete([{"role": "user", "content": f"{p} {q}"}])
        return q

    optimizer = optimizers.GraphOptimizer([prompt], llm=ScriptedClient(['{"updates": []}'] * 50))
    trainer = Trainer(
        lambda q: answer(prompt, q),
        optimizer,
        train=[(str(i), str(i)) for i in range(4)],
        feedback=exact_match(),
        batch_size=2,
        epochs=3,
        patience=None,
        budget=Budget(max_calls=12),
        quiet=True,
        run_dir=tmp_path / "run",
    )
    result = trainer.fit()
    assert result.status == "budget"
    assert own.remaining >= 200 - 12


def test_a_trickling_server_cannot_hold_a_call_past_its_timeout() -> None:
    # One byte every 0.5 s: each read is quick, so a per-read timeout never fires (123 s for a
    # timeout=2 call before). The deadline covers the whole attempt.
    with FakeOpenAIServer([Fault.trickle("a long answer", every=0.5)] * 2) as server:
        llm = server.client(timeout=1.0, max_retries=0)
        started = time.monotonic()
        with pytest.raises(LLMTimeout, match="no answer within 1 s"):
            llm.complete(HI)
        assert time.monotonic() - started < 3.0


async def test_a_trickling_server_cannot_hold_an_async_call() -> None:
    with FakeOpenAIServer([Fault.trickle("a long answer", every=0.5)] * 2) as server:
        llm = server.client(timeout=1.0, max_retries=0)
        started = time.monotonic()
        with pytest.raises(LLMTimeout):
            await llm.acomplete(HI)
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_huge_reply_is_abandoned_and_not_cached(tmp_path: Path, declare_length: bool) -> None:
    cache = tmp_path / "cache.sqlite"
    size = 100_000_000  # 100 MB: with Content-Length, refused at the headers
    if not declare_length:
        size = 5_000_000  # chunked: read up to the cap, then dropped
    with FakeOpenAIServer([Fault.huge(size, declare_length)]) as server:
        llm = server.client(cache=cache, max_retries=0, max_reply_bytes=1_000_000)
        with pytest.raises(ReplyTooLarge, match="max_reply_bytes=1,000,000"):
            llm.complete(HI)
        assert llm.cache is not None and len(llm.cache) == 0


async def test_a_huge_reply_is_abandoned_async() -> None:
    with FakeOpenAIServer([Fault.huge(5_000_000, declare_length=False)]) as server:
        llm = server.client(max_retries=0, max_reply_bytes=1_000_000)
        with pytest.raises(ReplyTooLarge):
            await llm.acomplete(HI)
