"""Evaluations on a Ray cluster: the workflow call, its feedback and its trace run on workers.

What runs where (see docs/ray.md): the driver pickles the workflow, the feedback function and
the parameters once per run (model clients as configuration, see
:mod:`optimizers.executors.wire`) and sends one Ray task per item. A worker unpickles a fresh copy,
gives the copy's parameters the
task's values, runs :func:`optimizers.executors.run_one`, and sends back the output value,
feedback, score, the usage of its model clients, and the trace as JSON-able data. Backward and
optimizer steps stay on the driver.

Budget and cache: a ``Ledger`` actor pinned to the driver's machine holds each budget (seeded
with what the driver's budget had used) and opens the driver's reply cache; workers reserve,
settle, read and write through it, so limits hold across workers and every paid reply is in the
driver's cache for a resumed run. When a run returns, the driver's budget is charged with what
the ledger counted (calls by attempts that died included: they were paid).

Retries: a task whose worker dies is run again by Ray on another worker, up to ``max_retries``
times; results are keyed by task index, so each evaluation is counted exactly once, and one that
died on every attempt raises :class:`~optimizers.executors.EvaluationLost` (nothing is dropped
silently).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from optimizers.executors import wire
from optimizers.executors.executor import (
    EvalResult,
    EvalTask,
    EvaluationLost,
    ExecutorError,
    NotSerializable,
    find_params,
    run_one,
    set_values,
)
from optimizers.llm.budget import Budget
from optimizers.llm.types import Usage
from tracegraph.node import Node

__all__ = ["RayExecutor", "evaluate_remote"]

INSTALL = "pip install 'tracegraph[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(
            f"executor='ray' needs the ray package, which is not installed; fix: {INSTALL}"
        ) from exc
    return ray


def evaluate_remote(
    data: bytes, ledger: Any, index: int, item: Any, values: dict[str, Any]
) -> EvalResult:
    """The Ray task: one evaluation on a fresh copy of the bundle (runs on a worker)."""
    ray = _ray()

    def call(method: str, *args: Any) -> Any:
        return ray.get(getattr(ledger, method).remote(*args))

    counted = ledger.begin.remote(index)  # overlaps the unpickling below
    bundle, clients = wire.loads(data, call)
    known = find_params(bundle.workflow, bundle.params)
    task = EvalTask(bundle.workflow, bundle.feedback_fn, item, values)
    # Counted before the workflow runs: an attempt that kills this worker is still counted.
    attempt = ray.get(counted)
    try:
        set_values(values, known)
    except Exception as exc:
        result = EvalResult(index, error=f"{type(exc).__name__}: {exc}", failed=True)
    else:
        result = asyncio.run(run_one(task, index, export=True, params=known))
    result.usage = sum((c.usage.total for c in clients), Usage())
    result.attempts = attempt
    return result


class RayExecutor:
    """Run evaluations as Ray tasks on a local Ray instance or an existing cluster.

    Args:
        address: ``None`` starts a local instance (or joins one this process already has);
            ``"auto"`` or ``"ray://host:10001"`` connects to a running cluster.
        num_cpus: CPUs of a local instance (default: all).
        max_retries: how many times a task whose worker died is run again elsewhere.
        concurrency: the most evaluations submitted at once (default: all; Ray then runs as
            many as the cluster has CPUs for).
        cpus_per_task: Ray CPUs reserved per evaluation (use e.g. 0.25 for workflows that
            mostly wait on a model).
        runtime_env: passed to ``ray.init`` (e.g. ``{"py_modules": [...]}`` to ship code to a
            remote cluster); keys given to clients travel in task data, never here.
        pickle_by_value: modules whose functions should travel by value (for workflows
            defined in modules the workers cannot import).
        init_options: more keyword arguments for ``ray.init``.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        max_retries: int = 2,
        concurrency: int | None = None,
        cpus_per_task: float = 1.0,
        runtime_env: dict[str, Any] | None = None,
        pickle_by_value: Iterable[Any] = (),
        **init_options: Any,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.cpus_per_task = cpus_per_task
        self.runtime_env = runtime_env
        self.init_options = init_options
        self._by_value = list(pickle_by_value)
        self._started = False
        self._ledger: Any = None  # one actor for the executor's life: starting one costs ~1 s
        self._remote: Any = None
        self._one_run = threading.Lock()  # runs share the ledger: one at a time
        _ray()  # fail now, with the install hint, rather than at the first run

    # ---- connection ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            options.update(self.init_options)
            if self.address is None:
                options["num_cpus"] = self.num_cpus
            ray.init(address=self.address, runtime_env=self.runtime_env, **options)
            self._started = True
            self._ledger = self._remote = None  # from an earlier Ray session: gone
        from ray import cloudpickle

        for module in self._by_value:
            cloudpickle.register_pickle_by_value(module)
        return ray

    def close(self) -> None:
        """Stop the ledger actor, and Ray itself if this executor started it."""
        ray = _ray()
        if self._ledger is not None and ray.is_initialized():
            ray.kill(self._ledger)
        self._ledger = None
        if self._started:
            _ray().shutdown()
            self._started = False

    # ---- running ------------------------------------------------------------------------------
    def run(self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()) -> list[EvalResult]:
        """Run every task on the cluster; results in task order, each exactly once."""
        if not tasks:
            return []
        with self._one_run:
            return self._run(tasks, list(params))

    def _run(self, tasks: Sequence[EvalTask], params: list[Node]) -> list[EvalResult]:
        ray = self._connect()
        budgets: dict[int, Budget] = {}
        blobs = self._pack(tasks, params, budgets)
        ledger = self._fresh_ledger(ray, budgets)
        seeded = {key: b.used for key, b in budgets.items()}
        try:
            return self._collect(ray, tasks, blobs, ledger)
        finally:
            self._charge(ray, ledger, budgets, seeded)

    async def arun(
        self, tasks: Sequence[EvalTask], *, params: Iterable[Node] = ()
    ) -> list[EvalResult]:
        """Async twin of :meth:`run` (the waiting happens in a thread)."""
        return await asyncio.to_thread(self.run, tasks, params=params)

    def _pack(
        self, tasks: Sequence[EvalTask], params: list[Node], budgets: dict[int, Budget]
    ) -> list[bytes]:
        """One pickled bundle per distinct (workflow, feedback function); checked here."""
        packed: dict[tuple[int, int], bytes] = {}
        out = []
        for i, task in enumerate(tasks):
            key = (id(task.workflow), id(task.feedback_fn))
            if key not in packed:
                bundle = wire.Bundle(task.workflow, task.feedback_fn, params)
                packed[key] = _pickled(bundle, budgets, f"tasks[{i}]")
            _pickled(task.item, budgets, f"tasks[{i}].item")
            out.append(packed[key])
        return out

    def _fresh_ledger(self, ray: Any, budgets: dict[int, Budget]) -> Any:
        """The ledger actor (on this machine, started once), reset and given this run's budgets."""
        if self._ledger is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = ray.get_runtime_context().get_node_id()
            actor_class = ray.remote(num_cpus=0, max_restarts=0)(wire.Ledger)
            strategy = NodeAffinitySchedulingStrategy(here, soft=False)
            self._ledger = actor_class.options(scheduling_strategy=strategy).remote()
        ledger = self._ledger
        ray.get(ledger.reset.remote())
        for key, budget in budgets.items():
            ray.get(ledger.add_budget.remote(key, wire._limits(budget), budget.used))
        return ledger

    def _collect(
        self, ray: Any, tasks: Sequence[EvalTask], blobs: list[bytes], ledger: Any
    ) -> list[EvalResult]:
        """Submit at most ``concurrency`` tasks at a time; gather results by index."""
        submit = self._submitter(ray, tasks, blobs, ledger)
        waiting = list(range(len(tasks)))[::-1]
        limit = self.concurrency or len(tasks)
        pending: dict[Any, int] = {}
        results: dict[int, EvalResult] = {}
        lost: dict[int, str] = {}
        while waiting or pending:
            while waiting and len(pending) < limit:
                index = waiting.pop()
                pending[submit(index)] = index
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    results[index] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the worker could not load the task
                    for other in pending:
                        ray.cancel(other)
                    raise ExecutorError(_load_failure(index, exc)) from None
                except ray.exceptions.RayError as exc:  # died on every attempt
                    lost[index] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        if lost:
            raise EvaluationLost(
                f"{len(lost)} evaluation(s) failed on all {self.max_retries + 1} attempts: "
                + "; ".join(f"item {i}: {why}" for i, why in sorted(lost.items()))
                + "; fix: raise max_retries, or look for what kills the workers (memory?)"
            )
        return [results[i] for i in range(len(tasks))]

    def _submitter(
        self, ray: Any, tasks: Sequence[EvalTask], blobs: list[bytes], ledger: Any
    ) -> Any:
        """``submit(index) -> ObjectRef``; each distinct bundle is put in the object store once."""
        if self._remote is None:  # registered once: each registration is shipped to the cluster
            self._remote = ray.remote(evaluate_remote)
        remote = self._remote.options(
            max_retries=self.max_retries, retry_exceptions=False, num_cpus=self.cpus_per_task
        )
        refs_of: dict[bytes, Any] = {}

        def submit(i: int) -> Any:
            blob = blobs[i]
            if blob not in refs_of:
                refs_of[blob] = ray.put(blob)
            task = tasks[i]
            return remote.remote(refs_of[blob], ledger, i, task.item, dict(task.param_values))

        return submit

    def _charge(
        self, ray: Any, ledger: Any, budgets: dict[int, Budget], seeded: dict[int, Usage]
    ) -> None:
        """Charge each driver budget with what the ledger counted during the run."""
        for key, budget in budgets.items():
            total = ray.get(ledger.used.remote(key))
            budget.settle(_minus(total, seeded[key]))


def _minus(a: Usage, b: Usage) -> Usage:
    return Usage(**{f.name: getattr(a, f.name) - getattr(b, f.name) for f in dataclasses.fields(a)})


def _pickled(obj: Any, budgets: dict[int, Budget], what: str) -> bytes:
    """Pickle ``obj`` for the workers, or say which part of it cannot travel and why."""
    try:
        return wire.dumps(obj, budgets)
    except Exception:
        found = wire.find_culprit(obj, what) or (what, "unknown")
        raise NotSerializable(
            f"{found[0]} cannot be sent to Ray workers: {found[1]}; fix: create such objects "
            "inside the workflow (or the op) instead of capturing them, or keep them on a "
            "tg.Module attribute that pickles; model clients travel as configuration"
        ) from None


def _load_failure(index: int, exc: Exception) -> str:
    cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return (
        f"evaluation {index} failed on the worker before it could run: {cause}; fix: make the "
        "workflow's module importable on the workers (RayExecutor(runtime_env={'py_modules': "
        "[...]}) or pickle_by_value=[module])"
    )
