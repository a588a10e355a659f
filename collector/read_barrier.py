"""The read barrier of a DuckLake cluster: a read on any replica sees what every replica acknowledged.

A replica acknowledges an event once it is in its own journal and commits it to the lake a moment later
(see :mod:`bakeoff.collector.ingest`); in between, only that replica knows it. So each replica keeps a
row in the catalog's PostgreSQL, `bakeoff_replicas`, with two marks in the numbering of its journal
groups (a group: the requests journaled with one fsync):

- `acknowledged` moves to a group's number when the group is journaled, before its requests are
  answered; only the first group after the applier took the pending rows moves it, since the next
  commit takes every later group with it: one write to PostgreSQL per commit, not one per request;
- `committed` moves to the last group of a commit once it is in the lake.

An event acknowledged before a read starts belongs to a batch whose first group's number is at most the
`acknowledged` the read then sees, and `committed` reaches that number only once the whole batch is in
the lake. A read therefore takes, in one query, the replicas whose `acknowledged` is past their
`committed`; when there are none (the usual case) it goes ahead, and otherwise it polls their `committed`
until each reaches the `acknowledged` it saw, for up to `timeout_s`.

A replica is *live* while the PostgreSQL session that publishes its marks holds an advisory lock keyed
by its row: PostgreSQL releases the lock when the process dies (kill -9 included) or its connection is
lost, so a dead replica is known at once, with no heartbeat to wait out. A replica that is down, or
still behind at the timeout (its commits failing, say), cannot be waited for: the read answers with
what is committed and names those replicas (see :data:`BEHIND_HEADER` and the collector's log). One that
stayed behind is not waited for again until its `committed` moves, so that it costs one slow read, not
every read. Its events become visible once it commits them, or replays its journal on restart.

The marks never move back: a restarted replica continues from its row. When its journal holds rows of
an earlier run, it starts behind (`acknowledged` one past `committed`) until their replay is committed.

No replica is asked to commit sooner: the applier commits as soon as it has rows (there is no commit
delay to cut short), so a waiting read waits for a commit already under way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("bakeoff.collector")

TABLE = "bakeoff_replicas"
TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (replica TEXT PRIMARY KEY, slot BIGSERIAL, name TEXT NOT NULL, "
    "acknowledged BIGINT NOT NULL, committed BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)"
)
# The advisory locks of replicas: this number in the high 32 bits of the key, the row's slot below.
LOCK_SPACE = 0x0BA4E0
BEHIND_HEADER = "X-Bakeoff-Replicas-Behind"
TIMEOUT_ENV = "BAKEOFF_READ_BARRIER_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 10.0

# Whether replica row `r` is live: its publishing session holds its advisory lock.
_LIVE = (
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.classid::bigint = %s AND l.objid::bigint = r.slot AND l.objsubid = 1)"
)
_PENDING = (
    f"SELECT r.replica, r.name, r.acknowledged, r.committed, {_LIVE} FROM {TABLE} r "
    "WHERE r.replica <> %s AND r.acknowledged > r.committed"
)
_COMMITTED = f"SELECT r.replica, r.committed, {_LIVE} FROM {TABLE} r WHERE r.replica = ANY(%s)"


def timeout_from_env() -> float:
    """How long a read waits for other replicas at most: `$BAKEOFF_READ_BARRIER_TIMEOUT_S`, else 10 s."""
    try:
        return max(0.0, float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


class _Catalog:
    """One psycopg connection to the catalog's database, used by one thread at a time, reopened after
    it was lost (the statement that found it lost fails)."""

    def __init__(self, catalog: str) -> None:
        self.catalog = catalog
        self.lock = threading.Lock()
        self._pg: psycopg.Connection[Any] | None = None

    def rows(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        from bakeoff.collector.ducklake import connect_catalog

        if self._pg is None or self._pg.closed:
            self._pg = connect_catalog(self.catalog)
            self.connected()
        try:
            cursor = self._pg.execute(query, params)
            return list(cursor.fetchall()) if cursor.description else []
        except psycopg.OperationalError:
            self.close()
            raise

    def connected(self) -> None:
        """A new session began (subclasses take what a session holds again)."""

    def close(self) -> None:
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.close()
        self._pg = None


class ReplicaMarks(_Catalog):
    """This replica's row of `bakeoff_replicas`, its marks published by the ingest pipeline's hooks."""

    def __init__(self, catalog: str, replica_id: str, replayed_rows: bool) -> None:
        super().__init__(catalog)
        self.replica_id = replica_id
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._slot: int | None = None
        self._unpublished = False  # a mark that failed to reach the catalog, to publish next time
        with self.lock:
            previous = self.rows(
                f"SELECT greatest(acknowledged, committed) FROM {TABLE} WHERE replica = %s", (replica_id,)
            )
            # Marks continue from the row, so that a read never sees them move back.
            self._base = int(previous[0][0]) if previous else 0
            self._acknowledged = self._base + 1
            self._committed = self._base if replayed_rows else self._base + 1
            self._slot = int(
                self.rows(
                    f"INSERT INTO {TABLE} VALUES (%s, DEFAULT, %s, %s, %s, now()) ON CONFLICT (replica) "
                    "DO UPDATE SET name = excluded.name, acknowledged = excluded.acknowledged, "
                    "committed = excluded.committed, updated_at = now() RETURNING slot",
                    (replica_id, self.name, self._acknowledged, self._committed),
                )[0][0]
            )
            self.connected()

    def connected(self) -> None:
        """Take the replica's advisory lock in the new session (what makes it live to the others); an
        earlier process of this replica may still hold it for a moment after it died."""
        if self._slot is None:
            return  # the first connection: the row, and with it the slot, comes next
        deadline = time.monotonic() + 10
        while True:
            rows = self.rows("SELECT pg_try_advisory_lock(%s)", ((LOCK_SPACE << 32) | self._slot,))
            if rows[0][0] or time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def journaled(self, group: int, first_of_batch: bool) -> None:
        """Publish `group` as acknowledged when it starts a batch; raises when the catalog cannot be
        written, so that the group's requests are not answered as if other replicas could see them."""
        if not first_of_batch and not self._unpublished:
            return
        with self.lock:
            self._acknowledged = self._base + 1 + group
            self._unpublished = True
            self._publish()
            self._unpublished = False

    def committed(self, group: int) -> None:
        """Publish `group` as committed; a failure is logged and the mark goes with the next one."""
        with self.lock:
            self._committed = self._base + 1 + group
            try:
                self._publish()
            except Exception as exc:  # the commit is done; a waiting read times out at worst
                self._unpublished = True
                logger.warning("read barrier: the committed mark was not published (%s); retried", exc)

    def _publish(self) -> None:
        self.rows(
            f"UPDATE {TABLE} SET acknowledged = greatest(acknowledged, %s), "
            "committed = greatest(committed, %s), updated_at = now() WHERE replica = %s",
            (self._acknowledged, self._committed, self.replica_id),
        )


