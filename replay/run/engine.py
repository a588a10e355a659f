"""The replay loop: every (case, provider variant, repetition) answered, scored and appended to the run.

A fixed pool of workers pulls work items in case order (so partial results stay paired across
providers); the :class:`~bakeoff.replay.run.dispatch.Dispatcher` enforces concurrency, rate limits, retries,
cache and budget. Rows already in the run directory are skipped, which is all that resuming needs.
When the budget is reached no new request is sent; the rows in flight finish and the run says why it
stopped. A request that cannot be expressed for a provider is skipped and reported with its reason.
A provider's failure — an HTTP error, a broken connection, an answer that is not a valid answer — is
that row's `error` (with its reason), never the run's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakeoff.replay.errors import BudgetExhausted, UntranslatableError
from bakeoff.replay.pricing import completion_cost, price_for
from bakeoff.replay.providers.translate import to_canonical
from bakeoff.replay.run.dispatch import Dispatcher
from bakeoff.replay.run.results import RunDirectory, RunKey
from bakeoff.replay.run.variants import Variant, ablated
from bakeoff.replay.scoring.base import ScoringContext
from bakeoff.replay.scoring.registry import MetricPlan, score_case
from bakeoff.replay.types import Case, Completion, MetricResult

PRODUCTION = "production"  # the pseudo-provider whose answers are the recorded ones (no request is sent)


@dataclass
class RunOutcome:
    """How a run (or one round of it) went."""

    rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    attempted: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    judge_cost: float = 0.0
    stopped: str = "completed"  # completed | budget | interrupted | decided

    def provider_failed_entirely(self) -> list[str]:
        """Providers every request of which failed (the run's exit status is 1 then)."""
        return [p for p, n in self.attempted.items() if n and self.errors.get(p, 0) == n]


@dataclass(frozen=True)
class _Item:
    case: Case
    variant: Variant | None  # None: the recorded production answer
    repeat: int


class ReplayEngine:
    """Runs work items through the dispatcher, scores them and appends rows to the run directory."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        metrics: MetricPlan,
        run_dir: RunDirectory,
        *,
        workers: int,
        on_row: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.run_dir = run_dir
        self.workers = max(1, workers)
        self.on_row = on_row
        self.outcome = RunOutcome()
        self._canonical: dict[str, dict[str, Any] | UntranslatableError] = {}
        self._stop = False
        self._scoring = ScoringContext(complete=self._judge, embed=self._embed)

    def work(
        self,
        cases: Sequence[Case],
        variants: Sequence[Variant],
        repeat: int,
        production: bool,
        done: set[RunKey],
    ) -> list[_Item]:
        """The items still to do, case by case."""
        items = []
        for case in cases:
            if production and case.recorded is not None and (case.id, PRODUCTION, 0) not in done:
                items.append(_Item(case, None, 0))
            for variant in variants:
                for r in range(repeat):
                    if (case.id, variant.id, r) not in done:
                        items.append(_Item(case, variant, r))
        return items

    async def run(self, items: Sequence[_Item]) -> RunOutcome:
        """Do the items; returns the outcome (also kept on the engine across rounds)."""
        queue: Iterator[_Item] = iter(items)

        async def worker() -> None:
            for item in queue:  # a shared iterator: each item is taken by exactly one worker
                if self._stop:
                    return
                await self._do(item)

        await asyncio.gather(*(worker() for _ in range(min(self.workers, len(items)) or 1)))
        return self.outcome

    async def _do(self, item: _Item) -> None:
        case, variant = item.case, item.variant
        provider_id = PRODUCTION if variant is None else variant.id
        if variant is None:
            assert case.recorded is not None
            completion = case.recorded
            request_cost = completion_cost(price_for(case.provider, case.model), completion)
        else:
            try:
                canonical = ablated(self._canonical_of(case), variant.ablate)
            except UntranslatableError as exc:
                self._skip(case, provider_id, exc.reason)
                return
            recorded_tokens = case.recorded.output_tokens if case.recorded else None
            try:
                completion, request_cost = await self.dispatcher.complete(
                    variant.id, canonical, repeat=item.repeat, recorded_output_tokens=recorded_tokens
                )
            except UntranslatableError as exc:
                self._skip(case, provider_id, exc.reason)
                return
            except BudgetExhausted:
                self._budget_reached()
                return
        try:
            scores = await score_case(self.metrics.for_case(case), completion, case, self._scoring)
        except BudgetExhausted:  # a judge call would pass the limit: the row is left for a resumed run
            self._budget_reached()
            return
        self._record(case, provider_id, item.repeat, completion, request_cost, scores)

    def _budget_reached(self) -> None:
        self._stop = True
        self.outcome.stopped = "budget"

    def _canonical_of(self, case: Case) -> dict[str, Any]:
        cached = self._canonical.get(case.id)
        if cached is None:
            try:
                cached = to_canonical(case.api, case.request)
            except UntranslatableError as exc:
                cached = exc
            self._canonical[case.id] = cached
        if isinstance(cached, UntranslatableError):
            raise cached
        return cached

    async def _judge(self, provider_id: str, canonical: dict[str, Any]) -> tuple[Completion, float | None]:
        completion, judge_cost = await self.dispatcher.complete(provider_id, canonical)
        self.outcome.judge_cost += judge_cost or 0.0
        return completion, judge_cost

    async def _embed(self, provider_id: str, texts: list[str]) -> list[list[float]]:
        vectors, spent = await self.dispatcher.embed(provider_id, texts)
        self.outcome.judge_cost += spent or 0.0
        return vectors

    def _skip(self, case: Case, provider_id: str, reason: str) -> None:
        self.outcome.skipped.append({"event_id": case.id, "provider": provider_id, "reason": reason})

    def _record(
        self,
        case: Case,
        provider_id: str,
        repeat: int,
        completion: Completion,
        request_cost: float | None,
        scores: dict[str, MetricResult],
    ) -> None:
        row = {
            "event_id": case.id,
            "provider": provider_id,
            "output": {
                "text": completion.text,
                "tool_calls": completion.tool_calls,
                "finish_reason": completion.finish_reason,
            },
            "scores": {name: result.to_json() for name, result in scores.items()},
            "latency_ms": completion.latency_ms,
            "ttft_ms": completion.ttft_ms,
            "usage": {
                "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens,
                "cached_input_tokens": completion.cached_input_tokens,
                "cache_creation_input_tokens": completion.cache_creation_input_tokens,
            },
            "cost": request_cost if completion.ok else None,
            "error": completion.error,
            "repeat": repeat,
            "weight": case.weight,
            "tags": list(case.tags),
            "feedback": case.feedback,
            "cached": completion.cached,
            "judge_cost": sum(r.cost or 0.0 for r in scores.values()) or None,
        }
        self.run_dir.append(row)
        self.outcome.rows += 1
        self.outcome.attempted[provider_id] = self.outcome.attempted.get(provider_id, 0) + 1
        if completion.error is not None:
            self.outcome.errors[provider_id] = self.outcome.errors.get(provider_id, 0) + 1
        if self.on_row is not None:
            self.on_row(row)
