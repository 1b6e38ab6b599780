"""What the viewer shows, as JSON-able dicts built from a run directory (read-only).

:class:`RunReader` serves one run: the overview (status, totals, timing, one row per step),
one step in full, and the lineage of the best parameters (:mod:`optimizers.view.lineage`).
Committed step folders never change, so their files are cached by step number; the journal is
read incrementally. :func:`find_runs` lists the runs below a root folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from optimizers.trainer.views import diff_values, verdict
from optimizers.view.files import JournalTail, read_json, signature
from tracegraph.shorten import shorten

__all__ = ["RunReader", "find_runs"]

CALL_TEXT = 20_000  # longest prompt or reply text sent to the page per message


def find_runs(root: Path) -> dict[str, Path]:
    """Runs at ``root`` or up to two levels below it, by id (the path relative to ``root``,
    or the folder's name when ``root`` itself is the run)."""
    root = root.resolve()
    if (root / "run.json").is_file():
        return {root.name: root}
    found = sorted(
        {p.parent for p in root.glob("*/run.json")} | {p.parent for p in root.glob("*/*/run.json")}
    )
    return {p.relative_to(root).as_posix(): p for p in found}


def _why(record: dict[str, Any]) -> str:
    """The decision and why, in one sentence."""
    report = record.get("report") or {}
    for key in ("error", "skipped"):
        if report.get(key):
            return f"no candidate: {str(report[key]).splitlines()[0][:200]}"
    return str(record.get("decision") or "")


def row(step: int, record: dict[str, Any]) -> dict[str, Any]:
    """The overview's line of one step."""
    report = record.get("report") or {}
    usage = record.get("usage") or {}
    total = record.get("total_usage") or {}
    return {
        "step": step,
        "epoch": record.get("epoch"),
        "train": record.get("train_score"),
        "val": record.get("val_score"),
        "stderr": record.get("val_stderr"),
        "best": record.get("best_score"),
        "verdict": verdict(record),
        "why": _why(record),
        "applied": len(report.get("applied") or {}),
        "rejected": len(report.get("rejected") or []),
        "calls": int(usage.get("calls", 0) or 0),
        "cost": float(usage.get("cost", 0.0) or 0.0),
        "total_cost": float(total.get("cost", 0.0) or 0.0),
        "seconds": float(record.get("seconds", 0.0) or 0.0),
    }


class RunReader:
    """The views of one run directory; cheap to call again while the run is going."""

    def __init__(self, path: Path, run_id: str | None = None) -> None:
        self.path = Path(path)
        self.id = run_id or self.path.name
        self.journal = JournalTail(self.path / "calls.jsonl")
        self._records: dict[int, dict[str, Any]] = {}
        self._params: dict[int, dict[str, Any]] = {}

    def signature(self) -> tuple[tuple[int, int], ...]:
        return signature(self.path)

    # -- steps -----------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        data = read_json(self.path / "checkpoint.json")
        return data if isinstance(data, dict) else {}

    def committed(self) -> list[int]:
        """Step numbers whose folders are committed (at or below the checkpoint's step)."""
        last = int(self.checkpoint().get("step", -1))
        try:
            names = [p.name for p in (self.path / "steps").iterdir()]
        except OSError:
            return []
        return sorted(int(n) for n in names if n.isdigit() and int(n) <= last)

    def _folder(self, step: int) -> Path:
        return self.path / "steps" / f"{step:06d}"

    def record(self, step: int) -> dict[str, Any] | None:
        if step not in self._records:
            data = read_json(self._folder(step) / "step.json")
            if not isinstance(data, dict):
                return None
            self._records[step] = data
        return self._records[step]

    def params(self, step: int) -> dict[str, Any]:
        if step not in self._params:
            data = read_json(self._folder(step) / "params.json")
            if not isinstance(data, dict):
                return {}
            self._params[step] = data
        return self._params[step]

    def rows(self) -> list[dict[str, Any]]:
        self.journal.refresh()
        out = []
        for step in self.committed():
            record = self.record(step)
            if record is None:
                continue
            line = row(step, record)
            if "usage" not in record:  # the baseline's record has none: the journal has it
                used = self.journal.by_step.get(step, {})
                line["calls"], line["cost"] = int(used.get("calls", 0)), used.get("cost", 0.0)
            out.append(line)
        return out

    # -- overview --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        run = read_json(self.path / "run.json")
        run = run if isinstance(run, dict) else {}
        return {
            "id": self.id,
            "name": self.path.name,
            "path": str(self.path),
            "created": run.get("created"),
            "optimizer": run.get("optimizer"),
            "workflow": run.get("workflow"),
            "config": run.get("config") or {},
            "params": run.get("params") or [],
        }

    def overview(self) -> dict[str, Any]:
        """Status, totals, timing and the rows of every committed step."""
        info = self.info()
        ckpt = self.checkpoint()
        rows = self.rows()
        self.journal.refresh()
        total = self.journal.total
        status = str(ckpt.get("status", "starting"))
        step = int(ckpt.get("step", -1))
        total_steps = int(info["config"].get("total_steps") or 0)
        return {
            "run": info,
            "status": status,
            "reason": ckpt.get("reason", ""),
            "step": max(step, 0),
            "total_steps": total_steps,
            "best_score": ckpt.get("best_score"),
            "best_step": ckpt.get("best_step"),
            "calls": int(total.get("calls", 0)),
            "tokens": int(total.get("input_tokens", 0) + total.get("output_tokens", 0)),
            "cost": float(total.get("cost", 0.0)),
            **self._timing(rows, status, step, total_steps),
            "rows": rows,
        }

    def _timing(
        self, rows: list[dict[str, Any]], status: str, step: int, total_steps: int
    ) -> dict[str, Any]:
        """Elapsed (the steps' own time, plus the step in progress) and an ETA from the pace of
        the last ten steps; ``in_step``: what the step in progress has done so far."""
        elapsed = sum(r["seconds"] for r in rows)
        running = status == "running"
        in_step = None
        idle = None
        if running:
            try:
                since = time.time() - (self.path / "checkpoint.json").stat().st_mtime
            except OSError:
                since = 0.0
            last = max(self.journal.last_at or 0.0, time.time() - since)
            idle = max(0.0, time.time() - last)  # a dead process shows a growing idle time
            elapsed += since
            current = self.journal.by_step.get(step + 1, {})
            in_step = {"step": step + 1, "seconds": since, "calls": int(current.get("calls", 0))}
        paced = [r["seconds"] for r in rows if r["step"] > 0][-10:]
        eta = None
        if running and paced and total_steps:
            left = max(0.0, (total_steps - step) * sum(paced) / len(paced))
            eta = max(0.0, left - (in_step["seconds"] if in_step else 0.0))
        return {"elapsed": elapsed, "eta": eta, "in_step": in_step, "idle": idle}

    # -- one step --------------------------------------------------------------------------
    def step(self, step: int) -> dict[str, Any] | None:
        """Everything about one committed step (None when it is not committed yet)."""
        if step not in self.committed():
            return None
        record = self.record(step)
        if record is None:
            return None
        folder = self._folder(step)
        params = self.params(step)
        candidate = read_json(folder / "candidate.json")
        candidate = candidate if isinstance(candidate, dict) else params
        before = self.params(step - 1) if step > 0 else params
        diffs = []
        for name in sorted(set(before) | set(candidate)):
            text = diff_values(name, before.get(name), candidate.get(name), str(step - 1),
                               f"{step} (candidate)")  # fmt: skip
            if text:
                diffs.append({"name": name, "diff": text})
        report = record.get("report") or {}
        return {
            "run": self.id,
            "step": step,
            "last": max(self.committed(), default=step),
            "row": row(step, record),
            "record": record,
            "reasoning": report.get("reasoning") or "",
            "notes": report.get("notes") or [],
            "params": params,
            "candidate": candidate,
            "diffs": diffs,
            "feedback": read_json(folder / "feedback.json") or [],
            "val": read_json(folder / "val.json") or [],
            "rejections": read_json(folder / "rejections.json") or [],
            "trace": read_json(folder / "trace.json"),
            "has_dot": (folder / "trace.dot").exists(),
            "calls": [_call(e) for e in self.journal.entries(step)],
        }


def _cut(text: Any) -> str:
    return shorten(text if isinstance(text, str) else str(text), CALL_TEXT)


def _call(entry: dict[str, Any]) -> dict[str, Any]:
    """One journaled call as the page shows it: who asked, the exact messages, the reply."""
    messages = entry.get("messages") or []
    return {
        "seq": entry.get("seq"),
        "client": entry.get("client"),
        "label": entry.get("label"),
        "remote": bool(entry.get("remote")),
        "messages": [
            {"role": str(m.get("role", "?")), "content": _cut(m.get("content", ""))}
            for m in messages
            if isinstance(m, dict)
        ],
        "reply": _cut(entry.get("text") or ""),
        "usage": entry.get("usage") or {},
    }
