"""API keys: with any set, every /v1 call needs `Authorization: Bearer KEY`, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import Request

from bakeoff.collector.errors import ClientError


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries one of the collector's keys (a coroutine, so
    that FastAPI does not hop to its thread pool for it)."""
    keys: tuple[bytes, ...] = request.app.state.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ClientError(401, "missing API key: send 'Authorization: Bearer KEY'")
    presented = token.strip().encode()
    # Compare against every key, always, so the time taken says nothing about which key nearly matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key)
    if not matched:
        raise ClientError(401, "invalid API key")
