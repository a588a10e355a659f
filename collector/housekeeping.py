"""Housekeeping of a DuckLake store, once for the whole cluster: retention, small files merged, old
snapshots expired and the files nobody reads any more removed.

Every replica's commit writes Parquet files of its own, so a lake fed by a few replicas in batches of a
few thousand rows gathers thousands of small files a day, and every read opens them all. A *round*:

1. retention (when configured): events that started before the cutoff deleted, with their feedback;
   files mostly deleted rewritten (`ducklake_rewrite_data_files`);
2. rows inlined in the catalog written out; the overview's rollup tables kept sorted by (width, bucket)
   and their files holding deleted rows rewritten (every fold deletes the cells it recomputes, so
   nearly every file a fold wrote has a few rows deleted, and DuckLake merges no file with deletions);
   then adjacent small files merged (`ducklake_merge_adjacent_files`);
3. snapshots older than `keep_s` expired (`ducklake_expire_snapshots`), then the files only they
   referenced removed (`ducklake_cleanup_old_files`), and the files of commits that never happened (a
   replica killed while writing) too (`ducklake_delete_orphaned_files`), also once older than `keep_s`:
   a reader still on an older snapshot, or a commit still under way, keeps its files.

Every replica runs the loop; a round runs on one of them per interval. Two things in the catalog's
PostgreSQL make it so: a session-level advisory lock taken with `pg_try_advisory_lock` (a round runs on
one replica at a time; the lock goes with the session if the replica dies) and, under that lock, a lease
row per job (`retention`, `files`) in `bakeoff_housekeeping` whose `started_at` a replica moves to now
only when it is older than the interval (a round per interval across the cluster, not one per replica).
Retention therefore deletes once for the cluster, and two replicas never merge the same files at once.
A replica started without `--retention-days` takes only the `files` lease.

On the embedded DuckDB file there is one process and nothing to merge: retention runs as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

if TYPE_CHECKING:
    import psycopg

    from bakeoff.collector.store import Store

logger = logging.getLogger("bakeoff.collector")

# pg_try_advisory_lock's key: "bakeoff housekeeping", any fixed 64-bit number that nothing else uses.
LOCK_KEY = 0x62616B656F6668
LEASE_TABLE = "bakeoff_housekeeping"
# The overview reads the rollups by (width, bucket) ranges: sorted so, a merged file keeps each width's
# cells apart and a scan of hour or day cells skips the row groups of minute cells (the embedded file
# has no SORTED BY, and needs none: its table is one file with zone maps of insertion order).
SORTED_TABLES = ("rollup_cells", "rollup_bins", "rollup_tags")
SORT_KEY = "width, bucket"
INTERVAL_S = 600.0  # a round per ten minutes across the cluster
KEEP_S = 3600.0  # snapshots and unreferenced files younger than this stay (readers may be on them)


class LakeStore(Protocol):
    """What housekeeping needs of a DuckLake store."""

    @property
    def catalog(self) -> str:
        """The catalog's `postgresql://` URL."""
        ...

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor whose current database is the lake."""
        ...

    def delete_older_than(self, cutoff: datetime) -> int: ...


@dataclass(frozen=True)
class Round:
    """What one round did."""

    deleted_events: int  # by retention
    merged_files: int  # small files merged into larger ones
    written_files: int  # the larger ones
    expired_snapshots: int
    removed_files: int  # unreferenced (after merges and expiry) or orphaned, removed from the data path


def replica_name() -> str:
    """Who took a lease, for the operator reading `bakeoff_housekeeping`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_round(
    store: LakeStore,
    *,
    interval_s: float = INTERVAL_S,
    keep_s: float = KEEP_S,
    retention_days: float | None = None,
) -> Round | None:
    """Run a round if no replica runs one now and none started one in the last `interval_s`.

    Returns what it did, or None when the round belongs to another replica (or PostgreSQL cannot be
    reached: the next interval tries again).
    """
    from bakeoff.collector.ducklake import CatalogError, connect_catalog

    try:
        pg = connect_catalog(store.catalog, timeout_s=10)
    except CatalogError as exc:
        logger.warning("housekeeping: skipped: %s", exc)
        return None
    with pg:
        row = pg.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
        if not row or not row[0]:
            return None  # another replica's round is under way
        try:
            # A lease per job: a replica started without retention still merges files, and must not
            # hold off the retention of the replicas that have it.
            retention = bool(retention_days) and _take_lease(pg, "retention", interval_s)
            files = _take_lease(pg, "files", interval_s)
            if not retention and not files:
                return None
            return _housekeep(store, keep_s, retention_days if retention else None, files)
        finally:
            pg.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _take_lease(pg: psycopg.Connection[Any], job: str, interval_s: float) -> bool:
    """Move `job`'s lease to now if its last round started `interval_s` ago or more (under the lock)."""
    pg.execute(
        f"CREATE TABLE IF NOT EXISTS {LEASE_TABLE} "
        "(job TEXT PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, replica TEXT NOT NULL)"
    )
    pg.execute(f"INSERT INTO {LEASE_TABLE} VALUES (%s, '-infinity', '') ON CONFLICT (job) DO NOTHING", [job])
    taken = pg.execute(
        f"UPDATE {LEASE_TABLE} SET started_at = now(), replica = %s "
        "WHERE job = %s AND started_at <= now() - make_interval(secs => %s) RETURNING job",
        [replica_name(), job, interval_s],
    ).fetchone()
    return taken is not None


