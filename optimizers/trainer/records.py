"""What a step leaves in its folder: readable files built from the step's results.

Pure functions from results to ``{relative path: text}``; :meth:`RunDir.write_step` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optimizers.trainer.cases import Case, Verdict
from optimizers.trainer.selection import Decision, stderr
from optimizers.trainer.state import TrainState
from tracegraph.shorten import short_text

__all__ = [
    "StepResult",
    "case_rows",
    "rejection_rows",
    "render_messages",
    "step_files",
    "trace_dot",
    "trace_files",
    "trace_json",
]


@dataclass
class StepResult:
    """What a step produced, as its folder will show it."""

    record: dict[str, Any]
    train: Sequence[tuple[Case, Verdict]]
    candidate: dict[str, Any] | None = None
    val: Sequence[tuple[Case, Verdict]] | None = None
    report: Any = None
    rejections: list[dict[str, Any]] = field(default_factory=list)
    # trace.dot and trace.json, taken right after backward (before the optimizer changed the
    # parameters) so the graph shows the values and feedback the step learned from.
    traced: dict[str, str] | None = None


def step_record(
    new: TrainState,
    epoch: int,
    indices: list[int],
    train: Sequence[tuple[Case, Verdict]],
    scores: list[float],
    decision: Decision,
    report: Any,
    *,
    usage: dict[str, Any],
    total: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """The ``step.json`` of a step: scores, the decision and why, the optimizer's report, usage."""
    train_scores = [v.score for _, v in train if v.score is not None]
    return {
        "step": new.step,
        "epoch": epoch,
        "batch": indices,
        "train_score": sum(train_scores) / len(train_scores) if train_scores else None,
        "val_score": sum(scores) / len(scores) if scores else None,
        "val_stderr": stderr(scores),
        "accepted": decision.accepted,
        "decision": decision.reason,
        "best_score": new.best_score,
        "best_step": new.best_step,
        "stale": new.stale,
        "report": report.to_dict() if hasattr(report, "to_dict") else None,
        "usage": usage,
        "total_usage": total,
        "seconds": round(seconds, 3),
    }


def rejection_rows(
    report: Any, accepted: bool, reason: str, changed: bool, candidate: dict[str, Any]
) -> list[dict[str, Any]]:
    """The optimizer's rejections (per parameter) and the trainer's (the whole candidate)."""
    out = [
        {"by": "optimizer", "param": r.param, "value": r.value, "reasons": list(r.reasons)}
        for r in getattr(report, "rejected", [])
    ]
    if changed and not accepted:
        out.append({"by": "trainer", "param": "*", "value": candidate, "reasons": [reason]})
    return out


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=repr) + "\n"


def render_messages(messages: Sequence[dict[str, Any]]) -> str:
    """A message list as Markdown: one ``## role`` section per message.

    >>> print(render_messages([{"role": "user", "content": "hi"}]))
    ## user
    <BLANKLINE>
    hi
    <BLANKLINE>
    """
    parts = [f"## {m.get('role', '?')}\n\n{m.get('content', '')}\n" for m in messages]
    return "\n".join(parts)


def case_rows(pairs: Sequence[tuple[Case, Verdict]]) -> list[dict[str, Any]]:
    """One JSON row per judged case: input, target, output, score, feedback, error."""
    rows = []
    for case, verdict in pairs:
        row: dict[str, Any] = {
            "example": case.index,
            "input": short_text(case.input, 1000),
            "target": short_text(case.target, 1000),
            "output": short_text(case.value, 2000),
            **verdict.to_dict(),
        }
        if case.error is not None:
            row["error"] = short_text(str(case.error), 2000)
        rows.append(row)
    return rows


def trace_dot(pairs: Sequence[tuple[Case, Verdict]]) -> str | None:
    """The DOT source of the graph of the step's outputs (None when nothing was traced)."""
    outputs = [case.output for case, _ in pairs if case.output is not None]
    if not outputs:
        return None
    from tracegraph.dot import to_dot

    return str(to_dot(outputs).source)


def step_files(result: StepResult, params: dict[str, Any]) -> dict[str, str]:
    """Every file of one step folder, as text; ``params`` are the values after the step."""
    report = result.report.to_dict() if hasattr(result.report, "to_dict") else None
    files = {
        "step.json": _dump(result.record),
        "params.json": _dump(params),
        "candidate.json": _dump(result.candidate if result.candidate is not None else params),
        "feedback.json": _dump(case_rows(result.train)),
        "rejections.json": _dump(result.rejections),
    }
    if result.val is not None:
        files["val.json"] = _dump(case_rows(result.val))
    if report is not None:
        for i, messages in enumerate(report.get("prompts") or []):
            files[f"problems/{i:03d}.md"] = render_messages(messages)
        for i, reply in enumerate(report.get("replies") or []):
            files[f"replies/{i:03d}.txt"] = str(reply)
    files.update(result.traced if result.traced is not None else trace_files(result.train))
    return files


def trace_files(pairs: Sequence[tuple[Case, Verdict]]) -> dict[str, str]:
    """``trace.dot`` and ``trace.json`` of the step's graph (none when nothing was traced)."""
    dot = trace_dot(pairs)
    if dot is None:
        return {}
    return {"trace.dot": dot, "trace.json": _dump(trace_json(pairs))}


def trace_json(pairs: Sequence[tuple[Case, Verdict]]) -> dict[str, Any]:
    """The step's trace graph as JSON nodes and edges (what the viewer draws)."""
    from tracegraph.graph_json import graph_data

    return graph_data([case.output for case, _ in pairs if case.output is not None])
