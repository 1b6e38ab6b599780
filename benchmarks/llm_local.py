"""Local-model figures: weight join, server start, time to first token and tokens per second.

Run ``python benchmarks/llm_local.py`` (needs the ``[local]`` extra). It prints one JSON object:

* ``weights_s`` - time to find (or join and verify) the weights; ``server_s`` - time to lease
  the shared server (``server_started`` says whether this run started it or joined one);
* per run, for a short optimizer-style prompt sent with streaming: ``ttft_s`` (request sent to
  first content token; the prompt is processed without llama.cpp's prompt cache, so this is the
  cold figure), ``decode_tok_s`` (output tokens after the first, per second), the token counts;
* medians over the runs.

``--fresh`` joins the weights into an empty temporary cache first, to time the first run a new
user sees (needs ~1.2 GB of free disk). Talks HTTP with the standard library so the figures
include no client-library overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizers.llm.local import LocalServer, local_server
from optimizers.llm.local.weights import WEIGHT_SETS, check_runtime, ensure_weights

PROMPT = [
    {
        "role": "system",
        "content": "You improve the parameters of a program from feedback. Reply in JSON with "
        'the keys "reasoning" (one sentence) and "updates" (parameter name to new value).',
    },
    {
        "role": "user",
        "content": "Program: score = evaluate(threshold, window). Parameters: threshold (float, "
        "now 0.35, range 0 to 1), window (int, now 3, range 1 to 50). Feedback on the last "
        "run: too many false alarms on noisy inputs (precision 0.41, recall 0.93); short "
        "spikes are flagged as events. Propose new values for both parameters.",
    },
]


def _stream(server: LocalServer, max_tokens: int) -> dict[str, Any]:
    body = {
        "model": server.model,
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": False,  # llama.cpp: time the prompt, not a cached prefix
    }
    req = urllib.request.Request(
        server.base_url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
    )
    start = time.perf_counter()
    first: float | None = None
    usage: dict[str, int] = {}
    with urllib.request.urlopen(req, timeout=600) as resp:
        for line in resp:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
            if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                first = time.perf_counter()
    end = time.perf_counter()
    out = usage.get("completion_tokens", 0)
    ttft = (first or end) - start
    return {
        "ttft_s": round(ttft, 3),
        "decode_tok_s": round((out - 1) / (end - (first or end)), 1) if out > 1 else None,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": out,
        "total_s": round(end - start, 3),
    }


def main(argv: list[str] | None = None) -> None:
    """Measure and print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1.5b", choices=sorted(WEIGHT_SETS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--fresh", action="store_true", help="join into an empty temp cache first")
    args = ap.parse_args(argv)
    check_runtime()
    if args.fresh:
        with tempfile.TemporaryDirectory(prefix="tracegraph-bench-") as tmp:
            # A server left in the deleted directory sees its state file gone and exits.
            os.environ["TRACEGRAPH_CACHE_DIR"] = tmp
            _measure(args)
    else:
        _measure(args)


def _measure(args: argparse.Namespace) -> None:
    from optimizers.llm.local.files import cache_dir

    t0 = time.perf_counter()
    ensure_weights(WEIGHT_SETS[args.size], cache_dir() / "models")
    t1 = time.perf_counter()
    with local_server(args.size, threads=args.threads, idle_timeout=30) as server:
        t2 = time.perf_counter()
        print(f"weights {t1 - t0:.1f} s, server {t2 - t1:.1f} s", file=sys.stderr, flush=True)
        runs = []
        for i in range(args.runs):
            runs.append(_stream(server, args.max_tokens))
            print(f"run {i + 1}/{args.runs}: {runs[-1]}", file=sys.stderr, flush=True)
    report = {
        "benchmark": "llm_local",
        "model": server.model,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "threads": args.threads or "default",
        "fresh_cache": args.fresh,
        "weights_s": round(t1 - t0, 2),
        "server_s": round(t2 - t1, 2),
        "server_started": server.started,
        "runs": runs,
        "median_ttft_s": statistics.median(r["ttft_s"] for r in runs),
        "median_decode_tok_s": statistics.median(r["decode_tok_s"] or 0.0 for r in runs),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
