"""Tags add up across nested blocks, decorators, threads (copied contexts) and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import openai
import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


def test_nested_tags_and_attributes_add_up(client: openai.OpenAI, recorded: InMemorySink) -> None:
    with bakeoff.tag("support", tier="gold"):
        with bakeoff.tag("refunds", "support", tier="platinum", lang="en"):
            client.chat.completions.create(model="m", messages=MESSAGES)
        client.chat.completions.create(model="m", messages=MESSAGES)
    client.chat.completions.create(model="m", messages=MESSAGES)
    inner, outer, none = recorded.events
    assert inner["tags"] == ["support", "refunds"]
    assert inner["attributes"]["tier"] == "platinum" and inner["attributes"]["lang"] == "en"
    assert outer["tags"] == ["support"] and outer["attributes"]["tier"] == "gold"
    assert none["tags"] == []


def test_init_tags_come_first(llm_server: SimulatorServer) -> None:
    sink = InMemorySink()
    bakeoff.init(sink=sink, tags=["prod"])
    try:
        with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client, bakeoff.tag("a"):
            client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        bakeoff.shutdown()
    assert sink.events[0]["tags"] == ["prod", "a"]


def test_decorator_sync_and_async(
    client: openai.OpenAI, recorded: InMemorySink, llm_server: SimulatorServer
) -> None:
    @bakeoff.tag("sync-fn")
    def sync_call() -> None:
        client.chat.completions.create(model="m", messages=MESSAGES)

    @bakeoff.tag("async-fn")
    async def async_call() -> None:
        async with openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="k") as aclient:
            await aclient.chat.completions.create(model="m", messages=MESSAGES)

    sync_call()
    asyncio.run(async_call())
    assert [e["tags"] for e in recorded.events] == [["sync-fn"], ["async-fn"]]


def test_threads_with_copied_context_and_isolated_tasks(
    client: openai.OpenAI, recorded: InMemorySink
) -> None:
    def call() -> None:
        client.chat.completions.create(model="m", messages=MESSAGES)

    with bakeoff.tag("parent"):
        thread = threading.Thread(target=contextvars.copy_context().run, args=(call,))
        thread.start()
        thread.join()
    bare = threading.Thread(target=call)
    bare.start()
    bare.join()
    assert [e["tags"] for e in recorded.events] == [["parent"], []]


async def test_asyncio_tasks_do_not_leak_tags(llm_server: SimulatorServer, recorded: InMemorySink) -> None:
    async with openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:

        async def tagged(name: str) -> str | None:
            with bakeoff.tag(name):
                await asyncio.sleep(0.01)
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": name}])
                return bakeoff.last_event_id()

        ids = await asyncio.gather(*(tagged(f"task-{i}") for i in range(5)))
    by_id = {e["id"]: e for e in recorded.events}
    for i, event_id in enumerate(ids):
        assert event_id is not None
        assert by_id[event_id]["tags"] == [f"task-{i}"]
        assert by_id[event_id]["response"]["text"] == f"task-{i}"


def test_tags_follow_work_handed_to_a_thread_pool(client: openai.OpenAI, recorded: InMemorySink) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def call(text: str) -> str | None:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        return bakeoff.last_event_id()

    with ThreadPoolExecutor(max_workers=3) as pool:
        with bakeoff.tag("batch", job="nightly"):
            mapped = list(pool.map(call, ["a", "b", "c"]))
            submitted = pool.submit(call, "d").result()
        untagged = pool.submit(call, "e").result()
    by_id = {e["id"]: e for e in recorded.events}
    for event_id in [*mapped, submitted]:
        assert event_id is not None
        assert by_id[event_id]["tags"] == ["batch"] and by_id[event_id]["attributes"]["job"] == "nightly"
    assert untagged is not None and by_id[untagged]["tags"] == []


def test_uninstrument_restores_thread_pool_submit() -> None:
    from concurrent.futures import ThreadPoolExecutor

    original = ThreadPoolExecutor.__dict__["submit"]
    bakeoff.init(sink=InMemorySink())
    try:
        assert ThreadPoolExecutor.__dict__["submit"] is not original
    finally:
        bakeoff.shutdown()
    assert ThreadPoolExecutor.__dict__["submit"] is original
