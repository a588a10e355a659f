"""OTLP logs to parts of events: the GenAI log records instrumentations send beside their spans.

OpenTelemetry's GenAI instrumentations send a call's prompts and answers either on its span or as log
records ("events") of that span. Three shapes are read, whatever names the record by (the `event_name`
field of newer SDKs, else the `event.name` attribute of the older Events API):

- one record per message, the conventions up to 1.36 (OpenLLMetry's event mode, openai-v2's legacy
  path): `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message` (`tool_calls`),
  `gen_ai.tool.message` (`id`: the call it answers) with `{"content", ...}` bodies, and `gen_ai.choice`
  with `{"index", "finish_reason", "message": {"content", "tool_calls"}}`;
- one record per call, the conventions from 1.37: `gen_ai.client.inference.operation.details` with
  `gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.system_instructions` as attributes
  (structured values or JSON strings), like the span attributes of :mod:`bakeoff.collector.otlp`;
- a record without a name whose attributes carry those messages, read as the latter.

Each becomes a *part* (a small JSON object: one message, one choice, or the whole call) keyed by its
span's event id (:func:`bakeoff.collector.otlp.event_id`); :func:`joined` folds the parts of a span
into its event. Other log records are ignored and counted; GenAI records that cannot be joined or read
are refused one by one, with a reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from bakeoff.collector.otlp import any_value, event_id, parse_otlp_json
from bakeoff.schema import Event, validate_event

DETAILS = "gen_ai.client.inference.operation.details"
_ROLES = ("system", "user", "assistant", "tool", "developer")
_MAX_TIME_NS = 2**63 - 1  # the column is BIGINT; OTLP's fixed64 could say more
_MAX_CHOICES = 128


def decode_protobuf(body: bytes) -> ExportLogsServiceRequest:
    """An OTLP/protobuf logs export; raises protobuf's DecodeError when it is not one."""
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    return request


def decode_json(body: bytes) -> ExportLogsServiceRequest:
    """An OTLP/JSON logs export; ValueError when it is not one."""
    return parse_otlp_json(
        body, ExportLogsServiceRequest(), ("resourceLogs", "scopeLogs", "logRecords"), ("traceId", "spanId")
    )


@dataclass(frozen=True)
class LogPart:
    """What one GenAI log record says of its call, and where it belongs."""

    record_id: str  # a hash of the record as sent: the same record sent again has the same id
    event_id: str
    name: str
    time_ns: int
    position: int  # in its export
    part: dict[str, Any]


@dataclass
class Records:
    """What a logs export holds: the GenAI parts, records of something else, and the reasons of those
    refused."""

    parts: list[LogPart] = field(default_factory=list)
    ignored: int = 0
    rejected: list[str] = field(default_factory=list)


# -- reading one record ---------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """A value the conventions allow either structured or as a JSON string."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
    return value


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{what} must be a string")


