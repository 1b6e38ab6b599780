"""Benchmark of the core engine: tracing, backward, relevant subgraph, import time.

Prints one JSON line per case. Times are the best (``*_s``/``*_us_per_op``) and the median
(``*_median``) of a few repetitions: this 2-core machine is shared and noisy, and the best
of several runs is the figure least disturbed by other work.

Usage::

    python benchmarks/core.py             # chains of 1k, 10k, 20k, 40k ops and the fan-out
    python benchmarks/core.py --smoke     # tiny sizes, a few seconds
    python benchmarks/core.py --vs-trace  # also run Microsoft Trace (trace-opt) and print ratios

Cases: ``add`` (``y = y + 1`` n times from one parameter), ``op`` (``y = inc(y)`` with an
``@tg.op``), ``fanout`` (``p + i`` for n branches, summed; its subgraph time is the target).
Trace runs in its own virtual environment (``--trace-venv``, created with ``pip install
trace-opt`` when missing: it is heavy) and in a fresh process per case.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tracegraph as tg  # noqa: E402  (after the path is set: runs from a checkout)
from tracegraph.graph import relevant_subgraph  # noqa: E402

TARGETS = {"trace_us_per_op": 3.0, "import_s": 0.3, "fanout_subgraph_s": 0.1}
BACKWARD_TARGETS = {20_000: 0.05, 40_000: 0.1}
REPEATS = 7


@tg.op
def inc(x: Any) -> Any:
    """Add one."""
    return x + 1


def build(kind: str, n: int) -> tuple[tg.Node, tg.Node, int]:
    """Trace one case; return (parameter, output, number of traced operations)."""
    p = tg.param(1, name="p")
    y = p
    if kind == "add":
        for _ in range(n):
            y = y + 1
        return p, y, n
    if kind == "op":
        for _ in range(n):
            y = inc(y)
        return p, y, n
    branches = [p + i for i in range(n)]
    y = branches[0]
    for branch in branches[1:]:
        y = y + branch
    return p, y, 2 * n - 1


def timed(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def best_and_median(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def peak_mb(fn: Callable[[], Any]) -> float:
    """Peak memory allocated while ``fn`` runs (tracemalloc), in MB."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run_ours(kind: str, n: int) -> dict[str, Any]:
    """Tracing, backward and subgraph figures of one case for tracegraph."""
    tracing, tracing_cpu, backward_s, backward_cpu, subgraph_s = [], [], [], [], []
    for _ in range(REPEATS):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        p, out, ops = build(kind, n)
        tracing.append((time.perf_counter() - start) / ops * 1e6)
        tracing_cpu.append((time.process_time() - cpu) / ops * 1e6)
        backward_s.append(timed(lambda: out.backward("larger")))  # noqa: B023
        # CPU time of this process only: what the code costs when other work shares the cores
        backward_cpu.append(timed(lambda: out.backward("larger"), time.process_time))  # noqa: B023
        subgraph_s.append(timed(lambda: relevant_subgraph([p])))  # noqa: B023
        tg.zero_feedback(p)
    graph_mb = peak_mb(lambda: build(kind, n))
    p, out, ops = build(kind, n)
    backward_mb = peak_mb(lambda: out.backward("larger"))
    nodes = len(relevant_subgraph([p]).nodes)
    row: dict[str, Any] = {"system": "tracegraph", "case": kind, "n": n, "ops": ops}
    for name, samples in (
        ("trace_us_per_op", tracing),
        ("trace_cpu_us_per_op", tracing_cpu),
        ("backward_s", backward_s),
        ("backward_cpu_s", backward_cpu),
        ("subgraph_s", subgraph_s),
    ):
        row[name], row[f"{name}_median"] = map(_round, best_and_median(samples))
    row.update(graph_peak_mb=_round(graph_mb), backward_peak_mb=_round(backward_mb))
    row["subgraph_nodes"] = nodes
    row["meets_targets"] = _meets(row)
    return row


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _meets(row: dict[str, Any]) -> bool:
    ok = row["trace_us_per_op"] <= TARGETS["trace_us_per_op"]
    if row["case"] in ("add", "op") and row["n"] in BACKWARD_TARGETS:
        ok = ok and row["backward_s"] <= BACKWARD_TARGETS[row["n"]]
    if row["case"] == "fanout":
        ok = ok and row["subgraph_s"] <= TARGETS["fanout_subgraph_s"]
    return ok


def import_time(python: str = sys.executable) -> dict[str, Any]:
    """``import tracegraph`` in fresh processes: best of five, and what it pulled in."""
    code = (
        "import sys, time, json; t = time.perf_counter(); import tracegraph; "
        "s = time.perf_counter() - t; heavy = [m for m in ('networkx', 'graphviz', 'openai', "
        "'pydantic', 'numpy') if m in sys.modules]; print(json.dumps([s, heavy]))"
    )
    runs = [
        json.loads(subprocess.check_output([python, "-c", code], cwd=ROOT, text=True))
        for _ in range(5)
    ]
    best = min(r[0] for r in runs)
    return {
        "system": "tracegraph",
        "case": "import",
        "import_s": _round(best),
        "heavy_modules_loaded": runs[0][1],
        "meets_targets": best <= TARGETS["import_s"] and not runs[0][1],
    }


