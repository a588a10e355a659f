"""The dataset file format both the collector and replay read (see the contract).

One JSON object per line: an event plus optional `expected` and `weight`, or a plain test case
`{"id", "input": text or messages, "expected", "tags"}`.
"""

from __future__ import annotations

from typing import Any

import orjson

from bakeoff.errors import UsageError


def parse_json_lines(data: bytes | str, source: str) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file; a bad line is a usage error naming `source` and its number."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{source}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise UsageError(f"{source}:{number}: expected a JSON object")
        rows.append(row)
    return rows


def case_messages(row: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """A test case's `input` as chat messages (text becomes one user message)."""
    prompt = row["input"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if not isinstance(messages, list):
        raise UsageError(f"{where}: 'input' must be text or a list of messages")
    return messages


def case_tags(row: dict[str, Any]) -> list[str]:
    """A test case's tags: a list, or one tag given as a string."""
    tags = row.get("tags") or []
    return [tags] if isinstance(tags, str) else list(tags)
