"""Accepted code that attacks the user's process (issue 10, item 1): with isolated=True, and
when the Trainer scores a model's candidate, the code runs in a sandboxed worker, so replacing a
builtin, rewriting a module constant or exiting touches only the worker."""

from __future__ import annotations

import builtins
import json
import time

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.trainer import Trainer
from tracegraph.sandbox import Limits

LIMIT = 5


@tg.trainable(isolated=True, limits=Limits(timeout=3))
def add_limit(x: int) -> int:
    return x + LIMIT


@pytest.fixture(autouse=True)
def _original_code() -> None:
    add_limit.code.set_value(add_limit.original)


def _run(source: str, x: int = 1) -> tg.Node:
    add_limit.code.set_value(source)
    return add_limit(tg.node(x, name="x"))


def test_replacing_a_builtin_stays_in_the_worker() -> None:
    real_len = builtins.len
    try:
        out = _run(
            "import builtins\ndef add_limit(x):\n    builtins.len = lambda v: 42\n"
            "    return len([1]) + x\n"
        )
        assert out.value == 43  # it did replace len, where it ran
        assert len([1, 2]) == 2 and builtins.len is real_len
    finally:
        builtins.len = real_len


def test_rewriting_a_module_constant_stays_in_the_worker() -> None:
    out = _run(
        "import importlib\ndef add_limit(x):\n"
        "    importlib.import_module(__name__).LIMIT = 99\n    return x + LIMIT\n"
    )
    assert out.value == 6 and LIMIT == 5


@pytest.mark.parametrize("exit_call", ["raise SystemExit(3)", "import os; os._exit(3)"])
def test_exiting_fails_the_call_not_the_process(exit_call: str) -> None:
    with pytest.raises(tg.OpError) as err:
        _run(f"def add_limit(x):\n    {exit_call}\n")
    assert err.value.node is not None and err.value.node.kind is tg.NodeKind.EXCEPTION
    assert _run(add_limit.original, 2).value == 7  # a fresh worker serves the next call


def test_an_endless_call_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(tg.OpError, match="did not finish within 3 s"):
        _run("def add_limit(x):\n    while True:\n        pass\n")
    assert time.monotonic() - started < 3 + 3


def test_results_come_back_as_plain_data_only() -> None:
    with pytest.raises(tg.OpError, match="plain data"):
        _run("class Evil:\n    pass\n\ndef add_limit(x):\n    return Evil()\n")
    add_limit.code.set_value("def add_limit(x):\n    return object()\n")
    with tg.no_trace(), pytest.raises(TypeError, match="plain data"):
        add_limit(1)


def test_the_trainer_scores_a_new_code_candidate_isolated() -> None:
    @tg.trainable
    def parse(text: str) -> int:
        """Read the number in the text."""
        return int(text.split()[0])

    hostile = (
        "def parse(text):\n    import builtins\n    builtins.len = lambda v: 0\n"
        "    return int(text.split()[-1])\n"
    )
    reply = json.dumps({"reasoning": "use the last word", "updates": {"parse": hostile}})
    code = tg.code_of(parse)
    trainer = Trainer(
        lambda t: parse(tg.node(t, name="text")),
        GraphOptimizer([code], llm=ScriptedClient([reply])),
        train=[("it is 4", 4), ("now 7", 7)],
        feedback=lambda case: 1.0 if case.value == case.target else 0.0,
        batch_size=2,
        max_steps=1,
        quiet=True,
    )
    real_len = builtins.len
    try:
        result = trainer.fit()
        assert builtins.len is real_len, "the candidate ran in the user's process"
    finally:
        builtins.len = real_len
    assert result.best_score == 1.0 and code.value == hostile  # it was scored, and accepted
    assert "isolate" not in code.meta  # after the run, the code runs where the user says
