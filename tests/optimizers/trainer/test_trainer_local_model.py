"""The prompt example trained for a few steps by the Trainer on the real local model.

Marked ``local_model`` (slow: a real 1.5B model on the CPU). Checks structure and bookkeeping,
never exact text: the run finishes, every step folder is complete, the journal holds every paid
call, and resuming the finished run costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer
from optimizers.llm.local.files import WeightsNotInstalledError
from optimizers.llm.local.weights import WEIGHT_SETS, check_runtime, locate_chunks
from optimizers.trainer import Trainer, exact_match
from optimizers.trainer.report import render_report
from optimizers.trainer.rundir import RunDir

pytestmark = pytest.mark.local_model


def _missing_reason() -> str | None:
    try:
        check_runtime()
        locate_chunks(WEIGHT_SETS["1.5b"])
    except WeightsNotInstalledError as exc:
        return f"the [local] extra is not installed: {exc}"
    return None


_MISSING = _missing_reason()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)


def build(run_dir: Path) -> Trainer:
    from prompt_tuning import START_PROMPT, make_dataset, make_student

    from optimizers import local_model

    llm = local_model(quiet=True, cache=run_dir.parent / "replies.sqlite")
    answer = make_student(llm)
    prompt = tg.param(START_PROMPT, name="system_prompt", max_length=300,
                      description="the student's system prompt")  # fmt: skip
    data = make_dataset(n=4)
    return Trainer(
        lambda q: answer(prompt, q), GraphOptimizer([prompt], llm=llm, max_tokens=300),
        train=data, val=data[:2], feedback=exact_match(), batch_size=2, epochs=1,
        concurrency=1, run_dir=run_dir, patience=None, quiet=True, clients=[llm],
    )  # fmt: skip


def test_the_trainer_runs_the_prompt_example_on_the_local_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = build(run_dir).fit()
    assert result.status == "finished" and result.steps == 2
    assert result.best_score is not None and 0.0 <= result.best_score <= 1.0
    rd = RunDir(run_dir)
    assert rd.step_numbers() == [0, 1, 2]
    for step in (1, 2):
        folder = rd.step_path(step)
        assert (folder / "problems" / "000.md").exists() and (
            folder / "replies" / "000.txt"
        ).exists()
        assert (folder / "trace.dot").read_text().startswith("digraph")
    journal = (run_dir / "calls.jsonl").read_text().splitlines()
    assert 0 < len(journal) <= result.usage.calls + result.usage.cache_hits  # re-asks add calls
    assert "Learning curve" in render_report(rd)
    again = build(run_dir).fit(resume=True)  # finished: nothing to redo, nothing to pay
    assert again.status == "finished" and again.usage.calls == result.usage.calls
