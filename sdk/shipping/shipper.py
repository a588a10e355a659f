"""The sink that ships events to the collector from a background thread.

The calling thread only appends to a bounded deque (no lock, no I/O); a daemon thread batches by size
and time, encodes with orjson, gzips and POSTs. A batch that cannot be delivered goes to the disk spool
and is retried, oldest first, with exponential backoff and jitter. At interpreter exit the queue is
flushed within a bounded time; what is left then waits in the spool for the next process.
"""

from __future__ import annotations

import atexit
import gzip
import os
import random
import threading
import time
from collections import deque
from typing import Any

import orjson

from bakeoff.config import Settings
from bakeoff.internal_errors import logger
from bakeoff.shipping.base import PendingEvent, materialize
from bakeoff.shipping.spool import Spool
from bakeoff.shipping.transport import Outcome, Transport

ENDPOINTS = {"events": "/v1/events", "feedback": "/v1/feedback"}
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 30.0


def _default(value: Any) -> Any:
    """orjson fallback for what applications put in requests: pydantic objects, iterables, anything else."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json", exclude_none=True)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def encode(kind: str, items: list[dict[str, Any]]) -> bytes:
    """The gzip-compressed JSON body of one batch."""
    return gzip.compress(orjson.dumps({kind: items}, default=_default), compresslevel=5)


def _built(items: list[PendingEvent]) -> list[dict[str, Any]]:
    """Build the pending events (content processors and redaction run here, off the caller's thread)."""
    built = []
    for item in items:
        try:
            event = materialize(item)
        except Exception:
            logger.warning("bakeoff: an event could not be built; it is dropped", exc_info=True)
            continue
        if event is not None:
            built.append(event)
    return built


class HttpShipper:
    """A :class:`~bakeoff.shipping.base.Sink` that delivers to `settings.collector_url`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self._counters = {"sent": 0, "spooled": 0, "dropped_queue_full": 0, "rejected": 0, "retries": 0}
        self._closed = False
        self._reset()
        atexit.register(self._at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Fresh queue, lock and thread state (at start, and in a forked child: the parent's stay its own)."""
        self._queues: dict[str, deque[PendingEvent]] = {"events": deque(), "feedback": deque()}
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._transport = Transport(
            self.settings.collector_url, self.settings.api_key, self.settings.request_timeout_s
        )
        self._retry_at = 0.0
        self._failures = 0
        self._stop = False

    # -- the calling thread ------------------------------------------------------------------------------

    def submit_event(self, event: PendingEvent) -> None:
        self._submit("events", event)

    def submit_feedback(self, feedback: dict[str, Any]) -> None:
        self._submit("feedback", feedback)

    def _submit(self, kind: str, item: PendingEvent) -> None:
        if self._closed:
            return
        queue = self._queues[kind]
        if len(queue) >= self.settings.queue_size:
            self._counters["dropped_queue_full"] += 1
            return
        queue.append(item)
        if self._thread is None or self._pid != os.getpid():
            self._start_thread()
        if len(queue) >= self.settings.batch_size:
            self._wake.set()

    def _start_thread(self) -> None:
        with self._idle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="bakeoff-shipper", daemon=True)
            self._thread.start()

    # -- the shipping thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.settings.flush_interval_s)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # never let the thread die
                logger.warning("bakeoff: shipping failed", exc_info=True)
            with self._idle:
                self._busy = False
                self._idle.notify_all()
                if self._stop and not any(self._queues.values()):
                    return

    def _cycle(self) -> None:
        with self._idle:
            self._busy = True
        for kind, queue in self._queues.items():
            while queue:
                batch = _built([queue.popleft() for _ in range(min(len(queue), self.settings.batch_size))])
                if batch:
                    self._deliver_or_spool(kind, len(batch), encode(kind, batch))
        self._drain_spool()

    def _deliver_or_spool(self, kind: str, count: int, body: bytes) -> None:
        if time.monotonic() >= self._retry_at and self._send(kind, count, body):
            return
        if self.spool.put(kind, count, body):
            self._counters["spooled"] += count
        else:
            logger.warning("bakeoff: spool unavailable; %d %s dropped", count, kind)

    def _send(self, kind: str, count: int, body: bytes) -> bool:
        """POST one batch; True when it needs no further attempt (delivered or refused for good)."""
        outcome = self._transport.post(ENDPOINTS[kind], body)
        if outcome is Outcome.RETRY:
            self._failures += 1
            self._counters["retries"] += 1
            delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** min(self._failures, 16))
            self._retry_at = time.monotonic() + delay * random.uniform(0.5, 1.0)
            return False
        self._failures, self._retry_at = 0, 0.0
        if outcome is Outcome.REJECTED:
            self._counters["rejected"] += count
            logger.warning(
                "bakeoff: the collector refused %d %s: %s", count, kind, self._transport.last_error
            )
        else:
            self._counters["sent"] += count
        return True

    def _drain_spool(self) -> None:
        while time.monotonic() >= self._retry_at:
            claimed = self.spool.claim_oldest()
            if claimed is None:
                return
            path, kind, count, body = claimed
            if kind in ENDPOINTS and self._send(kind, count, body):
                self.spool.done(path)
            else:
                self.spool.release(path)
                return

    # -- control -----------------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Ship everything queued (and spooled); True when nothing is left undelivered."""
        deadline = time.monotonic() + timeout
        self._retry_at = 0.0  # an explicit flush tries the collector now, whatever the backoff says
        if self._thread is None or self._pid != os.getpid():
            self._start_thread()
        while time.monotonic() < deadline:
            self._wake.set()
            with self._idle:
                self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                settled = not self._busy and not any(self._queues.values())
            if settled and (self.spool.pending() == 0 or time.monotonic() < self._retry_at):
                break
        return not any(self._queues.values()) and self.spool.pending() == 0

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, stop the thread and drop later submissions."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        with self._idle:
            self._stop = True
        self._wake.set()
        self._transport.close()

    def _at_exit(self) -> None:
        if self._closed:
            return
        self.flush(2.0)
        # What the collector did not take in time waits in the spool for the next process.
        for kind, queue in self._queues.items():
            items = _built(list(queue))
            queue.clear()
            if items:
                self.spool.put(kind, len(items), encode(kind, items))
        self._closed = True

    def stats(self) -> dict[str, Any]:
        """Counters of what happened to the events so far."""
        return {
            **self._counters,
            "queued": sum(len(q) for q in self._queues.values()),
            "spool_files": self.spool.pending(),
            "dropped_spool_full": self.spool.dropped_events,
            "last_error": self._transport.last_error,
        }