def _content(value: Any) -> Any:
    """A message's content: text, or a list of content parts (as the provider's API takes them)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise ValueError("content must be a string or a list of objects")


def _arguments(value: Any) -> str:
    """Tool-call arguments as the chat API carries them: a JSON string."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _tool_calls(value: Any) -> list[dict[str, Any]] | None:
    """`[{"id", "type", "function": {"name", "arguments"}}]` in the chat API's form."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(call, dict) for call in value):
        raise ValueError("tool_calls must be a list of objects")
    calls = []
    for call in value:
        function = call.get("function") or {}
        if not isinstance(function, dict):
            raise ValueError("a tool call's function must be an object")
        calls.append(
            {
                "id": _text(call.get("id"), "a tool call's id"),
                "type": "function",
                "function": {
                    "name": _text(function.get("name"), "a tool call's name"),
                    "arguments": _arguments(function.get("arguments", "")),
                },
            }
        )
    return calls or None


def _body_map(body: Any, name: str) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValueError(f"the body of {name} must be a map")
    return body


def _message_part(name: str, body: Any) -> dict[str, Any]:
    """`gen_ai.<role>.message`: one message of the request."""
    fields = _body_map(body, name)
    role = fields.get("role", name.split(".")[1])
    if not isinstance(role, str) or not role:
        raise ValueError("role must be a string")
    message: dict[str, Any] = {"role": role, "content": _content(fields.get("content"))}
    calls = _tool_calls(fields.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    if role == "tool" and fields.get("id") is not None:
        message["tool_call_id"] = _text(fields.get("id"), "a tool message's id")
    return {"kind": "message", "message": message}


def _index(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_CHOICES:
        raise ValueError(f"index must be an integer from 0 to {_MAX_CHOICES - 1}")
    return value


def _choice_part(body: Any) -> dict[str, Any]:
    """`gen_ai.choice`: one choice of the answer (OpenLLMetry puts its tool calls beside the message)."""
    fields = _body_map(body, "gen_ai.choice")
    message = fields.get("message") or {}
    if not isinstance(message, dict):
        raise ValueError("a choice's message must be a map")
    content = _content(message.get("content"))
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content) or None
    return {
        "kind": "choice",
        "index": _index(fields.get("index")),
        "text": content,
        "finish_reason": _text(fields.get("finish_reason"), "finish_reason"),
        "tool_calls": _tool_calls(message.get("tool_calls")) or _tool_calls(fields.get("tool_calls")),
    }


def _parts_text(parts: list[dict[str, Any]]) -> str | None:
    texts = [str(p.get("content", "")) for p in parts if p.get("type") == "text"]
    return "".join(texts) if texts else None


def _message_parts(message: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise ValueError(f"{what} must be a list of objects")
    parts = message.get("parts") or []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise ValueError(f"the parts of {what} must be a list of objects")
    return parts


def _semconv_calls(parts: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    calls = [
        {
            "id": p.get("id"),
            "type": "function",
            "function": {"name": p.get("name"), "arguments": p.get("arguments")},
        }
        for p in parts
        if p.get("type") == "tool_call"
    ]
    return _tool_calls(calls)


def _input_messages(value: Any, system: Any) -> list[dict[str, Any]] | None:
    """`gen_ai.system_instructions` and `gen_ai.input.messages` as chat messages (tool calls and tool
    results included), or None when the record has neither."""
    if value is None and system is None:
        return None
    messages: list[dict[str, Any]] = []
    if system is not None:
        instructions = _message_parts({"parts": system}, "gen_ai.system_instructions")
        if _parts_text(instructions):
            messages.append({"role": "system", "content": _parts_text(instructions)})
    if value is not None and not isinstance(value, list):
        raise ValueError("gen_ai.input.messages must be a list of objects")
    for message in value or []:
        parts = _message_parts(message, "gen_ai.input.messages")
        role = message.get("role", "user")
        if not isinstance(role, str):
            raise ValueError("role must be a string")
        results = [p for p in parts if p.get("type") == "tool_call_response"]
        for result in results:  # each tool result is a message of its own in the chat API
            response = result.get("response")
            messages.append(
                {
                    "role": "tool",
                    "content": response if isinstance(response, str) else orjson.dumps(response).decode(),
                    "tool_call_id": _text(result.get("id"), "a tool result's id"),
                }
            )
        if results and len(results) == len(parts):
            continue
        entry: dict[str, Any] = {"role": role, "content": _parts_text(parts)}
        calls = _semconv_calls(parts)
        if calls:
            entry["tool_calls"] = calls
        messages.append(entry)
    return messages


def _output_choices(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("gen_ai.output.messages must be a list of objects")
    choices = []
    for index, message in enumerate(value[:_MAX_CHOICES]):
        parts = _message_parts(message, "gen_ai.output.messages")
        choices.append(
            {
                "index": index,
                "text": _parts_text(parts),
                "finish_reason": _text(message.get("finish_reason"), "finish_reason"),
                "tool_calls": _semconv_calls(parts),
            }
        )
    return choices


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def _details_part(attributes: dict[str, Any]) -> dict[str, Any]:
    """`gen_ai.client.inference.operation.details`: the whole call, messages and answer."""
    return {
        "kind": "details",
        "messages": _input_messages(
            _json_value(attributes.get("gen_ai.input.messages")),
            _json_value(attributes.get("gen_ai.system_instructions")),
        ),
        "choices": _output_choices(_json_value(attributes.get("gen_ai.output.messages"))),
        "input_tokens": _count(attributes.get("gen_ai.usage.input_tokens")),
        "output_tokens": _count(attributes.get("gen_ai.usage.output_tokens")),
    }


def record_name(record: Any, attributes: dict[str, Any]) -> str:
    """The event name of a log record: its `event_name` field, else its `event.name` attribute."""
    name = record.event_name or attributes.get("event.name") or ""
    return name if isinstance(name, str) else ""


def part_of(name: str, body: Any, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The part a GenAI record says, or None when the record is no GenAI content (ValueError when it is
    one of the wrong shape)."""
    if name == DETAILS or (
        not name and ("gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes)
    ):
        return _details_part(attributes)
    if name == "gen_ai.choice":
        return _choice_part(body)
    if name.startswith("gen_ai.") and name.endswith(".message") and name.count(".") == 2:
        return _message_part(name, body)
    return None


def _record_id(record: Any, key: str, position: int) -> str:
    """A hash of the record as sent (the same bytes whether it came as protobuf or JSON). Records sent
    without any time are told apart by their place in the export too."""
    digest = hashlib.blake2b(key.encode(), digest_size=16)
    digest.update(record.SerializeToString(deterministic=True))
    if not record.time_unix_nano and not record.observed_time_unix_nano:
        digest.update(position.to_bytes(8, "big"))
    return digest.hexdigest()


# A record's body and attributes are the sender's data: a shape the conventions do not allow refuses
# that record only.
_RECORD_MISTAKES = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


def records_from_request(request: ExportLogsServiceRequest) -> Records:
    """The GenAI parts of an export, how many records were something else, and why records were refused."""
    records = Records()
    position = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                position += 1
                try:
                    part = _read_record(record, position)
                except _RECORD_MISTAKES as exc:
                    name = record.event_name or "record"
                    records.rejected.append(f"log record {position} ({name[:80]}): {str(exc)[:200]}")
                    continue
                if part is None:
                    records.ignored += 1
                else:
                    records.parts.append(part)
    return records


def _read_record(record: Any, position: int) -> LogPart | None:
    attributes = {kv.key: any_value(kv.value) for kv in record.attributes}
    name = record_name(record, attributes)
    part = part_of(name, any_value(record.body) if record.HasField("body") else None, attributes)
    if part is None:
        return None
    if len(record.trace_id) != 16 or len(record.span_id) != 8 or not any(record.span_id):
        raise ValueError("no trace and span id (16 and 8 bytes): nothing to join it to")
    key = event_id(record.trace_id.hex(), record.span_id.hex())
    orjson.dumps(part)  # what cannot be stored as JSON is refused here, not at the commit
    return LogPart(
        record_id=_record_id(record, key, position),
        event_id=key,
        name=name or DETAILS,
        time_ns=min(record.time_unix_nano or record.observed_time_unix_nano, _MAX_TIME_NS),
        position=position,
        part=part,
    )


# -- folding parts into an event ---------------------------------------------------------------------


def _has_content(messages: list[dict[str, Any]]) -> bool:
    """Whether any message says something: records sent without content still name roles and tool
    calls, and messages of nothing but those cannot be replayed."""
    return any(m.get("content") for m in messages)


def _messages(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's messages: those of the last whole-call record, else the per-message records."""
    for part in reversed(parts):
        if part["kind"] == "details" and part.get("messages"):
            return list(part["messages"])
    return [part["message"] for part in parts if part["kind"] == "message"]


def _choices(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for part in reversed(parts):
        if part["kind"] == "details" and part.get("choices"):
            return list(part["choices"])
    by_index = {part["index"]: part for part in parts if part["kind"] == "choice"}  # the last one wins
    return [by_index[i] for i in sorted(by_index)]


def joined(event: Event, parts: list[dict[str, Any]]) -> Event:
    """`event` with what its log records say, the parts in the order they happened.

    Messages and answer are taken whole from the records when they hold any content (what the span
    said is replaced, not added to), so folding the same records again, or a superset of them into the
    result, gives the same event: the join is idempotent whichever arrived first.
    """
    data = msgspec.to_builtins(event)
    messages = _messages(parts)
    if messages and _has_content(messages):
        data["request"]["messages"] = messages
    choices = [
        {"text": c.get("text"), "finish_reason": c.get("finish_reason"), "tool_calls": c.get("tool_calls")}
        for c in _choices(parts)
    ]
    response = data["response"]
    if choices:
        first = choices[0]
        if first["text"] is not None or first["tool_calls"]:
            response["text"], response["tool_calls"] = first["text"], first["tool_calls"]
        response["finish_reason"] = first["finish_reason"] or response.get("finish_reason")
        if len(choices) > 1 and any(c["text"] is not None or c["tool_calls"] for c in choices):
            response["choices"] = choices
    usage = data["usage"]
    for part in parts:
        for key in ("input_tokens", "output_tokens"):
            if part["kind"] == "details" and usage.get(key) is None and part.get(key) is not None:
                usage[key] = part[key]
    data["attributes"]["otlp.log_records"] = len(parts)
    return validate_event(data)
