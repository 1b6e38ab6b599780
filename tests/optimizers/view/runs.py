"""Runs for the viewer's tests, made by the real Trainer with scripted model replies (offline).

``lineage_run``: a prompt that grows one line per step (three steps, each accepted), so the
lineage of its best prompt is known: line 0 from the baseline, then one line per step.

As a script (``python runs.py RUN_DIR GATE``) it runs the prompt task of the trainer's tests
and, before each step from 2 on, waits until the file ``GATE`` holds a number >= that step:
a run progressing in another process, at the pace the test sets.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import tracegraph as tg
from optimizers import GraphOptimizer, ScriptedClient
from optimizers.trainer import Trainer, score_fn

LINES = ["Answer the question.", "Mention alpha.", "Mention beta.", "Mention gamma."]
WORDS = ("alpha", "beta", "gamma")


def proposal(value: str) -> str:
    return json.dumps({"reasoning": f"the feedback asks for {value.splitlines()[-1]!r}",
                       "updates": {"prompt": value}})  # fmt: skip


def lineage_run(run_dir: Path, *, first: str = LINES[0], **kwargs: Any) -> Trainer:
    """Three steps; step k adds line k of LINES; every step is accepted. ``first``: the
    starting prompt (the first line of every later one)."""
    lines = [first, *LINES[1:]]
    prompt = tg.param(first, name="prompt", description="instructions")
    llm = ScriptedClient([proposal("\n".join(lines[: k + 1])) for k in (1, 2, 3)])

    @tg.op
    def respond(instructions: str, question: str) -> str:
        """A stand-in answerer: says every word its instructions mention."""
        said = " ".join(w for w in WORDS if w in instructions.lower()) or "nothing"
        return f"{said} {instructions.splitlines()[0]}" if "<" in instructions else said

    def coverage(output: str, target: str) -> tuple[float, str]:
        missing = [w for w in WORDS if w not in output]
        return 1 - len(missing) / len(WORDS), f"missing: {', '.join(missing)}" if missing else "ok"

    settings: dict[str, Any] = {"batch_size": 2, "epochs": 3, "patience": None, "quiet": True}
    settings.update(kwargs)
    return Trainer(
        lambda q: respond(prompt, q), GraphOptimizer([prompt], llm=llm),
        train=[("q1", ""), ("q2", "")], feedback=score_fn(coverage), run_dir=run_dir,
        **settings,
    )  # fmt: skip


def fit_in_thread(trainer: Any) -> None:
    """Playwright's sync API keeps an event loop running in this thread, so ``fit`` (which
    refuses to run inside one) goes to a thread of its own."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            trainer.fit()
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(120)
    if failed:
        raise failed[0]


def _gated(gate: Path) -> Any:
    def hook(point: str, step: int) -> None:
        if point != "step_start" or step < 2:
            return
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = gate.read_text().strip() if gate.exists() else ""
            if text and int(text) >= step:
                return
            time.sleep(0.05)

    return hook


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[3]))
    from tests.optimizers.trainer.tasks import prompt_task

    trainer, _, _ = prompt_task(Path(sys.argv[1]), hook=_gated(Path(sys.argv[2])))
    trainer.fit()
