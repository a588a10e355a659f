"""All of the collector's SQL: schema migrations, event and feedback writes, reads.

:class:`Store` is the interface every part of the collector queries through (`cursor()`,
`transaction()` and the methods below), and its first implementation, the embedded DuckDB file (the
default). The second, :class:`~bakeoff.collector.ducklake.DuckLakeStore`, is the same class over a
DuckDB connection with a DuckLake attached and `USE`d: one SQL dialect runs on both. `store.kind`
("embedded" or "ducklake") says which, for what only one of them has (the file's full-text index).

One connection is opened per store; each thread works through its own cursor. Events are written by
the ingest pipeline (see :mod:`bakeoff.collector.ingest`), which decides what is new with a Bloom filter
of stored ids: new events pass at once, and only possible repeats are looked up exactly.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from bakeoff.collector import rollups
from bakeoff.collector.errors import StorageUnavailable
from bakeoff.collector.idfilter import IdFilter
from bakeoff.collector.migrations import MIGRATIONS, for_store

logger = logging.getLogger("bakeoff.collector")

# An event's stored sampling key (migration 10): DuckDB's hash is deterministic for a given release
# (pinned to 1.5.x), so every replica and every later sample computes the same key for an id.
SAMPLE_KEY_SQL = "hash(id)"

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FULL_MESSAGES = ("No space left on device", "Disk quota exceeded", "File too large")


def storage_failure(exc: BaseException) -> StorageUnavailable | None:
    """What a failure of the disk or of DuckDB means for clients (507 full, 503 failing), or None when
    `exc` is neither (a bug, or a client's mistake that validation should have caught)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return StorageUnavailable(f"the collector's disk is full ({exc.strerror}): retry later")
    message = str(exc)
    if isinstance(exc, duckdb.Error | OSError) and any(text in message for text in _FULL_MESSAGES):
        return StorageUnavailable("the collector's disk is full: retry later")
    if isinstance(exc, duckdb.FatalException | duckdb.IOException | OSError):
        return StorageUnavailable(f"the collector's storage is failing: {message}", status=503)
    if any(c.__module__ == "psycopg" and c.__name__ == "OperationalError" for c in type(exc).__mro__):
        return StorageUnavailable(f"the DuckLake catalog (PostgreSQL) is unreachable: {message}", status=503)
    return None


def first_occurrences(ids: list[str], excluded: set[str]) -> list[bool]:
    """For each id: whether to keep it, i.e. it is not in `excluded` and not seen earlier in `ids`."""
    seen = set(excluded)
    keep = []
    for event_id in ids:
        keep.append(event_id not in seen)
        seen.add(event_id)
    return keep


class Store:
    """The collector's database: the interface of both stores, and the embedded DuckDB file at `path`.

    `journal_dir` is where the ingest journal of a collector on this store lives (by default next to the
    file, `<path>.journal`).
    """

    kind = "embedded"

    def __init__(self, path: str, memory_limit: str = "512MB", journal_dir: str | None = None) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self.journal_dir: Path | None = Path(journal_dir or f"{path}.journal")
        self.connection = self._connect()
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ids: IdFilter | None = None  # built on the first insert
        self.migrate()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(self.path, config={"memory_limit": self.memory_limit})
        # A 10k-event batch is ~20 MB: with the default 16 MB threshold DuckDB would checkpoint after
        # nearly every commit, at several times the CPU per event. Checkpoints then happen on close.
        connection.execute("SET checkpoint_threshold = '1GB'")
        return connection

    def reopen(self) -> None:
        """Open the file again: after a fatal error (a checkpoint on a full disk) DuckDB refuses every
        query until the database is reopened; what was committed is in its file and write-ahead log."""
        with self._write_lock:
            with contextlib.suppress(duckdb.Error):  # an invalidated connection may not close cleanly
                self.connection.close()
            self.connection = self._connect()
            self._local = threading.local()  # cursors of the old connection are dead
            self._ids = None

    @property
    def where(self) -> str:
        """The store, as messages name it."""
        return self.path

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared connection."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._new_cursor()
        return cursor

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        return self.connection.cursor()

    def close(self) -> None:
        """Checkpoint and close; on a full disk the checkpoint fails and the write-ahead log keeps all."""
        try:
            self.connection.execute("CHECKPOINT")
        except duckdb.Error as exc:
            logger.warning("store: checkpoint on close failed (%s); the write-ahead log keeps the data", exc)
        try:
            self.connection.close()
        except duckdb.Error as exc:
            logger.warning("store: close failed: %s", exc)

    def migrate(self) -> int:
        """Apply the migrations not yet applied; return the schema version."""
        con = self.cursor()
        con.execute(
            for_store(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)",
                self.kind,
            )
        )
        applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        missing = [(version, sql) for version, sql in MIGRATIONS if version not in applied]
        # One transaction per migration on the file; one for all on DuckLake, where a commit costs a
        # dozen round trips to the catalog (and replicas migrate one at a time, see the DuckLake store).
        groups = [missing] if self.kind == "ducklake" and missing else [[m] for m in missing]
        for group in groups:
            con.execute("BEGIN")
            for version, sql in group:
                con.execute(for_store(sql, self.kind))
                con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
            con.execute("COMMIT")
        return max(v for v, _ in MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction; a failure of the disk or DuckDB becomes :class:`StorageUnavailable`."""
        cursor = self.cursor()
        with self._write_lock:
            cursor.execute("BEGIN")
            try:
                yield cursor
                cursor.execute("COMMIT")
            except BaseException as exc:
                _rollback(cursor)
                mapped = storage_failure(exc)
                if mapped is None or mapped is exc:
                    raise
                raise mapped from exc

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held by one writer of the whole store at a time for `name` (a dataset's): a check-then-write
        inside it sees the other writers' commits. The file's one process serialises its transactions
        already; DuckLake's replicas take a lock in the catalog."""
        yield

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
        return self._known_ids(cursor, candidates)

    def _known_ids(self, cursor: duckdb.DuckDBPyConnection, candidates: list[str]) -> set[str]:
        """Those of `candidates` stored: looked up exactly (the Bloom filter may be wrong about them)."""
        return ids_in_events(cursor, candidates)

    def append_events(self, table: pa.Table) -> list[str]:
        """Insert the rows of `table` in one commit; return the ids inserted. The caller has made sure
        none is stored yet (the DuckLake store also leaves out those another replica owns)."""
        cursor = self.cursor()
        with self._write_lock:
            ids = table.column("id").to_pylist()
            self._insert_rows(cursor, table)
            self._id_filter(cursor, table.num_rows).add(ids)
        return ids

    def _insert_rows(self, cursor: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
        # Reading a stream rather than a table (which DuckDB wraps in a pyarrow dataset scanner): every
        # call into DuckDB gives the GIL up and must win it back from the request thread. SQL, not the
        # relation API: `from_arrow(...).insert_into()` returns normally when its commit fails (a full
        # disk), where the statement raises; the count it returns is checked too. By name: a journal
        # written before a migration added a column lacks it, and its rows must still go in (the column
        # stays NULL).
        # The sampling key is computed here, where every event goes in (see migration 10).
        cursor.register("incoming_events", table.to_reader())
        cursor.execute("BEGIN")  # the rows and the overview rollups' marks of their minutes: one commit
        try:
            rollups.mark_rows(self, cursor, table)
            row = cursor.execute(
                f"INSERT INTO events BY NAME SELECT *, {SAMPLE_KEY_SQL} AS sample_key FROM incoming_events"
            ).fetchone()
            cursor.execute("COMMIT")
        except BaseException:
            _rollback(cursor)
            raise
        finally:
            cursor.unregister("incoming_events")
        inserted = int(row[0]) if row else 0
        if inserted != table.num_rows:
            raise StorageUnavailable(f"the store took {inserted} of {table.num_rows} rows", status=503)

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

    def insert_feedback(self, table: pa.Table) -> None:
        """Insert feedback rows (event_id, score, comment, ts) in one statement."""
        with self.transaction() as cursor:
            cursor.register("incoming_feedback", table)
            rollups.mark_feedback(self, cursor, table)
            try:
                cursor.execute(
                    "INSERT INTO feedback SELECT event_id, score, comment, ts FROM incoming_feedback"
                )
            finally:
                cursor.unregister("incoming_feedback")

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete events (their feedback, and OTLP log records as old) that started before
        `cutoff`; return how many events."""
        with self.transaction() as cursor:
            (count,) = cursor.execute("SELECT count(*) FROM events WHERE ts < ?", [cutoff]).fetchone() or (0,)
            rollups.mark_older_than(self, cursor, cutoff)
            cursor.execute(
                "DELETE FROM feedback WHERE event_id IN (SELECT id FROM events WHERE ts < ?)", [cutoff]
            )
            cursor.execute("DELETE FROM events WHERE ts < ?", [cutoff])
            # By their own time, joined or not: a record whose span never came is as old as its call.
            cursor.execute("DELETE FROM otlp_log_records WHERE time_ns < epoch_ns(?::TIMESTAMPTZ)", [cutoff])
        return int(count)

    # -- the read barrier of a cluster (see :mod:`bakeoff.collector.read_barrier`) ----------------------

    def journaled(self, group: int, first_of_batch: bool) -> None:
        """The ingest pipeline journaled (acknowledged) its `group`-th group of rows, the first since its
        applier last took the pending rows when `first_of_batch`. Nothing to do on the embedded file,
        whose one process sees its own pending rows."""

    def committed(self, group: int) -> None:
        """The ingest pipeline committed every group through `group` (0: its journal's replay)."""

    def await_replicas(self) -> list[str]:
        """Wait until every event the other replicas acknowledged is committed; return the replicas
        that could not be waited for. The embedded file has no other replicas."""
        return []

    # -- reads -------------------------------------------------------------------------------------------

    def query_events(self, filters: dict[str, Any], limit: int, offset: int) -> tuple[list[bytes], int]:
        """Events matching `filters` (their stored JSON), newest first, and how many match in all."""
        where, params = event_filters(filters)
        cursor = self.cursor()
        # One snapshot for both: a commit landing between them (the applier's, or another replica's)
        # made the total disagree with the page.
        cursor.execute("BEGIN")
        try:
            (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
            rows = cursor.execute(
                f"SELECT body FROM events WHERE {where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        finally:
            _rollback(cursor)  # nothing written: ending it is all
        return [row[0].encode() for row in rows], int(total)

    def get_event(self, event_id: str) -> bytes | None:
        """One event's JSON with its `feedback` (feedback that arrived before the event included)."""
        cursor = self.cursor()
        row = cursor.execute(
            f"SELECT body FROM events WHERE {matched('id', event_id)} = ?", [event_id]
        ).fetchone()
        if row is None:
            return None
        feedback = cursor.execute(
            "SELECT score, comment, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') "
            f"FROM feedback WHERE {matched('event_id', event_id)} = ? ORDER BY feedback.ts",
            [event_id],
        ).fetchall()
        scores = [{"score": score, "comment": comment, "ts": ts} for score, comment, ts in feedback]
        body: str = row[0]  # a JSON object: the feedback joins it without parsing it again
        return body[:-1].encode() + b',"feedback":' + orjson.dumps(scores) + b"}"

    def count_events(self) -> int:
        (count,) = self.cursor().execute("SELECT count(*) FROM events").fetchone() or (0,)
        return int(count)


def ids_in_events(cursor: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    """Those of `ids` in the events table."""
    column = matched("id", *ids)
    rows = cursor.execute(
        f"SELECT id FROM events WHERE {column} IN (SELECT unnest(?::VARCHAR[]))", [ids]
    ).fetchall()
    return {row[0] for row in rows}


def matched(column: str, *values: object) -> str:
    """`column` as a filter on `values` names it: as an expression when a value holds a NUL character.

    DuckLake prunes data files by writing a filter's values into its catalog query, where a NUL ends
    the string (a parser error); a filter on an expression is not pushed there. Event ids and filters
    may hold NUL characters (they are stored verbatim); on the embedded file nothing changes.
    """
    if any(isinstance(value, str) and "\x00" in value for value in values):
        return f"({column} || '')"
    return column


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # DuckDB may have ended the transaction with the failure
        cursor.execute("ROLLBACK")


def event_filters(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL WHERE clause (over `events`) and its parameters for the API's filters."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for column in ("model", "provider", "status", "project", "api"):
        if filters.get(column):
            clauses.append(f"{matched(column, filters[column])} = ?")
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
