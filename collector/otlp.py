"""OTLP traces to events: spans of LLM calls described with the GenAI semantic conventions.

Both the current conventions (`gen_ai.provider.name`, `gen_ai.input.messages` / `gen_ai.output.messages`,
span events `gen_ai.*.message` / `gen_ai.choice`) and the older indexed attributes OpenLLMetry emits
(`gen_ai.prompt.N.*`, `gen_ai.completion.N.*`, `gen_ai.system`, `llm.usage.*`) are read. Spans that describe
no LLM call are skipped and counted. Event ids derive from trace and span ids, so a re-sent export is
idempotent like any batch.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from bakeoff.collector.errors import describe_msgspec
from bakeoff.schema import Event, EventValidationError, utc_timestamp, validate_event

ExportT = TypeVar("ExportT", bound=Message)

_LLM_MARKERS = ("gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model")
_PARAMS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.stop_sequences": "stop",
}
_STATUS_ERROR = 2


def event_id(trace_id: str, span_id: str) -> str:
    """The id of the event of the span `span_id` (hex) of trace `trace_id` (hex): log records of that
    span find their event by it."""
    return f"otlp-{trace_id}-{span_id}"


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/protobuf trace export; raises protobuf's DecodeError when it is not one."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def _objects(container: Any, key: str) -> list[dict[str, Any]]:
    """`container[key]`, which OTLP/JSON says is a list of objects; ValueError when it is not."""
    items = container.get(key, []) if isinstance(container, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{key} must be a list of objects")
    return items


def parse_otlp_json(
    body: bytes, export: ExportT, levels: tuple[str, str, str], id_keys: tuple[str, ...]
) -> ExportT:
    """An OTLP/JSON export into the empty message `export`: protobuf's JSON mapping, except that trace and
    span ids are hex, not base64. `levels` name the nested lists down to the items (spans, log records)
    whose `id_keys` hold such ids.

    Raises ValueError for anything that is not such an export (wrong shapes, bad ids, bad values).
    """
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("an export must be a JSON object")
    resources, scopes, items = levels
    for resource in _objects(data, resources):
        for scope in _objects(resource, scopes):
            for item in _objects(scope, items):
                for key in id_keys:
                    if item.get(key):
                        if not isinstance(item[key], str):
                            raise ValueError(f"{key} must be a hex string")
                        item[key] = base64.b64encode(bytes.fromhex(item[key])).decode()
    try:
        return json_format.ParseDict(data, export, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, RecursionError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/JSON trace export; ValueError when it is not one."""
    return parse_otlp_json(
        body,
        ExportTraceServiceRequest(),
        ("resourceSpans", "scopeSpans", "spans"),
        ("traceId", "spanId", "parentSpanId"),
    )


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


