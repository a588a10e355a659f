"""All of the collector's SQL over one DuckDB file: schema migrations, event and feedback writes, reads.

One connection is opened per store; each thread works through its own cursor. Events are written by
the ingest pipeline (see :mod:`bakeoff.collector.ingest`), which decides what is new with a Bloom filter
of stored ids: new events pass at once, and only possible repeats are looked up exactly.
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


def first_occurrences(ids: list[str], excluded: set[str]) -> list[bool]:
    """For each id: whether to keep it, i.e. it is not in `excluded` and not seen earlier in `ids`."""
    seen = set(excluded)
    keep = []
    for event_id in ids:
        keep.append(event_id not in seen)
        seen.add(event_id)
    return keep


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

    def stored_ids(self, ids: list[str]) -> set[str]:
        """Those of `ids` already stored: the Bloom filter clears most, the rest are looked up exactly."""
        cursor = self.cursor()
        # Without the write lock, so that it never waits for a commit: the filter only gains ids, and
        # a writer adds them (or swaps in a rebuilt filter) after committing them, so a filter read
        # here may lack only ids whose writer still knows them as pending (see the ingest pipeline).
        id_filter = self._ids
        if id_filter is None:
            with self._write_lock:
                id_filter = self._id_filter(cursor, 0)
        candidates = [i for i, maybe in zip(ids, id_filter.might_contain(ids), strict=True) if maybe]
        if not candidates:
            return set()
        rows = cursor.execute(
            "SELECT id FROM events WHERE id IN (SELECT unnest(?::VARCHAR[]))", [candidates]
        ).fetchall()
        return {row[0] for row in rows}

    def append_events(self, table: pa.Table) -> None:
        """Insert every row of `table` in one commit; the caller has made sure none is stored yet."""
        cursor = self.cursor()
        with self._write_lock:
            # One auto-committed statement rather than BEGIN/INSERT/COMMIT, reading a stream rather
            # than a table (which DuckDB wraps in a pyarrow dataset scanner): every call into DuckDB
            # gives the GIL up and must win it back from the request thread.
            cursor.from_arrow(table.to_reader()).insert_into("events")
            self._id_filter(cursor, table.num_rows).add(table.column("id").to_pylist())

    def insert_events(self, table: pa.Table) -> set[str]:
        """Insert the rows of `table` whose id is not stored yet, in one commit; return the ids inserted.

        For writers other than the ingest pipeline (imports, recovery, tests), which must not run
        concurrently with it on the same ids.
        """
        ids = table.column("id").to_pylist()
        fresh = first_occurrences(ids, self.stored_ids(ids))
        if not all(fresh):
            table = table.filter(pa.array(fresh))
        if table.num_rows:
            self.append_events(table)
        return set(table.column("id").to_pylist())

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
