"""Group commit: concurrent requests' events coalesced into one DuckDB write, each answered after it.

A request hands its validated events to :meth:`GroupCommitter.submit`, which turns them into Arrow
columns on the caller's thread, and awaits the future it gets back. One writer thread drains everything
pending into a single Arrow batch, inserts it in one commit, then resolves every waiting future with
that request's (accepted, duplicates). A 202 therefore always means "on disk": a crash after it loses
nothing. The writer does little but the database work, which mostly runs without the GIL: while it
commits one group, the next requests are parsed and columned on the event loop's thread.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store
from bakeoff.schema import Event


@dataclass
class _Pending:
    table: pa.Table
    ids: list[str]
    source: str
    future: Future[tuple[int, int]] = field(default_factory=Future)


class GroupCommitter:
    """The single writer of events."""

    def __init__(
        self, store: Store, metrics: CollectorMetrics, max_rows: int = 20_000, linger_s: float = 0.0
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.max_rows = max_rows
        self.linger_s = linger_s
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bakeoff-committer", daemon=True)
        self._thread.start()

    def submit(self, events: list[Event], source: str = "sdk") -> Future[tuple[int, int]]:
        """Queue events for the next commit; the future gives (accepted, duplicates) once durable."""
        table = to_columns(events, source, datetime.now(UTC))
        pending = _Pending(table, [event.id for event in events], source)
        self._queue.put(pending)
        self.metrics.queue_depth.inc(len(events))
        return pending.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        # Clients waiting on their acks fall into step with the commits: with four clients, two
        # requests are committed while the other two travel, and every commit holds two. So a group
        # waits (at most `linger_s`) until it holds as many requests as were in flight together at the
        # end of the last commit; a lone client, or a burst that has passed, never waits more than once.
        expected = 1
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, rows = [first], len(first.ids)
            deadline = time.monotonic() + self.linger_s
            while rows < self.max_rows:
                wait = deadline - time.monotonic() if len(batch) < expected else 0.0
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._commit(batch)
                    return
                batch.append(item)
                rows += len(item.ids)
            self._commit(batch)
            expected = len(batch) + self._queue.qsize()

    def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        seen: set[str] = set()
        tables = []
        for pending in batch:  # an id twice in one group (a retry racing its original) is written once
            fresh = []
            for event_id in pending.ids:
                fresh.append(event_id not in seen)
                seen.add(event_id)
            tables.append(pending.table if all(fresh) else pending.table.filter(pa.array(fresh)))
        try:
            inserted = self.store.insert_events(pa.concat_tables(tables))
        except Exception as exc:  # the store failed: every waiting request gets the error
            for pending in batch:
                self.metrics.queue_depth.dec(len(pending.ids))
                pending.future.set_exception(exc)
            return
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        for pending in batch:
            accepted = sum(1 for event_id in set(pending.ids) if event_id in inserted)
            inserted.difference_update(pending.ids)  # a later request of the group repeating them gets none
            duplicates = len(pending.ids) - accepted
            self.metrics.queue_depth.dec(len(pending.ids))
            self.metrics.ingested.labels(source=pending.source).inc(accepted)
            self.metrics.duplicates.inc(duplicates)
            pending.future.set_result((accepted, duplicates))
