"""Benchmark of the client layer: concurrency against a slow fake server, and the cost of a
cache hit.

64 items each make two dependent calls (the second quotes the first's answer) through the real
``openai`` client and HTTP, against the fake server (``optimizers.llm.fakeserver.main()``, in
a process of its own) answering after a fixed latency. For each concurrency limit the wall
time is compared with the critical path, the fastest any scheduler could finish:
``max(2, ceil(2 * items / concurrency)) * latency`` (two dependent calls per item, and at most
``concurrency`` calls in flight). Goal: at most 1.5x at concurrency 32.
Then the whole run is repeated with the cache on: the repeat sends no request, and its cost per
call is what a cache hit costs.

Run: ``python benchmarks/llm.py`` (prints JSON); ``--smoke`` for a quick check; ``--local`` also
runs ``benchmarks/llm_local.py`` (time to first token and tokens per second of the local model).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizers.llm.openai_client import OpenAIClient

SERVE = "from optimizers.llm.fakeserver import main; main()"


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """The fake server in a process of its own, so its work does not compete for our GIL."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])},
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def stats(url: str) -> dict[str, int]:
    """Requests served and the most answered at once, from the server's stats route."""
    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as response:
        return dict(json.load(response))


def client(url: str, concurrency: int, cache: Path | None) -> OpenAIClient:
    """A client for the fake server."""
    return OpenAIClient(
        model="fake-model", base_url=url, cache=cache, max_concurrency=concurrency, timeout=30
    )


async def one_item(llm: OpenAIClient, index: int) -> str:
    """Two dependent calls: the second cannot start before the first has answered."""
    first = await llm.acomplete([{"role": "user", "content": f"item {index}: draft"}])
    second = await llm.acomplete(
        [{"role": "user", "content": f"item {index}: improve {first.text}"}], label="second"
    )
    return second.text


async def run_items(llm: OpenAIClient, items: int) -> float:
    """Wall seconds to finish every item."""
    started = time.perf_counter()
    await asyncio.gather(*(one_item(llm, i) for i in range(items)))
    return time.perf_counter() - started


def concurrency_case(items: int, latency: float, concurrency: int) -> dict[str, Any]:
    """One concurrency limit, cache off."""
    with fake_server(latency) as url:
        llm = client(url, concurrency, None)
        wall = asyncio.run(run_items(llm, items))
        critical = max(2, math.ceil(2 * items / concurrency)) * latency
        served = stats(url)
        return {
            "concurrency": concurrency,
            "wall_s": round(wall, 3),
            "critical_path_s": round(critical, 3),
            "ratio": round(wall / critical, 3),
            "requests": served["requests"],
            "peak_in_flight": served["peak_in_flight"],
        }


def cache_case(items: int, latency: float, concurrency: int) -> dict[str, Any]:
    """The same run twice with the cache on: the repeat must send nothing."""
    with tempfile.TemporaryDirectory() as tmp, fake_server(latency) as url:
        llm = client(url, concurrency, Path(tmp) / "llm.sqlite")
        cold = asyncio.run(run_items(llm, items))
        sent = stats(url)["requests"]
        warm = asyncio.run(run_items(llm, items))
        calls = 2 * items
        started = time.perf_counter()
        for i in range(calls):  # sync hits, one at a time: the cost of one lookup
            llm.complete([{"role": "user", "content": f"item {i % items}: draft"}])
        sync_hit = (time.perf_counter() - started) / calls
        return {
            "concurrency": concurrency,
            "cold_wall_s": round(cold, 3),
            "repeat_wall_s": round(warm, 4),
            "repeat_requests_sent": stats(url)["requests"] - sent,
            "repeat_cost_per_call_ms": round(1000 * warm / calls, 3),
            "sync_hit_ms": round(1000 * sync_hit, 3),
            "cache_hits": llm.usage.total.cache_hits,
        }


def run_local() -> None:
    """Call ``benchmarks/llm_local.py``'s ``main()`` when it is there."""
    path = Path(__file__).with_name("llm_local.py")
    if not path.exists():
        print(json.dumps({"local": "benchmarks/llm_local.py is not there; nothing to run"}))
        return
    spec = importlib.util.spec_from_file_location("llm_local", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Its own defaults, not our command line (which holds --local).
    if inspect.signature(module.main).parameters:
        module.main([])
    else:
        module.main()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--smoke", action="store_true", help="8 items, 50 ms, concurrency 1 and 8")
    parser.add_argument("--local", action="store_true", help="also benchmark the local model")
    args = parser.parse_args(argv)
    if args.smoke:
        args.items, args.latency, args.concurrency = 8, 0.05, [1, 8]
    cases = [concurrency_case(args.items, args.latency, c) for c in args.concurrency]
    report = {
        "items": args.items,
        "calls_per_item": 2,
        "latency_s": args.latency,
        "concurrency": cases,
        "goal": "ratio <= 1.5 at concurrency 32",
        "cache": cache_case(args.items, args.latency, max(args.concurrency)),
    }
    print(json.dumps(report, indent=2))
    if args.local:
        run_local()


if __name__ == "__main__":
    main()
