"""Run one task with one optimizer and keep the books; summarise runs per family.

A run: the workflow runs once, then up to ``steps`` times: feedback backward from every output,
``opt.step()``, the workflow again, ``opt.record_score``; it stops once solved. For each step
the books keep what changed, the score after it, the model calls and tokens it cost (from the
client's usage ledger: optimizer calls and task-model calls, labelled ``student``, apart), and
whether it changed nothing WITHOUT a reported reason: a *silent no-op* is a step whose report
has no ``applied`` change and neither ``rejected`` proposals, an ``error``, a ``skipped`` reason
nor any ``notes``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.quality.seeded import SeededClient
from benchmarks.quality.task import Task
from optimizers import (
    BeamSearch,
    BestOfN,
    GraphOptimizer,
    HistoryOptimizer,
    Optimizer,
    StepReport,
    TextualGradientOptimizer,
)
from optimizers.llm.types import LLMClient, Usage

STUDENT = "student"


def _graph(task: Task, llm: LLMClient, gate: bool = False) -> Optimizer:
    return GraphOptimizer(task.params, llm=llm, evaluate=task.evaluate if gate else None)


# kind -> (task, client, gate) -> optimizer; ``gate``: give it the task's score function
OPTIMIZERS: dict[str, Callable[[Task, LLMClient, bool], Optimizer]] = {
    "graph": _graph,
    "textgrad": lambda t, llm, g: TextualGradientOptimizer(
        t.params, llm=llm, evaluate=t.evaluate if g else None
    ),
    "history": lambda t, llm, g: HistoryOptimizer(
        t.params, llm=llm, evaluate=t.evaluate if g else None
    ),
    "bestof": lambda t, llm, g: BestOfN(_graph(t, llm), evaluate=t.evaluate),
    "beam": lambda t, llm, g: BeamSearch(_graph(t, llm), evaluate=t.evaluate),
}


def _split(llm: LLMClient) -> tuple[Usage, Usage]:
    """(all calls, task-model calls) so far, from the client's ledger."""
    return llm.usage.total, llm.usage.by_label().get(STUDENT, Usage())


def _delta(now: Usage, was: Usage) -> dict[str, int]:
    return {
        "calls": now.calls - was.calls,
        "tokens": now.total_tokens - was.total_tokens,
    }


def silent(report: StepReport) -> bool:
    """Changed nothing and said nothing about why."""
    if report.applied:
        return False
    return not (report.rejected or report.error or report.skipped or report.notes)


def reason(report: StepReport) -> str:
    """Why a step changed nothing (empty when it changed something or said nothing)."""
    if report.applied:
        return ""
    parts = [report.error or "", report.skipped or ""]
    parts += [f"rejected {r.param}: {r.reasons[0] if r.reasons else ''}" for r in report.rejected]
    parts += report.notes
    return " | ".join(p for p in parts if p)[:300]


def run_task(
    task: Task,
    kind: str,
    llm: LLMClient,
    steps: int,
    seed: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    gate: bool = False,
) -> dict[str, Any]:
    """Optimize ``task`` with optimizer ``kind`` for at most ``steps`` steps; the run's record.

    With ``seed``, the optimizer's requests carry it as the sampling seed (the task model's
    requests, at temperature 0, do not). ``progress`` is called with each step's row. With
    ``gate``, the optimizer gets the task's score function (``evaluate=``: proposals are scored
    before they are applied); the searches always have it.
    """
    start_all, start_student = _split(llm)
    clock = time.perf_counter()
    held_before = task.held_out() if task.held_out else None
    opt = OPTIMIZERS[kind](task, llm if seed is None else SeededClient(llm, seed), gate)
    episode = task.run()
    rows: list[dict[str, Any]] = []
    score_before = episode.score
    opt.record_score(score_before)  # what a user's loop knows before the first step
    crashed: str | None = None
    for _ in range(steps):
        if episode.solved:
            break
        was_all, was_student = _split(llm)
        opt.zero_feedback()
        for node, text in episode.feedback:
            node.backward(text)
        try:
            report = opt.step()
        except Exception as exc:  # what a user's loop would see: the run ends here
            crashed = f"step {len(rows) + 1} raised {type(exc).__name__}: {exc}"[:500]
            break
        episode = task.run()
        opt.record_score(episode.score)
        now_all, now_student = _split(llm)
        student = _delta(now_student, was_student)
        total = _delta(now_all, was_all)
        rows.append(
            row := {
                "step": report.step,
                "score": episode.score,
                "solved": episode.solved,
                "changed": sorted(report.applied),
                "silent_noop": silent(report),
                "reason": reason(report),
                "reasoning": report.reasoning[:200],
                "values": {p.name: _short(p.value) for p in task.params},
                "notes": [n[:200] for n in report.notes],
                "optimizer_calls": total["calls"] - student["calls"],
                "student_calls": student["calls"],
                "tokens": total["tokens"],
            }
        )
        if progress is not None:
            progress(row)
    restore = getattr(opt, "restore_best", None)
    if not episode.solved and restore is not None and restore():  # what a user's loop ends on
        episode = task.run()
    held_after = task.held_out() if task.held_out else None
    end_all, end_student = _split(llm)
    total, student = _delta(end_all, start_all), _delta(end_student, start_student)
    record: dict[str, Any] = {
        "family": task.family,
        "task": task.name,
        "optimizer": kind + ("+gate" if gate and kind in ("graph", "textgrad", "history") else ""),
        "seed": seed,
        "info": task.info,
        "solved": episode.solved,
        "crashed": crashed,
        "steps": len(rows),
        "score_before": score_before,
        "score_after": episode.score,
        "calls": total["calls"],
        "optimizer_calls": total["calls"] - student["calls"],
        "student_calls": student["calls"],
        "tokens": total["tokens"],
        "wall_seconds": round(time.perf_counter() - clock, 1),
        "noop_steps": sum(1 for r in rows if not r["changed"]),
        "silent_noops": sum(1 for r in rows if r["silent_noop"]),
        "final_values": {p.name: _short(p.value) for p in task.params},
        "rows": rows,
    }
    if held_before is not None and held_after is not None:
        record["held_out_before"] = held_before
        record["held_out_after"] = held_after
    return record


def _short(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    return text if len(text) <= 400 else text[:400] + "..."


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per family (and optimizer): runs solved, and the medians over solved runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(f"{r['family']}/{r['optimizer']}", []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for key, runs in groups.items():
        won = [r for r in runs if r["solved"]]
        row: dict[str, Any] = {
            "runs": len(runs),
            "solved": len(won),
            "median_steps_solved": _median([r["steps"] for r in won]),
            "median_calls_solved": _median([r["calls"] for r in won]),
            "median_optimizer_calls_solved": _median([r["optimizer_calls"] for r in won]),
            "median_tokens_solved": _median([r["tokens"] for r in won]),
            "median_wall_seconds_solved": _median([r["wall_seconds"] for r in won]),
            "crashed": sum(1 for r in runs if r.get("crashed")),
            "steps": sum(r["steps"] for r in runs),
            "noop_steps": sum(r["noop_steps"] for r in runs),
            "silent_noops": sum(r["silent_noops"] for r in runs),
        }
        held = [r for r in runs if "held_out_before" in r]
        if held:
            for when in ("before", "after"):
                values = [r[f"held_out_{when}"]["test_accuracy"] for r in held]
                row[f"test_accuracy_{when}"] = [round(v, 3) for v in values]
        out[key] = row
    return out
