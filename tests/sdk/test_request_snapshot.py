"""The recorded request is the one sent, even when the application changes its arguments afterwards.

The calling thread only snapshots the arguments (lists and `extra_body` copied); the request is cleaned
and the event built later, on the shipping thread. These tests hold the events in the queue (a long
flush interval) while the application mutates what it passed, then ship them through a real receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from support.receiver import Receiver


@pytest.fixture()
def shipping(receiver: Receiver, tmp_path: Path) -> Iterator[Receiver]:
    bakeoff.init(receiver.url, spool_dir=str(tmp_path / "spool"), flush_interval_s=3600.0)
    try:
        yield receiver
    finally:
        bakeoff.shutdown()


def test_arguments_mutated_after_the_call_are_recorded_as_sent(
    llm_server: SimulatorServer, shipping: Receiver
) -> None:
    messages = [{"role": "user", "content": "first question"}]
    extra_body = {"user": "tenant-1"}
    stop = ("END",)
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(
            model="m",
            messages=messages,
            extra_body=extra_body,
            stop=stop,
            extra_headers={"x-case": "snapshot"},
        )
        event_id = bakeoff.last_event_id()
        # What an application does next: the conversation goes on, the options are reused.
        messages.append({"role": "assistant", "content": answer.choices[0].message.content})
        messages.append({"role": "user", "content": "second question"})
        extra_body["user"] = "tenant-2"
    assert shipping.events == {}  # still queued: built only now, after the changes
    assert bakeoff.flush(10)
    sent = next(r for r in reversed(llm_server.requests) if r["headers"].get("x-case") == "snapshot")
    event = shipping.events[event_id]
    assert event["request"] == sent["body"]
    assert event["request"]["messages"] == [{"role": "user", "content": "first question"}]
    assert event["request"]["user"] == "tenant-1" and event["request"]["stop"] == ["END"]
    assert "extra_body" not in event["request"] and "extra_headers" not in event["request"]
    assert event["response"]["text"] == answer.choices[0].message.content
    assert event["id"] == event_id
