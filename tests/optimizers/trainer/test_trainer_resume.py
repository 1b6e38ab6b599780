"""Resume after a crash at every point of a step gives the run an uninterrupted one gives.

The crash is a BaseException raised by the trainer's injected hook (nothing in the trainer
catches it, as nothing catches a kill). The resumed trainer is built from scratch, as a new
process would build it. "Same final state" is compared on the checkpoint (parameters, scores,
best, optimizer state) and on every step's record; "no paid call repeated" on the number of
calls that reached the models, summed over the crashed and the resumed halves.
A last test kills a real process with SIGKILL through the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optimizers.trainer.rundir import RunDir
from tests.optimizers.trainer.tasks import prompt_task

POINTS = [
    "step_start",
    "before_call",
    "after_call",
    "after_apply",
    "before_checkpoint",
    "during_checkpoint",
    "after_checkpoint",
]


class Crash(BaseException):
    """Stands for a kill: not an Exception, so no `except Exception` can swallow it."""


def crash_at(point: str, step: int, nth: int = 1) -> Any:
    seen = {"n": 0}

    def hook(at: str, k: int) -> None:
        if at == point and k == step:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(f"{point} of step {step}")

    return hook


def final_state(run_dir: Path) -> dict[str, Any]:
    """What must not depend on whether the run was interrupted (no timings, no node names)."""
    rd = RunDir(run_dir)
    ckpt = rd.read_checkpoint()
    assert ckpt is not None
    keep = (
        "step",
        "params",
        "scores",
        "best_step",
        "best_params",
        "best_scores",
        "stale",
        "status",
    )
    steps = []
    for s in rd.iter_steps():
        r = s.record
        report = r.get("report") or {}
        steps.append(
            (s.step, s.params, r.get("val_score"), r.get("accepted"), report.get("applied"),
             report.get("proposed"), r.get("usage", {}).get("calls"))
        )  # fmt: skip
    opt = dict(ckpt["optimizer"])
    return {**{k: ckpt[k] for k in keep}, "optimizer": opt, "steps": steps}


def paid_calls(run_dir: Path) -> int:
    return len((run_dir / "calls.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    trainer, worker, proposer = prompt_task(run_dir)
    trainer.fit()
    return final_state(run_dir), worker.sent + proposer.sent


@pytest.mark.parametrize("step", [1, 3])
@pytest.mark.parametrize("point", POINTS)
def test_resume_after_a_crash_matches_an_uninterrupted_run(
    tmp_path: Path, reference: tuple[dict[str, Any], int], point: str, step: int
) -> None:
    ref_state, ref_calls = reference
    run_dir = tmp_path / "run"
    # "before_call"/"after_call" fire per call: crash at the 2nd call of the step, so some
    # calls of the step were made (and paid) before the crash.
    nth = 2 if point in ("before_call", "after_call") else 1
    first, w1, p1 = prompt_task(run_dir, hook=crash_at(point, step, nth))
    with pytest.raises(Crash):
        first.fit()
    second, w2, p2 = prompt_task(run_dir)
    result = second.fit(resume=True)
    assert result.status == "finished"
    assert final_state(run_dir) == ref_state
    # Every call that reached a model was needed once: none repeated, none lost.
    assert w1.sent + p1.sent + w2.sent + p2.sent == ref_calls
    assert paid_calls(run_dir) == ref_calls
    assert second.values() == ref_state["best_params"]


def test_crash_before_the_baseline_is_committed_resumes_from_scratch(
    tmp_path: Path, reference: tuple[dict[str, Any], int]
) -> None:
    run_dir = tmp_path / "run"
    first, w1, p1 = prompt_task(run_dir, hook=crash_at("during_checkpoint", 0))
    with pytest.raises(Crash):
        first.fit()
    second, w2, p2 = prompt_task(run_dir)
    second.fit(resume=True)
    assert final_state(run_dir) == reference[0]
    assert w1.sent + p1.sent + w2.sent + p2.sent == reference[1]


def test_resuming_twice_and_resuming_a_finished_run_change_nothing(
    tmp_path: Path, reference: tuple[dict[str, Any], int]
) -> None:
    run_dir = tmp_path / "run"
    first, _, _ = prompt_task(run_dir, hook=crash_at("after_apply", 2))
    with pytest.raises(Crash):
        first.fit()
    again, _, _ = prompt_task(run_dir, hook=crash_at("after_apply", 2))
    with pytest.raises(Crash):  # the same step crashes again after its replay
        again.fit(resume=True)
    third, _, _ = prompt_task(run_dir)
    third.fit(resume=True)
    assert final_state(run_dir) == reference[0]
    done, w4, p4 = prompt_task(run_dir)
    result = done.fit(resume=True)
    assert result.status == "finished" and w4.sent + p4.sent == 0
    assert final_state(run_dir) == reference[0]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optimizers.cli", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


SCRIPT = Path(__file__).with_name("tasks.py")
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3]), "TASK_EPOCHS": "2"}


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """An uninterrupted run through the command line, and how many calls it paid for."""
    base = tmp_path_factory.mktemp("cli-ref")
    count = base / "count"
    done = _cli("run", str(SCRIPT), "--run-dir", str(base / "run"), "-q",
                env={**ENV, "TASK_COUNTER": str(count)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return base / "run", len(count.read_text().splitlines())


def test_kill_minus_nine_twice_then_resume_from_the_command_line(
    tmp_path: Path, cli_reference: tuple[Path, int]
) -> None:
    """Killed right after a paid call of step 2; the resume killed again while writing step
    4's checkpoint; the second resume finishes the run as if nothing happened."""
    ref_dir, ref_calls = cli_reference
    run_dir, count = tmp_path / "run", tmp_path / "count"
    env = {**ENV, "TASK_COUNTER": str(count)}
    killed = _cli("run", str(SCRIPT), "--run-dir", str(run_dir), "-q",
                  env={**env, "TASK_KILL_AT": "after_call:2"})  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert RunDir(run_dir).read_checkpoint()["step"] == 1  # type: ignore[index]
    again = _cli("resume", str(run_dir), "-q", env={**env, "TASK_KILL_AT": "during_checkpoint:4"})
    assert again.returncode == -9, again.stderr
    assert RunDir(run_dir).read_checkpoint()["step"] == 3  # type: ignore[index]
    assert list(run_dir.glob(".checkpoint.json.tmp-*"))  # the torn write is still there
    resumed = _cli("resume", str(run_dir), "-q", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished" in resumed.stdout
    assert final_state(run_dir) == final_state(ref_dir)
    assert not list(run_dir.glob(".*.tmp-*")) and not list(run_dir.glob("steps/.tmp-*"))
    # concurrency=2: a call in flight when a process was killed was paid but never
    # journaled, so it may be paid again; everything journaled was replayed free.
    assert ref_calls <= len(count.read_text().splitlines()) <= ref_calls + 2
    assert paid_calls(run_dir) == ref_calls
    assert json.loads((run_dir / "run.json").read_text())["source"]["factory"] == "make_trainer"
