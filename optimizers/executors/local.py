"""Evaluations on this machine: threads for sync workflows, tasks for async ones, bounded."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from optimizers.errors import refuse_running_loop
from optimizers.executors.executor import (
    EvalResult,
    EvalTask,
    ExecutorError,
    find_params,
    run_one,
    set_values,
)
from tracegraph.node import Node

__all__ = ["LocalExecutor"]


def _values_key(values: Mapping[str, Any]) -> str:
    return json.dumps(sorted(values.items()), default=repr)


class LocalExecutor:
    """Evaluations on this machine: sync workflows in threads, async ones as tasks.

    At most ``concurrency`` evaluations run at once. Tasks that share parameter values run
    together on the driver's own parameters; tasks with other values (search candidates) run
    one value set after another, each set applied for its run and the old values restored,
    so concurrent evaluations never see each other's candidate. Concurrent calls of ``run``
    on one executor take turns for the same reason.

    Args:
        concurrency: the most evaluations in flight.
        export: also fill ``graph_data`` (as a remote executor would); default off.
    """

    def __init__(self, concurrency: int = 8, *, export: bool = False) -> None:
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.export = export
        self._turn = threading.Lock()

    def run(self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()) -> list[EvalResult]:
        refuse_running_loop("LocalExecutor.run()", "await executor.arun(tasks)")
        return asyncio.run(self.arun(tasks, params=params))

    async def arun(
        self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()
    ) -> list[EvalResult]:
        params = list(params)
        groups: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            groups.setdefault(_values_key(task.param_values), []).append(i)
        results: dict[int, EvalResult] = {}
        gate = asyncio.Semaphore(self.concurrency)
        # Runs change the driver's parameters for a while: concurrent runs (candidates scored
        # at once by a search) take turns. Acquired in a thread so no event loop blocks.
        await asyncio.to_thread(self._turn.acquire)
        try:
            for indices in groups.values():
                first = tasks[indices[0]]
                known = find_params(first.workflow, params)
                old = {name: known[name].value for name in first.param_values if name in known}
                set_values(first.param_values, known)
                try:
                    done = await asyncio.gather(
                        *(self._one(gate, tasks[i], i, known) for i in indices)
                    )
                finally:
                    set_values(old, known)
                results.update((r.index, r) for r in done)
        finally:
            self._turn.release()
        return [results[i] for i in range(len(tasks))]

    async def _one(
        self, gate: asyncio.Semaphore, task: EvalTask, index: int, known: Mapping[str, Node]
    ) -> EvalResult:
        async with gate:
            return await run_one(task, index, export=self.export, params=known)

    def close(self) -> None:
        """Nothing to release: threads come from asyncio's default pool."""
