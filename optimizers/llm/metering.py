"""Budgets per HTTP attempt: what every client charges, and when.

A client charges its own ``budget=`` and every budget active around the call
(:func:`optimizers.llm.budget.budget`), each once, for every attempt it sends: a retry, a failed
attempt and a re-ask are calls like any other. The slot is reserved *before* the attempt goes
out, so nothing is sent past a budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable

from optimizers.llm.budget import Budget, active_budgets
from optimizers.llm.types import RawReply, Usage

__all__ = ["Metered", "mark_attempts"]


class Metered:
    """The metering half of :class:`~optimizers.llm.client_base.BaseClient`."""

    model: str
    endpoint: str
    budget: Budget | None

    def _usage_of(self, raw: RawReply) -> Usage:
        raise NotImplementedError

    def budgets(self) -> tuple[Budget, ...]:
        """The budgets a call made here and now is charged to (each once)."""
        found = [] if self.budget is None else [self.budget]
        found += [b for b in active_budgets() if all(b is not f for f in found)]
        return tuple(found)

    def _reserve(self) -> tuple[Budget, ...]:
        taken: list[Budget] = []
        try:
            for limit in self.budgets():
                limit.reserve(model=self.model, endpoint=self.endpoint)
                taken.append(limit)
        except BaseException:
            for limit in taken:  # give back the slots already claimed
                limit.release()
            raise
        return tuple(taken)

    def _charge(self, taken: tuple[Budget, ...], raw: RawReply | None, started: float) -> None:
        seconds = time.monotonic() - started
        if raw is None:
            used = Usage(calls=1, seconds=seconds)  # a failed attempt was still sent
        else:
            used = dataclasses.replace(self._usage_of(raw), calls=1, seconds=seconds)
        for limit in taken:
            limit.settle(used)

    def _metered(self, send: Callable[[], RawReply]) -> RawReply:
        """One HTTP attempt, reserved against every budget before it goes out."""
        taken, started, raw = self._reserve(), time.monotonic(), None
        try:
            raw = send()
            return raw
        except BaseException as exc:
            mark_attempts(exc, 1)
            raise
        finally:
            self._charge(taken, raw, started)

    async def _ametered(self, send: Callable[[], Awaitable[RawReply]]) -> RawReply:
        """Async twin of :meth:`_metered`."""
        taken, started, raw = self._reserve(), time.monotonic(), None
        try:
            raw = await send()
            return raw
        except BaseException as exc:
            mark_attempts(exc, 1)
            raise
        finally:
            self._charge(taken, raw, started)


def mark_attempts(exc: BaseException, attempts: int) -> None:
    """Note on a failed call's error how many HTTP attempts it sent (kept when already set)."""
    if not hasattr(exc, "attempts"):
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            exc.attempts = attempts  # type: ignore[attr-defined]
