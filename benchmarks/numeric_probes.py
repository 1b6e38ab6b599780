"""Offline benchmark of the probe search on the quality suite's numeric families, no model.

A stand-in model proposes a plausible random change of every parameter (numbers by a factor
between 0.1 and 10, choices at random): ``repeat`` proposes the same one every call (a model
with one idea), ``fresh`` a new one each call (a model that explores). It drives the default
``GraphOptimizer`` without a score function (the loop calls ``record_score``) for 12 steps on
each seed's start of ``training``, ``training_b``, ``retrieval`` and ``pipeline``, ``--per-seed``
stand-ins per seed. Prints one JSON object: per mode and family, runs solved and their steps.

    python benchmarks/numeric_probes.py [--per-seed 10] [--family training training_b ...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from benchmarks.quality.families import FAMILIES  # noqa: E402
from benchmarks.quality.runner import run_task  # noqa: E402
from benchmarks.quality.task import Task  # noqa: E402
from optimizers import ScriptedClient  # noqa: E402
from tracegraph.params import ParamType  # noqa: E402

FAMILY_NAMES = ["training", "training_b", "retrieval", "pipeline"]
STEPS = 12


def proposal(task: Task, rng: random.Random) -> dict[str, Any]:
    """A plausible change of every parameter: numbers by a random factor, choices at random."""
    out: dict[str, Any] = {}
    for p in task.params:
        spec, value = p.spec, p.value
        if spec is None:
            continue
        if spec.type in (ParamType.NUMBER, ParamType.INTEGER):
            lo, hi = spec.bounds or (None, None)
            new = value * 10 ** rng.uniform(-1, 1) if value else rng.uniform(lo or 0, hi or 1) / 4
            if spec.type is ParamType.INTEGER:
                new = max(1, round(new))
            new = new if lo is None else max(lo, new)
            out[p.name] = new if hi is None else min(hi, new)
        elif spec.type is ParamType.CHOICE and spec.choices:
            out[p.name] = rng.choice(spec.choices)
    return out


def run(family: str, per_seed: int, mode: str) -> dict[str, Any]:
    solved: list[int] = []
    runs = 0
    for seed in range(3):
        for k in range(per_seed):
            rng = random.Random(1000 * seed + k)
            task = FAMILIES[family].make(seed, None)
            count = 1 if mode == "repeat" else 60
            replies = [
                json.dumps({"reasoning": "improve the score", "updates": proposal(task, rng)})
                for _ in range(count)
            ]
            script = replies * 60 if mode == "repeat" else replies
            record = run_task(task, "graph", ScriptedClient(script), STEPS, None, None)
            runs += 1
            if record["solved"]:
                solved.append(record["steps"])
    return {"solved": len(solved), "runs": runs, "steps_solved": sorted(solved)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--per-seed", type=int, default=10)
    p.add_argument("--family", nargs="+", default=FAMILY_NAMES, choices=FAMILY_NAMES)
    args = p.parse_args()
    out = {
        mode: {f: run(f, args.per_seed, mode) for f in args.family} for mode in ("repeat", "fresh")
    }
    out["total"] = {mode: sum(v["solved"] for v in out[mode].values()) for mode in out}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
