"""The payload of a trial run (see :mod:`optimizers.step.trial`): a script, never imported.

Run by the sandbox (``tracegraph/sandbox/guard.py``) as ``main(channel)`` in a confined child:
reads one pickled job from its private channel, defines the proposed code in a fresh namespace,
calls the function on each recorded input and runs the user's check, then sends one JSON
object ``{"reasons": [...]}`` on the channel and exits. What the code prints goes to the
child's stdout and stderr, which the parent reads only up to a cap and never takes for the
report. Standard library only, so it starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import pickle
import sys
import traceback
from typing import Any, NoReturn

FILENAME = "<proposed code>"


def done(out: Any, reasons: list[str]) -> NoReturn:
    """Report on the private channel and leave at once (no cleanup code of the proposal runs)."""
    guards = os.environ.get("TRACEGRAPH_SANDBOX_GUARDS", "")
    out.send(json.dumps({"reasons": reasons, "guards": guards.split(",")}).encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def describe(exc: BaseException, job: dict[str, Any]) -> str:
    """``Type: message at line N: 'source line'`` for an exception raised by the proposal."""
    msg = str(exc)[:300]
    if isinstance(exc, MemoryError):
        msg = f"over the trial's memory limit of {job['memory'] >> 20} MB"
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == FILENAME and frame.lineno is not None:
            lines = job["source"].splitlines()
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            where = f" at line {frame.lineno}: {text!r}"
            break
    return f"{type(exc).__name__}{': ' + msg if msg else ''}{where}"


def define(job: dict[str, Any]) -> dict[str, Any]:
    """The namespace after running the proposal: the original's modules and values first."""
    ns: dict[str, Any] = {"__name__": "__trial__"}
    for key, module in job["modules"].items():
        ns[key] = __import__(module, fromlist=["_"])
    for key, blob in job["values"].items():
        # A value that does not unpickle here (e.g. defined in the user's __main__) is left out:
        # a NameError on it is forgiven in call_all.
        with contextlib.suppress(Exception):
            ns[key] = pickle.loads(blob)
    exec(compile(job["source"], FILENAME, "exec"), ns)
    return ns


def call_all(fn: Any, job: dict[str, Any], out: Any) -> None:
    """Call ``fn`` on every recorded input; report the first failure."""
    name = job["name"]
    for blob in job["calls"]:
        try:
            args, kwargs = pickle.loads(blob)
        except Exception:
            continue  # an input this process cannot rebuild: not the proposal's fault
        shown = ", ".join(
            [repr(a)[:80] for a in args] + [f"{k}={v!r:.80}" for k, v in kwargs.items()]
        )
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                asyncio.run(result)  # type: ignore[arg-type]
        except NameError as exc:
            if getattr(exc, "name", None) in job["outer"]:
                continue  # a global the original used that the trial could not provide
            done(
                out,
                [
                    f"calling {name}({shown}) on the inputs it got in the trace raised "
                    + describe(exc, job)
                ],
            )
        except BaseException as exc:
            done(
                out,
                [
                    f"calling {name}({shown}) on the inputs it got in the trace raised "
                    + describe(exc, job)
                ],
            )


def check(fn: Any, job: dict[str, Any], out: Any) -> None:
    """Run the user's check on ``fn``: raising, False or a message rejects."""
    user_check = job["check"]
    if user_check is None:
        return
    label = getattr(user_check, "__name__", "check")
    try:
        verdict = user_check(fn)
    except BaseException as exc:
        done(out, [f"the check {label} failed: " + describe(exc, job)])
    if verdict is False or isinstance(verdict, str):
        done(out, [f"the check {label} failed: {verdict}" if verdict else f"{label} said False"])


def main(out: Any) -> None:
    """Run the job that arrives on ``out`` (the sandbox's channel) and report on it."""
    try:
        job = pickle.loads(out.recv() or b"")
    except Exception as exc:
        done(out, [f"the trial could not start: {type(exc).__name__}: {exc}"])
    try:
        ns = define(job)
    except BaseException as exc:
        done(out, [f"defining {job['name']} raised " + describe(exc, job)])
    fn = ns[job["name"]]
    call_all(fn, job, out)
    check(fn, job, out)
    done(out, [])
