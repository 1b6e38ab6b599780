"""Cache directory, file locks, atomic writes and process checks for the local model.

Shared by the weight joiner (``_weights``), the client side of the shared server
(``_shared_server``) and the server process itself (``_llama_server``). Stdlib only: the server
process imports this before it imports ``xllamacpp``.

Locks are ``flock`` locks on a file: the kernel drops them when the holding process dies, so a
crash never leaves a stale lock behind. That makes this module POSIX-only (Linux, macOS).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from optimizers.errors import LLMError

CACHE_ENV = "TRACEGRAPH_CACHE_DIR"

# "or to use a hosted model instead, export OPENAI_API_KEY=... and TRACEGRAPH_MODEL=..."
# How to leave the local model for a hosted one: said by every error of the local stack.
HOSTED_HOWTO = (
    "to use a hosted model instead, export OPENAI_API_KEY=... and TRACEGRAPH_MODEL=<model> "
    "(plus OPENAI_BASE_URL=<url>/v1 for another OpenAI-compatible endpoint), "
    "or pass OpenAIClient(model=..., base_url=..., api_key=...)"
)
HOSTED_HINT = "or " + HOSTED_HOWTO


class LocalModelError(LLMError):
    """The local model cannot be prepared or started; the message says why and how to fix it."""


class WeightsNotInstalledError(LocalModelError):
    """The weight packages or the ``xllamacpp`` runtime of the local model are not installed."""


class WeightsCorruptError(LocalModelError):
    """The joined weight file does not have the published sha256; it is never loaded."""


class LocalServerError(LocalModelError):
    """The llama.cpp server process failed to start or stopped answering."""


def cache_dir() -> Path:
    """Return the root cache directory (``$TRACEGRAPH_CACHE_DIR`` or ``~/.cache/tracegraph``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "tracegraph"


def _fcntl():  # type: ignore[no-untyped-def]
    try:
        import fcntl
    except ImportError as exc:  # pragma: no cover - Windows
        raise LocalModelError(
            "the local model needs a POSIX system (Linux or macOS) for its file locks",
            fix=f"run it under WSL, {HOSTED_HINT}",
        ) from exc
    return fcntl


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` body.

    Args:
        path: The lock file; it is never deleted, so every process locks the same inode.
        timeout: Seconds to wait before raising :class:`LocalModelError`; None waits forever.
    """
    fcntl = _fcntl()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while not try_lock(fd, shared=False):
                if time.monotonic() > deadline:
                    raise LocalModelError(
                        f"waited {timeout:.0f} s for the lock {path}, held by another process",
                        fix="wait for it to finish, or stop the process holding it",
                    )
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def try_lock(fd: int, *, shared: bool) -> bool:
    """Try a non-blocking ``flock`` on ``fd``; return whether it was taken."""
    fcntl = _fcntl()
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a private temp file and a rename (mode 0600).

    Readers see either the old file or the whole new one, never a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A dead child that nobody reaped still answers kill(0): read its state where /proc exists.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def pid_cmdline(pid: int) -> str | None:
    """Return the command line of ``pid`` (Linux), or None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")
