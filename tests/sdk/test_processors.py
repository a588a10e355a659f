"""What leaves the process: sampling by event id, content stripped on request, redaction, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "my card is 4111 1111 1111 1111"}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="sk-live-123", max_retries=0) as client:
        yield client


def run_with(client: openai.OpenAI, calls: int = 1, **settings: Any) -> InMemorySink:
    sink = InMemorySink()
    bakeoff.init(sink=sink, **settings)
    try:
        for _ in range(calls):
            client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                tools=[{"type": "function", "function": {"name": "pay", "parameters": {"type": "object"}}}],
            )
    finally:
        bakeoff.shutdown()
    return sink


def test_capture_content_false_keeps_structure_only(client: openai.OpenAI) -> None:
    (event,) = run_with(client, capture_content=False).events
    dumped = json.dumps(event)
    assert "4111" not in dumped
    assert event["request"]["messages"] == [{"role": "user", "content": None}]
    assert event["response"]["tool_calls"][0]["function"] == {"name": "pay", "arguments": None}
    assert event["usage"]["input_tokens"] is not None and event["model"] == "m"


def test_redact_applies_to_every_event_and_can_drop(client: openai.OpenAI) -> None:
    def redact(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["attributes"].get("drop"):
            return None
        text = json.dumps(event).replace("4111 1111 1111 1111", "[card]")
        return json.loads(text)

    (event,) = run_with(client, redact=redact).events
    assert "4111" not in json.dumps(event) and "[card]" in json.dumps(event)
    sink = InMemorySink()
    bakeoff.init(sink=sink, redact=redact)
    try:
        with bakeoff.tag(drop=True):
            client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        bakeoff.shutdown()
    assert sink.events == []


def test_sample_rate_is_a_deterministic_fraction_of_event_ids(client: openai.OpenAI) -> None:
    sink = run_with(client, calls=200, sample_rate=0.25)
    kept = len(sink.events)
    assert 25 <= kept <= 75  # binomial(200, .25): mean 50, sd 6.1; this band is beyond 4 sd
    assert all(int(e["id"][:8], 16) < 0.25 * 2**32 for e in sink.events)


def test_no_api_key_or_header_is_recorded(client: openai.OpenAI) -> None:
    (event,) = run_with(client).events
    dumped = json.dumps(event)
    assert "sk-live-123" not in dumped and "Authorization" not in dumped and "Bearer" not in dumped


def test_environment_configuration(monkeypatch: pytest.MonkeyPatch, client: openai.OpenAI) -> None:
    monkeypatch.setenv("BAKEOFF_PROJECT", "from-env")
    monkeypatch.setenv("BAKEOFF_TAGS", "a, b")
    monkeypatch.setenv("BAKEOFF_CAPTURE_CONTENT", "0")
    (event,) = run_with(client).events
    assert event["project"] == "from-env" and event["tags"] == ["a", "b"]
    assert event["request"]["messages"][0]["content"] is None
    (event,) = run_with(client, project="from-arg").events
    assert event["project"] == "from-arg"


def test_disabled_patches_nothing(monkeypatch: pytest.MonkeyPatch, client: openai.OpenAI) -> None:
    monkeypatch.setenv("BAKEOFF_DISABLED", "1")
    assert run_with(client).events == []


def test_feedback_goes_to_the_sink_and_bad_scores_are_refused(client: openai.OpenAI) -> None:
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
        event_id = bakeoff.last_event_id()
        assert event_id is not None
        bakeoff.feedback(event_id, 0.75, "good")
        with pytest.raises(ValueError, match="in \\[0, 1\\]"):
            bakeoff.feedback(event_id, 1.5)
    finally:
        bakeoff.shutdown()
    assert sink.feedback == [
        {"event_id": event_id, "score": 0.75, "comment": "good", "ts": sink.feedback[0]["ts"]}
    ]


def test_capture_content_false_strips_refusals_and_every_choice() -> None:
    from bakeoff.recorder import strip_content

    event = {
        "request": {"messages": [{"role": "user", "content": "secret"}]},
        "response": {
            "text": "secret answer",
            "finish_reason": "stop",
            "tool_calls": None,
            "refusal": "I won't repeat the secret",
            "incomplete": False,
            "choices": [
                {"text": "secret answer", "finish_reason": "stop", "tool_calls": None},
                {
                    "text": None,
                    "finish_reason": "tool_calls",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"s": "secret"}'},
                        }
                    ],
                },
            ],
        },
    }
    strip_content(event)
    assert "secret" not in json.dumps(event)
    assert event["response"]["refusal"] == "" and len(event["response"]["choices"]) == 2
    assert event["response"]["choices"][1]["tool_calls"][0]["function"] == {"name": "f", "arguments": None}
