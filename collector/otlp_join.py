"""The join of GenAI log records to their spans' events, whichever of the two arrives first.

Records are kept in `otlp_log_records` (migration 4), never only folded in: the joined event is always
:func:`~bakeoff.collector.otlp_logs.joined` of the span's event and *all* of its records, so a re-sent
export (or a record arriving twice, or late) gives the same event again. Two paths meet:

- **records** (`POST /v1/logs`) are stored in one commit; then, once every event acknowledged so far is
  committed (the ingest pipeline's barrier), they are folded into those of their events that are stored;
- **a span's event** (`POST /v1/traces`) gets the records already stored folded in before it is
  submitted; once it is acknowledged, records that arrived meanwhile are looked for again and, if any,
  folded into the stored event once it is committed.

Nothing is missed: a trace export looks for records after its events are acknowledged, and a logs
export waits for the events acknowledged before its records were committed. Either the trace export's
second look sees the records, or the records were committed after it, hence after its acknowledgement,
and their barrier covers its events. Both answer only then, so a read after both answers (through the
read barrier of :mod:`bakeoff.collector.deps`) sees the joined event.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from bakeoff.collector import rollups, text_search
from bakeoff.collector.errors import StorageUnavailable
from bakeoff.collector.idfilter import IdFilter
from bakeoff.collector.ingest import IngestPipeline
from bakeoff.collector.otlp_logs import LogPart, joined
from bakeoff.collector.rows import EVENT_SCHEMA, to_columns
from bakeoff.collector.store import Store
from bakeoff.schema import Event, EventValidationError, encode_event, validate_event

logger = logging.getLogger("bakeoff.collector")

_RECORD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("event_id", pa.string()),
        ("name", pa.string()),
        ("time_ns", pa.int64()),
        ("position", pa.int32()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("part", pa.string()),
    ]
)
# What a join may change; the id, where the event came from and when it was received stay.
_JOINED_COLUMNS = [f.name for f in EVENT_SCHEMA if f.name not in ("id", "source", "received_at")]
_UPDATE = (
    "UPDATE events SET "
    + ", ".join(f"{name} = joined_events.{name}" for name in _JOINED_COLUMNS)
    + " FROM joined_events WHERE events.id = joined_events.id"
)
# The ids looked up arrive as a registered Arrow table: a list parameter costs DuckDB far more to bind.
_COUNTS = (
    "SELECT event_id, count(DISTINCT record_id) FROM otlp_log_records "
    "WHERE event_id IN (SELECT id FROM otlp_wanted_ids) GROUP BY event_id"
)
_PARTS = (
    "SELECT record_id, event_id, part FROM otlp_log_records "
    "WHERE event_id IN (SELECT id FROM otlp_wanted_ids) "
    "ORDER BY event_id, time_ns, received_at, position, record_id"
)
_BODIES = "SELECT id, body FROM events WHERE id IN (SELECT id FROM otlp_wanted_ids)"
_NEW_RECORDS = (
    " WHERE record_id NOT IN (SELECT record_id FROM otlp_log_records "
    "WHERE event_id IN (SELECT id FROM otlp_wanted_ids))"
)


def _query(cursor: Any, sql: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """The rows of `sql` over the table `otlp_wanted_ids` of `ids`."""
    cursor.register("otlp_wanted_ids", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        return list(cursor.execute(sql).fetchall())
    finally:
        cursor.unregister("otlp_wanted_ids")


class LogJoin:
    """Stores GenAI log records and folds them into their events, over one store.

    On the embedded file a Bloom filter of the event ids with records stored answers "surely none" for
    the spans of most trace exports without a query; on DuckLake other replicas store records too, so
    the table is always asked.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._ids: IdFilter | None = None  # built on first use

    def _filter(self, cursor: Any, incoming: int) -> IdFilter:
        if self._ids is None or self._ids.count + incoming > self._ids.capacity:
            stored = [
                row[0] for row in cursor.execute("SELECT DISTINCT event_id FROM otlp_log_records").fetchall()
            ]
            self._ids = IdFilter(max(100_000, 4 * (len(stored) + incoming)))
            self._ids.add(stored)
        return self._ids

    def _candidates(self, cursor: Any, event_ids: list[str]) -> list[str]:
        """Those of `event_ids` that may have records stored."""
        if self.store.kind != "embedded" or not event_ids:
            return event_ids
        with self._lock:
            maybe = self._filter(cursor, 0).might_contain(event_ids)
        return [key for key, hit in zip(event_ids, maybe, strict=True) if hit]

    def store_records(self, parts: list[LogPart]) -> int:
        """Store the records not stored yet, in one commit; return how many were new."""
        unique = list({part.record_id: part for part in reversed(parts)}.values())[::-1]
        now = datetime.now(UTC)
        columns: list[list[Any]] = [
            [p.record_id for p in unique],
            [p.event_id for p in unique],
            [p.name for p in unique],
            [p.time_ns for p in unique],
            [p.position for p in unique],
            [now] * len(unique),
            [orjson.dumps(p.part).decode() for p in unique],
        ]
        table = pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(columns, _RECORD_SCHEMA, strict=True)],
            schema=_RECORD_SCHEMA,
        )
        event_ids = sorted({p.event_id for p in unique})
        with self.store.transaction() as cursor:  # the check and the insert under the store's write lock
            known = self._candidates(cursor, event_ids)
            cursor.register("incoming_records", table)
            cursor.register("otlp_wanted_ids", pa.table({"id": pa.array(known, pa.string())}))
            try:  # a record sent again is not stored again
                row = cursor.execute(
                    "INSERT INTO otlp_log_records SELECT * FROM incoming_records"
                    + (_NEW_RECORDS if known else "")
                ).fetchone()
            finally:
                cursor.unregister("otlp_wanted_ids")
                cursor.unregister("incoming_records")
            if self.store.kind == "embedded":
                # Before the commit: a concurrent export of the same records, next under the write lock,
                # must find them (a failed commit leaves only false positives behind).
                with self._lock:
                    self._filter(cursor, len(event_ids)).add(event_ids)
        return int(row[0]) if row else 0

    def _counts(self, cursor: Any, event_ids: list[str]) -> dict[str, int]:
        """How many records each of `event_ids` has stored (those with none left out)."""
        candidates = self._candidates(cursor, event_ids)
        if not candidates:
            return {}
        return {key: int(count) for key, count in _query(cursor, _COUNTS, candidates)}

    def _parts(self, cursor: Any, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The parts of the records of `event_ids`, in the order they happened; a record stored twice
        (two replicas taking the same export at once) counts once."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        seen: set[str] = set()
        for record_id, event_id, part in _query(cursor, _PARTS, event_ids):
            if record_id not in seen:
                seen.add(record_id)
                found[event_id].append(orjson.loads(part))
        return found

    def attach(self, events: list[Event]) -> tuple[list[Event], dict[str, int]]:
        """`events` with the records already stored folded in, and how many records each got."""
        cursor = self.store.cursor()
        counts = self._counts(cursor, [event.id for event in events])
        if not counts:
            return events, {}
        found = self._parts(cursor, list(counts))
        joined_events = [_joined(e, found[e.id]) if e.id in found else e for e in events]
        return joined_events, {key: len(parts) for key, parts in found.items()}

    def arrived_since(self, event_ids: list[str], seen: dict[str, int]) -> list[str]:
        """Those of `event_ids` with more records stored now than `seen` says they had."""
        counts = self._counts(self.store.cursor(), event_ids)
        return [key for key, count in counts.items() if count > seen.get(key, 0)]

    def fold_stored(self, event_ids: list[str]) -> int:
        """Fold the records of `event_ids` into those of the events that are stored; return how many
        events changed. Reading and writing are one transaction: concurrent folds of one event follow
        each other, the later one with every record committed before it."""
        if self.store.kind == "embedded":  # its Bloom filter knows every stored event; a replica's does not
            event_ids = sorted(self.store.stored_ids(event_ids))  # before the transaction: it may lock
            if not event_ids:
                return 0
        # Around the transaction: the rewritten events leave the word index as they change.
        with text_search.rewriting(self.store) as reindex, self.store.transaction() as cursor:
            found = self._parts(cursor, event_ids)
            if not found:
                return 0
            rows = _query(cursor, _BODIES, list(found))
            changed = []
            for key, body in rows:
                event = _joined(validate_event(orjson.loads(body)), found[key])
                if encode_event(event).decode() != body:
                    changed.append(event)
            if not changed:
                return 0
            table = to_columns(changed, "otlp", datetime.now(UTC))
            rollups.mark_rows(self.store, cursor, table)  # tokens may change: the overview's sums follow
            cursor.register("joined_events", table)
            try:
                cursor.execute(_UPDATE)
            finally:
                cursor.unregister("joined_events")
            reindex(cursor, [event.id for event in changed])
        return len(changed)


def _joined(event: Event, parts: list[dict[str, Any]]) -> Event:
    """The joined event; the span's own when the records cannot make a valid one (never the sender's
    mistake turned into a failed commit)."""
    try:
        return joined(event, parts)
    except (EventValidationError, msgspec.DecodeError, ValueError, TypeError, KeyError) as exc:
        logger.warning("otlp logs: the records of %s were not joined: %s", event.id, exc)
        return event


def log_join(app: Any) -> LogJoin:
    """The app's join, made on first use over its store."""
    join: LogJoin | None = getattr(app.state, "otlp_log_join", None)
    if join is None or join.store is not app.state.store:
        join = app.state.otlp_log_join = LogJoin(app.state.store)
    return join


async def after_logs(join: LogJoin, ingest: IngestPipeline, parts: list[LogPart]) -> None:
    """Store records, then fold them into the events of theirs acknowledged so far."""
    await asyncio.to_thread(join.store_records, parts)
    waiter = ingest.barrier()
    if waiter is not None:
        await asyncio.wrap_future(waiter)
    else:
        health = ingest.health()
        if health["status"] == "degraded" and health["uncommitted"]:
            raise StorageUnavailable(
                "the log records are stored, but events they belong to are not committed yet: retry later",
                status=503,
            )
    await asyncio.to_thread(join.fold_stored, sorted({part.event_id for part in parts}))


async def submit_spans(join: LogJoin, ingest: IngestPipeline, events: list[Event]) -> None:
    """Submit the events of spans with their stored records; answers once they are durable and once
    records that arrived meanwhile are folded in."""
    events, seen = await asyncio.to_thread(join.attach, events)
    await asyncio.wrap_future(ingest.submit(events, source="otlp"))
    late = await asyncio.to_thread(join.arrived_since, [event.id for event in events], seen)
    if not late:
        return
    waiter = ingest.barrier()
    if waiter is not None:
        await asyncio.wrap_future(waiter)
    await asyncio.to_thread(join.fold_stored, late)
