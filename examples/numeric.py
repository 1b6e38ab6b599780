"""Find a hidden number from "larger" / "smaller" feedback: the first demo of the Trace paper.

The program is two traced ops on a trainable number ``x``; its output is judged against a
target the optimizer never sees, with feedback in words only ("too small: make it larger").
The graph-aware optimizer reads the program, the feedback and the values it tried before, and
proposes the next ``x``.

Proposals of a small local model are noisy (it tends to jump back and forth), so by default each
step asks for two candidates and keeps the one that scores best, or the current ``x`` when
neither is better (:class:`optimizers.BestOfN`, ``--k 2``); the scores of rejected candidates
stay in the optimizer's history. ``--k 0`` runs the plain optimizer, one call per step.

    python examples/numeric.py                       # the local model (no key, no network)
    python examples/numeric.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import (
    Outcome,
    base_parser,
    client_from,
    finish,
    log_step,
    make_optimizer,
    picture,
    say,
)

import tracegraph as tg
from optimizers import BestOfN
from optimizers.algorithms.optimizer import Optimizer
from optimizers.llm.types import LLMClient

TARGET = 47.0  # the output the feedback steers towards; the optimizer only sees the feedback


@tg.op
def scale(x: float) -> float:
    """Multiply the input by 3."""
    return 3 * x


@tg.op
def shift(y: float) -> float:
    """Add 5: the program's output."""
    return y + 5


def judge(output: float, target: float = TARGET) -> tuple[str, float]:
    """Feedback in words, and the score (minus the distance to the target; 0 is perfect)."""
    gap = output - target
    if abs(gap) < 0.5:
        return "Correct: the output is right. Keep x as it is.", 0.0
    way = "too small: the output must be LARGER" if gap < 0 else "too large: it must be SMALLER"
    return f"The output {output:g} is {way}.", -abs(gap)


def run(
    llm: LLMClient,
    steps: int = 6,
    out: str = "runs/examples",
    optimizer: str = "graph",
    k: int = 2,
) -> Outcome:
    """Optimize ``x`` for up to ``steps`` steps; stop early once the output is right."""
    x = tg.param(0.0, name="x", description="the number fed to the program", bounds=(-100, 100))
    opt: Optimizer = make_optimizer(optimizer, [x], llm, temperatures=(0.0, 0.3, 0.6))
    if k:

        def evaluate(values: dict[str, float]) -> float:
            with tg.no_trace():
                return judge(shift(scale(values["x"])))[1]

        opt = BestOfN(opt, evaluate=evaluate, k=k, temperatures=(0.0, 0.7), max_concurrency=k)
    outcome = Outcome("numeric")
    output = shift(scale(x))
    text, score = judge(output.value)
    outcome.scores.append(score)
    say(f"x = {x.value:g} -> output {output.value:g}: {text}")
    for _ in range(steps):
        if score == 0.0:
            break
        opt.zero_feedback()
        output.backward(text)
        report = opt.step()
        output = shift(scale(x))
        text, score = judge(output.value)
        opt.record_score(score)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    outcome.values = {"x": x.value}
    outcome.solved = score == 0.0
    opt.zero_feedback()
    output.backward(text)  # the picture shows the last output with its feedback
    outcome.picture = picture(output, out, "numeric")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    parser = base_parser(__doc__ or "", steps=6)
    parser.add_argument("--k", type=int, default=2, help="candidates per step (0: no search)")
    args = parser.parse_args(argv)
    outcome = run(llm or client_from(args), args.steps, args.out, args.optimizer, args.k)
    return finish(outcome)


if __name__ == "__main__":
    sys.exit(main())
