"""The overview's figures read from the rollups (see :mod:`bakeoff.collector.rollups`), equal to a query
over `events` of the same range and filters.

A read takes one snapshot (a transaction) and *covers* its range `[since, until)`: whole days, hours and
minutes from the cells, largest first, each only where no marked minute lies inside it; marked minutes
and the edges of the range finer than a minute from `events`. Both sides give the same partial sums
(calls, errors, token sums and counts, first and last start, histogram bins), merged per group by one
query. Counts, sums, first and last starts are exact; a quantile is read off the merged histogram: the
bin holding the exact one (DuckDB's `quantile_disc`: the smallest value with at least a share q of the
values at or below it), reported as the bin's geometric middle, within ``rollups.QUANTILE_ERROR`` (~1%)
of it, relatively (tested against `quantile_disc` on the same data).

Tag filters are not in the cells (an event has several tags): the caller falls back on `events`
(:func:`answers`), as it does for series buckets that are not whole minutes and when so many minutes are
marked that the events would be read for most of the range anyway.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from bakeoff.collector import rollups
from bakeoff.collector.rollups import DIMS, MINUTE, ORIGIN_S, align, bin_of, bin_value, bucket_expression
from bakeoff.collector.store import Store, event_filters

logger = logging.getLogger("bakeoff.collector")

MAX_MARKED = 400  # more marked minutes than this: the plain query (the cover would be mostly events)
_EPOCH = datetime.fromtimestamp(0, UTC)
_ORIGIN_US = ORIGIN_S * 10**6


def answers(filters: dict[str, Any], width: int | None = None) -> bool:
    """Whether the rollups answer the overview for `filters` (and series buckets of `width` seconds)."""
    return not filters.get("tag") and (width is None or width % MINUTE == 0)


def micros(value: datetime) -> int:
    """`value` as epoch microseconds (exact: no float on the way)."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass
class Cover:
    """Where a range is read from: cell ranges (width, first bucket, end bucket; epoch seconds, None
    unbounded) and event ranges (epoch microseconds, None unbounded)."""

    cells: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    events: list[tuple[int | None, int | None]] = field(default_factory=list)


def cover(since_us: int | None, until_us: int | None, widths: list[int], marked: list[int]) -> Cover:
    """The cover of `[since_us, until_us)` by cells of `widths` (each divides the next) around the
    `marked` minutes (epoch seconds), and events elsewhere."""
    out = Cover()
    _cover(since_us, until_us, sorted(widths, reverse=True), marked, out)
    merged: list[tuple[int | None, int | None]] = []
    for low, high in sorted(out.events, key=lambda r: -(2**63) if r[0] is None else r[0]):
        if merged and merged[-1][1] == low:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    out.events = merged
    return out


def _floor(us: int, width: int) -> int:
    step = width * 10**6
    return (us - _ORIGIN_US) // step * step + _ORIGIN_US


