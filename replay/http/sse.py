"""A small server-sent-events reader for response bodies: yields `(event, data)` pairs.

It reads whatever bytes have arrived and splits them into events itself: iterating the response line
by line costs one coroutine step per line. Once the caller has what it needed early (the first token,
for time to first token) it calls :meth:`EventReader.drain`: from then on the reader sleeps until the
body has ended and parses the rest in one go, instead of waking once per network chunk — a provider
streams one chunk per token, and each wake-up costs more than parsing the chunk.
"""

from __future__ import annotations

from collections import deque

from bakeoff.replay.http.client import Body


def _parse(block: bytes) -> tuple[str | None, str] | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the usual shape: one data line
        return None, block[6:].decode("utf-8")
    name: str | None = None
    data: list[str] = []
    for line in block.decode("utf-8").split("\n"):
        if line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    return (name, "\n".join(data)) if data else None


class EventReader:
    """`async for name, data in EventReader(response.content)`."""

    def __init__(self, content: Body) -> None:
        self.content = content
        self._buffer = b""
        self._ready: deque[tuple[str | None, str]] = deque()
        self._draining = False
        self._done = False
        self.count = 0  # events yielded so far
        self.head = b""  # the body's first bytes, to say what came instead of events

    def drain(self) -> None:
        """Read the rest of the body in one go from now on (the timing that mattered is taken)."""
        self._draining = True

    def _feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        if b"\r" in self._buffer:
            self._buffer = self._buffer.replace(b"\r\n", b"\n")  # a lone trailing \r waits for its \n
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        for block in blocks:
            parsed = _parse(block)
            if parsed is not None:
                self._ready.append(parsed)

    def __aiter__(self) -> EventReader:
        return self

    async def __anext__(self) -> tuple[str | None, str]:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            # Body.read wakes once, at the end of the body, rather than per chunk
            chunk = await (self.content.read() if self._draining else self.content.readany())
            if chunk:
                if len(self.head) < 60:
                    self.head = (self.head + chunk)[:60]
                self._feed(chunk)
            if not chunk or self._draining:
                self._done = True
                if self._buffer.strip():
                    self._feed(b"\n\n")
        self.count += 1
        return self._ready.popleft()


def events(content: Body) -> EventReader:
    """`(event name or None, data)` for each event of an SSE body."""
    return EventReader(content)