def _json_attribute(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _parts_text(parts: Any) -> str | None:
    texts = [
        str(p.get("content", "")) for p in parts or [] if isinstance(p, dict) and p.get("type") == "text"
    ]
    return "".join(texts) if texts else None


def _semconv_messages(attributes: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Messages and the answer from `gen_ai.input.messages` / `gen_ai.output.messages` (JSON attributes)."""
    messages: list[dict[str, Any]] = []
    system = _json_attribute(attributes.get("gen_ai.system_instructions"))
    if isinstance(system, list) and _parts_text(system):
        messages.append({"role": "system", "content": _parts_text(system)})
    for message in _json_attribute(attributes.get("gen_ai.input.messages")) or []:
        if isinstance(message, dict):
            messages.append(
                {"role": message.get("role", "user"), "content": _parts_text(message.get("parts"))}
            )
    answer = None
    outputs = _json_attribute(attributes.get("gen_ai.output.messages")) or []
    if outputs and isinstance(outputs[0], dict):
        first = outputs[0]
        calls = [
            {
                "id": p.get("id"),
                "type": "function",
                "function": {"name": p.get("name"), "arguments": orjson.dumps(p.get("arguments")).decode()},
            }
            for p in first.get("parts") or []
            if isinstance(p, dict) and p.get("type") == "tool_call"
        ]
        answer = {
            "text": _parts_text(first.get("parts")),
            "finish_reason": first.get("finish_reason"),
            "tool_calls": calls or None,
        }
    return messages, answer


def _indexed_messages(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenLLMetry's `gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, ... as a list of dicts."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, field = key[len(prefix) :].partition(".")
        if index.isdigit() and field:
            found.setdefault(int(index), {})[field] = value
    return [found[i] for i in sorted(found)]


def _event_messages(span: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The older span-event form: `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.choice`."""
    messages: list[dict[str, Any]] = []
    answer = None
    for event in span.events:
        attributes = _attributes(event.attributes)
        if event.name.startswith("gen_ai.") and event.name.endswith(".message"):
            role = event.name.split(".")[1]
            messages.append({"role": role, "content": attributes.get("content")})
        elif event.name == "gen_ai.choice":
            message = _json_attribute(attributes.get("message")) or {}
            answer = {
                "text": message.get("content") if isinstance(message, dict) else None,
                "finish_reason": attributes.get("finish_reason"),
                "tool_calls": None,
            }
    return messages, answer


def _first(attributes: dict[str, Any], *keys: str) -> Any:
    return next((attributes[k] for k in keys if attributes.get(k) is not None), None)


def span_to_event(span: Any, resource: dict[str, Any]) -> Event | None:
    """The event of one span, or None when the span is not an LLM call."""
    attributes = _attributes(span.attributes)
    if not any(marker in attributes for marker in _LLM_MARKERS):
        return None
    provider = str(_first(attributes, "gen_ai.provider.name", "gen_ai.system") or "unknown")
    operation = str(attributes.get("gen_ai.operation.name") or "chat")
    api = {"embeddings": "embeddings"}.get(
        operation, "messages" if provider == "anthropic" else "chat.completions"
    )
    messages, answer = _semconv_messages(attributes)
    if not messages and answer is None:
        messages = [
            {"role": m.get("role", "user"), "content": m.get("content")}
            for m in _indexed_messages(attributes, "gen_ai.prompt.")
        ]
        completions = _indexed_messages(attributes, "gen_ai.completion.")
        if completions:
            answer = {
                "text": completions[0].get("content"),
                "finish_reason": completions[0].get("finish_reason"),
                "tool_calls": None,
            }
    if not messages and answer is None:
        messages, answer = _event_messages(span)
    model = str(_first(attributes, "gen_ai.request.model", "gen_ai.response.model") or "")
    request: dict[str, Any] = {"model": model, "messages": messages}
    request.update({name: attributes[key] for key, name in _PARAMS.items() if key in attributes})
    finish = attributes.get("gen_ai.response.finish_reasons")
    if answer is None:
        answer = {"text": None, "finish_reason": None, "tool_calls": None}
    if not answer.get("finish_reason") and isinstance(finish, list) and finish:
        answer["finish_reason"] = finish[0]
    failed = span.status.code == _STATUS_ERROR
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    return validate_event(
        dict(
            id=event_id(trace_id, span_id),
            project=str(resource.get("service.name") or "default"),
            ts=utc_timestamp(datetime.fromtimestamp(start_ns / 1e9, UTC)),
            provider=provider,
            api=api,
            model=model,
            request=request,
            response=answer,
            usage={
                "input_tokens": _first(
                    attributes,
                    "gen_ai.usage.input_tokens",
                    "gen_ai.usage.prompt_tokens",
                    "llm.usage.prompt_tokens",
                ),
                "output_tokens": _first(
                    attributes,
                    "gen_ai.usage.output_tokens",
                    "gen_ai.usage.completion_tokens",
                    "llm.usage.completion_tokens",
                ),
            },
            latency_ms=max(0.0, (end_ns - start_ns) / 1e6),
            stream=bool(attributes.get("gen_ai.request.stream") or attributes.get("llm.is_streaming")),
            status="error" if failed else "ok",
            error={"type": str(attributes.get("error.type") or "error"), "message": span.status.message}
            if failed
            else None,
            attributes={
                "otlp.span_name": span.name,
                **{
                    k: v
                    for k, v in attributes.items()
                    if k in ("gen_ai.response.id", "gen_ai.response.model", "server.address")
                },
            },
            trace_id=trace_id,
            span_id=span_id,
        )
    )


@dataclass
class Spans:
    """What an export holds: events of LLM spans, spans of no LLM call, and the reasons of spans refused."""

    events: list[Event] = field(default_factory=list)
    ignored: int = 0
    rejected: list[str] = field(default_factory=list)


# A span's attributes are the sender's data: a shape the conventions do not allow refuses that span only.
_SPAN_MISTAKES = (EventValidationError, ValueError, TypeError, AttributeError, KeyError, IndexError)


def events_from_request(request: ExportTraceServiceRequest) -> Spans:
    """The events of an export, how many spans were not LLM calls, and why spans were refused."""
    spans = Spans()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    event = span_to_event(span, resource)
                except _SPAN_MISTAKES as exc:
                    reason = describe_msgspec(exc) if isinstance(exc, EventValidationError) else str(exc)
                    spans.rejected.append(f"span {span.span_id.hex() or '?'}: {reason}")
                    continue
                if event is None:
                    spans.ignored += 1
                else:
                    spans.events.append(event)
    return spans
