"""The sink that ships events to the collector from a background thread.

The calling thread only appends to a bounded deque (no lock, no I/O). A daemon thread wakes when a
batch is full or every `flush_interval_s`, builds and encodes each event alone (one that cannot be
encoded is counted and dropped by itself), cuts batches by count and by bytes under the collector's
body limit, gzips each batch whole and POSTs it (see :mod:`bakeoff.shipping.delivery` for what each
answer does). What cannot be sent now goes to the disk spool and is sent again, oldest first, with
exponential backoff and jitter. At interpreter exit the queue is flushed within a bounded time; what
is left then waits in the spool for the next process. Every item's fate is counted (:meth:`stats`).
"""

from __future__ import annotations

import atexit
import copy
import itertools
import os
import random
import threading
import time
from collections import deque
from typing import Any

from bakeoff.config import Settings
from bakeoff.internal_errors import logger
from bakeoff.shipping.base import PendingEvent
from bakeoff.shipping.counters import Counters
from bakeoff.shipping.delivery import ENDPOINTS, Delivery
from bakeoff.shipping.encoding import EncodeError, encode_item
from bakeoff.shipping.spool import Spool
from bakeoff.shipping.transport import Transport

# The collector refuses bodies over 32 MiB (its `max_body_bytes`), before and after gzip: one event
# larger than this is never sent. Batches are cut well below it (`batch_max_bytes`).
COLLECTOR_BODY_LIMIT = 32 * 1024 * 1024
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 30.0
# Once found empty, the spool is listed again only this often (another process may have left batches).
_SPOOL_RECHECK_S = 30.0


