"""The event wire format (schema_version 1): the contract the SDK writes and the collector and replay read.

The SDK's hot path builds plain dicts of this shape (validation costs too much per call); the collector
validates every incoming event with :class:`Event`, and replay reads dataset rows through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

Scalar = str | int | float | bool | None


class Usage(BaseModel):
    """Token counts of one call; `None` where the provider did not report them."""

    model_config = ConfigDict(extra="allow")

    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)


class ResponseBody(BaseModel):
    """What the model answered: text, why it stopped, and the tool calls it made."""

    model_config = ConfigDict(extra="allow")

    text: str | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ErrorInfo(BaseModel):
    """The failure of a call that raised."""

    model_config = ConfigDict(extra="allow")

    type: str
    message: str = ""
    status_code: int | None = None


class Event(BaseModel):
    """One recorded LLM call."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    schema_version: Literal[1] = 1
    project: str = Field(default="default", max_length=256)
    ts: str = Field(description="RFC 3339 UTC start of the call")
    provider: str = Field(min_length=1, max_length=64)
    api: str = Field(min_length=1, max_length=64)
    model: str = Field(default="", max_length=256)
    request: dict[str, Any] = Field(default_factory=dict)
    response: ResponseBody = Field(default_factory=ResponseBody)
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = Field(default=0.0, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    stream: bool = False
    status: Literal["ok", "error"] = "ok"
    error: ErrorInfo | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None

    @field_validator("ts")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z") from None
        return value


class Feedback(BaseModel):
    """A user's score of one event's answer, in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0.0, le=1.0)
    comment: str | None = Field(default=None, max_length=10_000)
    ts: str | None = None
