"""The ingest journal: acknowledged events that DuckDB has not committed yet, fsynced to disk.

A DuckDB insert costs ~3 ms however few rows it holds, so acknowledging each request only after its own
commit would tie every client to that cost. Instead a request is acknowledged once its rows are in the
journal (one write and one fsync per group of requests) and DuckDB takes them in large batches behind.

Layout: a folder of segments `<n>.seg`, numbered in order. A segment is a sequence of records, each a
12-byte header (payload length, CRC-32 of the payload, magic) followed by the payload: an Arrow IPC
stream of the rows. The writer appends to the newest segment; the applier seals it (starts a new one),
commits every row of the sealed segments to DuckDB and then deletes them. On start, whatever segments
remain hold rows that were acknowledged and perhaps not committed: they are replayed (idempotently).
A record cut short by a crash was never acknowledged (its fsync had not returned). A damaged record
(a bad disk, a stray write) costs only itself: decoding resumes at the next header whose magic and CRC
hold, the segment is kept in `quarantine/` rather than deleted, and the damage is logged and counted.

On DuckLake, every replica has a journal of its own (`bakeoff serve --journal DIR`), and the journal
folder keeps the replica's identity: a `replica` file with a stable id (the owner of the event ids it
claims, see :mod:`bakeoff.collector.ducklake`), locked while a collector runs on it, so that two
processes never share one journal or one identity.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

logger = logging.getLogger("bakeoff.collector")

_HEADER = struct.Struct("<III")  # payload length, CRC-32, magic
_MAGIC = 0xBA4E0FF1
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_MAGIC_AT = 8  # the magic's offset inside the header


def encode_record(table: pa.Table) -> bytes:
    """One framed record holding `table` as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    return _HEADER.pack(len(payload), zlib.crc32(payload), _MAGIC) + payload


@dataclass
class Scan:
    """What a segment's bytes hold: the intact tables, the damaged byte ranges, a torn last record."""

    tables: list[pa.Table] = field(default_factory=list)
    damaged: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of bytes skipped
    torn_tail: bool = False  # the last record is cut short: a crash during its write, never acknowledged

    @property
    def corrupt(self) -> list[tuple[int, int]]:
        """The damaged ranges but a torn last record: bytes that were (or may have been) acknowledged."""
        return self.damaged[:-1] if self.torn_tail else self.damaged


def _record_at(data: bytes, offset: int) -> tuple[pa.Table | None, int, bool]:
    """(table, record length, torn) of a record starting at `offset`; table None when not intact."""
    if len(data) - offset < _HEADER.size:
        return None, 0, True
    length, crc, magic = _HEADER.unpack_from(data, offset)
    if magic != _MAGIC:
        return None, 0, False
    end = offset + _HEADER.size + length
    if end > len(data):
        return None, 0, True
    payload = data[offset + _HEADER.size : end]
    if zlib.crc32(payload) != crc:
        return None, 0, False
    try:
        return pa.ipc.open_stream(payload).read_all(), _HEADER.size + length, False
    except pa.ArrowInvalid:  # a CRC collision over garbage, or a payload written wrong
        return None, 0, False


def scan_records(data: bytes) -> Scan:
    """Every intact record of a segment: past a damaged one, decoding resumes at the next header whose
    magic and CRC hold, so one bad record costs only itself."""
    scan = Scan()
    offset = 0
    while offset < len(data):
        table, size, torn = _record_at(data, offset)
        if table is not None:
            scan.tables.append(table)
            offset += size
            continue
        following = _next_record(data, offset + 1)
        if following is None and torn:
            scan.torn_tail = True  # the write a crash cut short: it was never acknowledged
        scan.damaged.append((offset, len(data) if following is None else following))
        if following is None:
            break
        offset = following
    return scan


def _next_record(data: bytes, start: int) -> int | None:
    """The offset of the next intact record at or after `start`, or None."""
    position = data.find(_MAGIC_BYTES, start + _MAGIC_AT)
    while position != -1:
        candidate = position - _MAGIC_AT
        if candidate >= start and _record_at(data, candidate)[0] is not None:
            return candidate
        position = data.find(_MAGIC_BYTES, position + 1)
    return None


def _log_damage(scan: Scan, name: str) -> None:
    if scan.torn_tail and len(scan.damaged) == 1:
        start, end = scan.damaged[0]
        logger.warning(
            "journal %s: record at byte %d is torn (%d bytes, never acknowledged)", name, start, end - start
        )
        return
    for start, end in scan.damaged:
        logger.warning(
            "journal %s: bytes %d-%d are corrupt; skipped to the next intact record", name, start, end
        )


