"""Search on top of any optimizer: ask for several candidates, score them, keep the best.

:class:`BestOfN` asks the inner optimizer for ``k`` candidate value sets (one step each, from
the same starting values, at a spread of sampling temperatures), scores every candidate and the
current values with the user's ``evaluate`` (concurrently, at most ``max_concurrency`` at once),
and keeps the best. :class:`~optimizers.search.beam.BeamSearch` keeps the ``beam`` best value
sets across steps and expands each of them.

``evaluate(values)`` receives a candidate's values as a dict ``{name: value}`` and returns a
score (higher is better); it may be a coroutine function. It must read the candidate from its
argument, not from the parameters: candidates are scored at the same time, while the parameters
hold the values the step started from. Sync functions run in worker threads.

Parameters are never left holding a candidate: between candidates and on any error they are
restored, and at the end of a step they hold the best scored value set. Every scored candidate
goes into the inner optimizer's history with its score, so the next proposals see them.

>>> import tracegraph as tg
>>> from optimizers.llm.scripted import ScriptedClient
>>> from optimizers.algorithms.history import HistoryOptimizer
>>> x = tg.param(1.0, name="x")
>>> replies = [f'{{"reasoning": "", "updates": {{"x": {v}}}}}' for v in (2, 9, 4)]
>>> inner = HistoryOptimizer([x], llm=ScriptedClient(replies))
>>> search = BestOfN(inner, evaluate=lambda v: -abs(v["x"] - 5), k=3)
>>> search.step().applied, x.value
({'x': (1.0, 4.0)}, 4.0)
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optimizers.algorithms.graph import GraphOptimizer
from optimizers.algorithms.optimizer import Optimizer, StepReport
from optimizers.errors import LLMError, OptimizerError, refuse_running_loop
from optimizers.llm.types import LLMClient
from optimizers.step.gate import values_key
from optimizers.step.replies import HistoryEntry, same_value
from tracegraph.node import Node

__all__ = ["BestOfN", "Candidate", "Evaluate", "values_key"]

Evaluate = Callable[[dict[str, Any]], "float | Awaitable[float]"]


@dataclass
class Candidate:
    """One value set of a search step: where it came from and how it scored."""

    values: dict[str, Any]
    origin: str = "current"
    score: float | None = None
    error: str | None = None
    report: StepReport | None = field(default=None, repr=False)


class BestOfN(Optimizer):
    """Best-of-n: ``k`` candidates from the inner optimizer, scored, the best kept.

    Args:
        inner: an optimizer whose proposals are searched, or parameters (then a
            :class:`GraphOptimizer` over them is used).
        llm: the client for an inner optimizer made here (or one given without a client).
        evaluate: ``values -> score`` (higher is better), sync or async.
        k: candidates asked for per step.
        temperatures: sampling temperature of candidate ``i`` is ``temperatures[i % len]``.
        max_concurrency: the most evaluations running at once.
        keep_current: score the current values too, and keep them when no candidate beats them.
        **config: for the inner optimizer made here.
    """

    label = "optimizer:best_of_n"

    def __init__(
        self,
        inner: Optimizer | Iterable[Node] | Any,
        *,
        llm: LLMClient | None = None,
        evaluate: Evaluate,
        k: int = 4,
        temperatures: Sequence[float] = (0.0, 0.5, 0.9, 1.2),
        max_concurrency: int = 4,
        keep_current: bool = True,
        **config: Any,
    ) -> None:
        if not isinstance(inner, Optimizer):
            inner = GraphOptimizer(inner, llm=llm, **config)
        elif llm is not None and inner.llm is None:
            inner.llm = llm
        if k < 1 or max_concurrency < 1:
            raise OptimizerError(f"{type(self).__name__}: k and max_concurrency must be >= 1")
        super().__init__(inner.params, llm=inner.llm)
        self.inner = inner
        self.evaluate = evaluate
        self.k = k
        self.search_temperatures = tuple(temperatures) or (0.0,)
        self.max_concurrency = max_concurrency
        self.keep_current = keep_current
        self.last_candidates: list[Candidate] = []

    # ------------------------------------------------------------------ public surface

    def zero_feedback(self) -> None:
        """Forget feedback on every parameter."""
        self.inner.zero_feedback()

    def record_score(self, score: float) -> None:
        """Passed on to the inner optimizer."""
        self.inner.record_score(score)
        self.history = self.inner.history

    def step(self) -> StepReport:
        """Propose ``k`` candidates, score them (concurrently), keep the best."""
        refuse_running_loop("BestOfN.step()", "await search.astep()")
        start = self.values()
        cands = self._propose_from(start)
        scored = asyncio.run(self._score(self._pool(start, cands)))
        return self._finish(start, scored, cands)

    async def astep(self) -> StepReport:
        """:meth:`step` for async code."""
        start = self.values()
        cands = await self._apropose_from(start)
        scored = await self._score(self._pool(start, cands))
        return self._finish(start, scored, cands)

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state (the search keeps none of its own across steps)."""
        return {"version": 1, "search": type(self).__name__, "inner": self.inner.state_dict()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if d.get("version") != 1 or "inner" not in d:
            raise OptimizerError(f"not a saved {type(self).__name__} state: {list(d)[:5]}")
        self.inner.load_state_dict(d["inner"])
        self.history = self.inner.history

    # ------------------------------------------------------------------ proposals

    def _propose_from(self, start: dict[str, Any], n: int | None = None) -> list[Candidate]:
        """``n`` (default ``k``) candidates by inner steps from ``start``; params end there."""
        saved, temps, out = self.inner.state_dict(), self.inner.temperatures, []
        try:
            for i in range(n or self.k):
                self._set(start)
                self._use_temperature(i)
                try:
                    report = self.inner.step()
                except LLMError as exc:  # e.g. the budget ran out: keep what was proposed
                    out.append(Candidate({}, f"candidate {i + 1}", error=str(exc)))
                    break
                out.append(self._candidate(i, report))
        finally:
            self._set(start)
            self._restore_inner(saved, temps, out)
        return out

    async def _apropose_from(self, start: dict[str, Any], n: int | None = None) -> list[Candidate]:
        saved, temps, out = self.inner.state_dict(), self.inner.temperatures, []
        try:
            for i in range(n or self.k):
                self._set(start)
                self._use_temperature(i)
                try:
                    report = await self.inner.astep()
                except LLMError as exc:
                    out.append(Candidate({}, f"candidate {i + 1}", error=str(exc)))
                    break
                out.append(self._candidate(i, report))
        finally:
            self._set(start)
            self._restore_inner(saved, temps, out)
        return out

    def _use_temperature(self, i: int) -> None:
        t = self.search_temperatures[i % len(self.search_temperatures)]
        self.inner.temperatures, self.inner.stall = (t,), 0

    def _candidate(self, i: int, report: StepReport) -> Candidate:
        t = self.inner.temperatures[0]
        origin = f"candidate {i + 1} (temperature {t:g})"
        if report.error or not report.applied:
            why = report.error or report.skipped or "no change proposed"
            return Candidate({}, origin, error=why, report=report)
        return Candidate(self.values(), origin, report=report)

    def _restore_inner(
        self, saved: dict[str, Any], temps: tuple[float, ...], cands: list[Candidate]
    ) -> None:
        """Undo the candidates' steps in the inner optimizer, keeping what they were told."""
        self.inner.temperatures = temps
        self.inner.load_state_dict(saved)
        for c in cands:
            if c.report is not None:
                self.inner.rejected = (self.inner.rejected + c.report.rejected)[
                    -self.inner.history_size :
                ]

    def _set(self, values: Mapping[str, Any]) -> None:
        # The values were valid when read (or passed the inner's checks): restore them exactly.
        for p in self.params:
            if p.name in values:
                p.restore(values[p.name])

    # ------------------------------------------------------------------ scoring

    def _pool(self, start: dict[str, Any], cands: list[Candidate]) -> list[Candidate]:
        """The distinct value sets to score: the current one (if kept) and each candidate's."""
        pool: dict[str, Candidate] = {}
        if self.keep_current:
            pool[values_key(start)] = Candidate(dict(start), "current")
        for c in cands:
            if c.error is None:
                pool.setdefault(values_key(c.values), c)
        return list(pool.values())

    async def _score(self, pool: list[Candidate]) -> list[Candidate]:
        """Score every candidate, at most ``max_concurrency`` at once; errors mark the candidate."""
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(c: Candidate) -> None:
            async with gate:
                try:
                    c.score = await self._evaluate(dict(c.values))
                except Exception as exc:  # a failed evaluation loses this candidate only
                    c.error = f"evaluate failed: {type(exc).__name__}: {exc}"

        await asyncio.gather(*(one(c) for c in pool))
        return pool

    async def _evaluate(self, values: dict[str, Any]) -> float:
        if inspect.iscoroutinefunction(self.evaluate):
            result: Any = await self.evaluate(values)
        else:
            result = await asyncio.to_thread(self.evaluate, values)
            if inspect.isawaitable(result):
                result = await result
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            raise OptimizerError(f"evaluate returned {result!r}; expected a number")
        if not math.isfinite(result):
            raise OptimizerError(f"evaluate returned {result!r}; expected a finite number")
        return float(result) + 0.0  # -0.0 (a perfect "minus distance") prints as 0

    # ------------------------------------------------------------------ the result

    def _finish(
        self, start: dict[str, Any], scored: list[Candidate], cands: list[Candidate]
    ) -> StepReport:
        """Keep the best, remember every scored candidate, and report the step."""
        ranked = sorted((c for c in scored if c.score is not None), key=lambda c: -(c.score or 0.0))
        best = ranked[0] if ranked else Candidate(dict(start), "current")
        self._set(best.values)
        self.steps += 1
        self.last_candidates = cands
        report = self._report(start, best, [*scored, *(c for c in cands if c.error)])
        self._remember(ranked, best)
        return report

    def _remember(self, ranked: list[Candidate], best: Candidate) -> None:
        inner = self.inner
        for c in reversed(ranked):  # worst first, so the winner is the latest entry
            if c is not best:
                inner.history.append(HistoryEntry(inner.steps, dict(c.values), score=c.score))
        if best.score is not None:
            inner.history.append(HistoryEntry(inner.steps + 1, dict(best.values)))
            inner.history = inner.history[-inner.history_size :]
            inner.steps += 1
            inner.record_score(best.score)
        self.history = inner.history

    def _report(self, start: dict[str, Any], best: Candidate, seen: list[Candidate]) -> StepReport:
        report = StepReport(step=self.steps)
        for c in self.last_candidates:
            if c.report is not None:
                report.prompts += c.report.prompts
                report.replies += c.report.replies
                report.rejected += c.report.rejected
                report.usage = report.usage + c.report.usage
        changed = {k: v for k, v in best.values.items() if not same_value(v, start.get(k))}
        report.proposed = changed
        report.applied = {k: (start[k], v) for k, v in changed.items()}
        if best.report is not None:
            report.reasoning = best.report.reasoning
        if not changed:
            report.notes.append(
                "kept the current values: no candidate scored higher by evaluate() "
                "(scores below, higher is better)"
            )
        for c in seen:
            how = f"score {c.score:g}" if c.score is not None else f"failed: {c.error}"
            report.notes.append(f"{c.origin}: {how}" + ("  <- kept" if c is best else ""))
        if all(c.score is None for c in seen):
            report.error = "no candidate could be scored; the parameters are unchanged"
        return report
