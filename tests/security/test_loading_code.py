"""Loading code is opt-in (issue 10, item 4): a crafted module file, checkpoint or trace with a
code parameter is refused unless the caller passes ``allow_code=True``; the error shows the code
and the opt-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.trainer import Trainer
from tracegraph.serialize import export_graph, import_graph

EVIL = "def answer(self, q):\n    import os\n    os.system('echo pwned')\n    return q\n"


class Agent(tg.Module):
    def __init__(self) -> None:
        self.prompt = tg.param("Answer briefly.", name="prompt")

    @tg.trainable
    def answer(self, q: str) -> str:
        return q


def _crafted(tmp_path: Path) -> Path:
    path = tmp_path / "agent.json"
    Agent().save(path)
    doc = json.loads(path.read_text())
    doc["parameters"]["answer"]["value"] = EVIL
    path.write_text(json.dumps(doc))
    return path


def test_a_module_file_with_foreign_code_is_refused(tmp_path: Path) -> None:
    path = _crafted(tmp_path)
    agent = Agent()
    with pytest.raises(tg.PersistenceError) as err:
        agent.load(path)
    text = str(err.value)
    assert "os.system('echo pwned')" in text and "allow_code=True" in text
    assert "os.system" not in tg.code_of(agent.answer).value  # nothing was changed


def test_the_opt_in_loads_it_and_the_modules_own_code_needs_none(tmp_path: Path) -> None:
    path = tmp_path / "same.json"
    Agent().save(path)
    Agent().load(path)  # the same code as the class has: nothing new would run
    agent = Agent()
    agent.load(_crafted(tmp_path), allow_code=True)
    assert tg.code_of(agent.answer).value == EVIL


def test_a_trace_cannot_bring_a_code_parameter_unasked() -> None:
    @tg.trainable
    def f(x: int) -> int:
        return x

    data = export_graph(f(tg.node(1, name="x")))
    (entry,) = [n for n in data["nodes"] if n["kind"] == "parameter"]
    entry["value"] = {"json": "def f(x):\n    __import__('os').system('echo pwned')\n"}
    with pytest.raises(tg.PersistenceError, match="echo pwned"):
        import_graph(data, {}, strict=False)
    (out,) = import_graph(data, {}, strict=False, allow_code=True)
    assert "echo pwned" in out.parents[-1].value


def _trainer(tmp_path: Path) -> tuple[Trainer, tg.Node]:
    @tg.trainable
    def parse(text: str) -> int:
        """Read the number at the end of the text."""
        return int(text.split()[-1])

    code = tg.code_of(parse)
    trainer = Trainer(
        lambda t: parse(tg.node(t, name="text")),
        GraphOptimizer(
            [code], llm=ScriptedClient([json.dumps({"reasoning": "ok", "updates": {}})])
        ),
        train=[("it is 4", 4)],
        feedback=lambda case: 1.0 if case.value == case.target else 0.0,
        max_steps=1,
        run_dir=tmp_path / "run",
        quiet=True,
    )
    return trainer, code


def test_resuming_from_a_checkpoint_with_foreign_code_is_refused(tmp_path: Path) -> None:
    trainer, _ = _trainer(tmp_path)
    trainer.fit()
    ckpt_path = tmp_path / "run" / "checkpoint.json"
    ckpt = json.loads(ckpt_path.read_text())
    evil = "def parse(text):\n    __import__('os').system('echo pwned')\n    return 4\n"
    ckpt["params"]["parse"] = ckpt["best_params"]["parse"] = evil
    ckpt_path.write_text(json.dumps(ckpt))
    again, code = _trainer(tmp_path)
    with pytest.raises(tg.PersistenceError, match="allow-code") as err:
        again.fit(resume=True)
    assert "echo pwned" in str(err.value) and "echo pwned" not in code.value


SCRIPT = '''
import json
import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.trainer import Trainer


@tg.trainable
def parse(text: str) -> int:
    """Read the number at the end of the text."""
    return int(text.split()[-1])


def make_trainer(run_dir):
    reply = json.dumps({"reasoning": "ok", "updates": {}})
    return Trainer(
        lambda t: parse(tg.node(t, name="text")),
        GraphOptimizer([tg.code_of(parse)], llm=ScriptedClient([reply] * 3)),
        train=[("it is 4", 4)],
        feedback=lambda case: 1.0 if case.value == case.target else 0.0,
        max_steps=1, run_dir=run_dir, quiet=True,
    )
'''


def test_tracegraph_resume_refuses_foreign_code_without_allow_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from optimizers import cli

    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    run = tmp_path / "run"
    runner = CliRunner()
    done = runner.invoke(cli.app, ["run", str(script), "--run-dir", str(run), "--quiet"])
    assert done.exit_code == 0, done.stderr
    evil = "def parse(text):\n    __import__('os').system('echo pwned')\n    return 4\n"
    files = [run / "checkpoint.json", *sorted(run.glob("steps/*/params.json"))[-1:]]
    for path in files:
        data = json.loads(path.read_text())
        for key in ("params", "best_params"):
            if key in data:
                data[key]["parse"] = evil
        if "parse" in data:
            data["parse"] = evil
        path.write_text(json.dumps(data))
    refused = runner.invoke(cli.app, ["resume", str(run), "--quiet"])
    assert refused.exit_code == 2 and "echo pwned" in refused.stderr
    assert "--allow-code" in refused.stderr
    allowed = runner.invoke(cli.app, ["resume", str(run), "--allow-code", "--quiet"])
    assert allowed.exit_code == 0, allowed.stderr
