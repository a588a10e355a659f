"""A local cache of provider answers: an identical deterministic request is not paid for twice.

The key is a hash of the canonical JSON of provider, model, parameters and messages. Only requests
whose answer should not vary are cached: temperature 0, or a seed set. Entries live in one SQLite
file, so runs and processes share them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from bakeoff.replay.types import Completion


def cacheable(request: dict[str, Any]) -> bool:
    """Deterministic enough to reuse: temperature 0, or a seed given."""
    return request.get("temperature") == 0 or request.get("seed") is not None


def cache_key(provider: str, model: str, request: dict[str, Any]) -> str:
    """The request's identity: provider, model and the whole body, keys sorted."""
    canonical = orjson.dumps(
        {"provider": provider, "model": model, "request": request}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


class ResponseCache:
    """`get`/`put` of completions by key, in a SQLite file."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, completion BLOB)")
        self._lock = threading.Lock()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._connection.execute("SELECT completion FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        completion = Completion(**orjson.loads(row[0]))
        completion.cached = True
        return completion

    def put(self, key: str, completion: Completion) -> None:
        if completion.error is not None:
            return  # failures are never cached
        data = orjson.dumps({**dataclasses.asdict(completion), "cached": False})
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, data))

    def close(self) -> None:
        self._connection.close()
