"""Event ingest and reads: `POST /v1/events`, `GET /v1/events`, `GET /v1/events/{id}`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from bakeoff.collector.bodies import decode, read_body
from bakeoff.collector.deps import EventFiltersDep, IngestDep, OffsetQuery, SettingsDep, StoreDep
from bakeoff.collector.errors import ClientError, describe_msgspec
from bakeoff.collector.validation import may_hold_oversized, oversized_integer, raw_id
from bakeoff.schema import Event

router = APIRouter()


class EventBatch(msgspec.Struct):
    """The body of `POST /v1/events` (its schema, for the OpenAPI document)."""

    events: list[Event]


class _RawBatch(msgspec.Struct):
    events: list[msgspec.Raw]  # each event decoded on its own: one bad event costs only itself


_TYPED = msgspec.json.Decoder(EventBatch)
_BATCH = msgspec.json.Decoder(_RawBatch)
_EVENT = msgspec.json.Decoder(Event)


class Rejected(BaseModel):
    index: int
    id: str | None
    reason: str


class IngestResult(BaseModel):
    """What a batch did: events stored, repeats of stored ones, and the events refused, each with why."""

    accepted: int
    duplicates: int
    rejected: list[Rejected]


def split_batch(raws: list[msgspec.Raw]) -> tuple[list[Event], list[dict[str, Any]]]:
    """The valid events of a batch, and `{"index", "id", "reason"}` for each one refused."""
    events: list[Event] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(raws):
        try:
            event = _EVENT.decode(raw)
            oversized = oversized_integer(raw)
        except msgspec.ValidationError as exc:
            reason = describe_msgspec(exc, prefix=f"events.{index}")
        except RecursionError:
            reason = f"events.{index}: nested too deeply"
        else:
            if oversized is None:
                events.append(event)
                continue
            reason = f"events.{index}.{oversized}: integer outside 64 bits"
        rejected.append({"index": index, "id": raw_id(raw), "reason": reason})
    return events, rejected


def _validate(body: bytes) -> tuple[list[Event], list[dict[str, Any]]]:
    """The batch's valid events and its refusals. Most batches are wholly valid: decoded in one pass,
    they are taken apart event by event only when that fails or some integer may be too long."""
    try:
        batch: EventBatch = _TYPED.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass
    else:
        if not may_hold_oversized(body):
            return batch.events, []
    raws: _RawBatch = decode(_BATCH, body)
    return split_batch(raws.events)


@router.post("/v1/events", status_code=202, response_model=IngestResult)
async def ingest_events(request: Request, settings: SettingsDep, ingest: IngestDep) -> JSONResponse:
    """Store the valid events of a batch; answered once they are durable. Idempotent on event id.

    Events that are not valid are refused one by one (`rejected`, with reasons); when none is valid
    the answer is 422.
    """
    body = await read_body(request, settings.max_body_bytes)
    events, rejected = _validate(body)
    if len(events) + len(rejected) > settings.max_batch_events:
        raise ClientError(
            413, f"{len(events) + len(rejected)} events in one batch: at most {settings.max_batch_events}"
        )
    if rejected and not events:
        reasons = "; ".join(r["reason"] for r in rejected[:5])
        more = f"; and {len(rejected) - 5} more" if len(rejected) > 5 else ""
        return JSONResponse({"error": reasons + more, "rejected": rejected}, status_code=422)
    accepted, duplicates = (0, 0)
    if events:
        accepted, duplicates = await asyncio.wrap_future(ingest.submit(events))
    outcome = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
    return JSONResponse(outcome, status_code=202)


@router.get("/v1/events")
def list_events(
    store: StoreDep,
    filters: EventFiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
) -> Response:
    """Events matching the filters, newest first, with the total count."""
    bodies, total = store.query_events(filters, limit, offset)
    # The stored JSON as it is, never parsed and re-encoded: what was accepted is what is read.
    content = b'{"events":[' + b",".join(bodies) + b'],"total":' + str(total).encode() + b"}"
    return Response(content, media_type="application/json")


@router.get("/v1/events/{event_id}")
def get_event(event_id: str, store: StoreDep) -> Response:
    """One event, with its feedback."""
    event = store.get_event(event_id)
    if event is None:
        raise ClientError(404, f"no event with id {event_id!r}")
    return Response(event, media_type="application/json")