@dataclass
class _Pending:
    replica: str
    name: str
    target: int  # its acknowledged mark when the read started


class ReadBarrier(_Catalog):
    """What a read on this replica waits for: the other replicas' acknowledged events committed."""

    def __init__(self, catalog: str, replica_id: str, timeout_s: float | None = None) -> None:
        super().__init__(catalog)
        self.replica_id = replica_id
        self.timeout_s = timeout_from_env() if timeout_s is None else timeout_s
        self._stuck: dict[str, int] = {}  # replicas that stayed behind: their committed mark then

    def wait(self) -> list[str]:
        """Wait (bounded) until every live replica committed what it acknowledged before this call;
        return the replicas not waited for (down, or behind at the timeout), logged too."""
        with self.lock:
            rows = self.rows(_PENDING, (LOCK_SPACE, self.replica_id))
        if not rows:
            return []
        behind: dict[str, str] = {}
        waiting: list[_Pending] = []
        for replica, name, acknowledged, committed, live in rows:
            if not live:
                behind[replica] = f"{replica} ({name}) is down"
            elif self._stuck.get(replica) == committed:
                behind[replica] = f"{replica} ({name}) is still behind"
            else:
                self._stuck.pop(replica, None)
                waiting.append(_Pending(replica, name, int(acknowledged)))
        if waiting:
            behind.update(self._poll(waiting))
        if behind:
            logger.warning(
                "read barrier: answering without the uncommitted events of %s", "; ".join(behind.values())
            )
        return sorted(behind)

    def _poll(self, waiting: list[_Pending]) -> dict[str, str]:
        """Poll the committed marks of `waiting` until each reaches its target or the timeout passes."""
        deadline = time.monotonic() + self.timeout_s
        pause = 0.005
        behind: dict[str, str] = {}
        while True:
            with self.lock:
                rows = self.rows(_COMMITTED, (LOCK_SPACE, [p.replica for p in waiting]))
            marks = {replica: (int(committed), live) for replica, committed, live in rows}
            still = []
            for pending in waiting:
                committed, live = marks.get(pending.replica, (pending.target, True))
                if committed >= pending.target:
                    continue
                if not live:
                    behind[pending.replica] = f"{pending.replica} ({pending.name}) went down"
                else:
                    still.append(pending)
            waiting = still
            if not waiting:
                return behind
            if time.monotonic() >= deadline:
                for pending in waiting:
                    self._stuck[pending.replica] = marks[pending.replica][0]
                    behind[pending.replica] = (
                        f"{pending.replica} ({pending.name}) is behind after {self.timeout_s:g} s"
                    )
                return behind
            time.sleep(pause)
            pause = min(0.05, pause * 1.5)