# --- Microsoft Trace, for comparison -----------------------------------------------------------

TRACE_SCRIPT = r"""
import gc, json, resource, sys, time
from opto.trace import node, bundle
kind, n = sys.argv[1], int(sys.argv[2])
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
@bundle()
def inc(x):
    "Add one."
    return x + 1
warm = node(0) + 1, inc(node(0))  # first-use costs are not per-op costs
p = node(1, trainable=True)
t0, c0 = time.perf_counter(), time.process_time()
y = p
if kind == "add":
    for _ in range(n):
        y = y + 1
    ops = n
elif kind == "op":
    for _ in range(n):
        y = inc(y)
    ops = n
else:
    branches = [p + i for i in range(n)]
    y = branches[0]
    for b in branches[1:]:
        y = y + b
    ops = 2 * n - 1
t1, c1 = time.perf_counter(), time.process_time()
before = rss()
y.backward("larger")
t2, c2 = time.perf_counter(), time.process_time()
grown = rss() - before
from opto.trace.propagators import GraphPropagator
from opto.optimizers.optoprime import node_to_function_feedback
t3 = time.perf_counter()
summary = node_to_function_feedback(GraphPropagator().aggregate(p.feedback))
t4 = time.perf_counter()
print(json.dumps({"trace_us_per_op": (t1 - t0) / ops * 1e6, "backward_s": t2 - t1,
                  "trace_cpu_us_per_op": (c1 - c0) / ops * 1e6, "backward_cpu_s": c2 - c1,
                  "backward_rss_growth_mb": grown, "subgraph_s": t4 - t3,
                  "subgraph_nodes": len(summary.graph)}))
"""


def trace_python(venv: Path) -> str:
    """The Python of a virtual environment with trace-opt, created on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"# creating {venv} with trace-opt (large download)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import opto.trace"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "trace-opt"], check=True)
    return str(python)


def run_trace(python: str, kind: str, n: int, timeout: float) -> dict[str, Any]:
    """One case on Trace in a fresh process (it keeps every node ever made)."""
    row: dict[str, Any] = {"system": "trace-opt", "case": kind, "n": n}
    script = Path(tempfile.gettempdir()) / f"tracegraph_bench_trace_case_{os.getpid()}.py"
    script.write_text(TRACE_SCRIPT)  # a file, not -c: Trace's decorator reads the source
    try:
        done = subprocess.run(
            [python, str(script), kind, str(n)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/tmp",
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        return {**row, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {**row, "error": done.stderr.strip().splitlines()[-1:]}
    figures = json.loads(lines[-1])
    return {**row, **{k: v if isinstance(v, int) else _round(v) for k, v in figures.items()}}


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """How many times slower Trace is, per figure."""
    out: dict[str, Any] = {"system": "ratio trace-opt/tracegraph", "case": ours["case"]}
    out["n"] = ours["n"]
    keys = ("trace_us_per_op", "trace_cpu_us_per_op", "backward_s", "backward_cpu_s", "subgraph_s")
    for key in keys:
        if isinstance(theirs.get(key), float) and ours[key] > 0:
            out[key] = _round(theirs[key] / ours[key])
    return out


def trace_import_time(python: str) -> dict[str, Any]:
    code = "import time; t = time.perf_counter(); import opto.trace; print(time.perf_counter() - t)"
    runs = [float(subprocess.check_output([python, "-c", code], text=True)) for _ in range(3)]
    return {"system": "trace-opt", "case": "import", "import_s": _round(min(runs))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--vs-trace", action="store_true", help="compare with trace-opt")
    parser.add_argument("--trace-venv", type=Path, default=Path("/tmp/trace-venv"))
    parser.add_argument("--trace-timeout", type=float, default=300.0, help="seconds per case")
    parser.add_argument(
        "--trace-max-n", type=int, default=20_000, help="skip larger Trace cases (minutes each)"
    )
    args = parser.parse_args(argv)
    sizes = [200] if args.smoke else [1_000, 10_000, 20_000, 40_000]
    cases = [(kind, n) for kind in ("add", "op") for n in sizes]
    cases.append(("fanout", 50 if args.smoke else 2_000))
    python = trace_python(args.trace_venv) if args.vs_trace else ""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 200_000))  # Trace's deep graphs
    for kind, n in cases:
        ours = run_ours(kind, n)
        print(json.dumps(ours), flush=True)
        if args.vs_trace and n <= args.trace_max_n:
            theirs = run_trace(python, kind, n, args.trace_timeout)
            print(json.dumps(theirs), flush=True)
            print(json.dumps(ratios(ours, theirs)), flush=True)
    print(json.dumps(import_time()), flush=True)
    if args.vs_trace:
        print(json.dumps(trace_import_time(python)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
