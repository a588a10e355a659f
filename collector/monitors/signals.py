"""Traffic signals: the SQL of each monitor's signal and the tests it feeds, by windows of the events' `ts`.

Every signal is tested through observations in [0, 1] (see :mod:`.detector`), against a baseline fixed
from the monitor's first `baseline_windows` windows and taken at its confidence bound (so that a baseline
estimated too low cannot by itself make unchanged traffic alarm):

- `error_rate`: x = 1 for a failed call; "up" tests mean(x) <= baseline's upper bound + min_change.
- `latency_p95_ms`, `ttft_p95_ms`: the share of calls slower than the baseline's p95 (its upper bound) +
  min_change, which is at most 5% while the p95 has not moved by more than min_change: a Bernoulli test
  with a known null, whatever the latency distribution.
- `cost_per_request`: the same on the median (the share dearer than the baseline's median + min_change,
  at most 50% under the null). Cost is tokens times the monitor's `price`: the store keeps no prices.
- `feedback`: the scores in [0, 1] given in the window (placed by the feedback's own `ts`), on their mean;
  feedback on calls more than `FEEDBACK_LOOKBACK_S` older than the window is left out.
- `metric:NAME`: the same on the scores in [0, 1] that `bakeoff watch` gave a share of the window's answers
  with metric NAME (table `metric_scores`, placed by the event's `ts`).

"down" tests the mirror image (1 - x against 1 - (lower bound - min_change), or the share below the
quantile's lower bound minus min_change), and "both" runs the two at alpha / 2 each.

The queries themselves are run by :mod:`.scans`, several monitors to a query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bakeoff.collector.monitors.detector import BET_FRACTIONS, bernoulli_log_e_rows, mean_upper_bound
from bakeoff.collector.monitors.detector import bets as bets_of
from bakeoff.collector.store import Store, event_filters
from bakeoff.monitor_config import TrafficMonitor

FEEDBACK_LOOKBACK_S = 7 * 86400.0  # feedback given later than this after its call is not counted

_QUANTILES = {"latency_p95_ms": 0.95, "ttft_p95_ms": 0.95, "cost_per_request": 0.5}


@dataclass(frozen=True)
class Test:
    """One direction's null: the mean of its indicators stays at most `p0`."""

    direction: str
    p0: float


@dataclass
class Counts:
    """Windows first..last of one monitor: calls in each, and log e-values per test and bet.

    `alarm[d]` holds, one row per window, the evidence against direction d's null; `resolve[d]` the
    evidence against its mirror image (that the signal is back within baseline + min_change).
    """

    first: int
    n: np.ndarray
    alarm: dict[str, np.ndarray]
    resolve: dict[str, np.ndarray]


def _x(monitor: TrafficMonitor) -> str:
    signal = monitor.signal
    if signal == "error_rate":
        return "CASE WHEN e.status = 'error' THEN 1.0 ELSE 0.0 END"
    if signal == "latency_p95_ms":
        return "e.latency_ms"
    if signal == "ttft_p95_ms":
        return "e.ttft_ms"
    if signal == "cost_per_request":
        price = monitor.price
        assert price is not None  # the config model requires it
        return (
            f"(coalesce(e.input_tokens, 0) * {float(price.input_per_mtok)!r} "
            f"+ coalesce(e.output_tokens, 0) * {float(price.output_per_mtok)!r}) / 1e6"
        )
    return "m.score" if monitor.metric is not None else "f.score"


# The columns of an event that filters read (see `event_filters`), looked up for each score by id.
_FILTERED = "id, ts, project, provider, api, model, status, tags"


def _source(monitor: TrafficMonitor) -> tuple[str, str, str, list[Any]]:
    """FROM clause, the timestamp column and the filters' WHERE clause with its parameters."""
    where, params = event_filters({str(k): v for k, v in monitor.filters.items()})
    where = where.removeprefix("TRUE AND ")  # shorter SQL: a query's planning grows with its text
    if monitor.signal == "feedback":
        return "feedback f JOIN events e ON f.event_id = e.id", "f.ts", where, params
    if monitor.metric is not None:
        source = "metric_scores m JOIN events e ON m.event_id = e.id"
        return source, "m.ts", f"{where} AND m.metric = ?", [*params, monitor.metric]
    return "events e", "e.ts", where, params


