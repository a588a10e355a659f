"""Token buckets for requests per minute and tokens per minute, one pair per provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_min` units a minute, bursting up to `capacity` (default: a second's worth, at least 1)."""

    def __init__(
        self, rate_per_min: float, capacity: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate_per_min / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` units are available, then take them (larger than capacity: take it all)."""
        amount = min(amount, self.capacity)
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self._tokens >= amount:
                    self._tokens -= amount
                    return
                await asyncio.sleep((amount - self._tokens) / self.rate)
