"""The progress bar: elapsed time and ETA, what a step is doing (examples evaluated, calls in
flight), the right count on resume, and the stop reason printed after the last step is drawn."""

from __future__ import annotations

import io
import re
from pathlib import Path

from optimizers.trainer.progress import ProgressView, StepPhase
from tests.optimizers.trainer.tasks import prompt_task


def bar_output(run_dir: Path, *, resume: bool = False) -> tuple[str, object]:
    trainer, worker, _ = prompt_task(run_dir, quiet=False)
    stream = io.StringIO()
    original = ProgressView.__init__

    def to_stream(self: ProgressView, *args: object, **kwargs: object) -> None:
        kwargs["stream"] = stream
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    ProgressView.__init__ = to_stream  # type: ignore[method-assign]
    try:
        trainer.fit(resume=resume)
    finally:
        ProgressView.__init__ = original  # type: ignore[method-assign]
    return stream.getvalue(), worker


def test_the_bar_ends_at_the_last_step_then_says_why_it_stopped(tmp_path: Path) -> None:
    out, _ = bar_output(tmp_path / "run")
    assert re.search(r"step 6/6 .* \d:\d\d:\d\d eta 0:00:00", out), out
    assert out.index("6/6") < out.index("stopped after step 6: all steps done")
    run_dir = tmp_path / "run"
    assert out.rstrip().endswith(
        f"look into it: tracegraph view {run_dir}; report: {run_dir / 'report.html'}"
    )
    assert "0/6" not in out.split("6/6")[-1]


def test_a_finished_run_resumed_shows_six_of_six_not_zero(tmp_path: Path) -> None:
    bar_output(tmp_path / "run")
    out, worker = bar_output(tmp_path / "run", resume=True)
    assert "step 6/6" in out and "0/6" not in out
    assert "stopped after step 6" in out
    assert worker.sent == 0  # nothing redone


def test_the_phase_counts_examples_and_calls_in_flight(tmp_path: Path) -> None:
    seen: list[str] = []
    trainer, worker, _ = prompt_task(tmp_path / "run", concurrency=1, max_steps=1)
    worker.gate = lambda: seen.append(trainer._view.phase.text())
    trainer.fit()
    # The baseline validates 4 examples, one at a time: each call is made while the ones before
    # it are judged, and it is the one call in flight.
    assert seen[:4] == [f"val {i}/4 · 1 call in flight" for i in range(4)]
    assert "train 0/2 · 1 call in flight" in seen
    assert trainer._view.phase.text() == ""  # cleared once the step is committed


def test_the_phase_text() -> None:
    phase = StepPhase(lambda: 2)
    assert phase.text() == ""
    phase.start("train", 8)
    for _ in range(3):
        phase.advance()
    assert phase.text() == "train 3/8 · 2 calls in flight"
