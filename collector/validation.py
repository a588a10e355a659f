"""Checks at the door that the event schema cannot express: what is acknowledged must read back.

Every reader of stored events (the API, dataset exports, replay) parses JSON with orjson, which refuses
integers outside 64 bits; an event holding one anywhere (say a 401-digit integer in `request`) is
refused here with the path of the value, rather than stored and unreadable ever after. Integers that
long are rare, so the search for one runs only over events whose bytes hold a run of 20 digits.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson (and so every reader) takes
_LONG_DIGITS = re.compile(rb"\d{20}")


def oversized_integer(raw: bytes) -> str | None:
    """The path of an integer outside 64 bits in the JSON `raw`, e.g. `request.extra.0`, or None."""
    if not _LONG_DIGITS.search(raw):
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
