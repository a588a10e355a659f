"""Where recorded events go: the :class:`Sink` protocol, and an in-memory sink for tests and tools."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

# A finished event, or what builds it: called once, off the caller's thread; None means "dropped".
PendingEvent = dict[str, Any] | Callable[[], dict[str, Any] | None]


def materialize(item: PendingEvent) -> dict[str, Any] | None:
    """The event of a pending item (building it when it is a builder)."""
    return item() if callable(item) else item


class Sink(Protocol):
    """Receives finished events and feedback. Implementations never block the caller and never raise."""

    def submit_event(self, event: PendingEvent) -> None:
        """Take one finished event, or a builder of it (sampled already; content processors inside)."""

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

    def submit_event(self, event: PendingEvent) -> None:
        built = materialize(event)
        if built is not None:
            with self._lock:
                self.events.append(built)

    def submit_feedback(self, feedback: dict[str, Any]) -> None:
        with self._lock:
            self.feedback.append(feedback)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        return None
