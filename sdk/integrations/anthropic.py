"""Recording of the `anthropic` client: `messages.create` (plain and streamed) and `messages.stream(...)`.

The `messages.stream(...)` helper posts the request itself (not through `create`), so its manager is
proxied: the call starts when the `with` block is entered, and the helper's `MessageStream` is handed
a recording proxy of the raw event stream, so chunks and time to first token are seen as they pass.

anthropic 2.x makes its own GenAI span for every call when its OpenTelemetry tracing is on (the
default); bakeoff then makes no second span, and its event joins the application's trace instead.
"""

from __future__ import annotations

from typing import Any

import orjson

from bakeoff.integrations.common import make_wrapper, recorder, start
from bakeoff.recorder import Call
from bakeoff.streams import AsyncRecordingStream, RecordingManager, RecordingStream, current_scope

PROVIDER = "anthropic"
API = "messages"


def _tool_call(block: Any) -> dict[str, Any]:
    return {
        "id": getattr(block, "id", None),
        "type": "function",
        "function": {"name": getattr(block, "name", None), "arguments": orjson.dumps(block.input).decode()},
    }


def _usage(usage: Any) -> dict[str, Any]:
    return {
        "input_tokens": getattr(usage, "input_tokens", None),
        "output_tokens": getattr(usage, "output_tokens", None),
    }


def message_result(message: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`(response, usage, attributes)` of a `Message`."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in getattr(message, "content", None) or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            texts.append(block.text)
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block))
    response = {
        "text": "".join(texts) if texts else None,
        "finish_reason": getattr(message, "stop_reason", None),
        "tool_calls": tool_calls or None,
    }
    attributes = {
        "response_model": getattr(message, "model", None),
        "response_id": getattr(message, "id", None),
    }
    return response, _usage(getattr(message, "usage", None)), attributes


class MessageEventAccumulator:
    """Assembles raw message stream events: text and tool-use blocks, stop reason, usage."""

    __slots__ = ("blocks", "input_tokens", "model", "output_tokens", "response_id", "stop_reason")

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.stop_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.model: str | None = None
        self.response_id: str | None = None

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
            self.input_tokens = getattr(message.usage, "input_tokens", None)
            self.output_tokens = getattr(message.usage, "output_tokens", None)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            if getattr(event.usage, "output_tokens", None) is not None:
                self.output_tokens = event.usage.output_tokens
            if getattr(event.usage, "input_tokens", None) is not None:
                self.input_tokens = event.usage.input_tokens
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
        response = {
            "text": "".join(texts) if texts else None,
            "finish_reason": self.stop_reason,
            "tool_calls": tool_calls or None,
        }
        usage = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return response, usage, {"response_model": self.model, "response_id": self.response_id}


def own_spans_enabled(resource: Any) -> bool:
    """Whether this client makes its own GenAI span per call (anthropic 2.x tracing, on by default)."""
    options = getattr(getattr(resource, "_client", None), "_open_telemetry", None)
    try:
        return bool(options["traces"]["enabled"])  # type: ignore[index]
    except (TypeError, KeyError):
        return False


def _handle(call: Call, result: Any) -> Any:
    if call.stream:
        accumulator = MessageEventAccumulator()
        if hasattr(result, "__anext__"):
            return AsyncRecordingStream(result, call, accumulator)
        return RecordingStream(result, call, accumulator)
    response, usage, attributes = message_result(result)
    call.attributes.update({k: v for k, v in attributes.items() if v is not None})
    call.finish(response, usage)
    return result


def _stream_manager_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    manager = wrapped(*args, **kwargs)
    if recorder() is None:
        return manager
    span = not own_spans_enabled(instance)

    def start_call() -> Call:
        call = start(PROVIDER, API, {**kwargs, "stream": True}, span)
        assert call is not None
        return call

    return RecordingManager(manager, start_call, MessageEventAccumulator)


def _message_stream_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Hand the helper's MessageStream a recording proxy of its raw stream, inside a recorded manager."""
    scope = current_scope()
    if scope is not None and scope.call is not None and scope.make_accumulator is not None and args:
        raw, *rest = args
        accumulator = scope.make_accumulator()
        proxy_type = AsyncRecordingStream if hasattr(raw, "__anext__") else RecordingStream
        args = (proxy_type(raw, scope.call, accumulator), *rest)
    return wrapped(*args, **kwargs)


def wrappers() -> list[tuple[str, str, Any]]:
    """`(module, "Class.method", wrapper)` for every patched method."""
    create = make_wrapper(PROVIDER, API, _handle, span_for=lambda resource: not own_spans_enabled(resource))
    messages = "anthropic.resources.messages.messages"
    streaming = "anthropic.lib.streaming._messages"
    return [
        (messages, "Messages.create", create),
        (messages, "AsyncMessages.create", create),
        (messages, "Messages.stream", _stream_manager_wrapper),
        (messages, "AsyncMessages.stream", _stream_manager_wrapper),
        (streaming, "MessageStream.__init__", _message_stream_init_wrapper),
        (streaming, "AsyncMessageStream.__init__", _message_stream_init_wrapper),
    ]
