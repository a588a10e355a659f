"""Prometheus metrics of one collector (a registry per app: several apps may live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class CollectorMetrics:
    """The counters `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingested = Counter(
            "bakeoff_events_ingested", "Events stored", ["source"], registry=self.registry
        )
        self.duplicates = Counter(
            "bakeoff_events_duplicates", "Events already stored", registry=self.registry
        )
        self.rejected = Counter(
            "bakeoff_requests_rejected", "Requests refused", ["reason"], registry=self.registry
        )
        self.otlp_ignored = Counter(
            "bakeoff_otlp_spans_ignored", "OTLP spans of no LLM call", registry=self.registry
        )
        self.queue_depth = Gauge(
            "bakeoff_ingest_queue_depth", "Events awaiting the journal", registry=self.registry
        )
        self.uncommitted = Gauge(
            "bakeoff_ingest_uncommitted_rows",
            "Events acknowledged (journaled) and not yet committed to DuckDB",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "bakeoff_commit_seconds",
            "Time of one DuckDB commit of journaled events",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

        self.commit_failures = Counter(
            "bakeoff_commit_failures",
            "DuckDB commits of journaled events that failed",
            registry=self.registry,
        )
        self.degraded = Gauge(
            "bakeoff_storage_degraded",
            "1 while commits fail (writes refused with 507, retried), else 0",
            registry=self.registry,
        )
        self.journal_corrupt_ranges = Counter(
            "bakeoff_journal_corrupt_records",
            "Damaged stretches of the journal skipped on replay (kept in quarantine/)",
            registry=self.registry,
        )
        self.journal_corrupt_bytes = Counter(
            "bakeoff_journal_corrupt_bytes", "Bytes of the journal skipped on replay", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
