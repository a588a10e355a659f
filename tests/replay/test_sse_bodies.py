"""Streamed answers read to their end after the first token: long bodies, stalls and broken connections.

A real aiohttp server on 127.0.0.1 streams chat-completion chunks in shapes the simulator does not:
megabytes of deltas (more than the client buffers before it pauses the connection), a stream that stops
after its first token, and one whose connection breaks after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from bakeoff.replay.errors import ProviderError
from bakeoff.replay.http.client import HttpClient
from bakeoff.replay.providers.base import make_client, make_provider
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.types import Completion

CANONICAL = {"model": "m", "messages": [{"role": "user", "content": "go"}]}
PIECE = "x" * 1000


def _chunk(content: str | None = None, finish: str | None = None, usage: bool = False) -> bytes:
    payload: dict[str, object] = {
        "choices": [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    }
    if usage:
        payload = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4000}}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _answer(request: web.Request) -> web.StreamResponse:
    shape = request.headers["x-shape"]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(_chunk("first "))
    if shape == "stall":
        await asyncio.sleep(30)
    if shape == "break":
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response
    for _ in range(int(request.headers.get("x-pieces", "4000"))):
        await response.write(_chunk(PIECE))
    await response.write(_chunk(finish="stop") + _chunk(usage=True) + b"data: [DONE]\n\n")
    await response.write_eof()
    return response


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def _complete(url: str, shape: str, client: HttpClient | None = None, **headers: str) -> Completion:
    config = ProviderConfig(
        id="s",
        provider="openai-compatible",
        model="m",
        base_url=url,
        timeout=0.5,
        params={"x": 1},
    )
    own = client is None
    client = client or make_client()
    provider = make_provider(config, client)
    provider.headers = lambda: {"Content-Type": "application/json", "x-shape": shape, **headers}  # type: ignore[method-assign]
    try:
        return await provider.acomplete(CANONICAL, stream=True, timeout=5 if shape == "long" else 0.5)
    finally:
        if own:
            await client.close()


async def test_a_stream_of_megabytes_is_read_whole(url: str) -> None:
    completion = await _complete(url, "long")
    assert completion.text == "first " + PIECE * 4000
    assert completion.finish_reason == "stop" and completion.output_tokens == 4000
    assert completion.ttft_ms is not None and completion.ttft_ms < completion.latency_ms  # type: ignore[operator]


async def test_a_stream_larger_than_the_read_buffer_is_not_paused_forever(url: str) -> None:
    # Past 4 KiB unread the connection pauses; reading the rest of the body must resume it.
    client = HttpClient(high_water_bytes=4096)
    try:
        completion = await _complete(url, "long", client, **{"x-pieces": "100"})
    finally:
        await client.close()
    assert completion.text == "first " + PIECE * 100


async def test_a_stream_that_stalls_after_its_first_token_times_out(url: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ProviderError) as stalled:
        await _complete(url, "stall")
    assert stalled.value.retryable and stalled.value.error_type == "Timeout"
    assert time.perf_counter() - started < 3


async def test_a_stream_whose_connection_breaks_is_a_retryable_error(url: str) -> None:
    with pytest.raises(ProviderError) as broken:
        await _complete(url, "break")
    assert broken.value.retryable and broken.value.error_type == "ConnectionError"
