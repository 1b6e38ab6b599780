"""Small training tasks for the trainer's tests, and a script the CLI can run.

``RuleClient`` answers as a pure function of the request (auto-numbered node names masked and
lines sorted, as a fresh process numbers nodes differently and a concurrent minibatch creates
them in racy order), through the client layer's own parsing. Unlike a
ScriptedClient, whose answers depend on how many it already gave, it answers a repeated request
the same way in any process: what resume tests need to compare a crashed-and-resumed run with an
uninterrupted one. It counts the calls that reached it (the "paid" calls), optionally in a file.

As a script (``tracegraph run tasks.py``) it builds the prompt task; environment variables:
``TASK_COUNTER`` (file that gets one line per paid call), ``TASK_KILL_AT`` (``point:step``: the
process kills itself with SIGKILL there), ``TASK_EPOCHS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tracegraph as tg
from optimizers import GraphOptimizer
from optimizers.llm.client_base import BaseClient
from optimizers.llm.types import RawReply, Request
from optimizers.trainer import Trainer, exact_match, score_fn

_AUTO = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*?)_\d+\b")


def digest(request: Request) -> int:
    """A number for a request that does not depend on the process or on thread timing: auto
    names are masked and lines sorted (a concurrent minibatch lists its nodes in racy order)."""
    lines = sorted(_AUTO.sub(r"\1_#", str(m["content"])) for m in request.messages)
    text = json.dumps([sorted(ln.splitlines()) for ln in lines])
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class RuleClient(BaseClient):
    """A client whose reply text is ``rule(request)``; counts calls and their overlap."""

    endpoint = "rule"

    def __init__(
        self,
        rule: Callable[[Request], str],
        *,
        model: str = "rule",
        counter: Path | None = None,
        gate: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.rule = rule
        self.counter = counter
        self.gate = gate
        self.sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def _send(self, request: Request) -> RawReply:
        with self._lock:
            self.sent += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.counter is not None:
                with open(self.counter, "a") as fh:
                    fh.write(f"{self.model}\n")
        try:
            if self.gate is not None:
                self.gate()
            text = self.rule(request)
        finally:
            with self._lock:
                self.in_flight -= 1
        return RawReply(text=text, model=self.model, input_tokens=10, output_tokens=5)

    async def _asend(self, request: Request) -> RawReply:
        return self._send(request)


# -- a numeric task: find x so that k * x hits the target -----------------------------------
@tg.op
def scale(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k


def closeness(out: float, target: float) -> tuple[float, str]:
    """Score -|out - target|, with the direction in words."""
    hint = "larger" if out < target else "smaller" if out > target else "exactly right"
    return -abs(out - target), hint


def numeric_task(llm: Any, **trainer_kwargs: Any) -> Trainer:
    """Find x = 5 (train and validation: k * x == 5 * k)."""
    x = tg.param(0.0, name="x", description="the number to find")
    opt = GraphOptimizer([x], llm=llm)
    settings: dict[str, Any] = {"batch_size": 1, "epochs": 4, "patience": None, "quiet": True}
    settings.update(trainer_kwargs)
    return Trainer(
        lambda k: scale(x, k),
        opt,
        train=[(1.0, 5.0), (2.0, 10.0)],
        feedback=score_fn(closeness),
        **settings,
    )


def updates(values: dict[str, Any]) -> str:
    """A well-formed optimizer reply proposing ``values``."""
    return json.dumps({"reasoning": "scripted", "updates": values})


# -- a prompt task: the workflow itself calls a model -----------------------------------------
PROMPTS = ["Answer.", "Answer in capitals.", "Reply briefly.", "Shout: answer in capitals!"]
QUESTIONS = ["alpha", "beta", "gamma", "delta", "omega", "sigma"]


def answerer_rule(request: Request) -> str:
    """The 'model' the workflow calls: capitals iff the system prompt says so."""
    system, user = request.messages[0]["content"], request.messages[-1]["content"]
    return user.upper() if "capitals" in system else user


def proposer_rule(request: Request) -> str:
    """The 'optimizer model': proposes one of PROMPTS, picked by the request's digest."""
    return updates({"prompt": PROMPTS[digest(request) % len(PROMPTS)]})


def prompt_task(
    run_dir: Path | None,
    *,
    counter: Path | None = None,
    hook: Callable[[str, int], None] | None = None,
    **trainer_kwargs: Any,
) -> tuple[Trainer, RuleClient, RuleClient]:
    """Tune a system prompt so that answers come back in capitals (exact match)."""
    worker = RuleClient(answerer_rule, model="worker", counter=counter)
    proposer = RuleClient(proposer_rule, model="proposer", counter=counter)
    prompt = tg.param("Answer.", name="prompt", description="system prompt of the answerer")

    @tg.op
    def answer(system: str, question: str) -> str:
        """Ask the model the question under the system prompt."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return worker.complete(messages, label="workflow").text

    settings: dict[str, Any] = {
        "batch_size": 2, "epochs": 2, "patience": None, "quiet": True, "concurrency": 2,
        "val": [(q, q.upper()) for q in QUESTIONS[:4]],
    }  # fmt: skip
    settings.update(trainer_kwargs)
    trainer = Trainer(
        lambda q: answer(prompt, q),
        GraphOptimizer([prompt], llm=proposer),
        train=[(q, q.upper()) for q in QUESTIONS],
        feedback=exact_match(case_sensitive=True),
        run_dir=run_dir,
        clients=[worker],
        hook=hook,
        **settings,
    )
    return trainer, worker, proposer


def _kill_hook(spec: str) -> Callable[[str, int], None]:
    point, step = spec.split(":")

    def hook(at: str, k: int) -> None:
        if at == point and k == int(step):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def make_trainer(run_dir: Path) -> Trainer:
    """The script entry point for ``tracegraph run``."""
    counter = os.environ.get("TASK_COUNTER")
    kill = os.environ.get("TASK_KILL_AT")
    trainer, _, _ = prompt_task(
        run_dir,
        counter=Path(counter) if counter else None,
        hook=_kill_hook(kill) if kill else None,
        epochs=int(os.environ.get("TASK_EPOCHS", "2")),
    )
    return trainer
