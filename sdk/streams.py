"""Transparent proxies around the clients' streams and stream managers.

A :class:`RecordingStream` is a `wrapt.ObjectProxy`: `for`/`async for`, `with`/`async with`, `close()`
and every attribute of the library's stream keep working, while each chunk is fed to an accumulator.
The call is finished exactly once, when the stream is exhausted, closed, broken by an exception, or
garbage-collected (abandoned), whichever comes first, with whatever was received. A stream that did not
reach its end (no finish reason, no final event) is recorded as `incomplete`: its text is a prefix.

A :class:`RecordingManager` proxies the `.stream(...)` helpers' managers: the stream they open inside
`__enter__` is recorded, and leaving the `with` block finishes it even when the helper closes the HTTP
response behind the proxy's back.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import wrapt

from bakeoff.internal_errors import handle_internal_error, internal_errors
from bakeoff.recorder import Call


class Accumulator(Protocol):
    """Assembles a provider's stream chunks into the event's response and usage."""

    def add(self, chunk: Any) -> bool:
        """Take one chunk; True when it carries content (text or a tool call): time to first token."""

    def result(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """`(response, usage, attributes)` of what was received so far."""


def finish_from(
    call: Call, accumulator: Accumulator, error: BaseException | None = None, ended: bool = False
) -> None:
    """Finish `call` with what `accumulator` assembled (no-op when the call already finished).

    `ended`: the stream was read to its end. Otherwise the answer is complete only if its finish reason
    arrived (an application may stop reading after the last content chunk, before the usage chunk).
    """
    if call.done:
        return
    response: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = None
    try:
        response, usage, attributes = accumulator.result()
        if not ended and (error is not None or response.get("finish_reason") is None):
            response["incomplete"] = True
    except Exception:
        handle_internal_error("assembling a stream")
    call.finish(response, usage, error, attributes)


@dataclass
class ManagerScope:
    """What a stream manager's `__enter__` opened: the calls to finish when its `with` block ends."""

    call: Call | None = None  # started by the manager itself (anthropic's helper posts directly)
    make_accumulator: Callable[[], Accumulator] | None = None
    streams: list[tuple[Call, Accumulator]] = field(default_factory=list)


_scope: contextvars.ContextVar[ManagerScope | None] = contextvars.ContextVar(
    "bakeoff_manager_scope", default=None
)


def current_scope() -> ManagerScope | None:
    """The scope of the stream manager being entered in this context, if any."""
    return _scope.get()


def _register(call: Call, accumulator: Accumulator, proxy: object) -> None:
    scope = _scope.get()
    if scope is not None:
        scope.streams.append((call, accumulator))
    # Abandoned streams: finish when the proxy is collected. The callback holds no reference to the proxy.
    weakref.finalize(proxy, finish_from, call, accumulator)


def _record_chunk(call: Call, accumulator: Accumulator, chunk: Any) -> None:
    try:
        if accumulator.add(chunk):
            call.first_token()
    except Exception:
        handle_internal_error("reading a stream chunk")


class RecordingStream(wrapt.ObjectProxy):
    """A synchronous stream whose chunks are recorded as they pass."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        _register(call, accumulator, self)

    def __iter__(self) -> RecordingStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            finish_from(self._self_call, self._self_accumulator, ended=True)
            raise
        except BaseException as exc:
            finish_from(self._self_call, self._self_accumulator, exc)
            raise
        # Once per chunk in the application's thread: inlined, and the clock read only for the first.
        try:
            if self._self_accumulator.add(chunk) and self._self_call.ttft_ms is None:
                self._self_call.first_token()
        except Exception:
            handle_internal_error("reading a stream chunk")
        return chunk

    def __enter__(self) -> RecordingStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            finish_from(self._self_call, self._self_accumulator)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            finish_from(self._self_call, self._self_accumulator)


class AsyncRecordingStream(wrapt.ObjectProxy):
    """An asynchronous stream whose chunks are recorded as they pass."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        _register(call, accumulator, self)

    def __aiter__(self) -> AsyncRecordingStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            finish_from(self._self_call, self._self_accumulator, ended=True)
            raise
        except BaseException as exc:
            finish_from(self._self_call, self._self_accumulator, exc)
            raise
        _record_chunk(self._self_call, self._self_accumulator, chunk)
        return chunk

    async def __aenter__(self) -> AsyncRecordingStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            finish_from(self._self_call, self._self_accumulator)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            finish_from(self._self_call, self._self_accumulator)


class RecordingManager(wrapt.ObjectProxy):
    """A `.stream(...)` helper's manager (sync or async) whose stream is recorded."""

    def __init__(
        self,
        wrapped: Any,
        start_call: Callable[[], Call] | None = None,
        make_accumulator: Callable[[], Accumulator] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._self_start_call = start_call
        self._self_make_accumulator = make_accumulator
        self._self_scope: ManagerScope | None = None

    def _self_open(self) -> contextvars.Token[ManagerScope | None]:
        scope = ManagerScope(make_accumulator=self._self_make_accumulator)
        if self._self_start_call is not None:
            with internal_errors("starting a stream"):
                scope.call = self._self_start_call()
        self._self_scope = scope
        return _scope.set(scope)

    def _self_failed(self, exc: BaseException) -> None:
        scope = self._self_scope
        if scope is not None and scope.call is not None and not scope.streams:
            scope.call.finish(error=exc)

    def _self_close(self) -> None:
        scope = self._self_scope
        if scope is None:
            return
        for call, accumulator in scope.streams:
            finish_from(call, accumulator)
        if scope.call is not None and not scope.call.done:
            scope.call.finish()

    def __enter__(self) -> Any:
        token = self._self_open()
        try:
            return self.__wrapped__.__enter__()
        except BaseException as exc:
            self._self_failed(exc)
            raise
        finally:
            _scope.reset(token)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_close()

    async def __aenter__(self) -> Any:
        token = self._self_open()
        try:
            return await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._self_failed(exc)
            raise
        finally:
            _scope.reset(token)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_close()