class Journal:
    """The segments of one database's journal (`<db>.journal/`); one writer and one applier use it.

    A segment found damaged on replay is moved to `quarantine/` once its intact records are committed,
    never deleted; `corrupt_ranges` and `corrupt_bytes` count what could not be read.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        numbers = self.segments()
        self._current = (numbers[-1] if numbers else 0) + 1
        self._file = self._open(self._current)
        self._size = 0  # of the current segment: a failed append is cut back to it
        self._damaged: set[int] = set()  # segments to quarantine rather than delete
        self.corrupt_ranges = 0
        self.corrupt_bytes = 0
        self.failed_size = 0  # of the last append that failed

    @property
    def current(self) -> int:
        """The number of the segment appends go to."""
        return self._current

    @property
    def quarantine(self) -> Path:
        """Where damaged segments are kept."""
        return self.folder / "quarantine"

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:012d}.seg"

    def _open(self, number: int) -> int:
        fd = os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._sync_folder()  # the new file's name must be durable before anything in it is acknowledged
        except OSError:
            os.close(fd)
            raise
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
        """Write a framed record to the current segment and fsync: durable when this returns.

        When the write or the fsync fails (a full disk) the segment is cut back to where it was, so no
        half record sits in front of later ones, and the error is raised: nothing was acknowledged.
        """
        written = 0
        try:
            while written < len(record):
                written += os.write(self._file, memoryview(record)[written:])
            os.fdatasync(self._file)
        except OSError:
            self.failed_size = len(record)
            try:
                os.ftruncate(self._file, self._size)
            except OSError:
                logger.warning("journal: a failed append could not be cut back; replay will skip it")
            raise
        self._size += len(record)

    def probe(self) -> None:
        """Write and fsync as many bytes as the last failed append beside the segments, then delete
        them: raises while that append would still fail (the disk is full)."""
        path = self.folder / "probe"
        size = max(64 * 1024, self.failed_size)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * size)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)

    def seal(self) -> int:
        """Start a new segment for later appends; return the number of the one sealed."""
        sealed = self._current
        new = self._open(sealed + 1)  # first, so that a failure leaves the current segment usable
        os.close(self._file)
        self._current, self._file, self._size = sealed + 1, new, 0
        return sealed

    def discard_through(self, number: int) -> None:
        """Forget the sealed segments up to `number` (their rows are committed): damaged ones are moved
        to the quarantine, the others deleted."""
        for segment in self.segments():
            if segment <= number and segment != self._current:
                if segment in self._damaged:
                    self.quarantine.mkdir(exist_ok=True)
                    shutil.move(self._path(segment), self.quarantine / self._path(segment).name)
                    self._damaged.discard(segment)
                else:
                    self._path(segment).unlink(missing_ok=True)

    def replay(self) -> Iterator[pa.Table]:
        """The intact tables of every segment written before this journal was opened, oldest first."""
        for number in self.segments():
            if number < self._current:
                path = self._path(number)
                scan = scan_records(path.read_bytes())
                _log_damage(scan, path.name)
                if scan.damaged:
                    self._damaged.add(number)
                    self.corrupt_ranges += len(scan.corrupt)
                    self.corrupt_bytes += sum(end - start for start, end in scan.corrupt)
                yield from scan.tables

    def close(self) -> None:
        """Close the current segment; an empty journal leaves nothing behind."""
        os.close(self._file)
        if self._path(self._current).stat().st_size == 0:
            self._path(self._current).unlink(missing_ok=True)
        if not any(self.folder.iterdir()):
            self.folder.rmdir()


class JournalInUse(OSError):
    """Another process holds this journal (and the replica identity it keeps)."""


@dataclass
class ReplicaIdentity:
    """The stable id of the replica whose journal is `folder`, locked for this process until `release()`."""

    folder: Path
    replica_id: str
    _fd: int

    def release(self) -> None:
        """Unlock the identity (the process is stopping)."""
        os.close(self._fd)


def hold_replica(folder: str | os.PathLike[str]) -> ReplicaIdentity:
    """The identity kept in journal `folder` (made on first use), locked: raises :class:`JournalInUse`
    when another process holds it."""
    path = Path(folder) / "replica"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalInUse(f"journal {folder} is in use by another collector") from None
    replica_id = os.read(fd, 100).decode().strip()
    if not replica_id:
        replica_id = uuid.uuid4().hex
        os.write(fd, replica_id.encode() + b"\n")
        os.fsync(fd)  # the id must outlive a crash: claims made under it are found again by it
    return ReplicaIdentity(Path(folder), replica_id, fd)
