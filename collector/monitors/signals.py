"""Traffic signals from the store, by windows of the events' own `ts`: one aggregate query per range.

Every signal is tested through indicators in [0, 1] (see :mod:`.detector`), with its baseline fixed from
the monitor's first `baseline_windows` windows:

- `error_rate`: x = 1 for a failed call; "up" tests mean(x) <= baseline + min_change.
- `latency_p95_ms`, `ttft_p95_ms`: the share of calls slower than the baseline's p95 + min_change, which
  is at most 5% exactly while the p95 has not moved by more than min_change: a Bernoulli test with a
  known null, whatever the latency distribution.
- `cost_per_request`: the same on the median (the share dearer than the baseline's median + min_change,
  at most 50% under the null). Cost is tokens times the monitor's `price`: the store keeps no prices.
- `feedback`: the scores in [0, 1] given in the window (placed by the feedback's own `ts`), on their mean.

"down" tests the mirror image (1 - x against 1 - (baseline - min_change), or the share below the
quantile minus min_change), and "both" runs the two at alpha / 2 each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bakeoff.collector.store import Store, event_filters
from bakeoff.monitor_config import TrafficMonitor

_QUANTILES = {"latency_p95_ms": 0.95, "ttft_p95_ms": 0.95, "cost_per_request": 0.5}


@dataclass(frozen=True)
class Test:
    """One direction's null: the mean of its indicators stays at most `p0`."""

    direction: str
    p0: float


@dataclass
class Window:
    """One window's data: its count, its value in the signal's unit, and the indicators of each test."""

    index: int
    n: int = 0
    value: float | None = None
    bad: dict[str, int] | None = None  # direction -> indicators set (Bernoulli signals)
    scores: np.ndarray | None = None  # feedback scores (the mean signal)


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
    return "f.score"


def _source(monitor: TrafficMonitor) -> tuple[str, str, str, list[Any]]:
    """FROM clause, the timestamp column and the filters' WHERE clause with its parameters."""
    where, params = event_filters({str(k): v for k, v in monitor.filters.items()})
    if monitor.signal == "feedback":
        return "feedback f JOIN events e ON f.event_id = e.id", "f.ts", where, params
    return "events e", "e.ts", where, params


class Signal:
    """The queries and tests of one monitor's signal."""

    def __init__(self, monitor: TrafficMonitor) -> None:
        self.monitor = monitor
        self.quantile = _QUANTILES.get(monitor.signal)
        self.x = _x(monitor)
        self.source, self.ts, self.where, self.params = _source(monitor)

    def _range(self, start: float, end: float) -> tuple[str, list[Any]]:
        clause = f"{self.where} AND {self.ts} >= ? AND {self.ts} < ? AND {self.x} IS NOT NULL"
        return clause, [*self.params, _dt(start), _dt(end)]

    def first_ts(self, store: Store, after: float) -> float | None:
        """The `ts` (epoch seconds) of the first data point at or after `after`, if any."""
        where, params = event_filters({str(k): v for k, v in self.monitor.filters.items()})
        where += f" AND {self.ts} >= ? AND {self.x} IS NOT NULL"
        sql = f"SELECT epoch(min({self.ts})) FROM {self.source} WHERE {where}"
        row = store.cursor().execute(sql, [*params, _dt(after)]).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def baseline(self, store: Store, start: float, end: float) -> dict[str, float] | None:
        """The baseline over [start, end): its value and size; None when it holds no data."""
        where, params = self._range(start, end)
        stat = f"quantile_cont({self.x}, {self.quantile})" if self.quantile else f"avg({self.x})"
        row = (
            store.cursor()
            .execute(f"SELECT count(*), {stat} FROM {self.source} WHERE {where}", params)
            .fetchone()
        )
        if row is None or not row[0] or row[1] is None:
            return None
        return {"n": float(row[0]), "value": float(row[1])}

    def tests(self, baseline: float) -> list[Test]:
        """The null of each direction to watch, given the baseline's value."""
        mc = self.monitor.min_change
        directions = ("up", "down") if self.monitor.direction == "both" else (self.monitor.direction,)
        tests = []
        for direction in directions:
            if self.quantile is not None:  # share above (below) the moved quantile
                p0 = 1.0 - self.quantile if direction == "up" else self.quantile
            else:  # the mean itself; "down" watches 1 - x
                p0 = baseline + mc if direction == "up" else 1.0 - baseline + mc
            tests.append(Test(direction, p0))
        return tests

    def _indicator(self, direction: str, baseline: float) -> str:
        mc = self.monitor.min_change
        if self.quantile is None:  # error_rate: x is 0 or 1
            return f"{self.x} > 0.5" if direction == "up" else f"{self.x} < 0.5"
        if direction == "up":
            return f"{self.x} > {baseline + mc!r}"
        return f"{self.x} < {baseline - mc!r}"

    def windows(
        self, store: Store, origin: float, first: int, last: int, baseline: float
    ) -> dict[int, Window]:
        """The non-empty windows first..last (window i spans origin + i * width, one width long)."""
        width = self.monitor.window
        where, params = self._range(origin + first * width, origin + (last + 1) * width)
        bucket = f"CAST(floor((epoch({self.ts}) - {origin!r}) / {width!r}) AS BIGINT)"
        if self.monitor.signal == "feedback":
            select = f"avg({self.x}), list({self.x})"
        else:
            value = f"quantile_cont({self.x}, {self.quantile})" if self.quantile else f"avg({self.x})"
            counts = [
                f"count(*) FILTER (WHERE {self._indicator(t.direction, baseline)})"
                for t in self.tests(baseline)
            ]
            select = ", ".join([value, *counts])
        rows = (
            store.cursor()
            .execute(
                f"SELECT {bucket} AS w, count(*), {select} FROM {self.source} WHERE {where} GROUP BY w",
                params,
            )
            .fetchall()
        )
        found: dict[int, Window] = {}
        directions = [t.direction for t in self.tests(baseline)]
        for row in rows:
            window = Window(int(row[0]), int(row[1]), None if row[2] is None else float(row[2]))
            if self.monitor.signal == "feedback":
                window.scores = np.asarray(row[3], dtype=float)
            else:
                window.bad = {d: int(c) for d, c in zip(directions, row[3:], strict=True)}
            found[window.index] = window
        return found


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