def scores_by_id(table: str, columns: str, alias: str, ts_range: str) -> tuple[str, str]:
    """WITH and FROM clauses of the scores in `table` (their `columns`, as `alias`) within `ts_range`,
    each joined with its event (as `e`) looked up by id.

    Joined the plain way, DuckDB scans the events of every day the scores may belong to (a week for
    feedback) to find the few with a score in a tick's windows; here the scores come first and their
    events are fetched through the index on `events.id`. Both are materialised, so that the filters
    on the events are not pushed into the lookup, which would turn it back into a scan.
    """
    with_ = (
        f"WITH s AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {ts_range}), "
        f"x AS MATERIALIZED (SELECT {_FILTERED} FROM events WHERE id IN (SELECT event_id FROM s)) "
    )
    return with_, f"s {alias} JOIN x e ON {alias}.event_id = e.id"


def literal(value: object) -> str | None:
    """`value` as a SQL literal, or None where it must stay a parameter (a string holding a NUL).

    The queries a tick runs beside ingest take their values as literals: DuckDB tries (and fails) to
    import pandas for every parameter, twice, each a search of the whole import path holding the GIL
    (~0.2 ms quiet, 1-2 ms on a busy machine), which the request threads then wait for.
    """
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"  # standard SQL strings: a backslash is itself
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if math.isfinite(value) else None
    return None


def epoch_literal(seconds: float) -> str:
    """A time as SQL: epoch literals, since a datetime parameter costs DuckDB a failed import of pytz,
    and any parameter one of pandas (1-2 ms each on a busy machine, a third of a tick's time)."""
    return f"to_timestamp({float(seconds)!r})"


