"""What an `openai` answer says, in the event's terms: chat completions, responses and embeddings, whole
or assembled from their stream chunks.

Usage counts the cached input tokens (`prompt_tokens_details.cached_tokens`, `input_tokens_details`)
and reasoning tokens (`completion_tokens_details`, `output_tokens_details`) too; a refusal is
`response.refusal`; several choices (`n > 1`) are each in `response.choices`.
"""

from __future__ import annotations

from typing import Any

from bakeoff.integrations.common import Answer, response_dict, usage_dict


def openai_usage(usage: Any) -> dict[str, Any]:
    """The event's `usage` of a chat completion's or a response's usage object."""
    if usage is None:
        return usage_dict(None, None)
    input_tokens = getattr(usage, "prompt_tokens", None)
    if input_tokens is None:
        input_tokens = getattr(usage, "input_tokens", None)
        output_tokens = getattr(usage, "output_tokens", None)
        input_details = getattr(usage, "input_tokens_details", None)
        output_details = getattr(usage, "output_tokens_details", None)
    else:
        output_tokens = getattr(usage, "completion_tokens", None)
        input_details = getattr(usage, "prompt_tokens_details", None)
        output_details = getattr(usage, "completion_tokens_details", None)
    return usage_dict(
        input_tokens,
        output_tokens,
        cached_input_tokens=getattr(input_details, "cached_tokens", None),
        reasoning_tokens=getattr(output_details, "reasoning_tokens", None),
    )


_NO_CHOICE: dict[str, Any] = {"text": None, "finish_reason": None, "tool_calls": None}


def _attributes(obj: Any) -> dict[str, Any]:
    return {"response_model": getattr(obj, "model", None), "response_id": getattr(obj, "id", None)}


def _tool_call(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    return {
        "id": getattr(call, "id", None),
        "type": "function",
        "function": {
            "name": getattr(function, "name", None),
            "arguments": getattr(function, "arguments", None),
        },
    }


def _choice(choice: Any) -> tuple[dict[str, Any], str | None]:
    message = getattr(choice, "message", None)
    tool_calls = getattr(message, "tool_calls", None)
    entry = {
        "text": getattr(message, "content", None),
        "finish_reason": getattr(choice, "finish_reason", None),
        "tool_calls": [_tool_call(c) for c in tool_calls] if tool_calls else None,
    }
    return entry, getattr(message, "refusal", None)


def chat_completion_result(completion: Any) -> Answer:
    """`(response, usage, attributes)` of a `ChatCompletion` (or the `ParsedChatCompletion` of `parse`)."""
    choices = getattr(completion, "choices", None) or []
    if len(choices) > 1:
        choices = sorted(choices, key=lambda c: getattr(c, "index", 0) or 0)
    entries = [_choice(c) for c in choices]
    first, refusal = entries[0] if entries else (_NO_CHOICE, None)
    response = response_dict(
        first["text"], first["finish_reason"], first["tool_calls"], refusal, [e for e, _ in entries]
    )
    return response, openai_usage(getattr(completion, "usage", None)), _attributes(completion)


def responses_result(result: Any) -> Answer:
    """`(response, usage, attributes)` of a responses-API `Response` (or the `ParsedResponse` of `parse`)."""
    texts: list[str] = []
    refusals: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in getattr(result, "output", None) or []:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in getattr(item, "content", None) or []:
                if getattr(part, "type", None) == "refusal":
                    refusals.append(getattr(part, "refusal", "") or "")
                else:
                    texts.append(getattr(part, "text", "") or "")
        elif kind == "function_call":
            tool_calls.append(
                {
                    "id": getattr(item, "call_id", None),
                    "type": "function",
                    "function": {
                        "name": getattr(item, "name", None),
                        "arguments": getattr(item, "arguments", None),
                    },
                }
            )
    response = response_dict(
        "".join(texts) if texts else None,
        getattr(result, "status", None),
        tool_calls or None,
        "".join(refusals) if refusals else None,
    )
    return response, openai_usage(getattr(result, "usage", None)), _attributes(result)


def embeddings_result(result: Any) -> Answer:
    """`(response, usage, attributes)` of an embeddings response (no text is recorded)."""
    usage = getattr(result, "usage", None)
    return (
        response_dict(None, None, None),
        usage_dict(getattr(usage, "prompt_tokens", None), None),
        {"response_model": getattr(result, "model", None)},
    )


class _ChoiceState:
    __slots__ = ("finish_reason", "refusal", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def add_tool_delta(self, piece: Any) -> None:
        call = self.tool_calls.get(piece.index or 0)
        if call is None:
            call = {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
            self.tool_calls[piece.index or 0] = call
        if piece.id:
            call["id"] = piece.id
        function = piece.function
        if function is not None:
            if function.name:
                call["function"]["name"] = function.name
            if function.arguments:
                call["function"]["arguments"] += function.arguments

    def entry(self) -> dict[str, Any]:
        return {
            "text": "".join(self.text) if self.text else None,
            "finish_reason": self.finish_reason,
            "tool_calls": [self.tool_calls[i] for i in sorted(self.tool_calls)] or None,
        }


class ChatChunkAccumulator:
    """Assembles `ChatCompletionChunk`s per choice: text, tool calls, refusal, finish reason, final usage.

    `add` runs once per chunk in the application's thread, so it reads only what a chunk can carry.
    """

    __slots__ = ("choices", "model", "response_id", "usage")

    def __init__(self) -> None:
        self.choices: dict[int, _ChoiceState] = {}
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None

    def add(self, chunk: Any) -> bool:
        if self.response_id is None:
            self.model, self.response_id = chunk.model, chunk.id
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        content = False
        for choice in chunk.choices:
            state = self.choices.get(choice.index)
            if state is None:
                state = self.choices[choice.index] = _ChoiceState()
            delta = choice.delta
            if delta is not None:
                text = delta.content
                if text:
                    state.text.append(text)
                    content = True
                if delta.tool_calls:
                    for piece in delta.tool_calls:
                        state.add_tool_delta(piece)
                    content = True
                if delta.refusal:
                    state.refusal.append(delta.refusal)
                    content = True
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
        return content

    def result(self) -> Answer:
        states = [self.choices[i] for i in sorted(self.choices)]
        entries = [s.entry() for s in states]
        first = entries[0] if entries else _NO_CHOICE
        refusal = "".join(states[0].refusal) if states and states[0].refusal else None
        response = response_dict(first["text"], first["finish_reason"], first["tool_calls"], refusal, entries)
        attributes = {"response_model": self.model, "response_id": self.response_id}
        return response, openai_usage(self.usage), attributes


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_CONTENT_EVENTS = frozenset({"response.function_call_arguments.delta", "response.refusal.delta"})


class ResponsesEventAccumulator:
    """Assembles responses-API stream events; the final `response.completed` event carries everything."""

    __slots__ = ("final", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.final: Any = None

    def add(self, event: Any) -> bool:
        kind = event.type
        if kind == "response.output_text.delta":
            self.text.append(event.delta or "")
            return True
        if kind in _FINAL_EVENTS:
            self.final = event.response
        elif kind == "response.refusal.delta":
            self.refusal.append(event.delta or "")
        return kind in _CONTENT_EVENTS

    def result(self) -> Answer:
        if self.final is not None:
            return responses_result(self.final)
        response = response_dict("".join(self.text) or None, None, None, "".join(self.refusal) or None)
        return response, usage_dict(None, None), {}
