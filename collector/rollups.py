"""Summaries of the events for the dashboard's overview (rollups), kept up to date as events change.

The overview asks for counts, errors, latency and time-to-first-token quantiles, token sums and top
tags over any range; at 10M events a scan of `events` per request takes tens of seconds. The tables of
migration 7 hold the same figures per *cell*, a bucket of 60, 3,600 or 86,400 seconds (on
`time_bucket`'s origin, so they nest and line up with every bucket the overview draws) and a
(project, provider, model, status):

- `rollup_cells`: calls, token sums with how many events had a count (a sum over none is NULL), the
  first and last start in the cell;
- `rollup_bins`: latency (metric 0) and time to first token (metric 1) as a histogram over fixed
  log-scale bins (:func:`bin_of`): a quantile read from them is within :data:`QUANTILE_ERROR` of the
  exact one (see :mod:`bakeoff.collector.overview`);
- `rollup_tags`: calls per tag;
- `rollup_feedback`: each feedback score with its event's start, project, provider, model and status,
  so feedback over a range is read without joining the events.

**Marks.** Every write that changes events or feedback first *marks* the minutes it touches
(`rollup_marks`), in the same commit as the change (the store calls the `mark_*` functions
below): an insert marks its rows' minutes, retention the minutes it deletes from, feedback the minutes
of its events, an OTLP join the minutes of the events it rewrites. A *fold* (:func:`fold`) recomputes
the marked minutes from `events` (and the hours and days holding them from the minutes) in one
transaction, and records the marks it folded (`rollup_folded`; folded marks are deleted later, apart).
So at any snapshot, a cell with no mark inside it equals the events it summarises: readers take marked
minutes from `events` and the rest from the cells (exact either way), whatever is late, deleted or
rewritten, and whenever a process stopped.

A mark is folded by the process that made it (the `owner`: a DuckLake replica's id); marks commit with
the rows they mark, and a fold takes its snapshot under the store's write lock. Marks of no owner (the
backfill of migration 7, a bulk load) or older than :data:`ABANDONED_S` (a process that went away) are
folded by anyone. On DuckLake one replica folds at a time (a PostgreSQL advisory lock): two folds of one
minute would otherwise write its cells twice. Folds run in a thread of their own (:func:`fold_due`,
asked for by the applier after its commits and by the overview's reads; at most every
:data:`FOLD_INTERVAL_S`), so no commit waits for one; :func:`stop` ends it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import psycopg

    from bakeoff.collector.store import Store

logger = logging.getLogger("bakeoff.collector")

# Bucket starts as epoch seconds, on time_bucket's origin (Monday 2000-01-03, so weeks start on Mondays).
ORIGIN_S = 946857600
MINUTE = 60
WIDTHS = (60, 3600, 86400)  # the cells' widths; each divides the next
DIMS = ("project", "provider", "model", "status")
RATIO = 1.02  # successive bin edges; a bin's value is its geometric middle
LN_RATIO = math.log(RATIO)
QUANTILE_ERROR = math.sqrt(RATIO) - 1  # relative: ~0.995%
ZERO_BIN = -1_000_000  # latencies of 0 (ln is undefined; no positive double comes near this bin)
ABANDONED_S = 600.0  # a mark this old has no write of its owner in flight any more
FOLD_INTERVAL_S = 5.0
FOLD_CHUNK = 2000  # minutes per fold transaction: the write lock is held for one chunk at a time
_FOLD_LOCK_KEY = 0x62616B726F6C6C  # pg_try_advisory_lock's key: "bakroll"


def align(expression: str, width: int) -> str:
    """SQL: the start (epoch seconds) of the `width`-second bucket holding `expression` (epoch seconds)."""
    return f"(CAST(floor(({expression} - {ORIGIN_S}) / {width}) AS BIGINT) * {width} + {ORIGIN_S})"


def bucket_expression(width: int, micros: str = "epoch_us(ts)") -> str:
    """SQL: the start (epoch seconds) of the `width`-second bucket holding each event's `ts` (or the
    epoch microseconds `micros`), computed from the microseconds: time_bucket over TIMESTAMPTZ goes
    through time zones, 5x the cost."""
    start = f"CAST(floor(({micros} - {ORIGIN_S * 10**6}) / {width * 10**6}) AS BIGINT)"
    return f"({start} * {width} + {ORIGIN_S})"


def bin_of(column: str) -> str:
    """SQL: the histogram bin of `column` (a latency, never negative): floor(log_RATIO(value))."""
    return (
        f"CASE WHEN {column} > 0 THEN CAST(floor(ln({column}) / {LN_RATIO!r}) AS INTEGER) ELSE {ZERO_BIN} END"
    )


def bin_value(column: str) -> str:
    """SQL: the value a bin stands for, its geometric middle (0 for the bin of zeros)."""
    return f"CASE WHEN {column} = {ZERO_BIN} THEN 0.0 ELSE exp(({column} + 0.5) * {LN_RATIO!r}) END"


def bucket_start(seconds: int, width: int) -> int:
    """The start of the `width`-second bucket holding `seconds` (epoch), as :func:`align` computes it."""
    return (seconds - ORIGIN_S) // width * width + ORIGIN_S


def at(seconds: int) -> datetime:
    """Epoch seconds as a UTC datetime (a query parameter DuckDB compares with `ts`)."""
    return datetime.fromtimestamp(seconds, UTC)


# -- marks: called by the store, in or before the commit that changes events or feedback ---------------


def owner_of(store: Store) -> str:
    """Whose marks a store's writes make: its DuckLake replica, or the one process of an embedded file."""
    return str(getattr(store, "replica_id", "embedded"))


