"""`POST /v1/feedback`: one `{"event_id", "score", "comment"}` or a batch `{"feedback": [...]}`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bakeoff.collector.bodies import decode, read_body
from bakeoff.collector.deps import SettingsDep, StoreDep
from bakeoff.collector.errors import ClientError, describe_msgspec
from bakeoff.collector.rows import parse_ts
from bakeoff.collector.store import Store
from bakeoff.schema import Feedback

router = APIRouter()


class FeedbackBody(msgspec.Struct, forbid_unknown_fields=True):
    """Either one feedback record (the contract's form) or a batch of them (what the SDK ships)."""

    event_id: str | None = None
    score: float | None = None
    comment: str | None = None
    ts: str | None = None
    feedback: Annotated[list[Feedback], msgspec.Meta(max_length=100_000)] | None = None

    def records(self) -> list[Feedback]:
        if self.feedback is not None:
            return self.feedback
        single = {"event_id": self.event_id, "score": self.score, "comment": self.comment, "ts": self.ts}
        return [msgspec.convert(single, Feedback)]


_BODY = msgspec.json.Decoder(FeedbackBody)


@router.post("/v1/feedback", status_code=202)
async def add_feedback(request: Request, settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """Attach feedback to events; feedback for an event not stored yet is kept and joined later."""
    body = await read_body(request, settings.max_body_bytes)
    # Validating and inserting 100k rows takes a while: in a worker thread, so that the event loop
    # keeps serving every other request meanwhile.
    accepted = await asyncio.to_thread(_store_feedback, store, body)
    return JSONResponse({"accepted": accepted}, status_code=202)


def _store_feedback(store: Store, body: bytes) -> int:
    records = _validated(decode(_BODY, body))
    if not records:
        return 0
    now = datetime.now(UTC)
    store.insert_feedback(
        pa.table(
            {
                "event_id": pa.array([r.event_id for r in records], pa.string()),
                "score": pa.array([r.score for r in records], pa.float64()),
                "comment": pa.array([r.comment for r in records], pa.string()),
                "ts": pa.array([_when(r.ts, now) for r in records], pa.timestamp("us", tz="UTC")),
            }
        )
    )
    return len(records)


def _validated(body: FeedbackBody) -> list[Feedback]:
    try:
        return body.records()
    except msgspec.ValidationError as exc:
        raise ClientError(422, describe_msgspec(exc)) from exc


def _when(ts: str | None, default: datetime) -> Any:
    if not ts:
        return default
    try:
        return parse_ts(ts)
    except (ValueError, OverflowError):  # not a timestamp, or out of range in UTC: when it arrived
        return default
