"""What an `openai` answer says, in the event's terms: chat completions, responses and embeddings, whole
or assembled from their stream chunks.

Usage counts the cached input tokens (`prompt_tokens_details.cached_tokens`, `input_tokens_details`)
and reasoning tokens (`completion_tokens_details`, `output_tokens_details`) too; a refusal is
`response.refusal`; several choices (`n > 1`) are each in `response.choices`.
"""

from __future__ import annotations

from typing import Any

from bakeoff.integrations.common import Answer, Lenient, read_answer, response_dict, usage_dict


def _details(details: Any, name: str) -> Any:
    return None if details is None else getattr(details, name)


def chat_usage(usage: Any) -> dict[str, Any]:
    """The event's `usage` of a chat completion's usage object (None: nothing reported)."""
    if usage is None:
        return usage_dict(None, None)
    # The details read inline: this runs on the application's thread for every call.
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return usage_dict(
        usage.prompt_tokens,
        usage.completion_tokens,
        None if prompt is None else prompt.cached_tokens,
        None,
        None if completion is None else completion.reasoning_tokens,
    )


def responses_usage(usage: Any) -> dict[str, Any]:
    """The event's `usage` of a response's usage object (None: nothing reported)."""
    if usage is None:
        return usage_dict(None, None)
    return usage_dict(
        usage.input_tokens,
        usage.output_tokens,
        _details(usage.input_tokens_details, "cached_tokens"),
        None,
        _details(usage.output_tokens_details, "reasoning_tokens"),
    )


_NO_CHOICE: dict[str, Any] = {"text": None, "finish_reason": None, "tool_calls": None}


def _tool_call(call: Any) -> dict[str, Any]:
    function = call.function
    return {
        "id": call.id,
        "type": "function",
        "function": {
            "name": None if function is None else function.name,
            "arguments": None if function is None else function.arguments,
        },
    }


def _choice(choice: Any) -> tuple[dict[str, Any], str | None]:
    message = choice.message
    if message is None:
        return {**_NO_CHOICE, "finish_reason": choice.finish_reason}, None
    tool_calls = message.tool_calls
    entry = {
        "text": message.content,
        "finish_reason": choice.finish_reason,
        "tool_calls": [_tool_call(c) for c in tool_calls] if tool_calls else None,
    }
    return entry, message.refusal


def _chat_completion(completion: Any) -> Answer:
    choices = completion.choices or ()
    listed = None  # one choice: the top level says it all
    if len(choices) > 1:
        entries = [_choice(c) for c in sorted(choices, key=lambda c: c.index or 0)]
        first, refusal = entries[0]
        listed = [entry for entry, _ in entries]
    elif choices:
        first, refusal = _choice(choices[0])
    else:
        first, refusal = _NO_CHOICE, None
    response = response_dict(first["text"], first["finish_reason"], first["tool_calls"], refusal, listed)
    attributes = {"response_model": completion.model, "response_id": completion.id}
    return response, chat_usage(completion.usage), attributes


def chat_completion_result(completion: Any) -> Answer:
    """`(response, usage, attributes)` of a `ChatCompletion` (or the `ParsedChatCompletion` of `parse`)."""
    try:  # read_answer, inline: one function fewer on the application's thread per call
        return _chat_completion(completion)
    except AttributeError:
        return _chat_completion(Lenient(completion))


def chat_completion_values(completion: Any) -> tuple[Any, ...] | None:
    """What the calling thread keeps of the common `ChatCompletion` (one choice, no tool calls): its
    values in a tuple, made into the event's dicts by :func:`expand_chat_completion` off that thread.

    None for any other completion, which :func:`chat_completion_result` reads whole. The values are
    strings and numbers, so the application changing the response object afterwards changes nothing.
    """
    try:
        choices = completion.choices
        if len(choices) != 1:
            return None
        choice = choices[0]
        message = choice.message
        if message is None or message.tool_calls:
            return None
        usage = completion.usage
        tokens = None
        if usage is not None:
            prompt, output = usage.prompt_tokens_details, usage.completion_tokens_details
            tokens = (
                usage.prompt_tokens,
                usage.completion_tokens,
                None if prompt is None else prompt.cached_tokens,
                None if output is None else output.reasoning_tokens,
            )
        return (
            message.content,
            choice.finish_reason,
            message.refusal,
            completion.model,
            completion.id,
            tokens,
        )
    except (AttributeError, TypeError):  # an older client, a stand-in, no choices at all: read it whole
        return None


def expand_chat_completion(values: tuple[Any, ...]) -> Answer:
    """`(response, usage, attributes)` of :func:`chat_completion_values`' tuple: what
    :func:`chat_completion_result` makes of the same completion."""
    text, finish_reason, refusal, model, response_id, tokens = values
    usage = (
        usage_dict(None, None)
        if tokens is None
        else usage_dict(tokens[0], tokens[1], tokens[2], None, tokens[3])
    )
    attributes = {"response_model": model, "response_id": response_id}
    return response_dict(text, finish_reason, None, refusal), usage, attributes


def _response(result: Any) -> Answer:
    texts: list[str] = []
    refusals: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in result.output or ():
        kind = item.type
        if kind == "message":
            for part in item.content or ():
                if part.type == "refusal":
                    refusals.append(part.refusal or "")
                else:
                    texts.append(getattr(part, "text", "") or "")
        elif kind == "function_call":
            tool_calls.append(
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
            )
    response = response_dict(
        "".join(texts) if texts else None,
        result.status,
        tool_calls or None,
        "".join(refusals) if refusals else None,
    )
    attributes = {"response_model": result.model, "response_id": result.id}
    return response, responses_usage(result.usage), attributes


def responses_result(result: Any) -> Answer:
    """`(response, usage, attributes)` of a responses-API `Response` (or the `ParsedResponse` of `parse`)."""
    return read_answer(_response, result)


def _embeddings(result: Any) -> Answer:
    usage = result.usage
    return (
        response_dict(None, None, None),
        usage_dict(None if usage is None else usage.prompt_tokens, None),
        {"response_model": result.model},
    )


def embeddings_result(result: Any) -> Answer:
    """`(response, usage, attributes)` of an embeddings response (no text is recorded)."""
    return read_answer(_embeddings, result)


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
        return response, chat_usage(self.usage), attributes


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
