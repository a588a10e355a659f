"""Recording of the `openai` client: chat completions, responses and embeddings, sync and async.

Patched on the resource classes with wrapt, so clients created before or after `bakeoff.init()` are
recorded alike. `client.beta.chat` is the same resource class as `client.chat`; `client.beta.responses`
has its own. `chat.completions.parse` and `responses.parse` post directly (not through `create`), so
they are patched too. The `.stream(...)` helpers call `create(stream=True)`, which records them; their
managers are proxied so that leaving the `with` block finishes the event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bakeoff.integrations.common import Answer, finish_with, make_wrapper
from bakeoff.integrations.openai_answers import (
    ChatChunkAccumulator,
    ResponsesEventAccumulator,
    chat_completion_result,
    chat_completion_values,
    embeddings_result,
    expand_chat_completion,
    responses_result,
)
from bakeoff.integrations.raw import (
    RESPONSE_PROXIES,
    is_raw_response,
    raw_response,
    streaming_response,
    wrap_stream,
)
from bakeoff.recorder import Call
from bakeoff.streams import RecordingManager

PROVIDER = "openai"
_CHAT = "openai.resources.chat.completions"
_RESPONSES = "openai.resources.responses"
_BETA_RESPONSES = "openai.resources.beta.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"


def _handler(
    parse_result: Callable[[Any], Answer],
    make_accumulator: Callable[[], Any],
    read: Callable[[Any], Any] | None = None,
    expand: Callable[[Any], Answer] | None = None,
) -> Any:
    """What becomes of a method's result; `read` (with `expand`) is a cheaper first reading of a whole
    answer on the calling thread (see :meth:`Call.finish_read`), None when it does not apply."""

    def handle(call: Call, result: Any) -> Any:
        kind = type(result).__name__
        if kind in RESPONSE_PROXIES:
            if is_raw_response(result):
                return raw_response(call, result, parse_result, make_accumulator)
            return streaming_response(call, result, parse_result, make_accumulator())
        if call.stream:
            return wrap_stream(call, result, make_accumulator())
        if read is not None and expand is not None:
            values = read(result)
            if values is not None:
                call.finish_read(expand, values)
                return result
        finish_with(call, parse_result(result))
        return result

    return handle


def _no_stream() -> Any:
    raise TypeError("embeddings do not stream")


def _stream_manager_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return RecordingManager(wrapped(*args, **kwargs))


def _schema_of(helper: str, value: Any) -> Any:
    """The wire form of a `parse` method's pydantic type, as the library itself builds it."""
    import importlib

    module, name = helper.rsplit(":", 1)
    try:
        return getattr(importlib.import_module(module), name)(value)
    except (ImportError, AttributeError):  # the helper moved: the schema as pydantic writes it
        schema = value.model_json_schema() if hasattr(value, "model_json_schema") else {}
        return {"type": "json_schema", "json_schema": {"name": value.__name__, "schema": schema}}


def fix_chat_parse(request: dict[str, Any]) -> dict[str, Any]:
    """`chat.completions.parse` sends its `response_format` type as a JSON schema."""
    response_format = request.get("response_format")
    if isinstance(response_format, type):
        request["response_format"] = _schema_of(
            "openai.lib._parsing._completions:type_to_response_format_param", response_format
        )
    return request


def fix_responses_parse(request: dict[str, Any]) -> dict[str, Any]:
    """`responses.parse` sends its `text_format` type as `text.format`."""
    text_format = request.pop("text_format", None)
    request.pop("parse_as", None)
    if isinstance(text_format, type):
        schema = _schema_of("openai.lib._parsing._responses:type_to_text_format_param", text_format)
        request["text"] = {**(request.get("text") or {}), "format": schema}
    return request


_CHAT_TARGET = (
    "chat.completions",
    chat_completion_result,
    ChatChunkAccumulator,
    (chat_completion_values, expand_chat_completion),
)
_RESPONSES_TARGET = ("responses", responses_result, ResponsesEventAccumulator, (None, None))
_EMBEDDINGS_TARGET = ("embeddings", embeddings_result, _no_stream, (None, None))
# (module, class, method, (api, result parser, stream accumulator factory, (read, expand)), request fix)
TARGETS: list[tuple[str, str, str, tuple[str, Any, Any, tuple[Any, Any]], Any]] = [
    (_CHAT, "Completions", "create", _CHAT_TARGET, None),
    (_CHAT, "AsyncCompletions", "create", _CHAT_TARGET, None),
    (_CHAT, "Completions", "parse", _CHAT_TARGET, fix_chat_parse),
    (_CHAT, "AsyncCompletions", "parse", _CHAT_TARGET, fix_chat_parse),
    (_RESPONSES, "Responses", "create", _RESPONSES_TARGET, None),
    (_RESPONSES, "AsyncResponses", "create", _RESPONSES_TARGET, None),
    (_RESPONSES, "Responses", "parse", _RESPONSES_TARGET, fix_responses_parse),
    (_RESPONSES, "AsyncResponses", "parse", _RESPONSES_TARGET, fix_responses_parse),
    (_BETA_RESPONSES, "Responses", "create", _RESPONSES_TARGET, None),
    (_BETA_RESPONSES, "AsyncResponses", "create", _RESPONSES_TARGET, None),
    (_EMBEDDINGS, "Embeddings", "create", _EMBEDDINGS_TARGET, None),
    (_EMBEDDINGS, "AsyncEmbeddings", "create", _EMBEDDINGS_TARGET, None),
]
MANAGERS: list[tuple[str, str, str]] = [
    (_CHAT, "Completions", "stream"),
    (_CHAT, "AsyncCompletions", "stream"),
    (_RESPONSES, "Responses", "stream"),
    (_RESPONSES, "AsyncResponses", "stream"),
]


def wrappers() -> list[tuple[str, str, Any]]:
    """`(module, "Class.method", wrapper)` for every patched method the installed client has."""
    import importlib

    patches: list[tuple[str, str, Any]] = []
    for module, cls, method, (api, parse, accumulator, (read, expand)), fix in TARGETS:
        wrapper = make_wrapper(PROVIDER, api, _handler(parse, accumulator, read, expand), fix_request=fix)
        patches.append((module, f"{cls}.{method}", wrapper))
    patches += [(module, f"{cls}.{method}", _stream_manager_wrapper) for module, cls, method in MANAGERS]
    # Older and newer clients lack some of these resources or methods: patch what exists.
    present = []
    for module, path, wrapper in patches:
        try:
            owner: Any = importlib.import_module(module)
        except ImportError:
            continue
        cls, method = path.split(".")
        if method in getattr(owner, cls, object).__dict__:
            present.append((module, path, wrapper))
    return present
