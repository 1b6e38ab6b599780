"""The machine's conditions for a results file: cores, load, model, server threads, versions."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from optimizers.llm.types import LLMClient

ROOT = Path(__file__).resolve().parents[2]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return out.stdout.strip()


def server_threads() -> dict[str, Any]:
    """The ``--threads`` of every running local llama.cpp server process (from /proc)."""
    found: dict[str, Any] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "optimizers.llm.local.server_process" in words and "--threads" in words:
            found[proc.name] = words[words.index("--threads") + 1]
    return found


def conditions(llm: LLMClient, args: argparse.Namespace) -> dict[str, Any]:
    """What the numbers depend on, recorded next to them."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        usable = os.cpu_count() or 0
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "model": getattr(llm, "model", None),
        "local_size": None if (args.model or args.base_url) else args.local,
        "server_threads_by_pid": server_threads(),
        "server_parallel": getattr(args, "parallel", 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "versions": {d: _version(d) for d in ("openai", "xllamacpp", "pydantic", "tracegraph")},
        "note": "the model server is shared with other processes on this machine",
    }
