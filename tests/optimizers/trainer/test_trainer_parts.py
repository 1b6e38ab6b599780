"""The trainer's parts on their own: the acceptance rule, the run directory, the call journal."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from optimizers import Budget, BudgetExceeded, ScriptedClient
from optimizers.trainer.journal import CallJournal
from optimizers.trainer.rundir import RunDir, RunDirError, atomic_write_text
from optimizers.trainer.selection import decide, stderr

scores = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=30)


@given(scores)
def test_a_tie_is_never_accepted(values: list[float]) -> None:
    assert not decide(values, values).accepted


@given(scores, st.floats(0.0, 5.0), st.floats(0.0, 2.0))
def test_a_uniform_gain_is_accepted_iff_it_beats_min_delta(
    values: list[float], gain: float, min_delta: float
) -> None:
    # Every example improves by the same amount: no noise (se 0), so only min_delta matters.
    shifted = [v + gain for v in values]
    got = decide(shifted, values, min_delta=min_delta)
    real_gain = sum(s - v for s, v in zip(shifted, values, strict=True)) / len(values)
    assert got.accepted == (real_gain > max(min_delta, got.threshold))
    if gain > min_delta + 1e-6:
        assert got.accepted


@given(scores, scores)
def test_the_threshold_is_the_standard_error_of_the_paired_differences(
    a: list[float], b: list[float]
) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    want = statistics.stdev(diffs) / math.sqrt(n) if n > 1 else 0.0
    got = decide(a, b, noise=1.0)
    assert got.threshold == pytest.approx(want, abs=1e-9)
    assert got.accepted == (got.gain > got.threshold)
    assert ("accepted" if got.accepted else "rejected") in got.reason


def test_stderr_matches_the_textbook_formula() -> None:
    assert stderr([1.0]) == 0.0
    assert stderr([2.0, 4.0, 6.0]) == pytest.approx(2.0 / math.sqrt(3))


def test_unpaired_scores_are_an_error() -> None:
    with pytest.raises(ValueError, match="same examples"):
        decide([1.0], [1.0, 2.0])


# -- the run directory ------------------------------------------------------------------------
def test_atomic_write_leaves_the_old_file_when_interrupted_before_the_rename(
    tmp_path: Path,
) -> None:
    target = tmp_path / "f.json"
    target.write_text("old")

    def crash() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new", before_rename=crash)
    assert target.read_text() == "old"
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_uncommitted_step_folders_are_discarded(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.create({"config": {}})
    for step in (0, 1, 2):
        rd.write_step(step, {"step.json": "{}", "params.json": "{}"})
    rd.write_checkpoint({"step": 1})
    (rd.steps_path / ".tmp-000003-1").mkdir()
    assert rd.step_numbers() == [0, 1]  # step 2 is on disk but not committed
    assert rd.discard_uncommitted(1) == [2]
    assert sorted(p.name for p in rd.steps_path.iterdir()) == ["000000", "000001"]


def test_a_run_directory_is_created_only_where_nothing_is(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(RunDirError, match="already holds other files"):
        RunDir(tmp_path / "busy").create({})
    RunDir(tmp_path / "new").create({})
    with pytest.raises(RunDirError, match="already holds a run"):
        RunDir(tmp_path / "new").create({})


def test_a_checkpoint_of_another_version_is_refused(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    rd.create({})
    (rd.path / "checkpoint.json").write_text(json.dumps({"version": 7, "step": 0}))
    with pytest.raises(RunDirError, match="format version 1"):
        rd.read_checkpoint()


# -- the call journal -------------------------------------------------------------------------
class Answer(BaseModel):
    value: int


def ask(llm: ScriptedClient, text: str) -> Answer:
    reply = llm.complete([{"role": "user", "content": text}], schema=Answer, label="t")
    assert isinstance(reply.parsed, Answer)
    return reply.parsed


def test_calls_after_the_checkpoint_replay_free_and_parsed(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    first = ScriptedClient(['{"value": 1}', '{"value": 2}'])
    journal = CallJournal(path)
    journal.attach(first)
    journal.step = 1
    assert ask(first, "a").value == 1
    journal.step = 2
    assert ask(first, "b").value == 2
    journal.detach()
    assert "complete" not in first.__dict__  # its own methods are back
    # Step 1 was committed, step 2 was not: only step 2's call is replayed.
    second = ScriptedClient(['{"value": 9}'])
    again = CallJournal(path)
    assert again.load(committed_step=1) == 1
    again.attach(second)
    assert ask(second, "b").value == 2 and second.remaining == 1  # free, same answer
    assert ask(second, "a").value == 9  # step 1's call is not replayed: a new call
    assert again.replayed == 1 and again.paid.calls == 3


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    llm = ScriptedClient(['{"value": 1}'])
    journal = CallJournal(path)
    journal.attach(llm)
    journal.step = 1
    ask(llm, "a")
    with open(path, "a") as fh:
        fh.write('{"seq": 2, "step": 1, "keys": ["x"')  # the process died mid-append
    again = CallJournal(path)
    assert again.load(committed_step=0) == 1
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 1


def test_the_budget_is_charged_before_each_new_call_and_spans_resumes(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    llm = ScriptedClient(['{"value": 1}', '{"value": 2}', '{"value": 3}'])
    journal = CallJournal(path, budget=Budget(max_calls=2))
    journal.attach(llm)
    ask(llm, "a")
    ask(llm, "b")
    with pytest.raises(BudgetExceeded):
        ask(llm, "c")
    assert llm.remaining == 1  # the third call was never sent
    again = CallJournal(path, budget=Budget(max_calls=2))
    again.load(committed_step=5)
    again.attach(llm)
    with pytest.raises(BudgetExceeded):  # the two calls made before count
        ask(llm, "c")


def test_a_client_that_charges_the_budget_itself_is_not_charged_twice(tmp_path: Path) -> None:
    budget = Budget(max_calls=2)
    llm = ScriptedClient(['{"value": 1}', '{"value": 2}'], budget=budget)
    journal = CallJournal(tmp_path / "calls.jsonl", budget=budget)
    journal.attach(llm)
    ask(llm, "a")
    ask(llm, "b")
    assert budget.used.calls == 2
