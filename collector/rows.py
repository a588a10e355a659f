"""Validated events as columns for DuckDB: the typed columns filters and aggregates use, plus the body."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from bakeoff.schema import Event, encode_event

EVENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("project", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("provider", pa.string()),
        ("api", pa.string()),
        ("model", pa.string()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("error_status", pa.int32()),
        ("latency_ms", pa.float64()),
        ("ttft_ms", pa.float64()),
        ("stream", pa.bool_()),
        ("input_tokens", pa.int32()),
        ("output_tokens", pa.int32()),
        ("tags", pa.list_(pa.string())),
        ("source", pa.string()),
        ("prompt_hash", pa.uint64()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("body", pa.string()),
        ("init_tags", pa.int32()),
    ]
)

# The event attribute in which the SDK says how many of the leading tags came from init().
INIT_TAGS_ATTRIBUTE = "bakeoff.init_tags"


def parse_ts(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (naive values are taken as UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def prompt_text(request: dict[str, Any]) -> str:
    """The prompt's text: every message's text content, in order (for near-duplicate detection)."""
    parts: list[str] = []
    system = request.get("system")
    if isinstance(system, str):
        parts.append(system)
    items = request.get("messages") or request.get("input") or []
    if isinstance(items, str):
        parts.append(items)
    for message in items if isinstance(items, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p]
    return "\n".join(parts)


# White space is deleted rather than collapsed: same grouping for real prompts, a quarter of the cost.
# The ASCII white space is deleted from the UTF-8 bytes (no multi-byte character contains those bytes).
_ASCII_SPACE = b" \t\n\r\x0b\x0c"


def prompt_hash(request: dict[str, Any]) -> int:
    """64-bit hash of the normalised prompt text: case and white space do not matter."""
    text = prompt_text(request).lower()
    if "\u00a0" in text:
        text = text.replace("\u00a0", "")
    normalised = text.encode().translate(None, _ASCII_SPACE)
    return int.from_bytes(hashlib.blake2b(normalised, digest_size=8).digest(), "big")


def init_tag_count(event: Event) -> int:
    """How many of the event's leading tags are the process's own (from init), not the call's kind.

    Read from the SDK's attribute, bounded by the number of tags; 0 when absent or not an integer
    (OTLP spans, older SDKs, other senders).
    """
    value = event.attributes.get(INIT_TAGS_ATTRIBUTE) if event.attributes else None
    if type(value) is not int or value <= 0:
        return 0
    return min(value, len(event.tags))


def to_columns(events: list[Event], source: str, received_at: datetime) -> pa.Table:
    """An Arrow table of `events` in the `events` table's column order (built column by column)."""
    count = len(events)
    errors = [event.error for event in events]
    columns: list[list[Any]] = [
        [e.id for e in events],
        [e.project for e in events],
        [e.ts for e in events],
        [e.provider for e in events],
        [e.api for e in events],
        [e.model for e in events],
        [e.status for e in events],
        [err.type if err else None for err in errors],
        [err.status_code if err else None for err in errors],
        [e.latency_ms for e in events],
        [e.ttft_ms for e in events],
        [e.stream for e in events],
        [e.usage.input_tokens for e in events],
        [e.usage.output_tokens for e in events],
        [e.tags for e in events],
        [source] * count,
        [prompt_hash(e.request) for e in events],
        [received_at] * count,
        [e.trace_id for e in events],
        [e.span_id for e in events],
        [encode_event(e).decode() for e in events],
        [init_tag_count(e) for e in events],
    ]
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, EVENT_SCHEMA, strict=True)], schema=EVENT_SCHEMA
    )
