"""The viewer's readers on real runs: what the pages are built from, read-only and tolerant of
a run directory that is being written; and the `tracegraph view` command itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from optimizers.view.data import RunReader, find_runs
from optimizers.view.files import JournalTail
from optimizers.view.lineage import lineage
from tests.optimizers.trainer.tasks import prompt_task
from tests.optimizers.view.runs import LINES, lineage_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACEGRAPH_FSYNC", "0")
        prompt_task(root / "a" / "prompt")[0].fit()
        lineage_run(root / "lineage").fit()
    return root


def test_a_root_lists_its_runs_and_a_run_lists_itself(runs: Path) -> None:
    assert find_runs(runs) == {"a/prompt": runs / "a" / "prompt", "lineage": runs / "lineage"}
    assert find_runs(runs / "lineage") == {"lineage": runs / "lineage"}
    assert find_runs(runs / "a" / "prompt" / "steps") == {}


def test_the_overview_agrees_with_the_run_directory(runs: Path) -> None:
    view = RunReader(runs / "a" / "prompt").overview()
    ckpt = json.loads((runs / "a" / "prompt" / "checkpoint.json").read_text())
    journal = (runs / "a" / "prompt" / "calls.jsonl").read_text().splitlines()
    assert (view["status"], view["step"], view["total_steps"]) == ("finished", 6, 6)
    assert (view["best_step"], view["best_score"]) == (ckpt["best_step"], ckpt["best_score"])
    assert view["calls"] == len(journal) == sum(r["calls"] for r in view["rows"])
    assert [r["step"] for r in view["rows"]] == list(range(7))
    assert view["rows"][0]["verdict"] == "baseline" and view["eta"] is None
    assert view["in_step"] is None and view["idle"] is None  # a finished run is not waited on
    assert all(r["why"] for r in view["rows"])  # the decision sentence of every step


def test_a_step_has_its_decision_reasoning_calls_examples_trace_and_diff(runs: Path) -> None:
    step = RunReader(runs / "lineage").step(2)
    assert step is not None
    assert step["row"]["why"].startswith("accepted")
    assert step["reasoning"] == "the feedback asks for 'Mention beta.'"
    assert [c["label"] for c in step["calls"]] == ["optimizer:graph"]
    assert "Mention alpha." in step["calls"][0]["messages"][-1]["content"]
    assert json.loads(step["calls"][0]["reply"])["updates"]["prompt"].endswith("Mention beta.")
    assert [r["text"] for r in step["feedback"]] == ["missing: beta, gamma"] * 2
    assert step["diffs"][0]["name"] == "prompt" and "+Mention beta." in step["diffs"][0]["diff"]
    nodes = {n["name"]: n for n in step["trace"]["nodes"]}
    assert nodes["prompt"]["received"] and nodes["prompt"]["path"]
    # The graph shows the value the step learned from, not the one it produced.
    assert "Mention beta" not in nodes["prompt"]["value"]


def test_the_lineage_names_the_step_that_wrote_each_line(runs: Path) -> None:
    found = lineage(RunReader(runs / "lineage"))
    assert found["best_step"] == 3
    (prompt,) = found["params"]
    assert [(x["text"], x["step"]) for x in prompt["lines"]] == list(
        zip(LINES, range(4), strict=True)
    )
    assert found["steps"]["3"]["feedback"] == ["missing: gamma", "missing: gamma"]


def test_a_run_being_written_is_read_without_errors(runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs / "lineage", run)
    shutil.copytree(run / "steps" / "000003", run / "steps" / "000004")  # not committed yet
    (run / "steps" / "000002" / "step.json").write_text('{"step": 2, "val_')  # torn
    (run / "trace_only").mkdir()
    with open(run / "calls.jsonl", "a") as fh:
        fh.write('{"seq": 99, "step": 4, "usage": {"calls": 1')  # half-written line
    reader = RunReader(run)
    view = reader.overview()
    assert [r["step"] for r in view["rows"]] == [0, 1, 3]
    assert reader.step(4) is None and reader.step(2) is None
    calls = view["calls"]
    with open(run / "calls.jsonl", "a") as fh:
        fh.write("}}\n")
    assert reader.overview()["calls"] == calls + 1  # the line counts once it is whole


def test_an_old_run_without_trace_json_still_opens(runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "old"
    shutil.copytree(runs / "lineage", run)
    for path in run.glob("steps/*/trace.json"):
        path.unlink()
    step = RunReader(run).step(1)
    assert step is not None and step["trace"] is None and step["has_dot"]


def test_the_journal_is_read_again_when_it_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text('{"step": 1, "usage": {"calls": 1}}\n{"step": 1, "usage": {"calls": 1}}\n')
    tail = JournalTail(path)
    tail.refresh()
    assert tail.total["calls"] == 2
    path.write_text('{"step": 1, "usage": {"calls": 1}}\n')  # a resume cut a torn line
    tail.refresh()
    assert tail.total["calls"] == 1 and len(tail.entries(1)) == 1


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


def test_reading_leaves_the_run_directory_as_it_was(runs: Path) -> None:
    before = snapshot(runs)
    reader = RunReader(runs / "lineage")
    reader.overview()
    for step in reader.committed():
        reader.step(step)
    lineage(reader)
    assert snapshot(runs) == before


def test_the_view_command_serves_the_run_on_localhost(runs: Path) -> None:
    from tests.optimizers.view.helpers import free_port

    pytest.importorskip("starlette", reason="the viewer needs the `view` extra")
    port = free_port()
    cmd = [sys.executable, "-m", "optimizers.cli", "view", str(runs), "--port", str(port),
           "--no-open"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}/" in (server.stdout.readline() if server.stdout else "")
        deadline, body = time.monotonic() + 30, None
        while body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs") as r:
                    body = json.load(r)
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert sorted(r["run"]["id"] for r in body) == ["a/prompt", "lineage"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            page = r.read().decode()
        assert '<main id="main">' in page and "EventSource" in page
    finally:
        server.terminate()
        server.wait(10)
