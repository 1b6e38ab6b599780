"""Where evaluations run: on this machine (threads or tasks, bounded) or on a Ray cluster.

* :mod:`~optimizers.executors.executor`: the protocol, one evaluation and its result.
* :mod:`~optimizers.executors.local`: :class:`LocalExecutor`, this machine.
* :mod:`~optimizers.executors.ray`: ``RayExecutor``, a Ray cluster (loaded only when asked for).
* :mod:`~optimizers.executors.wire`: what travels to a worker (the workflow, its clients).
* :mod:`~optimizers.executors.registry`: executors by name (``"local"``, ``"ray://..."``).
"""

from __future__ import annotations

from optimizers.executors.executor import (
    EvalResult,
    EvalTask,
    EvaluationLost,
    Executor,
    ExecutorError,
    NotSerializable,
    OnInput,
    Outcome,
    find_params,
    run_one,
    set_values,
)
from optimizers.executors.local import LocalExecutor
from optimizers.executors.registry import get_executor, register_executor

__all__ = [
    "EvalResult",
    "EvalTask",
    "EvaluationLost",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "NotSerializable",
    "OnInput",
    "Outcome",
    "find_params",
    "get_executor",
    "register_executor",
    "run_one",
    "set_values",
]
