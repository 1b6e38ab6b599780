"""Beam search on top of any optimizer: keep the best value sets across steps, expand each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from optimizers.algorithms.optimizer import Optimizer, StepReport
from optimizers.errors import OptimizerError, refuse_running_loop
from optimizers.search.best_of_n import BestOfN, Candidate, values_key
from tracegraph.node import Node

__all__ = ["BeamSearch"]


class BeamSearch(BestOfN):
    """Beam search: keep the ``beam`` best value sets across steps; expand each by ``k``.

    Args:
        inner, llm, evaluate, k, temperatures, max_concurrency: as for :class:`BestOfN`.
        beam: how many value sets survive each step.
        forward: called with each beam member's values (the parameters hold them) before it
            is expanded; it should run the program and give feedback (after ``zero_feedback``)
            so the inner optimizer sees that member's own trace. Without it, every member is
            expanded from the feedback the parameters already hold.
        **config: for the inner optimizer made here.
    """

    label = "optimizer:beam"

    def __init__(
        self,
        inner: Optimizer | Iterable[Node] | Any,
        *,
        beam: int = 3,
        forward: Callable[[dict[str, Any]], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(inner, keep_current=True, **kwargs)
        if beam < 1:
            raise OptimizerError("BeamSearch: beam must be >= 1")
        self.beam = beam
        self.forward = forward
        self.members: list[dict[str, Any]] = []

    def step(self) -> StepReport:
        """Expand every member of the beam, score all, keep the best ``beam``."""
        refuse_running_loop("BeamSearch.step()", "await search.astep()")
        start = self.values()
        cands: list[Candidate] = []
        try:
            for values in self._members(start):
                self._prepare(values)
                cands += self._propose_from(values)
        finally:
            self._set(start)
        scored = asyncio.run(self._score(self._beam_pool(start, cands)))
        return self._finish_beam(start, scored, cands)

    async def astep(self) -> StepReport:
        """:meth:`step` for async code."""
        start = self.values()
        cands: list[Candidate] = []
        try:
            for values in self._members(start):
                self._prepare(values)
                cands += await self._apropose_from(values)
        finally:
            self._set(start)
        scored = await self._score(self._beam_pool(start, cands))
        return self._finish_beam(start, scored, cands)

    def _members(self, start: dict[str, Any]) -> list[dict[str, Any]]:
        # The current values lead the beam (the user may have changed them between steps).
        others = [m for m in self.members if values_key(m) != values_key(start)]
        return [start, *others][: self.beam]

    def _prepare(self, values: dict[str, Any]) -> None:
        self._set(values)
        if self.forward is not None:
            self.inner.zero_feedback()
            self.forward(dict(values))
            self._set(values)  # the forward pass must not have changed them

    def _beam_pool(self, start: dict[str, Any], cands: list[Candidate]) -> list[Candidate]:
        pool = self._pool(start, cands)
        keys = {values_key(c.values) for c in pool}
        for m in self._members(start)[1:]:
            if values_key(m) not in keys:
                pool.append(Candidate(dict(m), "beam member"))
        return pool

    def _finish_beam(
        self, start: dict[str, Any], scored: list[Candidate], cands: list[Candidate]
    ) -> StepReport:
        ranked = sorted((c for c in scored if c.score is not None), key=lambda c: -(c.score or 0.0))
        if ranked:
            self.members = [dict(c.values) for c in ranked[: self.beam]]
        return self._finish(start, scored, cands)

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state and the beam's members."""
        return {**super().state_dict(), "members": self.members}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(d)
        self.members = [dict(m) for m in d.get("members", [])]
