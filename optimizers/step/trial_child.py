"""The payload of a trial run (see :mod:`optimizers.step.trial`): a script, never imported.

Run by the sandbox (``tracegraph/sandbox/guard.py``) as ``main(channel)`` in a confined child,
the *judge*. The judge reads one pickled job from its private channel, then forks a *runner*
that closes the judge's channel and is the only process that runs the proposed code: it
defines it in a fresh namespace and answers the judge's requests (call the function on
recorded input i; call it on these arguments) with plain data. The judge replays the recorded
inputs, runs the user's check on a stand-in function that asks the runner, and sends one JSON
object ``{"reasons": [...]}`` on the channel. The code never runs in the process that writes the
verdict: all it can do to the verdict is answer a call, which is what correct code does too.
If the runner dies, the judge exits with its status and sends nothing (the parent reports the
crash with the runner's stderr). Standard library only, so it starts fast.
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
from collections.abc import Callable
from typing import Any, NoReturn

FILENAME = "<proposed code>"


def done(out: Any, reasons: list[str], tally: dict[str, Any] | None = None) -> NoReturn:
    """Report on the private channel and leave at once (no cleanup code of the proposal runs)."""
    guards = os.environ.get("TRACEGRAPH_SANDBOX_GUARDS", "")
    report = {"reasons": reasons, "guards": guards.split(","), **(tally or {})}
    out.send(json.dumps(report).encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def where(exc: BaseException, job: dict[str, Any]) -> str:
    """`` at line N: 'source line'`` of the proposal's line that raised, or nothing."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == FILENAME and frame.lineno is not None:
            lines = job["source"].splitlines()
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            return f" at line {frame.lineno}: {text!r}"
    return ""


def describe(exc: BaseException, job: dict[str, Any]) -> str:
    """``Type: message at line N: 'source line'`` for an exception raised by the proposal."""
    msg = str(exc)[:300]
    if isinstance(exc, MemoryError):
        msg = f"over the trial's memory limit of {job['memory'] >> 20} MB"
    return f"{type(exc).__name__}{': ' + msg if msg else ''}{where(exc, job)}"


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


def runner(job: dict[str, Any], chan: Any, loads_plain: Callable[[bytes], Any]) -> NoReturn:
    """The forked process that runs the code: define it, then answer calls until told to stop."""
    try:
        fn = define(job)[job["name"]]
        chan.send(pickle.dumps({"ok": None}))
    except BaseException as exc:
        chan.send(pickle.dumps({"error": describe(exc, job)}))
        os._exit(0)
    while (request := chan.recv()) is not None:
        kind, what = pickle.loads(request)  # from the judge: trusted
        if kind == "stop":
            chan.send(pickle.dumps({"stopped": True}))
            break
        try:
            args, kwargs = pickle.loads(job["calls"][what]) if kind == "replay" else what
        except Exception:  # an input this process cannot rebuild: not the proposal's fault
            chan.send(pickle.dumps({"skip": True}))
            continue
        keep = kind == "call" or what in job.get("expect", {})  # replay: what is an index
        chan.send(_answer(fn, args, kwargs, keep, job, loads_plain))
    os._exit(0)


def _answer(
    fn: Any, args: Any, kwargs: Any, keep: bool, job: dict[str, Any], plain: Callable[..., Any]
) -> bytes:
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
        reply = pickle.dumps({"ok": result if keep else None})
        plain(reply)  # what the judge will accept: plain data only
        return reply
    except pickle.UnpicklingError:
        exc: BaseException = TypeError(
            f"{job['name']} returned a value of type {type(result).__name__}, which cannot "
            "leave the trial's runner (plain data only: None, bool, numbers, str, bytes, list, "
            "tuple, dict, set)"
        )
    except BaseException as error:
        exc = error
    return pickle.dumps(
        {
            "error": describe(exc, job),
            "type": type(exc).__name__,
            "message": str(exc)[:2000] + where(exc, job),
            "name": getattr(exc, "name", None) if isinstance(exc, NameError) else None,
        }
    )


