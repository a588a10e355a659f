"""Recorded provider bodies replayed byte for byte to the real clients: the event says what the client
library itself assembled from the same bytes (its final accumulated object)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pydantic
from canned import CannedServer

from bakeoff.schema import validate_event
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "colours?"}]


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


def only_event(sink: InMemorySink) -> dict[str, Any]:
    assert len(sink.events) == 1, sink.events
    event = sink.events[0]
    validate_event(json.loads(json.dumps(event, default=str)))
    return event


def openai_client(canned: CannedServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=canned.url + "/v1", api_key="k", max_retries=0)


def final_chat(canned: CannedServer, fixture: str, **params: Any) -> Any:
    """What `chat.completions.stream(...)` assembled from the fixture's bytes."""
    canned.serve(fixture)
    client = openai_client(canned)
    with client, client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, **params) as stream:
        return stream.get_final_completion()


def test_chat_n3_stream_keeps_each_choice(canned: CannedServer, recorded: InMemorySink) -> None:
    final = final_chat(canned, "openai_chat_n3.sse", n=3)
    event = only_event(recorded)
    response = event["response"]
    assert [c["text"] for c in response["choices"]] == [c.message.content for c in final.choices]
    assert [c["finish_reason"] for c in response["choices"]] == ["stop", "stop", "stop"]
    assert response["text"] == final.choices[0].message.content == "Red, green"
    assert response["incomplete"] is False and response["refusal"] is None
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert event["usage"]["input_tokens"] == final.usage.prompt_tokens
    assert event["usage"]["cached_input_tokens"] == final.usage.prompt_tokens_details.cached_tokens == 1024
    assert event["usage"]["reasoning_tokens"] == 0


def test_chat_stream_refusal(canned: CannedServer, recorded: InMemorySink) -> None:
    final = final_chat(canned, "openai_chat_refusal.sse")
    response = only_event(recorded)["response"]
    assert response["refusal"] == final.choices[0].message.refusal == "I'm sorry, I can't help with that."
    assert response["text"] is None and response["choices"] is None


def test_chat_stream_parallel_tool_calls(canned: CannedServer, recorded: InMemorySink) -> None:
    final = final_chat(canned, "openai_chat_tools.sse")
    event = only_event(recorded)
    tool_calls = final.choices[0].message.tool_calls or []
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in event["response"]["tool_calls"]
    ] == [
        (c.id, c.function.name, c.function.arguments)
        for c in tool_calls  # type: ignore[union-attr]
    ]
    assert event["usage"]["cached_input_tokens"] == 64 and event["usage"]["reasoning_tokens"] == 16


def test_chat_parse_and_its_refusal(canned: CannedServer, recorded: InMemorySink) -> None:
    with openai_client(canned) as client:
        canned.serve("openai_chat_parse.json")
        parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Weather)
        canned.serve("openai_chat_refusal.json")
        refused = client.beta.chat.completions.parse(
            model="gpt-4o", messages=MESSAGES, response_format=Weather
        )
    first, second = recorded.events
    assert parsed.choices[0].message.parsed == Weather(city="Paris", degrees=21)
    assert first["response"]["text"] == parsed.choices[0].message.content
    assert first["usage"]["cached_input_tokens"] == 1920
    sent = canned.requests[-2]["body"]["response_format"]
    assert first["request"]["response_format"] == sent and sent["json_schema"]["name"] == "Weather"
    assert second["response"]["refusal"] == refused.choices[0].message.refusal
    assert second["response"]["text"] is None


def test_responses_stream_usage_details(canned: CannedServer, recorded: InMemorySink) -> None:
    canned.serve("openai_responses_text.sse")
    with openai_client(canned) as client, client.responses.stream(model="gpt-4.1", input="hi") as stream:
        final = stream.get_final_response()
    event = only_event(recorded)
    assert event["response"]["text"] == final.output_text == "Hi there!"
    assert final.usage is not None
    assert event["usage"]["input_tokens"] == final.usage.input_tokens
    assert event["usage"]["cached_input_tokens"] == final.usage.input_tokens_details.cached_tokens == 1280
    assert event["usage"]["reasoning_tokens"] == final.usage.output_tokens_details.reasoning_tokens == 96
    assert event["ttft_ms"] is not None and event["stream"]


def test_responses_stream_refusal(canned: CannedServer, recorded: InMemorySink) -> None:
    canned.serve("openai_responses_refusal.sse")
    with openai_client(canned) as client:
        events = list(client.responses.create(model="gpt-4.1", input="hi", stream=True))
    response = only_event(recorded)["response"]
    final = events[-1].response  # type: ignore[union-attr]
    assert response["refusal"] == final.output[0].content[0].refusal == "I can't help with that."
    assert response["text"] is None


def test_anthropic_stream_tool_use_and_cache_tokens(canned: CannedServer, recorded: InMemorySink) -> None:
    canned.serve("anthropic_tool_use.sse")
    client = anthropic.Anthropic(base_url=canned.url, api_key="k", max_retries=0)
    with client, client.messages.stream(model="claude", max_tokens=100, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    event = only_event(recorded)
    text = "".join(b.text for b in final.content if b.type == "text")
    (tool,) = [b for b in final.content if b.type == "tool_use"]
    assert event["response"]["text"] == text and event["response"]["finish_reason"] == final.stop_reason
    (call,) = event["response"]["tool_calls"]
    assert call["id"] == tool.id and json.loads(call["function"]["arguments"]) == tool.input
    usage = final.usage
    assert event["usage"]["cached_input_tokens"] == usage.cache_read_input_tokens == 4096
    assert event["usage"]["cache_creation_input_tokens"] == usage.cache_creation_input_tokens == 512
    assert event["usage"]["input_tokens"] == 25 + 512 + 4096 and event["usage"]["output_tokens"] == 89


def test_anthropic_refusal_and_parse(canned: CannedServer, recorded: InMemorySink) -> None:
    with anthropic.Anthropic(base_url=canned.url, api_key="k", max_retries=0) as client:
        canned.serve("anthropic_refusal.sse")
        with client.beta.messages.stream(model="claude", max_tokens=100, messages=MESSAGES) as stream:
            refused = stream.get_final_message()
        canned.serve("anthropic_message.json")
        parsed = client.messages.parse(
            model="claude", max_tokens=100, messages=MESSAGES, output_format=Weather
        )
    refusal, structured = recorded.events
    assert refused.stop_reason == refusal["response"]["finish_reason"] == "refusal"
    assert refusal["response"]["refusal"] == "I can't help with that."
    assert parsed.parsed_output == Weather(city="Paris", degrees=21)
    assert structured["response"]["text"] == parsed.content[0].text  # type: ignore[union-attr]
    assert structured["usage"]["cached_input_tokens"] == 1024
    sent = canned.requests[-1]["body"]["output_config"]
    assert structured["request"]["output_config"] == sent and "output_format" not in structured["request"]


async def test_async_streams_of_recorded_bodies(canned: CannedServer, recorded: InMemorySink) -> None:
    async with openai.AsyncOpenAI(base_url=canned.url + "/v1", api_key="k", max_retries=0) as client:
        canned.serve("openai_chat_n3.sse")
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, n=3) as stream:
            final = await stream.get_final_completion()
        canned.serve("openai_responses_text.sse")
        async with client.responses.stream(model="gpt-4.1", input="hi") as responses:
            final_response = await responses.get_final_response()
    chat, response = recorded.events
    assert [c["text"] for c in chat["response"]["choices"]] == [c.message.content for c in final.choices]
    assert response["response"]["text"] == final_response.output_text
    assert response["usage"]["cached_input_tokens"] == 1280
