"""Golden views of a scripted run: `tracegraph inspect` and `tracegraph diff` as a user sees them.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/optimizers/trainer/test_trainer_golden.py`` and
review the diff of tests/golden/trainer/.
"""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from optimizers import ScriptedClient
from optimizers.cli import app
from tests.optimizers.trainer.tasks import numeric_task, updates

GOLDEN = Path(__file__).parents[2] / "golden" / "trainer"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{path} differs (UPDATE_GOLDEN=1 to accept the new text)"


def test_inspect_and_diff_of_a_scripted_run(tmp_path: Path) -> None:
    llm = ScriptedClient([*(updates({"x": v}) for v in (3.0, 5.0, 9.0, 5.0)), updates({})])
    run_dir = tmp_path / "run"
    numeric_task(llm, run_dir=run_dir, epochs=2).fit()
    runner = CliRunner()
    shown = []
    for args in (["inspect", str(run_dir)], ["diff", str(run_dir), "first", "best"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        shown.append(f"$ tracegraph {' '.join(args)}\n{result.stdout}")
    text = "\n".join(shown).replace(str(run_dir), "RUN_DIR")
    # The centred title's padding depends on the temporary path's length.
    lines = [ln.strip() if "RUN_DIR —" in ln else ln for ln in text.splitlines()]
    golden("inspect_diff.txt", "\n".join(lines) + "\n")
