"""What the openai and anthropic integrations share: the wrapper that records one call around a method."""

from __future__ import annotations

from collections.abc import Callable
from types import CoroutineType
from typing import Any

from bakeoff.internal_errors import handle_internal_error, internal_errors
from bakeoff.recorder import Call, Recorder, clean_request

# Set by bakeoff.instrument while instrumentation is on; the wrappers pass calls straight through otherwise.
active_recorder: list[Recorder] = []

# handle(call, result) -> what the application gets (the result itself, or a proxy around a stream).
ResultHandler = Callable[[Call, Any], Any]


def recorder() -> Recorder | None:
    """The recorder in force, or None when bakeoff is not instrumenting."""
    return active_recorder[0] if active_recorder else None


def start(provider: str, api: str, kwargs: dict[str, Any], span: bool = True) -> Call | None:
    """Start recording a call described by a client method's keyword arguments (None when not recording)."""
    current = recorder()
    if current is None:
        return None
    try:
        return current.start(
            provider, api, clean_request(kwargs), stream=bool(kwargs.get("stream")), span=span
        )
    except Exception:
        handle_internal_error("starting to record a call")
        return None


def make_wrapper(
    provider: str, api: str, handle: ResultHandler, span_for: Callable[[Any], bool] | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper (sync or async, chosen per call) that records the wrapped client method."""

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        span = True
        if span_for is not None:
            with internal_errors("inspecting the client"):
                span = span_for(instance)
        call = start(provider, api, kwargs, span)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        if isinstance(result, CoroutineType):  # the async clients' methods are coroutines
            return _finish_async(call, result, handle)
        return _handled(call, result, handle)

    return wrapper


async def _finish_async(call: Call, awaitable: Any, handle: ResultHandler) -> Any:
    try:
        result = await awaitable
    except BaseException as exc:
        call.finish(error=exc)
        raise
    return _handled(call, result, handle)


def _handled(call: Call, result: Any, handle: ResultHandler) -> Any:
    try:
        return handle(call, result)
    except Exception:
        # Our own failure: the application still gets its result untouched.
        with internal_errors("handling a client's result"):
            raise
        call.finish()
        return result
