"""The ingest journal: acknowledged events that DuckDB has not committed yet, fsynced to disk.

A DuckDB insert costs ~3 ms however few rows it holds, so acknowledging each request only after its own
commit would tie every client to that cost. Instead a request is acknowledged once its rows are in the
journal (one write and one fsync per group of requests) and DuckDB takes them in large batches behind.

Layout: a folder of segments `<n>.seg`, numbered in order. A segment is a sequence of records, each a
12-byte header (payload length, CRC-32 of the payload, magic) followed by the payload: an Arrow IPC
stream of the rows. The writer appends to the newest segment; the applier seals it (starts a new one),
commits every row of the sealed segments to DuckDB and then deletes them. On start, whatever segments
remain hold rows that were acknowledged and perhaps not committed: they are replayed (idempotently).
A record cut short by a crash was never acknowledged (its fsync had not returned) and is dropped.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

logger = logging.getLogger("bakeoff.collector")

_HEADER = struct.Struct("<III")  # payload length, CRC-32, magic
_MAGIC = 0xBA4E0FF1


def encode_record(table: pa.Table) -> bytes:
    """One framed record holding `table` as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    return _HEADER.pack(len(payload), zlib.crc32(payload), _MAGIC) + payload


def decode_records(data: bytes, name: str = "segment") -> Iterator[pa.Table]:
    """The tables of a segment's bytes, stopping (with a warning) at a torn or corrupt record."""
    offset = 0
    while offset < len(data):
        header = data[offset : offset + _HEADER.size]
        if len(header) < _HEADER.size:
            logger.warning("journal %s: %d stray bytes at its end dropped", name, len(header))
            return
        length, crc, magic = _HEADER.unpack(header)
        payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if magic != _MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
            logger.warning("journal %s: record at byte %d is torn or corrupt; dropped", name, offset)
            return
        yield pa.ipc.open_stream(payload).read_all()
        offset += _HEADER.size + length


class Journal:
    """The segments of one database's journal (`<db>.journal/`); one writer and one applier use it."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        numbers = self.segments()
        self._current = (numbers[-1] if numbers else 0) + 1
        self._file = self._open(self._current)

    @property
    def current(self) -> int:
        """The number of the segment appends go to."""
        return self._current

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:012d}.seg"

    def _open(self, number: int) -> int:
        fd = os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sync_folder()  # the new file's name must be durable before anything in it is acknowledged
        return fd

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def segments(self) -> list[int]:
        """The numbers of the segments on disk, oldest first."""
        return sorted(int(p.stem) for p in self.folder.glob("*.seg") if p.stem.isdigit())

    def append(self, record: bytes) -> None:
        """Write a framed record to the current segment and fsync: durable when this returns."""
        written = 0
        while written < len(record):
            written += os.write(self._file, memoryview(record)[written:])
        os.fdatasync(self._file)

    def seal(self) -> int:
        """Start a new segment for later appends; return the number of the one sealed."""
        sealed = self._current
        os.close(self._file)
        self._current += 1
        self._file = self._open(self._current)
        return sealed

    def discard_through(self, number: int) -> None:
        """Delete the sealed segments up to `number`: their rows are committed to DuckDB."""
        for segment in self.segments():
            if segment <= number and segment != self._current:
                self._path(segment).unlink(missing_ok=True)

    def replay(self) -> Iterator[pa.Table]:
        """The tables of every segment written before this journal was opened, oldest first."""
        for number in self.segments():
            if number < self._current:
                path = self._path(number)
                yield from decode_records(path.read_bytes(), path.name)

    def close(self) -> None:
        """Close the current segment; an empty journal leaves nothing behind."""
        os.close(self._file)
        if self._path(self._current).stat().st_size == 0:
            self._path(self._current).unlink(missing_ok=True)
        if not any(self.folder.iterdir()):
            self.folder.rmdir()
