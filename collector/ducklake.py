"""The DuckLake store: the collector's tables in a DuckLake (a PostgreSQL catalog and Parquet files on a
shared data path), so that any number of `bakeoff serve` processes — replicas — are one collector.

It is the embedded store's class over another connection: an in-memory DuckDB with the lake attached
and `USE`d, so every query of the collector runs unchanged. A new transaction (each statement of a
cursor in auto-commit) reads the latest snapshot, so a replica's reads see every other replica's commits,
and its routes wait for what the others acknowledged and have not committed yet (the read barrier of
:mod:`bakeoff.collector.read_barrier`, published through the ingest pipeline's hooks).

**Dedupe across replicas.** An event id must be stored once even when an SDK retries a batch against
another replica, concurrently, and DuckLake has no unique keys. Every replica acknowledges a request
once its rows are in its own journal (see :mod:`bakeoff.collector.ingest`), then its applier commits
them. Before committing, the applier *claims* the ids in a PostgreSQL table with a primary key
(`bakeoff_claims (id PRIMARY KEY, owner)`, in the catalog's database), owner = this replica's stable id
(kept in its journal folder)::

    INSERT INTO bakeoff_claims (id, owner) SELECT ... ON CONFLICT (id) DO NOTHING RETURNING id

and inserts only the ids it owns:

- an id it has just claimed: nobody can have stored it, since storing comes after claiming;
- an id it had claimed before (its earlier attempt failed, or it crashed between the claim and the
  commit, or between the commit and deleting the journal segment): it checks the lake for these and
  inserts those missing, so the journal's replay after a crash is idempotent;
- an id another replica owns is left out: that replica claimed it from its own journal, so it
  acknowledged it, holds it durably and will commit it (after a crash, on its restart).

So an id is inserted by its owner only (the primary key allows one), at most once (the owner checks
the lake for ids it had claimed before, and one process at a time holds a replica's identity), and an
acknowledged event is never dropped (it is either this replica's to commit or durably another's).

The 202's `duplicates` count covers the ids this replica knows when it journals a request: its own
pending and stored ids, and ids another replica has already claimed (the exact look-up of a possible
repeat goes to the claims). An id that two replicas journal at the same moment is acknowledged by both
and stored once.

Retention deletes the claims of the events it deletes (after committing the deletion), so the claims
hold the ids in the lake plus those in flight; a later event with a deleted id is stored again, as on
the embedded file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb
import pyarrow as pa

from bakeoff.collector.journal import ReplicaIdentity, hold_replica
from bakeoff.collector.read_barrier import TABLE_DDL, ReadBarrier, ReplicaMarks
from bakeoff.collector.store import Store, first_occurrences, ids_in_events, storage_failure

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("bakeoff.collector")

CATALOG_FORM = "postgresql://USER@HOST:PORT/DB"
_LAKE = "lake"  # the attached catalog's name inside the store's DuckDB
_LOCK_KEY = 0x0BA4E0FF  # the advisory lock that serialises attaching a new lake and migrating it
_CLAIMS_DDL = (
    "CREATE TABLE IF NOT EXISTS bakeoff_claims ("
    "id BYTEA PRIMARY KEY, owner TEXT NOT NULL, claimed_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
_DELETE_CHUNK = 50_000
_NAME_LOCKS = 0x0BA4E1  # the first key of the advisory locks on names (see exclusive), hashtext the second


class CatalogError(ValueError):
    """A `--catalog` that is not a PostgreSQL URL, or a PostgreSQL that cannot be reached."""


def conninfo(catalog: str) -> str:
    """The libpq connection string of a `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?k=v]` URL."""
    try:
        parts = urlsplit(catalog)
        port = parts.port
    except ValueError as exc:
        raise CatalogError(f"--catalog {catalog}: not a PostgreSQL URL ({exc}); use {CATALOG_FORM}") from None
    dbname = unquote(parts.path.lstrip("/"))
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not dbname or "/" in dbname:
        raise CatalogError(f"--catalog {catalog}: not a PostgreSQL URL; use {CATALOG_FORM}")
    fields = {"dbname": dbname, "host": parts.hostname}
    if port:
        fields["port"] = str(port)
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    fields.update(parse_qsl(parts.query))
    return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


def _quote(value: str) -> str:
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connect_catalog(catalog: str, timeout_s: int = 5) -> psycopg.Connection[Any]:
    """A psycopg connection (auto-commit) to the catalog's database; :class:`CatalogError` in one line
    when it cannot be reached."""
    import psycopg

    try:
        return psycopg.connect(conninfo(catalog), autocommit=True, connect_timeout=timeout_s)
    except psycopg.Error as exc:
        # libpq's first line says what failed ("... port 5432 failed: Connection refused"), then hints.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].removeprefix(
            "connection failed: "
        )
        raise CatalogError(f"--catalog {catalog}: cannot reach PostgreSQL: {reason}") from None


def load_extension(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD a DuckDB extension, installing it first from its Python package (offline) if needed."""
    try:
        connection.execute(f"LOAD {name}")
        return
    except duckdb.Error:
        pass
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the DuckDB extension {name} is missing: pip install 'bakeoff[ducklake]'")
    files = sorted(Path(spec.origin).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    if not files:
        raise RuntimeError(f"the package duckdb-extension-{name} holds no extension file")
    connection.execute(f"INSTALL '{files[-1]}'")
    connection.execute(f"LOAD {name}")


class DuckLakeStore(Store):
    """The collector's tables in the DuckLake of `catalog` (a PostgreSQL URL) and `data_path`.

    `journal_dir` is this replica's journal (its identity, the owner of its claims, is kept there);
    without one (a command run once, such as `bakeoff sample`) the process claims under an id of its own.
    """

    kind = "ducklake"

    def __init__(
        self,
        catalog: str,
        data_path: str,
        memory_limit: str = "512MB",
        journal_dir: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.data_path = data_path
        self._conninfo = conninfo(catalog)
        self._identity: ReplicaIdentity | None = None
        if journal_dir is not None:
            self._identity = hold_replica(journal_dir)
        self.replica_id = self._identity.replica_id if self._identity else f"local-{uuid.uuid4().hex}"
        self._pg: psycopg.Connection[Any] | None = None
        self._pg_lock = threading.Lock()
        self._marks: ReplicaMarks | None = None
        try:
            super().__init__(catalog, memory_limit, journal_dir)
            if journal_dir is not None:  # a replica: others' reads wait for what it acknowledges
                self._marks = ReplicaMarks(catalog, self.replica_id, _holds_rows(Path(journal_dir)))
        except BaseException:
            self._release()
            raise
        self._barrier = ReadBarrier(catalog, self.replica_id)
        self.journal_dir = Path(journal_dir) if journal_dir is not None else None

    @property
    def where(self) -> str:
        return f"DuckLake {self.catalog}"

    # -- connections ------------------------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(":memory:", config={"memory_limit": self.memory_limit})
        try:
            for name in ("ducklake", "postgres"):
                load_extension(connection, name)
            from bakeoff.collector import object_store  # it builds on this module

            data_path = str(self.data_path)
            if object_store.is_object_store(data_path):
                object_store.prepare(connection)
                data_path = object_store.with_slash(data_path)
            elif "://" not in data_path:
                data_path = str(Path(data_path).resolve()) + "/"
            attach = (
                f"ATTACH 'ducklake:postgres:{sql_text(self._conninfo)}' AS {_LAKE} "
                f"(DATA_PATH '{sql_text(data_path)}', DATA_INLINING_ROW_LIMIT 0)"
            )
            # No rows inlined in the catalog: PostgreSQL's text refuses NUL characters, which events may
            # hold; every commit writes Parquet. Two processes attaching a new catalog at once both try
            # to create its tables: one at a time.
            with self._serialised():
                connection.execute(attach)
            connection.execute(f"USE {_LAKE}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self.connection.cursor()
        cursor.execute(f"USE {_LAKE}")  # a cursor starts on DuckDB's own in-memory catalog
        return cursor

    def _catalog(self) -> psycopg.Connection[Any]:
        """The psycopg connection to the catalog's database, opened again if it was lost."""
        if self._pg is None or self._pg.closed:
            self._pg = connect_catalog(self.catalog)
        return self._pg

    def _sql(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """One statement on the catalog's database; its rows (none for a statement without)."""
        import psycopg

        with self._pg_lock:
            try:
                cursor = self._catalog().execute(query, params)
                return list(cursor.fetchall()) if cursor.description else []
            except psycopg.OperationalError:
                self._drop_catalog()  # reconnect on the next call; this one fails (and is retried)
                raise

    def _drop_catalog(self) -> None:
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.close()
        self._pg = None

    @contextlib.contextmanager
    def _serialised(self) -> Iterator[None]:
        self._sql("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            yield None
        finally:
            self._sql("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A session-level advisory lock on `name`, on a connection of its own (waiting for it holds up
        nothing else of this replica); PostgreSQL releases it with the session, when the process dies too.
        DuckLake has no unique keys: two replicas creating one dataset at once would both insert it."""
        with connect_catalog(self.catalog) as pg:
            pg.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_NAME_LOCKS, name))
            yield None

    def migrate(self) -> int:
        """Apply the missing migrations (one replica at a time) and make sure the claims table exists."""
        with self._serialised():
            self._sql(_CLAIMS_DDL)
            self._sql(TABLE_DDL)
            return super().migrate()

    def reopen(self) -> None:
        self._drop_catalog()
        super().reopen()

    def close(self) -> None:
        """Close the lake and the catalog connection; release the replica's identity."""
        try:
            self.connection.close()
        except duckdb.Error as exc:
            logger.warning("store: close failed: %s", exc)
        self._drop_catalog()
        self._barrier.close()
        self._release()

    def _release(self) -> None:
        if self._marks is not None:
            self._marks.close()  # its session's end tells the other replicas this one is gone
            self._marks = None
        if self._identity is not None:
            self._identity.release()
            self._identity = None

    # -- the read barrier (see :mod:`bakeoff.collector.read_barrier`) -----------------------------------

    def journaled(self, group: int, first_of_batch: bool) -> None:
        if self._marks is not None:
            self._marks.journaled(group, first_of_batch)

    def committed(self, group: int) -> None:
        if self._marks is not None:
            self._marks.committed(group)

    def await_replicas(self) -> list[str]:
        try:
            return self._barrier.wait()
        except Exception as exc:  # the catalog unreachable: 503, as for every other query of the lake
            mapped = storage_failure(exc)
            if mapped is None:
                raise
            raise mapped from exc

    # -- claims ------------------------------------------------------------------------------------------

    def _known_ids(self, cursor: duckdb.DuckDBPyConnection, candidates: list[str]) -> set[str]:
        """Those of `candidates` stored or owned by another replica (which will store them). An id this
        replica claimed counts only once it is in the lake: a claim without its rows (a crash between
        the two) is this replica's to commit, from its journal."""
        rows = self._sql("SELECT id, owner FROM bakeoff_claims WHERE id = ANY(%s)", (_keys(candidates),))
        others = {_id(key) for key, owner in rows if owner != self.replica_id}
        mine = [_id(key) for key, owner in rows if owner == self.replica_id]
        return others | (ids_in_events(cursor, mine) if mine else set())

    def claim(self, ids: list[str]) -> set[str]:
        """Claim `ids` for this replica; return those it owns and has not stored: newly claimed ones,
        and ones it claimed before that are not in the lake."""
        claimed = {
            _id(row[0])
            for row in self._sql(
                "INSERT INTO bakeoff_claims (id, owner) SELECT unnest(%s::bytea[]), %s "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                (_keys(ids), self.replica_id),
            )
        }
        rest = [i for i in ids if i not in claimed]
        if rest:
            earlier = [
                _id(row[0])
                for row in self._sql(
                    "SELECT id FROM bakeoff_claims WHERE id = ANY(%s) AND owner = %s",
                    (_keys(rest), self.replica_id),
                )
            ]
            if earlier:
                claimed |= set(earlier) - ids_in_events(self.cursor(), earlier)
        return claimed

    def append_events(self, table: pa.Table) -> list[str]:
        """Insert, in one commit, the rows of `table` this replica owns and has not stored (see the
        module docstring); return their ids."""
        ids = table.column("id").to_pylist()
        cursor = self.cursor()
        with self._write_lock:
            owned = self.claim(ids)
            if len(owned) < len(ids):
                table = table.filter(pa.array([event_id in owned for event_id in ids]))
                ids = table.column("id").to_pylist()
            if ids:
                self._insert_rows(cursor, table)
                self._id_filter(cursor, len(ids)).add(ids)
        return ids

    def insert_events(self, table: pa.Table) -> set[str]:
        ids = table.column("id").to_pylist()
        fresh = first_occurrences(ids, self.stored_ids(ids))
        if not all(fresh):
            table = table.filter(pa.array(fresh))
        return set(self.append_events(table)) if table.num_rows else set()

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention, then the claims of the deleted events (see the module docstring)."""
        rows = self.cursor().execute("SELECT id FROM events WHERE ts < ?", [cutoff]).fetchall()
        deleted = super().delete_older_than(cutoff)
        doomed = [row[0] for row in rows]
        for start in range(0, len(doomed), _DELETE_CHUNK):
            chunk = doomed[start : start + _DELETE_CHUNK]
            self._sql("DELETE FROM bakeoff_claims WHERE id = ANY(%s)", (_keys(chunk),))
        return deleted


def _holds_rows(journal: Path) -> bool:
    """Whether journal folder `journal` holds rows (of an earlier run, to be replayed)."""
    return any(segment.stat().st_size > 0 for segment in journal.glob("*.seg"))


def _keys(ids: list[str]) -> list[bytes]:
    """Event ids as claim keys: their UTF-8 bytes (PostgreSQL's text refuses the NUL an id may hold)."""
    return [event_id.encode() for event_id in ids]


def _id(key: object) -> str:
    """The event id of a claim key (psycopg gives `bytea` as bytes)."""
    assert isinstance(key, bytes | memoryview)
    return bytes(key).decode()


def sql_text(value: str) -> str:
    """`value` inside a SQL string literal."""
    return value.replace("'", "''")
