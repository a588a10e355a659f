"""Recording of the `anthropic` client: `messages.create` (plain and streamed), `messages.stream(...)` and
`messages.parse`, and the same under `client.beta`.

The `messages.stream(...)` helper posts the request itself (not through `create`), so its manager is
proxied: the call starts when the `with` block is entered, and the helper's `MessageStream` is handed
a recording proxy of the raw event stream, so chunks and time to first token are seen as they pass.

anthropic 2.x makes its own GenAI span for every call when its OpenTelemetry tracing is on (the
default); bakeoff then makes no second span, and its event joins the application's trace instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from bakeoff.integrations.common import (
    Answer,
    finish_with,
    make_wrapper,
    read_answer,
    recorder,
    response_dict,
    start,
    usage_dict,
)
from bakeoff.integrations.raw import (
    RESPONSE_PROXIES,
    is_raw_response,
    json_default,
    raw_response,
    streaming_response,
    wrap_stream,
)
from bakeoff.recorder import Call
from bakeoff.streams import RecordingManager, current_scope

PROVIDER = "anthropic"
API = "messages"


def _tool_call(block: Any) -> dict[str, Any]:
    return {
        "id": block.id,
        "type": "function",
        "function": {"name": block.name, "arguments": _arguments(block.input)},
    }


def _arguments(value: Any) -> str:
    # A block decoded from a body the application read itself is made of `Fields`.
    return orjson.dumps(value, default=json_default).decode()


def _usage(
    input_tokens: int | None, output_tokens: int | None, cache_read: int | None, cache_creation: int | None
) -> dict[str, Any]:
    # Anthropic counts cached input apart from `input_tokens`; the event (like OpenTelemetry's
    # `gen_ai.usage.input_tokens`) counts every input token, cached ones included.
    total = None
    if input_tokens is not None or cache_read is not None or cache_creation is not None:
        total = (input_tokens or 0) + (cache_read or 0) + (cache_creation or 0)
    return usage_dict(total, output_tokens, cache_read, cache_creation)


def message_usage(usage: Any) -> dict[str, Any]:
    """The event's `usage` of a `Message`'s usage."""
    if usage is None:
        return _usage(None, None, None, None)
    return _usage(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    )


def _response(texts: list[str], stop_reason: str | None, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(texts) if texts else None
    # A refusal is a stop reason; what was said before it is the refusal's text.
    refusal = (text or "") if stop_reason == "refusal" else None
    return response_dict(text, stop_reason, tool_calls or None, refusal)


def _message(message: Any) -> Answer:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.content or ():
        kind = block.type
        if kind == "text":
            texts.append(block.text)
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block))
    attributes = {"response_model": message.model, "response_id": message.id}
    response = _response(texts, message.stop_reason, tool_calls)
    return response, message_usage(message.usage), attributes


def message_result(message: Any) -> Answer:
    """`(response, usage, attributes)` of a `Message`."""
    return read_answer(_message, message)


_USAGE_FIELDS = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_creation"),
)


class MessageEventAccumulator:
    """Assembles raw message stream events: text and tool-use blocks, stop reason, usage."""

    __slots__ = (
        "blocks",
        "cache_creation",
        "cache_read",
        "input_tokens",
        "model",
        "output_tokens",
        "response_id",
        "stop_reason",
    )

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.stop_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.model: str | None = None
        self.response_id: str | None = None

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        for name, attribute in _USAGE_FIELDS:
            value = getattr(usage, name, None)
            if value is not None:
                setattr(self, attribute, value)

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            block = self.blocks.setdefault(event.index, {"type": "text", "text": []})
            delta = event.delta
            if delta.type == "text_delta":
                block["text"].append(delta.text)
            elif delta.type == "input_json_delta":
                block.setdefault("json", []).append(delta.partial_json)
            return True
        if kind == "content_block_start":
            content = event.content_block
            block = {
                "type": content.type,
                "text": [],
                "id": getattr(content, "id", None),
                "name": getattr(content, "name", None),
            }
            self.blocks[event.index] = block
            return content.type == "tool_use"
        if kind == "message_start":
            message = event.message
            self.model, self.response_id = message.model, message.id
            self._usage(message.usage)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self._usage(event.usage)
        return False

    def result(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        texts: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["type"] == "text":
                texts.extend(block["text"])
            elif block["type"] == "tool_use":
                tool_calls.append(
                    {
                        "id": block["id"],
                        "type": "function",
                        "function": {
                            "name": block["name"],
                            "arguments": "".join(block.get("json", [])) or "{}",
                        },
                    }
                )
        usage = _usage(self.input_tokens, self.output_tokens, self.cache_read, self.cache_creation)
        attributes = {"response_model": self.model, "response_id": self.response_id}
        return _response(texts, self.stop_reason, tool_calls), usage, attributes


def own_spans_enabled(resource: Any) -> bool:
    """Whether this client makes its own GenAI span per call (anthropic 2.x tracing, on by default)."""
    options = getattr(getattr(resource, "_client", None), "_open_telemetry", None)
    try:
        return bool(options["traces"]["enabled"])  # type: ignore[index]
    except (TypeError, KeyError):
        return False


def _handle(call: Call, result: Any) -> Any:
    if type(result).__name__ in RESPONSE_PROXIES:
        if is_raw_response(result):
            return raw_response(call, result, message_result, MessageEventAccumulator)
        return streaming_response(call, result, message_result, MessageEventAccumulator())
    if call.stream:
        return wrap_stream(call, result, MessageEventAccumulator())
    finish_with(call, message_result(result))
    return result


def fix_output_format(request: dict[str, Any]) -> dict[str, Any]:
    """`parse` and `stream` send an `output_format` type as `output_config.format`, a JSON schema."""
    output_format = request.pop("output_format", None)
    if isinstance(output_format, type):
        try:
            from anthropic.lib._parse._transform import cached_json_schema, transform_schema
            from pydantic import TypeAdapter

            schema = transform_schema(cached_json_schema(TypeAdapter(output_format)))
        except ImportError:  # the helper moved: the schema as pydantic writes it
            from pydantic import TypeAdapter

            schema = TypeAdapter(output_format).json_schema()
        config = dict(request.get("output_config") or {})
        config["format"] = {"type": "json_schema", "schema": schema}
        request["output_config"] = config
    return request


def _stream_manager_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    if recorder() is None:
        return manager
    span = not own_spans_enabled(instance)

    def start_call() -> Call:
        call = start(PROVIDER, API, {**kwargs, "stream": True}, span, fix_output_format, instance)
        assert call is not None
        return call

    return RecordingManager(manager, start_call, MessageEventAccumulator)


def _message_stream_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Hand the helper's MessageStream a recording proxy of its raw stream, inside a recorded manager."""
    scope = current_scope()
    if scope is not None and scope.call is not None and scope.make_accumulator is not None and args:
        raw, *rest = args
        accumulator = scope.make_accumulator()
        args = (wrap_stream(scope.call, raw, accumulator), *rest)
    return wrapped(*args, **kwargs)


