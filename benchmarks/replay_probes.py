"""Offline benchmark of the probe search on the local model's own recorded proposals.

``numeric_probes.py`` drives the optimizer with random stand-in proposals; those liked some
changes the real model's proposals did not (a81f9b7: +7 runs there, -2 here). This one replays
what the local model actually proposed: for each recorded run of a numeric family in
``benchmarks/results/quality_graph_*.json`` (files given, or all), the values applied at the
steps that called the model become a scripted model's replies, in order (the last repeated),
and the default ``GraphOptimizer`` runs the task again for 12 steps without a score function.
A run whose code calls the model at other steps gets the same proposals at those steps, so this
measures the probes around a fixed model, not the model. Prints one JSON object: per family,
runs solved of runs replayed (each distinct sequence of proposals once).

    python benchmarks/replay_probes.py [benchmarks/results/quality_graph_2026-12-07_*.json ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from benchmarks.quality.families import FAMILIES  # noqa: E402
from benchmarks.quality.runner import run_task  # noqa: E402
from optimizers import ScriptedClient  # noqa: E402

FAMILY_NAMES = ["training", "training_b", "retrieval", "pipeline"]
STEPS = 12


def proposals(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The values applied at the steps of ``record`` that called the model, in order."""
    rows = record.get("rows") or []
    return [r["values"] for r in rows if r.get("optimizer_calls", 0) > 0 and "values" in r]


def replay(record: dict[str, Any], props: list[dict[str, Any]]) -> bool:
    """Run the record's task again with ``props`` as the model's replies; solved?"""
    task = FAMILIES[record["family"]].make(int(record["seed"]), None)
    script = [json.dumps({"reasoning": "recorded", "updates": p}) for p in props]
    with contextlib.redirect_stdout(io.StringIO()):  # the runner prints its rows
        result = run_task(task, "graph", ScriptedClient(script + script[-1:] * 60), STEPS)
    return bool(result["solved"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("files", nargs="*", type=Path)
    args = p.parse_args()
    files = args.files or sorted((ROOT / "benchmarks" / "results").glob("quality_graph_*.json"))
    seen: set[str] = set()
    out: dict[str, dict[str, int]] = {}
    for path in files:
        for record in json.loads(path.read_text()).get("records", []):
            props = proposals(record)
            if record.get("family") not in FAMILY_NAMES or not props:
                continue
            key = json.dumps([record["task"], props], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            row = out.setdefault(record["family"], {"solved": 0, "runs": 0})
            row["runs"] += 1
            row["solved"] += replay(record, props)
    total = {k: sum(v[k] for v in out.values()) for k in ("solved", "runs")}
    print(json.dumps({"families": out, "total": total}, indent=1))


if __name__ == "__main__":
    main()
