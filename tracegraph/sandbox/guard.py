"""The sandbox's program: a reaper that never runs untrusted code, and the confined child it forks.

Started by :class:`tracegraph.sandbox.process.Sandbox` as ``python -I guard.py HEADER`` (stdlib
only; it loads ``confine.py`` and ``channel.py`` by path, never the ``tracegraph`` package).

The reaper marks itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so every descendant
that is orphaned, ``setsid`` or double-forked ones included, is re-parented to it and cannot leave
its tree. It forks the child, then waits for the child to exit or for the parent to close the
*lifeline* pipe (a timeout, or the parent died). Either way it kills every descendant it has
(``/proc`` scanned until none is left), and exits with the child's status (128 + signal number
when a signal ended it).

The child confines itself (:mod:`confine`: limits, Landlock, seccomp, the audit hook), moves
its two private descriptors out of the way, and runs ``main(channel)`` of the payload script.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import runpy
import select
import signal
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36
HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"_tracegraph_sandbox_{name}", HERE / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            tree.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return tree


def kill_descendants() -> None:
    """SIGKILL every descendant and reap them, until none is left (forkers included)."""
    me = os.getpid()
    for _ in range(400):
        tree, found, todo = _children_map(), [], [me]
        while todo:
            for pid in tree.get(todo.pop(), []):
                found.append(pid)
                todo.append(pid)
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return  # no child left
        time.sleep(0.005)


def _wait(pid: int, lifeline: int) -> int | None:
    """The child's wait status, or None when the parent closed the lifeline first."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    while True:
        ready, _, _ = select.select([lifeline] + ([pidfd] if pidfd is not None else []), [], [],
                                    None if pidfd is not None else 0.02)  # fmt: skip
        done, status = os.waitpid(pid, os.WNOHANG)  # first: an exit beats a late close
        if done:
            return status
        if lifeline in ready and not os.read(lifeline, 64):
            os.kill(pid, signal.SIGKILL)  # an exit racing with the close still counts as such
            status = os.waitpid(pid, 0)[1]
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            return None if killed else status


def _child(header: dict[str, Any], channel_fds: tuple[int, int]) -> None:
    confine = _load("confine")
    channel = _load("channel")
    tmp = header["tmp"]
    sys.path[:] = header["sys_path"]
    sys.dont_write_bytecode = True
    lim = header["limits"]
    guards = []
    if confine.set_limits(lim["memory"], lim["cpu"], lim["file_size"], lim["processes"]):
        guards.append("limits")
    if confine.no_new_privs():
        extra = [*header["sys_path"], os.path.dirname(header["payload"])]
        if confine.landlock(tmp, confine.readable_paths(extra)):
            guards.append("landlock")
        if confine.seccomp_no_network():
            guards.append("seccomp")
    sys.addaudithook(confine.audit_hook(tmp))
    guards.append("audit")
    os.environ["TRACEGRAPH_SANDBOX_GUARDS"] = ",".join(guards)
    chan = channel.Channel(*channel_fds)
    payload = runpy.run_path(header["payload"], run_name="__sandbox__")
    payload["main"](chan)


def main() -> None:
    header = json.loads(sys.argv[1])
    input_fd, report_fd, lifeline = header["fds"]
    # Not Linux: no subreaper; only the child's own process group dies (see docs/security.md).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(lifeline)
            _child(header, (input_fd, report_fd))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(input_fd)
    os.close(report_fd)
    status = _wait(pid, lifeline)
    kill_descendants()
    if status is None:
        os._exit(128 + signal.SIGKILL)
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
