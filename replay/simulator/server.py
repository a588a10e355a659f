"""An OpenAI- and Anthropic-compatible HTTP server answering from simulated models, on loopback.

It speaks the wire formats the real clients expect: chat completions, responses and embeddings
(JSON and server-sent events) and Anthropic messages (JSON and named SSE events, tool use included).
Everything it answers is simulated; tests also use it to inject faults (`x-sim-fault` header, or
:meth:`SimulatorServer.inject` for the next N requests) and to see what clients actually sent.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from bakeoff.replay.simulator.answers import Answer, echo_answer
from bakeoff.replay.simulator.wire import (
    anthropic_events,
    anthropic_message,
    chat_chunks,
    chat_completion,
    responses_events,
    responses_object,
)

Responder = Callable[[str, dict[str, Any], str], Answer]  # (model, request, api) -> answer


class SimulatorServer:
    """A simulated provider on 127.0.0.1 in a background thread (or inside a running loop)."""

    def __init__(
        self,
        responder: Responder = echo_answer,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_scale: float = 0.0,
        fixed_latency_ms: float | None = None,
        log_size: int = 1000,
    ) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        self.latency_scale = latency_scale
        self.fixed_latency_ms = fixed_latency_ms
        self.requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=log_size)
        self._faults: collections.deque[str] = collections.deque()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (no `/v1`): give `url + "/v1"` to openai clients and `url` to anthropic clients."""
        return f"http://{self.host}:{self.port}"

    def inject(self, fault: str, times: int = 1) -> None:
        """Answer the next `times` requests with `fault`: 429, 500, 503, drop-mid-stream or slow:MS."""
        self._faults.extend([fault] * times)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_errors_middleware])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start_async(self) -> str:
        """Start serving inside the running event loop; returns the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.url

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> str:
        """Start serving in a background thread; returns the base URL."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start_async())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="bakeoff-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the simulator did not start")
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- request handling --------------------------------------------------------------------------------

    async def _read(self, request: web.Request, api: str) -> tuple[dict[str, Any], str | None]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise _error(api, 400, "invalid_request_error", f"malformed JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise _error(api, 400, "invalid_request_error", "the body must be a JSON object")
        fault = request.headers.get("x-sim-fault") or (self._faults.popleft() if self._faults else None)
        self.requests.append({"api": api, "body": body, "headers": dict(request.headers), "fault": fault})
        if fault in {"429", "500", "503"}:
            status = int(fault)
            kind = "rate_limit_error" if status == 429 else "api_error"
            raise _error(
                api, status, kind, f"simulated {status}", {"retry-after": "0"} if status == 429 else None
            )
        if fault and fault.startswith("slow:"):
            await asyncio.sleep(float(fault.split(":", 1)[1]) / 1000)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _error(api, 400, "invalid_request_error", "'model' is required")
        if model.startswith("missing"):
            raise _error(api, 404, "not_found_error", f"model '{model}' does not exist")
        return body, fault

    def _answer(self, model: str, body: dict[str, Any], api: str) -> Answer:
        try:
            return self.responder(model, body, api)
        except (KeyError, TypeError, ValueError) as exc:
            raise _error(api, 400, "invalid_request_error", f"cannot answer this request: {exc}") from exc

    async def _delay(self, answer: Answer) -> None:
        delay_ms = (
            self.fixed_latency_ms
            if self.fixed_latency_ms is not None
            else answer.latency_ms * self.latency_scale
        )
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    async def _sse(self, request: web.Request, events: list[bytes], fault: str | None) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        cut = len(events) // 2 if fault == "drop-mid-stream" else None
        for index, event in enumerate(events):
            if cut is not None and index == cut:
                assert request.transport is not None
                request.transport.close()  # the connection breaks mid-stream
                return response
            await response.write(event)
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._read(request, "chat.completions")
        answer = self._answer(body["model"], body, "chat.completions")
        await self._delay(answer)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._sse(request, chat_chunks(body["model"], answer, include_usage), fault)
        return _json(chat_completion(body["model"], answer))

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._read(request, "responses")
        answer = self._answer(body["model"], body, "responses")
        await self._delay(answer)
        if body.get("stream"):
            return await self._sse(request, responses_events(body["model"], answer), fault)
        return _json(responses_object(body["model"], answer))

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._read(request, "messages")
        if not isinstance(body.get("max_tokens"), int):
            raise _error("messages", 400, "invalid_request_error", "max_tokens: Field required")
        answer = self._answer(body["model"], body, "messages")
        await self._delay(answer)
        if body.get("stream"):
            return await self._sse(request, anthropic_events(body["model"], answer), fault)
        return _json(anthropic_message(body["model"], answer))

    async def _embeddings(self, request: web.Request) -> web.Response:
        body, _ = await self._read(request, "embeddings")
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dimensions = int(body.get("dimensions") or 16)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding_of(str(text), dimensions)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        return _json(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.Response:
        return _json(
            {
                "object": "list",
                "data": [
                    {"id": "sim-echo", "object": "model", "created": 0, "owned_by": "bakeoff-simulator"}
                ],
            }
        )


def embedding_of(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text` (similar texts are not close: it is a hash, not a model)."""
    digest = hashlib.shake_256(text.encode()).digest(dimensions * 2)
    values = [int.from_bytes(digest[i : i + 2], "big") / 32768.0 - 1.0 for i in range(0, dimensions * 2, 2)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _json(payload: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


class SimulatedError(Exception):
    """An error answer in the provider's own JSON shape, turned into a response by the middleware."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


@web.middleware
async def _errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except SimulatedError as exc:
        return exc.response


def _error(
    api: str, status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> SimulatedError:
    if api == "messages":
        payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    response = web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers
    )
    return SimulatedError(response)
