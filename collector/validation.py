"""Checks at the door that the event schema cannot express: what is acknowledged must read back.

Every reader of stored events (the API, dataset exports, replay) parses JSON with orjson, which refuses
integers outside 64 bits; an event holding one anywhere (say a 401-digit integer in `request`) is
refused here with the path of the value, rather than stored and unreadable ever after. Integers that
long are rare, so the search for one runs only over bodies whose bytes hold a run of 20 digits.
"""

from __future__ import annotations

from typing import Any

import msgspec

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson (and so every reader) takes
# Digits to "0", every other byte to " ": then a run of 20 digits is a plain substring search, some
# ten times faster than a regular expression over the same bytes.
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_RUN = b"0" * 20


def may_hold_oversized(raw: bytes) -> bool:
    """False when `raw` surely holds no integer outside 64 bits (no run of 20 digits)."""
    return _RUN in bytes(raw).translate(_DIGITS)


def oversized_integer(raw: bytes) -> str | None:
    """The path of an integer outside 64 bits in the JSON `raw`, e.g. `request.extra.0`, or None."""
    if not may_hold_oversized(raw):
        return None
    stack: list[tuple[str, Any]] = [("", msgspec.json.decode(raw))]
    while stack:  # iterative: a value nested hundreds deep must not exhaust the stack
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
            return path.lstrip(".")
    return None


def raw_id(raw: bytes) -> str | None:
    """The `id` of a refused event when it has a readable one (for the client to match the refusal)."""
    try:
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
