"""Run directories against a second process and against edited or damaged files (issue 10,
found-item 6): an exclusive lock, a checkpoint checked against its run, missing step folders and
a shortened journal noticed, the user's cache or cassette accepted, every CLI error ``error:``
with exit status 2."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tracegraph as tg
from optimizers import Cassette, GraphOptimizer, ScriptedClient, Trainer, cli
from optimizers.trainer import score_fn
from optimizers.trainer.rundir import RunDir, RunDirError


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAPH_FSYNC", "0")


@tg.op
def scale(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k


def closeness(out: float, target: float) -> tuple[float, str]:
    return -abs(out - target), "larger" if out < target else "smaller"


def reply(x: float) -> str:
    return json.dumps({"reasoning": "scripted", "updates": {"x": x}})


def trainer(run_dir: Path, *, llm: Any = None, **kwargs: Any) -> Trainer:
    x = tg.param(0.0, name="x", description="the number to find")
    llm = llm or ScriptedClient([reply(v) for v in (1.0, 3.0, 5.0, 4.0, 6.0, 5.5)])
    settings: dict[str, Any] = {"batch_size": 1, "epochs": 2, "patience": None, "quiet": True}
    settings.update(kwargs)
    return Trainer(
        lambda k: scale(x, k),
        GraphOptimizer([x], llm=llm),
        train=[(1.0, 5.0), (2.0, 10.0)],
        feedback=score_fn(closeness),
        run_dir=run_dir,
        **settings,
    )


@pytest.fixture
def done(tmp_path: Path) -> Path:
    """A run of 3 steps (of 4 configured), stopped there: resumable."""
    run_dir = tmp_path / "run"
    trainer(run_dir, max_steps=3).fit()
    return run_dir


def edit(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = run_dir / "checkpoint.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def resume_error(run_dir: Path) -> str:
    with pytest.raises(RunDirError) as info:
        trainer(run_dir).fit(resume=True)
    return str(info.value)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.stderr


# -- the lock ----------------------------------------------------------------------------------
def test_a_second_process_cannot_run_or_resume_a_locked_run(done: Path) -> None:
    # The attack: two `tracegraph resume` on one run both ran and paid 24-29 calls twice.
    with RunDir(done).lock(create=False):  # held as another process would hold it
        message = resume_error(done)
        assert "in use by another process" in message and f"pid {os.getpid()}" in message
        fresh = done.parent / "fresh"
        with RunDir(fresh).lock(create=True), pytest.raises(RunDirError, match="in use"):
            trainer(fresh).fit()
    trainer(done).fit(resume=True)  # released: resumes


def test_the_lock_is_released_when_fit_ends_or_fails(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(Exception, match="ran out"):
        trainer(run_dir, llm=ScriptedClient([reply(1.0)])).fit()
    with RunDir(run_dir).lock(create=False):
        pass  # not held any more


# -- the checkpoint checked against its run ---------------------------------------------------
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(step=99), "steps/000004"),  # was: ended the run as "finished"
        (lambda c: c.update(step=-5), "step -5"),  # was: overwrote the baseline
        (lambda c: c.update(step="2"), "step '2'"),
        (lambda c: c.pop("optimizer"), "optimizer state is missing"),  # was: silent reset
        (lambda c: c.update(optimizer={}), "optimizer state lacks"),
        (lambda c: c["params"].update(y=1.0), "does not train: ['y']"),  # was: ignored
        (lambda c: c["best_params"].pop("x"), "best_params has no value for ['x']"),
        (lambda c: c.update(best_step=7), "best_step is 7"),
        (lambda c: c.update(status="done"), "status is 'done'"),
        (lambda c: c.update(scores=[1.0]), "scores is not a list of 2"),
        (lambda c: c["params"].update(x=123.0), "differ from steps/000003/params.json"),
    ],
)
def test_an_edited_checkpoint_is_refused(
    done: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit(done, change)
    message = resume_error(done)
    assert "does not fit this run" in message or "checkpoint" in message
    assert expected in message


def test_a_value_its_parameter_refuses_is_a_clear_error(done: Path) -> None:
    edit(done, lambda c: c["params"].update(x="not a number"))
    step = json.loads((done / "checkpoint.json").read_text())["step"]
    params = done / "steps" / f"{step:06d}" / "params.json"
    params.write_text(json.dumps({"x": "not a number"}))
    message = resume_error(done)
    assert "values do not fit the parameters" in message and "x" in message


def test_a_missing_step_folder_is_noticed_by_resume_and_inspect(done: Path) -> None:
    shutil.rmtree(done / "steps" / "000001")
    assert "steps/000001 is missing" in resume_error(done)
    code, err = invoke("inspect", str(done))
    assert code == 2 and err.startswith("error:") and "000001" in err


def test_a_shortened_journal_is_noticed(done: Path) -> None:
    journal = done / "calls.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]))
    assert "journal was shortened" in resume_error(done)
    code, err = invoke("report", str(done))
    assert code == 2 and err.startswith("error:") and "shortened" in err


@pytest.mark.parametrize("command", ["inspect", "report"])
@pytest.mark.parametrize("damage", ["{not json", '["a list"]', '{"report": 5, "usage": "x"}'])
def test_a_damaged_step_json_is_an_error_not_a_traceback(
    done: Path, command: str, damage: str
) -> None:
    # Was: a traceback and exit status 1.
    (done / "steps" / "000002" / "step.json").write_text(damage)
    code, err = invoke(command, str(done))
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err


# -- the user's cache and cassette in the run directory ---------------------------------------
def test_a_cache_and_cassette_kept_in_the_run_directory_are_accepted(tmp_path: Path) -> None:
    # The documented recipe OpenAIClient(cache=run_dir / "cache.sqlite") made `tracegraph run`
    # refuse the directory it had just put the cache in.
    run_dir = tmp_path / "run"
    replies = [reply(v) for v in (1.0, 3.0, 5.0, 4.0)]
    cassette = Cassette(run_dir / "recorded.jsonl", mode="record")
    llm = ScriptedClient(replies, cache=run_dir / "cache.sqlite", cassette=cassette)
    result = trainer(run_dir, llm=llm).fit()
    assert result.status == "finished"
    assert (run_dir / "cache.sqlite").exists() and (run_dir / "run.json").exists()


def test_other_files_in_a_new_run_directory_are_still_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "fake.jsonl").write_text('{"not": "a cassette"}\n')
    with pytest.raises(RunDirError, match="other files"):
        trainer(run_dir).fit()
