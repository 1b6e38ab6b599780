"""Print the suite's results as a Markdown table, one row per family and optimizer per file.

python -m benchmarks.quality.table benchmarks/results/quality_graph_*_baseline.json ...
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADER = (
    "| run | family / optimizer | solved | median steps | median calls | median tokens "
    "| median wall s | no-op steps (silent) / steps | test accuracy before -> after |"
)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def rows(label: str, doc: dict[str, Any]) -> list[str]:
    """The table rows of one results document."""
    out = []
    for key, s in sorted(doc["summary"].items()):
        acc = "-"
        if "test_accuracy_before" in s:
            acc = f"{s['test_accuracy_before']} -> {s['test_accuracy_after']}"
        out.append(
            f"| {label} | {key} | {s['solved']}/{s['runs']}"
            + (f" ({s['crashed']} crashed)" if s.get("crashed") else "")
            + f" | {_cell(s['median_steps_solved'])} "
            f"| {_cell(s['median_calls_solved'])} | {_cell(s['median_tokens_solved'])} "
            f"| {_cell(s['median_wall_seconds_solved'])} "
            f"| {s['noop_steps']} ({s['silent_noops']}) / {s['steps']} | {acc} |"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    print(HEADER)
    print("|---" * 9 + "|")
    for path in paths:
        label = path.stem.removeprefix("quality_")
        for line in rows(label, json.loads(path.read_text())):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
