"""Faithful translation of recorded requests between OpenAI chat completions, OpenAI responses and
Anthropic messages, through one canonical form (the chat-completions shape).

`to_canonical(api, request)` reads a recorded request of any of the three APIs; `from_canonical(api,
canonical)` writes the body for a target API and lists what it had to leave out. What a target cannot
express at all raises :class:`UntranslatableError` with the reason, so replay can skip and count it.
"""

from __future__ import annotations

import json
from typing import Any

from bakeoff.replay.errors import UntranslatableError

APIS = ("chat.completions", "responses", "messages")
DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; used when the recording has none
_PARAMS = ("temperature", "top_p", "seed", "stop", "response_format", "n", "tools", "tool_choice")
_JSON_INSTRUCTION = "Reply with a single JSON object and nothing else."
_ANTHROPIC_TOOL_CHOICE = {"auto": "auto", "required": "any", "none": "none"}


def to_canonical(api: str, request: dict[str, Any]) -> dict[str, Any]:
    """The recorded request as a canonical chat request."""
    if api == "chat.completions":
        return _from_chat(request)
    if api == "messages":
        return _from_messages(request)
    if api == "responses":
        return _from_responses(request)
    raise UntranslatableError(f"cannot replay requests of the {api!r} API")


def from_canonical(api: str, canonical: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The request body for `api`, and the parameters it had to drop."""
    if api == "chat.completions":
        return {k: v for k, v in canonical.items() if v is not None}, []
    if api == "messages":
        return _to_messages(canonical)
    if api == "responses":
        return _to_responses(canonical)
    raise UntranslatableError(f"cannot send requests to the {api!r} API")


# -- reading ----------------------------------------------------------------------------------------------


def _from_chat(request: dict[str, Any]) -> dict[str, Any]:
    canonical: dict[str, Any] = {
        "model": request.get("model"),
        "messages": list(request.get("messages") or []),
    }
    for key in _PARAMS:
        if request.get(key) is not None:
            canonical[key] = request[key]
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    if max_tokens is not None:
        canonical["max_tokens"] = max_tokens
    if request.get("functions"):
        canonical["tools"] = [{"type": "function", "function": f} for f in request["functions"]]
    return canonical


def _anthropic_content(
    blocks: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(content parts, tool calls, tool results) of an Anthropic message's content."""
    if isinstance(blocks, str):
        return [{"type": "text", "text": blocks}], [], []
    parts, calls, results = [], [], []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            source = block.get("source") or {}
            url = source.get("url") or f"data:{source.get('media_type')};base64,{source.get('data')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
        elif kind == "tool_result":
            content = block.get("content")
            text = (
                content
                if isinstance(content, str)
                else "".join(c.get("text", "") for c in content or [] if isinstance(c, dict))
            )
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        else:
            raise UntranslatableError(f"Anthropic content block {kind!r} has no chat equivalent")
    return parts, calls, results


def _simplify(parts: list[dict[str, Any]]) -> Any:
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _from_messages(request: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = request.get("system")
    if system:
        text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
        messages.append({"role": "system", "content": text})
    for message in request.get("messages") or []:
        parts, calls, results = _anthropic_content(message.get("content"))
        messages.extend(results)
        if parts or calls or not results:
            turn: dict[str, Any] = {
                "role": message.get("role", "user"),
                "content": _simplify(parts) if parts else None,
            }
            if calls:
                turn["tool_calls"] = calls
            messages.append(turn)
    canonical: dict[str, Any] = {"model": request.get("model"), "messages": messages}
    for key in ("temperature", "top_p", "max_tokens"):
        if request.get(key) is not None:
            canonical[key] = request[key]
    if request.get("stop_sequences"):
        canonical["stop"] = list(request["stop_sequences"])
    if request.get("tools"):
        canonical["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name"),
                    "description": t.get("description"),
                    "parameters": t.get("input_schema") or {"type": "object"},
                },
            }
            for t in request["tools"]
        ]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        kind = str(choice.get("type"))
        canonical["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}.get(kind) or {
            "type": "function",
            "function": {"name": choice.get("name")},
        }
    return canonical


def _from_responses(request: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.get("instructions"):
        messages.append({"role": "system", "content": request["instructions"]})
    items = request.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or []:
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, list):
                parts = []
                for part in content:
                    if part.get("type") in ("input_text", "output_text"):
                        parts.append({"type": "text", "text": part.get("text", "")})
                    elif part.get("type") == "input_image":
                        parts.append({"type": "image_url", "image_url": {"url": part.get("image_url")}})
                    else:
                        raise UntranslatableError(
                            f"responses content part {part.get('type')!r} has no chat equivalent"
                        )
                content = _simplify(parts)
            messages.append({"role": item.get("role", "user"), "content": content})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "{}")},
            }
            if messages and messages[-1]["role"] == "assistant" and messages[-1].get("content") is None:
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
        else:
            raise UntranslatableError(f"responses input item {kind!r} has no chat equivalent")
    canonical: dict[str, Any] = {"model": request.get("model"), "messages": messages}
    for key in ("temperature", "top_p"):
        if request.get(key) is not None:
            canonical[key] = request[key]
    if request.get("max_output_tokens") is not None:
        canonical["max_tokens"] = request["max_output_tokens"]
    tools = [t for t in request.get("tools") or [] if t.get("type") == "function"]
    if len(tools) != len(request.get("tools") or []):
        raise UntranslatableError(
            "responses built-in tools (web search, file search, ...) have no chat equivalent"
        )
    if tools:
        canonical["tools"] = [
            {"type": "function", "function": {k: t.get(k) for k in ("name", "description", "parameters")}}
            for t in tools
        ]
    text_format = (request.get("text") or {}).get("format")
    if isinstance(text_format, dict) and text_format.get("type") in ("json_object", "json_schema"):
        canonical["response_format"] = (
            {"type": "json_object"}
            if text_format["type"] == "json_object"
            else {"type": "json_schema", "json_schema": {k: v for k, v in text_format.items() if k != "type"}}
        )
    return canonical


