"""FastAPI dependencies: the app's store, committer and settings, as `Annotated` aliases for routes.

They are coroutines although they only read attributes: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request that costs more than the whole lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bakeoff.collector.ingest import GroupCommitter
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.settings import CollectorSettings
from bakeoff.collector.store import Store


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_committer(request: Request) -> GroupCommitter:
    committer: GroupCommitter = request.app.state.committer
    return committer


async def get_settings(request: Request) -> CollectorSettings:
    settings: CollectorSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> CollectorMetrics:
    metrics: CollectorMetrics = request.app.state.metrics
    return metrics


StoreDep = Annotated[Store, Depends(get_store)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
SettingsDep = Annotated[CollectorSettings, Depends(get_settings)]
MetricsDep = Annotated[CollectorMetrics, Depends(get_metrics)]
