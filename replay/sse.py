"""A small server-sent-events reader for aiohttp responses: yields `(event, data)` pairs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


async def events(content: Any) -> AsyncIterator[tuple[str | None, str]]:
    """`(event name or None, data)` for each event of an SSE body (`aiohttp.StreamReader`)."""
    name: str | None = None
    data: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    if data:
        yield name, "\n".join(data)
