"""Many monitors in one query: a scan of a source serves every monitor that reads it.

A tick or a backtest asks three things of each monitor: where its traffic starts, its baseline, and its
windows' counts. Asked monitor by monitor, a backtest of twenty monitors was twenty scans of the store
per question, most of its time. Here the monitors reading the same source (events; feedback or metric
scores joined to their events) with the same timestamp column are asked together: one query reads the
union of their ranges once, projects each monitor's value where its condition holds (its filters, its
range, its value present) and NULL elsewhere, and aggregates every monitor's column. Counts are grouped
by window, so those share a query only with the same window width and origins whole widths apart (a
row's window indices then differ by a constant)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bakeoff.collector.monitors.signals import Counts, Signal, epoch_literal, literal
from bakeoff.collector.store import Store

# Monitors per query: one query reads the rows once, but each monitor's aggregates still cost their
# share, and past a few dozen (a feedback monitor has up to 48 columns) the SQL only grows.
MAX_MEMBERS = 24


@dataclass(frozen=True)
class Member:
    """One monitor's part of a query: its signal and the range of its data points ([start, end))."""

    signal: Signal
    start: float
    end: float | None  # None: every point from `start` on


class _Scan:
    """The inner query of a group: each member's value where its condition holds, else NULL (`m<i>`).

    NULL rather than a FILTER clause: DuckDB groups the rows of each filtered aggregate apart, a hash
    table probe per aggregate and row, where NULLs cost nothing to skip (no aggregate here counts them).
    A member's condition leaves out what the query's WHERE already says (a range the same as the
    union's, as in a tick, where the members have the same windows to take): planning a query costs
    more the longer its SQL, milliseconds for twenty monitors, more than reading a tick's rows.
    """

    def __init__(self, members: Sequence[Member], extra: Sequence[str]) -> None:
        first = members[0].signal
        self.columns: list[str] = []
        self.params: list[Any] = []
        self._numbers: dict[tuple[type, Any], int] = {}
        self.start = min(m.start for m in members)
        ends = [m.end for m in members]
        self.end = None if None in ends else max(e for e in ends if e is not None)
        self._filters = {self._bind(m.signal.where, m.signal.params) for m in members}
        seen: dict[tuple[str, str], str] = {}
        columns = list(extra)
        for member in members:
            condition = self._condition(member)
            key = (member.signal.x, condition)
            if key not in seen:
                seen[key] = f"m{len(seen)}"
                value = member.signal.x
                if condition != "TRUE":
                    value = f"CASE WHEN {condition} THEN {value} END"  # NULL too where x is NULL
                columns.append(f"{value} AS {seen[key]}")
            self.columns.append(seen[key])
        self.signal = first
        with_, tables = first.tables(self._range("ts"))
        self.sql = f"{with_}SELECT {', '.join(columns)} FROM {tables} WHERE {self._union(members)}"

    def no_scores(self, store: Store) -> bool:
        """Whether a bounded signal's table holds no score in the range at all: then the query need not
        run (~0.5 ms where it costs a few, and feedback is rare beside calls: most ticks have none)."""
        if self.signal.scores is None:
            return False
        sql = f"SELECT 1 FROM {self.signal.scores[0]} WHERE {self._range('ts')} LIMIT 1"
        return store.cursor().execute(sql).fetchone() is None

    def _range(self, ts: str, start: float | None = None, end: float | None = None) -> str:
        """`ts` within [start, end) (by default the union of the members' ranges)."""
        start = self.start if start is None else start
        end = self.end if end is None else end
        clause = f"{ts} >= {epoch_literal(start)}"
        return clause if end is None else f"{clause} AND {ts} < {epoch_literal(end)}"

    def _condition(self, member: Member) -> str:
        """What picks a member's points among the query's rows: its filters, and its range unless it is
        the union's (its lookback bound too, for a bounded signal, which the union's implies then)."""
        signal = member.signal
        clauses = [self._bind(signal.where, signal.params)] if len(self._filters) > 1 else []
        later = member.start > self.start
        if later:
            clauses.append(f"{signal.ts} >= {epoch_literal(member.start)}")
        if member.end is not None and self.end is not None and member.end < self.end:
            clauses.append(f"{signal.ts} < {epoch_literal(member.end)}")
        if signal.bounded and member.end is not None and later:
            clauses.append(f"e.ts >= {epoch_literal(member.start - signal.lookback)}")
        clauses = [clause for clause in clauses if clause != "TRUE"]
        return " AND ".join(clauses) or "TRUE"

    def _bind(self, sql: str, params: Sequence[Any]) -> str:
        """`sql` with its `?` parameters as literals (see `signals.literal`), or where one cannot be,
        numbered ($1, $2, ...), each distinct value once in the query."""
        pieces = sql.split("?")
        assert len(pieces) == len(params) + 1  # the filters' SQL holds no other question mark
        bound = [pieces[0]]
        for value, piece in zip(params, pieces[1:], strict=True):
            inline = literal(value)
            if inline is None:
                key = (type(value), value)
                if key not in self._numbers:
                    self.params.append(value)
                    self._numbers[key] = len(self.params)
                inline = f"${self._numbers[key]}"
            bound += [inline, piece]
        return "".join(bound)

    def _union(self, members: Sequence[Member]) -> str:
        """Rows any member may pick: within the union of the ranges and one of the members' filters (a
        bounded signal's scores are within the range already, see `Signal.tables`)."""
        signal = members[0].signal
        clauses = []
        if signal.scores is None:
            clauses.append(self._range(signal.ts))
        elif self.end is not None:
            clauses.append(f"e.ts >= {epoch_literal(self.start - signal.lookback)}")
        if "TRUE" not in self._filters:
            clauses.append("(" + " OR ".join(f"({where})" for where in sorted(self._filters)) + ")")
        return " AND ".join(clauses) or "TRUE"

    def run(self, store: Store, columns: list[str], group: str | None = None) -> dict[str, np.ndarray]:
        """The outer query's `columns` (aliased c0, c1, ...) as arrays, grouped by `group` if given."""
        named = [f"{column} AS c{i}" for i, column in enumerate(columns)]
        sql = f"SELECT {', '.join(named)} FROM ({self.sql})"
        if group is not None:
            sql += f" GROUP BY {group}"
        result: dict[str, np.ndarray] = store.cursor().execute(sql, self.params).fetchnumpy()
        return result


