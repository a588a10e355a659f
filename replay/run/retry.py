"""Retries of provider calls: exponential backoff with full jitter, honouring `Retry-After`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bakeoff.replay.errors import ProviderError

T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    wait_cap_s: float | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[T, int]:
    """Run `call` until it succeeds or fails for good; returns (result, retries used).

    Retries only a :class:`ProviderError` marked retryable (429, 5xx, timeouts, connection errors, bad
    answers), at most `attempts - 1` times, or the error's own `retry_limit` when lower (a provider
    answering garbage is asked once more, not three times). The wait is the provider's `Retry-After`
    when it sent one (at most `wait_cap_s`, the request's timeout: a provider asking for minutes is
    asked again sooner rather than holding the run), else a random time up to base * 2^n, capped at
    `cap_s` (full jitter).
    """
    random_source = rng or random.Random()
    for retry in range(attempts):
        try:
            return await call(), retry
        except ProviderError as exc:
            limit = attempts - 1 if exc.retry_limit is None else min(attempts - 1, exc.retry_limit)
            if not exc.retryable or retry >= limit:
                raise
            if exc.retry_after is not None:
                delay = min(exc.retry_after, cap_s if wait_cap_s is None else wait_cap_s)
            else:
                delay = random_source.uniform(0, min(cap_s, base_s * 2**retry))
            await sleep(delay)
    raise AssertionError("unreachable")
