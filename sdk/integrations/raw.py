"""Recording of `with_raw_response` and `with_streaming_response` results: the application reads the
HTTP body itself.

`with_raw_response` hands back a `LegacyAPIResponse` whose body is read already: a plain answer is
recorded at once (`parse()` caches its result, so the application pays nothing for it later); a streamed
one when the application iterates the stream `.parse()` gives.

The library hands back an `APIResponse` (or `AsyncAPIResponse`) before reading the body. The proxy
records whichever way the application reads it: `.parse()` (the library's own objects, or its stream),
`.iter_lines()`, `.iter_text()` or `.iter_bytes()` (server-sent events or a JSON body, cut into lines
and decoded here as they pass, whatever the size of the pieces), or `.read()` / `.text()` / `.json()`
of a whole JSON body. The call finishes when the body has been read, when the response is
closed (leaving the `with` block), or when the proxy is garbage-collected.
"""

from __future__ import annotations

import codecs
import re
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
import wrapt

from bakeoff.integrations.common import Answer, finish_with
from bakeoff.internal_errors import internal_errors
from bakeoff.recorder import Call
from bakeoff.streams import Accumulator, AsyncRecordingStream, RecordingStream, finish_from


class Fields:
    """A decoded JSON object read like the library's models: `obj.field`, None where it is absent."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return fields_of(self._data.get(name))


def json_default(value: Any) -> Any:
    """`orjson.dumps(..., default=json_default)`: a :class:`Fields` is written as the JSON it came from."""
    if isinstance(value, Fields):
        return value._data
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def fields_of(value: Any) -> Any:
    """JSON objects (and lists of them) as :class:`Fields`; scalars unchanged."""
    if isinstance(value, dict):
        return Fields(value)
    if isinstance(value, list):
        return [fields_of(v) for v in value]
    return value


# Server-sent events end their lines with CRLF, LF or CR (str.splitlines would also cut at U+2028,
# which JSON strings may hold unescaped).
_LINE_END = re.compile(r"\r\n|\r|\n")


class LineReader:
    """Decodes the body's lines: server-sent events into chunks for an accumulator, or one JSON body."""

    def __init__(self, call: Call, parse_result: Callable[[Any], Answer], accumulator: Accumulator) -> None:
        self.call = call
        self.parse_result = parse_result
        self.accumulator = accumulator
        self.data: list[str] = []
        self.body: list[str] = []
        self.stream: Any = None  # the recording stream `parse()` gave, the same for every call
        self._partial = ""  # the unfinished last line of the pieces read so far
        self._utf8: codecs.IncrementalDecoder | None = None  # a character may span two byte pieces

    def piece(self, piece: str | bytes) -> None:
        """A piece of the body as the application read it (`iter_text()`, `iter_bytes()`): cut into lines."""
        with internal_errors("reading a streamed response"):
            if isinstance(piece, bytes):
                if self._utf8 is None:
                    self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
                piece = self._utf8.decode(piece)
            text = self._partial + piece
            held = ""
            if text.endswith("\r"):  # perhaps the first half of a CRLF
                text, held = text[:-1], "\r"
            lines = _LINE_END.split(text)
            self._partial = lines.pop() + held
            for line in lines:
                self.line(line)

    def end_pieces(self, ended: bool) -> None:
        """The application stopped reading pieces; `ended`: it read them all."""
        with internal_errors("reading a streamed response"):
            if self._utf8 is not None:
                self._partial += self._utf8.decode(b"", final=True)
            last, self._partial = self._partial.rstrip("\r"), ""
            if ended and last:
                self.line(last)
        self.end(ended)

    def line(self, line: str) -> None:
        with internal_errors("reading a streamed response"):
            if not self.call.stream:
                self.body.append(line)
            elif line.startswith("data:"):
                self.data.append(line[5:].lstrip(" "))
            elif not line:
                self._dispatch()

    def _dispatch(self) -> None:
        data, self.data = "\n".join(self.data), []
        if data and data != "[DONE]":
            chunk = fields_of(orjson.loads(data))
            if self.accumulator.add(chunk):
                self.call.first_token()

    def end(self, ended: bool) -> None:
        with internal_errors("reading a streamed response"):
            if not self.call.stream:
                if ended:
                    self.whole(orjson.loads("\n".join(self.body)))
                return
            if ended:
                self._dispatch()
        finish_from(self.call, self.accumulator, ended=ended)

    def whole(self, body: Any) -> None:
        """The application read the whole JSON body (`read()`, `text()`, `json()`)."""
        if not self.call.done and isinstance(body, dict):
            finish_with(self.call, self.parse_result(fields_of(body)))

    def read_whole(self, body: Any, encoded: bool) -> None:
        """A body the application read at once: JSON text or bytes when `encoded`, else decoded."""
        if not self.call.stream and not self.call.done:
            with internal_errors("reading a response body"):
                self.whole(orjson.loads(body) if encoded else body)

    def parsed(self, result: Any, stream_class: type) -> Any:
        """What the proxy's `parse()` returns: a streamed call's recording stream, else `result`, recorded."""
        if self.call.stream:
            if self.stream is None:
                self.stream = stream_class(result, self.call, self.accumulator)
            return self.stream
        if not self.call.done:
            with internal_errors("recording a parsed response"):
                finish_with(self.call, self.parse_result(result))
        return result


