"""A checkpoint read back for a resume is input to check, not a state to trust.

A checkpoint edited by hand (or by anything else) but still valid JSON used to be believed:
``step`` 99 ended the run as "finished", ``step`` -5 overwrote the baseline, a deleted optimizer
state silently reset the optimizer, an unknown parameter was ignored. :func:`validated_state`
checks it against the run it belongs to and names every problem at once.
"""

from __future__ import annotations

import math
from typing import Any

from optimizers.trainer.rundir import RunDir, RunDirError
from optimizers.trainer.state import TrainState
from optimizers.trainer.values import same

__all__ = ["STATUSES", "validated_state"]

STATUSES = ("running", "finished", "early_stop", "budget")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scores(value: Any, size: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == size
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    )


def _names(key: str, value: Any, names: list[str]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{key} is {type(value).__name__}; expected an object of parameter values"]
    out = []
    unknown, missing = sorted(set(value) - set(names)), sorted(set(names) - set(value))
    if unknown:
        out.append(f"{key} names parameters this run does not train: {unknown} (it trains {names})")
    if missing:
        out.append(f"{key} has no value for {missing}")
    return out


def validated_state(
    ckpt: dict[str, Any],
    rundir: RunDir,
    *,
    names: list[str],
    total_steps: int,
    val_size: int,
    optimizer_state: dict[str, Any] | None,
) -> TrainState:
    """The checkpoint as a :class:`TrainState`, once every field fits the run.

    Args:
        ckpt: ``checkpoint.json`` as read.
        rundir: the run directory (its step folders bound the step and hold its values).
        names: the names of the parameters the trainer trains.
        total_steps: the steps the run is configured for.
        val_size: the validation examples (one score each).
        optimizer_state: a fresh ``optimizer.state_dict()``, whose keys a saved one must have
            (None when the optimizer keeps no state).

    Raises:
        RunDirError: naming every field that does not fit, and the fix.
    """
    rundir.verify(ckpt)  # a whole-number step >= 0, its folders and its journal all there
    step = ckpt["step"]
    folders = rundir.step_numbers_on_disk()
    bound = max(total_steps, folders[-1] if folders else 0)
    problems = [] if step <= bound else [f"step is {step}; this run has steps 0..{bound}"]
    if ckpt.get("status") not in STATUSES:
        problems.append(f"status is {ckpt.get('status')!r}; expected one of {list(STATUSES)}")
    best, stale = ckpt.get("best_step"), ckpt.get("stale", 0)
    if not (isinstance(best, int) and _whole(best) and 0 <= best <= step):
        problems.append(f"best_step is {best!r}; expected a whole number from 0 to {step}")
    if not (isinstance(stale, int) and _whole(stale) and stale >= 0):
        problems.append(f"stale is {stale!r}; expected a whole number >= 0")
    for key in ("params", "best_params"):
        problems += _names(key, ckpt.get(key), names)
    for key in ("scores", "best_scores"):
        if not _scores(ckpt.get(key), val_size):
            problems.append(f"{key} is not a list of {val_size} finite numbers (one per example)")
    problems += _optimizer_problems(ckpt.get("optimizer"), optimizer_state)
    if not problems and step <= bound:
        saved = rundir.read_step(step).params
        if not same(saved, ckpt["params"]):
            problems.append(
                f"params differ from steps/{step:06d}/params.json, written by the same step"
            )
    if problems:
        raise RunDirError(
            f"{rundir.path / 'checkpoint.json'} does not fit this run:\n  - "
            + "\n  - ".join(problems)
            + "\nFix: restore checkpoint.json from a copy, or start a new run in another folder"
        )
    return TrainState.from_dict(ckpt)


def _optimizer_problems(saved: Any, fresh: dict[str, Any] | None) -> list[str]:
    if fresh is None:
        return []
    if not isinstance(saved, dict):
        return [
            f"optimizer state is {'missing' if saved is None else type(saved).__name__}; "
            "resuming without it would silently restart the optimizer"
        ]
    missing = sorted(set(fresh) - set(saved))
    return [f"optimizer state lacks {missing}"] if missing else []
