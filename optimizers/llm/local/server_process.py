"""The local model's server process: llama.cpp's OpenAI-compatible HTTP server, shared by leases.

Run by :mod:`optimizers.llm.local.shared_server`, never by hand::

    python -m optimizers.llm.local.server_process --state-dir DIR --model FILE.gguf [--detach] ...

The API key comes on stdin (never argv, which other users can read with ``ps``). The process
binds 127.0.0.1 on a port the OS picks, then writes ``DIR/state.json`` (pid, port, URL, model
id, key; mode 0600) atomically. Clients hold *leases*: files under ``DIR/leases/`` that they keep
``flock``-ed for as long as they use the server. The kernel drops a lock when its holder dies, so
a lease that this process can lock is a dead one and is removed. When no lease has been held for
``--idle-timeout`` seconds, the process removes its state file (under ``DIR/start.lock``, so no
client can take a lease in between) and exits. It also exits when its state file is replaced or
removed, and on SIGTERM/SIGINT.

``--detach`` forks once, prints the server's pid on stdout and lets the parent exit, so the
server is nobody's child: it outlives the process that started it and is reaped by init.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from optimizers.llm.local.files import atomic_write_text, file_lock, try_lock

STATE_FILE = "state.json"
START_LOCK = "start.lock"
LEASE_DIR = "leases"
LEASE_SUFFIX = ".lease"
STATE_FORMAT = 1


class Backend(Protocol):
    """A running HTTP server that answers the OpenAI API under ``base_url + '/v1'``."""

    base_url: str

    def close(self) -> None:
        """Stop serving."""


BackendFactory = Callable[[argparse.Namespace, str], Backend]


class _XllamacppBackend:
    """llama.cpp's server running inside this process (it lives as long as the object)."""

    def __init__(self, args: argparse.Namespace, api_key: str) -> None:
        import xllamacpp  # heavy: imported only here, after the fork

        params = xllamacpp.CommonParams()
        params.model.path = args.model
        # llama.cpp splits n_ctx among the slots: give each parallel request the whole context.
        params.n_ctx = args.n_ctx * args.parallel
        params.n_parallel = args.parallel
        # Default and ceiling of max_tokens: one request without a limit would otherwise hold
        # the shared server's slot for the whole context (minutes on a small CPU).
        params.n_predict = args.max_reply_tokens
        # llama.cpp keeps old prompts' KV in RAM to reuse prefixes; its 8 GiB default is a lot
        # for a shared background process. 1 GiB holds ~9 full 4k contexts of the 1.5B model.
        params.cache_ram_mib = args.cache_ram_mib
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
        params.verbosity = 0
        params.api_keys = [api_key]
        self._server: object | None = xllamacpp.Server(params)
        self.base_url: str = str(self._server.listening_address)

    def close(self) -> None:
        self._server = None  # dropping the object stops the server threads


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m optimizers.llm.local.server_process")
    ap.add_argument("--state-dir", required=True, type=Path)
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-id", required=True)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--cache-ram-mib", type=int, default=1024)
    ap.add_argument("--max-reply-tokens", type=int, default=2048)
    ap.add_argument("--idle-timeout", type=float, default=300.0)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--detach", action="store_true")
    ap.add_argument("--backend", default="", help="module:callable (tests only)")
    return ap.parse_args(argv)


def count_live_leases(lease_dir: Path) -> int:
    """Count leases whose holder still holds the lock; remove the ones whose holder is gone."""
    live = 0
    for lease in lease_dir.glob("*" + LEASE_SUFFIX):
        try:
            fd = os.open(lease, os.O_RDONLY)
        except FileNotFoundError:
            continue  # released while we looked
        try:
            if try_lock(fd, shared=False):
                with contextlib.suppress(FileNotFoundError):
                    lease.unlink()  # holder released or died without cleaning up
            else:
                live += 1
        finally:
            os.close(fd)
    return live


def read_state(state_dir: Path) -> dict[str, object] | None:
    """Return the parsed state file of ``state_dir``, or None when absent or unreadable."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _owns_state(state_dir: Path) -> bool:
    state = read_state(state_dir)
    return state is not None and state.get("pid") == os.getpid()


def _serve_until_idle(args: argparse.Namespace, stop: threading.Event) -> None:
    lease_dir = args.state_dir / LEASE_DIR
    idle_since: float | None = None
    while not stop.wait(args.poll):
        if not _owns_state(args.state_dir):
            return  # replaced by a newer server, or removed by hand: leave
        if count_live_leases(lease_dir):
            idle_since = None
            continue
        now = time.monotonic()
        idle_since = now if idle_since is None else idle_since
        if now - idle_since < args.idle_timeout:
            continue
        # Re-check under the start lock: a client takes its lease under the same lock.
        with file_lock(args.state_dir / START_LOCK, timeout=60):
            if count_live_leases(lease_dir):
                idle_since = None
                continue
            _remove_own_state(args.state_dir)
            return


def _remove_own_state(state_dir: Path) -> None:
    if _owns_state(state_dir):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / STATE_FILE).unlink()


def _detach() -> None:
    pid = os.fork()
    if pid:
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        os._exit(0)
    os.setsid()  # own session: no terminal's Ctrl-C or hang-up reaches the shared server
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # let the starter's read of our stdout end
    os.close(devnull)


def _load_backend(spec: str) -> BackendFactory:
    if not spec:
        return _XllamacppBackend
    module, _, attr = spec.partition(":")
    factory: BackendFactory = getattr(importlib.import_module(module), attr)
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until it is idle, replaced or signalled; return the exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    api_key = sys.stdin.readline().strip()
    if not api_key:
        sys.stderr.write("no API key on stdin; this process is started by local_model()\n")
        return 2
    if args.detach:
        _detach()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    backend = _load_backend(args.backend)(args, api_key)
    try:
        port = int(backend.base_url.rsplit(":", 1)[1].rstrip("/"))
        state = {
            "format": STATE_FORMAT,
            "pid": os.getpid(),
            "port": port,
            "base_url": backend.base_url,
            "model": args.model,
            "model_id": args.model_id,
            "api_key": api_key,
            "idle_timeout": args.idle_timeout,
            "started_at": time.time(),
        }
        atomic_write_text(args.state_dir / STATE_FILE, json.dumps(state))
        sys.stderr.write(f"serving {args.model} on {backend.base_url} (pid {os.getpid()})\n")
        _serve_until_idle(args, stop)
    finally:
        _remove_own_state(args.state_dir)
        backend.close()
    sys.stderr.write(f"server pid {os.getpid()} exiting\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
