"""A bounded folder of batches that could not be delivered yet, sent again oldest first.

Each batch is one gzip file, written atomically (temporary name, then rename). A file is claimed for
sending by renaming it, so processes sharing a spool never send the same file at once. When the folder
grows past its byte limit, the oldest files are deleted and the events in them counted as dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path

from bakeoff.internal_errors import logger

_SUFFIX = ".json.gz"
_CLAIMED = ".sending"
_STALE_CLAIM_S = 120.0  # a claim this old belongs to a process that died while sending
_DROP_LOG_INTERVAL_S = 60.0


class Spool:
    """Batches waiting on disk: `{kind}` is "events" or "feedback" (the endpoint they go to)."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.dropped_events = 0
        self._seq = itertools.count()
        self._last_drop_log = -_DROP_LOG_INTERVAL_S

    def _ensure(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            return True
        except OSError:
            return False

    def put(self, kind: str, count: int, gzipped: bytes) -> bool:
        """Store one batch of `count` items; False when the disk refused it (the batch is then lost)."""
        if len(gzipped) > self.max_bytes or not self._ensure():
            self.dropped_events += count
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq)}-{kind}-{count}{_SUFFIX}"
        temporary = self.directory / f".{name}.tmp"
        try:
            temporary.write_bytes(gzipped)
            os.replace(temporary, self.directory / name)
        except OSError:
            self.dropped_events += count
            return False
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
        if dropped:
            self.dropped_events += dropped
            self._log_drop(dropped)

    def _log_drop(self, dropped: int) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:  # at most one line a minute
            self._last_drop_log = now
            logger.warning(
                "bakeoff: spool %s is full (%d bytes); dropped the oldest %d events (%d dropped in all)",
                self.directory,
                self.max_bytes,
                dropped,
                self.dropped_events,
            )

    def pending(self) -> int:
        """How many batch files wait to be sent."""
        return len(self._files())

    def claim_oldest(self) -> tuple[Path, str, int, bytes] | None:
        """Take the oldest batch: `(claimed path, kind, count, body)`, or None when the spool is empty."""
        self._release_stale_claims()
        for path in self._files():
            claimed = path.with_name(path.name + f"{_CLAIMED}-{os.getpid()}")
            try:
                os.replace(path, claimed)
                body = claimed.read_bytes()
            except OSError:
                continue  # another process claimed it first
            kind = path.name.split("-")[3]
            return claimed, kind, _count_of(path.name), body
        return None

    def done(self, claimed: Path) -> None:
        """The claimed batch was delivered (or refused for good): delete it."""
        with contextlib.suppress(OSError):
            claimed.unlink()

    def release(self, claimed: Path) -> None:
        """The claimed batch could not be sent: put it back for a later try."""
        original = claimed.name.split(_CLAIMED)[0]
        with contextlib.suppress(OSError):
            os.replace(claimed, claimed.with_name(original))

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


def _count_of(name: str) -> int:
    try:
        return int(name.split("-")[4].split(".")[0])
    except (IndexError, ValueError):
        return 0
