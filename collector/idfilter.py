"""A Bloom filter of the stored event ids: most batches are new events and need no look-up at all.

Idempotency needs "is this id stored already?" for every incoming event; asking DuckDB means scanning
the whole id column on every commit, a cost that grows with the table. The filter answers "surely not"
for almost every new id, so only the few possible repeats (real retries, and false positives at the
filter's rate) are looked up exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np

_HASHES = 7  # optimal for ~1% false positives at 10 bits per id; we size for 0.1%


class IdFilter:
    """Bloom filter over strings, grown (rebuilt) by its owner when `full`."""

    def __init__(self, capacity: int, false_positive_rate: float = 0.001) -> None:
        self.capacity = max(capacity, 1024)
        self.bits = max(64, int(-self.capacity * math.log(false_positive_rate) / math.log(2) ** 2))
        self._array = np.zeros((self.bits + 63) // 64, dtype=np.uint64)
        self.count = 0

    @property
    def full(self) -> bool:
        return self.count >= self.capacity

    def _positions(self, ids: list[str]) -> np.ndarray:
        digests = b"".join(hashlib.blake2b(i.encode(), digest_size=16).digest() for i in ids)
        pairs = np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2)
        steps = np.arange(_HASHES, dtype=np.uint64)
        # Double hashing: position_k = h1 + k * h2 (mod m), computed in wrapping uint64 arithmetic.
        with np.errstate(over="ignore"):
            positions = pairs[:, :1] + steps * pairs[:, 1:]
        return positions % np.uint64(self.bits)

    def add(self, ids: Iterable[str]) -> None:
        batch = list(ids)
        if not batch:
            return
        positions = self._positions(batch).ravel()
        np.bitwise_or.at(self._array, positions >> np.uint64(6), np.uint64(1) << (positions & np.uint64(63)))
        self.count += len(batch)

    def might_contain(self, ids: list[str]) -> np.ndarray:
        """For each id: False when surely absent, True when possibly present."""
        if not ids:
            return np.zeros(0, dtype=bool)
        positions = self._positions(ids)
        words = self._array[positions >> np.uint64(6)]
        hits = (words >> (positions & np.uint64(63))) & np.uint64(1)
        return np.asarray(hits.all(axis=1), dtype=bool)
