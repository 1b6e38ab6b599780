"""Run Microsoft Trace (trace-opt) on the benchmark's tasks: the competitor, driven for comparison.

This file runs in Trace's own virtual environment (never imported by tracegraph) and therefore
uses Trace's public API by its names. The tasks, their feedback texts and scores are the same as
in ``examples/``: restated here because this interpreter cannot import our packages' dependencies,
except the retrieval task, whose stdlib-only module ``examples/_retrieval_task.py`` is shared.
The endpoint comes from ``TRACE_CUSTOMLLM_MODEL``/``_URL``/``_API_KEY`` (set by
``benchmarks/optimize.py``). It prints one JSON line with the same fields as our rows.

    /tmp/trace-venv/bin/python benchmarks/vs_trace_runner.py numeric 5
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from opto.optimizers import OptoPrime  # the competitor's graph optimizer
from opto.trace import bundle, node
from opto.utils.llm import CustomLLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # stdlib-only data
from _retrieval_task import SIMILARITY, judge


class CountingLLM(CustomLLM):
    """Trace's OpenAI-compatible backend, counting calls, tokens and seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = self.input_tokens = self.output_tokens = 0
        self.seconds = 0.0

    def create(self, **config: Any) -> Any:
        config.setdefault("temperature", 0.0)
        start = time.perf_counter()
        reply = super().create(**config)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        if reply.usage is not None:
            self.input_tokens += reply.usage.prompt_tokens
            self.output_tokens += reply.usage.completion_tokens
        return reply

    def snapshot(self) -> tuple[int, int, int, float]:
        return self.calls, self.input_tokens, self.output_tokens, self.seconds


# ---------------------------------------------------------------- numeric (as examples/numeric.py)


def numeric_judge(output: float, target: float = 47.0) -> tuple[str, float]:
    gap = output - target
    if abs(gap) < 0.5:
        return "Correct: the output is right. Keep x as it is.", 0.0
    way = "too small: the output must be LARGER" if gap < 0 else "too large: it must be SMALLER"
    return f"The output {output:g} is {way}.", -abs(gap)


def numeric_task() -> tuple[list[Any], Any]:
    x = node(0.0, trainable=True, name="x")

    def forward() -> list[tuple[Any, str, float]]:
        out = x * 3 + 5
        text, score = numeric_judge(float(out.data))
        return [(out, text, score)]

    return [x], forward


# ------------------------------------------------------ buggy function (as examples/buggy_function)

CASES = [([3, 1, 2], 2), ([4, 1, 3, 2], 2.5), ([7], 7), ([10, 2, 8, 4], 6.0)]


@bundle(trainable=True)
def median(values):
    """Return the median of a non-empty list of numbers."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def buggy_task() -> tuple[list[Any], Any]:
    def forward() -> list[tuple[Any, str, float]]:
        rows = []
        passed = 0
        for i, (values, want) in enumerate(CASES):
            try:
                out = median(node(list(values), name=f"case_{i}"))
                got = out.data
            except Exception as exc:  # Trace raises with the exception as a node
                out = getattr(exc, "exception_node", None)
                rows.append((out, f"median({values}) raised an exception; expected {want!r}", 0))
                continue
            if got == want:
                passed += 1
                rows.append((out, f"median({values}) = {got!r}: correct", 0))
            else:
                rows.append((out, f"median({values}) returned {got!r}, expected {want!r}", 0))
        score = passed / len(CASES)
        return [(o, t, score) for o, t, _ in rows]

    return [median.parameter], forward


# ------------------------------------------------ hyperparameters (as examples/hyperparameters.py)


@bundle()
def retrieve(top_k, threshold):
    """Passages with similarity >= threshold, best first, at most top_k of them."""
    ranked = sorted(SIMILARITY, key=lambda p: -SIMILARITY[p])
    return [p for p in ranked if SIMILARITY[p] >= threshold][: int(top_k)]


@bundle()
def rerank(passages):
    """Drop passages a cheap cross-check rejects (p4 is caught here when it is retrieved)."""
    return [p for p in passages if p != "p4"]


def hyper_task() -> tuple[list[Any], Any]:
    top_k = node(1, trainable=True, name="top_k")
    threshold = node(0.95, trainable=True, name="threshold")

    def forward() -> list[tuple[Any, str, float]]:
        try:
            found = rerank(retrieve(top_k, threshold))
        except Exception as exc:  # a proposal of the wrong type breaks the program
            return [(getattr(exc, "exception_node", None), f"the program failed: {exc}", 0.0)]
        text, score = judge(list(found.data))
        return [(found, text, score)]

    return [top_k, threshold], forward


TASKS = {"numeric": numeric_task, "buggy_function": buggy_task, "hyperparameters": hyper_task}
SOLVED = {"numeric": 0.0, "buggy_function": 1.0, "hyperparameters": 1.0}


def one_step(opt: Any, params: list[Any], rows: list[Any], llm: CountingLLM) -> dict[str, Any]:
    """Feedback on every output, one optimizer step; what it changed and cost."""
    before_values = [p.data for p in params]
    was = llm.snapshot()
    row: dict[str, Any] = {}
    opt.zero_feedback()
    # Trace requires one feedback text for all outputs that share a parameter: join them.
    combined = "\n".join(text for _, text, _ in rows)
    for out, _, _ in rows:
        if out is not None:
            opt.backward(out, combined, retain_graph=True)
    try:
        opt.step()
    except Exception as exc:  # record a crashing step, as a user would see it
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
    now = llm.snapshot()
    row.update(
        {
            "changed": before_values != [p.data for p in params],
            "calls": now[0] - was[0],
            "input_tokens": now[1] - was[1],
            "output_tokens": now[2] - was[2],
            "model_seconds": round(now[3] - was[3], 2),
        }
    )
    return row


def main() -> int:
    task, steps = sys.argv[1], int(sys.argv[2])
    params, forward = TASKS[task]()
    llm = CountingLLM()
    opt = OptoPrime(params, llm=llm)
    rows = forward()
    score = rows[0][2]
    result: dict[str, Any] = {"task": task, "system": "trace", "score_before": score}
    scores, steps_out = [], []
    start = time.perf_counter()
    for i in range(steps):
        if score == SOLVED[task]:
            break
        row = one_step(opt, params, rows, llm)
        rows = forward()
        score = rows[0][2]
        scores.append(score)
        steps_out.append({"step": i + 1, "score": score, **row})
    result.update(
        {
            "scores": scores,
            "solved": score == SOLVED[task],
            "steps": steps_out,
            "total": {
                "calls": llm.calls,
                "input_tokens": llm.input_tokens,
                "output_tokens": llm.output_tokens,
                "wall_seconds": round(time.perf_counter() - start, 2),
            },
            "final_values": {str(p.py_name): str(p.data)[:400] for p in params},
        }
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
