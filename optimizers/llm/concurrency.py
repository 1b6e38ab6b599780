"""An adaptive limit on calls in flight: halves on a 429, grows back by one as calls succeed.

Additive increase, multiplicative decrease, as TCP does: a burst of 429s from many concurrent
calls halves the limit once per ``cooldown`` (not once per 429), and after ``limit`` successes
in a row the limit grows by one, up to ``maximum``.

Works across event loops (a client may be used by several ``asyncio.run`` calls in turn, or
from several threads): counters sit under a thread lock and each waiter is woken in its own loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["AdaptiveLimiter"]


class AdaptiveLimiter:
    """A semaphore whose size adapts to rate limiting.

    Args:
        maximum: the most calls in flight, and the starting limit.
        minimum: the limit never goes below this.
        cooldown: seconds during which further 429s do not halve the limit again.
    """

    def __init__(self, maximum: int, minimum: int = 1, *, cooldown: float = 1.0) -> None:
        if maximum < 1 or minimum < 1 or minimum > maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum=} {maximum=}")
        self.maximum = maximum
        self.minimum = minimum
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._limit = maximum
        self._in_flight = 0
        self._successes = 0
        self._last_cut = float("-inf")
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self.lowest = maximum  # the smallest limit reached so far, for reports and tests

    @property
    def limit(self) -> int:
        """The current limit."""
        with self._lock:
            return self._limit

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        with self._lock:
            return self._in_flight

    async def acquire(self) -> None:
        """Wait for a free slot and take it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < self._limit and not self._waiters:
                self._in_flight += 1
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                entry = (loop, future)
                if entry in self._waiters:
                    self._waiters.remove(entry)  # never got a slot
                    raise
            if not future.cancelled():
                self.release()  # got a slot just as we were cancelled: give it back
            raise

    def release(self) -> None:
        """Give a slot back and wake waiters that now fit."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._wake_locked()

    def on_success(self) -> None:
        """A call succeeded: count towards growing the limit by one."""
        with self._lock:
            self._successes += 1
            if self._successes >= self._limit and self._limit < self.maximum:
                self._limit += 1
                self._successes = 0
                self._wake_locked()

    def on_rate_limited(self) -> None:
        """A call got a 429: halve the limit (at most once per cooldown)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_cut < self.cooldown:
                return
            self._last_cut = now
            self._successes = 0
            self._limit = max(self.minimum, self._limit // 2)
            self.lowest = min(self.lowest, self._limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """``async with limiter.slot():`` holds one slot for the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def _wake_locked(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            loop, future = self._waiters.popleft()
            self._in_flight += 1  # the slot is handed over before the waiter runs
            try:
                loop.call_soon_threadsafe(self._hand_over, future)
            except RuntimeError:  # that loop is closed: the slot goes back
                self._in_flight -= 1

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        elif not future.done():
            future.set_result(None)
