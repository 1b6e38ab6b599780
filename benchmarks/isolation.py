"""Benchmark of isolation: what running trainable code in the sandbox costs.

Prints one JSON object: the first isolated call (starting the worker), the time per call of a
small function run in this process and isolated (traced and untraced; best and median of a few
repetitions, since this 2-core machine is shared and noisy), the overhead per call, and the
wall time of one trial run of proposed code (start, confinement, one call, teardown).

Usage::

    python benchmarks/isolation.py            # 300 calls per repetition
    python benchmarks/isolation.py --smoke    # 20 calls, a few seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import tracegraph as tg
from optimizers.step.trial import TrialConfig, trial_run


@tg.trainable
def local(x: int) -> int:
    return x * 2 + 1


@tg.trainable(isolated=True)
def isolated(x: int) -> int:
    return x * 2 + 1


def _per_call_us(fn: Callable[[int], Any], n: int, reps: int, traced: bool) -> list[float]:
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        if traced:
            for i in range(n):
                fn(tg.node(i, name="x"))
        else:
            with tg.no_trace():
                for i in range(n):
                    fn(i)
        out.append((time.perf_counter() - started) / n * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    n, reps = (20, 2) if args.smoke else (300, 5)
    started = time.perf_counter()
    isolated(1)
    first_call_s = time.perf_counter() - started
    result: dict[str, Any] = {"case": "isolation", "calls": n, "reps": reps}
    result["first_isolated_call_s"] = round(first_call_s, 4)
    for traced in (False, True):
        tag = "traced" if traced else "untraced"
        here = _per_call_us(local, n, reps, traced)
        away = _per_call_us(isolated, n, reps, traced)
        result[f"{tag}_in_process_us"] = round(min(here), 1)
        result[f"{tag}_isolated_us"] = round(min(away), 1)
        result[f"{tag}_isolated_us_median"] = round(statistics.median(away), 1)
        result[f"{tag}_overhead_us"] = round(min(away) - min(here), 1)
    trials = []
    for _ in range(2 if args.smoke else 5):
        started = time.perf_counter()
        reasons = trial_run(
            "def f(x):\n    return x + 1\n", "f", [((1,), {})], config=TrialConfig(timeout=20)
        )
        trials.append(time.perf_counter() - started)
        assert reasons == [], reasons
    result["trial_run_s"] = round(min(trials), 3)
    result["trial_run_s_median"] = round(statistics.median(trials), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
