"""Every anthropic call mode becomes exactly one event; streams and the `messages.stream` helper included."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anthropic
import pytest

from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.schema import validate_event
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "name three colours"}]
TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=llm_server.url, api_key="sk-ant-secret", max_retries=0) as client:
        yield client


@pytest.fixture()
async def aclient(llm_server: SimulatorServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=llm_server.url, api_key="sk-ant-secret", max_retries=0
    ) as client:
        yield client


def only_event(sink: InMemorySink) -> dict:
    assert len(sink.events) == 1, sink.events
    event = sink.events[0]
    validate_event(event)
    assert "sk-ant-secret" not in json.dumps(event, default=str)
    assert event["provider"] == "anthropic" and event["api"] == "messages"
    return event


def test_create(client: anthropic.Anthropic, recorded: InMemorySink) -> None:
    message = client.messages.create(model="claude-test", max_tokens=50, system="brief", messages=MESSAGES)
    event = only_event(recorded)
    assert event["request"] == {
        "model": "claude-test",
        "max_tokens": 50,
        "system": "brief",
        "messages": MESSAGES,
    }
    assert event["response"] == {
        "text": message.content[0].text,
        "finish_reason": "end_turn",
        "tool_calls": None,
        "refusal": None,
        "incomplete": False,
        "choices": None,
    }
    assert event["usage"] == {
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
        "cached_input_tokens": None,
        "cache_creation_input_tokens": None,
        "reasoning_tokens": None,
    }
    assert not event["stream"] and event["ttft_ms"] is None


def test_create_stream_with_tool_use(client: anthropic.Anthropic, recorded: InMemorySink) -> None:
    events = list(
        client.messages.create(
            model="claude-test", max_tokens=50, messages=MESSAGES, tools=TOOLS, stream=True
        )
    )
    event = only_event(recorded)
    assert events[-1].type == "message_stop"
    (call,) = event["response"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"text": "name three colours"}
    assert event["response"]["finish_reason"] == "tool_use"
    assert event["stream"] and event["ttft_ms"] is not None and event["usage"]["output_tokens"] > 0


def test_stream_helper_text_stream(client: anthropic.Anthropic, recorded: InMemorySink) -> None:
    with client.messages.stream(model="claude-test", max_tokens=50, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    event = only_event(recorded)
    assert text == final.content[0].text == event["response"]["text"] == "name three colours"
    assert event["ttft_ms"] is not None and event["ttft_ms"] <= event["latency_ms"]
    assert event["usage"]["output_tokens"] == final.usage.output_tokens


def test_stream_helper_error_on_enter(client: anthropic.Anthropic, recorded: InMemorySink) -> None:
    with (
        pytest.raises(anthropic.InternalServerError),
        client.messages.stream(
            model="claude-test", max_tokens=50, messages=MESSAGES, extra_headers={"x-sim-fault": "500"}
        ),
    ):
        pass
    event = only_event(recorded)
    assert event["status"] == "error" and event["error"]["status_code"] == 500


def test_error_reraised_unchanged(client: anthropic.Anthropic, recorded: InMemorySink) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="missing-model", max_tokens=5, messages=MESSAGES)
    assert only_event(recorded)["error"]["type"] == "NotFoundError"


async def test_async_create_and_stream_helper(
    aclient: anthropic.AsyncAnthropic, recorded: InMemorySink
) -> None:
    message = await aclient.messages.create(model="claude-test", max_tokens=50, messages=MESSAGES)
    async with aclient.messages.stream(model="claude-test", max_tokens=50, messages=MESSAGES) as stream:
        text = "".join([t async for t in stream.text_stream])
    plain, streamed = recorded.events
    assert plain["response"]["text"] == streamed["response"]["text"] == text == message.content[0].text
    assert streamed["stream"] and streamed["ttft_ms"] is not None


async def test_async_create_stream(aclient: anthropic.AsyncAnthropic, recorded: InMemorySink) -> None:
    stream = await aclient.messages.create(model="claude-test", max_tokens=50, messages=MESSAGES, stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert only_event(recorded)["response"]["text"] == "name three colours"
