"""The executor seam on this machine: order, exactly once, bounds, candidates, errors.

The Ray executor has its own marked tests (test_ray.py); here only its up-front pickling check
runs (it needs ray's cloudpickle, and is skipped without it).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegraph as tg
from optimizers.executors import (
    EvalResult,
    EvalTask,
    Executor,
    ExecutorError,
    LocalExecutor,
    OnInput,
    Outcome,
    get_executor,
)
from tracegraph.node import Feedback, Node

K = tg.param(2.0, name="k")
B = tg.param(1.0, name="b")


@tg.op
def affine(x: float, k: float, b: float) -> float:
    """k * x + b."""
    return k * x + b


@tg.op
def invert(x: float) -> float:
    """1 / x (raises on zero)."""
    return 1 / x


def line(x: float) -> Node:
    return affine(x, K, B)


def distance_to_ten(o: Outcome) -> Feedback:
    return Feedback(text=f"got {o.value}", score=-abs(o.value - 10))


@dataclass
class Gauge:
    """Counts evaluations in flight, to check the bound and that they overlap."""

    now: int = 0
    most: int = 0
    calls: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def workflow(self, x: float) -> Node:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.calls.append(x)
        await asyncio.sleep(random.uniform(0, 0.01))  # finish out of order
        with self.lock:
            self.now -= 1
        return affine(x, K, B)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_results_come_back_in_order_each_once_within_the_bound(concurrency: int) -> None:
    gauge = Gauge()
    items = [float(i) for i in range(12)]
    tasks = [EvalTask(gauge.workflow, distance_to_ten, x) for x in items]
    results = LocalExecutor(concurrency=concurrency).run(tasks, params=[K, B])
    assert [r.index for r in results] == list(range(12))
    assert [r.output_value for r in results] == [2 * x + 1 for x in items]
    assert sorted(gauge.calls) == items  # each evaluation ran exactly once
    assert gauge.most == concurrency  # bounded, and with room to overlap it did


def test_sync_workflows_run_in_threads_and_overlap() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def workflow(x: float) -> Node:
        barrier.wait()  # deadlocks (and times out) unless two run at once
        return line(x)

    results = LocalExecutor(concurrency=2).run(
        [EvalTask(workflow, distance_to_ten, x) for x in (1.0, 2.0)], params=[K, B]
    )
    assert [r.output_value for r in results] == [3.0, 5.0]


@settings(max_examples=25, deadline=None)
@given(
    candidates=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=4),
    items=st.lists(st.integers(-3, 3), min_size=1, max_size=4),
    order=st.randoms(),
)
def test_each_candidate_is_scored_with_its_own_values(
    candidates: list[float], items: list[int], order: random.Random
) -> None:
    pairs = [(c, x) for c in candidates for x in items]
    order.shuffle(pairs)
    tasks = [EvalTask(line, distance_to_ten, float(x), {"k": c}) for c, x in pairs]
    results = LocalExecutor(concurrency=4).run(tasks, params=[K, B])
    expected = [-abs(c * x + 1.0 - 10) for c, x in pairs]
    assert [r.score for r in results] == pytest.approx(expected)
    assert K.value == 2.0  # the driver's value is back


def test_backward_from_results_reaches_the_driver_parameters() -> None:
    tasks = [EvalTask(line, distance_to_ten, x) for x in (1.0, 4.0)]
    results = LocalExecutor().run(tasks, params=[K, B])
    try:
        for r in results:
            r.backward([K, B])
        assert [str(rec.feedback) for rec in K.received] == [
            "[score -7] got 3.0",
            "[score -1] got 9.0",
        ]
    finally:
        tg.zero_feedback([K, B])


def unnumbered(text: str) -> str:
    """Graph text without the auto numbers of names (two runs number their nodes apart)."""
    return re.sub(r"_\d+\b", "_N", text)


def test_exported_results_rebuild_the_same_graph_as_the_live_ones() -> None:
    tasks = [EvalTask(line, distance_to_ten, x) for x in (1.0, 4.0)]
    live = LocalExecutor().run(tasks, params=[K, B])
    sent = LocalExecutor(export=True).run(tasks, params=[K, B])
    for a, b in zip(live, sent, strict=True):
        assert a.graph_data is None and b.graph_data is not None and b.node is None
        out_a, out_b = a.output([K, B]), b.output([K, B])
        assert out_a is not None and out_b is not None and out_a is not out_b
        assert unnumbered(tg.format_graph(out_b)) == unnumbered(tg.format_graph(out_a))
        assert out_b.parents[1] is K


def test_an_op_error_is_an_output_and_other_errors_are_failures() -> None:
    def judge(o: Outcome) -> Any:
        if o.item == "bad judge":
            raise RuntimeError("judge broke")
        return (0.0, "raised") if o.error is not None else (1.0, "fine")

    def workflow(x: Any) -> Any:
        if x == "bug":
            raise KeyError("not an op")
        return invert(1.0 if x == "bad judge" else x)

    results = LocalExecutor().run(
        [EvalTask(workflow, judge, x) for x in (0.0, 2.0, "bug", "bad judge")]
    )
    zero, two, bug, bad = results
    assert zero.score == 0.0 and "ZeroDivisionError" in (zero.error or "")
    assert zero.node is not None and zero.node.kind is tg.NodeKind.EXCEPTION
    assert two.score == 1.0 and two.error is None and two.output_value == 0.5
    assert bug.failed and "KeyError" in (bug.error or "") and bug.node is None
    assert bad.failed and "judge broke" in (bad.error or "")


@dataclass
class Verdict:
    """A stand-in for the trainer's verdict: .feedback(), .score, .extra, .to_dict()."""

    score: float
    text: str
    extra: list[tuple[Node, Feedback]]

    def feedback(self) -> Feedback:
        return Feedback(self.text, self.score)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "text": self.text}


