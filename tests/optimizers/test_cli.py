"""The `tracegraph` command on a recorded run, driven as a user would (CliRunner and a process)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optimizers import cli
from optimizers.trainer.rundir import RunDir

TASKS = Path(__file__).parent / "trainer" / "tasks.py"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code, out, err = invoke("run", str(TASKS), "--run-dir", str(run_dir), "--quiet")
    assert code == 0, err
    assert "finished" in out
    return run_dir


def test_run_records_how_to_rebuild_the_trainer(recorded: Path) -> None:
    run = json.loads((recorded / "run.json").read_text())
    assert run["format"] == "tracegraph-run" and run["version"] == 1
    assert run["source"]["script"] == str(TASKS.resolve())
    assert run["config"]["epochs"] == 2


def test_inspect_shows_one_row_per_step_with_decisions_and_cost(recorded: Path) -> None:
    code, out, _ = invoke("inspect", str(recorded))
    assert code == 0
    steps = RunDir(recorded).step_numbers()
    rows = [ln for ln in out.splitlines() if re.match(r"^│\s+\d+\s+│", ln)]
    assert [int(r.split("│")[1]) for r in rows] == steps
    assert "baseline" in rows[0] and any("accepted" in r for r in rows)
    ckpt = RunDir(recorded).read_checkpoint()
    assert ckpt is not None and f"best: step {ckpt['best_step']}" in out


def test_diff_shows_a_unified_diff_per_parameter(recorded: Path) -> None:
    ckpt = RunDir(recorded).read_checkpoint()
    assert ckpt is not None and ckpt["best_step"] > 0
    code, out, _ = invoke("diff", str(recorded), "first", "best")
    assert code == 0
    assert "--- prompt @ step 0" in out and f"+++ prompt @ step {ckpt['best_step']}" in out
    assert "-Answer." in out and f"+{ckpt['best_params']['prompt']}" in out
    code, out, _ = invoke("diff", str(recorded), "0", "0")
    assert code == 0 and "prompt: unchanged between steps 0 and 0" in out


def test_graph_renders_the_step_trace_with_dot(recorded: Path, tmp_path: Path) -> None:
    if not cli.shutil.which("dot"):
        pytest.skip("graphviz's dot is not installed (scripts/install_dot.sh)")
    target = tmp_path / "g.svg"
    code, out, err = invoke("graph", str(recorded), "1", "--out", str(target))
    assert code == 0, err
    assert out.strip() == str(target) and "<svg" in target.read_text()


def test_graph_without_dot_says_how_to_install_it(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    code, out, err = invoke("graph", str(recorded), "last")
    assert code == 0
    assert "trace.dot" in out and "apt-get install graphviz" in err


def test_report_is_one_self_contained_html_file(recorded: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    code, out, _ = invoke("report", str(recorded), "--out", str(target))
    assert code == 0 and out.strip() == str(target)
    text = target.read_text()
    data = re.search(r'<script id="tg-data" type="application/json">(.*?)</script>', text, re.S)
    assert data, "the run's data is inlined"
    pages = json.loads(data.group(1))
    steps = RunDir(recorded).step_numbers()
    assert [k for k in pages if k.startswith("/api/step")] == [
        f"/api/step?run={recorded.name}&n={n}" for n in steps
    ]
    assert {
        "/api/runs",
        f"/api/overview?run={recorded.name}",
        f"/api/lineage?run={recorded.name}",
    } < set(pages)
    # Only in-document references: no script, stylesheet or image from outside the file.
    assert not re.findall(r'(?:src|href)="(?!#|data:)', text)
    assert '<link rel="stylesheet"' not in text and "https://" not in text


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no run directory"),
        ("foreign", "not a tracegraph run directory"),
        ("version", "run format version 99"),
        ("corrupt", "corrupt"),
    ],
)
def test_clear_errors_on_a_missing_or_foreign_directory(
    tmp_path: Path, recorded: Path, setup: str, message: str
) -> None:
    target = tmp_path / "d"
    if setup == "foreign":
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    elif setup in ("version", "corrupt"):
        target.mkdir()
        run = json.loads((recorded / "run.json").read_text())
        text = json.dumps({**run, "version": 99}) if setup == "version" else "{not json"
        (target / "run.json").write_text(text)
    for command in (["inspect"], ["diff", "--", "0", "1"], ["graph", "--", "0"], ["report"]):
        args = [command[0], str(target), *command[2:]]
        code, _, err = invoke(*args)
        assert code == 2, (args, err)
        assert message in err


def test_unknown_step_is_a_clear_error(recorded: Path) -> None:
    code, _, err = invoke("diff", str(recorded), "0", "99")
    assert code == 2 and "step 99 is not in the run" in err
    code, _, err = invoke("graph", str(recorded), "soon")
    assert code == 2 and "'soon' is not a step" in err


def test_run_refuses_a_directory_that_holds_a_run(recorded: Path) -> None:
    code, _, err = invoke("run", str(TASKS), "--run-dir", str(recorded), "-q")
    assert code == 2 and "already holds a run" in err


def test_a_toml_config_names_the_script_and_overrides_settings(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        f'script = "{TASKS}"\nrun_dir = "out"\n[trainer]\nepochs = 1\nmax_steps = 2\n'
    )
    code, out, err = invoke("run", str(config), "-q")
    assert code == 0, err
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["config"]["max_steps"] == 2 and run["source"]["overrides"] == {
        "epochs": 1,
        "max_steps": 2,
    }
    assert RunDir(tmp_path / "out").step_numbers() == [0, 1, 2]
    # resume rebuilds it from run.json, overrides included: nothing left to do.
    code, out, err = invoke("resume", str(tmp_path / "out"), "-q")
    assert code == 0 and "2 steps" in out, err


def test_a_config_with_unknown_settings_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"script": str(TASKS), "trainer": {"epoch": 1}}))
    code, _, err = invoke("run", str(config))
    assert code == 2 and "unknown trainer settings ['epoch']" in err


def test_a_script_without_the_factory_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "empty.py"
    script.write_text("x = 1\n")
    code, _, err = invoke("run", str(script))
    assert code == 2 and "has no function make_trainer()" in err


def test_the_command_runs_as_a_real_process(recorded: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-m", "optimizers.cli", "inspect", str(recorded)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "baseline" in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "optimizers.cli", "report", str(recorded / "nope")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "no run directory" in missing.stderr
