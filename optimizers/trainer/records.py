"""What a step leaves in its folder: readable files built from the step's results.

Pure functions from results to ``{relative path: text}``; :meth:`RunDir.write_step` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from optimizers.trainer.cases import Case, Verdict, short_repr

__all__ = ["case_rows", "render_messages", "step_files", "trace_dot"]


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
            "input": short_repr(case.input, 1000),
            "target": short_repr(case.target, 1000),
            "output": short_repr(case.value, 2000),
            **verdict.to_dict(),
        }
        if case.error is not None:
            row["error"] = short_repr(str(case.error), 2000)
        rows.append(row)
    return rows


def trace_dot(pairs: Sequence[tuple[Case, Verdict]]) -> str | None:
    """The DOT source of the graph of the step's outputs (None when nothing was traced)."""
    outputs = [case.output for case, _ in pairs if case.output is not None]
    if not outputs:
        return None
    from tracegraph.dot import to_dot

    return str(to_dot(outputs).source)


def step_files(
    *,
    record: dict[str, Any],
    params: dict[str, Any],
    candidate: dict[str, Any],
    train: Sequence[tuple[Case, Verdict]],
    val: Sequence[tuple[Case, Verdict]] | None,
    report: dict[str, Any] | None,
    rejections: list[dict[str, Any]],
    dot: str | None,
) -> dict[str, str]:
    """Every file of one step folder, as text."""
    files = {
        "step.json": _dump(record),
        "params.json": _dump(params),
        "candidate.json": _dump(candidate),
        "feedback.json": _dump(case_rows(train)),
        "rejections.json": _dump(rejections),
    }
    if val is not None:
        files["val.json"] = _dump(case_rows(val))
    if report is not None:
        for i, messages in enumerate(report.get("prompts") or []):
            files[f"problems/{i:03d}.md"] = render_messages(messages)
        for i, reply in enumerate(report.get("replies") or []):
            files[f"replies/{i:03d}.txt"] = str(reply)
    if dot is not None:
        files["trace.dot"] = dot
    return files
