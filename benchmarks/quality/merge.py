"""Merge results files of the suite (e.g. seeds run in separate passes) into one.

    python -m benchmarks.quality.merge OUT.json IN1.json IN2.json ...

Records are concatenated (a later file's record for the same task, optimizer and seed replaces
an earlier one), calibrations merged, the summary recomputed; each input's conditions are kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.quality.runner import summarize


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One results document from several."""
    records: dict[tuple[Any, ...], dict[str, Any]] = {}
    calibration: dict[str, Any] = {}
    for doc in docs:
        calibration.update(doc.get("calibration", {}))
        for r in doc["records"]:
            records[(r["task"], r["optimizer"], r.get("seed"))] = r
    merged = list(records.values())
    return {
        "suite": "benchmarks/quality",
        "optimizer": sorted({d.get("optimizer", "") for d in docs}),
        "steps": sorted({d.get("steps") for d in docs if d.get("steps") is not None}),
        "conditions": [d.get("conditions", {}) for d in docs],
        "calibration": calibration,
        "records": merged,
        "summary": summarize(merged),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, inputs = Path(args[0]), [Path(a) for a in args[1:]]
    doc = merge([json.loads(p.read_text()) for p in inputs])
    doc["merged_from"] = [p.name for p in inputs]
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
