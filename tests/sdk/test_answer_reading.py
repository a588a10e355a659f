"""The answer parsers read the clients' models attribute by attribute; a model that lacks some of the
attributes they read (a client older than the field, a stand-in) gives the same answer, its absent
fields read as None."""

from __future__ import annotations

import pydantic
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from bakeoff.integrations.anthropic import message_result
from bakeoff.integrations.openai_answers import (
    chat_completion_result,
    chat_completion_values,
    expand_chat_completion,
    responses_result,
)

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


class OldUsage(pydantic.BaseModel):  # before prompt_tokens_details / completion_tokens_details
    prompt_tokens: int
    completion_tokens: int


class OldMessage(pydantic.BaseModel):  # before refusal and tool_calls
    role: str
    content: str | None


class OldChoice(pydantic.BaseModel):
    index: int
    finish_reason: str
    message: OldMessage


class OldCompletion(pydantic.BaseModel):
    id: str
    model: str
    choices: list[OldChoice]
    usage: OldUsage


def test_a_model_without_some_fields_reads_as_the_full_model() -> None:
    full = chat_completion_result(ChatCompletion.model_validate(COMPLETION))
    old = chat_completion_result(OldCompletion.model_validate(COMPLETION))
    assert old == full
    response, usage, attributes = full
    assert response["text"] == "Paris" and response["refusal"] is None and response["tool_calls"] is None
    assert usage["input_tokens"] == 12 and usage["cached_input_tokens"] is None
    assert attributes == {"response_model": "gpt-x", "response_id": "chatcmpl-1"}


def test_several_choices_in_index_order() -> None:
    body = {
        **COMPLETION,
        "choices": [
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "B"}},
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A"}},
        ],
    }
    for model in (ChatCompletion, OldCompletion):
        response, _, _ = chat_completion_result(model.model_validate(body))
        assert response["text"] == "A" and [c["text"] for c in response["choices"]] == ["A", "B"]


def test_responses_and_messages_without_usage() -> None:
    response = Response.model_construct(
        id="resp_1", model="gpt-x", status="completed", output=[], usage=None, object="response"
    )
    answer, usage, _ = responses_result(response)
    assert answer["text"] is None and answer["finish_reason"] == "completed"
    assert usage["input_tokens"] is None
    message = Message.model_construct(
        id="msg_1", model="claude", content=[], stop_reason="end_turn", usage=None, role="assistant"
    )
    answer, usage, attributes = message_result(message)
    assert answer["finish_reason"] == "end_turn" and usage["input_tokens"] is None
    assert attributes["response_id"] == "msg_1"


def test_the_calling_threads_reading_of_a_completion_expands_to_the_whole_reading() -> None:
    """`chat_completion_values` then `expand_chat_completion` (the event built off the calling thread)
    make what `chat_completion_result` makes; completions it does not take are left to that."""
    details = {
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    refused = {"role": "assistant", "content": None, "refusal": "I cannot help with that."}
    tool = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    bodies = [
        COMPLETION,
        {**COMPLETION, "usage": {**COMPLETION["usage"], **details}},
        {**COMPLETION, "usage": None},
        {**COMPLETION, "choices": [{"index": 0, "finish_reason": "stop", "message": refused}]},
        {
            **COMPLETION,
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant"}}],
        },
    ]
    for body in bodies:
        for completion in (ChatCompletion.model_validate(body), ChatCompletion.construct(**body)):
            values = chat_completion_values(completion)
            assert values is not None
            assert expand_chat_completion(values) == chat_completion_result(completion), body
    assert expand_chat_completion(chat_completion_values(ChatCompletion.model_validate(bodies[1])))[1] == {
        "input_tokens": 12,
        "output_tokens": 3,
        "cached_input_tokens": 8,
        "cache_creation_input_tokens": None,
        "reasoning_tokens": 2,
    }
    with_tools = {"role": "assistant", "content": None, "tool_calls": [tool]}
    two = [COMPLETION["choices"][0], {**COMPLETION["choices"][0], "index": 1}]
    others = [
        {**COMPLETION, "choices": [{"index": 0, "finish_reason": "tool_calls", "message": with_tools}]},
        {**COMPLETION, "choices": two},
        {**COMPLETION, "choices": []},
    ]
    for body in others:
        assert chat_completion_values(ChatCompletion.model_validate(body)) is None
    assert chat_completion_values(OldCompletion.model_validate(COMPLETION)) is None  # read whole, leniently
