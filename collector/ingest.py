"""Group commit: concurrent requests' events coalesced into one DuckDB write, each answered after it.

A request hands its validated events to :meth:`GroupCommitter.submit` and awaits the future it gets
back. One writer thread drains everything pending into a single Arrow batch, inserts it in one commit,
then resolves every waiting future with that request's (accepted, duplicates). A 202 therefore always
means "on disk": a crash after it loses nothing.
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
    events: list[Event]
    source: str
    future: Future[tuple[int, int]] = field(default_factory=Future)


class GroupCommitter:
    """The single writer of events."""

    def __init__(self, store: Store, metrics: CollectorMetrics, max_rows: int = 20_000) -> None:
        self.store = store
        self.metrics = metrics
        self.max_rows = max_rows
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bakeoff-committer", daemon=True)
        self._thread.start()

    def submit(self, events: list[Event], source: str = "sdk") -> Future[tuple[int, int]]:
        """Queue events for the next commit; the future gives (accepted, duplicates) once durable."""
        pending = _Pending(events, source)
        self._queue.put(pending)
        self.metrics.queue_depth.inc(len(events))
        return pending.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = [first], False
            rows = len(first.events)
            while rows < self.max_rows:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                rows += len(item.events)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        seen: set[str] = set()
        unique: dict[int, list[Event]] = {}
        for index, pending in enumerate(batch):
            fresh = []
            for event in pending.events:
                if event.id not in seen:
                    seen.add(event.id)
                    fresh.append(event)
            unique[index] = fresh
        try:
            tables = [
                to_columns(unique[i], pending.source, received_at)
                for i, pending in enumerate(batch)
                if unique[i]
            ]
            inserted = self.store.insert_events(pa.concat_tables(tables)) if tables else set()
        except Exception as exc:  # the store failed: every waiting request gets the error
            for pending in batch:
                self.metrics.queue_depth.dec(len(pending.events))
                pending.future.set_exception(exc)
            return
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        for index, pending in enumerate(batch):
            accepted = sum(1 for event in unique[index] if event.id in inserted)
            duplicates = len(pending.events) - accepted
            self.metrics.queue_depth.dec(len(pending.events))
            self.metrics.ingested.labels(source=pending.source).inc(accepted)
            self.metrics.duplicates.inc(duplicates)
            pending.future.set_result((accepted, duplicates))
