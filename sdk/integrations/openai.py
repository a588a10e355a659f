"""Recording of the `openai` client: chat completions, responses and embeddings, sync and async.

Patched on the resource classes with wrapt, so clients created before or after `bakeoff.init()` are
recorded alike. `chat.completions.stream(...)` is recorded through the `create(stream=True)` it calls,
and its manager is proxied so that leaving the `with` block finishes the event.
"""

from __future__ import annotations

from typing import Any

import wrapt

from bakeoff.integrations.common import make_wrapper
from bakeoff.recorder import Call
from bakeoff.streams import AsyncRecordingStream, RecordingManager, RecordingStream

PROVIDER = "openai"


def _usage(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {"input_tokens": None, "output_tokens": None}
    input_tokens = getattr(usage, "prompt_tokens", None)
    if input_tokens is None:
        input_tokens = getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "completion_tokens", None)
    if output_tokens is None:
        output_tokens = getattr(usage, "output_tokens", None)
    return {"input_tokens": input_tokens, "output_tokens": output_tokens}


def _attributes(obj: Any) -> dict[str, Any]:
    return {"response_model": getattr(obj, "model", None), "response_id": getattr(obj, "id", None)}


def _tool_call(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    return {
        "id": getattr(call, "id", None),
        "type": "function",
        "function": {
            "name": getattr(function, "name", None),
            "arguments": getattr(function, "arguments", None),
        },
    }


def chat_completion_result(completion: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`(response, usage, attributes)` of a `ChatCompletion`."""
    choices = getattr(completion, "choices", None) or []
    message = choices[0].message if choices else None
    tool_calls = getattr(message, "tool_calls", None)
    response = {
        "text": getattr(message, "content", None),
        "finish_reason": choices[0].finish_reason if choices else None,
        "tool_calls": [_tool_call(c) for c in tool_calls] if tool_calls else None,
    }
    return response, _usage(getattr(completion, "usage", None)), _attributes(completion)


def responses_result(result: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`(response, usage, attributes)` of a responses-API `Response`."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in getattr(result, "output", None) or []:
        kind = getattr(item, "type", None)
        if kind == "message":
            texts.extend(getattr(part, "text", "") or "" for part in getattr(item, "content", None) or [])
        elif kind == "function_call":
            tool_calls.append(
                {
                    "id": getattr(item, "call_id", None),
                    "type": "function",
                    "function": {
                        "name": getattr(item, "name", None),
                        "arguments": getattr(item, "arguments", None),
                    },
                }
            )
    response = {
        "text": "".join(texts) if texts else None,
        "finish_reason": getattr(result, "status", None),
        "tool_calls": tool_calls or None,
    }
    return response, _usage(getattr(result, "usage", None)), _attributes(result)


def embeddings_result(result: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`(response, usage, attributes)` of an embeddings response (no text is recorded)."""
    usage = getattr(result, "usage", None)
    tokens = getattr(usage, "prompt_tokens", None)
    response = {"text": None, "finish_reason": None, "tool_calls": None}
    return (
        response,
        {"input_tokens": tokens, "output_tokens": None},
        {"response_model": getattr(result, "model", None)},
    )


class ChatChunkAccumulator:
    """Assembles `ChatCompletionChunk`s: text, tool calls from their deltas, finish reason, final usage."""

    __slots__ = ("finish_reason", "model", "response_id", "text", "tool_calls", "usage")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None

    def add(self, chunk: Any) -> bool:
        self.model = self.model or getattr(chunk, "model", None)
        self.response_id = self.response_id or getattr(chunk, "id", None)
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        content = False
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if delta is not None and delta.content:
                self.text.append(delta.content)
                content = True
            for piece in (getattr(delta, "tool_calls", None) or []) if delta is not None else []:
                self._add_tool_delta(piece)
                content = True
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return content

    def _add_tool_delta(self, piece: Any) -> None:
        call = self.tool_calls.setdefault(
            piece.index or 0, {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
        )
        if piece.id:
            call["id"] = piece.id
        function = piece.function
        if function is not None:
            if function.name:
                call["function"]["name"] = function.name
            if function.arguments:
                call["function"]["arguments"] += function.arguments

    def result(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        response = {
            "text": "".join(self.text) if self.text else None,
            "finish_reason": self.finish_reason,
            "tool_calls": [self.tool_calls[i] for i in sorted(self.tool_calls)] or None,
        }
        return response, _usage(self.usage), {"response_model": self.model, "response_id": self.response_id}


class ResponsesEventAccumulator:
    """Assembles responses-API stream events; the final `response.completed` event carries everything."""

    __slots__ = ("final", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.final: Any = None

    def add(self, event: Any) -> bool:
        kind = getattr(event, "type", "")
        if kind == "response.output_text.delta":
            self.text.append(event.delta or "")
            return True
        if kind in {"response.completed", "response.incomplete", "response.failed"}:
            self.final = event.response
        return kind == "response.function_call_arguments.delta"

    def result(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if self.final is not None:
            return responses_result(self.final)
        response = {"text": "".join(self.text) or None, "finish_reason": None, "tool_calls": None}
        return response, _usage(None), {}


def _is_raw_response(result: Any) -> bool:
    return type(result).__name__ == "LegacyAPIResponse"


def _handler(parse_result: Any, make_accumulator: Any) -> Any:
    def handle(call: Call, result: Any) -> Any:
        if _is_raw_response(result):
            return _handle_raw(call, result, parse_result, make_accumulator)
        if call.stream:
            return _wrap_stream(call, result, make_accumulator())
        response, usage, attributes = parse_result(result)
        call.attributes.update({k: v for k, v in attributes.items() if v is not None})
        call.finish(response, usage)
        return result

    return handle


def _wrap_stream(call: Call, stream: Any, accumulator: Any) -> Any:
    if hasattr(stream, "__anext__"):
        return AsyncRecordingStream(stream, call, accumulator)
    return RecordingStream(stream, call, accumulator)


class RawResponse(wrapt.ObjectProxy):
    """A `with_raw_response` result of a streamed call: `.parse()` gives the recorded stream."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Any) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_stream: Any = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        stream = self.__wrapped__.parse(*args, **kwargs)
        if self._self_stream is None:
            self._self_stream = _wrap_stream(self._self_call, stream, self._self_accumulator)
        return self._self_stream


def _handle_raw(call: Call, raw: Any, parse_result: Any, make_accumulator: Any) -> Any:
    if call.stream:
        return RawResponse(raw, call, make_accumulator())
    # parse() caches its result, so parsing here costs the application nothing later.
    response, usage, attributes = parse_result(raw.parse())
    call.attributes.update({k: v for k, v in attributes.items() if v is not None})
    call.finish(response, usage)
    return raw


def _no_stream() -> Any:
    raise TypeError("embeddings do not stream")


def _stream_manager_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return RecordingManager(wrapped(*args, **kwargs))


# (module, class, method, api, result parser, stream accumulator factory)
TARGETS: list[tuple[str, str, str, str, Any, Any]] = [
    (
        "openai.resources.chat.completions",
        "Completions",
        "create",
        "chat.completions",
        chat_completion_result,
        ChatChunkAccumulator,
    ),
    (
        "openai.resources.chat.completions",
        "AsyncCompletions",
        "create",
        "chat.completions",
        chat_completion_result,
        ChatChunkAccumulator,
    ),
    (
        "openai.resources.responses",
        "Responses",
        "create",
        "responses",
        responses_result,
        ResponsesEventAccumulator,
    ),
    (
        "openai.resources.responses",
        "AsyncResponses",
        "create",
        "responses",
        responses_result,
        ResponsesEventAccumulator,
    ),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", embeddings_result, _no_stream),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", embeddings_result, _no_stream),
]
MANAGERS: list[tuple[str, str, str]] = [
    ("openai.resources.chat.completions", "Completions", "stream"),
    ("openai.resources.chat.completions", "AsyncCompletions", "stream"),
]


def wrappers() -> list[tuple[str, str, Any]]:
    """`(module, "Class.method", wrapper)` for every patched method."""
    patches: list[tuple[str, str, Any]] = [
        (module, f"{cls}.{method}", make_wrapper(PROVIDER, api, _handler(parse, accumulator)))
        for module, cls, method, api, parse, accumulator in TARGETS
    ]
    patches += [(module, f"{cls}.{method}", _stream_manager_wrapper) for module, cls, method in MANAGERS]
    return patches
