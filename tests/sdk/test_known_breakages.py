"""Ways other instrumentations break, each checked here against bakeoff."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import openai
import pytest

import bakeoff
from bakeoff import instrument
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "hi"}]
CREATE = openai.resources.chat.completions.Completions.__dict__["create"]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("order", ["openai-first", "bakeoff-first"])
def test_import_order_does_not_matter(llm_server: SimulatorServer, order: str) -> None:
    imports = ["import openai", "import bakeoff; bakeoff.init(sink=sink)"]
    if order == "bakeoff-first":
        imports.reverse()
    program = "\n".join(
        [
            "from bakeoff.shipping.base import InMemorySink",
            "sink = InMemorySink()",
            *imports,
            "import openai",
            f"client = openai.OpenAI(base_url='{llm_server.url}/v1', api_key='k')",
            "client.chat.completions.create(model='m', messages=[{'role': 'user', 'content': 'x'}])",
            "print(len(sink.events))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_second_init_does_not_stack_wrappers(client: openai.OpenAI) -> None:
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    bakeoff.init(sink=InMemorySink())
    try:
        wrapped = openai.resources.chat.completions.Completions.__dict__["create"]
        assert wrapped.__wrapped__ is CREATE
        for _ in range(20):
            client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        bakeoff.shutdown()
    assert len(sink.events) == 20


def test_uninstrument_restores_the_original_methods(client: openai.OpenAI) -> None:
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    assert openai.resources.chat.completions.Completions.__dict__["create"] is not CREATE
    bakeoff.uninstrument()
    assert openai.resources.chat.completions.Completions.__dict__["create"] is CREATE
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert sink.events == []
    bakeoff.shutdown()
    bakeoff.init(sink=sink)  # and a later init instruments again
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        bakeoff.shutdown()
    assert len(sink.events) == 1


def test_no_trace_headers_injected_into_the_request(
    llm_server: SimulatorServer, client: openai.OpenAI, recorded: InMemorySink
) -> None:
    client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-case": "no-trace-headers"})
    sent = next(r for r in reversed(llm_server.requests) if r["headers"].get("x-case") == "no-trace-headers")
    assert not {"traceparent", "tracestate", "baggage"} & {h.lower() for h in sent["headers"]}
    assert sent["body"] == {"model": "m", "messages": MESSAGES}


def test_null_content_tool_deltas_do_not_crash(client: openai.OpenAI, recorded: InMemorySink) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, tools=tools, stream=True))
    assert any(c.choices and c.choices[0].delta.content is None for c in chunks)
    (event,) = recorded.events
    assert json.loads(event["response"]["tool_calls"][0]["function"]["arguments"]) == {"text": "hi"}


def test_sync_calls_start_no_event_loop_or_thread_per_call(
    client: openai.OpenAI, recorded: InMemorySink
) -> None:
    client.chat.completions.create(model="m", messages=MESSAGES)
    threads_before = threading.active_count()
    for _ in range(50):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert threading.active_count() == threads_before
    assert len(recorded.events) == 51


def test_module_state_stays_bounded(client: openai.OpenAI, recorded: InMemorySink) -> None:
    patched_before = len(instrument._patched)
    for _ in range(100):
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert len(instrument._patched) == patched_before
    assert len(recorded.events) == 100