def _own_spans(resource: Any) -> bool:
    return not own_spans_enabled(resource)


def wrappers() -> list[tuple[str, str, Any]]:
    """`(module, "Class.method", wrapper)` for every patched method the installed client has."""
    import importlib

    create = make_wrapper(PROVIDER, API, _handle, span_for=_own_spans)
    parse = make_wrapper(PROVIDER, API, _handle, span_for=_own_spans, fix_request=fix_output_format)
    patches: list[tuple[str, str, Any]] = []
    for messages, streaming, prefix in (
        ("anthropic.resources.messages.messages", "anthropic.lib.streaming._messages", ""),
        ("anthropic.resources.beta.messages.messages", "anthropic.lib.streaming._beta_messages", "Beta"),
    ):
        try:
            importlib.import_module(messages)
            importlib.import_module(streaming)
        except ImportError:
            continue
        patches += [
            (messages, "Messages.create", create),
            (messages, "AsyncMessages.create", create),
            (messages, "Messages.stream", _stream_manager_wrapper),
            (messages, "AsyncMessages.stream", _stream_manager_wrapper),
            (messages, "Messages.parse", parse),
            (messages, "AsyncMessages.parse", parse),
            (streaming, f"{prefix}MessageStream.__init__", _message_stream_init_wrapper),
            (streaming, f"{prefix}AsyncMessageStream.__init__", _message_stream_init_wrapper),
        ]
    return [p for p in patches if _has(p[0], p[1])]


def _has(module: str, path: str) -> bool:
    import importlib

    cls, method = path.split(".")
    return method in getattr(importlib.import_module(module), cls, object).__dict__
