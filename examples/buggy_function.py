"""Fix a buggy function from its failing unit tests.

``median`` is a ``@tg.trainable`` function: its source is a parameter. Each unit test calls it
through the trace; a failing test becomes feedback on that call's output (or on the exception it
raised). A proposed fix is applied only after a trial run in a separate process that replays the
traced calls and runs the unit tests there (``TrialConfig(check=...)``).

    python examples/buggy_function.py                       # the local model
    python examples/buggy_function.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from _common import (
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
)

import tracegraph as tg
from optimizers.llm.types import LLMClient
from optimizers.step.trial import TrialConfig

CASES: list[tuple[list[float], float]] = [
    ([3, 1, 2], 2),
    ([4, 1, 3, 2], 2.5),
    ([7], 7),
    ([10, 2, 8, 4], 6.0),
]
BUGGY = '''def median(values):
    """Return the median of a non-empty list of numbers."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
'''


@tg.trainable
def median(values: list[float]) -> float:
    """Return the median of a non-empty list of numbers."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def failures(fn: Callable[[list[float]], Any]) -> list[str]:
    """The unit tests: one message per failing case."""
    out = []
    for values, want in CASES:
        try:
            got = fn(list(values))
        except Exception as exc:
            out.append(f"median({values}) raised {type(exc).__name__}: {exc}")
            continue
        if got != want:
            out.append(f"median({values}) returned {got!r}, expected {want!r}")
    return out


def unit_tests(fn: Callable[[list[float]], Any]) -> str | None:
    """The trial run's check (runs in the child process): a message when a test fails."""
    bad = failures(fn)
    return "unit tests failed: " + "; ".join(bad) if bad else None


def _picklable_check() -> Callable[[Callable[[list[float]], Any]], str | None]:
    # The check is sent to the trial's child process by reference: take it from the module's
    # importable name, not from ``__main__`` when this file runs as a script.
    import buggy_function

    return buggy_function.unit_tests


def test_and_feed_back() -> tuple[list[tg.Node], float]:
    """Run every case through the trace; give each output its test's verdict as feedback."""
    outputs = []
    passed = 0
    for i, (values, want) in enumerate(CASES):
        try:
            out = median(tg.node(list(values), name=f"case_{i}"))
        except tg.OpError as exc:
            assert exc.node is not None
            exc.node.backward(f"median({values}) raised an exception; expected {want!r}")
            outputs.append(exc.node)
            continue
        if out.value == want:
            passed += 1
            out.backward(f"median({values}) = {out.value!r}: correct")
        else:
            out.backward(f"median({values}) returned {out.value!r}, expected {want!r}")
        outputs.append(out)
    return outputs, passed / len(CASES)


def run(
    llm: LLMClient, steps: int = 4, out: str = "runs/examples", optimizer: str = "graph"
) -> Outcome:
    """Repair ``median`` until its tests pass (at most ``steps`` steps)."""
    code = tg.code_of(median)
    code.set_value(BUGGY)  # every run starts from the bug, also after an earlier fix
    trial = TrialConfig(timeout=10, check=_picklable_check())
    opt = make_optimizer(optimizer, [code], llm, trial=trial)
    outcome = Outcome("buggy_function")
    opt.zero_feedback()
    outputs, score = test_and_feed_back()
    outcome.scores.append(score)
    for _ in range(steps):
        if score == 1.0:
            break
        report = opt.step()
        opt.zero_feedback()
        outputs, score = test_and_feed_back()
        opt.record_score(score)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    outcome.values = {"median": code.value}
    outcome.solved = score == 1.0
    outcome.picture = picture(outputs, out, "buggy_function")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    args = base_parser(__doc__ or "", steps=4).parse_args(argv)
    return finish(run(llm or client_from(args), args.steps, args.out, args.optimizer))


if __name__ == "__main__":
    sys.exit(main())