def _groups(keys: Sequence[Hashable]) -> list[list[int]]:
    """Indices of the members by query: same key, at most MAX_MEMBERS to a query, in their order."""
    by_key: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    return [
        indices[at : at + MAX_MEMBERS]
        for indices in by_key.values()
        for at in range(0, len(indices), MAX_MEMBERS)
    ]


def _source(signal: Signal) -> Hashable:
    return (signal.source, signal.ts)


def first_ts(store: Store, asks: Sequence[tuple[Signal, float]]) -> list[float | None]:
    """For each (signal, after): the `ts` (epoch seconds) of its first data point at or after `after`."""
    members = [Member(signal, after, None) for signal, after in asks]
    found: list[float | None] = [None] * len(members)
    for indices in _groups([_source(m.signal) for m in members]):
        ts = members[indices[0]].signal.ts
        scan = _Scan([members[i] for i in indices], [f"epoch({ts}) AS t"])
        result = scan.run(store, [f"min(CASE WHEN {m} IS NOT NULL THEN t END)" for m in scan.columns])
        for column, index in enumerate(indices):
            value = result[f"c{column}"][0]
            found[index] = None if np.ma.is_masked(value) else float(value)
    return found


def baselines(
    store: Store, asks: Sequence[tuple[Signal, float, float, float]]
) -> list[dict[str, float] | None]:
    """For each (signal, start, end, alpha): its baseline over [start, end), or None without traffic.

    A baseline is its value, size, and bounds at level 1 - alpha each way (see `Signal.baseline_of`); a
    quantile's bounds are the empirical quantiles at the bounds of the level itself, which take a
    second query, since the levels depend on the size.
    """
    members = [Member(signal, start, end) for signal, start, end, _ in asks]
    found: list[dict[str, float] | None] = [None] * len(members)
    for indices in _groups([_source(m.signal) for m in members]):
        scan = _Scan([members[i] for i in indices], [])
        columns = []
        for m in scan.columns:
            columns += [f"count({m})", f"avg({m})"]
        result = scan.run(store, columns)
        quantiles: list[tuple[int, float, list[float]]] = []  # (member in the group, n, levels)
        for column, index in enumerate(indices):
            signal, alpha = members[index].signal, asks[index][3]
            n, mean = result[f"c{2 * column}"][0], result[f"c{2 * column + 1}"][0]
            if np.ma.is_masked(mean) or not n:
                continue
            if signal.quantile is None:
                found[index] = signal.baseline_of(float(n), float(mean), alpha)
            else:
                quantiles.append((column, float(n), signal.quantile_levels(float(n), alpha)))
        if not quantiles:
            continue
        columns = [
            f"quantile_cont({scan.columns[column]}, {float(level)!r})"
            for column, _, levels in quantiles
            for level in levels
        ]
        result = scan.run(store, columns)
        for at, (column, n, _) in enumerate(quantiles):
            value, upper, lower = (float(result[f"c{3 * at + i}"][0]) for i in range(3))
            found[indices[column]] = {"n": n, "value": value, "upper": upper, "lower": lower}
    return found


