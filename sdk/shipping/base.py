"""Where recorded events go: the :class:`Sink` protocol, and an in-memory sink for tests and tools."""

from __future__ import annotations

import threading
from typing import Any, Protocol


class Sink(Protocol):
    """Receives finished events and feedback. Implementations never block the caller and never raise."""

    def submit_event(self, event: dict[str, Any]) -> None:
        """Take one finished event (already processed: sampled, redacted)."""

    def submit_feedback(self, feedback: dict[str, Any]) -> None:
        """Take one feedback record `{"event_id", "score", "comment", "ts"}`."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver everything taken so far; True when all of it was delivered within `timeout`."""

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, then release threads and files; later submissions are dropped."""


class InMemorySink:
    """A sink that keeps everything in lists: for tests, like OpenTelemetry's in-memory exporter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []

    def submit_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)

    def submit_feedback(self, feedback: dict[str, Any]) -> None:
        with self._lock:
            self.feedback.append(feedback)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        return None
