"""RayExecutor on a local Ray instance (2 CPUs), against the LocalExecutor as the oracle.

One Ray instance serves the whole module (starting one takes ~15 s). Workflows call a
ScriptedClient whose every reply is "7", so the answer does not depend on which worker asked
first; each test builds its own client so budgets and caches stay apart. This module travels to
the workers by value (``pickle_by_value``): they cannot import a test file.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tracegraph as tg
from optimizers.executors import EvalResult, EvalTask, LocalExecutor, Outcome
from optimizers.llm import Budget, ScriptedClient
from tracegraph.node import Feedback, Node

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

from optimizers.executors.ray import RayExecutor  # noqa: E402  (after the skip)

PROMPT = tg.param("Give a number.", name="prompt")
SCALE = tg.param(2.0, name="scale")
PARAMS = [PROMPT, SCALE]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayExecutor]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield RayExecutor(max_retries=2, pickle_by_value=[sys.modules[__name__]])
    finally:
        ray.shutdown()


def make_workflow(client: ScriptedClient) -> Callable[[Any], Node]:
    """prompt + item -> model call -> number * scale; items ("die", n, path) kill a worker."""

    @tg.op
    def ask(item: Any, prompt: str) -> float:
        """Ask the model for a number about the item."""
        reply = client.complete([{"role": "user", "content": f"{prompt} {item}"}])
        return float(reply.text) + (item if isinstance(item, float) else 0.0)

    @tg.op
    def combine(answer: float, scale: float) -> float:
        """Scale the answer; refuse negative ones."""
        if answer < 0:
            raise ValueError(f"negative answer {answer}")
        return answer * scale

    def workflow(item: Any) -> Node:
        if isinstance(item, tuple):  # ("die", when, marker): kill this worker once
            _, when, marker = item
            if when == "before" and not os.path.exists(marker):
                Path(marker).touch()
                os._exit(1)
            out = combine(ask(item[:2], PROMPT), SCALE)
            if when == "after" and not os.path.exists(marker):
                Path(marker).touch()
                os._exit(1)  # the model call was made (and paid) before the worker died
            return out
        return combine(ask(item, PROMPT), SCALE)

    return workflow


def judge(o: Outcome) -> Feedback:
    if o.error is not None:
        return Feedback(f"failed: {str(o.error).splitlines()[0]}", 0.0)
    return Feedback(f"got {o.value}", -abs(o.value - 20))


def tasks_for(
    workflow: Any, items: list[Any], values: dict[str, Any] | None = None
) -> list[EvalTask]:
    return [EvalTask(workflow, judge, item, values or {}) for item in items]


def comparable(r: EvalResult) -> tuple[Any, ...]:
    out = r.output(PARAMS)
    graph = None if out is None else tg.format_graph(out)
    # Auto names are numbered per process: compare the graph without the numbers.
    return (
        r.index,
        r.output_value,
        r.score,
        r.feedback,
        r.failed,
        re.sub(r"_\d+", "_N", graph or ""),
    )


def test_results_match_the_local_executor(cluster: RayExecutor) -> None:
    client = ScriptedClient(["7"] * 100)
    workflow = make_workflow(client)
    items = [float(i) for i in range(6)] + [-20.0]  # the last raises inside an op
    remote = cluster.run(tasks_for(workflow, items), params=PARAMS)
    local = LocalExecutor(concurrency=2).run(tasks_for(workflow, items), params=PARAMS)
    assert [comparable(r) for r in remote] == [comparable(r) for r in local]
    assert remote[-1].error is not None and "negative answer" in remote[-1].error
    assert all(r.usage is not None and r.usage.calls == 1 for r in remote)
    assert all(r.attempts == 1 for r in remote)
    try:  # the rebuilt graphs reach the driver's own parameters
        for r in remote:
            r.backward(PARAMS)
        assert len(SCALE.received) == len(items) and len(PROMPT.received) == len(items)
    finally:
        tg.zero_feedback(PARAMS)


def test_candidates_are_scored_with_their_own_values(cluster: RayExecutor) -> None:
    workflow = make_workflow(ScriptedClient(["7"] * 100))
    tasks = [t for s in (1.0, 3.0) for t in tasks_for(workflow, [1.0, 2.0], {"scale": s})]
    remote = cluster.run(tasks, params=PARAMS)
    local = LocalExecutor().run(tasks, params=PARAMS)
    assert [r.output_value for r in remote] == [8.0, 9.0, 24.0, 27.0]
    assert [r.score for r in remote] == [r.score for r in local]
    assert SCALE.value == 2.0


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_dead_worker_is_retried_and_counted_once(
    cluster: RayExecutor, tmp_path: Path, when: str
) -> None:
    budget = Budget(max_calls=50)
    client = ScriptedClient(["7"] * 100, budget=budget, cache=tmp_path / "cache.sqlite")
    workflow = make_workflow(client)
    marker = str(tmp_path / "died")
    items: list[Any] = [1.0, ("die", when, marker), 3.0]
    results = cluster.run(tasks_for(workflow, items), params=PARAMS)
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.attempts for r in results] == [1, 2, 1]
    assert os.path.exists(marker) and not results[1].failed
    # A call made before the worker died was paid once and cached: the retry reads it back.
    assert budget.used.calls == 3
    assert results[1].usage is not None
    assert results[1].usage.cache_hits == (1 if when == "after" else 0)
    assert client.cache is not None and len(client.cache) == 3


def test_the_budget_holds_across_workers(cluster: RayExecutor) -> None:
    budget = Budget(max_calls=3)
    workflow = make_workflow(ScriptedClient(["7"] * 100, budget=budget))
    results = cluster.run(tasks_for(workflow, [float(i) for i in range(8)]), params=PARAMS)
    answered = [r for r in results if r.error is None]
    refused = [r for r in results if r.error is not None]
    assert len(answered) == 3 and len(refused) == 5
    assert all("budget exhausted" in (r.error or "") for r in refused)
    assert budget.used.calls == 3  # charged back to the driver's own budget
    again = cluster.run(tasks_for(workflow, [9.0]), params=PARAMS)
    assert again[0].error is not None and "budget exhausted" in again[0].error


def test_keys_travel_but_never_print(cluster: RayExecutor) -> None:
    from optimizers.executors import wire
    from optimizers.llm import OpenAIClient

    client = OpenAIClient(
        model="m", base_url="http://127.0.0.1:9/v1", api_key="sk-secret-123456", cache=None
    )
    budgets: dict[int, Budget] = {}
    blob = wire.dumps({"client": client}, budgets)
    rebuilt, made = wire.loads(blob, lambda *a: None)
    assert made[0]._secret == "sk-secret-123456" and made[0] is rebuilt["client"]
    kind, config = wire.client_config(client, budgets)
    assert "sk-secret" not in repr(config) and kind == "openai"


def test_a_workflow_the_workers_cannot_import_is_explained(cluster: RayExecutor) -> None:
    from optimizers.executors import ExecutorError

    ghost = types.ModuleType("ghost_module_only_on_the_driver")
    exec("def workflow(x):\n    return x\n", ghost.__dict__)
    sys.modules[ghost.__name__] = ghost  # importable here, so pickled by reference
    try:
        with pytest.raises(ExecutorError, match="importable on the workers"):
            cluster.run([EvalTask(ghost.workflow, judge, 1.0)])
    finally:
        del sys.modules[ghost.__name__]


def test_a_search_step_on_the_cluster_matches_the_local_one(cluster: RayExecutor) -> None:
    from optimizers.algorithms.history import HistoryOptimizer
    from optimizers.search import BestOfN
    from optimizers.search.scoring import evaluator

    def one_step(executor: Any) -> tuple[Any, float]:
        x = tg.param(1.0, name="x")
        client = ScriptedClient(["7"] * 20)

        @tg.op
        def guess(item: float, x: float) -> float:
            """Add the model's number."""
            return x + item + float(client.complete([{"role": "user", "content": "n"}]).text)

        replies = [f'{{"reasoning": "", "updates": {{"x": {v}}}}}' for v in (-5, 2, -3)]
        inner = HistoryOptimizer([x], llm=ScriptedClient(replies))
        score = evaluator(executor, lambda i: guess(i, x), judge, [1.0, 2.0], params=[x])
        report = BestOfN(inner, evaluate=score).step()
        return report.applied, x.value

    assert one_step(cluster) == one_step(LocalExecutor()) == ({"x": (1.0, 2.0)}, 2.0)


def test_concurrency_bounds_the_evaluations_in_flight(cluster: RayExecutor) -> None:
    import time

    def workflow(item: float) -> tuple[float, float]:
        start = time.time()
        time.sleep(0.2)
        return start, time.time()

    one_at_a_time = RayExecutor(concurrency=1, pickle_by_value=[sys.modules[__name__]])
    try:
        results = one_at_a_time.run([EvalTask(workflow, lambda o: 1.0, i) for i in range(3)])
    finally:
        one_at_a_time.close()  # stops its ledger; Ray itself belongs to the fixture
    spans = sorted(r.output_value for r in results)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert ray.is_initialized()
