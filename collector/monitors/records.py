"""Monitor state and alerts kept for a runner outside the collector: `bakeoff watch`, here or over HTTP.

`bakeoff watch` evaluates its replay monitors itself (scoring lives in replay) and delivers every alert to
its own sinks; the store keeps what must survive a restart: each monitor's state, the alert history, and
the outbox of notifications not yet sent. The same four operations back `open_local` (a DuckDB file) and
the endpoints under `/v1/monitors/` (a running collector), so both runners behave alike. A traffic tick
here evaluates and saves but sends nothing: the caller delivers the outbox, then marks what it sent.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from bakeoff.collector.monitors import alerts as alert_store
from bakeoff.collector.monitors.runner import BACKFILL_S, TrafficRunner, watermark
from bakeoff.collector.store import Store
from bakeoff.monitor_config import MonitoringConfig, TrafficMonitor


class MonitorRecords:
    """The monitor tables of one store, as a runner outside the collector needs them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def states(self, names: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """The stored state of each monitor (of those in `names`), by name."""
        stored = alert_store.load_states(self.store)
        return stored if names is None else {n: s for n, s in stored.items() if n in names}

    def save(self, states: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        """Save monitor states and the alerts they opened or resolved, in one transaction."""
        alert_store.save(self.store, states, changed, set(), datetime.now(UTC))

    def pending(self, names: Collection[str]) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """The notifications the monitors in `names` still owe: (alert id, its state, the bodies due)."""
        return alert_store.pending(self.store, names)

    def mark_notified(self, alert_id: str, state: str) -> None:
        """Record that the sinks have had the alert in `state`."""
        alert_store.mark_notified(self.store, alert_id, state)

    def exists(self, alert_id: str) -> bool:
        """Whether alert `alert_id` is stored."""
        return alert_store.exists(self.store, alert_id)

    def firing(self, names: Collection[str]) -> list[dict[str, Any]]:
        """The alerts of the monitors in `names` that are firing, newest first."""
        return [a for a in alert_store.list_alerts(self.store, state="firing") if a["monitor"] in names]

    def events_to_score(
        self, monitor: TrafficMonitor, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
        """The next answers of a `metric:NAME` monitor's share to score, and where the next page starts.

        From `after` (ts, id) — the first time, from the last `BACKFILL_S` of traffic, as a tick starts — up
        to the event-time watermark, so that what a tick will read is scored first. Returns the events
        and the position past the last one (None when there is nothing to score).
        """
        until = watermark(self.store)
        if until is None:
            return [], None
        start = after if after is not None else (until - BACKFILL_S, "")
        filters = {str(k): v for k, v in monitor.filters.items()}
        rows = alert_store.events_to_score(
            self.store, filters, monitor.metric_share, monitor.name, start, until, limit
        )
        if not rows:
            return [], None
        _, ts, event_id = rows[-1]
        return [event for event, _, _ in rows], (ts, event_id)

    def save_scores(self, metric: str, scores: list[tuple[str, float, float]]) -> None:
        """Store (event id, event ts, score) rows of `metric` (an event scored again is replaced)."""
        alert_store.save_scores(self.store, metric, scores)

    def tick_traffic(self, config: MonitoringConfig) -> list[dict[str, Any]]:
        """One tick of the config's traffic monitors, saved but not sent; the alerts it changed."""
        return TrafficRunner(self.store, config).advance()
