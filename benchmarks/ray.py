"""Local executor vs Ray (2 workers) on a CPU-bound feedback function; prints JSON.

Each evaluation runs a workflow (one traced op) and a feedback function that runs a small
"unit-test suite": a handful of checks that each count primes by trial division, pure Python,
so threads on this machine serialise on the GIL while Ray workers run in parallel processes.

Reported (seconds are wall-clock):
- ``local_s`` / ``ray_s``: the N evaluations on ``LocalExecutor(concurrency=2)`` and on
  ``RayExecutor`` with ``num_cpus=2`` (Ray's start-up is reported apart as ``ray_start_s``),
  each the best of ``repeats`` runs;
- ``speedup``: ``local_s / ray_s``;
- ``overhead_per_task_ms``: evaluations with an empty feedback function (at least 32), wall
  time per task on each executor (what one evaluation costs beyond its own work: pickling,
  scheduling, the ledger round trip, shipping the trace back);
- ``serial_work_s``: the suite's own time per evaluation, measured in this process.

Run from the repository root: ``python -m benchmarks.ray`` (``--smoke`` for a small size,
``--items N``, ``--work K``, ``--out FILE``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from typing import Any

# Run as a script, this file's folder would come first on sys.path and shadow the ray package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import tracegraph as tg  # noqa: E402
from optimizers.executors import EvalTask, LocalExecutor, Outcome  # noqa: E402

LIMIT = tg.param(2000, name="limit", description="how far each check counts primes")


@tg.op
def primes_below(n: int, limit: int) -> int:
    """Count the primes below min(n, limit)."""
    return _count_primes(min(n, limit))


def _count_primes(n: int) -> int:
    count = 0
    for k in range(2, n):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            count += 1
    return count


def workflow(n: int) -> Any:
    return primes_below(n, LIMIT)


def make_suite(work: int) -> Any:
    """A feedback function: ``work`` checks of the output against a recount, each CPU-bound."""

    def suite(o: Outcome) -> tg.Feedback:
        failures = [i for i in range(work) if _count_primes(o.item + i) < o.value]
        score = 1.0 - len(failures) / work
        return tg.Feedback(f"{work - len(failures)}/{work} checks pass", score)

    return suite


def empty(o: Outcome) -> tg.Feedback:
    return tg.Feedback("ok", 1.0)


def timed(fn: Any, repeats: int = 1) -> tuple[float, Any]:
    """The best wall time of ``repeats`` runs (other load only ever adds time), and a result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def on_ray(heavy: list[EvalTask], light: list[EvalTask], repeats: int) -> dict[str, Any]:
    """Start Ray with 2 CPUs, warm two workers, time both task lists; shut Ray down."""
    ray = importlib.import_module("ray")  # a plain import would name this very file to mypy

    from optimizers.executors.ray import RayExecutor

    start_s, _ = timed(lambda: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False))
    try:
        remote = RayExecutor()
        remote.run(light[:2], params=[LIMIT])  # warm the two workers up
        heavy_s, results = timed(lambda: remote.run(heavy, params=[LIMIT]), repeats)
        light_s, _ = timed(lambda: remote.run(light, params=[LIMIT]), repeats)
    finally:
        ray.shutdown()
    return {"start": start_s, "heavy": heavy_s, "light": light_s, "results": results}


def measure(items: int, work: int, size: int, repeats: int) -> dict[str, Any]:
    """Run both executors on the same tasks; return the figures."""
    heavy = [EvalTask(workflow, make_suite(work), size + i) for i in range(items)]
    light = [EvalTask(workflow, empty, 10 + i) for i in range(max(items, 32))]
    local = LocalExecutor(concurrency=2)
    local.run(heavy[:1], params=[LIMIT])  # warm up (imports, caches)
    one, _ = timed(lambda: local.run(heavy[:1], params=[LIMIT]), repeats)
    local_s, local_results = timed(lambda: local.run(heavy, params=[LIMIT]), repeats)
    local_light_s, _ = timed(lambda: local.run(light, params=[LIMIT]), repeats)
    remote = on_ray(heavy, light, repeats)
    ray_s, ray_light_s, ray_results = remote["heavy"], remote["light"], remote["results"]
    start_s = remote["start"]
    same = [r.score for r in ray_results] == [r.score for r in local_results]
    return {
        "items": items,
        "checks_per_item": work,
        "serial_work_s": round(one, 4),
        "local_s": round(local_s, 3),
        "ray_s": round(ray_s, 3),
        "speedup": round(local_s / ray_s, 2),
        "ray_start_s": round(start_s, 2),
        "overhead_per_task_ms": {
            "local": round(1000 * local_light_s / len(light), 2),
            "ray": round(1000 * ray_light_s / len(light), 2),
        },
        "same_scores": same,
        "repeats": repeats,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a small, quick size")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--work", type=int, default=6, help="checks per item")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    items, work = (4, 2) if args.smoke else (args.items, args.work)
    figures = measure(
        items, work, size=1500 if args.smoke else 6000, repeats=1 if args.smoke else 3
    )
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
