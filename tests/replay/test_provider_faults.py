"""A provider answering garbage costs its own rows, never the run.

A local server answers each kind of invalid answer (by the fault named in the prompt) on three APIs,
streamed and not; a healthy provider on the simulator runs alongside. The run ends normally, each
faulty row carries its reason, run.json says completed, and `--resume` finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bakeoff.cli import main
from bakeoff.replay.simulator.answers import Answer, last_user_text
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.replay.simulator.wire import (
    anthropic_events,
    anthropic_message,
    chat_chunks,
    chat_completion,
    responses_events,
    responses_object,
)
from support.replaying import replay

ANSWER = Answer("The answer is 4.", [], "stop", 10, 5)
PATHS = {"/v1/chat/completions": "chat.completions", "/v1/responses": "responses", "/v1/messages": "messages"}
# fault -> (the row's error type, a piece of its reason), for the streamed requests
FAULTS: dict[str, tuple[str, str]] = {
    "html": ("BadResponse", "no server-sent events in the body (text/html)"),
    "garbage": ("BadResponse", "not JSON"),
    "array": ("BadResponse", "the answer is an array, not an object"),
    "wrong-shape": ("BadResponse", "is a string, not an array"),
    "missing": ("BadResponse", "is missing, not an array"),
    "wrong-types": ("BadResponse", "is 'many', not a token count"),
    "empty": ("BadResponse", "an empty body"),
    "bad-utf8": ("BadResponse", "not UTF-8"),
    "not-a-stream": ("BadResponse", "no server-sent events in the body (text/plain)"),
    "sse-not-json": ("BadResponse", "a stream event that is not JSON"),
    "sse-wrong-shape": ("BadResponse", "a stream event is an array"),
    "cut": ("IncompleteStream", "the stream ended after"),
    "stream-error": ("StreamError", "overloaded"),
    "drop": ("ConnectionError", "connection closed in the middle"),
}
# What differs for a plain request: a body cut short, or that is a stream or a page, is not JSON.
PLAIN = {
    "html": ("BadResponse", "not JSON (text/html)"),
    "not-a-stream": ("BadResponse", "not JSON (text/plain)"),
    "sse-not-json": ("BadResponse", "not JSON (text/event-stream)"),
    "sse-wrong-shape": ("BadResponse", "not JSON (text/event-stream)"),
    "cut": ("BadResponse", "not JSON (application/json)"),
    "stream-error": ("BadResponse", "not JSON (text/event-stream)"),
}
PROVIDERS = ["chat", "chat-plain", "responses", "messages"]


def _valid(api: str, stream: bool) -> list[bytes]:
    """The answer in the API's wire format: a JSON body, or the SSE events of a stream."""
    if stream:
        return {
            "chat.completions": lambda: chat_chunks("m", ANSWER, include_usage=True),
            "responses": lambda: responses_events("m", ANSWER),
            "messages": lambda: anthropic_events("m", ANSWER),
        }[api]()
    payload = {
        "chat.completions": chat_completion,
        "responses": responses_object,
        "messages": anthropic_message,
    }[api]("m", ANSWER)
    return [json.dumps(payload).encode()]


