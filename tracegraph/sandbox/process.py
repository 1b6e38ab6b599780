"""The parent's side of a sandboxed child: start it, exchange messages, kill its whole tree.

>>> from pathlib import Path
>>> import tempfile
>>> payload = Path(tempfile.mkdtemp()) / "echo.py"
>>> _ = payload.write_text("def main(channel):\\n    channel.send(channel.recv().upper())\\n")
>>> with Sandbox(payload, Limits(timeout=10)) as box:
...     box.exchange(b"hi")
b'HI'
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tracegraph.sandbox.channel import HEADER, frame
from tracegraph.sandbox.policy import Limits, clean_env

__all__ = ["GUARD", "Sandbox", "describe_status"]

GUARD = Path(__file__).with_name("guard.py")
_SIGNALS = {
    signal.SIGKILL: "killed (SIGKILL: the timeout, or over the memory limit)",
    signal.SIGXCPU: "over the CPU-time limit",
    signal.SIGSEGV: "crashed (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
}


def describe_status(code: int | None) -> str:
    """The guard's exit status in words (128 + n: the child ended by signal n)."""
    if code is None:
        return "still running"
    if code > 128:
        sig = code - 128
        return _SIGNALS.get(signal.Signals(sig), f"killed by signal {sig}")
    return f"exit status {code}"


class _Tail:
    """The last ``cap`` bytes of a stream; the rest is dropped as it arrives."""

    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.cap:
            cut = len(self.data) - self.cap
            self.dropped += cut
            del self.data[:cut]

    def text(self) -> str:
        kept = bytes(self.data[-self.cap :])
        lead = (
            f"[{self.dropped + len(self.data) - len(kept)} bytes dropped] " if self.dropped else ""
        )
        return lead + kept.decode(errors="replace")


class Sandbox:
    """One confined child running ``main(channel)`` of a payload script.

    The child starts in its own session, with a clean environment (:func:`clean_env`), in a
    fresh temporary directory (also its HOME and TMPDIR), confined as ``guard.py`` describes.
    Its stdout and stderr are read only up to ``limits.output_kb`` (the last part is kept in
    :attr:`stdout` / :attr:`stderr`). Messages travel on two private pipes.
    """

    def __init__(self, payload: str | os.PathLike[str], limits: Limits | None = None) -> None:
        self.payload = Path(payload)
        self.limits = limits or Limits()
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp = ""
        cap = self.limits.output_kb << 10
        self.stdout, self.stderr = _Tail(cap), _Tail(cap)
        self.timed_out = False
        self._fds: dict[str, int] = {}

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and "report" in self._fds

    def start(self) -> None:
        """Start the guard and its confined child (returns at once)."""
        self.tmp = tempfile.mkdtemp(prefix="tracegraph-sandbox-")
        in_r, in_w = os.pipe()
        rep_r, rep_w = os.pipe()
        life_r, life_w = os.pipe()
        header = {
            "fds": [in_r, rep_w, life_r],
            "tmp": self.tmp,
            "sys_path": [p for p in sys.path if p],
            "payload": str(self.payload.resolve()),
            "limits": self.limits.for_child(),
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(GUARD), json.dumps(header)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(in_r, rep_w, life_r),
                cwd=self.tmp,
                env=clean_env(os.environ, home=self.tmp),
                start_new_session=True,
            )
        finally:
            for fd in (in_r, rep_w, life_r):
                os.close(fd)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._fds = {
            "input": in_w,
            "report": rep_r,
            "lifeline": life_w,
            "out": self.proc.stdout.fileno(),
            "err": self.proc.stderr.fileno(),
        }
        for name in ("input", "report", "out", "err"):
            os.set_blocking(self._fds[name], False)

    def exchange(self, request: bytes | None, timeout: float | None = None) -> bytes | None:
        """Send ``request`` (None: send nothing) and wait for one reply.

        Returns None when the child ended, or ``timeout`` (default ``limits.timeout``) passed,
        before a whole reply came; :attr:`timed_out` says which. Output is drained meanwhile.
        """
        if not self.alive:
            return None
        deadline = time.monotonic() + (self.limits.timeout if timeout is None else timeout)
        out = bytearray(frame(request)) if request is not None else bytearray()
        reply = bytearray()
        cap = HEADER.size + (self.limits.reply_mb << 20)
        with selectors.DefaultSelector() as sel:
            for name in ("report", "out", "err"):
                sel.register(self._fds[name], selectors.EVENT_READ, name)
            if out:
                sel.register(self._fds["input"], selectors.EVENT_WRITE, "input")
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.timed_out = True
                    return None
                for key, _ in sel.select(left):
                    if key.data == "input":
                        try:
                            del out[: os.write(key.fd, out)]
                        except (BlockingIOError, BrokenPipeError):
                            if not self.alive:
                                sel.unregister(key.fd)
                        if not out:
                            sel.unregister(key.fd)
                        continue
                    chunk = self._read(key.fd)
                    if chunk is None:
                        continue
                    if not chunk:  # end of stream
                        sel.unregister(key.fd)
                        if key.data == "report":
                            return None
                        continue
                    if key.data == "report":
                        reply += chunk
                        done = _whole(reply, cap)
                        if done is not None:
                            return done
                    else:
                        (self.stdout if key.data == "out" else self.stderr).add(chunk)

    @staticmethod
    def _read(fd: int) -> bytes | None:
        try:
            return os.read(fd, 1 << 16)
        except BlockingIOError:
            return None

    def close(self, grace: float = 2.0) -> int | None:
        """Kill the child and everything it started; return the guard's exit status.

        Closing the lifeline makes the guard kill its whole tree (it is their subreaper) and
        exit; a guard that does not exit within ``grace`` seconds is killed with its process
        group. Nothing here waits longer than that.
        """
        if self.proc is None:
            return None
        if not self._fds:  # closed already
            return self.proc.returncode
        with contextlib.suppress(KeyError, OSError):
            os.close(self._fds.pop("lifeline"))
        for name in ("input", "report"):
            with contextlib.suppress(KeyError, OSError):
                os.close(self._fds.pop(name))
        deadline = time.monotonic() + grace
        code = None
        while time.monotonic() < deadline:
            self._drain()
            code = self.proc.poll()
            if code is not None:
                break
            time.sleep(0.005)
        if code is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(0.5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._fds.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return code

    def _drain(self) -> None:
        for name, tail in (("out", self.stdout), ("err", self.stderr)):
            fd = self._fds.get(name)
            for _ in range(64):  # at most 4 MB per call: the rest waits or is lost with the child
                chunk = self._read(fd) if fd is not None else b""
                if not chunk:
                    break
                tail.add(chunk)


def _whole(buf: bytearray, cap: int) -> bytes | None:
    """The message in ``buf`` once all of it came; raises past ``cap`` bytes."""
    if len(buf) < HEADER.size:
        return None
    (size,) = HEADER.unpack(buf[: HEADER.size])
    if HEADER.size + size > cap:
        raise OverflowError(f"the sandboxed child sent a reply of {size} bytes, over the cap")
    if len(buf) < HEADER.size + size:
        return None
    return bytes(buf[HEADER.size : HEADER.size + size])
