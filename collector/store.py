"""All of the collector's SQL over one DuckDB file: schema migrations, event and feedback writes, reads.

One connection is opened per store; each thread works through its own cursor. Writes of events come
from a single writer thread (see :mod:`bakeoff.collector.ingest`), so idempotency needs no lock: a Bloom
filter of stored ids lets new events through at once, and only possible repeats are looked up exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from bakeoff.collector.idfilter import IdFilter
from bakeoff.collector.migrations import MIGRATIONS


class Store:
    """The collector's DuckDB database."""

    def __init__(self, path: str, memory_limit: str = "512MB") -> None:
        self.path = path
        self.connection = duckdb.connect(path, config={"memory_limit": memory_limit})
        # A 10k-event batch is ~20 MB: with the default 16 MB threshold DuckDB would checkpoint after
        # nearly every commit, at several times the CPU per event. Checkpoints then happen on close.
        self.connection.execute("SET checkpoint_threshold = '1GB'")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ids: IdFilter | None = None  # built on the first insert
        self.migrate()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared connection."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.connection.cursor()
        return cursor

    def close(self) -> None:
        self.connection.execute("CHECKPOINT")
        self.connection.close()

    def migrate(self) -> int:
        """Apply the migrations not yet applied; return the schema version."""
        con = self.connection
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
        )
        applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, sql in MIGRATIONS:
            if version in applied:
                continue
            con.execute("BEGIN")
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
            con.execute("COMMIT")
        return max(v for v, _ in MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self.cursor()
        with self._write_lock:
            cursor.execute("BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------------------

    def _id_filter(self, cursor: duckdb.DuckDBPyConnection, incoming: int) -> IdFilter:
        """The filter of stored ids, (re)built from the table when missing or full."""
        if self._ids is None or self._ids.count + incoming > self._ids.capacity:
            stored = [row[0] for row in cursor.execute("SELECT id FROM events").fetchall()]
            self._ids = IdFilter(max(1_000_000, 4 * (len(stored) + incoming)))
            self._ids.add(stored)
        return self._ids

    def insert_events(self, table: pa.Table) -> set[str]:
        """Insert the rows of `table` whose id is not stored yet, in one commit; return the ids inserted."""
        ids = table.column("id").to_pylist()
        cursor = self.cursor()
        with self._write_lock:  # every insert of events holds it: the look-up below cannot go stale
            id_filter = self._id_filter(cursor, len(ids))
            candidates = [i for i, maybe in zip(ids, id_filter.might_contain(ids), strict=True) if maybe]
            if candidates:  # possible repeats: look them up exactly
                existing = {
                    row[0]
                    for row in cursor.execute(
                        "SELECT id FROM events WHERE id IN (SELECT unnest(?::VARCHAR[]))", [candidates]
                    ).fetchall()
                }
                if existing:
                    table = table.filter(pa.array([i not in existing for i in ids]))
                    ids = table.column("id").to_pylist()
            # One auto-committed statement rather than BEGIN/INSERT/COMMIT, reading a stream rather
            # than a table (which DuckDB wraps in a pyarrow dataset scanner): every call into DuckDB
            # gives the GIL up and must win it back from the request thread.
            cursor.from_arrow(table.to_reader()).insert_into("events")
            id_filter.add(ids)
        return set(ids)

    def insert_feedback(self, rows: list[tuple[str, float, str | None, datetime]]) -> None:
        with self.transaction() as cursor:
            cursor.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?)", rows)

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete events (and their feedback) that started before `cutoff`; return how many."""
        with self.transaction() as cursor:
            (count,) = cursor.execute("SELECT count(*) FROM events WHERE ts < ?", [cutoff]).fetchone() or (0,)
            cursor.execute(
                "DELETE FROM feedback WHERE event_id IN (SELECT id FROM events WHERE ts < ?)", [cutoff]
            )
            cursor.execute("DELETE FROM events WHERE ts < ?", [cutoff])
        return int(count)

    # -- reads -------------------------------------------------------------------------------------------

    def query_events(
        self, filters: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Events matching `filters`, newest first, and how many match in all."""
        where, params = event_filters(filters)
        cursor = self.cursor()
        (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
        rows = cursor.execute(
            f"SELECT body FROM events WHERE {where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [orjson.loads(row[0]) for row in rows], int(total)

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event with its feedback (feedback that arrived before the event included)."""
        cursor = self.cursor()
        row = cursor.execute("SELECT body FROM events WHERE id = ?", [event_id]).fetchone()
        if row is None:
            return None
        event: dict[str, Any] = orjson.loads(row[0])
        feedback = cursor.execute(
            "SELECT score, comment, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') "
            "FROM feedback WHERE event_id = ? ORDER BY feedback.ts",
            [event_id],
        ).fetchall()
        event["feedback"] = [
            {"score": score, "comment": comment, "ts": ts} for score, comment, ts in feedback
        ]
        return event

    def count_events(self) -> int:
        (count,) = self.cursor().execute("SELECT count(*) FROM events").fetchone() or (0,)
        return int(count)


def event_filters(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL WHERE clause (over `events`) and its parameters for the API's filters."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for column in ("model", "provider", "status", "project", "api"):
        if filters.get(column):
            clauses.append(f"{column} = ?")
            params.append(filters[column])
    if filters.get("tag"):
        clauses.append("list_contains(tags, ?)")
        params.append(filters["tag"])
    if filters.get("since"):
        clauses.append("ts >= ?")
        params.append(filters["since"])
    if filters.get("until"):
        clauses.append("ts < ?")
        params.append(filters["until"])
    return " AND ".join(clauses), params
