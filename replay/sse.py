"""A small server-sent-events reader for aiohttp responses: yields `(event, data)` pairs.

It reads whatever bytes have arrived and splits them into events itself: iterating the response line
by line costs one coroutine step per line, several times the CPU of a streamed answer's parsing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


def _parse(block: bytes) -> tuple[str | None, str] | None:
    name: str | None = None
    data: list[str] = []
    for line in block.decode("utf-8").split("\n"):
        if line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    return (name, "\n".join(data)) if data else None


async def events(content: Any) -> AsyncIterator[tuple[str | None, str]]:
    """`(event name or None, data)` for each event of an SSE body (`aiohttp.StreamReader`)."""
    buffer = b""
    async for chunk in content.iter_any():
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")  # a lone trailing \r waits for its \n
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            parsed = _parse(block)
            if parsed is not None:
                yield parsed
    if buffer.strip():
        parsed = _parse(buffer)
        if parsed is not None:
            yield parsed
