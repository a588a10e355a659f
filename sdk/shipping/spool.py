"""A bounded folder of batches that could not be delivered yet, sent again oldest first.

Each batch is one gzip file of encoded items, one per line, written atomically (temporary name, then
rename); its name starts with the time it was written, so sorting names is sending oldest first. A file
is claimed for sending by renaming it, so processes sharing a spool never send the same file at once.
When the folder grows past its byte limit, the oldest files are deleted and the items in them counted
as dropped; the folder outlives the process, so the next one delivers what this one could not.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import time
import zlib
from pathlib import Path

import orjson

from bakeoff.shipping.counters import Counters

_SUFFIX = ".json.gz"
_CLAIMED = ".sending"
_STALE_CLAIM_S = 120.0  # a claim this old belongs to a process that died while sending


class Spool:
    """Batches waiting on disk: `{kind}` is "events" or "feedback" (the endpoint they go to)."""

    def __init__(self, directory: str, max_bytes: int, counters: Counters) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._counters = counters  # items lost here count as `spool_dropped`
        self._seq = itertools.count()
        # Bytes on disk as last listed plus what this process wrote since: the folder is listed again
        # only when this passes the limit (listing on every write made a long outage quadratic).
        self._bytes: int | None = None

    def _ensure(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return True
        except OSError:
            return False

    def put(self, kind: str, items: list[bytes]) -> bool:
        """Store one batch of encoded items; False when the disk refused it (the batch is then lost)."""
        count = len(items)
        if not count:
            return True
        gzipped = gzip.compress(b"\n".join(items), compresslevel=1)
        if len(gzipped) > self.max_bytes or not self._ensure():
            self._counters.lose("spool_dropped", count, f"spool {self.directory} unavailable or too small")
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq)}-{kind}-{count}{_SUFFIX}"
        temporary = self.directory / f".{name}.tmp"
        try:
            temporary.write_bytes(gzipped)
            os.replace(temporary, self.directory / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            self._counters.lose("spool_dropped", count, f"spool {self.directory} not writable: {exc}")
            return False
        self._bytes = None if self._bytes is None else self._bytes + len(gzipped)
        if self._bytes is None or self._bytes > self.max_bytes:
            self._enforce_limit()
        return True

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except OSError:
            return []

    def _enforce_limit(self) -> None:
        files = self._files()
        sizes = {}
        for path in files:
            try:
                sizes[path] = path.stat().st_size
            except OSError:
                sizes[path] = 0
        total = sum(sizes.values())
        dropped = 0
        for path in files:  # oldest first
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= sizes[path]
            dropped += _count_of(path.name)
        self._bytes = total
        self._counters.lose(
            "spool_dropped",
            dropped,
            f"spool {self.directory} is full ({self.max_bytes} bytes): the oldest dropped",
        )

    def pending(self) -> int:
        """How many batch files wait to be sent."""
        return len(self._files())

    def pending_items(self) -> int:
        """How many items wait in the spool (as their file names say)."""
        return sum(_count_of(p.name) for p in self._files())

    def claim_oldest(self) -> tuple[Path, str, list[bytes]] | None:
        """Take the oldest batch: `(claimed path, kind, items)`, or None when the spool is empty.

        A file that cannot be read back (damaged on disk) is deleted and its items counted as dropped.
        """
        self._release_stale_claims()
        for path in self._files():
            claimed = path.with_name(path.name + f"{_CLAIMED}-{os.getpid()}")
            try:
                os.replace(path, claimed)
                body = claimed.read_bytes()
            except OSError:
                continue  # another process claimed it first
            kind = path.name.split("-")[3]
            try:
                return claimed, kind, _items(kind, gzip.decompress(body))
            except (OSError, EOFError, zlib.error, orjson.JSONDecodeError, KeyError, TypeError):
                self._counters.lose("spool_dropped", _count_of(path.name), f"spool file {path.name} damaged")
                self.done(claimed)
        return None

    def done(self, claimed: Path) -> None:
        """The claimed batch was delivered (or refused for good): delete it."""
        with contextlib.suppress(OSError):
            claimed.unlink()

    def release(self, claimed: Path, remaining: list[bytes] | None = None) -> None:
        """The claimed batch could not be sent (or only partly: `remaining` is what is left of it).

        It goes back under its own time, so it is still the oldest.
        """
        original = claimed.with_name(claimed.name.split(_CLAIMED)[0])
        with contextlib.suppress(OSError):
            if remaining is None or len(remaining) == _count_of(original.name):
                os.replace(claimed, original)
                return
            rest = original.with_name(f"{original.name.rsplit('-', 1)[0]}-{len(remaining)}{_SUFFIX}")
            temporary = rest.with_name(f".{rest.name}.tmp")
            temporary.write_bytes(gzip.compress(b"\n".join(remaining), compresslevel=1))
            os.replace(temporary, rest)
            claimed.unlink()

    def _release_stale_claims(self) -> None:
        try:
            candidates = [p for p in self.directory.iterdir() if _CLAIMED in p.name]
        except OSError:
            return
        now = time.time()
        for path in candidates:
            try:
                if now - path.stat().st_mtime > _STALE_CLAIM_S:
                    self.release(path)
            except OSError:
                continue


def _items(kind: str, data: bytes) -> list[bytes]:
    """The encoded items of a spool file; a file of the earlier form (one request body) is split up."""
    if data.startswith(b'{"' + kind.encode() + b'":['):
        return [orjson.dumps(item) for item in orjson.loads(data)[kind]]
    return data.split(b"\n") if data else []


def _count_of(name: str) -> int:
    try:
        return int(name.split("-")[4].split(".")[0])
    except (IndexError, ValueError):
        return 0