class Signal:
    """The SQL of one monitor's signal, and the tests its windows feed."""

    def __init__(self, monitor: TrafficMonitor) -> None:
        self.monitor = monitor
        self.quantile = _QUANTILES.get(monitor.signal)
        self.x = _x(monitor)
        self.source, self.ts, self.where, self.params = _source(monitor)
        self.bounded = monitor.signal == "feedback" or monitor.metric is not None  # scores in [0, 1]
        # How long before a window the events its scores belong to may lie: bounding the events' ts lets
        # DuckDB skip the row groups of older history rather than join every event of it. A metric's
        # score carries its event's ts; feedback counts for calls of the last FEEDBACK_LOOKBACK_S.
        self.lookback = FEEDBACK_LOOKBACK_S if monitor.signal == "feedback" else 0.0
        # The table of scores a bounded signal reads, its columns, and its alias in `where` and `x`.
        self.scores: tuple[str, str, str] | None = None
        if monitor.signal == "feedback":
            self.scores = ("feedback", "event_id, score, ts", "f")
        elif monitor.metric is not None:
            self.scores = ("metric_scores", "event_id, metric, score, ts", "m")

    def tables(self, ts_range: str) -> tuple[str, str]:
        """WITH and FROM clauses of this signal's data points where `ts_range` holds (a condition on the
        bare `ts` of the scores, for a bounded signal): a bounded signal's scores looked up first and
        their events by id (see `scores_by_id`), the events themselves otherwise."""
        if self.scores is None:
            return "", self.source
        table, columns, alias = self.scores
        return scores_by_id(table, columns, alias, ts_range)

    def rows(self, start: float, end: float | None) -> tuple[str, list[Any]]:
        """The condition picking this signal's data points in [start, end) (from `start` on if None)."""
        clause = f"{self.where} AND {self.ts} >= {epoch_literal(start)}"
        if end is not None:
            clause += f" AND {self.ts} < {epoch_literal(end)}"
            if self.bounded:
                clause += f" AND e.ts >= {epoch_literal(start - self.lookback)}"
        return f"{clause} AND {self.x} IS NOT NULL", list(self.params)

    def quantile_levels(self, n: float, alpha: float) -> list[float]:
        """The quantile's own level and the levels of its bounds at 1 - alpha each way, for n points."""
        assert self.quantile is not None
        upper = mean_upper_bound(self.quantile, n, alpha)
        return [self.quantile, upper, 1.0 - mean_upper_bound(1.0 - self.quantile, n, alpha)]

    def baseline_of(self, n: float, mean: float | None, alpha: float) -> dict[str, float] | None:
        """A mean signal's baseline from its size and mean: bounds at level 1 - alpha each way.

        The nulls are taken from the bounds rather than the estimate, so that a baseline estimated a
        little too low (too high) cannot by itself make unchanged traffic look worse: with probability
        1 - alpha the bound holds, and the detector spends the rest of the false-alarm budget.
        """
        if not n or mean is None:
            return None
        upper = mean_upper_bound(mean, n, alpha)
        lower = 1.0 - mean_upper_bound(1.0 - mean, n, alpha)
        return {"n": n, "value": mean, "upper": upper, "lower": lower}

    def tests(self, baseline: dict[str, float]) -> list[Test]:
        """The null of each direction to watch, given the baseline."""
        mc = self.monitor.min_change
        directions = ("up", "down") if self.monitor.direction == "both" else (self.monitor.direction,)
        tests = []
        for direction in directions:
            if self.quantile is not None:  # share above (below) the moved quantile
                p0 = 1.0 - self.quantile if direction == "up" else self.quantile
            else:  # the mean itself; "down" watches 1 - x
                p0 = baseline["upper"] + mc if direction == "up" else 1.0 - baseline["lower"] + mc
            tests.append(Test(direction, p0))
        return tests

    def _indicator(self, x: str, direction: str, baseline: dict[str, float]) -> str:
        mc = self.monitor.min_change
        if self.quantile is None:  # error_rate: x is 0 or 1
            return f"{x} > 0.5" if direction == "up" else f"{x} < 0.5"
        if direction == "up":
            return f"{x} > {float(baseline['upper'] + mc)!r}"
        return f"{x} < {float(baseline['lower'] - mc)!r}"

    def bucket(self, origin: float) -> str:
        """The window index of a data point, for windows from `origin`."""
        return (
            f"CAST(floor((epoch({self.ts}) - {float(origin)!r}) / {float(self.monitor.window)!r}) AS BIGINT)"
        )

    def value(self, store: Store, origin: float, index: int) -> float | None:
        """The signal's value in window `index`, in its unit (for an alert's message)."""
        start = origin + index * self.monitor.window
        where, params = self.rows(start, start + self.monitor.window)
        stat = f"quantile_cont({self.x}, {self.quantile})" if self.quantile else f"avg({self.x})"
        row = store.cursor().execute(f"SELECT {stat} FROM {self.source} WHERE {where}", params).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def window_sums(self, x: str, baseline: dict[str, float]) -> list[str]:
        """The aggregates of a window's points (their value column `x`) that `counts` turns into evidence,
        for a Bernoulli signal: per test, the indicators set; none for a null nothing can contradict.
        A bounded signal's points are summed by `point_sums` instead."""
        assert not self.bounded
        tests = [t for t in self.tests(baseline) if t.p0 < 1.0]
        return [f"count_if({self._indicator(x, t.direction, baseline)})" for t in tests]

    def point_sums(self, values: np.ndarray, baseline: dict[str, float]) -> np.ndarray:
        """For a bounded signal, one row per data point (its score in `values`) of what `counts` sums by
        window: per test, the log wealth of each bet, then of each bet of its mirror image.

        Computed here rather than in SQL: two dozen `sum(ln(...))` aggregates per monitor made a query
        of five feedback monitors take ~30 ms to plan, whatever the few rows it read.
        """
        assert self.bounded
        x = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
        blocks = [np.zeros((len(x), 0))]
        for test in self.tests(baseline):
            if test.p0 >= 1.0:
                continue
            deviation = (x if test.direction == "up" else 1.0 - x) - test.p0
            blocks.append(np.log1p(np.outer(deviation, bets_of(test.p0))))
            blocks.append(np.log1p(-np.outer(deviation, bets_of(1.0 - test.p0))))
        return np.hstack(blocks)

    def counts(self, first: int, table: np.ndarray, baseline: dict[str, float]) -> Counts:
        """Windows first.. from their rows: the calls in each, then the columns of `window_sums` (or, for
        a bounded signal, of `point_sums`)."""
        n = table[:, 0]
        alarm, resolve = {}, {}
        offset = 1
        for test in self.tests(baseline):
            if test.p0 >= 1.0:
                alarm[test.direction] = resolve[test.direction] = np.zeros((len(n), len(BET_FRACTIONS)))
            elif self.bounded:
                bets, mirror = len(bets_of(test.p0)), len(bets_of(1.0 - test.p0))
                alarm[test.direction] = _padded(table[:, offset : offset + bets])
                resolve[test.direction] = _padded(table[:, offset + bets : offset + bets + mirror])
                offset += bets + mirror
            else:
                bad = table[:, offset]
                alarm[test.direction] = bernoulli_log_e_rows(n, bad, test.p0)
                resolve[test.direction] = bernoulli_log_e_rows(n, n - bad, 1.0 - test.p0)
                offset += 1
        return Counts(first, n, alarm, resolve)


def _padded(block: np.ndarray) -> np.ndarray:
    """A block of bet columns, or zeros for every bet when the null could not be contradicted."""
    if block.shape[1] == len(BET_FRACTIONS):
        return block
    return np.zeros((len(block), len(BET_FRACTIONS)))
