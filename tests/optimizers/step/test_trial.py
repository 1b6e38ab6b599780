"""Trial runs of proposed code: static checks, then a child process with limits (sandbox.py)."""

from __future__ import annotations

import os
import time

import pytest

from optimizers.step.trial import TrialConfig, code_check, static_problems, trial_calls, trial_run
from tests.optimizers.graphs import inp, param
from tests.optimizers.step.trial_checks import adds_one, says_no
from tracegraph.node import Node, NodeKind
from tracegraph.params import ParamType

ORIGINAL = "def f(x, scale=1):\n    return x * scale\n"
FAST = TrialConfig(timeout=3.0)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def f(x, scale=1):\n    return x *\n", "does not parse"),
        ("def g(x, scale=1):\n    return x\n", "do not rename it"),
        ("def f(y, scale=1):\n    return y\n", "must stay named 'x'"),
        ("def f(x):\n    return x\n", "parameter 'scale' was removed"),
        ("def f(x, scale):\n    return x\n", "'scale' must keep a default"),
        ("def f(x, scale=1, extra):\n    return x\n", "does not parse"),
        ("def f(x, scale=1, *, extra):\n    return x\n", "'extra' needs a default"),
        ("def f(x, /, scale=1):\n    return x\n", "must not become positional-only"),
        ("async def f(x, scale=1):\n    return x\n", "must stay a def function"),
        ("@cache\ndef f(x, scale=1):\n    return x\n", "remove the decorators"),
    ],
)
def test_static_checks_reject_without_running(source: str, reason: str) -> None:
    problems = static_problems(source, "f", ORIGINAL)
    assert problems and reason in "; ".join(problems)


def test_compatible_changes_pass_the_static_checks() -> None:
    ok = (
        "import math\n\ndef helper(v):\n    return v\n\n"
        "def f(x, scale=2, *rest, flag=False, **kw):\n    return x\n"
    )
    assert static_problems(ok, "f", ORIGINAL) == []


def test_a_good_function_passes_its_trial() -> None:
    assert trial_run(ORIGINAL, "f", [((3,), {"scale": 2})], config=FAST) == []


def test_an_exception_on_the_traced_inputs_is_the_reason() -> None:
    src = "def f(x, scale=1):\n    y = x / 0\n    return y\n"
    (reason,) = trial_run(src, "f", [((3,), {})], config=FAST)
    assert "ZeroDivisionError" in reason and "line 2" in reason and "y = x / 0" in reason
    assert "f(3)" in reason


def test_an_error_while_defining_is_the_reason() -> None:
    (reason,) = trial_run("raise ValueError('top')\ndef f(x):\n    pass\n", "f", [], config=FAST)
    assert "defining f raised ValueError: top" in reason


def test_an_endless_loop_is_stopped_by_the_timeout() -> None:
    started = time.monotonic()
    (reason,) = trial_run(
        "def f(x):\n    while True:\n        pass\n",
        "f",
        [((1,), {})],
        config=TrialConfig(timeout=1.0),
    )
    assert "did not finish within 1 s" in reason
    assert time.monotonic() - started < 5


def test_a_memory_bomb_hits_the_memory_limit() -> None:
    src = "def f(x):\n    return bytearray(8 * 2**30)\n"
    (reason,) = trial_run(src, "f", [((1,), {})], config=TrialConfig(timeout=5, memory_mb=256))
    assert "MemoryError" in reason and "256 MB" in reason


def test_a_crash_of_the_child_is_reported() -> None:
    src = "import os\ndef f(x):\n    os._exit(7)\n"
    (reason,) = trial_run(src, "f", [((1,), {})], config=FAST)
    assert "crashed (exit status 7)" in reason


def test_code_never_runs_in_the_optimizers_process(tmp_path: object) -> None:
    src = "import os\nMARK = os.getpid()\ndef f(x):\n    raise RuntimeError(f'pid {os.getpid()}')\n"
    (reason,) = trial_run(src, "f", [((1,), {})], config=FAST)
    pid = int(reason.split("pid ")[1].split()[0].strip("'\""))
    assert pid != os.getpid()


def test_the_users_check_runs_in_the_child_and_its_failure_is_the_reason() -> None:
    good = "def f(x, scale=1):\n    return x + 1\n"
    bad = "def f(x, scale=1):\n    return x + 2\n"
    assert trial_run(good, "f", [], config=TrialConfig(check=adds_one)) == []
    (reason,) = trial_run(bad, "f", [], config=TrialConfig(check=adds_one))
    assert "AssertionError: f(1) should be 2, got 3" in reason
    (reason,) = trial_run(good, "f", [], config=TrialConfig(check=says_no))
    assert "never good enough" in reason


def test_globals_of_the_original_module_are_available() -> None:
    import re

    src = "def f(x):\n    return re.sub('a', 'b', x)\n"
    assert trial_run(src, "f", [(("aa",), {})], config=FAST, fn_globals={"re": re}) == []
    (reason,) = trial_run(src, "f", [(("aa",), {})], config=FAST)
    assert "NameError" in reason


def _call(code: Node, parents: dict[str, Node]) -> Node:
    return Node(
        None,
        NodeKind.CALL,
        "f_1",
        op="f",
        parents=(*parents.values(), code),
        arg_names=(*parents, "<code>"),
        code_param=code,
    )


def test_trial_inputs_are_rebuilt_from_the_call_nodes_parents() -> None:
    code = param(ORIGINAL, "f", ParamType.CODE)
    call = _call(code, {"x": inp(3, "x"), "scale": inp(2, "s")})
    assert trial_calls(code, [call], ORIGINAL) == [((3, 2), {})]
    src = "def f(x, *more, key=0, **kw):\n    pass\n"
    call = _call(
        code,
        {
            "x": inp(1, "a"),
            "more[0]": inp(2, "b"),
            "more[1]": inp(3, "c"),
            "key": inp(4, "d"),
            "other": inp(5, "e"),
        },
    )
    assert trial_calls(code, [call], src) == [((1, 2, 3), {"key": 4, "other": 5})]
    nested = _call(code, {"x[0]": inp(1, "a")})  # the container was not recorded whole
    assert trial_calls(code, [nested], ORIGINAL) == []


def test_code_check_replays_the_traced_inputs() -> None:
    code = param(ORIGINAL, "f", ParamType.CODE)
    call = _call(code, {"x": inp("text", "x")})
    assert code_check(code, "def f(x, scale=1):\n    return x * scale\n", [call], FAST) == []
    (reason,) = code_check(code, "def f(x, scale=1):\n    return x + 1\n", [call], FAST)
    assert "TypeError" in reason and "f('text')" in reason


def test_a_missing_global_the_original_also_used_is_inconclusive_not_a_rejection() -> None:
    src = "def f(x):\n    return helper(x)\n"
    assert trial_run(src, "f", [((1,), {})], config=FAST, outer={"helper"}) == []
    (reason,) = trial_run(src, "f", [((1,), {})], config=FAST, outer={"other"})
    assert "NameError" in reason
