"""The demo is a promise: run ``make demo``'s example (examples/numeric.py) with 10 seeds.

Each run is the example's own ``run`` with its defaults, on the same model as ``make demo``;
the seed is the sampling seed of every optimizer request (it matters for samples above
temperature 0: the searches' spread, the optimizers' stall schedule). The target: at least 9 of
10 runs solved, each in under 2 minutes on 2 cores. Prints JSON; ``--out`` writes it too.

    python benchmarks/demo_promise.py                    # 10 seeds on the local model
    python benchmarks/demo_promise.py --seeds 3 --out benchmarks/results/demo_promise.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a fresh clone
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # their helpers

import numeric

from benchmarks.quality.seeded import SeededClient
from optimizers.llm.types import LLMClient

TARGET_SOLVED, TARGET_SECONDS = 9, 120.0


def one_run(llm: LLMClient, seed: int) -> dict[str, Any]:
    """The example's run with its defaults; what it printed stays in the record."""
    before = llm.usage.total
    shown = io.StringIO()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(shown):
        outcome = numeric.run(SeededClient(llm, seed), out=out)
    wall = time.perf_counter() - start
    used = llm.usage.total
    return {
        "seed": seed,
        "solved": outcome.solved,
        "steps": len(outcome.reports),
        "scores": outcome.scores,
        "x": outcome.values.get("x"),
        "calls": used.calls - before.calls,
        "tokens": used.total_tokens - before.total_tokens,
        "wall_seconds": round(wall, 1),
        "story": shown.getvalue().splitlines()[-20:],
    }


def main(argv: Sequence[str] | None = None, llm: LLMClient | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args(argv)
    if llm is None:
        from optimizers.llm import local_model

        llm = local_model(cache=None)  # every number is a real call
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs.append(one_run(llm, seed))
        row = {k: runs[-1][k] for k in ("seed", "solved", "steps", "calls", "wall_seconds")}
        print(json.dumps(row), file=sys.stderr, flush=True)
    solved = sum(r["solved"] for r in runs)
    slowest = max((r["wall_seconds"] for r in runs), default=0.0)
    doc = {
        "example": "examples/numeric.py (make demo)",
        "model": llm.model,
        "cores": os.cpu_count(),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "solved": solved,
        "runs": len(runs),
        "slowest_seconds": slowest,
        "promise_kept": bool(runs)
        and solved * 10 >= TARGET_SOLVED * len(runs)
        and slowest < TARGET_SECONDS,
        "wall_seconds": [r["wall_seconds"] for r in runs],
        "details": runs,
    }
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
