"""`POST /v1/feedback`: one `{"event_id", "score", "comment"}` or a batch `{"feedback": [...]}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from bakeoff.collector.bodies import parse, read_body
from bakeoff.collector.deps import SettingsDep, StoreDep
from bakeoff.collector.errors import ClientError, describe
from bakeoff.collector.rows import parse_ts
from bakeoff.schema import Feedback

router = APIRouter()


class FeedbackBody(BaseModel):
    """Either one feedback record (the contract's form) or a batch of them (what the SDK ships)."""

    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    comment: str | None = Field(default=None, max_length=10_000)
    ts: str | None = None
    feedback: list[Feedback] | None = Field(default=None, max_length=100_000)

    def records(self) -> list[Feedback]:
        if self.feedback is not None:
            return self.feedback
        return [Feedback.model_validate(self.model_dump(exclude={"feedback"}))]


@router.post("/v1/feedback", status_code=202)
async def add_feedback(request: Request, settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """Attach feedback to events; feedback for an event not stored yet is kept and joined later."""
    body = parse(FeedbackBody, await read_body(request, settings.max_body_bytes))
    records = _validated(body)
    now = datetime.now(UTC)
    rows = [(r.event_id, r.score, r.comment, _when(r.ts, now)) for r in records]
    store.insert_feedback(rows)
    return JSONResponse({"accepted": len(rows)}, status_code=202)


def _validated(body: FeedbackBody) -> list[Feedback]:
    try:
        return body.records()
    except ValidationError as exc:
        raise ClientError(422, describe(exc)) from exc


def _when(ts: str | None, default: datetime) -> Any:
    if not ts:
        return default
    try:
        return parse_ts(ts)
    except ValueError:
        return default
