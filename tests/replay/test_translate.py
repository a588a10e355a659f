"""Translation between chat completions, Anthropic messages and responses: every shape, both ways."""

from __future__ import annotations

import json

import pytest

from bakeoff.replay.errors import UntranslatableError
from bakeoff.replay.providers.translate import DEFAULT_MAX_TOKENS, from_canonical, to_canonical

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
    }
]
CHAT = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": "7"}'}},
                {"id": "c2", "type": "function", "function": {"name": "lookup", "arguments": '{"id": "8"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a lamp"},
        {"role": "tool", "tool_call_id": "c2", "content": "a chair"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": TOOLS,
    "tool_choice": "required",
    "temperature": 0.2,
    "max_tokens": 300,
    "stop": ["END"],
}


def test_chat_to_anthropic_messages() -> None:
    body, dropped = from_canonical("messages", to_canonical("chat.completions", CHAT))
    assert body["system"] == "be brief" and body["max_tokens"] == 300 and body["stop_sequences"] == ["END"]
    user, assistant, results, last = body["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert [b["input"] for b in assistant["content"]] == [{"id": "7"}, {"id": "8"}]
    assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result"]  # merged in one turn
    assert results["role"] == "user" and last == {
        "role": "user",
        "content": [{"type": "text", "text": "thanks"}],
    }
    assert body["tools"][0]["input_schema"]["properties"] == {"id": {"type": "string"}}
    assert body["tool_choice"] == {"type": "any"} and dropped == []


def test_anthropic_round_trip_back_to_chat() -> None:
    anthropic_body, _ = from_canonical("messages", to_canonical("chat.completions", CHAT))
    again = to_canonical("messages", anthropic_body)
    assert again["messages"][0] == {"role": "system", "content": "be brief"}
    assert [m["role"] for m in again["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert json.loads(again["messages"][2]["tool_calls"][1]["function"]["arguments"]) == {"id": "8"}
    assert again["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "a lamp"}
    assert again["tool_choice"] == "required" and again["stop"] == ["END"] and again["max_tokens"] == 300
    assert again["tools"][0]["function"]["parameters"] == TOOLS[0]["function"]["parameters"]


def test_chat_to_responses_and_back() -> None:
    body, dropped = from_canonical("responses", to_canonical("chat.completions", CHAT))
    assert body["instructions"] == "be brief" and body["max_output_tokens"] == 300
    kinds = [item.get("type", "message") for item in body["input"]]
    assert kinds == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    assert body["tools"][0]["name"] == "lookup" and dropped == ["stop (not supported by the responses API)"]
    again = to_canonical("responses", body)
    assert [m["role"] for m in again["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert len(again["messages"][2]["tool_calls"]) == 2


def test_anthropic_specifics() -> None:
    recorded = {
        "model": "claude-x",
        "max_tokens": 50,
        "system": [{"type": "text", "text": "sys"}],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "stop_sequences": ["##"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "text", "text": "describe"},
                ],
            }
        ],
    }
    canonical = to_canonical("messages", recorded)
    assert canonical["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert canonical["messages"][1]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.png"},
    }
    body, _ = from_canonical("chat.completions", canonical)
    assert body["stop"] == ["##"] and body["max_tokens"] == 50


def test_defaults_json_mode_and_dropped_parameters() -> None:
    canonical = to_canonical(
        "chat.completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"},
            "seed": 3,
        },
    )
    body, dropped = from_canonical("messages", canonical)
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS and "JSON object" in body["system"]
    assert any(d.startswith("max_tokens") for d in dropped) and any(d.startswith("seed") for d in dropped)
    assert any(d.startswith("response_format") for d in dropped)
    responses_body, _ = from_canonical("responses", canonical)
    assert responses_body["text"] == {"format": {"type": "json_object"}}


def test_untranslatable_requests_say_why() -> None:
    with pytest.raises(UntranslatableError, match="n > 1"):
        from_canonical("messages", to_canonical("chat.completions", {"model": "m", "messages": [], "n": 3}))
    with pytest.raises(UntranslatableError, match="built-in tools"):
        to_canonical("responses", {"model": "m", "input": "x", "tools": [{"type": "web_search"}]})
    bad_arguments = {
        "model": "m",
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
                ],
            }
        ],
    }
    with pytest.raises(UntranslatableError, match="not JSON"):
        from_canonical("messages", to_canonical("chat.completions", bad_arguments))
    with pytest.raises(UntranslatableError, match="embeddings"):
        to_canonical("embeddings", {"input": "x"})