# -- writing ----------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def _anthropic_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:"):
                header, _, data = url.partition(",")
                media_type = header[5:].split(";")[0]
                blocks.append(
                    {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
                )
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            raise UntranslatableError(
                f"content part {part.get('type')!r} cannot be sent to Anthropic messages"
            )
    return blocks


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    arguments = (call.get("function") or {}).get("arguments") or "{}"
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError as exc:
        raise UntranslatableError(f"tool call arguments are not JSON: {exc}") from exc
    return {
        "type": "tool_use",
        "id": call.get("id"),
        "name": (call.get("function") or {}).get("name"),
        "input": parsed,
    }


def _to_messages(canonical: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    if (canonical.get("n") or 1) > 1:
        raise UntranslatableError(
            "n > 1 (several answers per request) is not supported by Anthropic messages"
        )
    dropped: list[str] = []
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in canonical.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": _text_of(message.get("content")),
            }
            if (
                turns
                and turns[-1]["role"] == "user"
                and all(b.get("type") == "tool_result" for b in turns[-1]["content"])
            ):
                turns[-1]["content"].append(block)  # Anthropic wants consecutive results in one user turn
            else:
                turns.append({"role": "user", "content": [block]})
            continue
        blocks = _anthropic_blocks(message.get("content"))
        blocks += [_tool_use(call) for call in message.get("tool_calls") or []]
        turns.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    body: dict[str, Any] = {
        "model": canonical.get("model"),
        "messages": turns,
        "max_tokens": canonical.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if "max_tokens" not in canonical:
        dropped.append(f"max_tokens (absent; set to {DEFAULT_MAX_TOKENS}, which Anthropic requires)")
    response_format = canonical.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        instruction = _JSON_INSTRUCTION
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            instruction += " It must match this JSON Schema: " + json.dumps(schema)
        system.append(instruction)
        dropped.append("response_format (Anthropic has no JSON mode: asked for in the system prompt)")
    if system:
        body["system"] = "\n\n".join(s for s in system if s)
    for key in ("temperature", "top_p"):
        if canonical.get(key) is not None:
            body[key] = canonical[key]
    stop = canonical.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if canonical.get("seed") is not None:
        dropped.append("seed (not supported by Anthropic)")
    if canonical.get("tools"):
        body["tools"] = [
            {
                "name": t["function"].get("name"),
                "description": t["function"].get("description") or "",
                "input_schema": t["function"].get("parameters") or {"type": "object"},
            }
            for t in canonical["tools"]
            if t.get("type") == "function"
        ]
    if canonical.get("tool_choice") is not None:
        body["tool_choice"] = _anthropic_tool_choice(canonical["tool_choice"])
    return body, dropped


def _anthropic_tool_choice(choice: Any) -> dict[str, Any]:
    """Anthropic's `tool_choice` for a chat one; what it cannot say (a made-up string, a custom or
    allowed-tools choice) is untranslatable, so the row is skipped with the reason instead of guessed."""
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if choice.get("type", "function") == "function" and isinstance(name, str) and name:
            return {"type": "tool", "name": name}
        raise UntranslatableError(f"tool_choice {choice!r} has no Anthropic equivalent")
    kind = _ANTHROPIC_TOOL_CHOICE.get(choice) if isinstance(choice, str) else None
    if kind is None:
        raise UntranslatableError(
            f"tool_choice {choice!r} has no Anthropic equivalent "
            "(expected auto, required, none or a function)"
        )
    return {"type": kind}


def _to_responses(canonical: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    if (canonical.get("n") or 1) > 1:
        raise UntranslatableError("n > 1 is not supported by the responses API")
    dropped: list[str] = []
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in canonical.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            instructions.append(_text_of(message.get("content")))
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": _text_of(message.get("content")),
                }
            )
        else:
            content = message.get("content")
            if isinstance(content, list):
                text_type = "output_text" if role == "assistant" else "input_text"
                content = [
                    {"type": text_type, "text": p.get("text", "")}
                    if p.get("type") == "text"
                    else {"type": "input_image", "image_url": (p.get("image_url") or {}).get("url")}
                    for p in content
                ]
            if content:
                items.append({"role": role, "content": content})
            items += [
                {
                    "type": "function_call",
                    "call_id": c.get("id"),
                    "name": c["function"].get("name"),
                    "arguments": c["function"].get("arguments", "{}"),
                }
                for c in message.get("tool_calls") or []
            ]
    body: dict[str, Any] = {"model": canonical.get("model"), "input": items}
    if instructions:
        body["instructions"] = "\n\n".join(instructions)
    for key in ("temperature", "top_p"):
        if canonical.get(key) is not None:
            body[key] = canonical[key]
    if canonical.get("max_tokens") is not None:
        body["max_output_tokens"] = canonical["max_tokens"]
    if canonical.get("tools"):
        body["tools"] = [
            {"type": "function", **t["function"]} for t in canonical["tools"] if t.get("type") == "function"
        ]
    for key in ("stop", "seed"):
        if canonical.get(key) is not None:
            dropped.append(f"{key} (not supported by the responses API)")
    response_format = canonical.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        body["text"] = {"format": {"type": "json_object"}}
    elif isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        body["text"] = {"format": {"type": "json_schema", **(response_format.get("json_schema") or {})}}
    return body, dropped
