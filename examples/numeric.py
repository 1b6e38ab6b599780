"""Find the input that makes a small program output 47: the first demo of the Trace paper.

The program is two traced ops on a trainable whole number ``x`` (``3 * x``, then ``+ 5``); its
output is judged against the target 47 and the feedback says, in words, which way it is off.
The graph-aware optimizer reads the program, the feedback and the values it tried before, and
proposes the next ``x``. A small model reads the direction well but not the size of the move,
so the optimizer takes its proposal as a direction and chooses the step from the history: the
step grows while the direction holds and is bisected once it flips (each adjusted step says so).

    python examples/numeric.py                       # the local model (no key, no network)
    python examples/numeric.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
    python examples/numeric.py --k 2                 # two candidates per step, the best kept
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import Outcome, base_parser, client_from, finish, make_optimizer, picture, say

import tracegraph as tg
from optimizers import BestOfN
from optimizers.algorithms.optimizer import Optimizer, StepReport
from optimizers.llm.types import LLMClient

TARGET = 47  # the output the feedback steers towards


@tg.op
def scale(x: int) -> int:
    """Multiply the input by 3."""
    return 3 * x


@tg.op
def shift(y: int) -> int:
    """Add 5: the program's output."""
    return y + 5


def judge(output: float, target: float = TARGET) -> tuple[str, float]:
    """Feedback in words, and the score (minus the distance to the target; 0 is perfect)."""
    gap = output - target
    if abs(gap) < 0.5:
        return f"Correct: the output is {target:g}. Keep x as it is.", 0.0
    way = "too small" if gap < 0 else "too large"
    return f"The output {output:g} is {way}: it must be {target:g}.", -abs(gap)


def tell(report: StepReport, x: int, output: int, score: float) -> None:
    """One step of the story: the new value, the output, the score, and why."""
    if report.applied:
        old, new = report.applied["x"]
        say(f"step {report.step}: x {old} -> {new}   output {output}   score {score:g}")
    else:
        say(f"step {report.step}: x stays {x}   output {output}   score {score:g}")
    for note in report.notes:  # e.g. the step the optimizer chose instead of the model's
        say(f"    note: {note}")
    for r in report.rejected:
        say(f"    not applied: {r}")
    if report.error:
        say(f"    error: {report.error}")
    if report.reasoning:
        text = " ".join(report.reasoning.split())
        say(f"    model: {text if len(text) <= 150 else text[:147] + '...'}")


def run(
    llm: LLMClient,
    steps: int = 10,
    out: str = "runs/examples",
    optimizer: str = "graph",
    k: int = 0,
) -> Outcome:
    """Optimize ``x`` for up to ``steps`` steps; stop early once the output is right."""
    x = tg.param(0, name="x", description="the whole number fed to the program", bounds=(-100, 100))
    opt: Optimizer = make_optimizer(optimizer, [x], llm)
    if k:

        def evaluate(values: dict[str, int]) -> float:
            with tg.no_trace():
                return judge(shift(scale(values["x"])))[1]

        opt = BestOfN(opt, evaluate=evaluate, k=k, temperatures=(0.0, 0.7), max_concurrency=k)
    outcome = Outcome("numeric")
    output = shift(scale(x))
    text, score = judge(output.value)
    outcome.scores.append(score)
    opt.record_score(score)  # how the start scored: the optimizer compares every step with it
    say(f"Find x so that the program 3 * x + 5 outputs {TARGET}; the optimizer sees the program")
    say("and the feedback. Score: minus the distance of the output to the target (0 = solved).")
    say(f"start:  x = {x.value}   output {output.value}   score {score:g}   feedback: {text}")
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
        tell(report, x.value, output.value, score)
    outcome.values = {"x": x.value}
    outcome.solved = score == 0.0
    say(
        f"end:    x = {x.value}, output {output.value}: "
        + (f"solved in {len(outcome.reports)} steps" if outcome.solved else "not solved")
    )
    opt.zero_feedback()
    output.backward(text)  # the picture shows the last output with its feedback
    outcome.picture = picture(output, out, "numeric")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    parser = base_parser(__doc__ or "", steps=10)
    parser.add_argument("--k", type=int, default=0, help="candidates per step (0: no search)")
    args = parser.parse_args(argv)
    outcome = run(llm or client_from(args), args.steps, args.out, args.optimizer, args.k)
    return finish(outcome)


if __name__ == "__main__":
    sys.exit(main())