def _housekeep(store: LakeStore, keep_s: float, retention_days: float | None, files: bool) -> Round:
    cursor = store.cursor()
    (name,) = cursor.execute("SELECT current_database()").fetchone() or ("",)
    lake = _quoted(str(name))
    deleted = 0
    if retention_days:
        cutoff = datetime.now(UTC) - timedelta(days=retention_days)
        deleted = store.delete_older_than(cutoff)
        if deleted:
            logger.info("retention: deleted %d events older than %s", deleted, cutoff.isoformat())
            cursor.execute(f"CALL ducklake_rewrite_data_files({lake})").fetchall()
    if not files:
        return Round(deleted, 0, 0, 0, 0)
    cursor.execute(f"CALL ducklake_flush_inlined_data({lake})").fetchall()
    rewritten = _keep_rollups_compact(cursor, str(name))
    merged = cursor.execute(f"CALL ducklake_merge_adjacent_files({lake})").fetchall()
    # CALL, not SELECT ... FROM: a SELECT of these does not commit their changes to the catalog (the
    # files go, the catalog keeps them). Read as Arrow: they return timestamps, which DuckDB's Python
    # rows would convert through pytz.
    older_than = f"now() - to_microseconds({int(keep_s * 1_000_000)}::BIGINT)"
    expired = cursor.execute(
        f"CALL ducklake_expire_snapshots({lake}, older_than => {older_than})"
    ).to_arrow_table()
    removed = cursor.execute(
        f"CALL ducklake_cleanup_old_files({lake}, older_than => {older_than})"
    ).to_arrow_table()
    orphans = cursor.execute(
        f"CALL ducklake_delete_orphaned_files({lake}, older_than => {older_than})"
    ).to_arrow_table()
    done = Round(
        deleted_events=deleted,
        merged_files=sum(int(row[2]) for row in merged) + rewritten,
        written_files=sum(int(row[3]) for row in merged),
        expired_snapshots=expired.num_rows,
        removed_files=removed.num_rows + orphans.num_rows,
    )
    logger.info("housekeeping: %s", done)
    return done


def _keep_rollups_compact(cursor: duckdb.DuckDBPyConnection, name: str) -> int:
    """Sort the rollup tables by (width, bucket) if they are not yet (once: an ALTER is a schema change
    that other replicas' commits to the table would conflict with) and rewrite their files holding
    deleted rows, so the merge that follows can take them; returns the files rewritten."""
    lake, metadata = _quoted(name), f'"__ducklake_metadata_{name.replace(chr(34), chr(34) * 2)}"'
    sorted_now = {
        str(table)
        for (table,) in cursor.execute(
            f"SELECT t.table_name FROM {metadata}.ducklake_table t JOIN {metadata}.ducklake_sort_info s "
            "ON s.table_id = t.table_id WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL"
        ).fetchall()
    }
    rewritten = 0
    for table in SORTED_TABLES:
        if table not in sorted_now:
            cursor.execute(f"ALTER TABLE {table} SET SORTED BY ({SORT_KEY})")
        rows = cursor.execute(
            f"CALL ducklake_rewrite_data_files({lake}, '{table}', delete_threshold => 0.0)"
        ).fetchall()
        rewritten += sum(int(row[2]) for row in rows)
    return rewritten


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


async def housekeeping_loop(
    store: LakeStore,
    retention_days: float | None,
    interval_s: float = INTERVAL_S,
    keep_s: float = KEEP_S,
) -> None:
    """Every replica's loop: try a round every `interval_s` (one replica of the cluster gets it)."""
    while True:
        try:
            await asyncio.to_thread(
                run_round, store, interval_s=interval_s, keep_s=keep_s, retention_days=retention_days
            )
        except Exception as exc:  # a commit conflict, the catalog or the store failing: the next one retries
            logger.warning("housekeeping: round failed (%s); retried in %.0f s", exc, interval_s)
        await asyncio.sleep(interval_s)


def start(store: Store, retention_days: float | None) -> asyncio.Task[None] | None:
    """Start a replica's housekeeping loop if `store` is a DuckLake (None otherwise: the embedded file
    applies retention on its own schedule and has no files to merge)."""
    from bakeoff.collector.ducklake import DuckLakeStore

    if not isinstance(store, DuckLakeStore):
        return None
    return asyncio.create_task(housekeeping_loop(store, retention_days))
