"""Offline benchmark of the gate and the probes: stand-in models that know one move.

Each stand-in proposes the same kind of change every step, whatever the feedback says
(double the learning rate, halve it, add epochs, flip the optimizer): the kinds of moves a
small model makes. They drive ``GraphOptimizer(..., evaluate=...)`` on the three starts of the
quality suite's training family (``benchmarks/quality/specs.py``: solved only with
standardized features, plain SGD and a learning rate of about 0.05-0.5), 12 steps each, with
and without the gate (``optimizers/step/gate.py``). No model is called. Prints one JSON object.

    python benchmarks/hyper_steps.py
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from benchmarks.quality.numeric_tasks import make_retrieval, make_training  # noqa: E402
from benchmarks.quality.task import Task  # noqa: E402
from optimizers import GraphOptimizer, ScriptedClient  # noqa: E402
from tracegraph.node import Node  # noqa: E402

STEPS = 12
WANDERS = 10  # seeds of the wandering stand-in
Move = Callable[[dict[str, Any]], dict[str, Any]]
MOVES: dict[str, Move] = {
    "double the learning rate": lambda v: {"learning_rate": v["learning_rate"] * 2},
    "halve the learning rate": lambda v: {"learning_rate": v["learning_rate"] / 2},
    "add 5 epochs": lambda v: {"epochs": min(50, v["epochs"] + 5)},
    "flip the optimizer": lambda v: {"optimizer": "momentum" if v["optimizer"] == "sgd" else "sgd"},
}


def wander(seed: int) -> Move:
    """The local model's kind of proposal (measured): two to four changes at once, each way at
    random; a learning rate by a factor of 10, epochs by 10."""
    rng = random.Random(seed)

    def move(v: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in rng.sample(sorted(v), rng.randint(2, 4)):
            if name == "learning_rate":
                out[name] = min(2.0, max(1e-5, v[name] * rng.choice((10.0, 0.1))))
            elif name == "epochs":
                out[name] = min(50, max(1, v[name] + rng.choice((10, -10))))
            elif name == "optimizer":
                out[name] = "momentum" if v[name] == "sgd" else "sgd"
            else:
                out[name] = "standard" if v[name] == "none" else "none"
        return out

    return move


def wander_retrieval(seed: int) -> Move:
    """The same habit on the retrieval family: one or both of top_k and threshold, each way at
    random, top_k by 1-3 and the threshold by 0.05-0.3 (rounded to two decimals)."""
    rng = random.Random(seed)

    def move(v: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in rng.sample(sorted(v), rng.randint(1, 2)):
            if name == "top_k":
                out[name] = min(9, max(1, v[name] + rng.choice((-3, -2, -1, 1, 2, 3))))
            else:
                step = rng.choice((-0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.3))
                out[name] = round(min(1.0, max(0.0, v[name] + step)), 2)
        return out

    return move


class OneMove(ScriptedClient):
    """Proposes ``move(current values)`` every time it is asked."""

    def __init__(self, params: list[Node], move: Move) -> None:
        super().__init__([])
        self.params, self.move = params, move

    def _send(self, request: Any) -> Any:
        values = {p.name: p.peek() for p in self.params}
        with self._lock:
            self._script.append(json.dumps({"reasoning": "", "updates": self.move(values)}))
        return super()._send(request)


def steps_to_solve(
    seed: int,
    move: Move,
    gated: bool,
    patience: int | None = 1,
    make: Callable[[int], Task] = make_training,
) -> int | None:
    task = make(seed)
    opt = GraphOptimizer(
        task.params,
        llm=OneMove(task.params, move),
        evaluate=task.evaluate if gated else None,
        patience=patience,
    )
    episode = task.run()
    opt.record_score(episode.score)
    for step in range(STEPS):
        if episode.solved:
            return step
        opt.zero_feedback()
        for node, text in episode.feedback:
            node.backward(text)
        opt.step()
        episode = task.run()
        opt.record_score(episode.score)
    return STEPS if episode.solved else None


def main() -> int:
    doc: dict[str, Any] = {"runs": 3 * len(MOVES), "step_budget": STEPS}
    for gated in (True, False):
        runs = {f"{m} / start {s}": steps_to_solve(s, f, gated) for m, f in MOVES.items()
                for s in range(3)}  # fmt: skip
        doc["gated" if gated else "plain"] = {
            "solved": sum(r is not None for r in runs.values()),
            "steps": runs,
        }
    for patience in (1, None):  # without a gate: probes after a worse step, or none at all
        runs = {f"wander {w} / start {s}": steps_to_solve(s, wander(w), False, patience)
                for w in range(WANDERS) for s in range(3)}  # fmt: skip
        doc[f"plain, wandering, patience={patience}"] = {
            "solved": sum(r is not None for r in runs.values()),
            "runs": len(runs),
            "steps": runs,
        }
    for patience in (1, None):
        runs = {f"wander {w} / start {s}": steps_to_solve(s, wander_retrieval(w), False, patience,
                make_retrieval) for w in range(WANDERS) for s in range(3)}  # fmt: skip
        doc[f"retrieval, plain, wandering, patience={patience}"] = {
            "solved": sum(r is not None for r in runs.values()),
            "runs": len(runs),
            "steps": runs,
        }
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