@pytest.mark.parametrize("export", [False, True])
def test_verdicts_with_feedback_for_intermediate_nodes(export: bool) -> None:
    def workflow(x: float) -> Node:
        return invert(line(x))

    def judge(o: Outcome) -> Verdict:
        assert o.output is not None
        middle = o.output.parents[0]
        return Verdict(0.5, "meh", [(middle, Feedback("the line is too steep"))])

    (result,) = LocalExecutor(export=export).run([EvalTask(workflow, judge, 1.0)], params=[K, B])
    assert result.detail == {"score": 0.5, "text": "meh"}
    try:
        result.backward([K, B])
        got = sorted(str(r.feedback) for r in K.received)
        assert got == ["[score 0.5] meh", "the line is too steep"]
    finally:
        tg.zero_feedback([K, B])


@pytest.mark.parametrize(
    ("answer", "score", "text"),
    [(True, 1.0, "correct"), (False, 0.0, "wrong"), (0.25, 0.25, ""), ("hm", None, "hm"),
     ((0.5, "half"), 0.5, "half")],
)  # fmt: skip
def test_feedback_function_answers_are_coerced(answer: Any, score: Any, text: str) -> None:
    (r,) = LocalExecutor().run([EvalTask(line, lambda o: answer, 1.0)], params=[K, B])
    assert (r.score, r.feedback.text if r.feedback else None) == (score, text)


def test_unknown_parameter_names_and_foreign_copies_are_refused() -> None:
    with pytest.raises(ExecutorError, match="'nope'"):
        LocalExecutor().run([EvalTask(line, distance_to_ten, 1.0, {"nope": 1})], params=[K])
    impostor = tg.param(2.0, name="k")  # same name, another node than the one line() uses
    (r,) = LocalExecutor().run(
        [EvalTask(line, distance_to_ten, 1.0, {"k": 3.0})], params=[impostor]
    )
    assert r.failed and "copy of parameter 'k'" in (r.error or "")
    with pytest.raises(ExecutorError, match="two different parameters"):
        LocalExecutor().run(
            [EvalTask(line, distance_to_ten, 1.0, {"k": 3.0})], params=[K, impostor]
        )


def test_module_workflows_find_their_own_parameters() -> None:
    class Scaler(tg.Module):
        def __init__(self) -> None:
            self.factor = tg.param(3.0, name="factor")

        def __call__(self, x: float) -> Node:
            return affine(x, self.factor, 0.0)

    model = Scaler()
    (r,) = LocalExecutor().run([EvalTask(model, distance_to_ten, 2.0, {"factor": 5.0})])
    assert r.output_value == 10.0 and model.factor.value == 3.0

    @dataclass(frozen=True)
    class Example:
        input: float
        target: float

    def judge(o: Outcome) -> float:
        return -abs(o.value - o.item.target)

    (r,) = LocalExecutor().run(
        [EvalTask(OnInput(model), judge, Example(2.0, 6.0), {"factor": 4.0})]
    )
    assert (r.output_value, r.score) == (8.0, -2.0) and model.factor.value == 3.0


