"""Run Microsoft Trace's OptoPrime on one quality-suite task: the comparison's other side.

Runs in Trace's own virtual environment (never imported by tracegraph): it uses Trace's public
API, the suite's stdlib-only targets and judges (``specs``), and the counting client and step
of ``benchmarks/vs_trace_runner.py``. Prints one JSON line with the fields of our run records.

    /tmp/trace-venv/bin/python benchmarks/quality/trace_runner.py number 0 12
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))  # their helpers

from _retrieval_task import judge as retrieval_judge
from opto.optimizers import OptoPrime  # the competitor's graph optimizer
from opto.trace import bundle, node

from benchmarks.quality import specs
from benchmarks.vs_trace_runner import CountingLLM, one_step, rerank, retrieve

Rows = list[tuple[Any, str, float, bool]]


@bundle()
def probe(x):
    """Send x to the hidden system under test; its reading is compared with a hidden target."""
    return float(x)


@bundle()
def train(learning_rate, epochs, optimizer, normalize):
    """Train a small linear model by full-batch gradient descent; the final training loss."""
    return specs.train_loss(learning_rate, epochs, optimizer, normalize)


@bundle(trainable=True)
def slugify(title):
    """Lowercase the words of a title and join them with single hyphens; drop punctuation."""
    return title.lower().replace(" ", "-")


@bundle(trainable=True)
def is_leap_year(year):
    """Whether the year is a leap year in the Gregorian calendar."""
    return year % 4 == 0


@bundle(trainable=True)
def invert_mapping(mapping):
    """Map each value to the sorted list of the keys that have it."""
    return {value: [key] for key, value in mapping.items()}


CODE = {"slugify": slugify, "is_leap_year": is_leap_year, "invert_mapping": invert_mapping}


def number(seed: int) -> tuple[list[Any], Callable[[], Rows]]:
    target, start = specs.number_case(seed)
    x = node(start, trainable=True, name="x")

    def forward() -> Rows:
        out = probe(x)
        text, score, solved = specs.number_judge(float(out.data), target)
        return [(out, text, score, solved)]

    return [x], forward


def training(seed: int) -> tuple[list[Any], Callable[[], Rows]]:
    lr, epochs, optimizer, normalize = specs.TRAIN_STARTS[seed % len(specs.TRAIN_STARTS)]
    params = [
        node(lr, trainable=True, name="learning_rate"),
        node(epochs, trainable=True, name="epochs"),
        node(optimizer, trainable=True, name="optimizer"),
        node(normalize, trainable=True, name="normalize"),
    ]

    def forward() -> Rows:
        try:
            out = train(*params)
        except Exception as exc:  # a proposal of the wrong type breaks the program
            return [
                (getattr(exc, "exception_node", None), f"the program failed: {exc}", -1e12, False)
            ]
        text, score, solved = specs.loss_judge(float(out.data))
        return [(out, text, score, solved)]

    return params, forward


def code(seed: int) -> tuple[list[Any], Callable[[], Rows]]:
    name = specs.CODE_ORDER[seed % len(specs.CODE_ORDER)]
    fn = CODE[name]
    cases = specs.CODE_CASES[name]

    def forward() -> Rows:
        rows: list[tuple[Any, str, float]] = []
        passed = 0
        for i, (args, want) in enumerate(cases):
            try:
                out = fn(*[node(a, name=f"case_{i}_{j}") for j, a in enumerate(args)])
                got = out.data
            except Exception as exc:  # Trace raises with the exception as a node
                text = specs.code_verdict(name, args, want, None, type(exc).__name__)
                rows.append((getattr(exc, "exception_node", None), text, 0.0))
                continue
            passed += got == want
            rows.append((out, specs.code_verdict(name, args, want, got, None), 0.0))
        score = passed / len(cases)
        return [(o, t, score, score == 1.0) for o, t, _ in rows]

    return [fn.parameter], forward


def retrieval(seed: int) -> tuple[list[Any], Callable[[], Rows]]:
    k0, t0 = [(1, 0.95), (9, 0.1), (2, 0.5)][seed % 3]
    top_k = node(k0, trainable=True, name="top_k")
    threshold = node(t0, trainable=True, name="threshold")

    def forward() -> Rows:
        try:
            found = rerank(retrieve(top_k, threshold))
        except Exception as exc:
            return [
                (getattr(exc, "exception_node", None), f"the program failed: {exc}", 0.0, False)
            ]
        text, score = retrieval_judge(list(found.data))
        return [(found, text, score, score == 1.0)]

    return [top_k, threshold], forward


TASKS = {"number": number, "training": training, "code": code, "retrieval": retrieval}


def main() -> int:
    family, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    params, forward = TASKS[family](seed)
    llm = CountingLLM()
    opt = OptoPrime(params, llm=llm)
    start = time.perf_counter()
    rows = forward()
    score_before = rows[0][2]
    out_rows: list[dict[str, Any]] = []
    for i in range(steps):
        if rows[0][3]:
            break
        row = one_step(opt, params, [(o, t, s) for o, t, s, _ in rows], llm)
        rows = forward()
        out_rows.append({"step": i + 1, "score": rows[0][2], **row})
    noop = [r for r in out_rows if not r["changed"]]
    result = {
        "family": family,
        "task": f"{family}/seed={seed}",
        "optimizer": "trace-optoprime",
        "seed": seed,
        "solved": bool(rows[0][3]),
        "steps": len(out_rows),
        "score_before": score_before,
        "score_after": rows[0][2],
        "calls": llm.calls,
        "optimizer_calls": llm.calls,
        "student_calls": 0,
        "tokens": llm.input_tokens + llm.output_tokens,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "noop_steps": len(noop),
        "silent_noops": sum(1 for r in noop if "error" not in r),  # Trace gives no reasons
        "final_values": {str(p.py_name): str(p.data)[:400] for p in params},
        "rows": out_rows,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
