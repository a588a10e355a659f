"""Judge metrics in `metric:NAME` traffic monitors: production's answers graded within `judge_budget`.

The judge's calls go through replay's :class:`~bakeoff.replay.run.dispatch.Dispatcher`, as in a replay
(its concurrency, rate limits, retries and price), with one budget per period of the answers' own `ts`
(a window, or a UTC day): a USD budget is the dispatcher's :class:`~bakeoff.replay.run.budget.Budget`,
which sends no call whose projected cost would pass what is left; a budget in calls sends no call past
the count. Answers are judged in `ts` order, so each period's first answers of the share are scored; once
its budget is spent the rest of the period is left unscored — not a failure, since the signal is the mean
of the scores given — and scoring goes on with the next period's answers.

What each period spent is kept in the monitor's scoring state (`<monitor>#scored`), saved with the scores
after every page of `JUDGE_PAGE` answers: a restarted watcher goes on with what is left of the period's
budget. A watcher killed in the middle of a page has that page judged again, so a crash can spend at most
one page's calls more than the budget.

The judge grades production's own answer: the recorded answer is not shown to it as a reference too (an
event's `expected`, when it has one, is).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from bakeoff.errors import ConfigError
from bakeoff.monitor_config import JudgeBudget, TrafficMonitor
from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.errors import BudgetExhausted
from bakeoff.replay.pricing import price_for
from bakeoff.replay.recorded import RecordedData
from bakeoff.replay.run.dispatch import Dispatcher
from bakeoff.replay.run.sources import cases_from_rows
from bakeoff.replay.scoring.base import Metric, ScoringContext
from bakeoff.replay.scoring.judge import LLMJudge
from bakeoff.replay.types import Case, Completion, MetricResult, Reference
from bakeoff.schema import utc_timestamp

JUDGE_PAGE = 50  # answers read, judged and saved at a time: the most a crash can judge twice
MAX_READ = 50_000  # answers read per monitor per round at most; the next round goes on


class BudgetedJudge(Metric):
    """A judge metric of a monitor, with the replay config whose provider it calls."""

    is_async = True

    def __init__(self, judge: LLMJudge, config: ReplayConfig) -> None:
        self.grader = judge
        self.config = config

    @property
    def label(self) -> str:
        return self.grader.label

    def score(self, completion: Completion, case: Case) -> MetricResult:
        return self.grader.score(completion, case)


def budgeted(monitor: TrafficMonitor, judge: LLMJudge, config: ReplayConfig, where: str) -> BudgetedJudge:
    """The monitor's judge, checked: a budget, rubric mode, and a price if the budget is in USD."""
    budget = monitor.judge_budget
    if budget is None:
        raise ConfigError(
            f"{where}: calls a judge; the monitor needs `judge_budget: {{per: window|day, calls: N}}` "
            "(or `usd:` instead of `calls:`) to bound what scoring spends"
        )
    if judge.mode != "rubric":
        raise ConfigError(
            f"{where}: a pairwise judge compares two answers and a monitor has only production's; "
            "use mode: rubric"
        )
    (provider,) = (p for p in config.replay.providers if p.id == judge.judge_id)
    price = price_for(
        provider.provider, provider.model, provider.price.to_price() if provider.price else None
    )
    if budget.usd is not None and price is None:
        raise ConfigError(
            f"{where}: judge_budget.usd needs the price of judge {judge.judge_id!r} (its `price:`); "
            "or give `calls:`"
        )
    return BudgetedJudge(judge, config)


@dataclass
class Spend:
    """What the judge spent in the current budget period [start, end), and over the monitor's life."""

    start: float
    end: float
    calls: int = 0
    usd: float = 0.0
    spent: bool = False  # the period's budget is used up: its other answers are left unscored
    total_calls: int = 0
    total_usd: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Spend | None:
        if not data:
            return None
        start, end = data["period"]
        fields = ("calls", "usd", "spent", "total_calls", "total_usd")
        return cls(float(start), float(end), **{k: data[k] for k in fields})

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": [self.start, self.end],
            "calls": self.calls,
            "usd": self.usd,
            "spent": self.spent,
            "total_calls": self.total_calls,
            "total_usd": self.total_usd,
        }

    def next_period(self, start: float, end: float) -> Spend:
        """The spend of a later period: nothing yet, the totals carried on."""
        return Spend(start, end, total_calls=self.total_calls, total_usd=self.total_usd)

    def summary(self, budget: JudgeBudget) -> dict[str, Any]:
        """Where scoring stands, for `GET /v1/monitors`: scoring, or its budget spent until when."""
        status = f"budget spent until {_iso(self.end)}" if self.spent else "scoring"
        return {
            "status": status,
            "judge_budget": budget.model_dump(exclude_none=True),
            "period_start": _iso(self.start),
            "period_end": _iso(self.end),
            "calls": self.calls,
            "usd": self.usd,
            "total_calls": self.total_calls,
            "total_usd": self.total_usd,
        }


