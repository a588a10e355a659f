"""OpenAI (and any OpenAI-compatible server): chat completions and the responses API, plain or streamed."""

from __future__ import annotations

import time
from typing import Any

from bakeoff.replay.errors import BadResponseError, ProviderError
from bakeoff.replay.http import sse
from bakeoff.replay.http.client import Response
from bakeoff.replay.providers.base import (
    HttpProvider,
    event_object,
    expect,
    json_object,
    optional,
    stream_error,
    tokens,
    unfinished,
)
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

        async def read(response: Response) -> tuple[list[list[float]], int | None]:
            payload = json_object(await response.read(), response)
            data = expect(payload.get("data"), list, "data")
            vectors = [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]
            if len(vectors) != len(texts):
                raise BadResponseError(f"{len(vectors)} embeddings for {len(texts)} texts")
            return vectors, tokens(payload.get("usage"), "prompt_tokens")

        return await self.exchange(body, timeout, read, "/embeddings")


class OpenAIChatProvider(_OpenAIHeaders):
    """`POST {base_url}/chat/completions`."""

    path = "/chat/completions"

    def body(self, canonical: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = super().body(canonical, stream)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, payload: dict[str, Any]) -> Completion:
        choices = expect(payload.get("choices"), list, "choices")
        if not choices:
            raise BadResponseError("the answer has no choices")
        choice = expect(choices[0], dict, "choices[0]")
        message = expect(choice.get("message"), dict, "choices[0].message")
        usage = payload.get("usage")
        return Completion(
            text=optional(message, "content", str, "message.content"),
            tool_calls=optional(message, "tool_calls", list, "message.tool_calls") or None,
            finish_reason=optional(choice, "finish_reason", str, "finish_reason"),
            input_tokens=tokens(usage, "prompt_tokens"),
            output_tokens=tokens(usage, "completion_tokens"),
            cached_input_tokens=_cached(usage, "prompt_tokens_details"),
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        completion = Completion()
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        reader = sse.events(response.content)
        async for _, data in reader:
            if data == "[DONE]":
                break
            chunk = event_object(data)
            if chunk.get("error"):  # compatible servers report a failure mid-stream, then still end it
                raise stream_error(data)
            if chunk.get("usage"):
                completion.input_tokens = tokens(chunk["usage"], "prompt_tokens")
                completion.output_tokens = tokens(chunk["usage"], "completion_tokens")
                completion.cached_input_tokens = _cached(chunk["usage"], "prompt_tokens_details")
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("tool_calls"):
                    if completion.ttft_ms is None:
                        completion.ttft_ms = (time.perf_counter() - started) * 1000
                        reader.drain()
                    text.append(delta.get("content") or "")
                for piece in delta.get("tool_calls") or ():
                    call = calls.setdefault(
                        piece.get("index", 0),
                        {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
                    )
                    call["id"] = piece.get("id") or call["id"]
                    function = piece.get("function") or {}
                    call["function"]["name"] = function.get("name") or call["function"]["name"]
                    call["function"]["arguments"] += function.get("arguments") or ""
                completion.finish_reason = choice.get("finish_reason") or completion.finish_reason
        else:  # the body ended without [DONE]: cut short, or not a stream at all
            raise unfinished(reader, "[DONE]", response)
        completion.text = "".join(text) if any(text) else None  # a non-string delta fails the join
        completion.tool_calls = [calls[i] for i in sorted(calls)] or None
        return completion


class OpenAIResponsesProvider(_OpenAIHeaders):
    """`POST {base_url}/responses`."""

    path = "/responses"

    def parse(self, payload: dict[str, Any]) -> Completion:
        if payload.get("status") == "failed" or payload.get("error"):
            error = payload.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderError(
                f"the response failed: {str(message or 'no reason given')[:300]}",
                status_code=200,
                retryable=True,
                retry_limit=1,
                error_type="ResponseFailed",
            )
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for item in expect(payload.get("output"), list, "output"):
            kind = expect(item, dict, "an output item").get("type")
            if kind == "message":
                texts += [part.get("text", "") for part in item.get("content") or ()]
            elif kind == "function_call":
                calls.append(
                    {
                        "id": item.get("call_id"),
                        "type": "function",
                        "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                    }
                )
        usage = payload.get("usage")
        return Completion(
            text="".join(texts) if texts else None,  # a part whose text is not a string fails the join
            tool_calls=calls or None,
            finish_reason=optional(payload, "status", str, "status"),
            input_tokens=tokens(usage, "input_tokens"),
            output_tokens=tokens(usage, "output_tokens"),
            cached_input_tokens=_cached(usage, "input_tokens_details"),
        )

    async def read_stream(self, response: Response, started: float) -> Completion:
        ttft: float | None = None
        final: dict[str, Any] | None = None
        reader = sse.events(response.content)
        async for _, data in reader:
            if data == "[DONE]":  # some compatible servers end this stream the chat way too
                continue
            event = event_object(data)
            kind = event.get("type", "")
            if ttft is None and kind in (
                "response.output_text.delta",
                "response.function_call_arguments.delta",
            ):
                ttft = (time.perf_counter() - started) * 1000
                reader.drain()
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                final = expect(event.get("response"), dict, f"{kind}'s response")
            elif kind == "error":
                raise stream_error(data)
        if final is None:
            raise unfinished(reader, "response.completed", response)
        completion = self.parse(final)
        completion.ttft_ms = ttft
        return completion


def _cached(usage: Any, details: str) -> int | None:
    """The prompt-cache hits of a usage object (`prompt_tokens_details.cached_tokens` and the like)."""
    return tokens(usage.get(details), "cached_tokens") if isinstance(usage, dict) else None
