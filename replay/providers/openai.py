"""OpenAI (and any OpenAI-compatible server): chat completions and the responses API, plain or streamed."""

from __future__ import annotations

import time
from typing import Any

import orjson

from bakeoff.replay.http import sse
from bakeoff.replay.http.client import Response
from bakeoff.replay.providers.base import HttpProvider
from bakeoff.replay.types import Completion


class _OpenAIHeaders(HttpProvider):
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = self.config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def aembed(
        self, texts: list[str], timeout: float | None = None
    ) -> tuple[list[list[float]], int | None]:
        """`POST {base_url}/embeddings`."""
        body = {"model": self.config.model, "input": texts}

        async def read(response: Response) -> Any:
            return orjson.loads(await response.read())

        payload = await self.exchange(body, timeout, read, "/embeddings")
        vectors = [item["embedding"] for item in sorted(payload["data"], key=lambda item: item["index"])]
        return vectors, (payload.get("usage") or {}).get("prompt_tokens")


class OpenAIChatProvider(_OpenAIHeaders):
    """`POST {base_url}/chat/completions`."""

    path = "/chat/completions"

    def body(self, canonical: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = super().body(canonical, stream)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, payload: dict[str, Any]) -> Completion:
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        usage = payload.get("usage") or {}
        return Completion(
            text=message.get("content"),
            tool_calls=message.get("tool_calls") or None,
            finish_reason=choice.get("finish_reason"),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        completion = Completion()
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        reader = sse.events(response.content)
        async for _, data in reader:
            if data == "[DONE]":
                break
            chunk = orjson.loads(data)
            if chunk.get("usage"):
                completion.input_tokens = chunk["usage"].get("prompt_tokens")
                completion.output_tokens = chunk["usage"].get("completion_tokens")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("tool_calls"):
                    if completion.ttft_ms is None:
                        completion.ttft_ms = (time.perf_counter() - started) * 1000
                        reader.drain()
                    text.append(delta.get("content") or "")
                for piece in delta.get("tool_calls") or []:
                    call = calls.setdefault(
                        piece.get("index", 0),
                        {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
                    )
                    call["id"] = piece.get("id") or call["id"]
                    function = piece.get("function") or {}
                    call["function"]["name"] = function.get("name") or call["function"]["name"]
                    call["function"]["arguments"] += function.get("arguments") or ""
                completion.finish_reason = choice.get("finish_reason") or completion.finish_reason
        completion.text = "".join(text) if any(text) else None
        completion.tool_calls = [calls[i] for i in sorted(calls)] or None
        return completion


class OpenAIResponsesProvider(_OpenAIHeaders):
    """`POST {base_url}/responses`."""

    path = "/responses"

    def parse(self, payload: dict[str, Any]) -> Completion:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for item in payload.get("output") or []:
            if item.get("type") == "message":
                texts += [part.get("text", "") for part in item.get("content") or []]
            elif item.get("type") == "function_call":
                calls.append(
                    {
                        "id": item.get("call_id"),
                        "type": "function",
                        "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                    }
                )
        usage = payload.get("usage") or {}
        return Completion(
            text="".join(texts) if texts else None,
            tool_calls=calls or None,
            finish_reason=payload.get("status"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        ttft: float | None = None
        final: dict[str, Any] | None = None
        reader = sse.events(response.content)
        async for _, data in reader:
            event = orjson.loads(data)
            kind = event.get("type", "")
            if ttft is None and kind in (
                "response.output_text.delta",
                "response.function_call_arguments.delta",
            ):
                ttft = (time.perf_counter() - started) * 1000
                reader.drain()
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                final = event.get("response") or {}
        completion = self.parse(final or {})
        completion.ttft_ms = ttft
        return completion
