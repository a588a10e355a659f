"""Every method of the contract's covered list, sync and async, plain and streamed, is exactly one event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pydantic
import pytest

from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.schema import validate_event
from bakeoff.shipping.base import InMemorySink

ANSWER = '{"city": "Paris", "degrees": 21}'
MESSAGES = [{"role": "user", "content": ANSWER}]


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


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


@pytest.fixture()
async def aclaude(llm_server: SimulatorServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=llm_server.url, api_key="k", max_retries=0) as client:
        yield client


def only_event(sink: InMemorySink, api: str, stream: bool) -> dict[str, Any]:
    assert len(sink.events) == 1, sink.events
    event = sink.events[0]
    validate_event(json.loads(json.dumps(event, default=str)))
    assert event["api"] == api and event["stream"] is stream and event["status"] == "ok"
    assert event["latency_ms"] > 0 and (event["ttft_ms"] is not None) is stream
    assert event["usage"]["input_tokens"] and event["usage"]["output_tokens"]
    assert event["response"]["incomplete"] is False
    sink.events.clear()
    return event


def test_openai_parse_methods(client: openai.OpenAI, recorded: InMemorySink) -> None:
    for resource in (client.chat.completions, client.beta.chat.completions):
        completion = resource.parse(model="m", messages=MESSAGES, response_format=Weather)
        assert completion.choices[0].message.parsed == Weather(city="Paris", degrees=21)
        event = only_event(recorded, "chat.completions", False)
        assert event["response"]["text"] == ANSWER
        assert event["request"]["response_format"]["json_schema"]["name"] == "Weather"
    response = client.responses.parse(model="m", input=ANSWER, text_format=Weather)
    assert response.output_parsed == Weather(city="Paris", degrees=21)
    event = only_event(recorded, "responses", False)
    assert event["response"]["text"] == ANSWER and event["request"]["text"]["format"]["name"] == "Weather"


async def test_openai_parse_methods_async(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    completion = await aclient.chat.completions.parse(model="m", messages=MESSAGES, response_format=Weather)
    assert completion.choices[0].message.parsed is not None
    assert only_event(recorded, "chat.completions", False)["response"]["text"] == ANSWER
    response = await aclient.responses.parse(model="m", input=ANSWER, text_format=Weather)
    assert response.output_parsed is not None
    assert only_event(recorded, "responses", False)["response"]["text"] == ANSWER


# What the API sends for one message of one text part ("hello world": two deltas), in order.
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
RESPONSES_TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]


def test_responses_stream_helper(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with client.responses.stream(model="m", input="hello world") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds == TEXT_EVENTS
    event = only_event(recorded, "responses", True)
    assert event["response"]["text"] == final.output_text == "hello world"
    assert event["usage"]["output_tokens"] == final.usage.output_tokens  # type: ignore[union-attr]
    with client.responses.stream(model="m", input="hello world", tools=RESPONSES_TOOLS) as stream:  # type: ignore[arg-type]
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[2] == "response.output_item.added" and kinds[-2] == "response.output_item.done"
    assert "response.function_call_arguments.done" in kinds
    (call,) = only_event(recorded, "responses", True)["response"]["tool_calls"]
    (item,) = final.output
    assert item.type == "function_call"
    assert call["function"] == {"name": item.name, "arguments": item.arguments}
    assert json.loads(item.arguments) == {"text": "hello world"}


async def test_responses_stream_helper_async(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    async with aclient.responses.stream(model="m", input="hello world") as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds == TEXT_EVENTS
    assert only_event(recorded, "responses", True)["response"]["text"] == final.output_text


def test_responses_streams(client: openai.OpenAI, recorded: InMemorySink) -> None:
    events = list(client.responses.create(model="m", input="hello world", stream=True))
    assert events[-1].type == "response.completed"
    assert only_event(recorded, "responses", True)["response"]["finish_reason"] == "completed"
    client.beta.responses.create(model="m", input="hello world")
    assert only_event(recorded, "responses", False)["response"]["text"] == "hello world"


async def test_responses_streams_async(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    stream = await aclient.responses.create(model="m", input="hello world", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    assert only_event(recorded, "responses", True)["response"]["text"] == "hello world"


def test_with_streaming_response(client: openai.OpenAI, recorded: InMemorySink) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=MESSAGES) as response:
        completion = response.parse()
    event = only_event(recorded, "chat.completions", False)
    assert event["response"]["text"] == completion.choices[0].message.content == ANSWER
    assert event["response"]["finish_reason"] == "stop"
    options = {"include_usage": True}
    with create(model="m", messages=MESSAGES, stream=True, stream_options=options) as response:
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert only_event(recorded, "chat.completions", True)["response"]["text"] == text == ANSWER
    with create(model="m", messages=MESSAGES, stream=True, stream_options=options) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith("data: ") for line in lines)
    event = only_event(recorded, "chat.completions", True)
    assert event["response"]["text"] == ANSWER and event["response"]["finish_reason"] == "stop"
    with create(model="m", messages=MESSAGES) as response:
        body = response.json()
    event = only_event(recorded, "chat.completions", False)
    assert event["usage"]["output_tokens"] == body["usage"]["completion_tokens"]  # type: ignore[index]


async def test_with_streaming_response_async(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    create = aclient.chat.completions.with_streaming_response.create
    async with create(model="m", messages=MESSAGES) as response:
        completion = await response.parse()
    assert only_event(recorded, "chat.completions", False)["response"]["text"] == (
        completion.choices[0].message.content
    )
    options = {"include_usage": True}
    async with create(model="m", messages=MESSAGES, stream=True, stream_options=options) as response:
        lines = [line async for line in response.iter_lines()]
    assert lines and only_event(recorded, "chat.completions", True)["response"]["text"] == ANSWER


def test_anthropic_parse_and_beta(claude: anthropic.Anthropic, recorded: InMemorySink) -> None:
    message = claude.messages.parse(model="c", max_tokens=50, messages=MESSAGES, output_format=Weather)
    assert message.parsed_output == Weather(city="Paris", degrees=21)
    event = only_event(recorded, "messages", False)
    assert event["response"]["text"] == ANSWER and "output_format" not in event["request"]
    claude.beta.messages.create(model="c", max_tokens=50, messages=MESSAGES)
    assert only_event(recorded, "messages", False)["response"]["text"] == ANSWER
    beta = claude.beta.messages.parse(model="c", max_tokens=50, messages=MESSAGES, output_format=Weather)
    assert beta.parsed_output == Weather(city="Paris", degrees=21)
    assert (
        only_event(recorded, "messages", False)["request"]["output_config"]["format"]["type"] == "json_schema"
    )
    with claude.beta.messages.stream(model="c", max_tokens=50, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
    assert only_event(recorded, "messages", True)["response"]["text"] == text == ANSWER
    events = list(claude.beta.messages.create(model="c", max_tokens=50, messages=MESSAGES, stream=True))
    assert events[-1].type == "message_stop"
    assert only_event(recorded, "messages", True)["response"]["finish_reason"] == "end_turn"
    with claude.messages.with_streaming_response.create(model="c", max_tokens=50, messages=MESSAGES) as raw:
        raw.parse()
    assert only_event(recorded, "messages", False)["response"]["text"] == ANSWER


async def test_anthropic_parse_and_beta_async(
    aclaude: anthropic.AsyncAnthropic, recorded: InMemorySink
) -> None:
    message = await aclaude.messages.parse(model="c", max_tokens=50, messages=MESSAGES, output_format=Weather)
    assert message.parsed_output is not None
    assert only_event(recorded, "messages", False)["response"]["text"] == ANSWER
    await aclaude.beta.messages.create(model="c", max_tokens=50, messages=MESSAGES)
    assert only_event(recorded, "messages", False)["response"]["text"] == ANSWER
    async with aclaude.beta.messages.stream(model="c", max_tokens=50, messages=MESSAGES) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert only_event(recorded, "messages", True)["response"]["text"] == text


def test_same_results_with_and_without_bakeoff(llm_server: SimulatorServer) -> None:
    import bakeoff

    def run() -> list[Any]:
        with (
            openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client,
            anthropic.Anthropic(base_url=llm_server.url, api_key="k") as claude,
        ):
            parsed = client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Weather)
            response = client.responses.parse(model="m", input=ANSWER, text_format=Weather)
            streamed = [e.model_dump() for e in client.responses.create(model="m", input="a", stream=True)]
            message = claude.messages.parse(model="c", max_tokens=9, messages=MESSAGES, output_format=Weather)
            with claude.beta.messages.stream(model="c", max_tokens=9, messages=MESSAGES) as beta:
                beta_events = [e.model_dump() for e in beta]
            create = client.chat.completions.with_streaming_response.create
            with create(model="m", messages=MESSAGES, stream=True) as raw:
                lines = list(raw.iter_lines())
            dump = {"warnings": False}  # the parse results are generic models: pydantic warns on dumping
            return [
                parsed.model_dump(**dump),
                response.model_dump(**dump),
                streamed,
                message.model_dump(**dump),
                beta_events,
                lines,
            ]

    without = run()
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    try:
        with_bakeoff = run()
    finally:
        bakeoff.shutdown()
    assert len(sink.events) == 6
    # Response ids and timestamps come from the server and are the same: the objects are equal.
    assert with_bakeoff == without


def test_anthropic_with_raw_response(claude: anthropic.Anthropic, recorded: InMemorySink) -> None:
    raw = claude.messages.with_raw_response.create(model="c", max_tokens=50, messages=MESSAGES)
    assert raw.parse().content[0].text == ANSWER  # type: ignore[union-attr]
    assert only_event(recorded, "messages", False)["response"]["text"] == ANSWER
    raw = claude.messages.with_raw_response.create(model="c", max_tokens=50, messages=MESSAGES, stream=True)
    kinds = [event.type for event in raw.parse()]
    assert kinds[-1] == "message_stop"
    assert only_event(recorded, "messages", True)["response"]["text"] == ANSWER


def test_anthropic_streaming_response_body_with_tool_use(
    claude: anthropic.Anthropic, recorded: InMemorySink
) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    create = claude.messages.with_streaming_response.create
    with create(model="c", max_tokens=50, messages=MESSAGES, tools=tools) as response:
        body = response.json()
    (block,) = [b for b in body["content"] if b["type"] == "tool_use"]  # type: ignore[index]
    (call,) = only_event(recorded, "messages", False)["response"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == block["input"]
    with create(model="c", max_tokens=50, messages=MESSAGES, tools=tools, stream=True) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith("event: ") for line in lines)
    (call,) = only_event(recorded, "messages", True)["response"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"text": ANSWER}
