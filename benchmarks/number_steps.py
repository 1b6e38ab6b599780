"""Offline benchmark of number steps: a model that never converges by itself, hidden targets.

The stand-in model reads the direction in the feedback ("too small" / "too large") and moves by
a fixed step, every step, as the local 1.5B model did on direction-only feedback (+2 a step for
11 steps). It drives the default ``GraphOptimizer`` with and without number steps
(``optimizers/step/numbers.py``); each case is solved when x is within 2 % of the target, within
12 steps; "gated" also gives the optimizer the score function (``evaluate``: each proposal is
scored before it is applied, see ``optimizers/step/gate.py``). No model is called. Prints one
JSON object.

    python benchmarks/number_steps.py
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tracegraph as tg  # noqa: E402  (after the path is set: runs from a checkout)
from optimizers import GraphOptimizer, ScriptedClient  # noqa: E402

CASES = [(0.37, 5.0), (27.3, 1.0), (1250.0, 100.0), (0.37, 10.0), (3.3, 50.0), (870.0, 1.0)]
SIZES = [0.5, 1.0, 2.0, 10.0, 100.0]
STEPS = 12


class Plodder(ScriptedClient):
    """Moves x by ``size`` the way the feedback says (never below 0: it halves instead)."""

    def __init__(self, size: float) -> None:
        super().__init__([])
        self.size = size

    def _send(self, request: Any) -> Any:
        text = request.payload()["messages"][1]["content"]
        now = float(re.findall(r"current value \(JSON\): (\S+)", text)[0])
        up = "feedback: too small" in text
        new = now + self.size if up else max(now - self.size, now / 2)
        with self._lock:
            self._script.append(json.dumps({"reasoning": "", "updates": {"x": new}}))
        return super()._send(request)


@tg.op
def probe(x: float) -> float:
    """Send x to the system under test."""
    return float(x)


def steps_to_solve(
    target: float, start: float, size: float, number_steps: bool, gated: bool = False
) -> int | None:
    x = tg.param(start, name="x", bounds=(0, None))

    def evaluate(values: dict[str, Any]) -> float:
        return -abs(float(values["x"]) - target) / target

    opt = GraphOptimizer(
        [x], llm=Plodder(size), number_steps=number_steps, evaluate=evaluate if gated else None
    )
    opt.record_score(-abs(start - target) / target)
    for i in range(STEPS):
        out = probe(x)
        if abs(out.value - target) <= 0.02 * target:
            return i
        opt.zero_feedback()
        out.backward("too small" if out.value < target else "too large")
        opt.step()
        opt.record_score(-abs(x.value - target) / target)
    return STEPS if abs(x.value - target) <= 0.02 * target else None


def main() -> int:
    doc: dict[str, Any] = {"cases": len(CASES) * len(SIZES), "step_budget": STEPS}
    modes = {"number_steps": (True, False), "plain": (False, False), "gated": (True, True)}
    for mode, (number_steps, gated) in modes.items():
        runs = [steps_to_solve(t, s, z, number_steps, gated) for t, s in CASES for z in SIZES]
        solved = [r for r in runs if r is not None]
        doc[mode] = {
            "solved": len(solved),
            "median_steps_solved": statistics.median(solved) if solved else None,
            "max_steps_solved": max(solved, default=None),
        }
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
