"""The simulated answers in each API's wire format: JSON bodies and server-sent event streams."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from bakeoff.replay.simulator.answers import Answer, stable_id

_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _pieces(text: str) -> list[str]:
    """Split text into one stream delta per word (spaces kept)."""
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] or [text]


def _arguments(call: dict[str, Any]) -> str:
    return orjson.dumps(call["arguments"]).decode()


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


# -- OpenAI chat completions -------------------------------------------------------------------------------


def _chat_usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
    }


def chat_completion(model: str, answer: Answer) -> dict[str, Any]:
    """A `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": _arguments(c)}}
            for c in answer.tool_calls
        ]
    return {
        "id": "chatcmpl-" + stable_id(model, str(answer.text), str(answer.tool_calls)),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": answer.finish_reason, "logprobs": None}
        ],
        "usage": _chat_usage(answer),
    }


def chat_chunks(model: str, answer: Answer, include_usage: bool) -> list[bytes]:
    """The SSE stream of a chat completion: role, content deltas, tool-call deltas, finish, usage, [DONE]."""
    base = {
        "id": "chatcmpl-" + stable_id(model, str(answer.text)),
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in _pieces(answer.text or "") if answer.text]
    for index, call in enumerate(answer.tool_calls):
        start = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        events.append(chunk({"content": None, "tool_calls": [start]}))
        arguments = _arguments(call)
        for at in range(0, len(arguments), 8):
            fragment = {"index": index, "function": {"arguments": arguments[at : at + 8]}}
            events.append(chunk({"content": None, "tool_calls": [fragment]}))
    events.append(chunk({}, answer.finish_reason))
    if include_usage:
        events.append(_sse({**base, "choices": [], "usage": _chat_usage(answer)}))
    events.append(b"data: [DONE]\n\n")
    return events


# -- OpenAI responses --------------------------------------------------------------------------------------


def responses_object(model: str, answer: Answer, status: str = "completed") -> dict[str, Any]:
    """A responses-API `response` object."""
    output: list[dict[str, Any]] = []
    if answer.text is not None:
        output.append(
            {
                "type": "message",
                "id": "msg_" + stable_id(model, answer.text),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": answer.text, "annotations": []}],
            }
        )
    output += [
        {
            "type": "function_call",
            "id": "fc_" + c["id"],
            "call_id": c["id"],
            "name": c["name"],
            "arguments": _arguments(c),
            "status": "completed",
        }
        for c in answer.tool_calls
    ]
    return {
        "id": "resp_" + stable_id(model, str(answer.text), str(answer.tool_calls)),
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "model": model,
        "output": output if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def responses_events(model: str, answer: Answer) -> list[bytes]:
    """The SSE stream of a response, in the order the API sends it.

    `response.created` and `response.in_progress`; then for each output item `response.output_item.added`,
    for a message each content part's `response.content_part.added`, `response.output_text.delta`s,
    `response.output_text.done` and `response.content_part.done`, for a function call its
    `response.function_call_arguments.delta`s and `.done`; the item's `response.output_item.done`; and
    `response.completed`. The openai client's `responses.stream(...)` helper assembles its snapshot from
    the added and done events, so none may be missing.
    """
    seq = itertools.count()
    events: list[bytes] = []

    def send(kind: str, **fields: Any) -> None:
        events.append(_sse({"type": kind, "sequence_number": next(seq), **fields}, kind))

    created = responses_object(model, answer, status="in_progress")
    send("response.created", response=created)
    send("response.in_progress", response=created)
    final = responses_object(model, answer)
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            send(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            for part_index, part in enumerate(item["content"]):
                at = {"item_id": item["id"], "output_index": index, "content_index": part_index}
                send("response.content_part.added", **at, part={**part, "text": ""})
                for piece in _pieces(part["text"]) if part["text"] else []:
                    send("response.output_text.delta", **at, delta=piece, logprobs=[])
                send("response.output_text.done", **at, text=part["text"], logprobs=[])
                send("response.content_part.done", **at, part=part)
        else:  # a function call
            send(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            at = {"item_id": item["id"], "output_index": index}
            arguments = item["arguments"]
            for start in range(0, len(arguments), 8):
                send("response.function_call_arguments.delta", **at, delta=arguments[start : start + 8])
            send("response.function_call_arguments.done", **at, name=item["name"], arguments=arguments)
        send("response.output_item.done", output_index=index, item=item)
    send("response.completed", response=final)
    return events


# -- Anthropic messages ------------------------------------------------------------------------------------


def anthropic_message(model: str, answer: Answer) -> dict[str, Any]:
    """A `message` object."""
    content: list[dict[str, Any]] = []
    if answer.text is not None:
        content.append({"type": "text", "text": answer.text})
    content += [
        {"type": "tool_use", "id": "toolu_" + c["id"], "name": c["name"], "input": c["arguments"]}
        for c in answer.tool_calls
    ]
    return {
        "id": "msg_" + stable_id(model, str(answer.text), str(answer.tool_calls)),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _ANTHROPIC_STOP.get(answer.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
    }


def anthropic_events(model: str, answer: Answer) -> list[bytes]:
    """The named-event SSE stream of a message, text and tool-use blocks included."""
    message = anthropic_message(model, answer)
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
    }
    events = [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            arguments = orjson.dumps(block["input"]).decode()
            deltas = [
                {"type": "input_json_delta", "partial_json": arguments[at : at + 8]}
                for at in range(0, len(arguments), 8)
            ]
        events.append(
            _sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                "content_block_start",
            )
        )
        events += [
            _sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
            for d in deltas
        ]
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": answer.output_tokens},
    }
    events += [_sse(delta, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]
    return events