_Ask = tuple[Signal, float, int, int, dict[str, float]]  # (signal, origin, first, last, baseline)


def counts(store: Store, asks: Sequence[_Ask]) -> list[Counts]:
    """For each (signal, origin, first, last, baseline): its windows first..last, window i spanning
    origin + i * width, one width long; empty windows included."""
    members = []
    for signal, origin, first, last, _ in asks:
        width = signal.monitor.window
        members.append(Member(signal, origin + first * width, origin + (last + 1) * width))
    found: dict[int, Counts] = {}
    # Rows fall in the same windows of two monitors when their widths are the same and their origins
    # differ by whole widths (the same remainder: fmod is exact), their window indices by a constant.
    keys = [(_source(s), s.monitor.window, math.fmod(origin, s.monitor.window)) for s, origin, *_ in asks]
    for indices in _groups(keys):
        signal = asks[indices[0]][0]
        origin = min(asks[i][1] for i in indices)
        scan = _Scan([members[i] for i in indices], [f"{signal.bucket(origin)} AS w"])
        tables = (_points if signal.bounded else _window_rows)(store, scan, [asks[i] for i in indices])
        for (rows, windows), index in zip(tables, indices, strict=True):
            signal, own_origin, first, last, baseline = asks[index]
            windows = windows - round((own_origin - origin) / signal.monitor.window) - first
            inside = (windows >= 0) & (windows <= last - first)
            table = np.zeros((last - first + 1, rows.shape[1]))
            np.add.at(table, windows[inside], rows[inside])
            found[index] = signal.counts(first, table, baseline)
    return [found[index] for index in range(len(asks))]


def _window_rows(store: Store, scan: _Scan, asks: Sequence[_Ask]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each member's rows by window, aggregated in SQL (calls, then `Signal.window_sums`), with the
    group's window of each row."""
    columns, spans = ["w"], []
    for m, (signal, *_, baseline) in zip(scan.columns, asks, strict=True):
        sums = signal.window_sums(m, baseline)
        spans.append((len(columns), len(columns) + 1 + len(sums)))
        columns += [f"count({m})", *(f"coalesce({s}, 0)" for s in sums)]
    result = scan.run(store, columns, group="w")
    windows = np.asarray(result["c0"], dtype=np.int64)
    return [
        (np.column_stack([np.asarray(result[f"c{c}"], float) for c in range(begin, end)]), windows)
        for begin, end in spans
    ]


def _points(store: Store, scan: _Scan, asks: Sequence[_Ask]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each member's data points, one row each (1, then `Signal.point_sums`), with the group's window
    of each: a bounded signal's scores are few, and summing their bets here keeps the SQL short."""
    result = None if scan.no_scores(store) else scan.run(store, ["w", *scan.columns])
    windows = np.zeros(0, np.int64) if result is None else np.asarray(result["c0"], dtype=np.int64)
    tables = []
    for column, (signal, *_, baseline) in enumerate(asks, start=1):
        values = np.zeros(0) if result is None else result[f"c{column}"]
        present = ~np.ma.getmaskarray(values)
        points = np.ma.getdata(values)[present]
        rows = np.column_stack([np.ones(len(points)), signal.point_sums(points, baseline)])
        tables.append((rows, windows[present]))
    return tables
