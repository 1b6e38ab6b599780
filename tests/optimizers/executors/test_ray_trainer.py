"""The Trainer on a local Ray instance (2 CPUs) against the built-in local path as the oracle.

One Ray instance serves the module (starting one takes 15-30 s here). The task: find x = 5 in
``x * k + offset(k)``, where ``offset`` asks a ScriptedClient that always answers "0" (so the
answer does not depend on which worker asked first) and the optimizer's model, on the driver,
proposes 3 then 5. This module travels to the workers by value (``pickle_by_value``): they
cannot import a test file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg
from optimizers import Budget, GraphOptimizer, ScriptedClient
from optimizers.trainer import FitResult, Trainer, score_fn
from optimizers.trainer.rundir import RunDir
from tracegraph.node import Node

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

from optimizers.executors.ray import RayExecutor  # noqa: E402  (after the skip)

_AUTO = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*?)_\d+\b")


class Crash(BaseException):
    """A simulated crash of the driver (not an Exception: nothing turns it into feedback)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def on_ray() -> RayExecutor:
    return RayExecutor(max_retries=2, pickle_by_value=[sys.modules[__name__]])


def closeness(out: float, target: float) -> tuple[float, str]:
    """Score -|out - target|, with the direction in words."""
    hint = "larger" if out < target else "smaller" if out > target else "exactly right"
    return -abs(out - target), hint


def build(
    run_dir: Path,
    executor: Any = None,
    *,
    marker: Path | None = None,
    hook: Callable[[str, int], None] | None = None,
) -> tuple[Trainer, ScriptedClient]:
    """The task; with ``marker``, the first evaluation of k=2 kills its worker after paying
    for its model call (and leaves the marker, so the retry lives)."""
    model = ScriptedClient(["0"] * 100, model="offsetter")
    x = tg.param(0.0, name="x", description="the number to find")

    @tg.op
    def offset(k: float) -> float:
        """Ask the model for an offset to add."""
        ask = [{"role": "user", "content": f"offset for {k}?"}]
        return float(model.complete(ask, label="workflow").text)

    @tg.op
    def combine(v: float, k: float, extra: float) -> float:
        """v * k + extra."""
        return v * k + extra

    def workflow(k: float) -> Node:
        out = combine(x, k, offset(k))
        if marker is not None and k == 2.0 and not marker.exists():
            marker.touch()
            os._exit(1)  # the worker dies mid-evaluation; its model call was paid
        return out

    replies = [json.dumps({"reasoning": "scripted", "updates": {"x": v}}) for v in (3.0, 5.0)]
    proposer = ScriptedClient(replies, model="proposer")
    trainer = Trainer(
        workflow, GraphOptimizer([x], llm=proposer), train=[(1.0, 5.0), (2.0, 10.0)],
        feedback=score_fn(closeness), batch_size=1, epochs=1, patience=None, quiet=True,
        run_dir=run_dir, clients=[model], budget=Budget(max_calls=100), executor=executor,
        hook=hook,
    )  # fmt: skip
    return trainer, proposer


def summary(run_dir: Path) -> list[dict[str, Any]]:
    """What a run decided, step by step (no timings): scores, verdicts, params, feedback."""
    rd = RunDir(run_dir)
    rows = []
    for step in rd.iter_steps():
        folder = rd.step_path(step.step)
        rows.append({
            "step": step.step, "val": step.record.get("val_score"),
            "accepted": step.record.get("accepted"), "params": step.params,
            "train": json.loads((folder / "feedback.json").read_text()),
            "val_rows": json.loads((folder / "val.json").read_text()),
        })  # fmt: skip
    return rows


def problems(proposer: ScriptedClient) -> list[str]:
    """What the optimizer's model was asked, auto-numbered node names masked."""
    return [_AUTO.sub(r"\1_#", json.dumps(r["messages"])) for r in proposer.requests]


def remote_entries(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "calls.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("remote")]


def same_run(ray_result: FitResult, local_result: FitResult) -> None:
    for name in ("status", "steps", "best_step", "best_score", "best_params"):
        assert getattr(ray_result, name) == getattr(local_result, name), name


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FitResult, Path, list[str]]:
    run_dir = tmp_path_factory.mktemp("local") / "run"
    trainer, proposer = build(run_dir)
    return trainer.fit(), run_dir, problems(proposer)


