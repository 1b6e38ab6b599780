"""What every example shares: choosing the model, reporting scores, drawing the trace.

Model choice, in order: ``--model``/``--base-url`` flags, then the environment
(``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``TRACEGRAPH_MODEL``), else the local model
(Qwen2.5-Coder-1.5B through llama.cpp, no key and no network).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizers import GraphOptimizer, HistoryOptimizer, TextualGradientOptimizer
from optimizers.algorithms.optimizer import Optimizer, StepReport
from optimizers.llm.types import LLMClient
from tracegraph.node import Node

__all__ = [
    "Outcome",
    "base_parser",
    "client_from",
    "finish",
    "log_step",
    "make_optimizer",
    "picture",
    "say",
]

ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TRACEGRAPH_MODEL")
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "graph": GraphOptimizer,
    "textgrad": TextualGradientOptimizer,
    "history": HistoryOptimizer,
}


def base_parser(description: str, steps: int) -> argparse.ArgumentParser:
    """The flags every example takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", help="hosted model name (default: $TRACEGRAPH_MODEL)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    parser.add_argument("--local", default="1.5b", help="local model size when none is configured")
    parser.add_argument(
        "--threads", type=int, help="CPU threads of the local model (1 is best on a busy machine)"
    )
    parser.add_argument("--steps", type=int, default=steps, help="optimizer steps")
    parser.add_argument("--out", default="runs/examples", help="where the trace picture goes")
    parser.add_argument(
        "--optimizer", choices=sorted(OPTIMIZERS), default="graph", help="which optimizer"
    )
    return parser


def make_optimizer(kind: str, params: list[Node], llm: LLMClient, **config: Any) -> Optimizer:
    """One of the package's optimizers by its short name (``graph``, ``textgrad``, ``history``)."""
    return OPTIMIZERS[kind](params, llm=llm, **config)


def client_from(args: argparse.Namespace, **options: Any) -> LLMClient:
    """The model the flags or the environment name, else the local model."""
    from optimizers.llm.openai_client import OpenAIClient

    if args.model or args.base_url or any(os.environ.get(v) for v in ENV):
        return OpenAIClient(model=args.model, base_url=args.base_url, **options)
    from optimizers.llm import local_model

    options.setdefault("timeout", 600.0)  # a busy CPU makes the first answers slow
    return local_model(args.local, threads=getattr(args, "threads", None), **options)


def say(*parts: Any, end: str = "\n") -> None:
    """Print now (examples are watched while the model works)."""
    print(*parts, end=end, flush=True)


def picture(outputs: Node | Iterable[Node], out_dir: str, name: str) -> Path:
    """Draw the trace of ``outputs`` as SVG (or leave the ``.dot`` when ``dot`` is missing)."""
    from tracegraph.dot import DotNotFoundError, render

    base = Path(out_dir) / name
    try:
        path = render(outputs, base)
    except DotNotFoundError:
        path = base.parent / (base.name + ".dot")
        say(f"(graphviz's dot is missing: `make dot` installs it; wrote the source {path})")
    return path


@dataclass
class Outcome:
    """What an example's run did: the score before and after each step, and its reports."""

    name: str
    scores: list[float] = field(default_factory=list)  # [before, after step 1, ...]
    reports: list[StepReport] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    picture: Path | None = None
    solved: bool = False

    @property
    def before(self) -> float:
        return self.scores[0]

    @property
    def after(self) -> float:
        return self.scores[-1]


def finish(outcome: Outcome) -> int:
    """Print the summary every example ends with; exit status 0."""
    changed = sum(1 for r in outcome.reports if r.applied)
    say(f"score before: {outcome.before:g}   after: {outcome.after:g}   ", end="")
    say(f"({len(outcome.reports)} steps, {changed} changed the parameters)")
    for name, value in outcome.values.items():
        text = repr(value)
        say(f"  {name} = {text if len(text) < 300 else text[:300] + ' ...'}")
    if outcome.picture is not None:
        say(f"trace picture: {outcome.picture}")
    return 0


def log_step(report: StepReport, score: float) -> None:
    """One line per step: what changed (or why nothing did) and the new score."""
    if report.applied:
        what = ", ".join(
            f"{k}: {_short(repr(o))} -> {_short(repr(n))}" for k, (o, n) in report.applied.items()
        )
    else:
        what = report.error or report.skipped or "no change"
        if report.rejected:
            what += f" (rejected: {'; '.join(r.reasons[0][:80] for r in report.rejected[:2])})"
    say(f"step {report.step}: {what}  | score {score:g}")
    if report.reasoning:
        say(f"  reasoning: {_short(report.reasoning, 160)}")


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join((value if isinstance(value, str) else repr(value)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
