"""What a simulated model answers: the :class:`Answer` record and the deterministic `echo` responder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Answer:
    """One simulated answer, in provider-neutral form."""

    text: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "name", "arguments": dict}]
    finish_reason: str = "stop"  # "stop" | "length" | "tool_calls"
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


def stable_id(*parts: str) -> str:
    """A short id that depends only on `parts` (the same across processes and runs)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def message_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def last_user_text(request: dict[str, Any], api: str) -> str:
    """The text of the last user turn of a chat, responses or messages request."""
    if api == "responses":
        items = request.get("input")
        if isinstance(items, str):
            return items
        messages = [i for i in items or [] if isinstance(i, dict)]
    else:
        messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def prompt_tokens(request: dict[str, Any]) -> int:
    """A deterministic token estimate of a request: about 1.3 tokens a word."""
    return max(
        1, int(len(orjson.dumps(request.get("messages") or request.get("input") or "").split()) * 1.3) + 4
    )


def echo_answer(model: str, request: dict[str, Any], api: str) -> Answer:
    """Echo the last user message; with tools, call the first tool with `{"text": message}`."""
    text = last_user_text(request, api)
    tools = request.get("tools") or []
    input_tokens = prompt_tokens(request)
    if tools:
        tool = tools[0]
        name = tool.get("name") or (tool.get("function") or {}).get("name") or "tool"
        call = {"id": "call_" + stable_id(model, text), "name": name, "arguments": {"text": text}}
        return Answer(None, [call], "tool_calls", input_tokens, max(1, len(text.split())) + 5)
    output_tokens = max(1, int(len(text.split()) * 1.3))
    return Answer(text, [], "stop", input_tokens, output_tokens, latency_ms=20.0 + output_tokens)
