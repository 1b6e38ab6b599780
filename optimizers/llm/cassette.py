"""Record every request and reply to a JSONL file; replay them later with no model at all.

Users record a workflow once against a real model, commit the cassette, and run the same
workflow offline in tests. A request that was never recorded raises
:class:`~optimizers.errors.CassetteMiss` naming what differs, never a made-up answer.

Each line is ``{"key": ..., "request": {...}, "reply": {...}}``; the request is the JSON body
sent to the endpoint, which never holds the API key (that travels in a header we do not record).
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Literal

from optimizers.errors import CassetteMiss, ClientConfigError
from optimizers.llm.types import RawReply, Request

__all__ = ["Cassette"]

CassetteMode = Literal["record", "replay"]


class Cassette:
    """A JSONL record of requests and replies.

    Args:
        path: the JSONL file.
        mode: ``"record"`` appends every call (the file is created if missing);
            ``"replay"`` serves recorded replies and sends nothing.

    Identical requests recorded several times are replayed in the order they were recorded;
    once that order is used up, the last reply for the request is served again.
    """

    def __init__(self, path: str | os.PathLike[str], mode: CassetteMode = "replay") -> None:
        if mode not in ("record", "replay"):
            raise ClientConfigError(
                f"cassette mode must be 'record' or 'replay', got {mode!r}",
                fix="Cassette(path, mode='record') once against a model, then mode='replay'",
            )
        self.path = Path(path)
        self.mode: CassetteMode = mode
        self._lock = threading.Lock()
        self._replies: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._last: dict[str, dict[str, Any]] = {}
        self._requests: list[dict[str, Any]] = []
        if mode == "replay":
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    @property
    def replaying(self) -> bool:
        """True in replay mode."""
        return self.mode == "replay"

    def _load(self) -> None:
        if not self.path.exists():
            raise ClientConfigError(
                f"no cassette at {self.path}",
                fix=f"record it first: Cassette({str(self.path)!r}, mode='record')",
            )
        for number, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, request, reply = entry["key"], entry["request"], entry["reply"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ClientConfigError(
                    f"cassette {self.path} line {number} is not a recorded call: {exc}",
                    fix="re-record the cassette (mode='record')",
                ) from exc
            self._replies[key].append(reply)
            self._last[key] = reply
            self._requests.append(request)

    def __len__(self) -> int:
        return len(self._requests)

    def record(self, request: Request, reply: RawReply) -> None:
        """Append one call (record mode only; a no-op when replaying)."""
        if self.replaying:
            return
        line = json.dumps(
            {"key": request.key(), "request": request.payload(), "reply": reply.to_dict()},
            ensure_ascii=False,
            sort_keys=True,
        )
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def replay(self, request: Request) -> RawReply:
        """The recorded reply for ``request``.

        Raises:
            CassetteMiss: when the request was never recorded.
        """
        key = request.key()
        with self._lock:
            queue = self._replies.get(key)
            if queue:
                return RawReply.from_dict(queue.popleft(), cached=True)
            if key in self._last:
                return RawReply.from_dict(self._last[key], cached=True)
        raise CassetteMiss(self._miss_message(request), model=request.model, fix=self._fix())

    def _fix(self) -> str:
        return (
            f"re-record with Cassette({str(self.path)!r}, mode='record'), or make the workflow "
            "send the same request as when it was recorded"
        )

    def _miss_message(self, request: Request) -> str:
        payload = request.payload()
        last = payload["messages"][-1]["content"] if payload["messages"] else ""
        lines = [
            f"cassette {self.path} has no reply for this request "
            f"({len(self._requests)} recorded calls)",
            f"  unseen request, last message: {str(last)[:300]!r}",
        ]
        nearest = self._nearest(payload)
        if nearest is not None:
            diffs = [
                k for k in sorted(set(payload) | set(nearest)) if payload.get(k) != nearest.get(k)
            ]
            lines.append(f"  nearest recorded request (same model) differs in: {', '.join(diffs)}")
        return "\n".join(lines)

    def _nearest(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        same_model = [r for r in self._requests if r.get("model") == payload.get("model")]
        if not same_model:
            return None

        def differences(candidate: dict[str, Any]) -> int:
            return sum(candidate.get(k) != payload.get(k) for k in set(candidate) | set(payload))

        return min(same_model, key=differences)
