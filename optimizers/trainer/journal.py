"""The call journal: every model call a run makes, kept in the run directory.

The trainer attaches the journal to the run's clients (the optimizer's, the judge's, and any the
user names): their ``complete``/``acomplete`` go through it. Each new call is

1. checked against the run's budget (``reserve``) — nothing is sent past the budget;
2. sent to the client;
3. appended to ``calls.jsonl`` and flushed (and fsynced) before the reply is used, so a
   ``kill -9`` a moment later cannot lose a call that was paid for.

On resume, the calls made during the interrupted step (after the last checkpoint) are served
back from the journal, free, to the same requests: the step is redone exactly, without paying
twice. A request is matched by its exact key first, then by a *loose* key in which the numeric
suffixes of auto-generated names (``add_12``) are masked, since a fresh process numbers nodes
differently, then by an *unordered* key that also ignores the order of lines within each
message, since a concurrent minibatch creates its nodes (and so lists them) in a racy order.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from optimizers.llm.budget import budget as active_budget
from optimizers.llm.types import Reply, Usage
from optimizers.trainer.rundir import sync_file

__all__ = ["CallJournal", "usage_from_dict", "usage_to_dict"]

Hook = Callable[[str, int], None]
_AUTO_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*?)_\d+\b")


def usage_to_dict(usage: Usage) -> dict[str, Any]:
    return {
        "calls": usage.calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": usage.cost,
        "seconds": usage.seconds,
        "cache_hits": usage.cache_hits,
    }


def usage_from_dict(data: dict[str, Any]) -> Usage:
    known = ("calls", "input_tokens", "output_tokens", "cost", "seconds", "cache_hits")
    return Usage(**{k: data[k] for k in known if k in data})


def _keys(model: str, messages: Any, schema: Any, options: dict[str, Any]) -> tuple[str, ...]:
    """Three keys of a request: exact; with auto-name numbers masked; and also with the lines
    of each message sorted (a concurrent minibatch may list the same nodes in another order)."""
    shape = schema.model_json_schema() if schema is not None else None
    text = json.dumps([model, messages, shape, options], sort_keys=True, default=repr)
    loose = _AUTO_NAME.sub(r"\1_#", text)
    bag = [
        (m.get("role"), sorted(_AUTO_NAME.sub(r"\1_#", str(m.get("content", ""))).splitlines()))
        for m in messages
    ]
    unordered = json.dumps([model, bag, shape, options], sort_keys=True, default=repr)
    return tuple(hashlib.sha256(t.encode()).hexdigest() for t in (text, loose, unordered))


def _index_names(keys: Any) -> tuple[str, ...]:
    return tuple(f"{i}:{k}" for i, k in enumerate(keys))


class CallJournal:
    """Record (and on resume, replay) the model calls of one run.

    Args:
        path: the JSONL file (``RUN_DIR/calls.jsonl``); None keeps nothing on disk.
        budget: an ``optimizers.Budget`` every new call is charged against.
        hook: ``hook(point, step)`` called at ``"before_call"`` and ``"after_call"`` (tests
            inject crashes there).
    """

    def __init__(self, path: Path | None, *, budget: Any = None, hook: Hook | None = None) -> None:
        self.path = path
        self.budget = budget
        self.hook = hook
        self.step = 0
        self.paid = Usage()  # every call recorded in this run, across resumes
        self.replayed = 0
        self.seq = 0
        self.in_flight = 0  # calls sent and not answered yet
        self._lock = threading.Lock()
        # Replayable entries, found by exact key, loose key, or (client, label) lane; an entry
        # used through one index is marked used and skipped by the others.
        self._index: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._patched: list[tuple[Any, dict[str, Any]]] = []
        self._by_step: dict[int, Usage] = {}

    # -- loading -------------------------------------------------------------------------------
    def load(self, committed_step: int) -> int:
        """Read the journal; calls of steps after ``committed_step`` become replayable.

        A torn last line (the process died while appending) is ignored: the call it described
        was never used. Returns the number of replayable calls.
        """
        if self.path is None or not self.path.exists():
            return 0
        entries, replayable = [], 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
        self._rewrite_if_torn(entries)
        for entry in entries:
            used = usage_from_dict(entry.get("usage", {}))
            self.paid = self.paid + used
            step = int(entry.get("step", -1))
            self._by_step[step] = self._by_step.get(step, Usage()) + used
            self.seq = max(self.seq, int(entry.get("seq", 0)))
            replay = not entry.get("remote") and not entry.get("failed")
            if int(entry.get("step", -1)) > committed_step and replay:
                entry["used"] = False
                for name in _index_names(entry["keys"]):
                    self._index[name].append(entry)
                replayable += 1
        if self.budget is not None and self.paid.calls:
            self.budget.settle(self.paid)  # the budget covers the whole run, across resumes
        return replayable

    def _rewrite_if_torn(self, entries: list[dict[str, Any]]) -> None:
        assert self.path is not None
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # drop the torn tail so appends stay line-aligned
            body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, self.path)

    def step_usage(self, step: int) -> Usage:
        """Usage of the calls recorded during ``step`` (across resumes)."""
        with self._lock:
            return self._by_step.get(step, Usage())

    # -- replay and record ---------------------------------------------------------------------
    def _take(self, names: tuple[str, ...]) -> dict[str, Any] | None:
        with self._lock:
            for name in names:  # the most specific match first
                queue = self._index.get(name)
                while queue:
                    entry = queue.popleft()
                    if not entry["used"]:
                        entry["used"] = True
                        self.replayed += 1
                        return entry
        return None

    def _replay(self, entry: dict[str, Any], schema: Any) -> Reply:
        parsed = None
        if schema is not None and entry.get("parsed") is not None:
            parsed = schema.model_validate(entry["parsed"])
        return Reply(
            text=entry["text"],
            parsed=parsed,
            usage=Usage(cache_hits=1),
            model=entry.get("model", ""),
            cached=True,
            raw={"replayed_from": "calls.jsonl", "seq": entry.get("seq")},
        )

    def _record(
        self,
        client: Any,
        label: str | None,
        keys: tuple[str, ...],
        messages: Any,
        schema: Any,
        options: dict[str, Any],
        reply: Reply,
    ) -> None:
        parsed = reply.parsed.model_dump(mode="json") if reply.parsed is not None else None
        with self._lock:
            self.seq += 1
            entry = {
                "seq": self.seq,
                "step": self.step,
                "client": getattr(client, "model", "?"),
                "label": label,
                "keys": list(keys),
                "messages": messages,
                "schema": getattr(schema, "__name__", None),
                "options": options,
                "text": reply.text,
                "parsed": parsed,
                "model": reply.model,
                "cached": reply.cached,
                "usage": usage_to_dict(reply.usage),
                "at": time.time(),
            }
            self.paid = self.paid + reply.usage
            self._by_step[self.step] = self._by_step.get(self.step, Usage()) + reply.usage
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False, default=repr) + "\n")
                    sync_file(fh)

    def record_usage(
        self, usage: Usage, label: str, *, client: str = "executor", **detail: Any
    ) -> None:
        """Journal usage spent elsewhere (evaluations on a remote executor, whose workers'
        clients the journal cannot wrap; failed calls): counted in the run's usage, never
        replayed, and not charged here (the budget was charged already)."""
        with self._lock:
            self.seq += 1
            entry = {"seq": self.seq, "step": self.step, "client": client, "label": label,
                     "keys": [], "remote": client == "executor", **detail,
                     "usage": usage_to_dict(usage), "at": time.time()}  # fmt: skip
            self.paid = self.paid + usage
            self._by_step[self.step] = self._by_step.get(self.step, Usage()) + usage
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False, default=repr) + "\n")
                    sync_file(fh)

    def _charges(self, client: Any) -> bool:
        # A client of another kind is charged here, once per call (unless it charges this
        # budget itself); ours are charged per HTTP attempt through the active budgets.
        if self.budget is None or getattr(client, "meters_budgets", False):
            return False
        return getattr(client, "budget", None) is not self.budget

    def _record_failure(self, client: Any, label: str | None, exc: BaseException) -> None:
        """A call that failed after sending requests: its attempts count in the run's usage
        (and in its budget after a resume), never replayed."""
        used = getattr(exc, "usage", None)
        if isinstance(used, Usage) and used.calls:
            model = str(getattr(client, "model", "?"))
            failed = type(exc).__name__
            self.record_usage(used, label or "<unlabelled>", client=model, failed=failed)

    @contextlib.contextmanager
    def _paid_call(self, client: Any) -> Iterator[list[Reply]]:
        if self.hook is not None:
            self.hook("before_call", self.step)
        charge = self._charges(client)
        if charge:
            self.budget.reserve(model=getattr(client, "model", None))
        started, box = time.monotonic(), list[Reply]()
        with self._lock:
            self.in_flight += 1  # shown by the progress bar while a step runs
        scope = self.budget if getattr(client, "meters_budgets", False) else None
        try:
            with active_budget(scope) if scope is not None else contextlib.nullcontext():
                yield box
        finally:
            with self._lock:
                self.in_flight -= 1
            if charge:
                used = box[0].usage if box else Usage(seconds=time.monotonic() - started)
                self.budget.settle(used)

    # -- attaching to clients ------------------------------------------------------------------
    def attach(self, client: Any) -> None:
        """Route ``client.complete``/``acomplete`` through the journal until :meth:`detach`."""
        if any(c is client for c, _ in self._patched):
            return
        saved = {n: client.__dict__[n] for n in ("complete", "acomplete") if n in client.__dict__}
        client.complete = self._wrap_sync(client, client.complete)
        client.acomplete = self._wrap_async(client, client.acomplete)
        self._patched.append((client, saved))

    def _wrap_sync(self, client: Any, send: Callable[..., Reply]) -> Callable[..., Reply]:
        @functools.wraps(send)
        def complete(
            messages: Any, *, schema: Any = None, label: str | None = None, **options: Any
        ) -> Reply:
            keys = _keys(client.model, messages, schema, options)
            entry = self._take(_index_names(keys))
            if entry is not None:
                return self._replay(entry, schema)
            with self._paid_call(client) as box:
                try:
                    box.append(send(messages, schema=schema, label=label, **options))
                except Exception as exc:
                    self._record_failure(client, label, exc)
                    raise
            self._record(client, label, keys, messages, schema, options, box[0])
            self._after()
            return box[0]

        return complete

    def _wrap_async(self, client: Any, send: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(send)
        async def acomplete(
            messages: Any, *, schema: Any = None, label: str | None = None, **options: Any
        ) -> Reply:
            keys = _keys(client.model, messages, schema, options)
            entry = self._take(_index_names(keys))
            if entry is not None:
                return self._replay(entry, schema)
            with self._paid_call(client) as box:
                try:
                    box.append(await send(messages, schema=schema, label=label, **options))
                except Exception as exc:
                    self._record_failure(client, label, exc)
                    raise
            self._record(client, label, keys, messages, schema, options, box[0])
            self._after()
            return box[0]

        return acomplete

    def _after(self) -> None:
        if self.hook is not None:
            self.hook("after_call", self.step)

    def detach(self) -> None:
        """Give every attached client its own methods back."""
        while self._patched:
            client, saved = self._patched.pop()
            for name in ("complete", "acomplete"):
                if name in saved:
                    setattr(client, name, saved[name])
                else:
                    client.__dict__.pop(name, None)
