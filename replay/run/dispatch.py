"""Every provider call of a run goes through one :class:`Dispatcher`: limits, cache, budget, retries, cost.

Replayed requests and LLM-judge calls share it, so a judge is rate-limited, retried, cached and
budgeted like any provider, and its cost is counted (apart, by the caller). The order of the gates
matters: the cache first (a hit costs nothing and waits for nothing), then the budget (never reserve
money for a request that will not be sent), then the per-provider and global concurrency and the
rate limits, then the request with its retries.

With a :class:`~bakeoff.replay.run.results.Ledger`, each attempt is written down, with the most it can
cost, right before it goes on the wire (past every limit), and settled when it returns: a run killed
mid-flight is resumed with those requests counted, and nothing that merely waited is.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bakeoff.replay.errors import BudgetExhausted, ProviderError
from bakeoff.replay.pricing import Price, completion_cost, cost, price_for
from bakeoff.replay.providers.base import DEFAULT_TIMEOUT_S, Provider, make_client, make_provider
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.run.budget import Budget, estimate_input_tokens
from bakeoff.replay.run.cache import ResponseCache, cache_key, cacheable
from bakeoff.replay.run.ratelimit import TokenBucket
from bakeoff.replay.run.results import Ledger
from bakeoff.replay.run.retry import with_retries
from bakeoff.replay.types import Completion

T = TypeVar("T")
_MAX_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")  # the APIs' names


@dataclass
class _Lane:
    """One provider's share of the dispatcher: its client, limits and price."""

    provider: Provider
    price: Price | None
    semaphore: asyncio.Semaphore | None
    requests: TokenBucket | None
    tokens: TokenBucket | None


