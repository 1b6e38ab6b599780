"""Client side of the shared local server: reuse a healthy one or start it, and hold a lease.

One server per (model, context size) per cache directory serves every process of the user on
the machine: pytest workers, a CLI and a notebook share its RAM and its warm prompt cache. The
protocol, all under ``<cache>/servers/<model-id>-ctx<n>/``:

1. Take ``start.lock`` (an ``flock``; the kernel drops it if we die).
2. Take a lease: create ``leases/<pid>-<random>.lease``, ``flock`` it shared, keep it open. The
   file is locked *before* it is renamed into place, so the server never sees an unheld lease.
3. Read ``state.json``. If its process is alive and answers ``GET /v1/models`` with its key, use
   it. Otherwise retire it (SIGTERM to a hung server of ours) and start a new one with
   ``python -m optimizers.llm.local.server_process --detach``; the new server binds a port the
   OS picks and writes ``state.json`` when it listens.
4. Release ``start.lock``. The lease is released by :meth:`LocalServer.release`, by garbage
   collection of the client, or by the kernel when the process dies.

The server exits after ``idle_timeout`` seconds without a live lease. The key is random per
server and lives only in ``state.json`` (mode 0600) and in memory, never in argv or logs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from optimizers.llm.local.files import (
    LocalServerError,
    file_lock,
    pid_alive,
    pid_cmdline,
    try_lock,
)
from optimizers.llm.local.server_process import (
    LEASE_DIR,
    LEASE_SUFFIX,
    START_LOCK,
    STATE_FORMAT,
    read_state,
)

_SERVER_MODULE = "optimizers.llm.local.server_process"
# The directory that holds the `optimizers` package, so `python -m` finds it from any cwd.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])
_LOG_TAIL = 2000


@dataclass
class _Lease:
    path: Path
    fd: int

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = -1

    def __del__(self) -> None:
        # A LocalServer dropped without release() must not keep its server up until exit.
        with contextlib.suppress(Exception):
            self.release()


def take_lease(lease_dir: Path) -> _Lease:
    """Create and lock a lease file in ``lease_dir``; it counts as live while we hold it."""
    lease_dir.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(6)}"
    tmp = lease_dir / f".{token}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    if not try_lock(fd, shared=True):  # pragma: no cover - a fresh private file is never locked
        os.close(fd)
        raise LocalServerError(f"could not lock the new lease file {tmp}")
    final = lease_dir / (token + LEASE_SUFFIX)
    os.replace(tmp, final)
    return _Lease(final, fd)


@dataclass
class LocalServer:
    """A lease on a running local llama.cpp server.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (the OpenAI API is under ``/v1``).
        api_key: The server's random key (never printed: it is left out of ``repr``).
        pid: The server process.
        model: The model name to send in requests.
        started: Whether this call started the server (False: it joined a running one).
        state_dir: Where the server's state, leases and log live.
    """

    base_url: str
    api_key: str = field(repr=False)
    pid: int
    model: str
    started: bool
    state_dir: Path
    _lease: _Lease = field(repr=False)

    def release(self) -> None:
        """Give the lease back; the server stops once no lease is held for its idle timeout."""
        self._lease.release()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class ServerConfig:
    """How to start a server if none is running."""

    model_path: Path
    model_id: str
    model: str
    n_ctx: int = 4096
    threads: int = 2
    parallel: int = 1
    max_reply_tokens: int = 2048
    idle_timeout: float = 300.0
    start_timeout: float = 300.0
    backend: str = ""  # module:callable of a stand-in backend (tests only)


def acquire_server(cfg: ServerConfig, state_dir: Path) -> LocalServer:
    """Return a lease on the healthy server in ``state_dir``, starting one when needed."""
    with file_lock(state_dir / START_LOCK, timeout=cfg.start_timeout + 60):
        lease = take_lease(state_dir / LEASE_DIR)
        try:
            state = read_state(state_dir)
            started = state is None or not _healthy(state, cfg.model_id)
            if started:
                _retire(state, state_dir)
                state = _spawn(cfg, state_dir)
            assert state is not None
        except BaseException:
            lease.release()
            raise
    return LocalServer(
        base_url=str(state["base_url"]),
        api_key=str(state["api_key"]),
        pid=int(str(state["pid"])),
        model=cfg.model,
        started=started,
        state_dir=state_dir,
        _lease=lease,
    )


def _healthy(state: dict[str, object], model_id: str) -> bool:
    if state.get("format") != STATE_FORMAT or state.get("model_id") != model_id:
        return False
    if not pid_alive(int(str(state.get("pid", 0)))):
        return False
    req = urllib.request.Request(
        f"{state['base_url']}/v1/models", headers={"Authorization": f"Bearer {state['api_key']}"}
    )
    # The same URL answering with our key proves it is our server, not a stranger on a reused port.
    for _ in range(3):  # a server busy with a long prompt can be slow to answer
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError:
            return False
        except (OSError, ValueError):
            time.sleep(0.5)
    return False


def _retire(state: dict[str, object] | None, state_dir: Path) -> None:
    """Stop a hung server of ours named by ``state`` and forget its state file."""
    if state is not None:
        pid = int(str(state.get("pid", 0)))
        if pid_alive(pid) and _SERVER_MODULE in (pid_cmdline(pid) or ""):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
            _wait_dead(pid, 5.0)
            if pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / "state.json").unlink()


def _wait_dead(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _command(cfg: ServerConfig, state_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", _SERVER_MODULE, "--detach"]
    cmd += ["--state-dir", str(state_dir), "--model", str(cfg.model_path)]
    cmd += ["--model-id", cfg.model_id, "--n-ctx", str(cfg.n_ctx), "--threads", str(cfg.threads)]
    cmd += ["--parallel", str(cfg.parallel), "--idle-timeout", repr(cfg.idle_timeout)]
    cmd += ["--max-reply-tokens", str(cfg.max_reply_tokens)]
    return cmd + (["--backend", cfg.backend] if cfg.backend else [])


def _spawn(cfg: ServerConfig, state_dir: Path) -> dict[str, object]:
    key = secrets.token_urlsafe(32)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_IMPORT_ROOT, env.get("PYTHONPATH")) if p)
    log_path = state_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _command(cfg, state_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=state_dir,
        )
    try:
        out, _ = proc.communicate((key + "\n").encode(), timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise _start_error("did not detach within 60 s", log_path) from None
    text = out.decode().strip()
    if proc.returncode != 0 or not text.isdigit():
        raise _start_error(f"exited with status {proc.returncode}", log_path)
    return _wait_for_state(int(text), state_dir, cfg.start_timeout, log_path)


def _wait_for_state(pid: int, state_dir: Path, timeout: float, log_path: Path) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state is not None and state.get("pid") == pid:
            return state
        if not pid_alive(pid):
            raise _start_error(f"(pid {pid}) stopped while loading the model", log_path)
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    raise _start_error(f"(pid {pid}) was not listening after {timeout:.0f} s", log_path)


def _start_error(what: str, log_path: Path) -> LocalServerError:
    try:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
    except OSError:
        tail = ""
    return LocalServerError(
        f"the local llama.cpp server {what}; last lines of {log_path}:\n"
        + (tail.strip() or "(empty)"),
        fix="check the log above (a damaged model file, too little memory, an unknown option); "
        "pass gguf_path= to another model, or use a hosted model by setting OPENAI_API_KEY",
    )