class Judge:
    """The judge's side: asks the runner, never runs the code."""

    def __init__(self, job: dict[str, Any], out: Any, code: Any, pid: int) -> None:
        self.job, self.out, self.code, self.pid = job, out, code, pid
        self.loads_plain = sys.modules[type(out).__module__].loads_plain
        self.passed = 0  # recorded inputs whose result is the one the feedback expects
        self.failed: list[str] = []  # the others: "f(args) returned x, expected y"

    def ask(self, request: Any) -> dict[str, Any]:
        """The runner's answer; when the runner died, leave with its status (no report)."""
        if request is not None:
            self.code.send(pickle.dumps(request))
        data = self.code.recv()
        if data is None:
            status = os.waitpid(self.pid, 0)[1]
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            os._exit(128 + sig if sig else os.WEXITSTATUS(status))
        try:
            answer = self.loads_plain(data)
        except Exception as exc:
            answer = exc
        if not isinstance(answer, dict) or not {"ok", "error", "skip", "stopped"} & set(answer):
            done(self.out, [f"the trial's runner of {self.job['name']} sent a malformed answer"])
        return answer

    def replay(self) -> None:
        """Call the function on every recorded input; report the first failure."""
        name = self.job["name"]
        for i, blob in enumerate(self.job["calls"]):
            answer = self.ask(("replay", i))
            if "ok" in answer and i in self.job.get("expect", {}):
                want = self.job["expect"][i]
                if answer["ok"] == want:  # plain data on both sides: no proposal code runs
                    self.passed += 1
                else:
                    shown = _shown(blob)
                    self.failed.append(
                        f"{name}({shown}) returned {answer['ok']!r:.120}, expected {want!r:.120}"
                    )
            if "error" not in answer:
                continue
            if answer.get("name") in self.job["outer"]:
                continue  # a global the original used that the trial could not provide
            done(
                self.out,
                [
                    f"calling {name}({_shown(blob)}) on the inputs it got in the trace raised "
                    + answer["error"]
                ],
            )

    def stand_in(self) -> Callable[..., Any]:
        """What the user's check receives: a function that calls the code in the runner."""

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = self.ask(("call", (args, kwargs)))
            if "ok" in answer:
                return answer["ok"]
            kind, message = str(answer["type"]), str(answer["message"])
            raise _builtin_error(kind, message) or RuntimeError(f"{kind}: {message}")

        call.__name__ = self.job["name"]
        if self.job.get("is_async"):

            async def acall(*args: Any, **kwargs: Any) -> Any:
                return call(*args, **kwargs)

            acall.__name__ = self.job["name"]
            return acall
        return call

    def check(self) -> None:
        """Run the user's check on the stand-in: raising, False or a message rejects."""
        user_check = self.job["check"]
        if user_check is None:
            return
        label = getattr(user_check, "__name__", "check")
        try:
            verdict = user_check(self.stand_in())
        except BaseException as exc:
            done(self.out, [f"the check {label} failed: " + describe(exc, self.job)])
        if verdict is False or isinstance(verdict, str):
            said = f"the check {label} failed: {verdict}" if verdict else f"{label} said False"
            done(self.out, [said])


def _shown(blob: bytes) -> str:
    """The arguments of a recorded call, short."""
    try:
        args, kwargs = pickle.loads(blob)
        return ", ".join(
            [repr(a)[:80] for a in args] + [f"{k}={v!r:.80}" for k, v in kwargs.items()]
        )
    except Exception:
        return "..."


def _builtin_error(kind: str, message: str) -> Exception | None:
    """An exception of the builtin type ``kind`` with ``message``, when there is one."""
    import builtins

    found = getattr(builtins, kind, None)
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            return found(message)
        except TypeError:
            return None
    return None


def main(out: Any) -> None:
    """Run the job that arrives on ``out`` (the sandbox's channel) and report on it."""
    try:
        job = pickle.loads(out.recv() or b"")
    except Exception as exc:
        done(out, [f"the trial could not start: {type(exc).__name__}: {exc}"])
    chan_type = type(out)
    runner_in, judge_out = os.pipe()
    judge_in, runner_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # the runner: no way to the judge's channel
        for fd in (out.input_fd, out.report_fd, judge_out, judge_in):
            os.close(fd)
        plain = sys.modules[chan_type.__module__].loads_plain
        runner(job, chan_type(runner_in, runner_out), plain)
    for fd in (runner_in, runner_out):
        os.close(fd)
    judge = Judge(job, out, chan_type(judge_in, judge_out), pid)
    defined = judge.ask(None)
    if "error" in defined:
        done(out, [f"defining {job['name']} raised " + defined["error"]])
    judge.replay()
    judge.check()
    if "stopped" not in judge.ask(("stop", None)):  # the runner must still be there, and answer
        done(out, [f"the trial's runner of {job['name']} did not stop when asked"])
    done(out, [], {"passed": judge.passed, "failed": judge.failed[:5]})
