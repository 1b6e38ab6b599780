"""GraphOptimizer against the real local model: marked ``local_model`` (slow).

Skipped with the reason when the ``[local]`` extra is not installed. Checks direction and
structure only, never exact model text: one step on "the output is too small" must raise the
parameter, through a reply that parsed and validated.
"""

from __future__ import annotations

import pytest

import tracegraph as tg
from optimizers import GraphOptimizer
from optimizers.llm.local.files import WeightsNotInstalledError
from optimizers.llm.local.weights import WEIGHT_SETS, check_runtime, locate_chunks

pytestmark = pytest.mark.local_model


def _missing_reason() -> str | None:
    try:
        check_runtime()
        locate_chunks(WEIGHT_SETS["1.5b"])
    except WeightsNotInstalledError as exc:
        return f"the [local] extra is not installed: {exc.fix.split(',')[0]}"
    return None


_MISSING = _missing_reason()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)


@tg.op
def square_plus(x: float) -> float:
    """Return x*x + 1."""
    return x * x + 1


@pytest.mark.timeout(900)  # the shared server may be busy with other tests
def test_one_step_moves_a_number_the_way_the_feedback_says() -> None:
    from optimizers.llm import local_model

    x = tg.param(3.0, name="x", bounds=(-100.0, 100.0), description="the number to tune")
    square_plus(x).backward("the output is too small: it must be 1370")
    opt = GraphOptimizer([x], llm=local_model(timeout=600, max_retries=1, cache=None))
    # cache=None: a reply cached by an earlier run would make this a test of the cache
    report = opt.step()
    assert report.error is None, report.error
    assert len(report.replies) >= 1 and report.usage.calls >= 1
    assert x.value > 3.0, (report.reasoning, report.rejected)
