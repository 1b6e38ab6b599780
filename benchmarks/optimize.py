"""Optimizer benchmark: every example as a task, with model calls, tokens, seconds and scores.

For each task the JSON has one entry per step: the score after the step and what the step
cost (optimizer calls, input and output tokens, seconds of model time and of wall time), plus
the task's totals (student calls of the prompt-tuning task included). The model is the local
one unless ``--model``/``--base-url`` or the environment name an endpoint; the reply cache is
off so every number is a real call.

``--vs-trace`` runs Microsoft Trace (trace-opt) on the same tasks and the same endpoint in a
subprocess with its own virtual environment (``--trace-python``, default
``/tmp/trace-venv/bin/python``), so the two can be compared call for call.

    python benchmarks/optimize.py --tasks numeric buggy_function --steps 5 --out bench.json
    python benchmarks/optimize.py --tasks numeric --vs-trace
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # the examples

import agent
import buggy_function
import hyperparameters
import numeric
import prompt_tuning
from _common import OPTIMIZERS, Outcome

from optimizers.llm.types import LLMClient

TASKS = {
    "numeric": numeric,
    "buggy_function": buggy_function,
    "hyperparameters": hyperparameters,
    "prompt_tuning": prompt_tuning,
    "agent": agent,
}
TRACE_TASKS = ("numeric", "buggy_function", "hyperparameters")  # what the runner implements
RUNNER = Path(__file__).resolve().parent / "vs_trace_runner.py"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=sorted(TASKS))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="graph")
    p.add_argument("--model", help="hosted model name (default: $TRACEGRAPH_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    p.add_argument("--local", default="1.5b", help="local model size when none is configured")
    p.add_argument("--threads", type=int, help="CPU threads of the local model")
    p.add_argument("--k", type=int, default=2, help="numeric task: candidates per step (0: none)")
    p.add_argument("--vs-trace", action="store_true", help="also run Trace on the same tasks")
    p.add_argument("--trace-python", default="/tmp/trace-venv/bin/python")
    p.add_argument("--out", help="write the JSON here too")
    return p.parse_args(argv)


def step_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """One row per step: the score after it and what its optimizer calls cost."""
    rows = []
    for report, score in zip(outcome.reports, outcome.scores[1:], strict=True):
        u = report.usage
        rows.append(
            {
                "step": report.step,
                "score": score,
                "changed": bool(report.applied),
                "rejected": len(report.rejected),
                "calls": u.calls,
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "model_seconds": round(u.seconds, 2),
            }
        )
    return rows


def run_task(name: str, llm: LLMClient, steps: int, optimizer: str, **extra: Any) -> dict[str, Any]:
    """Run one example as a task; its rows and totals."""
    before = llm.usage.total
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        outcome: Outcome = TASKS[name].run(llm, steps, out, optimizer, **extra)
    wall = time.perf_counter() - start
    used = llm.usage.total
    return {
        "task": name,
        "system": "tracegraph",
        "optimizer": optimizer + (f" + BestOfN(k={extra['k']})" if extra.get("k") else ""),
        "score_before": outcome.before,
        "scores": outcome.scores[1:],
        "solved": outcome.solved,
        "steps": step_rows(outcome),
        "total": {
            "calls": used.calls - before.calls,
            "input_tokens": used.input_tokens - before.input_tokens,
            "output_tokens": used.output_tokens - before.output_tokens,
            "wall_seconds": round(wall, 2),
        },
        "final_values": {
            k: v if isinstance(v, (int, float)) else str(v)[:400] for k, v in outcome.values.items()
        },
    }


def endpoint(args: argparse.Namespace) -> tuple[LLMClient, dict[str, str], Any]:
    """Our client, the environment for Trace's runner (same endpoint), and a lease to keep."""
    from optimizers.llm.openai_client import OpenAIClient

    hosted = (
        args.model
        or args.base_url
        or any(os.environ.get(v) for v in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "TRACEGRAPH_MODEL"))
    )
    if hosted:
        llm = OpenAIClient(model=args.model, base_url=args.base_url, cache=None, timeout=600)
        env = {
            "TRACE_CUSTOMLLM_MODEL": llm.model,
            "TRACE_CUSTOMLLM_URL": args.base_url or os.environ.get("OPENAI_BASE_URL", ""),
            "TRACE_CUSTOMLLM_API_KEY": os.environ.get("OPENAI_API_KEY", ""),
        }
        return llm, env, None
    from optimizers.llm.local import local_server

    server = local_server(
        args.local, threads=args.threads, parallel=getattr(args, "parallel", None) or 1
    )
    llm = OpenAIClient(
        model=server.model,
        base_url=server.base_url + "/v1",
        api_key=server.api_key,
        cache=None,
        timeout=600,
    )
    env = {
        "TRACE_CUSTOMLLM_MODEL": server.model,
        "TRACE_CUSTOMLLM_URL": server.base_url + "/v1",
        "TRACE_CUSTOMLLM_API_KEY": server.api_key,
    }
    return llm, env, server


def run_trace(task: str, steps: int, env: dict[str, str], python: str) -> dict[str, Any]:
    """Trace on one task, in its own virtual environment; the runner prints one JSON line."""
    if not Path(python).exists():
        return {"task": task, "system": "trace", "error": f"no Trace environment at {python}"}
    full = {**os.environ, **env, "TRACE_DEFAULT_LLM_BACKEND": "CustomLLM"}
    proc = subprocess.run(
        [python, str(RUNNER), task, str(steps)],
        env=full,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip()[-600:]
        return {"task": task, "system": "trace", "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    llm, env, lease = endpoint(args)
    results: list[dict[str, Any]] = []
    try:
        for name in args.tasks:
            print(f"== {name} (tracegraph, {args.optimizer})", file=sys.stderr, flush=True)
            extra = {"k": args.k} if name == "numeric" else {}
            results.append(run_task(name, llm, args.steps, args.optimizer, **extra))
            if args.vs_trace and name in TRACE_TASKS:
                print(f"== {name} (Trace)", file=sys.stderr, flush=True)
                results.append(run_trace(name, args.steps, env, args.trace_python))
    finally:
        if lease is not None:
            lease.release()
    doc = {"model": llm.model, "steps": args.steps, "results": results}
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