def _iso(epoch: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(epoch, UTC))


class _Allowance:
    """The judge's calls in one period, through the dispatcher, within what is left of its budget."""

    def __init__(self, dispatcher: Dispatcher, budget: JudgeBudget, spend: Spend) -> None:
        self.dispatcher = dispatcher
        self.calls = budget.calls
        self.spend = spend
        if budget.usd is not None:
            # A USD budget is the dispatcher's own, which reserves each call's projected cost before
            # sending it; one for the round, so that its projections learn from every answer so far.
            paid = dispatcher.budget
            paid.limit, paid.exhausted = paid.spent + max(budget.usd - spend.usd, 0.0), False

    async def complete(self, provider_id: str, canonical: dict[str, Any]) -> tuple[Completion, float | None]:
        if self.calls is not None and self.spend.calls >= self.calls:
            raise BudgetExhausted(f"the judge's {self.calls} calls of this period are made")
        # Counted before the call is awaited, so that concurrent answers never make more than the count.
        self.spend.calls += 1
        try:
            completion, cost = await self.dispatcher.complete(provider_id, canonical)
        except BudgetExhausted:  # not sent
            self.spend.calls -= 1
            raise
        self.spend.total_calls += 1
        self.spend.usd += cost or 0.0
        self.spend.total_usd += cost or 0.0
        return completion, cost


def _own(case: Case) -> Case:
    """The case as the judge sees it: production's answer graded on its own (or against `expected`)."""
    return case if case.reference.from_expected else dataclasses.replace(case, reference=Reference())


async def _judge(
    judge: LLMJudge, events: list[dict[str, Any]], allowance: _Allowance
) -> tuple[list[tuple[str, float, float]], bool]:
    """(event id, ts, score) of the answers judged within the allowance; whether it ran out."""
    context = ScoringContext(complete=allowance.complete)
    exhausted = False

    async def one(case: Case) -> float | None:
        nonlocal exhausted
        assert case.recorded is not None  # events, not test cases: each has its recorded answer
        try:
            result = await judge.ascore(case.recorded, _own(case), context)
        except BudgetExhausted:
            exhausted = True
            return None
        return result.score  # None: the judge failed or its reply was unusable; left out, never 0

    ts_of = {str(e["id"]): _epoch(e) for e in events}
    cases = cases_from_rows(events).cases
    # The tasks reach the judge in this order (nothing is awaited before its call), so the first
    # answers of the period are the ones a budget in calls covers.
    found = await asyncio.gather(*(one(case) for case in cases))
    rows = [(c.id, ts_of[c.id], s) for c, s in zip(cases, found, strict=True) if s is not None]
    return rows, exhausted


def _epoch(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")).timestamp()


def score_judged(
    monitor: TrafficMonitor,
    metric: BudgetedJudge,
    source: RecordedData,
    after: tuple[float, str] | None,
    stored: dict[str, Any] | None,
) -> int:
    """Judge the monitor's share of the answers since `after`, each period within its budget.

    `stored` is the spend kept in the scoring state. Returns how many answers were read.
    """
    return asyncio.run(_score_judged(monitor, metric, source, after, Spend.from_dict(stored)))


async def _score_judged(
    monitor: TrafficMonitor,
    metric: BudgetedJudge,
    source: RecordedData,
    after: tuple[float, str] | None,
    spend: Spend | None,
) -> int:
    budget, name = monitor.judge_budget, monitor.metric
    assert budget is not None and name is not None  # checked by `budgeted`
    config, judge = metric.config, metric.grader
    dispatcher = Dispatcher(
        [p for p in config.replay.providers if p.id == judge.judge_id],
        concurrency=config.replay.concurrency,
        retries=config.replay.retries,
        timeout=config.replay.timeout,
    )
    read = 0
    try:
        while read < MAX_READ:
            events, page_end = source.events_to_score(monitor, after, JUDGE_PAGE)
            if page_end is None:
                break
            read += len(events)
            scores = []
            for (start, end), run in groupby(events, key=lambda e: budget.period(monitor.window, _epoch(e))):
                if spend is None or spend.start != start:
                    spend = Spend(start, end) if spend is None else spend.next_period(start, end)
                if spend.spent:
                    continue
                found, exhausted = await _judge(judge, list(run), _Allowance(dispatcher, budget, spend))
                scores += found
                spend.spent = exhausted
            assert spend is not None
            after = page_end
            if spend.spent and spend.end > after[0]:
                after = (spend.end, "")  # the rest of a spent period is left unscored: on to the next
            source.save_metric_scores(name, scores)
            state = {
                "name": monitor.scoring_state_name,
                "fingerprint": monitor.fingerprint(),
                "after": list(after),
                "judge": spend.to_dict(),
                "summary": spend.summary(budget),
            }
            source.save_monitor_states([state], [])
    finally:
        await dispatcher.aclose()
    return read
