"""The payload of an isolated worker (see :mod:`tracegraph.sandbox.isolated`): a script, never
imported.

Run by the sandbox as ``main(channel)`` in a confined child that lives across calls. Each
request is a pickled call from the parent (trusted: the parent wrote it): the code's compiled
factory (marshalled, sent once per text), the module globals the code names, the closure's
values and the arguments. The reply is a pickle of ``{"ok": result}`` or ``{"error": {...}}``;
the parent reads it with a restricted unpickler, so a result must be plain data.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import marshal
import pickle
import traceback
from typing import Any

_PLAIN = (type(None), bool, int, float, complex, str, bytes, bytearray)


def _plain(value: Any) -> bool:
    """Plain data only (what the parent's restricted unpickler accepts), checked without
    recursion."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict) and type(item) is dict:
            todo += list(item.keys()) + list(item.values())
        elif type(item) in (list, tuple, set, frozenset):
            todo += list(item)
        elif type(item) not in _PLAIN:
            return False
    return True


def _error(exc: BaseException, filename: str, source: str) -> dict[str, Any]:
    line, text = 0, ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename and frame.lineno is not None:
            lines = source.splitlines()
            line = frame.lineno
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            break
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "line": line,
        "text": text,
    }


def _namespace(job: dict[str, Any]) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": job["module"], "__builtins__": builtins}
    for key, module in job["modules"].items():
        with contextlib.suppress(Exception):  # a NameError later says what is missing
            ns[key] = __import__(module, fromlist=["_"])
    for key, blob in job["values"].items():
        with contextlib.suppress(Exception):
            ns[key] = pickle.loads(blob)
    return ns


def _call(job: dict[str, Any], codes: dict[str, Any]) -> Any:
    code = codes[job["key"]]
    local: dict[str, Any] = {}
    exec(code, _namespace(job), local)
    fn = local[job["factory"]](*pickle.loads(job["cells"]))
    args, kwargs = pickle.loads(job["call"])  # here: an input that does not rebuild is an error
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(result)  # type: ignore[arg-type]
    return result


def main(channel: Any) -> None:
    """Serve calls until the parent closes the channel."""
    codes: dict[str, Any] = {}
    table = vars(builtins)  # held here: the code may replace vars() itself
    real_builtins = dict(table)
    while (request := channel.recv()) is not None:
        job = pickle.loads(request)
        if job.get("code") is not None:
            codes[job["key"]] = marshal.loads(job["code"])
        try:
            result = _call(job, codes)
            table.update(real_builtins)
            if not _plain(result):
                raise TypeError(
                    f"{job['name']} returned a value of type {type(result).__name__}; an "
                    "isolated function returns plain data (None, bool, numbers, str, bytes, "
                    "list, tuple, dict, set). Fix: return plain data, or drop isolated=True"
                )
            reply = pickle.dumps({"ok": result})
        except BaseException as exc:  # SystemExit too: the process stays, the call fails
            table.update(real_builtins)
            reply = pickle.dumps({"error": _error(exc, job["filename"], job["source"])})
        # What the call did to the builtins is undone: the worker's own code needs them.
        for name in [k for k in table if k not in real_builtins]:
            del table[name]
        table.update(real_builtins)
        channel.send(reply)
