"""The event wire format (schema_version 1): the contract the SDK writes and the collector and replay read.

The SDK's hot path builds plain dicts of this shape (validation costs too much per call); the collector
validates every incoming event with :class:`Event`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

SCHEMA_VERSION = 1

Scalar = str | int | float | bool | None
# Integers are bounded by the collector's INTEGER columns: a larger one is the client's mistake (422).
_INT32_MAX = 2**31 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=_INT32_MAX)]
Millis = Annotated[float, msgspec.Meta(ge=0)]

# Raised for an event of the wrong shape; its message names the field, e.g. "... - at `$.usage`".
EventValidationError = msgspec.ValidationError


class Usage(msgspec.Struct):
    """Token counts of one call; `None` where the provider did not report them.

    `cached_input_tokens` (read from the provider's prompt cache) and `cache_creation_input_tokens`
    (written to it) are priced differently from the rest of the input; `reasoning_tokens` are part of
    `output_tokens`.
    """

    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cached_input_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    reasoning_tokens: Count | None = None


class ResponseBody(msgspec.Struct):
    """What the model answered: text, why it stopped, the tool calls it made, or its refusal.

    `incomplete` is true when the application stopped reading a stream before its end (closed early,
    abandoned, broken): the text is then a prefix of the answer. `choices` holds every choice when the
    request asked for several (`n > 1`), each `{"text", "finish_reason", "tool_calls"}`; the first is
    also the top-level text, finish reason and tool calls.
    """

    text: str | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    refusal: str | None = None
    incomplete: bool = False
    choices: list[dict[str, Any]] | None = None


class ErrorInfo(msgspec.Struct):
    """The failure of a call that raised."""

    type: str
    message: str = ""
    status_code: Annotated[int, msgspec.Meta(ge=-_INT32_MAX, le=_INT32_MAX)] | None = None


class Event(msgspec.Struct, forbid_unknown_fields=True):
    """One recorded LLM call.

    A msgspec struct rather than a pydantic model: the collector validates every incoming event, and
    msgspec decodes and checks a 2 KB event in ~2 µs where pydantic took ~28 µs. Unknown top-level
    fields are refused; unknown keys inside `usage`, `response` and `error` are ignored.
    """

    # No "/" and not "." or "..": an id must survive a URL path (`GET /v1/events/{id}`) unchanged.
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^(?!\.\.?$)[^/]+$")]
    ts: datetime  # RFC 3339; naive times are taken as UTC, others converted to it
    provider: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    api: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    schema_version: Literal[1] = 1
    project: Annotated[str, msgspec.Meta(max_length=256)] = "default"
    model: Annotated[str, msgspec.Meta(max_length=256)] = ""
    request: dict[str, Any] = msgspec.field(default_factory=dict)
    response: ResponseBody = msgspec.field(default_factory=ResponseBody)
    usage: Usage = msgspec.field(default_factory=Usage)
    latency_ms: Millis = 0.0
    ttft_ms: Millis | None = None
    stream: bool = False
    status: Literal["ok", "error"] = "ok"
    error: ErrorInfo | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    attributes: dict[str, Scalar] = msgspec.field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None

    def __post_init__(self) -> None:
        ts = self.ts
        try:
            self.ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
            raise ValueError("ts is out of range once converted to UTC") from None


def utc_timestamp(moment: datetime | None = None) -> str:
    """`moment` (default: now) as the wire format writes times: RFC 3339 in UTC, `Z` for the zone."""
    moment = datetime.now(UTC) if moment is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def validate_event(data: dict[str, Any]) -> Event:
    """An event from a dict of the wire format; :data:`EventValidationError` names what is wrong."""
    return msgspec.convert(data, Event)


def encode_event(event: Event) -> bytes:
    """The wire format of an event as JSON bytes."""
    return _ENCODER.encode(event)


_ENCODER = msgspec.json.Encoder()


class Feedback(msgspec.Struct, forbid_unknown_fields=True):
    """A user's score of one event's answer, in [0, 1].

    A msgspec struct like :class:`Event`: a batch of 100k of them validates in a fraction of the time
    pydantic took (which held the collector's interpreter for over a second).
    """

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    comment: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    ts: str | None = None
