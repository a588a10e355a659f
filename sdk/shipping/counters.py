"""What became of every item the SDK recorded: counted by outcome; losses logged at most once a minute."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from bakeoff.internal_errors import logger

# Outcomes that lose an item for good; `undelivered` in the stats is their sum.
LOSSES = (
    "rejected",  # refused by the collector (invalid): re-sending would be refused again
    "dropped_build",  # the event could not be built, or the redact callable raised
    "dropped_encode",  # not writable as JSON even after coercion (a cycle, nesting too deep)
    "dropped_too_large",  # one event larger than the collector takes in one request
    "queue_dropped",  # the in-memory queue was full when it was recorded
    "spool_dropped",  # pushed out of the full spool, or the spool could not be written
)
_OTHER = ("sent", "accepted", "duplicates", "coerced", "filtered", "spooled", "retries", "splits")
_LOG_INTERVAL_S = 60.0
_MAX_REASONS = 32  # distinct refusal reasons kept; later ones are counted under "other"


class Counters:
    """Monotonic counters, updated by the shipping thread (and the caller's, for `queue_dropped`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: Counter[str] = Counter({name: 0 for name in (*_OTHER, *LOSSES)})
        self.reasons: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def add(self, name: str, count: int = 1) -> None:
        """Count `count` items under an outcome that loses nothing."""
        self.values[name] += count

    def lose(self, name: str, count: int, reason: str) -> None:
        """Count `count` items lost for good under `name` (one of :data:`LOSSES`); log it, rate-limited."""
        if count <= 0:
            return
        with self._lock:
            self.values[name] += count
            if name == "rejected":
                key = reason[:200] if reason in self.reasons or len(self.reasons) < _MAX_REASONS else "other"
                self.reasons[key] += count
            self._unlogged[name] += count
            now = time.monotonic()
            if now - self._last_log.get(name, -_LOG_INTERVAL_S) < _LOG_INTERVAL_S:
                return
            self._last_log[name] = now
            since, self._unlogged[name] = self._unlogged[name], 0
        logger.warning(
            "bakeoff: %d item(s) not delivered (%s: %s); %d in all so far",
            since,
            name,
            reason[:300],
            self.values[name],
        )

    def lost(self) -> int:
        """Items lost for good so far, all reasons together."""
        return sum(self.values[name] for name in LOSSES)

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict, with refusals by reason under `rejected_reasons`."""
        with self._lock:
            return {**self.values, "undelivered": self.lost(), "rejected_reasons": dict(self.reasons)}