@dataclass
class CallStats:
    """What the dispatcher did, for run.json and the progress line."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0
    unpriced_models: set[str] = field(default_factory=set)


class Dispatcher:
    """Sends canonical requests to providers by id and returns (completion, cost)."""

    def __init__(
        self,
        providers: Sequence[ProviderConfig],
        *,
        concurrency: int = 8,
        retries: int = 3,
        timeout: float | None = None,
        budget: Budget | None = None,
        cache: ResponseCache | None = None,
        seed: int | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.client = make_client(limit=max(concurrency, 1))
        self.ledger = ledger
        self.concurrency = asyncio.Semaphore(concurrency)
        self.retries = retries
        self.timeout = timeout
        self.budget = budget or Budget()
        self.cache = cache
        self.stats = CallStats()
        self._rng = random.Random(seed)
        self._settled = asyncio.Condition()
        self._lanes: dict[str, _Lane] = {}
        for config in providers:
            price = price_for(
                config.provider, config.model, config.price.to_price() if config.price else None
            )
            if price is None:
                self.stats.unpriced_models.add(config.model)
            self._lanes[config.id] = _Lane(
                provider=make_provider(config, self.client),
                price=price,
                semaphore=asyncio.Semaphore(config.concurrency) if config.concurrency else None,
                requests=TokenBucket(config.rpm) if config.rpm else None,
                tokens=TokenBucket(config.tpm, capacity=config.tpm) if config.tpm else None,
            )

    def price_of(self, provider_id: str) -> Price | None:
        return self._lanes[provider_id].price

    async def complete(
        self,
        provider_id: str,
        canonical: dict[str, Any],
        *,
        repeat: int = 0,
        recorded_output_tokens: int | None = None,
    ) -> tuple[Completion, float | None]:
        """The provider's answer (an error completion after the retries are spent) and what it costs.

        The cost is the request's price even when the answer came from the cache (what it would cost in
        production); the budget is charged only for what was actually paid. Raises BudgetExhausted
        before sending a request the budget cannot cover.
        """
        lane = self._lanes[provider_id]
        config = lane.provider.config
        key = None
        if self.cache is not None and cacheable({**canonical, **config.params}):
            key = cache_key(config.provider, config.model, {**canonical, **config.params, "_repeat": repeat})
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit, completion_cost(lane.price, hit)
        input_tokens = estimate_input_tokens(canonical)
        while True:
            # Projections sharpen as answers arrive, so a request that does not fit while others are in
            # flight waits for them to settle before the budget is declared spent.
            output_tokens = self.budget.expected_output_tokens(provider_id, recorded_output_tokens)
            projected = cost(lane.price, input_tokens, output_tokens)
            fits = self.budget.reserve(projected)
            if fits:
                break
            if fits is False:
                raise BudgetExhausted(f"the cost limit of ${self.budget.limit:g} is reached")
            async with self._settled:
                await self._settled.wait()
        cap = _max_output_tokens(lane.provider.config.params, canonical)
        maximum = cost(lane.price, input_tokens, max(output_tokens, cap or 0))
        completion: Completion | None = None
        try:
            completion = await self._send(lane, canonical, input_tokens + output_tokens, maximum)
        finally:  # an untranslatable request raises: its reservation is released all the same
            actual = None if completion is None else completion_cost(lane.price, completion)
            self.budget.settle(
                provider_id, projected, actual, None if completion is None else completion.output_tokens
            )
            if self.budget.limit is not None:  # only a limited budget has requests waiting on it
                async with self._settled:
                    self._settled.notify_all()
        if key is not None and self.cache is not None and completion.ok:
            await asyncio.to_thread(self.cache.put, key, completion)
        return completion, actual

    async def _paid(self, maximum: float | None, call: Callable[[], Awaitable[T]], price: Price | None) -> T:
        """`call()` written to the ledger: before, with the most it can cost; after, with its cost."""
        if self.ledger is None:
            return await call()
        ticket = self.ledger.sent(maximum)
        result: T | None = None
        try:
            result = await call()
            return result
        finally:
            self.ledger.settled(ticket, _cost_of(result, price))

    async def embed(self, provider_id: str, texts: list[str]) -> tuple[list[list[float]], float | None]:
        """Embeddings from a provider (for `semantic_similarity`), within its limits, retried; their cost."""
        lane = self._lanes[provider_id]

        async def attempt() -> tuple[list[list[float]], int | None]:
            async with contextlib.AsyncExitStack() as stack:
                if lane.semaphore is not None:
                    await stack.enter_async_context(lane.semaphore)
                await stack.enter_async_context(self.concurrency)
                if lane.requests is not None:
                    await lane.requests.acquire()
                self.stats.requests += 1
                maximum = cost(lane.price, estimate_input_tokens({"messages": texts}), 0)
                return await self._paid(
                    maximum, lambda: lane.provider.aembed(texts, timeout=self.timeout), lane.price
                )

        (vectors, tokens), retried = await with_retries(attempt, attempts=self.retries + 1, rng=self._rng)
        self.stats.retries += retried
        spent = cost(lane.price, tokens, 0)
        self.budget.settle(provider_id, None, spent, None)
        return vectors, spent

    async def _send(
        self, lane: _Lane, canonical: dict[str, Any], tokens: int, maximum: float | None
    ) -> Completion:
        async def request() -> Completion:
            async with self.concurrency:
                if lane.requests is not None:
                    await lane.requests.acquire()
                if lane.tokens is not None:
                    await lane.tokens.acquire(tokens)
                self.stats.requests += 1
                return await self._paid(
                    maximum, lambda: lane.provider.acomplete(canonical, timeout=self.timeout), lane.price
                )

        async def attempt() -> Completion:
            # Limits are taken per attempt, so a retry's backoff does not hold a concurrency slot.
            if lane.semaphore is None:
                return await request()
            async with lane.semaphore:
                return await request()

        wait_cap = self.timeout or lane.provider.config.timeout or DEFAULT_TIMEOUT_S
        try:
            completion, retried = await with_retries(
                attempt, attempts=self.retries + 1, wait_cap_s=wait_cap, rng=self._rng
            )
        except ProviderError as exc:
            self.stats.errors += 1
            return Completion(
                error={"type": exc.error_type, "message": str(exc), "status_code": exc.status_code}
            )
        self.stats.retries += retried
        return completion

    async def aclose(self) -> None:
        for lane in self._lanes.values():
            await lane.provider.aclose()
        await self.client.close()


def _max_output_tokens(params: dict[str, Any], canonical: dict[str, Any]) -> int | None:
    """The cap on the answer's length: the config's params first, else the recorded request's."""
    for value in (*(params.get(key) for key in _MAX_TOKEN_KEYS), canonical.get("max_tokens")):
        if type(value) is int:
            return value
    return None


def _cost_of(result: object, price: Price | None) -> float | None:
    """What an answer was billed: a completion's tokens, or an embedding's (vectors, input tokens)."""
    if isinstance(result, Completion):
        return completion_cost(price, result)
    if isinstance(result, tuple):
        return cost(price, result[1], 0)
    return None  # no answer: a failure, billed nothing as far as we know
