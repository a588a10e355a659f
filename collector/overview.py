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

from bakeoff.collector import rollups
from bakeoff.collector.rollups import DIMS, MINUTE, ORIGIN_S, align, bin_of, bin_value, bucket_expression
from bakeoff.collector.store import Store, event_filters

logger = logging.getLogger("bakeoff.collector")

MAX_BRANCHES = 16  # ranges (of cells of one width, or of events) read by a branch each; more share one
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


def _branches(ranges: list[tuple[Any, Any]], column: str, convert: Any) -> list[tuple[str, list[Any]]]:
    """A filter per range (ordered), or past MAX_BRANCHES one for all: the range holding them and an OR
    of them (so that a scan still has plain bounds, and a query not hundreds of scans)."""
    ranges = sorted(ranges, key=lambda piece: -(2**63) if piece[0] is None else piece[0])
    if len(ranges) <= MAX_BRANCHES:
        return [_ranges([piece], column, convert) for piece in ranges]
    outer, outer_params = _ranges([(ranges[0][0], ranges[-1][1])], column, convert)
    inner, inner_params = _ranges(ranges, column, convert)
    return [(f"{outer} AND {inner}", outer_params + inner_params)]


class RollupView:
    """The overview's figures over one snapshot of a store, for `filters` (no tag): see :func:`view`."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, marked: list[int], filters: dict[str, Any]) -> None:
        self.cursor = cursor
        self.marked = marked
        self.filters = {k: v for k, v in filters.items() if k not in ("since", "until", "tag")}
        self.latest_us: int | None = None  # the newest event's start, set by view()

    def _sources(
        self, cells: str, events: str, since: datetime | None, until: datetime | None, widths: list[int]
    ) -> tuple[str, list[Any]]:
        """SQL: `cells` (SELECTs over rollup tables, `{where}` for their filter) over the cell ranges of
        the cover, UNION ALL `events` (SELECTs over `events`, `{where}` too) over its event ranges."""
        piece = cover(
            None if since is None else micros(since),
            None if until is None else micros(until),
            widths,
            self.marked,
        )
        where, params = event_filters(self.filters)
        # One branch per range, each with plain bounds: DuckDB prunes row groups (and DuckLake files) by
        # a range's bounds, never by an OR of ranges.
        parts, all_params = [], []
        for width in sorted({width for width, _, _ in piece.cells}):
            ranges = [(low, high) for w, low, high in piece.cells if w == width]
            for clause, bounds in _branches(ranges, "bucket", int):
                parts.append(cells.format(where=f"width = {width} AND {clause} AND {where}"))
                all_params += (bounds + params) * cells.count("{where}")
        for clause, bounds in _branches(piece.events, "ts", _datetime):
            parts.append(events.format(where=f"{clause} AND {where}"))
            all_params += (bounds + params) * events.count("{where}")
        if not parts:
            parts.append(cells.format(where="FALSE"))
        return " UNION ALL ".join(f"({part})" for part in parts), all_params

    def totals(
        self, group: Group, since: datetime | None, until: datetime | None, widths: list[int]
    ) -> list[tuple[Any, ...]]:
        """Per group (its columns first): calls, errors, input and output token sums (NULL where no
        event had a count), first and last start (epoch us); ordered by group."""
        keys = _keys(group)
        cells = (
            f"SELECT {_select(group, 0)}status, calls, input_tokens, input_counted, output_tokens, "
            "output_counted, min_us, max_us FROM rollup_cells WHERE {where}"
        )
        events = (
            f"SELECT {_select(group, 1)}status, 1, input_tokens, (input_tokens IS NOT NULL)::INT, "
            "output_tokens, (output_tokens IS NOT NULL)::INT, epoch_us(ts), epoch_us(ts) "
            "FROM events WHERE {where}"
        )
        source, params = self._sources(cells, events, since, until, widths)
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
        cells = f"SELECT {_select(group, 0)}metric, bin, n FROM rollup_bins WHERE {{where}}"
        events = (
            f"SELECT {_select(group, 1)}0 AS metric, {bin_of('latency_ms')} AS bin, 1 AS n FROM events "
            "WHERE {where} AND latency_ms IS NOT NULL UNION ALL "
            f"SELECT {_select(group, 1)}1, {bin_of('ttft_ms')}, 1 FROM events "
            "WHERE {where} AND ttft_ms IS NOT NULL"
        )
        source, params = self._sources(cells, events, since, until, widths)
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
        cells = f"SELECT tag, {_select(group, 0)}calls FROM rollup_tags WHERE {{where}}"
        events = (
            f"SELECT tag, {keys}1 FROM (SELECT {_select(group, 1)}unnest(tags) AS tag FROM events "
            "WHERE {where})"
        )
        source, params = self._sources(cells, events, since, until, widths)
        only = ""
        if tags is not None:
            only = "WHERE tag IN (SELECT unnest(?::VARCHAR[]))"
            params = [*params, tags]
        return self.cursor.execute(
            f"SELECT tag, {keys}sum(calls) FROM ({source}) AS t(tag, {keys}calls) {only} GROUP BY ALL",
            params,
        ).fetchall()

    def feedback_rows(self, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
        """SQL: the feedback on the events in range (event_id, score, comment, ts of the feedback,
        provider, model), from `rollup_feedback` but in marked minutes, where the events are joined."""
        where, params = event_filters({**self.filters, "since": since, "until": until})
        marked = [m for m in self.marked if (since is None or m + MINUTE > micros(since) // 10**6)]
        clause, minute_params = _ranges([(m * 10**6, (m + MINUTE) * 10**6) for m in marked], "ts", _datetime)
        sql = (
            "SELECT event_id, score, comment, feedback_ts AS ts, provider, model FROM rollup_feedback "
            f"WHERE {where} AND minute NOT IN (SELECT unnest(?::BIGINT[])) UNION ALL "
            "SELECT f.event_id, f.score, f.comment, f.ts, e.provider, e.model FROM feedback f JOIN "
            f"(SELECT id, provider, model FROM events WHERE {where} AND {clause}) e ON e.id = f.event_id"
        )
        return sql, [*params, marked, *params, *minute_params]

    def whole(self) -> tuple[int, int | None]:
        """How many events there are and the newest one's start (epoch us; None when there is none),
        whatever the filters."""
        rows = RollupView(self.cursor, self.marked, {}).totals([], None, None, list(rollups.WIDTHS))
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
