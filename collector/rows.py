"""Validated events as columns for DuckDB: the typed columns filters and aggregates use, plus the body."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from bakeoff.schema import Event

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
    ]
)

_SPACE = re.compile(r"\s+")


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


def prompt_hash(request: dict[str, Any]) -> int:
    """64-bit hash of the normalised prompt text: case and white space do not matter."""
    normalised = _SPACE.sub(" ", prompt_text(request).lower()).strip()
    return int.from_bytes(hashlib.blake2b(normalised.encode(), digest_size=8).digest(), "big")


def to_columns(events: list[Event], source: str, received_at: datetime) -> pa.Table:
    """An Arrow table of `events` in the `events` table's column order."""
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA.names}
    for event in events:
        body = event.model_dump(mode="json")
        error = event.error
        values = (
            event.id,
            event.project,
            parse_ts(event.ts),
            event.provider,
            event.api,
            event.model,
            event.status,
            error.type if error else None,
            error.status_code if error else None,
            event.latency_ms,
            event.ttft_ms,
            event.stream,
            event.usage.input_tokens,
            event.usage.output_tokens,
            event.tags,
            source,
            prompt_hash(event.request),
            received_at,
            event.trace_id,
            event.span_id,
            orjson.dumps(body).decode(),
        )
        for name, value in zip(EVENT_SCHEMA.names, values, strict=True):
            columns[name].append(value)
    return pa.table(columns, schema=EVENT_SCHEMA)
