"""The ingest pipeline: events acknowledged once journaled, committed to DuckDB in large batches behind.

A request hands its validated events to :meth:`IngestPipeline.submit`, which turns them into Arrow
columns on the caller's thread and returns a future. Two threads do the rest:

- the **journal writer** takes every request waiting, drops the events already stored or pending (the
  idempotency check), appends the new rows to the journal with one fsync, and resolves each request's
  future with its (accepted, duplicates). A 202 therefore means "on disk": a crash after it loses
  nothing, because the journal is replayed on start (see :mod:`bakeoff.collector.journal`);
- the **applier** takes every journaled row not yet in DuckDB, seals the journal's segment, inserts the
  rows in one commit and deletes the segment.

On DuckLake every replica runs this pipeline over its own journal; the idempotency check above covers
the ids this replica knows, and the store's claims make the commit exact across replicas (see
:mod:`bakeoff.collector.ducklake`).

A DuckDB insert has a fixed cost of a few milliseconds, so committing per group of requests would bind
clients to it; batches of thousands of rows cost ~20 µs a row. Readers see every acknowledged event:
:meth:`IngestPipeline.barrier` waits until the rows journaled so far are committed (routes reading the
store wait on it, see :mod:`bakeoff.collector.deps`). Memory is bounded: the writer stops journaling
while `max_rows` rows wait for the applier, which slows the acknowledgements instead.

When a commit fails (a full disk: DuckDB cannot grow its write-ahead log) the rows stay journaled and
pending, the pipeline is *degraded*: new writes are refused with :class:`StorageUnavailable` (507),
reads answer from what is committed instead of waiting, and the applier retries every `retry_s`
seconds; the first commit that succeeds ends it, without a restart. A journal that cannot be written
refuses the request the same way: nothing is acknowledged that is not on disk.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from bakeoff.collector import rollups
from bakeoff.collector.errors import StorageUnavailable
from bakeoff.collector.journal import Journal, encode_record
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store, first_occurrences, storage_failure
from bakeoff.schema import Event

logger = logging.getLogger("bakeoff.collector")

T = TypeVar("T")


@dataclass
class _Request:
    table: pa.Table
    ids: list[str]
    source: str
    future: Future[tuple[int, int]] = field(default_factory=Future)


def journal_folder(db_path: str) -> Path:
    """Where the journal of the DuckDB file at `db_path` lives by default: next to it."""
    return Path(f"{db_path}.journal")


class IngestPipeline:
    """The only writer of events into a store."""

    def __init__(
        self, store: Store, metrics: CollectorMetrics, max_rows: int = 20_000, retry_s: float = 1.0
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.max_rows = max_rows
        self.retry_s = retry_s
        if store.journal_dir is None:
            raise ValueError("an ingest pipeline needs a store opened with a journal folder")
        self.journal = Journal(store.journal_dir)
        self.recovered = _replay(self.journal, store)
        store.committed(0)
        metrics.journal_corrupt_ranges.inc(self.journal.corrupt_ranges)
        metrics.journal_corrupt_bytes.inc(self.journal.corrupt_bytes)
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._lock = threading.Condition()
        # Held over "append to the journal, then count the rows as pending" and over "take the pending
        # rows, then seal the segment": a sealed segment never holds a row the applier did not take.
        self._segment_lock = threading.Lock()
        self._pending: list[pa.Table] = []  # journaled, not yet committed
        self._pending_ids: set[str] = set()
        self._pending_rows = 0
        self._journaled = 0  # groups journaled so far
        self._committed = 0  # groups whose rows are all committed
        self._waiters: list[tuple[int, Future[None]]] = []
        self._closing = False
        self._failure: StorageUnavailable | None = None  # commits failing: degraded until one succeeds
        self._journal_failure: StorageUnavailable | None = None  # the last append failed
        self._writer = threading.Thread(target=self._write_loop, name="bakeoff-journal", daemon=True)
        self._applier = threading.Thread(target=self._apply_loop, name="bakeoff-applier", daemon=True)
        self._writer.start()
        self._applier.start()

    # -- the request side ----------------------------------------------------------------------------

    def submit(self, events: list[Event], source: str = "sdk") -> Future[tuple[int, int]]:
        """Queue events; the future gives (accepted, duplicates) once they are durable."""
        request = _Request(to_columns(events, source, datetime.now(UTC)), [e.id for e in events], source)
        self.metrics.queue_depth.inc(len(request.ids))
        self._requests.put(request)
        return request.future

    def commit_now(self, events: list[Event], source: str) -> tuple[int, int]:
        """Submit events and wait until they are committed: for synchronous callers off the event loop.

        Raises :class:`StorageUnavailable` when they are journaled but the store cannot take them now.
        """
        outcome = self.submit(events, source).result()
        waiter = self.barrier()
        if waiter is not None:
            waiter.result()
        with self._lock:
            if self._failure is not None and self._committed < self._journaled:
                raise self._failure
        return outcome

    def barrier(self) -> Future[None] | None:
        """A future resolved once every event acknowledged so far is committed; None if they are, or
        if the pipeline is degraded (reads then answer from what is committed rather than wait)."""
        with self._lock:
            if self._committed >= self._journaled or self._failure is not None:
                return None
            waiter: Future[None] = Future()
            self._waiters.append((self._journaled, waiter))
            return waiter

    def health(self) -> dict[str, object]:
        """`{"status": "ok" | "degraded", "reason", "uncommitted"}` for `/healthz`."""
        if self._journal_failure is not None:
            try:
                self.journal.probe()
            except OSError:
                pass  # still failing
            else:
                with self._lock:
                    self._journal_failure = None
        with self._lock:
            failure = self._failure or self._journal_failure
            return {
                "status": "degraded" if failure else "ok",
                "reason": failure.reason if failure else None,
                "uncommitted": self._pending_rows,
            }

    def close(self) -> None:
        """Journal and commit everything submitted, then stop both threads."""
        self._requests.put(None)
        self._writer.join(60)
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._applier.join(60)
        rollups.stop(self.store)
        self.journal.close()

    # -- the journal writer --------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            first = self._requests.get()
            if first is None:
                return
            group = [first]
            while True:  # everything waiting joins this fsync
                try:
                    item = self._requests.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._journal(group)
                    return
                group.append(item)
            self._journal(group)

    def _journal(self, group: list[_Request]) -> None:
        ids = [event_id for request in group for event_id in request.ids]
        with self._lock:  # rows wait here while the applier is too far behind: memory stays bounded
            while self._pending_rows >= self.max_rows and self._failure is None:
                self._lock.wait()
            failure = self._failure
            # Checked before the store: an id leaves the pending set only once committed (see _apply).
            pending = self._pending_ids & set(ids)
        try:
            if failure is not None:
                raise failure
            keep = first_occurrences(ids, pending | self.store.stored_ids(ids))
            table = pa.concat_tables([request.table for request in group])
            if not all(keep):
                table = table.filter(pa.array(keep))
            if table.num_rows:
                with self._segment_lock:
                    self.journal.append(encode_record(table))
                    self._add_pending(table)
                    self.store.journaled(self._journaled, first_of_batch=len(self._pending) == 1)
        except Exception as exc:  # the disk or the store failed: the requests get the error
            mapped = storage_failure(exc)
            if mapped is not None and mapped is not failure:
                with self._lock:
                    self._journal_failure = mapped
            self._resolve(group, mapped or exc)
            return
        with self._lock:
            self._journal_failure = None
        self._resolve(group, keep)

    def _add_pending(self, table: pa.Table) -> None:
        with self._lock:
            self._pending.append(table)
            self._pending_ids.update(table.column("id").to_pylist())
            self._pending_rows += table.num_rows
            self._journaled += 1
            self.metrics.uncommitted.set(self._pending_rows)
            self._lock.notify_all()

    def _resolve(self, group: list[_Request], outcome: list[bool] | BaseException) -> None:
        offset = 0
        for request in group:
            count = len(request.ids)
            self.metrics.queue_depth.dec(count)
            if isinstance(outcome, BaseException):
                _settle(request.future, error=outcome)
                continue
            accepted = sum(outcome[offset : offset + count])
            offset += count
            self.metrics.ingested.labels(source=request.source).inc(accepted)
            self.metrics.duplicates.inc(count - accepted)
            _settle(request.future, (accepted, count - accepted))

    # -- the applier ---------------------------------------------------------------------------------

    def _apply_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._lock.wait()
                if not self._pending:
                    return
                failing = self._failure is not None
            try:
                self._apply(retrying=failing)
            except Exception as exc:  # the rows stay journaled and pending: retried, or on the next start
                self._degrade(exc)
                with self._lock:
                    if self._closing:
                        return
                    self._lock.wait(self.retry_s)  # close() cuts the wait short
                if isinstance(exc, duckdb.FatalException):
                    self._reopen()
                continue
            if failing:
                self._recover()

    def _apply(self, retrying: bool = False) -> None:
        """Commit every pending row to DuckDB, then forget their segment."""
        with self._segment_lock, self._lock:
            tables, target = self._pending, self._journaled
            self._pending = []
            try:
                sealed = self.journal.seal()  # later rows go to a new segment; this one goes once committed
            except BaseException:
                self._pending = tables
                raise
        started = time.perf_counter()
        try:
            table = pa.concat_tables(tables)
            if retrying:  # a failed attempt may have committed some of its chunks
                ids = table.column("id").to_pylist()
                table = table.filter(pa.array(first_occurrences(ids, self.store.stored_ids(ids))))
            for chunk in _chunks(table, self.max_rows):
                self.store.append_events(chunk)
        except BaseException:
            with self._lock:
                self._pending = tables + self._pending
            raise
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        try:
            self.journal.discard_through(sealed)
        except OSError as exc:  # committed all the same: a later start replays them idempotently
            logger.warning("journal: committed segments not removed: %s", exc)
        with self._lock:
            for table in tables:
                self._pending_ids.difference_update(table.column("id").to_pylist())
                self._pending_rows -= table.num_rows
            self._committed = target
            self.metrics.uncommitted.set(self._pending_rows)
            ready = [w for w in self._waiters if w[0] <= target]
            self._waiters = [w for w in self._waiters if w[0] > target]
            self._lock.notify_all()
        self.store.committed(target)  # other replicas' reads wait for it (see the store's read barrier)
        for _, waiter in ready:
            _settle(waiter, None)
        rollups.fold_due(self.store)  # the overview's summaries of what was just committed, behind

    def _degrade(self, exc: Exception) -> None:
        """Refuse writes until a commit succeeds; let waiting reads go ahead over what is committed."""
        failure = storage_failure(exc) or StorageUnavailable(f"the store failed: {exc}", status=503)
        self.metrics.commit_failures.inc()
        with self._lock:
            first = self._failure is None
            self._failure = failure
            waiters, self._waiters = self._waiters, []
            self._lock.notify_all()
        if first:
            logger.error("storage: a commit failed (%s); writes are refused until it succeeds", exc)
            self.metrics.degraded.set(1)
        for _, waiter in waiters:
            _settle(waiter, None)

    def _recover(self) -> None:
        with self._lock:
            self._failure = None
            self._lock.notify_all()
        self.metrics.degraded.set(0)
        logger.warning("storage: commits succeed again; writes are accepted")

    def _reopen(self) -> None:
        try:
            self.store.reopen()
        except duckdb.Error as exc:
            logger.warning("storage: reopening the database failed (%s); retrying", exc)


def _settle(future: Future[T], result: T | None = None, error: BaseException | None = None) -> None:
    """Resolve a future unless its waiter gave up: a request cancelled while it waited (its client
    went away) cancels the future through `asyncio.wrap_future`, and setting it then would raise in
    the pipeline's thread."""
    if not future.set_running_or_notify_cancel():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


def _replay(journal: Journal, store: Store) -> int:
    """Commit the rows an earlier run journaled (acknowledged) and may not have committed."""
    recovered = 0
    for table in journal.replay():
        recovered += len(store.insert_events(table))
    journal.discard_through(journal.current - 1)
    return recovered


def recover_journal(store: Store) -> int:
    """Commit what a collector that stopped abruptly left in the journal of `store`; return how many."""
    if store.journal_dir is None or not store.journal_dir.is_dir():
        return 0
    journal = Journal(store.journal_dir)
    try:
        return _replay(journal, store)
    finally:
        journal.close()


def _chunks(table: pa.Table, size: int) -> list[pa.Table]:
    return [table.slice(start, size) for start in range(0, table.num_rows, size)]
