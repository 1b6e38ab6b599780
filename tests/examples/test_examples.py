"""Every example's ``main`` runs offline against scripted model replies; a marked group runs
real steps on the local model (``-m local_model``).

The scripted replies are what a good model would answer; the examples' own programs, feedback,
checks (trial runs with unit tests) and scores run for real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import agent
import buggy_function
import hyperparameters
import numeric
import prompt_tuning
import pytest
import train_prompt

import tracegraph as tg
from optimizers import ScriptedClient
from optimizers.llm.types import Reply, Usage


def reply(updates: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "from the feedback", "updates": updates})


def scores_printed(out: str) -> tuple[float, float]:
    found = re.search(r"score before: (\S+)\s+after: (\S+)", out)
    assert found, out
    return float(found.group(1)), float(found.group(2))


def picture_printed(out: str) -> Path:
    found = re.search(r"trace picture: (\S+)", out)
    assert found, out
    path = Path(found.group(1))
    assert path.exists() and path.suffix in (".svg", ".dot")
    return path


def run_main(module: Any, llm: Any, tmp_path: Path, capsys: Any, *flags: str) -> str:
    assert module.main(["--out", str(tmp_path), *flags], llm=llm) == 0
    return str(capsys.readouterr().out)


def test_numeric(tmp_path: Path, capsys: Any) -> None:
    llm = ScriptedClient([reply({"x": 10}), reply({"x": 14})])  # 35 is too small, 47 is right
    out = run_main(numeric, llm, tmp_path, capsys)
    assert scores_printed(out) == (-42.0, 0.0)
    assert (
        "The output 35 is too small: it must be 47." in llm.requests[1]["messages"][-1]["content"]
    )
    assert "x = 14" in out and picture_printed(out).name.startswith("numeric")
    story = out.splitlines()
    assert story[2].startswith("start:  x = 0   output 5   score -42")
    assert story[3].startswith("step 1: x 0 -> 10   output 35   score -12")
    assert story[5].startswith("step 2: x 10 -> 14   output 47   score 0")
    assert "end:    x = 14, output 47: solved in 2 steps" in out


def test_numeric_story_explains_a_step_the_optimizer_chose(tmp_path: Path, capsys: Any) -> None:
    llm = ScriptedClient([reply({"x": v}) for v in (2, 4, 6)])  # a model stuck at +2 a step
    out = run_main(numeric, llm, tmp_path, capsys, "--steps", "3")
    assert "step 3: x 4 -> 12   output 41   score -6" in out
    assert "note: x: the model proposed 6, 12 is applied (the direction held" in out


def test_numeric_keeps_the_better_of_two_candidates(tmp_path: Path, capsys: Any) -> None:
    llm = ScriptedClient([reply({"x": v}) for v in (10, 20, 12, 14)])
    out = run_main(numeric, llm, tmp_path, capsys, "--k", "2")
    assert scores_printed(out) == (-42.0, 0.0)
    assert "step 1: x 0 -> 10   output 35   score -12" in out  # 20 scored -18 and was dropped
    assert [r["temperature"] for r in llm.requests] == [0.0, 0.7, 0.0, 0.7]
    assert "x=20 -> score -18" in llm.requests[2]["messages"][-1]["content"]


@pytest.mark.parametrize("kind", ["textgrad", "history"])
def test_numeric_with_the_other_optimizers(kind: str, tmp_path: Path, capsys: Any) -> None:
    grads = [json.dumps({"reasoning": "", "feedback": {n: "x must grow"}}) for n in ("x",)]
    script = {
        "textgrad": [
            json.dumps({"reasoning": "", "feedback": {"scale_1": "larger"}}),
            *grads,
            reply({"x": 14}),
        ],
        "history": [reply({"x": 14})],
    }[kind]
    flags = ("--optimizer", kind)
    out = run_main(numeric, ScriptedClient(script), tmp_path, capsys, *flags)
    assert scores_printed(out) == (-42.0, 0.0)


def test_buggy_function(tmp_path: Path, capsys: Any) -> None:
    wrong = "def median(values):\n    return sorted(values)[0]\n"
    fixed = (
        "def median(values):\n    s = sorted(values)\n    n = len(s)\n"
        "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n"
    )
    llm = ScriptedClient([reply({"median": wrong}), reply({"median": fixed})])
    out = run_main(buggy_function, llm, tmp_path, capsys)
    assert scores_printed(out) == (0.5, 1.0)
    reask = llm.requests[1]["messages"][-1]["content"]  # the trial ran the unit tests
    assert "REJECTED" in reask
    assert "unit tests failed: median([3, 1, 2]) returned 1, expected 2" in reask
    assert "median([4, 1, 3, 2])" in llm.requests[0]["messages"][-1]["content"]
    with tg.no_trace():  # the fix is what the decorated function now runs
        assert buggy_function.failures(buggy_function.median) == []
    picture_printed(out)


def test_hyperparameters(tmp_path: Path, capsys: Any) -> None:
    first, second = {"top_k": 5, "threshold": 0.7}, {"top_k": 4, "threshold": 0.75}
    llm = ScriptedClient([reply(first), reply(second)])
    out = run_main(hyperparameters, llm, tmp_path, capsys)
    assert scores_printed(out) == (0.0, 1.0)
    assert "| score 0.8571" in out  # p7 kept after the first step
    second = llm.requests[1]["messages"][-1]["content"]
    assert "kept 1 irrelevant passages with similarity 0.70" in second
    picture_printed(out)


def test_agent(tmp_path: Path, capsys: Any) -> None:
    fixed = (
        "def policy(observation):\n    side = observation['goal_is']\n"
        "    return 'right' if side == 'right' else 'left' if side == 'left' else 'stay'\n"
    )
    llm = ScriptedClient([reply({"policy": fixed})])
    out = run_main(agent, llm, tmp_path, capsys)
    before, after = scores_printed(out)
    assert before < 0.2 and after == 1.0
    shown = llm.requests[0]["messages"][-1]["content"]
    assert "the episode ended at cell -6, but the goal was cell 4" in shown
    picture_printed(out)


class StudentAndOptimizer:
    """Student calls answered by a rule (exact only when told to be terse); the rest scripted."""

    model = "routed"

    def __init__(self, optimizer_replies: list[str]) -> None:
        self.optimizer = ScriptedClient(optimizer_replies)
        self.usage = self.optimizer.usage
        self.student_calls = 0

    def complete(self, messages: list[dict[str, str]], **options: Any) -> Reply:
        if options.get("label") != "student":
            return self.optimizer.complete(messages, **options)
        self.student_calls += 1
        a, b = re.findall(r"\d+", messages[-1]["content"])
        total = int(a) + int(b)
        terse = "only the number" in messages[0]["content"].lower()
        text = str(total) if terse else f"The answer is {total}."
        return Reply(text, None, Usage(calls=1), self.model)

    async def acomplete(self, messages: list[dict[str, str]], **options: Any) -> Reply:
        return self.complete(messages, **options)


def test_prompt_tuning(tmp_path: Path, capsys: Any) -> None:
    llm = StudentAndOptimizer([reply({"system_prompt": "Reply with only the number."})])
    out = run_main(prompt_tuning, llm, tmp_path, capsys)
    assert scores_printed(out) == (0.0, 1.0)
    assert llm.student_calls == 12  # the dataset, before and after
    picture_printed(out)


def test_prompt_tuning_with_best_of_n(tmp_path: Path, capsys: Any) -> None:
    replies = [
        reply({"system_prompt": "Be brief."}),
        reply({"system_prompt": "Give only the number."}),
    ]
    llm = StudentAndOptimizer(replies)
    out = run_main(prompt_tuning, llm, tmp_path, capsys, "--best-of", "2")
    assert scores_printed(out) == (0.0, 1.0)
    assert "system_prompt = 'Give only the number.'" in out


def test_every_example_has_a_test() -> None:
    # every public script; private modules (_common, _retrieval_task, __init__) are helpers
    names = {p.stem for p in (Path(__file__).parents[2] / "examples").glob("[!_]*.py")}
    tested = {"agent", "buggy_function", "hyperparameters", "numeric", "prompt_tuning"}
    tested |= {"langgraph_router", "openai_agents_calculator"}  # test_framework_examples.py
    tested |= {"train_prompt"}
    assert names == tested


# ------------------------------------------------------------------ the real local model


def _local_missing() -> str | None:
    from optimizers.errors import LLMError

    try:
        from optimizers.llm.local.weights import WEIGHT_SETS, check_runtime, locate_chunks

        check_runtime()
        locate_chunks(WEIGHT_SETS["1.5b"])
    except (ImportError, LLMError) as exc:
        return f"the [local] extra is not installed: {exc}"
    return None


@pytest.fixture(scope="module")
def local_llm() -> Any:
    missing = _local_missing()
    if missing:
        pytest.skip(missing)
    from optimizers.llm import local_model

    return local_model(quiet=True, timeout=900.0)


@pytest.mark.local_model
@pytest.mark.timeout(3600)
def test_numeric_improves_on_the_local_model(local_llm: Any, tmp_path: Path) -> None:
    outcome = numeric.run(local_llm, steps=4, out=str(tmp_path))
    assert max(outcome.scores[1:]) > outcome.before, outcome.scores
    assert any(r.applied for r in outcome.reports)


@pytest.mark.local_model
@pytest.mark.timeout(3600)
def test_buggy_function_ends_with_the_tests_passing_on_the_local_model(
    local_llm: Any, tmp_path: Path
) -> None:
    outcome = buggy_function.run(local_llm, steps=4, out=str(tmp_path))
    assert outcome.solved, (outcome.scores, outcome.values)
    with tg.no_trace():  # the function itself now passes, called plainly
        assert buggy_function.failures(buggy_function.median) == []


# -- train_prompt: the Trainer on a small dataset, with validation -----------------------------
LABELS = dict(train_prompt.TRAIN + train_prompt.VAL)
BETTER = "Reply with exactly one word: POS if the review is positive, NEG if it is negative."


def labeler_or_optimizer(system: str, last: str) -> str:
    """The student labels exactly only when its instruction names both labels; the optimizer
    (asked with its own system prompt) proposes the better instruction."""
    if system.startswith("You tune the parameters"):
        return json.dumps(
            {"reasoning": "the labels must be exact", "updates": {"instruction": BETTER}}
        )
    if system.startswith("You improve texts"):  # the rule question, once a step did not help
        return json.dumps({"problem": "not the labels", "add": "Say POS or NEG."})
    if "POS" in system and "NEG" in system:
        return LABELS[last]
    return "The review is positive." if LABELS[last] == "POS" else "It is negative."


def test_train_prompt(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizers.view.data import RunReader
    from optimizers.view.lineage import lineage
    from tests.optimizers.trainer.tasks import RuleClient

    monkeypatch.setenv("TRACEGRAPH_FSYNC", "0")
    llm = RuleClient(
        lambda r: labeler_or_optimizer(r.messages[0]["content"], r.messages[-1]["content"])
    )
    out = run_main(train_prompt, llm, tmp_path, capsys)
    assert "finished: all steps done; best score 1.0 at step 1" in out
    assert f"instruction = {BETTER!r}" in out
    run_dir = Path(re.search(r"tracegraph view (\S+);", out).group(1))  # type: ignore[union-attr]
    assert (run_dir / "report.html").exists()
    reader = RunReader(run_dir)
    rows = reader.overview()["rows"]
    assert [(r["step"], r["verdict"]) for r in rows[:2]] == [(0, "baseline"), (1, "accepted")]
    assert rows[0]["val"] == 0.0 and rows[1]["val"] == 1.0
    (param,) = lineage(reader)["params"]
    assert param["lines"] == [{"text": BETTER, "step": 1}]


def test_tracegraph_run_trains_the_example_end_to_end(tmp_path: Path) -> None:
    """``tracegraph run examples/train_prompt.py`` in a process of its own, against a fake
    OpenAI-compatible server (real client, real HTTP): the README's quick start, offline."""
    import os
    import subprocess
    import sys

    from optimizers.llm.fakeserver import FakeOpenAIServer

    def respond(body: dict[str, Any]) -> str:
        messages = body["messages"]
        return labeler_or_optimizer(messages[0]["content"], messages[-1]["content"])

    root = Path(__file__).parents[2]
    with FakeOpenAIServer(responder=respond) as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "fake-key",
               "TRACEGRAPH_MODEL": "fake-model", "TRACEGRAPH_FSYNC": "0"}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "optimizers.cli", "run",
             str(root / "examples" / "train_prompt.py"), "--run-dir", str(tmp_path / "run"), "-q"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best score 1 at step 1" in done.stdout
    assert f"tracegraph view {tmp_path / 'run'}" in done.stdout
    assert f"report: {tmp_path / 'run' / 'report.html'}" in done.stdout


def test_numeric_finds_the_target_where_the_scores_point(tmp_path: Path, capsys: Any) -> None:
    """Replayed from a local-model run: 15 (too large), 5 (too small), then it asked for 32."""
    llm = ScriptedClient([reply({"x": v}) for v in (15, 5, 32)])
    out = run_main(numeric, llm, tmp_path, capsys)
    assert "step 3: x 5 -> 14   output 47   score 0" in out
    assert "note: x: the model proposed 32, 14 is applied (between 5 and 15, where a V" in out
