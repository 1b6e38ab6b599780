"""``--vs-trace``: run Trace's OptoPrime on a task in its own virtual environment.

The runner (``trace_runner.py``) talks to the same endpoint as our side (the environment from
``benchmarks.optimize.endpoint``), both as the optimizer's model and, in the families whose
workflow calls one, as the task model; it prints one record in the suite's format.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve().parent / "trace_runner.py"
# what the runner implements (its ``TASKS``)
TRACE_FAMILIES = (
    "number",
    "training",
    "code",
    "retrieval",
    "labels",
    "digits",
    "topics",
    "extract",
    "invoice",
    "contact",
    "number_b",
    "training_b",
    "pipeline",
    "code_b",
)


def run_trace(
    family: str,
    seed: int,
    steps: int,
    env: dict[str, str],
    python: str,
    timeout: float = 3600,
) -> dict[str, Any]:
    """One Trace run; an error record (not solved) when it cannot run or crashes."""
    base = {"family": family, "task": f"{family}/seed={seed}", "optimizer": "trace-optoprime"}
    failed = {
        **base,
        "seed": seed,
        "solved": False,
        "steps": 0,
        "calls": 0,
        "optimizer_calls": 0,
        "student_calls": 0,
        "tokens": 0,
        "wall_seconds": 0.0,
        "noop_steps": 0,
        "silent_noops": 0,
    }
    if not Path(python).exists():
        return {**failed, "error": f"no Trace environment at {python} (pip install trace-opt)"}
    # LiteLLM, which Trace imports though the runner does not use it, would otherwise fetch its
    # price list from the network at start-up (and retry for seconds where there is none)
    full = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", **os.environ, **env}
    full["TRACE_DEFAULT_LLM_BACKEND"] = "CustomLLM"
    try:
        proc = subprocess.run(
            [python, str(RUNNER), family, str(seed), str(steps)],
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {**failed, "error": f"timed out after {timeout:g} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip()[-600:]
        return {**failed, "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result
