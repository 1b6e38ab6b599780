"""Read-only views of a run directory, shared by the command line and the HTML report."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from optimizers.trainer.rundir import RunDir, RunDirError, StepFiles

__all__ = ["StepRow", "diff_values", "resolve_step", "step_rows", "value_text", "verdict"]


@dataclass(frozen=True)
class StepRow:
    """One line of the steps table."""

    step: int
    epoch: int | None
    train_score: float | None
    val_score: float | None
    val_stderr: float | None
    best_score: float | None
    verdict: str  # "baseline", "accepted", "rejected", "no change"
    applied: int
    rejected: int
    calls: int
    cost: float
    total_cost: float
    seconds: float
    note: str


def verdict(record: dict[str, Any]) -> str:
    """What became of a step: baseline, accepted, rejected or no change."""
    if record.get("baseline"):
        return "baseline"
    if record.get("accepted"):
        return "accepted"
    report = record.get("report") or {}
    return "rejected" if report.get("applied") else "no change"


def _note(record: dict[str, Any]) -> str:
    report = record.get("report") or {}
    for key in ("error", "skipped"):
        if report.get(key):
            return str(report[key]).splitlines()[0][:120]
    if not report.get("applied"):  # why nothing changed: every such step says why
        said = [
            f"rejected {r['param']}: {(r.get('reasons') or [''])[0]}"
            for r in report.get("rejected") or []
        ]
        said += [str(n) for n in report.get("notes") or []]
        if said:
            return said[0].splitlines()[0][:120]
    probes = [str(n) for n in report.get("notes") or [] if str(n).startswith("a probe")]
    return probes[0].splitlines()[0][:120] if probes else ""  # where applied values came from


def step_row(files: StepFiles) -> StepRow:
    """The table row of one step."""
    r = files.record
    report = r.get("report") or {}
    usage = r.get("usage") or {}
    return StepRow(
        step=files.step,
        epoch=r.get("epoch"),
        train_score=r.get("train_score"),
        val_score=r.get("val_score"),
        val_stderr=r.get("val_stderr"),
        best_score=r.get("best_score"),
        verdict=verdict(r),
        applied=len(report.get("applied") or {}),
        rejected=len(report.get("rejected") or []),
        calls=int(usage.get("calls", 0)),
        cost=float(usage.get("cost", 0.0)),
        total_cost=float((r.get("total_usage") or {}).get("cost", 0.0)),
        seconds=float(r.get("seconds", 0.0)),
        note=_note(r),
    )


def step_rows(rundir: RunDir) -> list[StepRow]:
    """Every committed step as a row, in order."""
    return [step_row(files) for files in rundir.iter_steps()]


def resolve_step(rundir: RunDir, name: str) -> int:
    """A step number from ``"3"``, ``"best"``, ``"last"`` or ``"first"``."""
    ckpt = rundir.read_checkpoint()
    if ckpt is None:
        raise RunDirError(f"the run at {rundir.path} has no committed step yet")
    aliases = {"best": ckpt.get("best_step", 0), "last": ckpt["step"], "first": 0}
    if name in aliases:
        return int(aliases[name])
    try:
        return int(name)
    except ValueError:
        raise RunDirError(
            f"{name!r} is not a step; expected a number, 'first', 'best' or 'last'"
        ) from None


def value_text(value: Any) -> str:
    """A parameter value as text lines for diffs: text as is, everything else as pretty JSON."""
    if isinstance(value, str):
        return value if value.endswith("\n") else value + "\n"
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=repr) + "\n"


def diff_values(name: str, old: Any, new: Any, a: str, b: str) -> str:
    """The unified diff of one parameter between two steps ('' when equal)."""
    lines = difflib.unified_diff(
        value_text(old).splitlines(keepends=True),
        value_text(new).splitlines(keepends=True),
        fromfile=f"{name} @ step {a}",
        tofile=f"{name} @ step {b}",
    )
    return "".join(lines)
