"""Isolated calls: a trainable function's code run in a long-lived sandboxed worker.

``@tg.trainable(isolated=True)`` sends every call here (the Trainer does the same for code a
model wrote, while it scores it). Arguments cross by value (pickled by this process: trusted);
results come back as a pickle read with ``channel.loads_plain``, which builds plain data only
(None, bool, numbers, str, bytes, list, tuple, dict, set) and refuses every class, so a hostile
worker cannot make this process run anything by its reply. A call that raises comes back as an
exception of the same builtin type (else :class:`~tracegraph.errors.IsolationError`); a crash
or a timeout kills the worker with everything it started and raises IsolationError, and the
next call starts a fresh worker.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import marshal
import os
import pickle
import threading
import types
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracegraph.errors import IsolationError
from tracegraph.sandbox.channel import loads_plain
from tracegraph.sandbox.policy import Limits
from tracegraph.sandbox.process import Sandbox, describe_status

__all__ = ["WORKER_LIMITS", "Worker", "globals_for"]

_PAYLOAD = Path(__file__).with_name("worker_child.py")
#: A worker lives across calls: its CPU-time limit covers them all; ``timeout`` is per call.
WORKER_LIMITS = Limits(timeout=10.0, cpu_seconds=3600)


def globals_for(source: str, fn_globals: Mapping[str, Any]) -> dict[str, Any]:
    """The module globals ``source`` names: modules by name, other values pickled (those that
    do not pickle are left out; a NameError then says which)."""
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    modules: dict[str, str] = {}
    values: dict[str, bytes] = {}
    for name in sorted(names & set(fn_globals)):
        value = fn_globals[name]
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        try:
            values[name] = pickle.dumps(value)
        except Exception:  # a value the child cannot have
            continue
    return {"modules": modules, "values": values}


class Worker:
    """One sandboxed worker process serving calls of one function's code, one at a time.

    A worker serves one text of the code: when the text changes, a fresh worker starts, so
    what one version did to its process (a replaced builtin, a changed global) cannot touch the
    next version's calls.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or WORKER_LIMITS
        self._box: Sandbox | None = None
        self._pid = 0
        self._sent: set[str] = set()
        self._lock = threading.Lock()
        _LIVE.add(self)

    def _ready(self, key: str) -> Sandbox:
        mine = self._box is not None and self._pid == os.getpid()
        if mine and self._box is not None and self._box.alive and key in self._sent:
            return self._box
        if mine and self._box is not None:
            self._box.close()
        self._box, self._pid, self._sent = Sandbox(_PAYLOAD, self.limits), os.getpid(), set()
        self._box.start()
        return self._box

    def call(self, job: dict[str, Any], code: types.CodeType) -> Any:
        """Run one call (``job``: see ``worker_child.py``); its result, or raise."""
        name = job["name"]
        with self._lock:
            key = job["key"]
            box = self._ready(key)
            job["code"] = None if key in self._sent else marshal.dumps(code)
            try:
                data = pickle.dumps(job)
            except Exception as exc:
                raise IsolationError(
                    f"the arguments of {name} cannot be sent to its isolated worker "
                    f"({type(exc).__name__}: {exc}); fix: pass plain data, or drop isolated=True"
                ) from None
            try:
                reply = box.exchange(data)
            except OverflowError as exc:
                reply, why = None, str(exc)
            else:
                why = f"did not finish within {self.limits.timeout:g} s" if box.timed_out else ""
            if reply is None:
                status = box.close()
                self._box = None
                why = why or describe_status(status)
                tail = box.stderr.text().strip()[-500:]
                raise IsolationError(
                    f"the isolated call of {name} failed: {why}; the worker and everything it "
                    f"started were killed, the next call starts a fresh one"
                    + (f"\nits stderr ended with:\n{tail}" if tail else "")
                )
            self._sent.add(key)
        return _outcome(name, reply, job["filename"])

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Worker, (self.limits,))  # a copy elsewhere starts its own worker

    def close(self) -> None:
        """Stop the worker (and everything it started)."""
        with self._lock:
            if self._box is not None and self._pid == os.getpid():
                self._box.close()
            self._box = None


def _outcome(name: str, reply: bytes, filename: str) -> Any:
    try:
        message = loads_plain(reply)
        if "ok" in message:
            return message["ok"]
        err = message["error"]
        etype, text, line, where = err["type"], err["message"], err["line"], err["text"]
    except Exception as exc:
        raise IsolationError(
            f"the isolated worker of {name} sent a malformed reply: {exc}"
        ) from None
    where = " (in the isolated worker)"
    kind = getattr(builtins, str(etype), None)
    made: Exception | None = None
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            made = kind(f"{text}{where}")
        except TypeError:  # an exception type that needs other arguments
            made = None
    error = made or IsolationError(f"{name} raised {etype}: {text}{where}")
    if isinstance(line, int) and line > 0:  # a frame at the code's own line, for the error view
        exec(compile("\n" * (line - 1) + "raise __exc__", filename, "exec"), {"__exc__": error})
    raise error


_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for worker in list(_LIVE):
        worker.close()