def test_get_executor_settings() -> None:
    assert isinstance(get_executor(), LocalExecutor)
    assert get_executor("local", concurrency=2).concurrency == 2  # type: ignore[attr-defined]
    mine = LocalExecutor()
    assert get_executor(mine) is mine and isinstance(mine, Executor)
    with pytest.raises(ExecutorError, match="not known"):
        get_executor("spark")
    with pytest.raises(ExecutorError, match="at least 1"):
        LocalExecutor(concurrency=0)


def test_async_run_inside_an_event_loop() -> None:
    async def main() -> list[EvalResult]:
        return await LocalExecutor().arun([EvalTask(line, distance_to_ten, 1.0)], params=[K])

    assert [r.output_value for r in asyncio.run(main())] == [3.0]


def test_an_unpicklable_capture_is_named_before_anything_runs() -> None:
    pytest.importorskip("ray")
    from optimizers.executors import NotSerializable
    from optimizers.executors.ray import _pickled

    lock = threading.Lock()

    def workflow(x: float) -> Node:
        with lock:
            return line(x)

    with pytest.raises(NotSerializable, match=r"tasks\[0\] -> lock cannot be sent.*lock"):
        _pickled(workflow, {}, "tasks[0]")


def test_search_scores_candidates_through_an_executor() -> None:
    from optimizers.algorithms.history import HistoryOptimizer
    from optimizers.llm import ScriptedClient
    from optimizers.search import BestOfN
    from optimizers.search.scoring import evaluator, score_candidates

    x = tg.param(1.0, name="x")

    def workflow(item: float) -> Node:
        return x + item

    def judge(o: Outcome) -> float:
        return -abs(o.value - 5)

    executor = LocalExecutor(concurrency=4)
    got = asyncio.run(
        score_candidates(executor, workflow, judge, [0.0, 1.0], [{"x": 4.0}, {}], params=[x])
    )
    assert got == [(-0.5, None), (-3.5, None)]
    replies = [f'{{"reasoning": "", "updates": {{"x": {v}}}}}' for v in (2, 9, 4)]
    inner = HistoryOptimizer([x], llm=ScriptedClient(replies))
    search = BestOfN(inner, evaluate=evaluator(executor, workflow, judge, [0.0, 1.0], params=[x]))
    report = search.step()
    assert report.applied == {"x": (1.0, 4.0)} and x.value == 4.0


def test_a_candidate_that_cannot_be_scored_says_why() -> None:
    from optimizers.search.scoring import evaluator

    score = evaluator(LocalExecutor(), line, lambda o: "no score", [1.0], params=[K])
    with pytest.raises(ExecutorError, match="without a score"):
        asyncio.run(score({"k": 1.0}))


def test_clients_budgets_and_caches_travel_as_references_to_one_ledger(tmp_path: Any) -> None:
    """The wire format without Ray: two "workers" unpickle the same bundle, share one ledger."""
    pytest.importorskip("ray")
    from optimizers.executors import wire
    from optimizers.llm import Budget, BudgetExceeded, ScriptedClient

    budget = Budget(max_calls=3)
    client = ScriptedClient(["1"] * 10, budget=budget, cache=tmp_path / "c.sqlite")
    budgets: dict[int, Any] = {}
    blob = wire.dumps({"client": client, "budget": budget}, budgets)
    assert list(budgets.values()) == [budget]
    ledger = wire.Ledger()
    ledger.add_budget(id(budget), wire._limits(budget), budget.used)

    def call(method: str, *args: Any) -> Any:
        return getattr(ledger, method)(*args)

    workers = [wire.loads(blob, call) for _ in range(2)]
    (one, made_one), (two, _) = workers
    assert isinstance(one["budget"], wire.RemoteBudget) and made_one == [one["client"]]
    for i, (bundle, _) in enumerate(workers + workers[:1]):
        bundle["client"].complete([{"role": "user", "content": f"q{i}"}])
    with pytest.raises(BudgetExceeded):  # three calls across both copies: the shared limit
        two["client"].complete([{"role": "user", "content": "q3"}])
    two["client"].complete([{"role": "user", "content": "q0"}])  # cached: free
    assert ledger.used(id(budget)).calls == 3 and len(client.cache or []) == 3
    assert two["client"].usage.total.cache_hits == 1
