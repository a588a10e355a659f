"""Anthropic messages, plain or streamed (named SSE events; tool use assembled from JSON deltas)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from bakeoff.replay.http import sse
from bakeoff.replay.http.client import Response
from bakeoff.replay.providers.base import HttpProvider
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
        blocks = payload.get("content") or []
        texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
        calls = [
            _tool_call(b, orjson.dumps(b.get("input") or {}).decode())
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        usage = payload.get("usage") or {}
        return Completion(
            text="".join(texts) if texts else None,
            tool_calls=calls or None,
            finish_reason=payload.get("stop_reason"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        completion = Completion()
        blocks: dict[int, dict[str, Any]] = {}
        reader = sse.events(response.content)
        async for name, data in reader:
            event = orjson.loads(data)
            kind = event.get("type", name)
            if kind == "message_start":
                usage = (event.get("message") or {}).get("usage") or {}
                completion.input_tokens = usage.get("input_tokens")
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
                completion.finish_reason = (event.get("delta") or {}).get("stop_reason")
                completion.output_tokens = (event.get("usage") or {}).get("output_tokens")
            elif kind == "error":
                from bakeoff.replay.errors import ProviderError

                raise ProviderError(f"stream error: {data[:300]}", retryable=True, error_type="StreamError")
        ordered = [blocks[i] for i in sorted(blocks)]
        texts = ["".join(b["parts"]) for b in ordered if b.get("type") == "text"]
        calls = [_tool_call(b, "".join(b["parts"]) or "{}") for b in ordered if b.get("type") == "tool_use"]
        completion.text = "".join(texts) if texts else None
        completion.tool_calls = calls or None
        return completion
