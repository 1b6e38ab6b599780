"""Train a system prompt with the Trainer: a run worth watching in ``tracegraph view``.

A student model labels short reviews under a trainable instruction. A label counts only when it
is exactly ``POS`` or ``NEG``; every miss becomes feedback on that answer. The Trainer runs
minibatches of four reviews, sends the feedback backward, lets the optimizer propose a new
instruction, scores it on held-out reviews and keeps it only when it beats the best beyond the
noise. Everything lands in a run directory (steps, prompts, replies, trace graphs), and
``report.html`` is written at the end.

    tracegraph run examples/train_prompt.py          # the local model; prints the run directory
    tracegraph view runs/                            # in another terminal: watch it live
    python examples/train_prompt.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from _common import base_parser, client_from, say

import tracegraph as tg
from optimizers import Budget, GraphOptimizer
from optimizers.llm.types import LLMClient
from optimizers.trainer import Trainer, exact_match

START = "Classify the sentiment of the review."
TRAIN = [
    ("An absolute delight from start to finish.", "POS"),
    ("The screen cracked after two days.", "NEG"),
    ("The battery lasts all day and charging is quick.", "POS"),
    ("Customer service never answered my emails.", "NEG"),
    ("Friendly staff and the food arrived hot.", "POS"),
    ("Cold soup and a rude waiter.", "NEG"),
    ("I would happily buy this again.", "POS"),
    ("It stopped working within a week.", "NEG"),
]
VAL = [
    ("Clear instructions, setup took five minutes.", "POS"),
    ("The plot was dull and far too long.", "NEG"),
    ("Great value for the price.", "POS"),
    ("The app crashes every time I open it.", "NEG"),
    ("The hotel room was spotless and quiet.", "POS"),
    ("A complete waste of money.", "NEG"),
]


def build(
    student: LLMClient, optimizer: LLMClient | None = None, *, run_dir: Path | None = None,
    **settings: Any,
) -> Trainer:  # fmt: skip
    """The trainer: the instruction, the traced labeling op, exact-match feedback."""
    instruction = tg.param(
        START, name="instruction", description="system prompt of the review labeler"
    )

    @tg.op
    def label(instruction: str, review: str) -> str:
        """Ask the student model for the review's label under the instruction."""
        messages = [{"role": "system", "content": instruction}, {"role": "user", "content": review}]
        return student.complete(messages, label="student", temperature=0.0, max_tokens=12).text

    config: dict[str, Any] = {"batch_size": 4, "epochs": 2, "concurrency": 2, "patience": 3}
    config.update(settings)
    return Trainer(
        lambda review: label(instruction, review),
        GraphOptimizer([instruction], llm=optimizer or student),
        train=TRAIN, val=VAL, feedback=exact_match(case_sensitive=True),
        budget=Budget(max_calls=200), run_dir=run_dir, clients=[student], **config,
    )  # fmt: skip


def make_trainer(run_dir: Path) -> Trainer:
    """What ``tracegraph run`` calls: the configured model, else the local one. No reply cache
    of its own: the run's call journal already keeps every reply (resume replays them)."""
    args = base_parser(__doc__ or "", 4).parse_args([])
    return build(client_from(args, cache=None), run_dir=run_dir)


def main(argv: list[str] | None = None, llm: LLMClient | None = None) -> int:
    """Run from the command line (``--out`` is the folder of runs)."""
    args = base_parser(__doc__ or "", 4).parse_args(argv)
    run_dir = Path(args.out) / f"train_prompt-{time.strftime('%Y%m%d-%H%M%S')}"
    trainer = build(llm or client_from(args), run_dir=run_dir, max_steps=args.steps)
    result = trainer.fit()
    say(f"{result.status}: {result.reason}; best score {result.best_score} at step "
        f"{result.best_step}")  # fmt: skip
    say(f"  instruction = {result.best_params['instruction']!r}")
    say(f"look into it: tracegraph view {run_dir}; report: {run_dir / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