def _fault_body(fault: str, api: str, stream: bool) -> tuple[str, bytes]:
    """(content type, body) of a fault that still arrives whole."""
    sse, js = "text/event-stream", "application/json"
    wrong_types = {
        "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
        "content": [{"type": "text", "text": "x"}],
        "output": [],
        "usage": {"prompt_tokens": "many", "input_tokens": "many"},
    }
    stream_errors = {  # a failure reported inside a stream that then ends as usual
        "chat.completions": b'data: {"choices": [{"delta": {"content": "The"}}]}\n\n'
        b'data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n',
        "responses": b'data: {"type": "error", "code": "server_error", "message": "overloaded"}\n\n',
        "messages": b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "overloaded"}}\n\n',
    }
    wrong_types_events = {
        "chat.completions": b'data: {"choices": [], "usage": {"prompt_tokens": "many"}}\n\ndata: [DONE]\n\n',
        "responses": b'data: {"type": "response.completed", "response": {"output": [], "usage": '
        b'{"input_tokens": "many"}}}\n\n',
        "messages": b'data: {"type": "message_start", "message": {"usage": {"input_tokens": "many"}}}\n\n'
        b'data: {"type": "message_stop"}\n\n',
    }
    return {
        "html": ("text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        "garbage": (js, b'{"choices": [{"mess'),
        "array": (js, b"[1, 2]"),
        "wrong-shape": (js, b'{"choices": "x", "content": "x", "output": "x"}'),
        "missing": (js, b"{}"),
        "wrong-types": (sse, wrong_types_events[api]) if stream else (js, json.dumps(wrong_types).encode()),
        "empty": (js, b""),
        "bad-utf8": (sse, b'data: {"x": "\xff\xfe"}\n\n') if stream else (js, b'{"choices": "\xff"}'),
        "not-a-stream": ("text/plain", b"upstream connect error or disconnect/reset before headers"),
        "sse-not-json": (sse, b"data: hello\n\ndata: [DONE]\n\n"),
        "sse-wrong-shape": (sse, b"data: [1, 2]\n\ndata: [DONE]\n\n"),
        "cut": (sse, b"".join(_valid(api, True)[:-1])) if stream else (js, _valid(api, False)[0][:40]),
        "stream-error": (sse, stream_errors[api]),
    }[fault]


class FaultServer(SimulatorServer):
    """Answers `fault=NAME` in the prompt with that fault; `fault=ok` with a valid answer."""

    def __init__(self) -> None:
        super().__init__()
        self.received: Counter[tuple[str, str, bool]] = Counter()  # (fault, api, stream) -> requests

    def app(self) -> web.Application:
        app = web.Application()
        for path in PATHS:
            app.router.add_post(path, self._fault)
        return app

    async def _fault(self, request: web.Request) -> web.StreamResponse:
        api = PATHS[request.path]
        body = await request.json()
        stream = bool(body.get("stream"))
        fault = last_user_text(body, api).partition("fault=")[2].split()[0]
        self.received[(fault, api, stream)] += 1
        if fault in ("ok", "drop"):
            events = _valid(api, stream)
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream" if stream else "application/json"}
            )
            await response.prepare(request)  # chunked: a connection closed early is a cut body
            for event in events if fault == "ok" else [events[0][: len(events[0]) // 2]]:
                await response.write(event)
            if fault == "drop":
                await asyncio.sleep(0.05)
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write_eof()
            return response
        content_type, data = _fault_body(fault, api, stream)
        return web.Response(body=data, headers={"Content-Type": content_type})


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture(scope="module")
def healthy() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


def _config(path: Path, faulty: FaultServer, healthy: SimulatorServer) -> Path:
    def provider(id: str, **extra: Any) -> dict[str, Any]:
        base = faulty.url if extra.get("provider") == "anthropic" else faulty.url + "/v1"
        return {"id": id, "provider": "openai-compatible", "model": "m", "base_url": base, **extra}

    providers = [
        {"id": "healthy", "provider": "openai-compatible", "model": "echo", "base_url": healthy.url + "/v1"},
        provider("chat", stream=True),
        provider("chat-plain", stream=False),
        provider("responses", api="responses", stream=True),
        provider("messages", provider="anthropic", stream=True),
    ]
    section = {
        "providers": providers,
        "baseline": "healthy",
        "metrics": ["exact_match"],
        "retries": 3,
        "timeout": 5,
        "cache_dir": str(path.parent / "cache"),
    }
    path.write_text(yaml.safe_dump({"replay": section}))
    return path


def _dataset(path: Path) -> Path:
    with path.open("w") as file:
        for fault in ["ok", *FAULTS]:
            file.write(
                json.dumps({"id": fault, "input": f"fault={fault} what is 2+2?", "expected": "4"}) + "\n"
            )
    return path


def _rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]


def test_every_fault_is_a_row_with_its_reason_and_the_run_completes(
    tmp_path: Path, faulty: FaultServer, healthy: SimulatorServer
) -> None:
    config = _config(tmp_path / "bakeoff.yaml", faulty, healthy)
    assert replay(config, _dataset(tmp_path / "cases.jsonl"), tmp_path / "runs", "--no-cache") == 0
    (run,) = (tmp_path / "runs").iterdir()
    rows = {(r["provider"], r["event_id"]): r for r in _rows(run)}
    assert len(rows) == 5 * (1 + len(FAULTS))
    for fault in ["ok", *FAULTS]:
        assert rows[("healthy", fault)]["error"] is None
    for provider in PROVIDERS:
        assert rows[(provider, "ok")]["error"] is None, rows[(provider, "ok")]
        for fault in FAULTS:
            kind, reason = (PLAIN if provider == "chat-plain" else {}).get(fault, FAULTS[fault])
            error = rows[(provider, fault)]["error"]
            assert error is not None, f"{provider} took {fault!r} for an answer"
            assert error["type"] == kind and reason in error["message"], (provider, fault, error)
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "completed"
    assert json.loads((run / "benchmark_results.json").read_text())["errors"]["chat"] == len(FAULTS)
    # A bad answer is asked for once more, not as often as a connection error or a provider's failure.
    for (fault, _, stream), requests in faulty.received.items():
        retried = {"ok": 0, "drop": 3, "stream-error": 3 if stream else 1}.get(fault, 1)
        assert requests == 1 + retried, (fault, stream, requests)

    before = faulty.received.copy(), len(healthy.requests), (run / "detailed_results.jsonl").read_bytes()
    assert main(["replay", "--resume", str(run)]) == 0
    after = faulty.received, len(healthy.requests), (run / "detailed_results.jsonl").read_bytes()
    assert after == before
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