def _cover(low: int | None, high: int | None, widths: list[int], marked: list[int], out: Cover) -> None:
    if low is not None and high is not None and low >= high:
        return
    if not widths:
        out.events.append((low, high))
        return
    width, finer = widths[0], widths[1:]
    step = width * 10**6
    first = None if low is None else _floor(low + step - 1, width)
    end = None if high is None else _floor(high, width)
    if first is not None and end is not None and first >= end:
        _cover(low, high, finer, marked, out)
        return
    if low is not None and first is not None and low < first:
        _cover(low, first, finer, marked, out)
    inside = sorted(
        {
            _floor(minute * 10**6, width)
            for minute in marked
            if (first is None or minute * 10**6 >= first) and (end is None or minute * 10**6 < end)
        }
    )
    start = first
    for bucket in inside:
        if start is None or start < bucket:
            out.cells.append((width, None if start is None else start // 10**6, bucket // 10**6))
        _cover(bucket, bucket + step, finer, marked, out)
        start = bucket + step
    if start is None or end is None or start < end:
        out.cells.append(
            (width, None if start is None else start // 10**6, None if end is None else end // 10**6)
        )
    if high is not None and end is not None and end < high:
        _cover(end, high, finer, marked, out)


def _ranges(pieces: list[tuple[Any, ...]], column: str, convert: Any) -> tuple[str, list[Any]]:
    """SQL: `column` in any of the [low, high) ranges of `pieces` (None unbounded), and its parameters."""
    clauses, params = [], []
    for low, high in pieces:
        parts = ["TRUE"]
        if low is not None:
            parts.append(f"{column} >= ?")
            params.append(convert(low))
        if high is not None:
            parts.append(f"{column} < ?")
            params.append(convert(high))
        clauses.append("(" + " AND ".join(parts) + ")")
    return "(" + (" OR ".join(clauses) or "FALSE") + ")", params


Group = list[tuple[str, str]]  # a group key's columns: (SQL over the cells, SQL over the events)

_LOW, _HIGH = -(2**62), 2**62  # unbounded ends, as numbers (ranges are kept as ints)


def _span(low: int | None, high: int | None) -> tuple[int, int]:
    return _LOW if low is None else low, _HIGH if high is None else high


def _bound(value: int) -> int | None:
    return None if value in (_LOW, _HIGH) else value


def _gaps(have: list[tuple[int, int]], low: int, high: int) -> list[tuple[int, int]]:
    """The parts of [low, high) outside the disjoint, sorted ranges `have`."""
    gaps = []
    for start, end in have:
        if end <= low or start >= high:
            continue
        if start > low:
            gaps.append((low, start))
        low = max(low, end)
        if low >= high:
            return gaps
    if low < high:
        gaps.append((low, high))
    return gaps


def _joined(have: list[tuple[int, int]], added: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`have` and `added` as disjoint, sorted ranges (touching ones joined)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(have + added):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# What a view copies out of each table of the lake (or file): the rows of the cover's pieces, once per
# view, so that a call's figures (several queries, several groupings) scan each table once or twice
# instead of once per figure and piece: on DuckLake every scan costs round trips to the catalog.
_DIM_COLUMNS = ", ".join(DIMS)
_COPIED = {
    "rollup_cells": (
        f"width, bucket, {_DIM_COLUMNS}, calls, input_tokens, input_counted, output_tokens, "
        "output_counted, min_us, max_us"
    ),
    "rollup_bins": f"width, bucket, {_DIM_COLUMNS}, metric, bin, n",
    "rollup_tags": f"width, bucket, {_DIM_COLUMNS}, tag, calls",
    "events": f"id, ts, {_DIM_COLUMNS}, input_tokens, output_tokens, latency_ms, ttft_ms, tags",
}
_EVENTS = 0  # the "width" under which the events' ranges (epoch us) are kept
# Copied: the cells (few rows, read by several figures of a call) and the events of the cover (its
# edges and marked minutes); the histograms and tags, many rows read once, are aggregated in place.
_REUSED = ("rollup_cells",)
_HULL_CELLS = 1000  # hour or day cells are copied over the hull of the ranges asked for, up to this many


MAX_BRANCHES = 16  # ranges of one width read by a scan each; more share one scan


def _branches(ranges: list[tuple[Any, Any]], column: str, convert: Any) -> list[tuple[str, list[Any]]]:
    """A filter per range (ordered), or past MAX_BRANCHES one for all: the range holding them and an OR
    of them. DuckDB and DuckLake prune files and row groups by a scan's plain bounds, never by an OR of
    ranges: one scan per range reads only its own files (at 10M events a scan of a week's minute cells
    by an OR of its two edges read six times as many rows)."""
    ranges = sorted(ranges, key=lambda piece: -(2**63) if piece[0] is None else piece[0])
    if len(ranges) <= MAX_BRANCHES:
        return [_ranges([piece], column, convert) for piece in ranges]
    lows, highs = [low for low, _ in ranges], [high for _, high in ranges]
    outer = (None if None in lows else min(lows)), (None if None in highs else max(highs))
    outer_clause, outer_params = _ranges([outer], column, convert)
    inner, inner_params = _ranges(ranges, column, convert)
    return [(f"{outer_clause} AND {inner}", outer_params + inner_params)]


def _coarse(widths: list[int]) -> list[int]:
    """The cell widths a view reads for `widths`: minute cells only when nothing coarser is asked for.
    Past the whole hours a range's edges (under an hour at each end) are read from the events, which a
    call copies once anyway, instead of a scan of minute cells per table and edge."""
    coarser = [width for width in widths if width > MINUTE]
    return coarser or list(widths)


class RollupView:
    """The overview's figures over one snapshot of a store, for `filters` (no tag): see :func:`view`.

    The cells and events a figure needs are copied out of the store once (:meth:`_copy`: one query
    per table, of the ranges not copied yet) and the figures computed from the copies in memory; the
    histograms and tags, many rows read once, are aggregated where they are."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, marked: list[int], filters: dict[str, Any]) -> None:
        self.cursor = cursor
        self.marked = marked
        self.filters = {k: v for k, v in filters.items() if k not in ("since", "until", "tag")}
        self.latest_us: int | None = None  # the newest event's start, set by view()
        self._copied: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self._copies: dict[str, Any] = {}  # table -> the Arrow table of its rows copied so far
        self._prefix = f"rollup_view_{id(self):x}_"

    def name(self, table: str) -> str:
        """The name the copy of `table` is registered under on the cursor."""
        return self._prefix + table

    def close(self) -> None:
        """Unregister the copies."""
        for table in self._copies:
            with contextlib.suppress(duckdb.Error):
                self.cursor.unregister(self.name(table))
        self._copies.clear()

    def _copy(self, table: str, wanted: dict[int, list[tuple[int | None, int | None]]]) -> None:
        """Copy the rows of `table` in the `wanted` ranges per width (`_EVENTS` for `events`, in epoch
        us) that are not copied yet: one query, a scan per range (see :func:`_branches`)."""
        parts, params = [], []
        where, filter_params = event_filters(self.filters)
        column, convert = ("ts", _datetime) if table == "events" else ("bucket", int)
        added: dict[int, list[tuple[int, int]]] = {}
        for width, pieces in sorted(wanted.items()):
            have = self._copied.get((table, width), [])
            spans = [_span(low, high) for low, high in pieces] or [(0, 0)]
            hull = min(a for a, _ in spans), max(b for _, b in spans)
            if table in _REUSED and width >= MINUTE * 60 and hull[1] - hull[0] <= _HULL_CELLS * width:
                # The hull of the pieces: a call's next figure asks for the hours its first one took
                # from days (a series by hour over a week), and a week of hour cells is a few
                # thousand rows: one copy instead of one per figure.
                pieces = [(_bound(hull[0]), _bound(hull[1]))]
            gaps: list[tuple[int, int]] = []
            for low, high in pieces:
                gaps += _gaps(have, *_span(low, high))
            gaps = _joined([], gaps)
            if not gaps:
                continue
            added[width] = gaps
            of_width = "TRUE" if table == "events" else f"width = {width}"
            for clause, bounds in _branches([(_bound(a), _bound(b)) for a, b in gaps], column, convert):
                parts.append(
                    f"SELECT {_COPIED[table]} FROM {table} WHERE {of_width} AND {clause} AND {where}"
                )
                params += bounds + filter_params
        if not parts:
            return
        rows = self.cursor.execute(" UNION ALL ".join(f"({part})" for part in parts), params).to_arrow_table()
        if table in self._copies:
            rows = pa.concat_tables([self._copies[table], rows.cast(self._copies[table].schema)])
        self._copies[table] = rows
        self.cursor.register(self.name(table), rows)
        for width, gaps in added.items():
            self._copied[(table, width)] = _joined(self._copied.get((table, width), []), gaps)

    def _sources(
        self,
        table: str,
        cells: str,
        events: str,
        since: datetime | None,
        until: datetime | None,
        widths: list[int],
    ) -> tuple[str, list[Any]]:
        """SQL: `cells` (SELECTs over the copy of the rollup `table`, `{source}` for its name and
        `{where}` for its filter) over the cell ranges of the cover, UNION ALL `events` (SELECTs over the
        copy of `events`, likewise) over its event ranges, and the parameters."""
        piece = cover(
            None if since is None else micros(since),
            None if until is None else micros(until),
            widths,
            self.marked,
        )
        by_width: dict[int, list[tuple[int | None, int | None]]] = {}
        for width, low, high in piece.cells:
            by_width.setdefault(width, []).append((low, high))
        if piece.events:
            self._copy("events", {_EVENTS: piece.events})
        parts, all_params = [], []
        if table in _REUSED:
            self._copy(table, by_width)
            clauses = []
            for width, ranges in sorted(by_width.items()):
                clause, bounds = _ranges(ranges, "bucket", int)
                clauses.append(f"(width = {width} AND {clause})")
                all_params += bounds
            if clauses:
                parts.append(cells.format(source=self.name(table), where="(" + " OR ".join(clauses) + ")"))
                all_params *= cells.count("{where}")
        else:  # read in place, a scan per range (as _copy reads), aggregated by the query
            where, filter_params = event_filters(self.filters)
            for width, ranges in sorted(by_width.items()):
                for clause, bounds in _branches(ranges, "bucket", int):
                    parts.append(
                        cells.format(source=table, where=f"width = {width} AND {clause} AND {where}")
                    )
                    all_params += (bounds + filter_params) * cells.count("{where}")
        if piece.events:
            clause, bounds = _ranges(piece.events, "ts", _datetime)
            parts.append(events.format(source=self.name("events"), where=clause))
            all_params += bounds * events.count("{where}")
        if not parts:
            parts.append(cells.format(source=table, where="FALSE"))
        return " UNION ALL ".join(f"({part})" for part in parts), all_params

    def totals(
        self, group: Group, since: datetime | None, until: datetime | None, widths: list[int]
    ) -> list[tuple[Any, ...]]:
        """Per group (its columns first): calls, errors, input and output token sums (NULL where no
        event had a count), first and last start (epoch us); ordered by group."""
        return self._totals(group, since, until, _coarse(widths))

    def _totals(
        self, group: Group, since: datetime | None, until: datetime | None, widths: list[int]
    ) -> list[tuple[Any, ...]]:
        keys = _keys(group)
        cells = (
            f"SELECT {_select(group, 0)}status, calls, input_tokens, input_counted, output_tokens, "
            "output_counted, min_us, max_us FROM {source} WHERE {where}"
        )
        events = (
            f"SELECT {_select(group, 1)}status, 1 AS calls, input_tokens, "
            "(input_tokens IS NOT NULL)::INT AS input_counted, output_tokens, "
            "(output_tokens IS NOT NULL)::INT AS output_counted, epoch_us(ts) AS min_us, "
            "epoch_us(ts) AS max_us FROM {source} WHERE {where}"
        )
        source, params = self._sources("rollup_cells", cells, events, since, until, widths)
        return self.cursor.execute(
            f"""
            SELECT {keys}sum(calls), coalesce(sum(calls) FILTER (WHERE status = 'error'), 0),
                   CASE WHEN sum(input_counted) > 0 THEN sum(input_tokens) END,
                   CASE WHEN sum(output_counted) > 0 THEN sum(output_tokens) END, min(min_us), max(max_us)
            FROM ({source}) GROUP BY ALL {"ORDER BY ALL" if group else ""}
            """,
            params,
        ).fetchall()

    def quantiles(
        self, group: Group, since: datetime | None, until: datetime | None, widths: list[int]
    ) -> dict[tuple[Any, ...], tuple[float | None, float | None, float | None]]:
        """Per group (a tuple of its columns): latency p50 and p95, time to first token p50, from the
        merged histograms."""
        keys = _keys(group)
        cells = f"SELECT {_select(group, 0)}metric, bin, n FROM {{source}} WHERE {{where}}"
        events = (
            f"SELECT {_select(group, 1)}0 AS metric, {bin_of('latency_ms')} AS bin, 1 AS n FROM {{source}} "
            "WHERE ({where}) AND latency_ms IS NOT NULL UNION ALL "
            f"SELECT {_select(group, 1)}1, {bin_of('ttft_ms')}, 1 FROM {{source}} "
            "WHERE ({where}) AND ttft_ms IS NOT NULL"
        )
        source, params = self._sources("rollup_bins", cells, events, since, until, _coarse(widths))
        partition = "PARTITION BY " + keys + "metric"
        rows = self.cursor.execute(
            f"""
            WITH merged AS (SELECT {keys}metric, bin, sum(n) AS n FROM ({source}) GROUP BY ALL),
            ranked AS (
                SELECT *, sum(n) OVER ({partition} ORDER BY bin) AS upto, sum(n) OVER ({partition}) AS total
                FROM merged
            )
            SELECT {keys}metric, q, {bin_value("bin")}
            FROM ranked JOIN (VALUES (0, 0.5), (0, 0.95), (1, 0.5)) AS wanted(m, q) ON metric = m
            WHERE upto >= q * total AND upto - n < q * total
            """,
            params,
        ).fetchall()
        found: dict[tuple[Any, ...], dict[tuple[int, float], float]] = {}
        width = len(group)
        for row in rows:
            metric, q, value = row[width:]
            found.setdefault(tuple(row[:width]), {})[(int(metric), float(q))] = float(value)
        return {
            key: (values.get((0, 0.5)), values.get((0, 0.95)), values.get((1, 0.5)))
            for key, values in found.items()
        }

    def tag_counts(
        self,
        group: Group,
        since: datetime | None,
        until: datetime | None,
        widths: list[int],
        tags: list[str] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Calls per tag and group (tag first, then the group's columns, then calls); only `tags` when
        given. An event counts once per tag it carries, as `unnest(tags)` counts it."""
        keys = _keys(group)
        cells = f"SELECT tag, {_select(group, 0)}calls FROM {{source}} WHERE {{where}}"
        events = (
            f"SELECT tag, {keys}1 FROM (SELECT {_select(group, 1)}unnest(tags) AS tag FROM {{source}} "
            "WHERE {where})"
        )
        source, params = self._sources("rollup_tags", cells, events, since, until, _coarse(widths))
        only = ""
        if tags is not None:
            only = "WHERE tag IN (SELECT unnest(?::VARCHAR[]))"
            params = [*params, tags]
        return self.cursor.execute(
            f"SELECT tag, {keys}sum(calls) FROM ({source}) AS t(tag, {keys}calls) {only} GROUP BY ALL",
            params,
        ).fetchall()

    def feedback(self, since: datetime | None, until: datetime | None) -> str:
        """The name of a copy of the feedback on the events in range (event_id, score, comment, ts of
        the feedback, provider, model): from `rollup_feedback` but in marked minutes, where the feedback
        is joined with the copied events; read once, for the several figures made of it."""
        where, params = event_filters({**self.filters, "since": since, "until": until})
        marked = [m for m in self.marked if (since is None or m + MINUTE > micros(since) // 10**6)]
        marked = [m for m in marked if until is None or m * 10**6 < micros(until)]
        sql = (
            "SELECT event_id, score, comment, feedback_ts AS ts, provider, model FROM rollup_feedback "
            f"WHERE {where} AND NOT list_contains(?::BIGINT[], minute)"  # no join: a join's planning
        )  # asks the catalog for the tables' statistics again and again
        params = [*params, marked]
        if marked:
            minutes: list[tuple[int | None, int | None]] = [(m * 10**6, (m + MINUTE) * 10**6) for m in marked]
            self._copy("events", {_EVENTS: minutes})
            clause, minute_params = _ranges(minutes, "ts", _datetime)
            in_range, range_params = event_filters({"since": since, "until": until})
            copied = f"SELECT id, provider, model FROM {self.name('events')} WHERE {in_range} AND {clause}"
            sql += (
                " UNION ALL SELECT f.event_id, f.score, f.comment, f.ts, e.provider, e.model FROM feedback f "
                f"JOIN ({copied}) e ON e.id = f.event_id"
            )
            params += range_params + minute_params
        rows = self.cursor.execute(sql, params).to_arrow_table()
        name = self.name("feedback")
        self._copies["feedback"] = rows
        self.cursor.register(name, rows)
        return name

    def whole(self) -> tuple[int, int | None]:
        """How many events there are and the newest one's start (epoch us; None when there is none),
        whatever the filters."""
        # Unfiltered, the call's own copies serve (the day cells of all history copied here hold the
        # call's whole days too); filtered, a view of its own.
        filtered = any(value is not None for value in self.filters.values())
        everything = RollupView(self.cursor, self.marked, {}) if filtered else self
        try:
            # Minute cells too: the count is compared with the table's, and a marked hour read from
            # the events would count rows written around the store in its unmarked minutes.
            rows = everything._totals([], None, None, list(rollups.WIDTHS))
        finally:
            if everything is not self:
                everything.close()
        if not rows or rows[0][0] is None:
            return 0, None
        return int(rows[0][0]), None if rows[0][-1] is None else int(rows[0][-1])


def _select(group: Group, side: int) -> str:
    return "".join(f"{columns[side]} AS g{i}, " for i, columns in enumerate(group))


def _keys(group: Group) -> str:
    return "".join(f"g{i}, " for i in range(len(group)))


def marked_minutes(cursor: duckdb.DuckDBPyConnection) -> list[int]:
    """Every marked minute (epoch seconds), whoever folds it."""
    return [
        int(row[0])
        for row in cursor.execute(f"SELECT DISTINCT minute FROM {rollups.OPEN_MARKS} ORDER BY 1").fetchall()
    ]


@contextlib.contextmanager
def view(store: Store, filters: dict[str, Any]) -> Iterator[RollupView | None]:
    """A :class:`RollupView` over one snapshot of `store` (a fold of this process's marks asked for), or None
    when the rollups cannot answer from it: so many minutes are marked that the events would be read for
    most of the range anyway, or the cells do not count the events the table holds (rows written
    around the store, by a bulk load: every minute is then marked, and later folds rebuild them)."""
    rollups.fold_due(store)
    cursor = store.cursor()
    rebuild = False
    found: RollupView | None = None
    cursor.execute("BEGIN TRANSACTION")
    try:
        marked = marked_minutes(cursor)
        found = RollupView(cursor, marked, filters) if len(marked) <= MAX_MARKED else None
        if found is not None:
            calls, found.latest_us = found.whole()
            (count,) = cursor.execute("SELECT count(*) FROM events").fetchone() or (0,)
            rebuild = calls != count  # the cells' calls are exact: any difference is a write around them
        yield None if rebuild else found
    finally:
        if found is not None:
            found.close()
        with contextlib.suppress(duckdb.Error):
            cursor.execute("COMMIT")
    if rebuild:
        logger.warning("rollups: the cells do not count every event (written around the store): rebuilding")
        rollups.mark_everything(store)


def cell_group(width: int) -> tuple[str, str]:
    """A group by `width`-second bucket start: over the cells, and over the events."""
    return align("bucket", width), bucket_expression(width)


MODEL_GROUP: Group = [("provider", "provider"), ("model", "model")]
DIMENSIONS = DIMS
