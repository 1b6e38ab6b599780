"""The extraction runs' final values on sentences the optimizer never saw.

The extraction families score an instruction and a parser on four sentences, and the rule the
optimizer adds shows one of them as an example reply. This asks: do the final values carry over
to four new sentences per task? It reads the suite's results files and prints (and writes) the
accuracy of each run's final instruction and parser on the new sentences.

    python -m benchmarks.quality.unseen_extract RESULTS.json [RESULTS.json ...] --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a fresh clone
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from benchmarks.quality import extract_tasks, specs

UNSEEN: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "extract": [
        (
            "Maria Lopez joined the board on June 14, 2020.",
            {"name": "Maria Lopez", "date": "2020-06-14"},
        ),
        (
            "The contract with Tom Becker ends 2025/11/30.",
            {"name": "Tom Becker", "date": "2025-11-30"},
        ),
        (
            "On 2 February 2019 Aiko Tanaka opened her shop.",
            {"name": "Aiko Tanaka", "date": "2019-02-02"},
        ),
        (
            "Paul Grant was born on the 21st of August 1990.",
            {"name": "Paul Grant", "date": "1990-08-21"},
        ),
    ],
    "invoice": [
        (
            "Orbit Supplies invoiced 560.25 USD for paper.",
            {"vendor": "Orbit Supplies", "total": 560.25, "currency": "USD"},
        ),
        (
            "Please pay Delta Freight 2,000 EUR by Friday.",
            {"vendor": "Delta Freight", "total": 2000, "currency": "EUR"},
        ),
        (
            "The bill from Sunrise Bakery came to 45.10 CAD.",
            {"vendor": "Sunrise Bakery", "total": 45.1, "currency": "CAD"},
        ),
        (
            "Greenfield Energy charged JPY 12000 this month.",
            {"vendor": "Greenfield Energy", "total": 12000, "currency": "JPY"},
        ),
    ],
}
VERDICTS = {"extract": specs.extract_verdict, "invoice": specs.invoice_verdict}


def unseen_accuracy(llm: Any, family: str, values: dict[str, str]) -> float:
    """The share of the family's unseen sentences the final values get exactly right."""
    (code_name,) = (k for k in values if k != "instruction")
    return extract_tasks.accuracy(
        llm, UNSEEN[family], VERDICTS[family], values["instruction"], code_name, values[code_name]
    )


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.optimize import endpoint

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("results", nargs="+", help="results files of the extract/invoice families")
    p.add_argument("--out", required=True)
    p.add_argument("--local", default="1.5b")
    p.add_argument("--parallel", type=int, default=4)
    args = p.parse_args(argv)
    ns = argparse.Namespace(model=None, base_url=None, local=args.local, threads=None)
    ns.parallel = args.parallel
    llm, _, lease = endpoint(ns)
    out: dict[str, Any] = {}
    try:
        for path in args.results:
            for record in json.loads(Path(path).read_text())["records"]:
                if record["family"] not in UNSEEN:
                    continue
                values = record["final_values"]
                score = unseen_accuracy(llm, record["family"], values)
                out[record["task"]] = {
                    "solved_in_suite": record["solved"],
                    "unseen_accuracy": score,
                    "instruction": values["instruction"],
                }
                print(record["task"], json.dumps(out[record["task"]]), flush=True)
    finally:
        if lease is not None:
            lease.release()
    Path(args.out).write_text(json.dumps({"unseen_cases": UNSEEN, "results": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
