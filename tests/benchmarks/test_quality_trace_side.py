"""Trace's side of the quality suite: what its runner may import, the data it reads, one run.

The runner runs in Trace's own virtual environment, which has the standard library, ``opto`` and
``openai`` and none of our dependencies; it must judge the model-calling families on the very
data our families use and ask the task model as ours does. The last test runs it against a fake
OpenAI-compatible server when that environment is on this machine.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from benchmarks.quality import extract_tasks, prompt_data, prompt_tasks, trace_side
from benchmarks.quality.families import FAMILIES
from optimizers import ScriptedClient
from optimizers.llm.fakeserver import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "benchmarks" / "quality" / "trace_runner.py"
TRACE_PYTHON = Path("/tmp/trace-venv/bin/python")
THIRD_PARTY = {"opto", "openai"}  # what Trace's environment has besides the standard library
# our modules the runner may use: standard library only themselves (checked below)
OURS = {
    "benchmarks": ROOT / "benchmarks" / "__init__.py",
    "benchmarks.quality": ROOT / "benchmarks" / "quality" / "__init__.py",
    "benchmarks.quality.specs": ROOT / "benchmarks" / "quality" / "specs.py",
    "benchmarks.quality.prompt_data": ROOT / "benchmarks" / "quality" / "prompt_data.py",
    "benchmarks.quality.heldout_specs": ROOT / "benchmarks" / "quality" / "heldout_specs.py",
    "benchmarks.quality.trace_tasks": ROOT / "benchmarks" / "quality" / "trace_tasks.py",
    "benchmarks.vs_trace_runner": ROOT / "benchmarks" / "vs_trace_runner.py",
    "_retrieval_task": ROOT / "examples" / "_retrieval_task.py",
}
MODEL_FAMILIES = ("labels", "digits", "topics", "extract", "invoice", "contact")


# ------------------------------------------------------------------ (1) what it imports


def _imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(module, line, certain) for every import in ``path``, at any depth; ``certain`` is False
    for ``from m import x`` read as the module ``m.x`` (``x`` may be a plain name)."""
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(n, ast.Import):
            yield from ((a.name, n.lineno, True) for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            assert n.level == 0, f"{path}:{n.lineno}: a relative import in a script"
            yield str(n.module), n.lineno, True
            yield from ((f"{n.module}.{a.name}", n.lineno, False) for a in n.names)


def _is_module(name: str) -> bool:
    where = [base.joinpath(*name.split(".")) for base in (ROOT, ROOT / "examples")]
    return any(p.is_dir() or p.with_suffix(".py").is_file() for p in where)


def foreign_imports(start: Path) -> list[str]:
    """Imports outside the standard library, ``opto``, ``openai`` and ``OURS``, in ``start``
    and in the modules of ``OURS`` it reaches."""
    bad: list[str] = []
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():  # a namespace package has no __init__
            continue
        seen.add(path)
        for name, line, certain in _imports(path):
            top = name.split(".")[0]
            if top == "__future__" or top in sys.stdlib_module_names or top in THIRD_PARTY:
                continue
            if name in OURS:
                todo.append(OURS[name])
            elif certain or _is_module(name):
                bad.append(f"{path.name}:{line} imports {name}")
    return sorted(bad)


@pytest.mark.parametrize("path", [RUNNER, ROOT / "benchmarks" / "quality" / "prompt_data.py"])
def test_runner_and_its_data_import_only_what_trace_has(path: Path) -> None:
    assert foreign_imports(path) == []


def test_the_import_check_catches_our_packages(tmp_path: Path) -> None:
    script = tmp_path / "runner.py"
    script.write_text(
        "import json\nfrom opto.trace import node\nfrom benchmarks.quality import specs\n"
        "def later():\n    import tracegraph as tg\n    from optimizers.llm import types\n"
        "from benchmarks.quality import prompt_tasks\n"
    )
    assert foreign_imports(script) == [
        "runner.py:5 imports tracegraph",
        "runner.py:6 imports optimizers.llm",
        "runner.py:6 imports optimizers.llm.types",
        "runner.py:7 imports benchmarks.quality.prompt_tasks",
    ]


# ------------------------------------------------------------ (2) the data it reads


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The runner imported here, with ``opto`` stubbed (its decorators return the function)."""
    stubs = {name: types.ModuleType(name) for name in ("opto", "opto.optimizers", "opto.trace")}
    stubs |= {name: types.ModuleType(name) for name in ("opto.utils", "opto.utils.llm")}
    stubs["opto.optimizers"].OptoPrime = object  # type: ignore[attr-defined]
    stubs["opto.trace"].bundle = lambda **kw: lambda fn: fn  # type: ignore[attr-defined]
    stubs["opto.trace"].node = lambda data, **kw: data  # type: ignore[attr-defined]
    stubs["opto.utils.llm"].CustomLLM = object  # type: ignore[attr-defined]
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the runner puts its folders first
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location("trace_runner_under_test", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        for name in (set(sys.modules) - before) & set(OURS):  # imported with the stubs in place
            del sys.modules[name]


def test_runner_reads_the_very_data_our_families_use(runner: types.ModuleType) -> None:
    assert runner.PROMPTS is prompt_data.PROMPTS and runner.EXTRACTS is prompt_data.EXTRACTS
    assert runner.answer_verdict is prompt_tasks.answer_verdict
    assert runner.raised_feedback is extract_tasks.raised_feedback
    labels, digits = runner.PROMPTS["labels"], runner.PROMPTS["digits"]
    assert (labels.train, labels.test) == (prompt_tasks.LABEL_TRAIN, prompt_tasks.LABEL_TEST)
    assert labels.train is prompt_tasks.LABEL_TRAIN and labels.test is prompt_tasks.LABEL_TEST
    assert labels.starts is prompt_tasks.LABEL_STARTS
    assert labels.tokens == prompt_data.LABEL_TOKENS
    assert digits.train is prompt_tasks.DIGIT_TRAIN and digits.test is prompt_tasks.DIGIT_TEST
    assert digits.starts is prompt_tasks.DIGIT_STARTS
    assert digits.tokens == prompt_data.DIGIT_TOKENS
    for family, fn in runner.PARSERS.items():
        data = runner.EXTRACTS[family]
        assert (fn.__name__, " ".join(str(fn.__doc__).split())) == (data.fn_name, data.doc)
    assert set(runner.TASKS) == set(trace_side.TRACE_FAMILIES)
    assert set(MODEL_FAMILIES) <= set(runner.TASKS)


@pytest.mark.parametrize("family", ["number_b", "training_b", "pipeline"])
def test_runner_starts_the_held_out_families_as_ours(runner: types.ModuleType, family: str) -> None:
    for seed in range(3):
        theirs, ours = runner.TASKS[family](seed).info, FAMILIES[family].make(seed, None).info
        assert theirs == ({"start": list(ours.values())} if family == "training_b" else ours)


def test_runner_reads_the_held_out_programs_as_ours(runner: types.ModuleType) -> None:
    """Ops and functions with our names and docstrings (the program the optimizer reads)."""
    from benchmarks.quality import heldout_specs, heldout_tasks

    tasks = sys.modules["benchmarks.quality.trace_tasks"]
    for op in ("submit", "fit", "smooth", "detect"):
        assert getattr(tasks, op).__doc__ == getattr(heldout_tasks, op).__doc__, op
    assert list(tasks.CODE_B) == heldout_specs.CODE_B_ORDER
    for name, fn in tasks.CODE_B.items():
        assert fn.__doc__ == getattr(heldout_tasks, name).__doc__, name
    assert tasks.PIPELINE_STARTS == heldout_tasks.PIPELINE_STARTS


@pytest.mark.parametrize(("family", "seed"), [("labels", 1), ("digits", 2)])
def test_our_prompt_families_ask_that_data(family: str, seed: int) -> None:
    data = prompt_data.PROMPTS[family]
    llm = ScriptedClient(["POS"] * len(data.train))
    task = FAMILIES[family].make(seed, llm)
    assert task.params[0].value == data.starts[seed]
    task.run()
    asked = {_asked(r) for r in llm.requests}
    assert asked == {(data.starts[seed], q, data.tokens, 0.0) for q, _ in data.train}


@pytest.mark.parametrize("family", ["extract", "invoice"])
def test_our_extraction_families_ask_that_data(family: str) -> None:
    data = prompt_data.EXTRACTS[family]
    llm = ScriptedClient(["{}"] * len(data.cases))
    task = FAMILIES[family].make(2, llm)
    assert [p.value for p in task.params] == [data.starts[2], data.start_parser]
    task.run()
    asked = {_asked(r) for r in llm.requests}
    assert asked == {(data.starts[2], text, data.tokens, 0.0) for text, _ in data.cases}


def _asked(body: dict[str, Any]) -> tuple[str, str, int, float]:
    """(instruction, input, max_tokens, temperature) of a task-model request."""
    system, user = body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    return system["content"], user["content"], body["max_tokens"], body["temperature"]


# ------------------------------------------------------- (3) one run on a fake server


def _responder(family: str) -> Any:
    """The optimizer proposes the hand-written instruction; the task model answers right
    (plain JSON for extraction) under it only."""
    data: Any = prompt_data.PROMPTS.get(family) or prompt_data.EXTRACTS[family]
    right = {q: a for q, a in prompt_data.LABEL_TRAIN + prompt_data.LABEL_TEST}
    right |= dict(prompt_data.DIGIT_DATA)

    def reply(body: dict[str, Any]) -> str:
        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "#Variables" in system:  # OptoPrime's request
            variables = user[user.index("\n#Variables\n") :].split("\n\n#")[0]
            name = re.search(r"\b(instruction\w*)\s*=", variables)
            assert name is not None, user
            suggestion = {name.group(1): data.handwritten}
            return json.dumps({"reasoning": "ask for the format", "suggestion": suggestion})
        good = system == data.handwritten
        if family in prompt_data.PROMPTS:
            return right[user] if good else "I would say it is positive."
        want = json.dumps(dict(data.cases)[user])
        return want if good else f"```json\n{want}\n```"

    return reply


def _student(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if "#Variables" not in b["messages"][0]["content"]]


def _trace_run(family: str, responder: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One step of the runner on ``family``, seed 0: its record and the requests it made."""
    with FakeOpenAIServer(responder=responder or _responder(family)) as server:
        env = {
            "TRACE_CUSTOMLLM_MODEL": "fake-model",
            "TRACE_CUSTOMLLM_URL": server.url,
            "TRACE_CUSTOMLLM_API_KEY": "fake-key-not-secret",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        record = trace_side.run_trace(family, 0, 1, env, str(TRACE_PYTHON), timeout=120)
        return record, list(server.requests)


E2E = ("labels", "extract")


@pytest.fixture(scope="module")
def trace_runs() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The runs of ``E2E``, at once (each spends seconds importing Trace)."""
    if not TRACE_PYTHON.exists():
        pytest.skip(f"no Trace environment at {TRACE_PYTHON} (pip install trace-opt openai)")
    with ThreadPoolExecutor(len(E2E)) as pool:
        return dict(zip(E2E, pool.map(_trace_run, E2E), strict=True))


@pytest.mark.parametrize("family", E2E)
def test_trace_runner_on_a_fake_server(
    family: str, trace_runs: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    record, bodies = trace_runs[family]
    theirs = _student(bodies)
    data: Any = prompt_data.PROMPTS.get(family) or prompt_data.EXTRACTS[family]
    assert "error" not in record, record.get("error")
    fields = {"family", "task", "optimizer", "seed", "info", "solved", "steps", "score_before"}
    fields |= {"score_after", "calls", "optimizer_calls", "student_calls", "tokens"}
    fields |= {"wall_seconds", "noop_steps", "silent_noops", "final_values", "rows"}
    assert fields <= set(record)
    assert record["solved"] and record["steps"] == 1, json.dumps(record)
    assert record["score_before"] < record["score_after"] == 1.0
    assert record["optimizer_calls"] == 1 and record["student_calls"] == len(theirs) > 0
    assert record["calls"] == record["optimizer_calls"] + record["student_calls"]
    assert record["rows"][0]["student_calls"] > 0 and record["info"] == {"start": data.starts[0]}
    if family in prompt_data.PROMPTS:
        assert record["held_out_before"] == {"test_accuracy": 0.0}
        assert record["held_out_after"] == {"test_accuracy": 1.0}
        said = prompt_data.answer_verdict(data.train[0][1], "I would say it is positive.")
    else:
        said = prompt_data.raised_feedback(data.fn_name, "JSONDecodeError", data.cases[0][1])
    (asked_optimizer,) = [b for b in bodies if b not in theirs]
    assert said is not None and said in asked_optimizer["messages"][-1]["content"]
    # the task model asked as our side asks it: instruction and inputs, messages, token limit,
    # temperature
    with FakeOpenAIServer(responder=_responder(family)) as server:
        task = FAMILIES[family].make(0, server.client())
        if task.held_out is not None:
            task.held_out()
        task.run()
        ours = _student(server.requests)
    start = data.starts[0]
    assert {_asked(b) for b in ours} == {_asked(b) for b in theirs if _asked(b)[0] == start}


def test_trace_runner_on_a_held_out_workflow() -> None:
    """pipeline: OptoPrime reads both parameters of the two-op workflow and its feedback."""
    if not TRACE_PYTHON.exists():
        pytest.skip(f"no Trace environment at {TRACE_PYTHON} (pip install trace-opt openai)")

    def reply(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        variables = user[user.index("\n#Variables\n") :].split("\n\n#")[0]
        names = [re.search(rf"\b({n}\w*)\s*=", variables) for n in ("window", "threshold")]
        assert all(names), user
        suggestion = dict(zip([m.group(1) for m in names if m], (8, 0.3), strict=True))
        return json.dumps({"reasoning": "smooth more, a lower level", "suggestion": suggestion})

    record, bodies = _trace_run("pipeline", reply)
    assert "error" not in record, record.get("error")
    assert record["info"] == {"window": 1, "threshold": 0.2}
    assert record["solved"] and record["steps"] == 1 and record["score_after"] == 1.0
    assert record["score_before"] < 1.0 and record["optimizer_calls"] == len(bodies) == 1
    assert "found 11 events, expected 5" in bodies[0]["messages"][-1]["content"]