def _insert_marks(store: Store, cursor: duckdb.DuckDBPyConnection, select: str, params: list[Any]) -> None:
    """Mark the minutes `select` gives (one column), as this store's owner."""
    cursor.execute(
        f"INSERT INTO rollup_marks SELECT DISTINCT ?, minute, now() FROM ({select}) AS marked(minute)",
        [owner_of(store), *params],
    )


def mark_rows(store: Store, cursor: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Mark the minutes of the events in `table`, in the transaction that inserts or rewrites them."""
    if table.num_rows == 0:
        return
    micros = pc.unique(pc.cast(pc.cast(table.column("ts"), pa.timestamp("us", tz="UTC")), pa.int64()))
    starts = sorted({bucket_start(us // 10**6, MINUTE) for us in micros.to_pylist()})
    cursor.register("rollup_new_minutes", pa.table({"minute": pa.array(starts, pa.int64())}))
    try:
        _insert_marks(store, cursor, "SELECT minute FROM rollup_new_minutes", [])
    finally:
        cursor.unregister("rollup_new_minutes")


def mark_feedback(store: Store, cursor: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Mark the minutes of the stored events that the feedback rows of `table` are about (an event
    stored later marks its minute itself, and its fold joins the feedback stored before it)."""
    cursor.register("rollup_feedback_ids", pa.table({"id": table.column("event_id")}))
    try:
        _insert_marks(
            store,
            cursor,
            f"SELECT {bucket_expression(MINUTE)} FROM events "
            "WHERE id IN (SELECT id FROM rollup_feedback_ids)",
            [],
        )
    finally:
        cursor.unregister("rollup_feedback_ids")


def mark_older_than(store: Store, cursor: duckdb.DuckDBPyConnection, cutoff: datetime) -> None:
    """Mark the minutes retention is about to delete events from (those that started before `cutoff`)."""
    _insert_marks(store, cursor, f"SELECT {bucket_expression(MINUTE)} FROM events WHERE ts < ?", [cutoff])


def mark_everything(store: Store) -> None:
    """Mark every minute holding an event, for anyone to fold: after events were written around the
    store (a bulk load), the rollups are rebuilt from them by the next folds."""
    cursor = store.cursor()
    cursor.execute(
        f"INSERT INTO rollup_marks SELECT DISTINCT '', {bucket_expression(MINUTE)}, now() FROM events"
    )


# -- folds ---------------------------------------------------------------------------------------------


@dataclass
class _FoldState:
    """Per store: when it last folded, and (DuckLake) the catalog connection holding the fold lock."""

    last: float = 0.0
    lock: threading.Condition = field(default_factory=threading.Condition)
    folding: threading.Lock = field(default_factory=threading.Lock)  # one fold at a time
    thread: threading.Thread | None = None
    wanted: bool = False
    stopping: bool = False
    cleaned: float = 0.0  # when folded marks were last deleted
    catalog: Any = None


_states: weakref.WeakKeyDictionary[Any, _FoldState] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(store: Store) -> _FoldState:
    with _states_lock:
        state = _states.get(store)
        if state is None:
            state = _states[store] = _FoldState()
        return state


def fold_due(store: Store) -> None:
    """Have this process's folder thread of `store` fold soon (at most every FOLD_INTERVAL_S): off the
    caller's thread, so that the applier's next commit never waits for a fold."""
    state = _state(store)
    with state.lock:
        if state.thread is None:
            state.thread = threading.Thread(
                target=_fold_loop, args=(weakref.ref(store), state), name="bakeoff-rollups", daemon=True
            )
            state.thread.start()
        state.wanted = True
        state.lock.notify_all()


def stop(store: Store) -> None:
    """Stop the folder thread of `store`, if any (before the store closes: a thread inside DuckDB when
    the process exits aborts it)."""
    state = _state(store)
    with state.lock:
        thread, state.stopping = state.thread, True
        state.lock.notify_all()
    if thread is not None:
        thread.join(300)


def _fold_loop(ref: weakref.ref[Store], state: _FoldState) -> None:
    while True:
        with state.lock:
            while not state.wanted and not state.stopping:
                state.lock.wait()
            if state.stopping:
                return
            state.wanted = False
            wait = FOLD_INTERVAL_S - (time.monotonic() - state.last)
        if wait > 0:
            with state.lock:
                state.lock.wait(wait)  # stop() cuts it short
                if state.stopping:
                    return
        store = ref()
        if store is None:
            return
        try:
            fold(store)
        except Exception as exc:  # the store or the catalog failing: readers fall back on the marked minutes
            logger.warning("rollups: fold failed (%s); retried later", exc)
        del store


def fold(store: Store) -> int:
    """Recompute every minute this process may fold (see the module docstring); return how many."""
    state = _state(store)
    folded = 0
    with state.folding, _cluster_lock(store, state) as ours:
        if not ours:
            return 0  # another replica is folding; this one's marks wait for the next fold
        while True:
            count = _fold_chunk(store)
            folded += count
            if count < FOLD_CHUNK:
                break
        state.last = time.monotonic()
        if folded and state.last - state.cleaned >= CLEANUP_S:
            _clean_up(store)
            state.cleaned = state.last
    return folded


@contextlib.contextmanager
def _cluster_lock(store: Store, state: _FoldState) -> Iterator[bool]:
    """On DuckLake, the catalog's advisory lock for folds (yields False when another replica has it)."""
    catalog_url = getattr(store, "catalog", None)
    if store.kind != "ducklake" or not isinstance(catalog_url, str):
        yield True
        return
    from bakeoff.collector.ducklake import connect_catalog

    if state.catalog is None or state.catalog.closed:
        state.catalog = connect_catalog(catalog_url)
        weakref.finalize(store, state.catalog.close)  # the store has no hook of its own for it
    pg: psycopg.Connection[Any] = state.catalog
    try:
        row = pg.execute("SELECT pg_try_advisory_lock(%s)", [_FOLD_LOCK_KEY]).fetchone()
    except Exception:
        with contextlib.suppress(Exception):
            pg.close()
        raise
    if not row or not row[0]:
        yield False
        return
    try:
        yield True
    finally:
        pg.execute("SELECT pg_advisory_unlock(%s)", [_FOLD_LOCK_KEY])


# The marks not folded yet: a fold records what it folded in `rollup_folded` rather than deleting marks
# (on DuckLake, deleting from a table conflicts with any replica's concurrent insert into it).
OPEN_MARKS = (
    "(SELECT owner, minute, marked_at FROM rollup_marks AS m WHERE NOT EXISTS (SELECT 1 FROM rollup_folded "
    "AS f WHERE f.owner = m.owner AND f.minute = m.minute AND f.upto >= m.marked_at))"
)
CLEANUP_S = 60.0  # folded marks are deleted about this often (a failed attempt waits for the next one)


def _fold_chunk(store: Store) -> int:
    """Fold up to FOLD_CHUNK marked minutes in one transaction; return how many."""
    owner = owner_of(store)
    abandoned = datetime.now(UTC) - timedelta(seconds=ABANDONED_S)
    mine = "(owner = ? OR owner = '' OR marked_at < ?)"
    cursor = store.cursor()
    # The store's write lock only while the snapshot is taken (marks commit with their rows, so this is
    # belt and braces for writes around the store); the rest of the fold runs beside the writes.
    with store._write_lock:
        cursor.execute("BEGIN TRANSACTION")
        try:
            minutes = [
                int(row[0])
                for row in cursor.execute(
                    f"SELECT DISTINCT minute FROM {OPEN_MARKS} WHERE {mine} ORDER BY minute LIMIT ?",
                    [owner, abandoned, FOLD_CHUNK],
                ).fetchall()
            ]
        except BaseException:
            _rollback(cursor)
            raise
    try:
        if minutes:
            _recompute(cursor, minutes)
            cursor.register("rollup_dirty", pa.table({"bucket": pa.array(minutes, pa.int64())}))
            try:
                cursor.execute(
                    f"INSERT INTO rollup_folded SELECT owner, minute, max(marked_at) FROM {OPEN_MARKS} "
                    f"WHERE {mine} AND minute IN (SELECT bucket FROM rollup_dirty) GROUP BY ALL",
                    [owner, abandoned],
                )
            finally:
                cursor.unregister("rollup_dirty")
        cursor.execute("COMMIT")
    except BaseException:
        _rollback(cursor)
        raise
    return len(minutes)


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # DuckDB may have ended the transaction with the failure
        cursor.execute("ROLLBACK")


def _clean_up(store: Store) -> None:
    """Delete the marks folded, then the records of folds that cover no mark any more."""
    try:
        with store.transaction() as cursor:
            cursor.execute(
                "DELETE FROM rollup_marks AS m WHERE EXISTS (SELECT 1 FROM rollup_folded AS f "
                "WHERE f.owner = m.owner AND f.minute = m.minute AND f.upto >= m.marked_at)"
            )
            cursor.execute(
                "DELETE FROM rollup_folded AS f WHERE NOT EXISTS (SELECT 1 FROM rollup_marks AS m "
                "WHERE m.owner = f.owner AND m.minute = f.minute)"
            )
    except duckdb.Error as exc:  # a conflict with another replica's marks: the next clean-up retries
        logger.info("rollups: clean-up of folded marks deferred (%s)", exc)


_SUMS = (
    "sum(calls), sum(input_tokens), sum(input_counted), sum(output_tokens), sum(output_counted), "
    "min(min_us), max(max_us)"
)
_DIM_LIST = ", ".join(DIMS)


def _recompute(cursor: duckdb.DuckDBPyConnection, minutes: list[int]) -> None:
    """The cells of `minutes` from the events, then those of their hours and days from the minutes."""
    low, high = at(minutes[0]), at(minutes[-1] + MINUTE)
    events = (
        f"(SELECT *, {bucket_expression(MINUTE)} AS bucket FROM events WHERE ts >= ? AND ts < ?) AS e "
        "WHERE bucket IN (SELECT bucket FROM rollup_dirty)"
    )
    statements = [
        f"INSERT INTO rollup_cells SELECT {MINUTE}, bucket, {_DIM_LIST}, count(*), sum(input_tokens), "
        "count(input_tokens), sum(output_tokens), count(output_tokens), min(epoch_us(ts)), max(epoch_us(ts)) "
        f"FROM {events} GROUP BY ALL",
        f"INSERT INTO rollup_bins SELECT {MINUTE}, bucket, {_DIM_LIST}, 0, {bin_of('latency_ms')}, count(*) "
        f"FROM {events} AND latency_ms IS NOT NULL GROUP BY ALL",
        f"INSERT INTO rollup_bins SELECT {MINUTE}, bucket, {_DIM_LIST}, 1, {bin_of('ttft_ms')}, count(*) "
        f"FROM {events} AND ttft_ms IS NOT NULL GROUP BY ALL",
        f"INSERT INTO rollup_tags SELECT {MINUTE}, bucket, {_DIM_LIST}, tag, count(*) "
        f"FROM (SELECT bucket, {_DIM_LIST}, unnest(tags) AS tag FROM {events}) GROUP BY ALL",
        "INSERT INTO rollup_feedback SELECT f.event_id, f.score, f.comment, f.ts, e.ts, e.bucket, "
        f"{', '.join('e.' + d for d in DIMS)} FROM feedback f JOIN (SELECT id, ts, bucket, {_DIM_LIST} "
        f"FROM {events}) e ON e.id = f.event_id",
    ]
    _replace(cursor, MINUTE, minutes, ["rollup_feedback"], statements, [low, high])
    finer = MINUTE
    for width in WIDTHS[1:]:
        buckets = sorted({bucket_start(m, width) for m in minutes})
        source = (
            f"(SELECT {align('bucket', width)} AS bucket, * EXCLUDE (width, bucket) FROM {{table}} "
            f"WHERE width = {finer} AND bucket >= ? AND bucket < ?) AS c "
            "WHERE bucket IN (SELECT bucket FROM rollup_dirty)"
        )
        statements = [
            f"INSERT INTO rollup_cells SELECT {width}, bucket, {_DIM_LIST}, {_SUMS} "
            f"FROM {source.format(table='rollup_cells')} GROUP BY ALL",
            f"INSERT INTO rollup_bins SELECT {width}, bucket, {_DIM_LIST}, metric, bin, sum(n) "
            f"FROM {source.format(table='rollup_bins')} GROUP BY ALL",
            f"INSERT INTO rollup_tags SELECT {width}, bucket, {_DIM_LIST}, tag, sum(calls) "
            f"FROM {source.format(table='rollup_tags')} GROUP BY ALL",
        ]
        _replace(cursor, width, buckets, [], statements, [buckets[0], buckets[-1] + width])
        minutes, finer = buckets, width


def _replace(
    cursor: duckdb.DuckDBPyConnection,
    width: int,
    buckets: list[int],
    by_minute: list[str],
    inserts: list[str],
    bounds: list[Any],
) -> None:
    """Delete the cells of `buckets` (of `width`) and of the tables in `by_minute` (keyed by `minute`),
    then run `inserts` (each reads `rollup_dirty`, the buckets, and takes `bounds` as parameters)."""
    cursor.register("rollup_dirty", pa.table({"bucket": pa.array(buckets, pa.int64())}))
    try:
        for table in ("rollup_cells", "rollup_bins", "rollup_tags"):
            cursor.execute(
                f"DELETE FROM {table} WHERE width = ? AND bucket IN (SELECT bucket FROM rollup_dirty)",
                [width],
            )
        for table in by_minute:
            cursor.execute(f"DELETE FROM {table} WHERE minute IN (SELECT bucket FROM rollup_dirty)")
        for statement in inserts:
            cursor.execute(statement, bounds)
    finally:
        cursor.unregister("rollup_dirty")
