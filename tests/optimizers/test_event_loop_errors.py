"""Every sync entry point that runs its own event loop, called inside a running one (a notebook
cell, async code), says which async twin to await instead of asyncio's bare RuntimeError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tracegraph as tg
from optimizers import BeamSearch, BestOfN, ScriptedClient
from optimizers.errors import InsideEventLoop
from optimizers.executors import LocalExecutor
from tests.optimizers.trainer.tasks import prompt_task


def _search(kind: type[BestOfN]) -> Callable[[], Any]:
    x = tg.param(1.0, name="x")
    search = kind([x], llm=ScriptedClient([]), evaluate=lambda values: 0.0)
    return search.step


ENTRY_POINTS: dict[str, tuple[Callable[[], Callable[[], Any]], str]] = {
    "Trainer.fit": (lambda: prompt_task(None)[0].fit, "await trainer.afit()"),
    "BestOfN.step": (lambda: _search(BestOfN), "await search.astep()"),
    "BeamSearch.step": (lambda: _search(BeamSearch), "await search.astep()"),
    "LocalExecutor.run": (lambda: lambda: LocalExecutor().run([]), "await executor.arun(tasks)"),
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
async def test_a_sync_entry_point_in_a_running_loop_names_its_async_twin(name: str) -> None:
    make, fix = ENTRY_POINTS[name]
    call = make()
    with pytest.raises(InsideEventLoop) as caught:
        call()
    assert f"{name}()" in str(caught.value) and f"Fix: `{fix}`" in str(caught.value)


def test_outside_a_loop_they_run() -> None:
    assert LocalExecutor().run([]) == []
