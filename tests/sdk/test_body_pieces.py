"""`with_streaming_response` bodies read piece by piece (`iter_bytes()`, `iter_text()`, sync and async) are
recorded like those read by lines: the event says what the pieces said, however they were cut."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pytest

from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.schema import validate_event
from bakeoff.shipping.base import InMemorySink

# Two- and three-byte characters: a piece of 5 bytes cuts some of them in half.
TEXT = "héllo wörld, naïve café — ünïcode ✓ done"
MESSAGES = [{"role": "user", "content": TEXT}]
TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]
USAGE = {"include_usage": True}


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture()
async def aclient(llm_server: SimulatorServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture()
def claude(llm_server: SimulatorServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=llm_server.url, api_key="k", max_retries=0) as client:
        yield client


def only_event(sink: InMemorySink, stream: bool) -> dict[str, Any]:
    assert len(sink.events) == 1, sink.events
    event = sink.events.pop()
    validate_event(json.loads(json.dumps(event)))
    assert event["stream"] is stream and event["status"] == "ok"
    assert event["usage"]["input_tokens"] and event["usage"]["output_tokens"]
    return event


def sse_text(body: str) -> str:
    """The text of a chat completion stream, as the application would assemble it from the body."""
    text = []
    for line in body.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            text += [c["delta"].get("content") or "" for c in chunk["choices"]]
    return "".join(text)


@pytest.mark.parametrize("chunk_size", [5, None])
def test_chat_stream_read_as_bytes(
    client: openai.OpenAI, recorded: InMemorySink, chunk_size: int | None
) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        pieces = list(response.iter_bytes(chunk_size))
    if chunk_size:
        assert len(pieces) > 100
    event = only_event(recorded, stream=True)
    assert event["response"]["text"] == sse_text(b"".join(pieces).decode()) == TEXT
    assert event["response"]["finish_reason"] == "stop" and event["response"]["incomplete"] is False
    assert event["ttft_ms"] is not None


def test_chat_stream_read_as_text(client: openai.OpenAI, recorded: InMemorySink) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        pieces = list(response.iter_text(7))
    event = only_event(recorded, stream=True)
    assert event["response"]["text"] == sse_text("".join(pieces)) == TEXT


def test_stream_left_early_is_incomplete(client: openai.OpenAI, recorded: InMemorySink) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=MESSAGES, stream=True) as response:
        pieces = response.iter_bytes(40)
        read = next(pieces) + next(pieces) + next(pieces)
    (event,) = recorded.events
    assert event["response"]["incomplete"] is True
    assert TEXT.startswith(event["response"]["text"] or "")
    assert len(read) == 120


def test_whole_body_read_as_pieces(client: openai.OpenAI, recorded: InMemorySink) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=MESSAGES) as response:
        body = json.loads(b"".join(response.iter_bytes(3)))
    event = only_event(recorded, stream=False)
    assert event["response"]["text"] == body["choices"][0]["message"]["content"] == TEXT
    assert event["usage"]["output_tokens"] == body["usage"]["completion_tokens"]
    with create(model="m", messages=MESSAGES) as response:
        body = json.loads("".join(response.iter_text()))
    assert only_event(recorded, stream=False)["attributes"]["response_id"] == body["id"]


def test_anthropic_stream_with_tool_use_read_as_text(
    claude: anthropic.Anthropic, recorded: InMemorySink
) -> None:
    create = claude.messages.with_streaming_response.create
    with create(model="c", max_tokens=50, messages=MESSAGES, tools=TOOLS, stream=True) as response:
        body = "".join(response.iter_text(11))
    assert "event: content_block_delta" in body
    (call,) = only_event(recorded, stream=True)["response"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"text": TEXT}


async def test_async_chat_stream_read_as_bytes_and_text(
    aclient: openai.AsyncOpenAI, recorded: InMemorySink
) -> None:
    create = aclient.chat.completions.with_streaming_response.create
    async with create(model="m", messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        pieces = [piece async for piece in response.iter_bytes(5)]
    assert (
        only_event(recorded, stream=True)["response"]["text"] == sse_text(b"".join(pieces).decode()) == TEXT
    )
    async with create(model="m", messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        texts = [piece async for piece in response.iter_text(9)]
    assert only_event(recorded, stream=True)["response"]["text"] == sse_text("".join(texts)) == TEXT
    async with create(model="m", messages=MESSAGES) as response:
        body = json.loads(b"".join([piece async for piece in response.iter_bytes(4)]))
    assert only_event(recorded, stream=False)["response"]["text"] == body["choices"][0]["message"]["content"]
