"""What a sandboxed child may use: its limits, and an environment without secrets.

>>> clean = clean_env({"PATH": "/bin", "OPENAI_API_KEY": "sk-1",
...                    "https_proxy": "http://me:pw@proxy:3128"}, home="/tmp/x")
>>> sorted(clean), clean["https_proxy"]
(['HOME', 'PATH', 'TMPDIR', 'https_proxy'], 'http://proxy:3128')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SECRET_WORDS", "Limits", "clean_env"]

#: A variable whose name holds one of these (any case) is not passed to sandboxed code.
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


@dataclass(frozen=True)
class Limits:
    """Limits of one sandboxed child (and everything it starts).

    Attributes:
        timeout: wall-clock seconds (of a whole trial; of one call in an isolated worker).
        memory_mb: address space the child may add beyond its start-up size.
        cpu_seconds: CPU time of the child process; default ``timeout + 1``.
        file_mb: the largest file it may write (in its temporary directory).
        processes: processes and threads it may add (RLIMIT_NPROC; not enforced for root).
        output_kb: how much of its stdout and of its stderr is kept (the last part); the rest
            is read and dropped, never held.
        reply_mb: the largest reply it may send on its private channel.
    """

    timeout: float = 5.0
    memory_mb: int = 512
    cpu_seconds: float | None = None
    file_mb: int = 64
    processes: int = 64
    output_kb: int = 64
    reply_mb: int = 64

    def for_child(self) -> dict[str, int]:
        """The limits as the child applies them (bytes and whole seconds)."""
        cpu = self.cpu_seconds if self.cpu_seconds is not None else self.timeout + 1
        return {
            "memory": self.memory_mb << 20,
            "cpu": max(1, int(cpu + 0.999)),
            "file_size": self.file_mb << 20,
            "processes": self.processes,
        }


def _is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def clean_env(environ: Mapping[str, str], *, home: str) -> dict[str, str]:
    """``environ`` without secrets, with HOME and TMPDIR set to ``home``.

    Drops every variable whose name holds one of :data:`SECRET_WORDS`, and removes the
    ``user:password@`` part of any URL in a value (proxy settings, database URLs).
    """
    out = {
        name: _USERINFO.sub(r"\g<scheme>", value)
        for name, value in environ.items()
        if not _is_secret(name)
    }
    out.update(HOME=home, TMPDIR=home)
    return out
