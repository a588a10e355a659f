"""Anthropic messages, plain or streamed (named SSE events; tool use assembled from JSON deltas)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from bakeoff.replay.http import sse
from bakeoff.replay.http.client import Response
from bakeoff.replay.providers.base import (
    HttpProvider,
    event_object,
    expect,
    optional,
    stream_error,
    tokens,
    unfinished,
)
from bakeoff.replay.types import Completion

API_VERSION = "2023-06-01"


def _tool_call(block: dict[str, Any], arguments: str) -> dict[str, Any]:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": arguments},
    }


class AnthropicProvider(HttpProvider):
    """`POST {base_url}/v1/messages`."""

    path = "/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        key = self.config.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def parse(self, payload: dict[str, Any]) -> Completion:
        blocks = [expect(b, dict, "a content block") for b in expect(payload.get("content"), list, "content")]
        texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
        calls = [
            _tool_call(b, orjson.dumps(b.get("input") or {}).decode())
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        usage = payload.get("usage")
        input_tokens, cached, written = _input_usage(usage)
        return Completion(
            text="".join(texts) if texts else None,  # a block whose text is not a string fails the join
            tool_calls=calls or None,
            finish_reason=optional(payload, "stop_reason", str, "stop_reason"),
            input_tokens=input_tokens,
            output_tokens=tokens(usage, "output_tokens"),
            cached_input_tokens=cached,
            cache_creation_input_tokens=written,
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        completion = Completion()
        blocks: dict[int, dict[str, Any]] = {}
        reader = sse.events(response.content)
        stopped = False
        async for name, data in reader:
            event = event_object(data)
            kind = event.get("type", name)
            if kind == "message_start":
                usage = (event.get("message") or {}).get("usage")
                (
                    completion.input_tokens,
                    completion.cached_input_tokens,
                    completion.cache_creation_input_tokens,
                ) = _input_usage(usage)
            elif kind == "content_block_start":
                blocks[event["index"]] = {**event.get("content_block", {}), "parts": []}
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                if completion.ttft_ms is None:
                    completion.ttft_ms = (time.perf_counter() - started) * 1000
                    reader.drain()
                piece = delta.get("text") if delta.get("type") == "text_delta" else delta.get("partial_json")
                blocks.setdefault(event["index"], {"type": "text", "parts": []})["parts"].append(piece or "")
            elif kind == "message_delta":
                completion.finish_reason = optional(
                    event.get("delta") or {}, "stop_reason", str, "stop_reason"
                )
                completion.output_tokens = tokens(event.get("usage"), "output_tokens")
            elif kind == "message_stop":
                stopped = True  # read on to the body's end all the same: the connection is reused
            elif kind == "error":
                raise stream_error(data)
        if not stopped:
            raise unfinished(reader, "message_stop", response)
        ordered = [blocks[i] for i in sorted(blocks)]
        texts = ["".join(b["parts"]) for b in ordered if b.get("type") == "text"]
        calls = [_tool_call(b, "".join(b["parts"]) or "{}") for b in ordered if b.get("type") == "tool_use"]
        completion.text = "".join(texts) if texts else None
        completion.tool_calls = calls or None
        return completion


def _input_usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    """Anthropic counts cache reads and writes apart from `input_tokens`; an event's input is the whole."""
    plain = tokens(usage, "input_tokens")
    read, written = tokens(usage, "cache_read_input_tokens"), tokens(usage, "cache_creation_input_tokens")
    total = None if plain is None else plain + (read or 0) + (written or 0)
    return total, read, written  # input_tokens, cached_input_tokens, cache_creation_input_tokens
