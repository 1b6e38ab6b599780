"""The Trainer on scripted models: best-so-far, early stop, budget stop, concurrency, errors."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg
from optimizers import Budget, GraphOptimizer, ScriptedClient
from optimizers.trainer import LLMJudge, Trainer, TrainState, exact_match, score_fn
from optimizers.trainer.progress import ProgressView
from optimizers.trainer.rundir import RunDir
from tests.optimizers.trainer.tasks import RuleClient, numeric_task, prompt_task, updates


def test_keeps_best_so_far_and_reverts_a_worse_candidate(tmp_path: Path) -> None:
    # Proposals 3 (better), 5 (best), 9 (worse: must be rejected and reverted), 4 (worse).
    llm = ScriptedClient([updates({"x": v}) for v in (3.0, 5.0, 9.0, 4.0)])
    trainer = numeric_task(llm, run_dir=tmp_path / "run", epochs=2)
    result = trainer.fit()
    assert result.status == "finished" and result.steps == 4
    assert result.best_params == {"x": 5.0} and result.best_step == 2
    assert result.best_score == 0.0
    assert trainer.values() == {"x": 5.0}  # the best is in place at the end
    rd = RunDir(tmp_path / "run")
    verdicts = [s.record.get("accepted") for s in rd.iter_steps()]
    assert verdicts == [True, True, True, False, False]
    # After the rejected step 3 the parameters went back to the best (revert=True).
    assert rd.read_step(3).params == {"x": 5.0}
    assert json.loads((rd.step_path(3) / "candidate.json").read_text()) == {"x": 9.0}
    rejections = json.loads((rd.step_path(3) / "rejections.json").read_text())
    assert rejections[-1]["by"] == "trainer" and "rejected" in rejections[-1]["reasons"][0]


def test_without_revert_the_run_explores_from_the_candidate(tmp_path: Path) -> None:
    llm = ScriptedClient([updates({"x": v}) for v in (5.0, 9.0, 7.0, 6.0)])
    trainer = numeric_task(llm, run_dir=tmp_path / "run", epochs=2, revert=False)
    result = trainer.fit()
    rd = RunDir(tmp_path / "run")
    assert rd.read_step(2).params == {"x": 9.0}  # kept the rejected candidate to explore on
    assert result.best_params == {"x": 5.0} and trainer.values() == {"x": 5.0}


def test_a_gain_within_noise_is_not_accepted() -> None:
    # x=4 improves one validation example by 4 and the other by 8 vs x=0: accepted.
    # x=4.5 vs x=4: gains of 0.5 and 1 -> mean 0.75 > se 0.25: accepted, even though small;
    # with min_delta=1 it is not.
    llm = ScriptedClient([updates({"x": 4.0}), updates({"x": 4.5})])
    trainer = numeric_task(llm, epochs=1, min_delta=1.0)
    result = trainer.fit()
    assert result.best_params == {"x": 4.0}
    assert trainer.state is not None and trainer.state.stale == 1


def test_early_stop_after_patience_steps_without_improvement() -> None:
    llm = ScriptedClient([updates({"x": v}) for v in (5.0, 9.0, 8.0, 7.0, 6.0, 1.0)])
    trainer = numeric_task(llm, epochs=3, patience=2)
    result = trainer.fit()
    assert result.status == "early_stop"
    assert result.steps == 3  # 1 accepted, then 2 rejected: stop
    assert llm.remaining == 3  # no model call after the stop


def test_budget_stops_cleanly_between_steps_and_resume_continues(tmp_path: Path) -> None:
    budget = Budget(max_calls=2)
    llm = ScriptedClient([updates({"x": v}) for v in (3.0, 5.0, 4.0, 6.0)])
    trainer = numeric_task(llm, run_dir=tmp_path / "run", budget=budget)
    result = trainer.fit()
    assert result.status == "budget" and result.steps == 2
    assert llm.remaining == 2  # the third call was never sent
    ckpt = RunDir(tmp_path / "run").read_checkpoint()
    assert ckpt is not None and ckpt["status"] == "budget" and ckpt["step"] == 2
    assert trainer.values() == {"x": 5.0}
    # A bigger budget resumes after step 2 and the budget counts the calls already made.
    llm2 = ScriptedClient([updates({"x": v}) for v in (4.0, 6.0)])
    again = numeric_task(llm2, run_dir=tmp_path / "run", budget=Budget(max_calls=4))
    result2 = again.fit(resume=True)
    assert result2.status == "budget" and result2.steps == 4  # 2 more steps, then out again
    assert result2.usage.calls == 4 and llm2.remaining == 0


def test_budget_hit_mid_step_rolls_back_to_the_last_checkpoint(tmp_path: Path) -> None:
    # The prompt task calls the model in the workflow: 2 (batch) + 1 (optimizer) + 4 (val)
    # per step and 4 for the baseline. max_calls=9 runs out inside step 1's validation,
    # after the optimizer applied its update: that update must be undone.
    trainer, _, proposer = prompt_task(tmp_path / "run", budget=Budget(max_calls=9))
    result = trainer.fit()
    assert result.status == "budget" and result.steps == 0
    assert trainer.values() == {"prompt": "Answer."}
    assert proposer.sent == 1
    ckpt = RunDir(tmp_path / "run").read_checkpoint()
    assert ckpt is not None and ckpt["step"] == 0 and ckpt["params"] == {"prompt": "Answer."}
    assert not RunDir(tmp_path / "run").step_path(1).exists()


def _barrier_gate(parties: int) -> tuple[threading.Barrier, Any]:
    barrier = threading.Barrier(parties, timeout=10)
    return barrier, barrier.wait


def test_sync_workflows_overlap_up_to_the_concurrency_limit() -> None:
    # Each model call waits at a barrier for 8 parties: it only passes if 8 calls are in
    # flight at once, so the run finishing at all proves the overlap (no sleeps, no timing).
    # 8 is more than the loop's default thread pool has on a 2-core machine (6).
    _, gate = _barrier_gate(8)
    worker = RuleClient(lambda r: "ok", gate=gate)
    p = tg.param("be brief", name="prompt")

    @tg.op
    def ask(prompt: str, q: str) -> str:
        """Ask the model."""
        return worker.complete([{"role": "user", "content": f"{prompt} {q}"}]).text

    proposer = ScriptedClient([updates({"prompt": "be brief!"})])
    data = [(f"q{i}", "ok") for i in range(16)]
    trainer = Trainer(
        lambda q: ask(p, q), GraphOptimizer([p], llm=proposer), train=data, val=data[:8],
        feedback=exact_match(), batch_size=16, concurrency=8, quiet=True, clients=[worker],
    )  # fmt: skip
    result = trainer.fit()
    assert result.steps == 1
    assert worker.max_in_flight == 8  # overlapping, and never above the limit
    assert worker.sent == 8 + 16 + 8  # baseline val, batch, candidate val


async def test_async_workflows_overlap_up_to_the_concurrency_limit() -> None:
    state = {"now": 0, "max": 0}
    full = asyncio.Event()

    @tg.op
    async def slow_echo(q: str) -> str:
        """Echo after every other call in the batch has started."""
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        if state["now"] == 3:
            full.set()
        await asyncio.wait_for(full.wait(), timeout=10)
        state["now"] -= 1
        return q

    p = tg.param(1.0, name="w")

    async def workflow(q: str) -> Any:
        return scale_async(await slow_echo(q), p)

    @tg.op
    def scale_async(text: str, w: float) -> str:
        """Repeat the text w times."""
        return text * int(w)

    proposer = ScriptedClient([updates({"w": 1.0}), updates({})])  # the current value: asked again
    data = [(f"q{i}", f"q{i}") for i in range(6)]
    trainer = Trainer(
        workflow, GraphOptimizer([p], llm=proposer), train=data, feedback=exact_match(),
        batch_size=6, concurrency=3, quiet=True,
    )  # fmt: skip
    result = await trainer.afit()
    assert result.steps == 1 and state["max"] == 3


def test_an_op_that_raises_becomes_feedback_on_its_exception_node() -> None:
    @tg.trainable
    def parse(text: str) -> int:
        """Read the number at the end of the text."""
        return int(text.split()[0])

    seen: list[Any] = []

    def feedback(case: Any) -> float:
        return 1.0 if case.value == case.target else 0.0

    fixed = "def parse(text: str) -> int:\n    return int(text.split()[-1])\n"
    proposer = ScriptedClient(
        [json.dumps({"reasoning": "use the last word", "updates": {"parse": fixed}})]
    )
    code = tg.code_of(parse)
    opt = GraphOptimizer([code], llm=proposer)
    data = [("the answer is 4", 4), ("it is 7", 7)]
    trainer = Trainer(
        lambda t: parse(tg.node(t, name="text")), opt, train=data, feedback=feedback,
        batch_size=2, quiet=True,
    )  # fmt: skip
    orig_step = opt.astep

    async def spy() -> Any:
        seen.extend(r.feedback for r in code.received)
        return await orig_step()

    opt.astep = spy  # type: ignore[method-assign]
    result = trainer.fit()
    assert any("ValueError" in str(fb) for fb in seen), seen  # the exception reached the code
    assert "ValueError" in proposer.requests[0]["messages"][-1]["content"]
    assert result.best_score == 1.0 and result.best_step == 1


def test_state_round_trips_through_json() -> None:
    state = TrainState(3, {"x": 1.0}, [0.5], 2, {"x": 1.0}, [0.5], stale=1, status="running")
    again = TrainState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state


def test_a_plain_value_from_the_workflow_is_a_clear_error() -> None:
    p = tg.param(1.0, name="w")
    trainer = Trainer(
        lambda q: 1.0, GraphOptimizer([p], llm=ScriptedClient([])), train=[(1, 1.0)],
        feedback=score_fn(lambda o, t: 1.0), quiet=True,
    )  # fmt: skip
    with pytest.raises(Exception, match="plain value"):
        trainer.fit()


def test_the_progress_bar_shows_step_scores_calls_and_cost() -> None:
    stream = io.StringIO()
    with ProgressView(3, stream=stream) as view:
        view.update(step=1, score=0.5, best=0.75, calls=2, cost=0.01)
        view.note("resuming")
    text = stream.getvalue()
    assert "resuming" in text and "step 1/3" in text
    assert "score 0.5" in text and "best 0.75" in text and "calls 2" in text
    assert "cost $0.0100" in text
    quiet = io.StringIO()
    with ProgressView(3, quiet=True, stream=quiet) as view:
        view.update(step=1, score=0.5, best=0.75, calls=2, cost=0.01)
        view.note("resuming")
    assert quiet.getvalue() == ""


def test_an_llm_judge_in_a_run_is_journaled_and_charged(tmp_path: Path) -> None:
    judge_llm = ScriptedClient(
        [json.dumps({"reasons": ["vague"], "score": s}) for s in (0.2, 0.2, 0.9)]
    )
    p = tg.param("draft", name="text")

    @tg.op
    def echo(t: str, q: str) -> str:
        """Return the text."""
        return t

    trainer = Trainer(
        lambda q: echo(p, q), GraphOptimizer([p], llm=ScriptedClient([updates({"text": "final"})])),
        train=[("q", None)], feedback=LLMJudge(judge_llm, rubric="is it final?"),
        run_dir=tmp_path / "run", quiet=True, patience=None, budget=Budget(max_calls=10),
    )  # fmt: skip
    result = trainer.fit()
    assert result.best_params == {"text": "final"} and result.best_score == 0.9
    labels = [json.loads(ln)["label"] for ln in (tmp_path / "run" / "calls.jsonl").open()]
    assert [label.split(":")[0] for label in labels] == ["judge", "judge", "optimizer", "judge"]
    assert result.usage.calls == 4
