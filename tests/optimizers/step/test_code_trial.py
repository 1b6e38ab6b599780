"""Trial runs see the trainable function's module globals (tracegraph/code.py records them).

A proposal may call a helper or read a constant of the module the function was defined in;
the trial run must really execute it there (pass or fail on its merits), not forgive a
NameError as "inconclusive".
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import tracegraph as tg
from optimizers.step.trial import TrialConfig, code_check
from tests.optimizers.graphs import param
from tracegraph.params import ParamType

OFFSET = 100


def _shift(x: int) -> int:
    """A module-level helper the original function does not use."""
    return x + OFFSET


@tg.trainable
def scaled(x: int) -> int:
    return x * 2


def adds_offset(fn: Callable[..., Any]) -> None:
    """The user's check, run in the trial's child on the proposal."""
    assert fn(1) == 1 + OFFSET, f"expected {1 + OFFSET}, got {fn(1)!r}"


CHECKED = TrialConfig(timeout=20.0, check=adds_offset)


def test_a_proposal_using_a_module_helper_and_constant_runs_and_passes() -> None:
    out = scaled(tg.node(3, name="x"))
    code = tg.code_of(scaled)
    proposal = "def scaled(x):\n    return _shift(x)\n"
    assert code_check(code, proposal, [out], CHECKED) == []
    # it really ran: a proposal using the same helper wrongly is rejected, not forgiven
    wrong = "def scaled(x):\n    return _shift(x) - OFFSET\n"
    (reason,) = code_check(code, wrong, [out], CHECKED)
    assert "expected 101" in reason


def test_without_the_recorded_globals_the_helper_is_missing() -> None:
    plain = param(tg.code_of(scaled).value, "scaled", ParamType.CODE)  # no meta["globals"]
    (reason,) = code_check(plain, "def scaled(x):\n    return _shift(x)\n", [], CHECKED)
    assert "NameError" in reason and "_shift" in reason


def test_the_code_parameter_still_pickles_with_its_globals() -> None:
    code = pickle.loads(pickle.dumps(tg.code_of(scaled)))
    assert code.meta["globals"]["_shift"] is _shift
