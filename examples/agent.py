"""Improve a multi-step agent's policy from feedback at the end of each episode.

An agent walks on a line of cells towards a goal. Each turn is three ops: ``observe`` the
state, ask the ``policy`` for a move, ``move``. The policy is a ``@tg.trainable`` function (its
source is the parameter) and starts out walking the wrong way. Only the episode's end is judged
("ended at cell -6, the goal was 4"); the feedback flows back through every turn to the policy.

    python examples/agent.py                       # the local model
    python examples/agent.py --model gpt-4o-mini   # or OPENAI_API_KEY / TRACEGRAPH_MODEL
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
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

GOALS = (4, -3)  # one episode per goal, starting at cell 0
TURNS = 6
START_POLICY = '''def policy(observation):
    """Choose the next move from an observation: "left", "right" or "stay"."""
    if observation["goal_is"] == "right":
        return "left"
    return "stay"
'''


@tg.op
def observe(state: dict[str, int]) -> dict[str, Any]:
    """What the agent sees: its cell and on which side the goal is ("left", "right", "here")."""
    gap = state["goal"] - state["cell"]
    side = "right" if gap > 0 else "left" if gap < 0 else "here"
    return {"cell": state["cell"], "goal_is": side}


@tg.trainable
def policy(observation: dict[str, Any]) -> str:
    """Choose the next move from an observation: "left", "right" or "stay"."""
    if observation["goal_is"] == "right":
        return "left"
    return "stay"


@tg.op
def move(state: dict[str, int], action: str) -> dict[str, int]:
    """Apply a move: "left" is cell - 1, "right" is cell + 1, anything else stays."""
    step = {"left": -1, "right": 1}.get(action, 0)
    return {"cell": state["cell"] + step, "goal": state["goal"]}


def episode(goal: int) -> tg.Node:
    """Run TURNS turns from cell 0; the final state node."""
    state = tg.node({"cell": 0, "goal": goal}, name=f"start_goal_{goal}")
    for _ in range(TURNS):
        state = move(state, policy(observe(state)))
    return state


def judge(final: dict[str, int]) -> tuple[str, float]:
    """End-of-episode feedback and score (1 at the goal, less the farther away)."""
    gap = abs(final["goal"] - final["cell"])
    if gap == 0:
        return f"reached the goal {final['goal']} and stayed there: well done", 1.0
    text = f"the episode ended at cell {final['cell']}, but the goal was cell {final['goal']}"
    return text, round(1 / (1 + gap), 4)


def play() -> tuple[list[tg.Node], list[str], float]:
    """One episode per goal; the final states, their feedback and the mean score."""
    finals = [episode(goal) for goal in GOALS]
    verdicts = [judge(f.value) for f in finals]
    return finals, [t for t, _ in verdicts], sum(s for _, s in verdicts) / len(verdicts)


def run(
    llm: LLMClient, steps: int = 4, out: str = "runs/examples", optimizer: str = "graph"
) -> Outcome:
    """Improve the policy until both episodes end at their goals (at most ``steps`` steps)."""
    code = tg.code_of(policy)
    code.set_value(START_POLICY)
    opt = make_optimizer(optimizer, [code], llm, trial=TrialConfig(timeout=10))
    outcome = Outcome("agent")
    finals, texts, score = play()
    outcome.scores.append(score)
    for _ in range(steps):
        if score == 1.0:
            break
        opt.zero_feedback()
        for final, text in zip(finals, texts, strict=True):
            final.backward(text)
        report = opt.step()
        finals, texts, score = play()
        opt.record_score(score)
        outcome.scores.append(score)
        outcome.reports.append(report)
        log_step(report, score)
    outcome.values = {"policy": code.value}
    outcome.solved = score == 1.0
    opt.zero_feedback()
    for final, text in zip(finals, texts, strict=True):
        final.backward(text)
    outcome.picture = picture(finals, out, "agent")
    return outcome


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    """Parse the flags, run, print the score before and after and where the picture is."""
    args = base_parser(__doc__ or "", steps=4).parse_args(argv)
    return finish(run(llm or client_from(args), args.steps, args.out, args.optimizer))


if __name__ == "__main__":
    sys.exit(main())
