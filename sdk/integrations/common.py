"""What the openai and anthropic integrations share: the wrapper that records one call around a method,
and the shapes of the event's `response` and `usage`."""

from __future__ import annotations

from collections.abc import Callable
from types import CoroutineType
from typing import Any

from bakeoff.internal_errors import handle_internal_error, internal_errors
from bakeoff.recorder import Call, Recorder, snapshot_request

# Set by bakeoff.instrument while instrumentation is on; the wrappers pass calls straight through otherwise.
active_recorder: list[Recorder] = []

# handle(call, result) -> what the application gets (the result itself, or a proxy around a stream).
ResultHandler = Callable[[Call, Any], Any]
# Rewrites the recorded request of a method whose arguments differ from the body it sends (`parse`).
RequestFix = Callable[[dict[str, Any]], dict[str, Any]]
# `(response, usage, attributes)` of a finished answer.
Answer = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


_PLAIN = (str, int, float, bool, dict)  # read as they are


class Lenient:
    """An object read attribute by attribute, None for every attribute it lacks; nested objects alike.

    The answer parsers read the clients' models attribute by attribute (the cheapest read there is)
    and guard every value that may be None. An object without some attribute (a client older than the
    field, a stand-in) is read again through this proxy instead: absent attributes read as None.
    """

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __getattr__(self, name: str) -> Any:
        return lenient(getattr(self._obj, name, None))


def lenient(value: Any) -> Any:
    """`value` read leniently: scalars, None and dicts as they are, lists item by item, objects proxied."""
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, list | tuple):
        return [lenient(item) for item in value]
    return Lenient(value)


def read_answer(parse: Callable[[Any], Answer], result: Any) -> Answer:
    """`parse(result)`, or, when `result` lacks an attribute `parse` reads, `parse` of it read leniently."""
    try:
        return parse(result)
    except AttributeError:
        return parse(Lenient(result))


def response_dict(
    text: str | None,
    finish_reason: str | None,
    tool_calls: list[dict[str, Any]] | None,
    refusal: str | None = None,
    choices: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The event's `response`: `choices` only when the answer has more than one."""
    return {
        "text": text,
        "finish_reason": finish_reason,
        "tool_calls": tool_calls,
        "refusal": refusal,
        "incomplete": False,
        "choices": choices if choices is not None and len(choices) > 1 else None,
    }


def usage_dict(
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None = None,
    cache_creation_input_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> dict[str, Any]:
    """The event's `usage`."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "cache_creation_input_tokens": cache_creation_input_tokens,
        "reasoning_tokens": reasoning_tokens,
    }


def recorder() -> Recorder | None:
    """The recorder in force, or None when bakeoff is not instrumenting."""
    return active_recorder[0] if active_recorder else None


def start(
    provider: str,
    api: str,
    kwargs: dict[str, Any],
    span: bool = True,
    fix_request: RequestFix | None = None,
    client: Any = None,
) -> Call | None:
    """Start recording a call described by a client method's keyword arguments (None when not recording)."""
    if not active_recorder:
        return None
    try:
        return active_recorder[0].start(
            provider,
            api,
            snapshot_request(kwargs),
            stream=bool(kwargs.get("stream")),
            span=span,
            client=client,
            fix_request=fix_request,
        )
    except Exception:
        handle_internal_error("starting to record a call")
        return None


def make_wrapper(
    provider: str,
    api: str,
    handle: ResultHandler,
    span_for: Callable[[Any], bool] | None = None,
    fix_request: RequestFix | None = None,
) -> Callable[..., Any]:
    """A wrapt wrapper (sync or async, chosen per call) that records the wrapped client method.

    The call's span (if any) is the current span while the method runs, so the client's own HTTP
    spans nest under it.
    """

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        span = True
        if span_for is not None:
            with internal_errors("inspecting the client"):
                span = span_for(instance)
        call = start(provider, api, kwargs, span, fix_request, instance)
        if call is None:  # not recording, or recording could not start: the call goes on unrecorded
            return wrapped(*args, **kwargs)
        if call.span is None:  # nothing to make current (no TracerProvider, or the client's own span)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                call.finish(error=exc)
                raise
        else:
            token = call.activate()
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as exc:
                call.finish(error=exc)
                raise
            finally:
                call.deactivate(token)
        if type(result) is CoroutineType:  # the async clients' methods are coroutines
            return _finish_async(call, result, handle)
        try:
            return handle(call, result)
        except Exception:
            return _failed(call, result)

    return wrapper


async def _finish_async(call: Call, awaitable: Any, handle: ResultHandler) -> Any:
    token = call.activate()
    try:
        result = await awaitable
    except BaseException as exc:
        call.finish(error=exc)
        raise
    finally:
        call.deactivate(token)
    return _handled(call, result, handle)


def _handled(call: Call, result: Any, handle: ResultHandler) -> Any:
    try:
        return handle(call, result)
    except Exception:
        return _failed(call, result)


def _failed(call: Call, result: Any) -> Any:
    # Our own failure (called from an `except` block): the application still gets its result untouched.
    with internal_errors("handling a client's result"):
        raise
    call.finish()
    return result


def finish_with(call: Call, answer: Answer) -> None:
    """Finish `call` with a complete (non-streamed) answer."""
    response, usage, attributes = answer
    call.finish(response, usage, None, attributes)