@pytest.mark.usefixtures("cluster")
def test_a_fit_on_ray_matches_the_local_run(
    tmp_path: Path, local_run: tuple[FitResult, Path, list[str]]
) -> None:
    local, local_dir, local_problems = local_run
    trainer, proposer = build(tmp_path / "run", on_ray())
    result = trainer.fit()
    assert local.steps == 2 and local.best_params == {"x": 5.0} and local.best_score == 0.0
    same_run(result, local)
    assert summary(tmp_path / "run") == summary(local_dir)
    assert problems(proposer) == local_problems  # the rebuilt traces read the same
    # Every workflow call was charged (by the ledger) and journaled (as remote entries).
    assert trainer.budget.used.calls == result.usage.calls == local.usage.calls == 10
    assert sum(e["usage"]["calls"] for e in remote_entries(tmp_path / "run")) == 8
    assert RunDir(tmp_path / "run").read_run()["config"]["executor"] == "RayExecutor"


@pytest.mark.usefixtures("cluster")
def test_a_killed_worker_is_retried_and_each_evaluation_counted_once(
    tmp_path: Path, local_run: tuple[FitResult, Path, list[str]]
) -> None:
    local, local_dir, _ = local_run
    marker = tmp_path / "died"
    trainer, _ = build(tmp_path / "run", on_ray(), marker=marker)
    result = trainer.fit()
    assert marker.exists()  # a worker did die
    same_run(result, local)
    assert summary(tmp_path / "run") == summary(local_dir)  # one row per example, no more
    entries = remote_entries(tmp_path / "run")
    assert sum(e["attempts"] for e in entries) == sum(e["evaluations"] for e in entries) + 1
    # The dead attempt's model call was paid and its reply kept in the step's cache, where the
    # retry found it: charged and journaled once, as many calls as the local run made.
    assert trainer.budget.used.calls == result.usage.calls == local.usage.calls


@pytest.mark.usefixtures("cluster")
def test_resume_after_a_crash_on_ray_pays_no_call_twice(
    tmp_path: Path, local_run: tuple[FitResult, Path, list[str]]
) -> None:
    local, local_dir, _ = local_run

    def crash(point: str, step: int) -> None:
        if (point, step) == ("after_apply", 2):  # step 2's evaluations and proposal are paid
            raise Crash

    trainer, _ = build(tmp_path / "run", on_ray(), hook=crash)
    with pytest.raises(Crash):
        trainer.fit()
    again, proposer = build(tmp_path / "run", on_ray())
    result = again.fit(resume=True)
    same_run(result, local)
    assert summary(tmp_path / "run") == summary(local_dir)
    assert proposer.requests == []  # the optimizer's call came back from the journal
    assert result.usage.calls == local.usage.calls  # the redone evaluation came from the cache
    assert again.budget.used.calls == local.usage.calls


@pytest.mark.usefixtures("cluster")
def test_a_workflow_that_cannot_travel_is_named_before_anything_runs(tmp_path: Path) -> None:
    import threading

    from optimizers.executors import NotSerializable

    lock = threading.Lock()
    x = tg.param(0.0, name="x")

    @tg.op
    def guarded(v: float, k: float) -> float:
        """Multiply under a lock."""
        with lock:
            return v * k

    executor, closed = on_ray(), list[None]()
    close = executor.close
    executor.close = lambda: closed.append(close())  # type: ignore[method-assign]
    trainer = Trainer(
        lambda k: guarded(x, k), GraphOptimizer([x], llm=ScriptedClient([])),
        train=[(1.0, 5.0)], feedback=score_fn(closeness), quiet=True,
        run_dir=tmp_path / "run", executor=executor,
    )  # fmt: skip
    with pytest.raises(NotSerializable, match=r"lock cannot be sent to Ray workers"):
        trainer.fit()
    assert closed == [None]  # the trainer closed the executor on the way out
