"""Every openai call mode is exactly one event of the contract's schema; the app sees the same results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import openai
import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.schema import validate_event
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is two plus two"}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="sk-secret-key", max_retries=0) as client:
        yield client


@pytest.fixture()
async def aclient(llm_server: SimulatorServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=llm_server.url + "/v1", api_key="sk-secret-key", max_retries=0
    ) as client:
        yield client


def only_event(sink: InMemorySink) -> dict:
    assert len(sink.events) == 1, sink.events
    event = sink.events[0]
    validate_event(json.loads(json.dumps(event, default=lambda o: o.model_dump())))
    assert "sk-secret-key" not in json.dumps(event, default=str)
    return event


def test_chat_completion(client: openai.OpenAI, recorded: InMemorySink) -> None:
    completion = client.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0)
    event = only_event(recorded)
    assert completion.choices[0].message.content == "what is two plus two"
    assert event["provider"] == "openai" and event["api"] == "chat.completions"
    assert event["model"] == "gpt-test" and event["status"] == "ok" and not event["stream"]
    assert event["request"] == {"model": "gpt-test", "messages": MESSAGES, "temperature": 0}
    assert event["response"] == {
        "text": "what is two plus two",
        "finish_reason": "stop",
        "tool_calls": None,
        "refusal": None,
        "incomplete": False,
        "choices": None,
    }
    assert event["usage"] == {
        "input_tokens": completion.usage.prompt_tokens,
        "output_tokens": completion.usage.completion_tokens,
        "cached_input_tokens": None,
        "cache_creation_input_tokens": None,
        "reasoning_tokens": None,
    }
    assert event["latency_ms"] > 0 and event["ttft_ms"] is None
    assert bakeoff.last_event_id() == event["id"]


def test_request_is_a_snapshot(client: openai.OpenAI, recorded: InMemorySink) -> None:
    conversation = list(MESSAGES)
    client.chat.completions.create(model="gpt-test", messages=conversation)
    conversation.append({"role": "assistant", "content": "later turn"})
    assert only_event(recorded)["request"]["messages"] == MESSAGES


def test_stream_with_usage_and_tool_calls(client: openai.OpenAI, recorded: InMemorySink) -> None:
    stream = client.chat.completions.create(
        model="gpt-test", messages=MESSAGES, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    event = only_event(recorded)
    assert event["stream"] and event["ttft_ms"] is not None and event["ttft_ms"] <= event["latency_ms"]
    (call,) = event["response"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"text": "what is two plus two"}
    assert event["response"]["finish_reason"] == "tool_calls"
    assert event["usage"]["output_tokens"] == chunks[-1].usage.completion_tokens


def test_stream_helper_manager(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with client.chat.completions.stream(model="gpt-test", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    event = only_event(recorded)
    assert final.choices[0].message.content == event["response"]["text"] == "what is two plus two"
    assert event["stream"] and event["ttft_ms"] is not None


def test_stream_helper_closed_early(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with client.chat.completions.stream(model="gpt-test", messages=MESSAGES) as stream:
        for _ in stream:
            break
        assert recorded.events == []
    event = only_event(recorded)
    assert event["status"] == "ok" and event["stream"]


def test_with_raw_response(client: openai.OpenAI, recorded: InMemorySink) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES)
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().choices[0].message.content == "what is two plus two"
    assert only_event(recorded)["response"]["text"] == "what is two plus two"


def test_with_raw_response_stream(client: openai.OpenAI, recorded: InMemorySink) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES, stream=True)
    assert raw.headers["content-type"].startswith("text/event-stream")
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == only_event(recorded)["response"]["text"] == "what is two plus two"


def test_responses_api(client: openai.OpenAI, recorded: InMemorySink) -> None:
    response = client.responses.create(model="gpt-test", input="hello world")
    event = only_event(recorded)
    assert response.output_text == event["response"]["text"] == "hello world"
    assert event["api"] == "responses" and event["usage"]["input_tokens"] == response.usage.input_tokens


def test_responses_api_stream(client: openai.OpenAI, recorded: InMemorySink) -> None:
    events = list(client.responses.create(model="gpt-test", input="hello world", stream=True))
    event = only_event(recorded)
    assert events[-1].type == "response.completed"
    assert event["response"]["text"] == "hello world" and event["ttft_ms"] is not None
    assert event["usage"]["output_tokens"] == events[-1].response.usage.output_tokens


def test_embeddings(client: openai.OpenAI, recorded: InMemorySink) -> None:
    result = client.embeddings.create(model="embed-test", input=["a b", "c"])
    event = only_event(recorded)
    assert event["api"] == "embeddings" and event["usage"]["input_tokens"] == result.usage.prompt_tokens
    assert len(result.data) == 2


def test_error_is_recorded_and_reraised_unchanged(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-test", messages=MESSAGES, extra_headers={"x-sim-fault": "429"}
        )
    assert raised.value.status_code == 429
    event = only_event(recorded)
    assert event["status"] == "error"
    assert event["error"]["type"] == "RateLimitError" and event["error"]["status_code"] == 429
    assert "x-sim-fault" not in json.dumps(event["request"])


async def test_async_plain_and_stream(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    completion = await aclient.chat.completions.create(model="gpt-test", messages=MESSAGES)
    stream = await aclient.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert completion.choices[0].message.content == text
    plain, streamed = recorded.events
    assert plain["response"]["text"] == streamed["response"]["text"] == text
    assert streamed["stream"] and streamed["ttft_ms"] is not None


async def test_async_stream_helper(aclient: openai.AsyncOpenAI, recorded: InMemorySink) -> None:
    async with aclient.chat.completions.stream(model="gpt-test", messages=MESSAGES) as stream:
        final = await stream.get_final_completion()
    assert only_event(recorded)["response"]["text"] == final.choices[0].message.content


def test_same_results_with_and_without_bakeoff(client: openai.OpenAI) -> None:
    def run() -> list:
        plain = client.chat.completions.create(model="gpt-test", messages=MESSAGES, tools=TOOLS)
        streamed = client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
        return [plain.model_dump(), [c.model_dump() for c in streamed]]

    without = run()
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    try:
        with_bakeoff = run()
    finally:
        bakeoff.shutdown()
    assert with_bakeoff == without and len(sink.events) == 2
