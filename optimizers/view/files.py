"""Reading a run directory that is being written: read-only, never locking, tolerant.

A step folder appears whole (it is renamed into place) and ``checkpoint.json`` is replaced
atomically, but a reader can still race a rename, and ``calls.jsonl`` grows line by line: its
last line may be half written. Everything here treats a missing or unparsable file as "not
there yet" instead of failing, and reads the journal incrementally from where it stopped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["JournalTail", "read_json", "signature"]

USAGE_KEYS = ("calls", "input_tokens", "output_tokens", "cost", "seconds")


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or not (yet) valid."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def signature(path: Path) -> tuple[tuple[int, int], ...]:
    """What changes whenever the run at ``path`` makes progress: three ``stat`` calls."""
    return (
        _stat(path / "checkpoint.json"),
        _stat(path / "calls.jsonl"),
        _stat(path / "steps"),
    )


@dataclass
class JournalTail:
    """``calls.jsonl`` read incrementally: usage per step and where each step's lines are.

    Only whole lines (ending in a newline) are taken; a half-written last line waits for the
    next read. When the file shrinks (a torn line was cut on resume) it is read again.
    """

    path: Path
    offset: int = 0
    total: dict[str, float] = field(default_factory=dict)
    by_step: dict[int, dict[str, float]] = field(default_factory=dict)
    lines: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    last_at: float | None = None

    def refresh(self) -> None:
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return
        if size < self.offset:
            self.__init__(self.path)  # type: ignore[misc]
        if size == self.offset:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        pos = self.offset
        for raw in chunk[: end + 1].splitlines(keepends=True):
            self._take(raw, pos)
            pos += len(raw)
        self.offset = pos

    def _take(self, raw: bytes, pos: int) -> None:
        try:
            entry = json.loads(raw)
        except ValueError:
            return
        if not isinstance(entry, dict):
            return
        step = int(entry.get("step", -1))
        usage = entry.get("usage") or {}
        mine = self.by_step.setdefault(step, {})
        for key in USAGE_KEYS:
            value = float(usage.get(key, 0) or 0)
            mine[key] = mine.get(key, 0.0) + value
            self.total[key] = self.total.get(key, 0.0) + value
        self.lines.setdefault(step, []).append((pos, len(raw)))
        if isinstance(entry.get("at"), (int, float)):
            self.last_at = float(entry["at"])

    def entries(self, step: int, limit: int = 200) -> list[dict[str, Any]]:
        """The journal lines of ``step`` (at most ``limit``), parsed."""
        self.refresh()
        found: list[dict[str, Any]] = []
        spans = self.lines.get(step, [])[:limit]
        if not spans:
            return found
        with open(self.path, "rb") as fh:
            for pos, length in spans:
                fh.seek(pos)
                try:
                    found.append(json.loads(fh.read(length)))
                except ValueError:
                    continue
        return found
