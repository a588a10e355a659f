"""FastAPI dependencies: the app's store, ingest pipeline and settings, as `Annotated` aliases for routes.

They are coroutines although they only read attributes: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request that costs more than the whole lookup.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from bakeoff.collector.ingest import IngestPipeline
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.settings import CollectorSettings
from bakeoff.collector.store import Store


async def get_store(request: Request) -> Store:
    """The store, once every event acknowledged before this request is committed to it.

    Ingest acknowledges events when they are journaled (see :mod:`bakeoff.collector.ingest`); waiting
    here keeps "a 202, then a read" consistent. Nothing waits when no write is pending. On DuckLake a
    read (`GET /v1/...`) also waits for the events the other replicas acknowledged (see
    :func:`await_cluster`).
    """
    waiter = request.app.state.ingest.barrier()
    if waiter is not None:
        await asyncio.wrap_future(waiter)
    store: Store = request.app.state.store
    if store.kind == "ducklake" and request.method == "GET" and request.url.path.startswith("/v1/"):
        await await_cluster(request, store)
    return store


async def get_fresh_store(request: Request) -> Store:
    """The store for a read sent as a POST (a sample): behind the cluster's read barrier too."""
    store = await get_store(request)
    if store.kind == "ducklake":
        await await_cluster(request, store)
    return store


async def await_cluster(request: Request, store: Store) -> None:
    """Wait (once per request) until every other live replica has committed what it acknowledged.

    One catalog query when nothing is pending; in a thread, as it may wait. The replicas it could not
    wait for are kept on the request; :mod:`bakeoff.collector.cluster_reads` names them in the answer.
    """
    if getattr(request.state, "replicas_behind", None) is None:
        request.state.replicas_behind = await asyncio.to_thread(store.await_replicas)


async def get_ingest(request: Request) -> IngestPipeline:
    ingest: IngestPipeline = request.app.state.ingest
    return ingest


async def get_settings(request: Request) -> CollectorSettings:
    settings: CollectorSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> CollectorMetrics:
    metrics: CollectorMetrics = request.app.state.metrics
    return metrics


StoreDep = Annotated[Store, Depends(get_store)]
FreshStoreDep = Annotated[Store, Depends(get_fresh_store)]
IngestDep = Annotated[IngestPipeline, Depends(get_ingest)]
SettingsDep = Annotated[CollectorSettings, Depends(get_settings)]
MetricsDep = Annotated[CollectorMetrics, Depends(get_metrics)]


# Offsets reach DuckDB as BIGINT: a larger one is the client's mistake (422), never a 500.
MAX_OFFSET = 2**31 - 1


async def event_filter_params(
    tag: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: Annotated[str | None, Query(pattern="^(ok|error)$")] = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The event filters every listing takes as query parameters (`GET /v1/events` and the like)."""
    return filters_of(tag, model, provider, status, project, since, until)


def filters_of(
    tag: str | None,
    model: str | None,
    provider: str | None,
    status: str | None,
    project: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    """The filters dict that :func:`~bakeoff.collector.store.event_filters` turns into SQL."""
    return {
        "tag": tag,
        "model": model,
        "provider": provider,
        "status": status,
        "project": project,
        "since": since,
        "until": until,
    }


EventFiltersDep = Annotated[dict[str, Any], Depends(event_filter_params)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
