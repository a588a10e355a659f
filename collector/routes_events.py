"""Event ingest and reads: `POST /v1/events`, `GET /v1/events`, `GET /v1/events/{id}`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bakeoff.collector.bodies import decode, read_body
from bakeoff.collector.deps import IngestDep, SettingsDep, StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.schema import Event

router = APIRouter()


class EventBatch(msgspec.Struct):
    """The body of `POST /v1/events`."""

    events: list[Event]


_BATCH = msgspec.json.Decoder(EventBatch)


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


@router.post("/v1/events", status_code=202, response_model=IngestResult)
async def ingest_events(request: Request, settings: SettingsDep, ingest: IngestDep) -> JSONResponse:
    """Store a batch of events; answered once they are durable. Idempotent on event id."""
    batch: EventBatch = decode(_BATCH, await read_body(request, settings.max_body_bytes))
    if len(batch.events) > settings.max_batch_events:
        raise ClientError(
            413, f"{len(batch.events)} events in one batch: at most {settings.max_batch_events}"
        )
    if not batch.events:
        return JSONResponse({"accepted": 0, "duplicates": 0}, status_code=202)
    accepted, duplicates = await asyncio.wrap_future(ingest.submit(batch.events))
    return JSONResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)


@router.get("/v1/events")
def list_events(
    store: StoreDep,
    tag: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: Annotated[str | None, Query(pattern="^(ok|error)$")] = None,
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Events matching the filters, newest first, with the total count."""
    filters = {
        "tag": tag,
        "model": model,
        "provider": provider,
        "status": status,
        "project": project,
        "since": since,
        "until": until,
    }
    events, total = store.query_events(filters, limit, offset)
    return {"events": events, "total": total}


@router.get("/v1/events/{event_id}")
def get_event(event_id: str, store: StoreDep) -> dict[str, Any]:
    """One event, with its feedback."""
    event = store.get_event(event_id)
    if event is None:
        raise ClientError(404, f"no event with id {event_id!r}")
    return event
