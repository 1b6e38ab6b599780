"""Trainer callbacks: what they are told and when; a failing callback never stops a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optimizers import Budget, ScriptedClient, StepReport
from optimizers.callbacks import Callback, CallbackWarning, StepScores
from tests.optimizers.trainer.tasks import numeric_task, updates

PROPOSALS = (3.0, 5.0, 9.0, 4.0)


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.scores: list[StepScores] = []
        self.reports: list[StepReport | None] = []

    def on_run_start(self, trainer: Any, *, resumed: bool) -> None:
        self.events.append(("start", resumed))

    def on_validation(self, trainer: Any, step: int, scores: list[float]) -> None:
        self.events.append(("val", step, len(scores)))

    def on_step_end(self, trainer: Any, report: StepReport | None, scores: StepScores) -> None:
        self.events.append(("step", scores.step))
        self.scores.append(scores)
        self.reports.append(report)

    def on_run_end(self, trainer: Any, result: Any) -> None:
        self.events.append(("end", result.status, result.steps))


class Broken(Callback):
    def on_run_start(self, trainer: Any, *, resumed: bool) -> None:
        raise RuntimeError("tracking server down")

    def on_step_end(self, trainer: Any, report: StepReport | None, scores: StepScores) -> None:
        if scores.step == 2:
            raise ValueError("cannot log step 2")


def test_callbacks_see_every_step_in_order(tmp_path: Path) -> None:
    rec = Recorder()
    llm = ScriptedClient([updates({"x": v}) for v in PROPOSALS])
    result = numeric_task(llm, run_dir=tmp_path / "run", epochs=2, callbacks=[rec]).fit()
    assert rec.events == [
        ("start", False),
        *[e for k in range(5) for e in (("val", k, 2), ("step", k))],
        ("end", "finished", 4),
    ]
    assert rec.reports[0] is None and all(isinstance(r, StepReport) for r in rec.reports[1:])
    assert rec.reports[1] is not None and rec.reports[1].applied == {"x": (0.0, 3.0)}
    on_disk = [
        json.loads((tmp_path / "run" / "steps" / f"{k:06d}" / "step.json").read_text())
        for k in range(5)
    ]
    assert [s.val_score for s in rec.scores] == [r["val_score"] for r in on_disk]
    assert [s.accepted for s in rec.scores] == [True, True, True, False, False]
    assert rec.scores[-1].best_score == result.best_score == 0.0
    assert rec.scores[1].usage.calls == 1 and rec.scores[-1].total.calls == 4
    assert rec.scores[2].metrics()["best_score"] == 0.0


def test_a_failing_callback_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    plain = numeric_task(ScriptedClient([updates({"x": v}) for v in PROPOSALS]), epochs=2).fit()
    rec = Recorder()
    llm = ScriptedClient([updates({"x": v}) for v in PROPOSALS])
    trainer = numeric_task(llm, run_dir=tmp_path / "run", epochs=2, callbacks=[Broken(), rec])
    with pytest.warns(CallbackWarning) as caught:
        result = trainer.fit()
    assert any("tracking server down" in str(w.message) for w in caught)
    assert (result.status, result.steps, result.best_params) == (
        plain.status,
        plain.steps,
        plain.best_params,
    )
    assert len(rec.scores) == 5  # the callback after the broken one was still called
    assert any("cannot log step 2" in str(w.message) for w in caught)
    lines = (tmp_path / "run" / "callbacks.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    assert [(e["callback"], e["method"], e["step"]) for e in logged] == [
        ("Broken", "on_run_start", 0),
        ("Broken", "on_step_end", 2),
    ]
    assert trainer.callbacks.errors == logged


def test_resume_tells_callbacks_it_resumed(tmp_path: Path) -> None:
    llm = ScriptedClient([updates({"x": v}) for v in PROPOSALS])
    numeric_task(llm, run_dir=tmp_path / "run", budget=Budget(max_calls=2)).fit()
    rec = Recorder()
    llm2 = ScriptedClient([updates({"x": v}) for v in (4.0, 6.0)])
    again = numeric_task(
        llm2, run_dir=tmp_path / "run", budget=Budget(max_calls=4), callbacks=[rec]
    )
    again.fit(resume=True)
    assert rec.events[0] == ("start", True)
    assert [s.step for s in rec.scores] == [3, 4]
