"""The collector app: `create_app(settings)`; the store opens and closes with the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import duckdb
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response

from bakeoff import __version__
from bakeoff.collector import (
    dashboard,
    errors,
    housekeeping,
    openapi,
    routes_browse,
    routes_datasets,
    routes_events,
    routes_feedback,
    routes_monitor_pages,
    routes_otlp,
    routes_runs,
    routes_search,
    routes_stats,
)
from bakeoff.collector.auth import require_api_key
from bakeoff.collector.cluster_reads import ReplicasBehindHeader
from bakeoff.collector.deps import IngestDep, MetricsDep, StoreDep
from bakeoff.collector.ingest import IngestPipeline
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.monitors import routes as monitor_routes
from bakeoff.collector.settings import CollectorSettings
from bakeoff.collector.store import Store

logger = logging.getLogger("bakeoff.collector")

# Routers of the /v1 API (all behind the API key). A part of the collector adds its router here.
API_ROUTERS: list[APIRouter] = [
    routes_events.router,
    routes_feedback.router,
    routes_otlp.router,
    routes_datasets.router,
    routes_stats.router,
    routes_runs.router,
    routes_search.router,
    routes_browse.router,
    monitor_routes.router,
    routes_monitor_pages.router,
]


async def _retention_loop(store: Store, days: float, interval_s: float) -> None:
    while True:
        cutoff = datetime.now(UTC) - timedelta(days=days)
        deleted = await asyncio.to_thread(store.delete_older_than, cutoff)
        if deleted:
            logger.info("retention: deleted %d events older than %s", deleted, cutoff.isoformat())
        await asyncio.sleep(interval_s)


def create_app(settings: CollectorSettings) -> FastAPI:
    """A collector app over the store of `settings` (`settings.target`); nothing is opened until the
    app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = settings.target.open(settings.memory_limit)
        app.state.store = store
        app.state.ingest = ingest = IngestPipeline(
            store, app.state.metrics, settings.commit_max_rows, settings.storage_retry_s
        )
        if ingest.recovered:
            logger.warning("journal: %d acknowledged events committed on start", ingest.recovered)
        if ingest.journal.corrupt_ranges:
            logger.error(
                "journal: %d damaged records (%d bytes) could not be read; kept in %s",
                ingest.journal.corrupt_ranges,
                ingest.journal.corrupt_bytes,
                ingest.journal.quarantine,
            )
        # On DuckLake, retention is part of the housekeeping that one replica runs for the cluster.
        retention = housekeeping.start(store, settings.retention_days)
        if retention is None and settings.retention_days:
            retention = asyncio.create_task(
                _retention_loop(store, settings.retention_days, settings.retention_interval_s)
            )
        app.state.monitors = monitors = monitor_routes.start_monitors(store, settings)
        try:
            yield
        finally:
            if monitors is not None:
                monitors.stop()
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            ingest.close()
            store.close()

    app = FastAPI(title="bakeoff collector", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = CollectorMetrics()
    app.state.api_keys = tuple(key.encode() for key in settings.api_keys)
    errors.install(app)
    if settings.target.kind == "ducklake":  # only a cluster has replicas a read may not wait for
        app.add_middleware(ReplicasBehindHeader)
    openapi.install(app)  # the bodies the ingest routes read themselves, and the API key
    dashboard.install(app)
    for router in API_ROUTERS:
        app.include_router(router, dependencies=[Depends(require_api_key)])

    @app.get("/healthz")
    def healthz(store: StoreDep, ingest: IngestDep) -> dict[str, object]:
        """Liveness: answers while degraded too (`"status": "degraded"` with the reason)."""
        try:
            events: int | None = store.count_events()
        except duckdb.Error:
            events = None
        return {**ingest.health(), "version": __version__, "events": events}

    @app.get("/metrics")
    def metrics(collector_metrics: MetricsDep) -> Response:
        return Response(collector_metrics.render(), media_type="text/plain; version=0.0.4")

    return app
