"""Benchmark of the run viewer: a synthetic run of 1,000 steps opens in under a second.

The run is made from a real one: the prompt task of the trainer's tests runs two steps with
its rule-based clients (offline), then its step 1 folder and journal lines are copied to make
``--steps`` steps with changing scores and a checkpoint at the end (the real file formats,
written the way the trainer writes them). The viewer is served in this process (uvicorn in a
thread) and timed over HTTP:

* ``first_page_ms``: ``GET /`` (the page with its CSS and scripts);
* ``runs_ms``: ``GET /api/runs`` on a fresh server (every step.json read once, then cached);
* ``overview_cold_ms``: ``GET /api/overview`` right after;
* ``overview_warm_ms``: the same again (what a live update costs);
* ``open_ms``: first page + the run list + the overview on a fresh server: **the target,
  under 1000 ms**;
* ``step_ms``: one step in full (``/api/step``), ``lineage_ms``: the blame over all steps;
* ``browser_ms``: with Playwright and a system Chromium, from navigation to the drawn learning
  curve (null without them); ``report_ms``/``report_mb``: writing report.html.

Prints one JSON object. Usage: ``python benchmarks/viewer.py [--steps 1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRACEGRAPH_FSYNC", "0")

from optimizers.view.export import write_report  # noqa: E402  (after the path is set)
from tests.optimizers.trainer.tasks import prompt_task  # noqa: E402
from tests.optimizers.view.helpers import Viewer, find_chromium  # noqa: E402


def synthetic_run(folder: Path, steps: int) -> Path:
    """A run of ``steps`` steps in the real formats, grown from a real two-step run."""
    run = folder / "big"
    prompt_task(run, max_steps=2)[0].fit()
    template = run / "steps" / "000001"
    record = json.loads((template / "step.json").read_text())
    lines = [json.loads(x) for x in (run / "calls.jsonl").read_text().splitlines()]
    step_lines = [x for x in lines if x["step"] == 1]
    journal = [x for x in lines if x["step"] == 0]
    best = 0.0
    for k in range(1, steps + 1):
        target = run / "steps" / f"{k:06d}"
        if k > 1:
            shutil.copytree(template, target, dirs_exist_ok=True)
        val = round((k % 17) / 17 + k / (2 * steps), 4)
        accepted = val > best
        best = max(best, val)
        (target / "step.json").write_text(json.dumps({
            **record, "step": k, "val_score": val, "train_score": val * 0.9,
            "accepted": accepted, "best_score": best, "best_step": k if accepted else None,
            "decision": f"{'accepted' if accepted else 'rejected'}: validation {val}",
        }))  # fmt: skip
        (target / "params.json").write_text(json.dumps({"prompt": f"Prompt of step {k}.\n" * 3}))
        journal += [{**x, "step": k, "seq": len(journal) + i} for i, x in enumerate(step_lines)]
    (run / "calls.jsonl").write_text("".join(json.dumps(x) + "\n" for x in journal))
    ckpt = json.loads((run / "checkpoint.json").read_text())
    ckpt.update(step=steps, status="finished", best_score=best, best_step=steps)
    (run / "checkpoint.json").write_text(json.dumps(ckpt))
    run_file = json.loads((run / "run.json").read_text())
    run_file["config"]["total_steps"] = steps
    (run / "run.json").write_text(json.dumps(run_file))
    return run


def get(url: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(url) as reply:
        body = reply.read()
    return (time.perf_counter() - start) * 1000, body


def browser_ms(url: str) -> float | None:
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox",
                                     "--disable-gpu"])  # fmt: skip
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#learning-curve .pt", timeout=30_000)
        took = (time.perf_counter() - start) * 1000
        browser.close()
    return took


def measure(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run = synthetic_run(Path(tmp), steps)
        out: dict[str, Any] = {"benchmark": "viewer", "steps": steps}
        viewer = Viewer(run)
        try:
            base, q = viewer.url, "run=big"
            first, page = get(base)
            runs, _ = get(base + "api/runs")
            cold, body = get(f"{base}api/overview?{q}")
            warm, _ = get(f"{base}api/overview?{q}")
            step, _ = get(f"{base}api/step?{q}&n={steps // 2}")
            blame, _ = get(f"{base}api/lineage?{q}")
            rows = len(json.loads(body)["rows"])
            out.update(
                first_page_ms=round(first, 1), page_kb=round(len(page) / 1024, 1),
                overview_cold_ms=round(cold, 1), overview_warm_ms=round(warm, 1),
                overview_kb=round(len(body) / 1024, 1), rows=rows,
                runs_ms=round(runs, 1), open_ms=round(first + runs + cold, 1),
                step_ms=round(step, 1),
                lineage_ms=round(blame, 1),
            )  # fmt: skip
            out["open_under_1s"] = out["open_ms"] < 1000 and rows == steps + 1
            shown = browser_ms(f"{base}#/run/big")
            out["browser_ms"] = None if shown is None else round(shown, 1)
        finally:
            viewer.stop()
        start = time.perf_counter()
        report = write_report(run)
        out["report_ms"] = round((time.perf_counter() - start) * 1000, 1)
        out["report_mb"] = round(report.stat().st_size / 2**20, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    print(json.dumps(measure(parser.parse_args().steps)))


if __name__ == "__main__":
    main()
