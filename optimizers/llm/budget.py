"""A hard budget over every model call: calls, tokens, cost and wall-clock seconds.

A client charges its own ``budget=`` and every budget made active around the call with
:func:`budget` (a ``ContextVar``, so threads started through ``asyncio.to_thread`` or
``contextvars.copy_context().run`` and async tasks see it; nothing is process-global). The
Trainer makes its budget active for the whole run, so a workflow's own client is charged even
when it is not listed in ``clients=``. Every HTTP attempt is one call: retries, failed attempts
and re-asks all count.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from optimizers.errors import BudgetExceeded
from optimizers.llm.types import Usage

__all__ = ["Budget", "Remaining", "active_budgets", "budget"]


@dataclass(frozen=True)
class Remaining:
    """What is left of each limit; None where there is no limit."""

    calls: int | None
    tokens: int | None
    cost: float | None
    seconds: float | None


class Budget:
    """Limits that every call of every client sharing this object is charged against.

    A call is checked *before* it is sent: once a limit is reached, the next call raises
    :class:`~optimizers.errors.BudgetExceeded` and nothing goes out. Calls already in flight
    finish and are charged, so tokens and cost may overshoot by at most what those calls use;
    ``max_calls`` is exact because a call reserves its slot before it is sent. Seconds count
    from the first call charged to the budget. Safe across threads and async tasks.

    >>> budget = Budget(max_calls=1)
    >>> budget.reserve(); budget.settle(Usage(calls=1))
    >>> budget.reserve()
    Traceback (most recent call last):
    ...
    optimizers.errors.BudgetExceeded: budget exhausted: calls used 1 of 1; ...
    ...
    """

    def __init__(
        self,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost = max_cost
        self.max_seconds = max_seconds
        self._lock = threading.Lock()
        self._used = Usage()
        self._in_flight = 0
        self._started: float | None = None

    @property
    def used(self) -> Usage:
        """Everything charged so far."""
        with self._lock:
            return self._used

    def elapsed(self) -> float:
        """Seconds since the first call was reserved (0 before that)."""
        with self._lock:
            return 0.0 if self._started is None else time.monotonic() - self._started

    def reserve(self, *, model: str | None = None, endpoint: str | None = None) -> None:
        """Claim one call, or raise BudgetExceeded without claiming anything."""
        with self._lock:
            if self._started is None:
                self._started = time.monotonic()
            reason = self._first_exceeded_locked()
            if reason is not None:
                limit, used, allowed = reason
                raise BudgetExceeded(limit, used, allowed, model=model, endpoint=endpoint)
            self._in_flight += 1

    def settle(self, usage: Usage) -> None:
        """Charge a reserved call with what it used (``Usage(calls=0)`` for a failed call)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._used = self._used + usage

    def release(self) -> None:
        """Give back a reserved slot whose call was never sent (a settle that charges nothing,
        so a budget kept elsewhere, as a Ray worker's view of the driver's, frees it too)."""
        self.settle(Usage())

    def remaining(self) -> Remaining:
        """What is left of each limit (never below zero)."""
        with self._lock:
            used = self._used
            elapsed = 0.0 if self._started is None else time.monotonic() - self._started
            return Remaining(
                calls=_left_int(self.max_calls, used.calls + self._in_flight),
                tokens=_left_int(self.max_tokens, used.total_tokens),
                cost=_left(self.max_cost, used.cost),
                seconds=_left(self.max_seconds, elapsed),
            )

    def exhausted(self) -> bool:
        """True when the next call would raise BudgetExceeded."""
        with self._lock:
            return self._first_exceeded_locked() is not None

    def _first_exceeded_locked(self) -> tuple[str, float, float] | None:
        used = self._used
        elapsed = 0.0 if self._started is None else time.monotonic() - self._started
        checks: list[tuple[str, float, float | None]] = [
            ("calls", used.calls + self._in_flight, self.max_calls),
            ("tokens", used.total_tokens, self.max_tokens),
            ("cost", used.cost, self.max_cost),
            ("seconds", elapsed, self.max_seconds),
        ]
        for name, value, limit in checks:
            if limit is not None and value >= limit:
                return name, value, limit
        return None

    def __repr__(self) -> str:
        limits = {
            "max_calls": self.max_calls,
            "max_tokens": self.max_tokens,
            "max_cost": self.max_cost,
            "max_seconds": self.max_seconds,
        }
        shown = ", ".join(f"{k}={v}" for k, v in limits.items() if v is not None)
        return f"Budget({shown}; used {self.used})"


def _left(limit: float | None, used: float) -> float | None:
    return None if limit is None else max(0.0, limit - used)


def _left_int(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


_ACTIVE: ContextVar[tuple[Budget, ...]] = ContextVar("tracegraph_budgets", default=())


def active_budgets() -> tuple[Budget, ...]:
    """The budgets made active around this point by :func:`budget` (innermost last)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def budget(
    limit: Budget | None = None,
    *,
    max_calls: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    max_seconds: float | None = None,
) -> Iterator[Budget]:
    """Charge every model call made inside the block, by any client, to one budget.

    Pass a :class:`Budget` or its limits. Budgets nest: an inner block's calls are charged to
    the outer budgets too. A client's own ``budget=`` is charged as well (once, when it is the
    same object).

    >>> from optimizers.llm.scripted import ScriptedClient
    >>> llm = ScriptedClient(["a", "b"])
    >>> with budget(max_calls=1) as spent:
    ...     _ = llm.complete([{"role": "user", "content": "hi"}])
    ...     llm.complete([{"role": "user", "content": "again"}])
    Traceback (most recent call last):
    ...
    optimizers.errors.BudgetExceeded: budget exhausted: calls used 1 of 1; ...
    ...
    >>> spent.used.calls
    1
    """
    chosen = limit if limit is not None else Budget(max_calls, max_tokens, max_cost, max_seconds)
    outer = _ACTIVE.get()
    token = _ACTIVE.set(outer if any(b is chosen for b in outer) else (*outer, chosen))
    try:
        yield chosen
    finally:
        _ACTIVE.reset(token)
