"""The quality suite's command line: ``python -m benchmarks.quality`` (see ``__init__``).

python -m benchmarks.quality                                  # every family, graph, 3 seeds
python -m benchmarks.quality --family number code --seeds 1 --steps 4
python -m benchmarks.quality --optimizer history --family training
python -m benchmarks.quality --vs-trace --family number training code retrieval
python -m benchmarks.quality --smoke                          # 1 family, 1 seed, 2 steps
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a fresh clone
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))  # their helpers

from benchmarks.quality.conditions import conditions
from benchmarks.quality.families import FAMILIES
from benchmarks.quality.runner import OPTIMIZERS, run_task, summarize
from benchmarks.quality.trace_side import TRACE_FAMILIES, run_trace

RESULTS = Path(__file__).resolve().parents[1] / "results"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--family", nargs="+", choices=sorted(FAMILIES), default=list(FAMILIES))
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="graph")
    p.add_argument(
        "--gate", action="store_true", help="give the optimizer the score function (evaluate=)"
    )
    p.add_argument("--seeds", type=int, default=3, help="runs per family (seeds 0..n-1)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=12, help="step budget per run")
    p.add_argument("--smoke", action="store_true", help="number family, 1 seed, at most 2 steps")
    p.add_argument("--no-calibrate", action="store_true", help="skip the prompt calibrations")
    p.add_argument("--calibration", help="take the calibration from this earlier results file")
    p.add_argument("--vs-trace", action="store_true", help="also run Trace's OptoPrime")
    p.add_argument("--trace-only", action="store_true", help="run Trace's side only")
    p.add_argument("--trace-python", default="/tmp/trace-venv/bin/python")
    p.add_argument("--model", help="hosted model name (default: the local model)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint")
    p.add_argument("--local", default="1.5b", help="local model size")
    p.add_argument("--threads", type=int, help="llama.cpp threads if this starts the server")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="requests the local server decodes at once (a short task-model call then need "
        "not wait for a long optimizer prompt)",
    )
    p.add_argument("--tag", default="", help="added to the results file's name")
    p.add_argument("--out", help="results file (default: benchmarks/results/quality_...json)")
    args = p.parse_args(argv)
    if args.smoke:
        args.family, args.seeds, args.steps = ["number"], 1, min(args.steps, 2)
    return args


def out_path(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    name = "trace" if args.trace_only else args.optimizer + ("_gate" if args.gate else "")
    tag = f"_{args.tag}" if args.tag else ""
    return RESULTS / f"quality_{name}_{dt.date.today().isoformat()}{tag}.json"


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.optimize import endpoint  # the same client and Trace environment

    args = parse(argv)
    llm, env, lease = endpoint(args)
    path = out_path(args)
    doc: dict[str, Any] = {
        "suite": "benchmarks/quality",
        "optimizer": args.optimizer,
        "steps": args.steps,
        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "conditions": conditions(llm, args),
        "calibration": json.loads(Path(args.calibration).read_text())["calibration"]
        if args.calibration
        else {},
        "records": [],
    }

    def save() -> None:
        doc["summary"] = summarize(doc["records"])
        doc["conditions"]["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")

    try:
        for name in args.family:
            family = FAMILIES[name]
            skip = args.no_calibrate or args.trace_only or name in doc["calibration"]
            if family.calibrate and not skip:
                print(f"== calibrate {name}", file=sys.stderr, flush=True)
                doc["calibration"][name] = family.calibrate(llm)
                save()
            for seed in doc["seeds"]:
                if not args.trace_only:
                    task = family.make(seed, llm)
                    print(f"== {task.name} ({args.optimizer})", file=sys.stderr, flush=True)
                    doc["in_flight"] = {"task": task.name, "seed": seed, "rows": []}

                    def step(row: dict[str, Any]) -> None:
                        _step(row)
                        doc["in_flight"]["rows"].append(row)  # a stopped run leaves its steps
                        save()

                    record = run_task(
                        task, args.optimizer, llm, args.steps, seed, step, gate=args.gate
                    )
                    doc.pop("in_flight")
                    doc["records"].append(record)
                    _progress(record)
                    save()
                if (args.vs_trace or args.trace_only) and name in TRACE_FAMILIES:
                    print(f"== {name} seed {seed} (Trace)", file=sys.stderr, flush=True)
                    record = run_trace(name, seed, args.steps, env, args.trace_python)
                    doc["records"].append(record)
                    _progress(record)
                    save()
    finally:
        if lease is not None:
            lease.release()
        save()
    print(json.dumps({"file": str(path), "summary": doc["summary"]}, indent=1))
    return 0


def _step(row: dict[str, Any]) -> None:
    keys = ("step", "score", "changed", "silent_noop", "optimizer_calls", "student_calls")
    print("     " + json.dumps({k: row[k] for k in keys}), file=sys.stderr, flush=True)


def _progress(record: dict[str, Any]) -> None:
    keys = ("task", "optimizer", "solved", "steps", "calls", "wall_seconds", "silent_noops")
    print("   " + json.dumps({k: record.get(k) for k in keys}), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
