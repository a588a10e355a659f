"""One batch to the collector, item by item in effect: what it takes is kept, what it refuses counted alone.

- 2xx: delivered; a partial success (`{"accepted", "duplicates", "rejected": [{"index", "id", "reason"}]}`)
  counts each refused item under its reason and re-sends none of them.
- 413 (too large): the batch is halved and each half sent again; a single item refused so is too large.
- 400/422 with per-item reasons: those items are refused, the rest sent again; without reasons (a
  collector that refuses whole batches) the batch is halved until the bad items stand alone.
- No answer, 408, 429, 5xx (507: the collector's disk is full), 401/403/404 (a key or URL to fix):
  retryable; the items are handed back, oldest first, to be spooled and sent again after a backoff.
- Any other status refuses the batch as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from bakeoff.shipping.counters import Counters
from bakeoff.shipping.encoding import batch_body
from bakeoff.shipping.transport import Reply, Transport

ENDPOINTS = {"events": "/v1/events", "feedback": "/v1/feedback"}
_RETRYABLE_4XX = frozenset({401, 403, 404, 408, 429})
_INVALID = frozenset({400, 422})


@dataclass
class Result:
    """What is left of a batch after sending it: items to try again later, and the collector's hint."""

    retry: list[bytes] = field(default_factory=list)
    retry_after_s: float | None = None


def _reply_json(reply: Reply) -> dict[str, Any]:
    try:
        parsed = orjson.loads(reply.body) if reply.body else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _refused(answer: dict[str, Any], size: int) -> dict[int, str]:
    """Index -> reason of the items a partial answer lists as refused (indexes out of range ignored)."""
    listed = answer.get("rejected")
    refused: dict[int, str] = {}
    if not isinstance(listed, list):
        return refused
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int) and 0 <= entry["index"] < size:
            refused[entry["index"]] = str(entry.get("reason") or "refused")
    return refused


def _count(answer: dict[str, Any], key: str) -> int | None:
    value = answer.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class Delivery:
    """Sends batches of encoded items over one :class:`Transport`, counting every outcome."""

    def __init__(self, transport: Transport, counters: Counters) -> None:
        self.transport = transport
        self.counters = counters

    def send(self, kind: str, items: list[bytes]) -> Result:
        """Deliver `items` (each one encoded item); what could not be delivered now is in the result."""
        result = Result()
        pending = [items]  # a stack of slices, the oldest on top
        while pending:
            chunk = pending.pop()
            reply = self.transport.post(ENDPOINTS[kind], batch_body(kind, chunk, self.transport.compress))
            status = reply.status
            if 200 <= status < 300:
                self._delivered(chunk, _reply_json(reply))
            elif status == 413 or (status in _INVALID and not _refused(_reply_json(reply), len(chunk))):
                self._split(chunk, status, reply, pending)
            elif status in _INVALID:
                answer = _reply_json(reply)
                refused = _refused(answer, len(chunk))
                self._lose_refused(refused)
                rest = [item for i, item in enumerate(chunk) if i not in refused]
                if rest:
                    pending.append(rest)
            elif status == 0 or status in _RETRYABLE_4XX or status >= 500:
                self.counters.add("retries")
                result.retry = [item for part in [chunk, *reversed(pending)] for item in part]
                result.retry_after_s = reply.retry_after_s
                return result
            else:
                self.counters.lose("rejected", len(chunk), self.transport.last_error or f"HTTP {status}")
        return result

    def _split(self, chunk: list[bytes], status: int, reply: Reply, pending: list[list[bytes]]) -> None:
        if len(chunk) > 1:
            self.counters.add("splits")
            middle = len(chunk) // 2
            pending += [chunk[middle:], chunk[:middle]]  # the older half is sent first
        elif status == 413:
            self.counters.lose("dropped_too_large", 1, f"{len(chunk[0])} bytes: over the collector's limit")
        else:
            reason = _reply_json(reply).get("error") or self.transport.last_error or f"HTTP {status}"
            self.counters.lose("rejected", 1, str(reason))

    def _delivered(self, chunk: list[bytes], answer: dict[str, Any]) -> None:
        refused = _refused(answer, len(chunk))
        duplicates = _count(answer, "duplicates") or 0
        accepted = _count(answer, "accepted")
        taken = len(chunk) - len(refused)
        if accepted is None or accepted + duplicates > taken:  # a bare 2xx, or counts we cannot trust
            accepted, duplicates = taken - min(duplicates, taken), min(duplicates, taken)
        self.counters.add("sent", taken)
        self.counters.add("accepted", accepted)
        self.counters.add("duplicates", duplicates)
        self._lose_refused(refused)

    def _lose_refused(self, refused: dict[int, str]) -> None:
        by_reason: dict[str, int] = {}
        for reason in refused.values():
            by_reason[reason] = by_reason.get(reason, 0) + 1
        for reason, count in by_reason.items():
            self.counters.lose("rejected", count, reason)
