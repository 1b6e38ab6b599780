"""The Trainer through the executor seam, without Ray: ``executor=LocalExecutor(...)`` against
the built-in path as the oracle, the journal's remote entries, and lending budget and cache.

The Ray half (a real cluster, a killed worker) is tests/optimizers/test_ray_trainer.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg
from optimizers import Budget, GraphOptimizer, ScriptedClient
from optimizers.executors import EvalResult, EvalTask, ExecutorError, LocalExecutor
from optimizers.llm.types import Usage
from optimizers.trainer import Trainer, score_fn
from optimizers.trainer.journal import CallJournal
from optimizers.trainer.remote import lend
from optimizers.trainer.rundir import RunDir
from tests.optimizers.trainer.tasks import numeric_task, prompt_task, updates
from tracegraph.node import Node


def summary(run_dir: Path) -> list[dict[str, Any]]:
    """What a run decided, step by step (no timings): scores, verdicts, params, feedback."""
    rd = RunDir(run_dir)
    rows = []
    for step in rd.iter_steps():
        folder = rd.step_path(step.step)
        feedback = json.loads((folder / "feedback.json").read_text())
        rows.append({
            "step": step.step, "val": step.record.get("val_score"),
            "accepted": step.record.get("accepted"), "params": step.params,
            "feedback": [(r.get("output"), r.get("score"), r.get("feedback")) for r in feedback],
        })  # fmt: skip
    return rows


class Spy:
    """A LocalExecutor that counts its runs and whether it was closed."""

    def __init__(self) -> None:
        self.inner = LocalExecutor(concurrency=2)
        self.runs = 0
        self.closed = 0

    def run(self, tasks: Any, *, params: Any = ()) -> list[EvalResult]:
        raise AssertionError("the trainer is async: it calls arun")

    async def arun(self, tasks: list[EvalTask], *, params: Any = ()) -> list[EvalResult]:
        self.runs += 1
        return await self.inner.arun(tasks, params=params)

    def close(self) -> None:
        self.closed += 1


def test_the_local_executor_gives_the_built_in_paths_run(tmp_path: Path) -> None:
    proposals = [updates({"x": v}) for v in (3.0, 5.0, 9.0, 4.0)]
    results = []
    for name, executor in (("builtin", None), ("seam", Spy())):
        trainer = numeric_task(
            ScriptedClient(proposals), run_dir=tmp_path / name, epochs=2, executor=executor
        )
        results.append(trainer.fit())
    plain, seam = results
    assert (seam.status, seam.steps, seam.best_step) == (plain.status, plain.steps, 2)
    assert seam.best_params == plain.best_params == {"x": 5.0}
    assert summary(tmp_path / "seam") == summary(tmp_path / "builtin")
    assert RunDir(tmp_path / "seam").read_run()["config"]["executor"] == "Spy"


def test_model_calls_in_the_workflow_are_journaled_and_charged_the_same(tmp_path: Path) -> None:
    made = []
    for name, executor in (("builtin", None), ("seam", LocalExecutor(concurrency=2))):
        trainer, worker, proposer = prompt_task(
            tmp_path / name, budget=Budget(max_calls=100), executor=executor
        )
        made.append((trainer.fit(), worker.sent, proposer.sent, trainer.budget.used.calls))
    (plain, *counts), (seam, *seam_counts) = made
    assert seam_counts == counts and counts[0] > 0
    assert seam.usage.calls == plain.usage.calls == counts[0] + counts[1]
    assert seam.best_params == plain.best_params
    assert summary(tmp_path / "seam") == summary(tmp_path / "builtin")


def test_a_budget_refused_inside_an_op_stops_the_run_on_the_seam_too(tmp_path: Path) -> None:
    # As in test_budget_hit_mid_step_rolls_back_to_the_last_checkpoint: out inside step 1's
    # validation; the failed evaluation carries the refusal back as a BudgetExceeded.
    spy = Spy()
    trainer, _, proposer = prompt_task(tmp_path / "run", budget=Budget(max_calls=9), executor=spy)
    result = trainer.fit()
    assert result.status == "budget" and result.steps == 0 and "calls used 9 of 9" in result.reason
    assert trainer.values() == {"prompt": "Answer."} and proposer.sent == 1
    assert spy.closed == 1
    # The spy runs on the driver's clients: the journal saw each call; none counted twice.
    assert result.usage.calls == trainer.budget.used.calls == 9
    assert '"remote"' not in (tmp_path / "run" / "calls.jsonl").read_text()


def test_a_feedback_function_that_raises_is_an_executor_error_and_closes(tmp_path: Path) -> None:
    x = tg.param(0.0, name="x")

    @tg.op
    def double(v: float, k: float) -> float:
        """Multiply."""
        return v * k

    def broken(case: Any) -> float:
        raise KeyError("no such field")

    spy = Spy()
    trainer = Trainer(
        lambda k: double(x, k), GraphOptimizer([x], llm=ScriptedClient([])), train=[(1.0, 2.0)],
        feedback=broken, quiet=True, executor=spy,
    )  # fmt: skip
    with pytest.raises(ExecutorError, match=r"example 0 failed: KeyError: 'no such field'"):
        trainer.fit()
    assert spy.closed == 1


def test_remote_usage_counts_in_the_journal_and_is_never_replayed(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    journal = CallJournal(path)
    journal.step = 1
    journal.record_usage(Usage(calls=3, input_tokens=30), "evaluations", evaluations=2)
    assert journal.paid.calls == 3 and journal.step_usage(1).input_tokens == 30
    budget = Budget(max_calls=10)
    again = CallJournal(path, budget=budget)
    assert again.load(committed_step=0) == 0  # step 1 is uncommitted, but nothing replays
    assert again.paid.calls == 3 and budget.used.calls == 3  # paid calls still count
    entry = json.loads(path.read_text())
    assert entry["remote"] is True and entry["evaluations"] == 2 and entry["keys"] == []


def test_lending_gives_budget_and_cache_only_where_missing_and_takes_them_back(
    tmp_path: Path,
) -> None:
    own = Budget(max_calls=5)
    bare, owned = ScriptedClient([]), ScriptedClient([], budget=own)
    run_budget = Budget(max_calls=7)
    with lend([bare, bare], run_budget, tmp_path) as lent:
        assert lent.counter is run_budget and bare.budget is run_budget and lent.bare == [bare]
        with lent.cache("val", 1):
            assert bare.cache is not None and Path(bare.cache.path) == tmp_path / "val.sqlite"
        assert bare.cache is None
    assert bare.budget is None and bare.cache is None
    with lend([bare, owned], None, None) as lent:
        assert lent.counter is None  # one client charges its own budget: results report usage
        assert owned.budget is own and isinstance(bare.budget, Budget)
        with lent.cache("val", 1):
            assert bare.cache is None  # no run directory: nothing to keep replies in
    assert bare.budget is None and owned.budget is own
    with lend([], run_budget, None) as lent:
        assert lent.counter is None


def test_a_lent_cache_keeps_one_steps_replies_across_a_resume(tmp_path: Path) -> None:
    client = ScriptedClient(["first", "second", "third"])
    ask = [{"role": "user", "content": "q"}]
    with lend([client], None, tmp_path) as lent, lent.cache("train", 1):
        assert client.complete(ask).text == "first"
    with lend([client], None, tmp_path) as lent:  # a resumed run redoes step 1: served free
        with lent.cache("train", 1):
            reply = client.complete(ask)
            assert reply.text == "first" and reply.cached
        with lent.cache("train", 2):  # step 1 committed: a new step asks again
            assert client.complete(ask).text == "second"
    assert client.remaining == 1


def test_a_module_workflow_is_found_through_find_params() -> None:
    class Scaler(tg.Module):
        def __init__(self) -> None:
            self.x = tg.param(0.0, name="x")

        def forward(self, k: float) -> Node:
            return scale_op(self.x, k)

    model = Scaler()
    trainer = Trainer(
        model.forward, GraphOptimizer([model.x], llm=ScriptedClient([updates({"x": 5.0})])),
        train=[(1.0, 5.0), (2.0, 10.0)], batch_size=2,
        feedback=score_fn(lambda o, t: -abs(o - t)), quiet=True, executor=LocalExecutor(),
    )  # fmt: skip
    result = trainer.fit()
    assert result.best_params == {"x": 5.0} and result.best_score == 0.0


@tg.op
def scale_op(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k