class StreamingResponse(wrapt.ObjectProxy):
    """An `APIResponse` of `with_streaming_response` whose body is recorded however it is read."""

    def __init__(self, wrapped: Any, reader: LineReader) -> None:
        super().__init__(wrapped)
        self._self_reader = reader
        weakref.finalize(self, finish_from, reader.call, reader.accumulator)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = self.__wrapped__.parse(*args, **kwargs)
        return self._self_reader.parsed(result, RecordingStream)

    def iter_lines(self) -> Iterator[str]:
        reader = self._self_reader
        ended = False
        try:
            for line in self.__wrapped__.iter_lines():
                reader.line(line)
                yield line
            ended = True
        finally:
            reader.end(ended)

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        return self._self_pieces(self.__wrapped__.iter_text(chunk_size))

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self._self_pieces(self.__wrapped__.iter_bytes(chunk_size))

    def _self_pieces(self, pieces: Iterator[Any]) -> Iterator[Any]:
        reader = self._self_reader
        ended = False
        try:
            for piece in pieces:
                reader.piece(piece)
                yield piece
            ended = True
        finally:
            reader.end_pieces(ended)

    def read(self) -> bytes:
        body: bytes = self.__wrapped__.read()
        self._self_reader.read_whole(body, encoded=True)
        return body

    def text(self) -> str:
        body: str = self.__wrapped__.text()
        self._self_reader.read_whole(body, encoded=True)
        return body

    def json(self) -> Any:
        body = self.__wrapped__.json()
        self._self_reader.read_whole(body, encoded=False)
        return body

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            finish_from(self._self_reader.call, self._self_reader.accumulator)


class AsyncStreamingResponse(wrapt.ObjectProxy):
    """An `AsyncAPIResponse` of `with_streaming_response` whose body is recorded however it is read."""

    def __init__(self, wrapped: Any, reader: LineReader) -> None:
        super().__init__(wrapped)
        self._self_reader = reader
        weakref.finalize(self, finish_from, reader.call, reader.accumulator)

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = await self.__wrapped__.parse(*args, **kwargs)
        return self._self_reader.parsed(result, AsyncRecordingStream)

    async def iter_lines(self) -> AsyncIterator[str]:
        reader = self._self_reader
        ended = False
        try:
            async for line in self.__wrapped__.iter_lines():
                reader.line(line)
                yield line
            ended = True
        finally:
            reader.end(ended)

    def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        return self._self_pieces(self.__wrapped__.iter_text(chunk_size))

    def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self._self_pieces(self.__wrapped__.iter_bytes(chunk_size))

    async def _self_pieces(self, pieces: AsyncIterator[Any]) -> AsyncIterator[Any]:
        reader = self._self_reader
        ended = False
        try:
            async for piece in pieces:
                reader.piece(piece)
                yield piece
            ended = True
        finally:
            reader.end_pieces(ended)

    async def read(self) -> bytes:
        body: bytes = await self.__wrapped__.read()
        self._self_reader.read_whole(body, encoded=True)
        return body

    async def text(self) -> str:
        body: str = await self.__wrapped__.text()
        self._self_reader.read_whole(body, encoded=True)
        return body

    async def json(self) -> Any:
        body = await self.__wrapped__.json()
        self._self_reader.read_whole(body, encoded=False)
        return body

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            finish_from(self._self_reader.call, self._self_reader.accumulator)


# The class names of what `with_raw_response` (`LegacyAPIResponse`) and `with_streaming_response` return.
RESPONSE_PROXIES = frozenset({"LegacyAPIResponse", "APIResponse", "AsyncAPIResponse"})


def streaming_response(
    call: Call, result: Any, parse_result: Callable[[Any], Answer], accumulator: Accumulator
) -> Any:
    """The recording proxy of a `with_streaming_response` result."""
    reader = LineReader(call, parse_result, accumulator)
    if type(result).__name__ == "AsyncAPIResponse":
        return AsyncStreamingResponse(result, reader)
    return StreamingResponse(result, reader)


class RawResponse(wrapt.ObjectProxy):
    """A `with_raw_response` result of a streamed call: `.parse()` gives the recorded stream."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator
        self._self_stream: Any = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        stream = self.__wrapped__.parse(*args, **kwargs)
        if self._self_stream is None:
            self._self_stream = wrap_stream(self._self_call, stream, self._self_accumulator)
        return self._self_stream


def wrap_stream(call: Call, stream: Any, accumulator: Accumulator) -> Any:
    """The recording proxy of a client's stream (sync or async)."""
    if hasattr(stream, "__anext__"):
        return AsyncRecordingStream(stream, call, accumulator)
    return RecordingStream(stream, call, accumulator)


def is_raw_response(result: Any) -> bool:
    """Whether a client method returned the `LegacyAPIResponse` of `with_raw_response`."""
    return type(result).__name__ == "LegacyAPIResponse"


def raw_response(
    call: Call, raw: Any, parse_result: Callable[[Any], Answer], make_accumulator: Callable[[], Accumulator]
) -> Any:
    """Record a `with_raw_response` result; what the application gets back."""
    if call.stream:
        return RawResponse(raw, call, make_accumulator())
    finish_with(call, parse_result(raw.parse()))
    return raw
