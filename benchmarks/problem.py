"""Benchmark of the problem an optimizer renders: time and size for large traced graphs.

Prints one JSON line per case: nodes in the relevant subgraph, seconds to build the subgraph
and to render the problem (best of a few runs), and the characters rendered against the budget.

Usage::

    python benchmarks/problem.py          # chains of 1k-40k nodes and a 2,000-way fan-out
    python benchmarks/problem.py --smoke  # small sizes, a second or two

Cases: ``chain`` (``y = y + 1`` traced n/2 times from one parameter, so n nodes), ``fanout``
(one parameter into n branches ``p + i``, summed). The target is "well under a second" for a
20,000-node graph; the text must always fit the budget (6,000 characters by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tracegraph as tg  # noqa: E402  (after the path is set: runs from a checkout)
from optimizers.step.problem import ProblemConfig, render_problem  # noqa: E402
from tracegraph.graph import relevant_subgraph  # noqa: E402


def chain(n: int) -> tuple[Any, Any]:
    x = tg.param(1.0, name="x")
    y = x
    for _ in range(n // 2):
        y = y + 1
    y.backward("larger")
    return x, y


def fanout(n: int) -> tuple[Any, Any]:
    p = tg.param(1.0, name="p")
    total = p + 0
    for i in range(n):
        total = total + (p + i)
    total.backward("smaller")
    return p, total


def best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def case(name: str, build: Callable[[int], tuple[Any, Any]], n: int) -> dict[str, Any]:
    param, _ = build(n)
    sub_s, sub = best(lambda: relevant_subgraph([param]))
    config = ProblemConfig()
    render_s, text = best(lambda: render_problem(sub, [param], config=config))
    return {
        "case": name,
        "n": n,
        "subgraph_nodes": len(sub.nodes),
        "subgraph_s": round(sub_s, 4),
        "render_s": round(render_s, 4),
        "chars": len(text),
        "budget": config.budget_chars,
        "within_budget": len(text) <= config.budget_chars,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes only")
    args = parser.parse_args()
    sizes = [200, 2000] if args.smoke else [1000, 10_000, 20_000, 40_000]
    for n in sizes:
        print(json.dumps(case("chain", chain, n)), flush=True)
    print(json.dumps(case("fanout", fanout, 200 if args.smoke else 2000)), flush=True)


if __name__ == "__main__":
    main()
