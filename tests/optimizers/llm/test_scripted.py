"""ScriptedClient: scripted replies go through the same parsing, validation and re-asks as real
ones; usage, labels and the budget are counted the same way."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from optimizers import (
    Budget,
    BudgetExceeded,
    LLMTimeout,
    Prices,
    ReplyParseError,
    ScriptedClient,
    ScriptExhausted,
    default_client,
)
from optimizers.llm.types import LLMClient

ASK = [{"role": "user", "content": "propose x"}]


class Step(BaseModel):
    reasoning: str
    x: int = Field(ge=0)


def test_plain_text_reply_and_usage() -> None:
    llm = ScriptedClient(["x should be 3"])
    reply = llm.complete(ASK, label="optimizer")
    assert (reply.text, reply.parsed, reply.attempts) == ("x should be 3", None, 1)
    assert reply.usage.calls == 1 and reply.usage.output_tokens == 4
    assert reply.usage.input_tokens == 2  # words of the messages
    assert llm.usage.by_label()["optimizer"] == reply.usage
    assert isinstance(llm, LLMClient)


@pytest.mark.parametrize(
    "raw",
    [
        '{"reasoning": "up", "x": 4}',
        'Sure, here it is:\n```json\n{"reasoning": "up", "x": 4}\n```\nGood luck!',
        'I think {"reasoning": "up", "x": 4} is right.',
    ],
)
def test_schema_reply_is_extracted_leniently(raw: str) -> None:
    reply = ScriptedClient([raw]).complete(ASK, schema=Step)
    assert reply.parsed == Step(reasoning="up", x=4)


def test_invalid_reply_is_shown_back_then_accepted() -> None:
    llm = ScriptedClient(['{"reasoning": "down", "x": -1}', '{"reasoning": "fixed", "x": 1}'])
    reply = llm.complete(ASK, schema=Step)
    assert reply.parsed == Step(reasoning="fixed", x=1)
    assert reply.attempts == 2 and reply.usage.calls == 2
    second = llm.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"reasoning": "down", "x": -1}'}
    assert "x: Input should be greater than or equal to 0" in second[-1]["content"]


def test_parse_error_after_bounded_reasks_quotes_the_raw_reply() -> None:
    replies = ["no idea", "still prose", "```json\n{not json}\n```"]
    llm = ScriptedClient(replies, max_reasks=2)
    with pytest.raises(ReplyParseError) as info:
        llm.complete(ASK, schema=Step)
    assert info.value.raw == replies[-1]
    assert len(info.value.problems) == 3 and len(llm.requests) == 3
    assert repr(replies[-1]) in str(info.value) and "scripted" in str(info.value)


def test_running_out_of_replies_is_loud() -> None:
    llm = ScriptedClient(["only one"])
    llm.complete(ASK)
    with pytest.raises(ScriptExhausted, match="ran out after 1 replies"):
        llm.complete(ASK)


def test_scripted_exception_is_raised_in_turn() -> None:
    llm = ScriptedClient([LLMTimeout("scripted timeout"), "after"])
    with pytest.raises(LLMTimeout):
        llm.complete(ASK)
    assert llm.complete(ASK).text == "after"


def test_text_mode_puts_the_schema_in_the_system_message() -> None:
    llm = ScriptedClient(['{"reasoning": "r", "x": 2}'], mode="text")
    messages = [{"role": "system", "content": "You tune x."}, *ASK]
    assert llm.complete(messages, schema=Step).parsed == Step(reasoning="r", x=2)
    sent = llm.requests[0]
    assert "response_format" not in sent
    assert sent["messages"][0]["content"].startswith("You tune x.\n\nAnswer with one JSON object")
    assert '"maxLength"' in sent["messages"][0]["content"]


def test_json_schema_mode_sends_a_strict_schema() -> None:
    llm = ScriptedClient(['{"reasoning": "r", "x": 2}'])
    llm.complete(ASK, schema=Step)
    form = llm.requests[0]["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
    assert form["json_schema"]["schema"]["properties"]["reasoning"]["maxLength"] == 4000


def test_budget_stops_before_the_next_call() -> None:
    budget = Budget(max_calls=2)
    llm = ScriptedClient(["a", "b", "c"], budget=budget)
    llm.complete(ASK)
    llm.complete(ASK)
    with pytest.raises(BudgetExceeded) as info:
        llm.complete(ASK)
    assert info.value.limit == "calls" and len(llm.requests) == 2 and llm.remaining == 1
    assert budget.remaining().calls == 0


def test_costs_are_counted_per_label_with_prices() -> None:
    prices = Prices({"scripted": (1_000_000.0, 2_000_000.0)})  # $1 per input, $2 per output word
    llm = ScriptedClient(["one two", "three"], prices=prices)
    llm.complete(ASK, label="optimizer")
    llm.complete(ASK, label="judge")
    labels = llm.usage.by_label()
    assert labels["optimizer"].cost == pytest.approx(2 * 1 + 2 * 2)
    assert labels["judge"].cost == pytest.approx(2 * 1 + 1 * 2)
    assert llm.usage.total.cost == pytest.approx(10.0)


async def test_async_calls_share_the_script_in_order() -> None:
    llm = ScriptedClient([f"reply {i}" for i in range(5)])
    replies = await asyncio.gather(*(llm.acomplete(ASK) for _ in range(5)))
    assert sorted(r.text for r in replies) == [f"reply {i}" for i in range(5)]
    assert llm.usage.total.calls == 5


def test_cache_serves_a_repeat_without_using_the_script(tmp_path: object) -> None:
    llm = ScriptedClient(["first", "second"], cache=f"{tmp_path}/c.sqlite")
    assert llm.complete(ASK).text == "first"
    again = llm.complete(ASK)
    assert (again.text, again.cached, again.usage.calls, again.usage.cache_hits) == (
        "first",
        True,
        0,
        1,
    )
    assert llm.remaining == 1
    assert llm.no_cache().complete(ASK).text == "second"


def test_a_time_budget_stops_the_next_call() -> None:
    budget = Budget(max_seconds=0.05)
    llm = ScriptedClient(["a", "b"], budget=budget)
    llm.complete(ASK)
    time.sleep(0.06)
    with pytest.raises(BudgetExceeded, match="seconds"):
        llm.complete(ASK)
    assert len(llm.requests) == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4), st.integers(0, 3), st.sampled_from(["json_schema", "text"]))
def test_reasks_are_bounded_exactly(bad: int, max_reasks: int, mode: str) -> None:
    """``bad`` invalid replies then a valid one: success iff bad <= max_reasks."""
    replies = ['{"reasoning": "r"}'] * bad + ['{"reasoning": "r", "x": 1}']
    llm = ScriptedClient(replies, max_reasks=max_reasks, mode=mode)  # type: ignore[arg-type]
    if bad <= max_reasks:
        reply = llm.complete(ASK, schema=Step)
        assert reply.attempts == bad + 1 and reply.parsed == Step(reasoning="r", x=1)
    else:
        with pytest.raises(ReplyParseError):
            llm.complete(ASK, schema=Step)
    assert len(llm.requests) == min(bad, max_reasks) + 1
    # Each re-ask carries the whole conversation so far: two more messages per attempt.
    sizes = [len(r["messages"]) for r in llm.requests]
    assert sizes == [sizes[0] + 2 * i for i in range(len(sizes))]


def test_default_client_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import optimizers.llm.local as local

    started: list[str] = []
    stand_in = ScriptedClient([], model="local-stand-in")

    def fake_local_model(size: str, **options: object) -> ScriptedClient:
        started.append(size)
        return stand_in

    monkeypatch.setattr(local, "local_model", fake_local_model)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TRACEGRAPH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert default_client() is stand_in and started == ["1.5b"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("TRACEGRAPH_MODEL", "served-model")
    hosted = default_client(cache=None)
    assert (hosted.model, hosted.endpoint, started) == (
        "served-model",
        "http://127.0.0.1:9/v1",
        ["1.5b"],
    )
