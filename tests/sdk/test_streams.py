"""A stream yields exactly one event, at once, however it ends: exhausted, closed early, broken, abandoned."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import anthropic
import openai
import pytest

from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "one two three four five six"}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


def test_break_then_close_records_partial_text_once(client: openai.OpenAI, recorded: InMemorySink) -> None:
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received = []
    for chunk in stream:
        received.append(chunk.choices[0].delta.content or "")
        if len(received) == 3:
            break
    assert recorded.events == []
    stream.close()
    stream.close()
    (event,) = recorded.events
    assert event["status"] == "ok" and event["response"]["text"] == "".join(received)
    assert event["response"]["incomplete"] is True


def test_stream_read_to_its_end_is_complete(client: openai.OpenAI, recorded: InMemorySink) -> None:
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    (event,) = recorded.events
    assert event["response"]["incomplete"] is False and event["response"]["text"] == MESSAGES[0]["content"]


def test_with_block_exit_finishes(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        next(iter(stream))
    assert len(recorded.events) == 1


def test_abandoned_stream_is_recorded_when_collected(client: openai.OpenAI, recorded: InMemorySink) -> None:
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    (event,) = recorded.events
    assert event["stream"] and event["response"]["text"] is None  # only the role chunk arrived
    assert event["response"]["incomplete"] is True


def test_broken_stream_records_error_and_reraises(
    llm_server: SimulatorServer, client: openai.OpenAI, recorded: InMemorySink
) -> None:
    llm_server.inject("drop-mid-stream")
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    (event,) = recorded.events
    assert event["status"] == "error" and event["error"]["type"]
    assert event["response"]["incomplete"] is True


def test_anthropic_helper_closed_early(llm_server: SimulatorServer, recorded: InMemorySink) -> None:
    with anthropic.Anthropic(base_url=llm_server.url, api_key="k", max_retries=0) as client:
        with client.messages.stream(model="c", max_tokens=10, messages=MESSAGES) as stream:
            for _ in stream.text_stream:
                break
            assert recorded.events == []
        (event,) = recorded.events
    assert event["stream"] and event["status"] == "ok" and event["response"]["incomplete"] is True


def test_stream_chunks_are_the_librarys_own(client: openai.OpenAI, recorded: InMemorySink) -> None:
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert all(type(c).__name__ == "ChatCompletionChunk" for c in chunks)
    assert stream.response.status_code == 200


def test_helper_closed_early_is_incomplete(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with client.responses.create(model="m", input="one two three four", stream=True) as stream:
        next(iter(stream))
    (event,) = recorded.events
    assert event["response"]["incomplete"] is True and event["response"]["finish_reason"] is None


async def test_async_stream_closed_early_is_incomplete(
    llm_server: SimulatorServer, recorded: InMemorySink
) -> None:
    async with openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            break
        await stream.close()
        whole = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        [chunk async for chunk in whole]
    closed, read = recorded.events
    assert closed["response"]["incomplete"] is True and read["response"]["incomplete"] is False