class HttpShipper:
    """A :class:`~bakeoff.shipping.base.Sink` that delivers to `settings.collector_url`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counters = Counters()
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes, self.counters)
        self._recorded = itertools.count()  # next() is atomic: callers on many threads count without a lock
        self._max_batch_bytes = min(settings.batch_max_bytes, COLLECTOR_BODY_LIMIT)
        self._queue_size, self._batch_size = settings.queue_size, settings.batch_size
        self._losses_seen = 0  # losses already reported by an earlier flush()
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
        settings = self.settings
        transport = Transport(
            settings.collector_url, settings.api_key, settings.request_timeout_s, settings.compress
        )
        self._delivery = Delivery(transport, self.counters)
        self._retry_at = 0.0
        self._failures = 0
        self._spool_empty_until = 0.0  # listing the folder every wake-up would cost more than the rest
        self._stop = False

    # -- the calling thread ------------------------------------------------------------------------------

    def _submit(self, item: PendingEvent, kind: str = "events") -> None:
        if self._closed:
            return
        next(self._recorded)
        queue = self._queues[kind]
        if len(queue) >= self._queue_size:
            self.counters.lose("queue_dropped", 1, f"the queue of {self._queue_size} is full")
            return
        queue.append(item)
        if self._thread is None:  # first item, or first in a forked child (reset by the fork hook)
            self._start_thread()
        if len(queue) == self._batch_size:  # only as it fills: setting the event takes a lock
            self._wake.set()

    # Called for every recorded call: the submission itself, not a method around it.
    submit_event = _submit

    def submit_feedback(self, feedback: dict[str, Any]) -> None:
        self._submit(feedback, "feedback")

    def _start_thread(self) -> None:
        with self._idle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="bakeoff-shipper", daemon=True)
            self._thread.start()

    # -- the shipping thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            # A batch that filled while the last cycle ran is sent without waiting for the next wake-up.
            if all(len(q) < self.settings.batch_size for q in self._queues.values()):
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
        self._drain_spool()  # what waited longest goes first
        for kind, queue in self._queues.items():
            # Only what is queued now: chasing a busy caller would send a stream of tiny batches.
            left = len(queue)
            while left > 0:
                items, taken = self._take(queue, left)
                left -= taken
                if not items:
                    continue
                if time.monotonic() < self._retry_at:
                    self._keep(kind, items)
                else:
                    self._deliver(kind, items)

    def _take(self, queue: deque[PendingEvent], most: int) -> tuple[list[bytes], int]:
        """Pop one batch, encoded: `(items, how many popped)`, within `batch_size` and `batch_max_bytes`."""
        items: list[bytes] = []
        size = taken = 0
        count, limit = min(most, self.settings.batch_size), self._max_batch_bytes
        while queue and taken < count and size < limit:
            encoded = self._encoded(queue.popleft())
            taken += 1
            if encoded is not None:
                items.append(encoded)
                size += len(encoded) + 1
        return items, taken

    def _encoded(self, item: PendingEvent) -> bytes | None:
        """One item built (processors and redaction run here, off the caller's thread) and encoded."""
        try:
            event = item() if callable(item) else item
        except Exception as exc:
            self.counters.lose("dropped_build", 1, f"the event could not be built: {exc!r}")
            return None
        if event is None:
            self.counters.add("filtered")  # the redact callable dropped it: wanted, not lost
            return None
        try:
            encoded, coerced = encode_item(event)
        except EncodeError as exc:
            self.counters.lose("dropped_encode", 1, f"not encodable as JSON: {exc}")
            return None
        if coerced:
            self.counters.add("coerced")
        if len(encoded) + 32 > COLLECTOR_BODY_LIMIT:
            self.counters.lose("dropped_too_large", 1, f"{len(encoded)} bytes: over the collector's limit")
            return None
        return encoded

    def _deliver(self, kind: str, items: list[bytes]) -> bool:
        """Send a batch; what cannot be sent now is spooled. True when nothing was left over."""
        result = self._delivery.send(kind, items)
        if not result.retry:
            self._failures, self._retry_at = 0, 0.0
            return True
        self._back_off(result.retry_after_s)
        self._keep(kind, result.retry)
        return False

    def _keep(self, kind: str, items: list[bytes]) -> None:
        self._spool_empty_until = 0.0
        if self.spool.put(kind, items):
            self.counters.add("spooled", len(items))

    def _back_off(self, hint_s: float | None) -> None:
        self._failures += 1
        delay = _BACKOFF_BASE_S * 2 ** min(self._failures, 16) * random.uniform(0.5, 1.0)
        self._retry_at = time.monotonic() + min(_BACKOFF_CAP_S, max(delay, hint_s or 0.0))

    def _drain_spool(self) -> None:
        if time.monotonic() < self._spool_empty_until:
            return
        while time.monotonic() >= self._retry_at:
            claimed = self.spool.claim_oldest()
            if claimed is None:
                self._spool_empty_until = time.monotonic() + _SPOOL_RECHECK_S
                return
            path, kind, items = claimed
            if kind not in ENDPOINTS:
                self.spool.done(path)
                continue
            result = self._delivery.send(kind, items)
            if not result.retry:
                self._failures, self._retry_at = 0, 0.0
                self.spool.done(path)
                continue
            self._back_off(result.retry_after_s)
            self.spool.release(path, result.retry)
            return

    # -- control -----------------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Ship everything queued (and spooled), retrying within `timeout`.

        Returns:
            True when everything recorded so far is delivered: nothing left in the queue or the spool,
            and nothing lost (refused, dropped) since the previous flush.
        """
        return self._flush(timeout, patient=True)

    def _flush(self, timeout: float, patient: bool) -> bool:
        deadline = time.monotonic() + timeout
        # An explicit flush tries the collector now, whatever the backoff says, and looks at the spool.
        self._retry_at = self._spool_empty_until = 0.0
        if self._thread is None or self._pid != os.getpid():
            self._start_thread()
        while time.monotonic() < deadline:
            self._wake.set()
            with self._idle:
                self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                settled = not self._busy and not any(self._queues.values())
            # Impatient (at exit): stop at the first backoff; patient: retry until the deadline.
            waiting = self._retry_at > deadline or (not patient and time.monotonic() < self._retry_at)
            if settled and (self.spool.pending() == 0 or waiting):
                break
        lost = self.counters.lost()
        delivered = not any(self._queues.values()) and self.spool.pending() == 0 and lost == self._losses_seen
        self._losses_seen = lost
        return delivered

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, stop the thread and drop later submissions."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        with self._idle:
            self._stop = True
        self._wake.set()
        self._delivery.transport.close()

    def _at_exit(self) -> None:
        if self._closed:
            return
        self._flush(2.0, patient=False)
        # What the collector did not take in time waits in the spool for the next process.
        for kind, queue in self._queues.items():
            while queue:
                self._keep(kind, self._take(queue, len(queue))[0])
        self._closed = True

    def stats(self) -> dict[str, Any]:
        """Counters of what became of the items recorded so far (see :func:`bakeoff.stats`)."""
        return {
            **self.counters.snapshot(),
            "recorded": next(copy.copy(self._recorded)),
            "queued": sum(len(q) for q in self._queues.values()),
            "spool_pending": self.spool.pending_items(),
            "last_error": self._delivery.transport.last_error,
        }
