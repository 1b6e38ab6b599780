"""Where each line of the best parameters came from: a blame over the run's steps.

Walk the committed steps from the baseline to the best step; whenever a parameter's value
(``params.json``: the values each step left) changes, diff the old lines against the new ones
(:mod:`difflib`): unchanged lines keep the step that wrote them, new or rewritten lines are
credited to this step. Each credited step comes with why it was taken: its decision, the
optimizer's reasoning, and the feedback of the minibatch that led to the change.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizers.trainer.views import value_text
from optimizers.view.files import read_json

if TYPE_CHECKING:
    from optimizers.view.data import RunReader

__all__ = ["blame", "lineage"]


def blame(
    versions: list[tuple[int, str]],
) -> list[dict[str, Any]]:
    """Lines of the last version, each with the step that introduced it.

    ``versions`` are ``(step, text)`` in order, the first being the starting value.

    >>> lines = blame([(0, "a\\nb\\n"), (2, "a\\nc\\n"), (5, "z\\na\\nc\\n")])
    >>> [(x["text"], x["step"]) for x in lines]
    [('z', 5), ('a', 0), ('c', 2)]
    """
    if not versions:
        return []
    step0, text0 = versions[0]
    lines = text0.splitlines()
    owners = [step0] * len(lines)
    for step, text in versions[1:]:
        new = text.splitlines()
        matcher = difflib.SequenceMatcher(a=lines, b=new, autojunk=False)
        fresh = [step] * len(new)
        for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
            if tag == "equal":
                fresh[j1 : j1 + (i2 - i1)] = owners[i1:i2]
        lines, owners = new, fresh
    return [{"text": t, "step": s} for t, s in zip(lines, owners, strict=True)]


def _feedback_texts(folder: Path, limit: int = 3) -> list[str]:
    """The minibatch's feedback texts, worst score first."""
    rows = read_json(folder / "feedback.json")
    if not isinstance(rows, list):
        return []
    judged = [r for r in rows if isinstance(r, dict) and (r.get("text") or r.get("error"))]
    judged.sort(key=lambda r: (r.get("score") is None, r.get("score") or 0.0))
    return [str(r.get("text") or r.get("error"))[:500] for r in judged][:limit]


def lineage(reader: RunReader) -> dict[str, Any]:
    """Per parameter of the best step: its lines with the step that introduced each, and per
    credited step its verdict, decision, reasoning and the feedback that led to it."""
    ckpt = reader.checkpoint()
    steps = reader.committed()
    best = int(ckpt.get("best_step", steps[-1] if steps else 0) or 0)
    path = [s for s in steps if s <= best]
    names = list(reader.params(path[0])) if path else []
    params: list[dict[str, Any]] = []
    credited: set[int] = set()
    for name in names:
        versions: list[tuple[int, str]] = []
        for step in path:
            value = reader.params(step).get(name)
            text = value_text(value)
            if not versions or versions[-1][1] != text:
                versions.append((step, text))
        lines = blame(versions)
        credited.update(x["step"] for x in lines)
        params.append({"name": name, "lines": lines, "changes": [s for s, _ in versions]})
    why = {}
    for step in sorted(credited):
        record = reader.record(step) or {}
        report = record.get("report") or {}
        why[str(step)] = {
            "step": step,
            "decision": record.get("decision") or "",
            "reasoning": report.get("reasoning") or "",
            "feedback": _feedback_texts(reader.path / "steps" / f"{step:06d}"),
            "val": record.get("val_score"),
        }
    return {"run": reader.id, "best_step": best, "params": params, "steps": why}
