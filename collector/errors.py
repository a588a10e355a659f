"""Client mistakes become 4xx answers with a reason; they never reach the logs as server errors."""

from __future__ import annotations

import re

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


class ClientError(Exception):
    """A request the collector refuses: HTTP `status` with `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StorageUnavailable(Exception):
    """The collector cannot store anything now (disk full, storage failing): 507 or 503 with `reason`.

    Not a client error: the same request succeeds once the storage recovers, which the collector
    retries on its own; reads keep working meanwhile.
    """

    def __init__(self, reason: str, status: int = 507) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def describe(error: ValidationError | RequestValidationError, limit: int = 5) -> str:
    """`events.3.ts: must be ...; events.4.usage.input_tokens: ...` (the first few problems)."""
    parts = []
    for problem in error.errors()[:limit]:
        location = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body",))
        parts.append(f"{location or 'body'}: {problem.get('msg', 'invalid')}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


_MSGSPEC_MESSAGE = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_FIELD_IN_MESSAGE = re.compile(
    r"^Object (?P<what>missing required|contains unknown) field `(?P<field>[^`]+)`$"
)


def describe_msgspec(error: msgspec.ValidationError, prefix: str = "") -> str:
    """`events.0.usage.input_tokens: Expected `int` >= 0`: msgspec's message with a dotted field path
    (after `prefix`, the path of the value that was decoded)."""
    match = _MSGSPEC_MESSAGE.match(str(error))
    message, path = (match["message"], match["path"] or "") if match else (str(error), "")
    location = (prefix + re.sub(r"\[(\d+)\]", r".\1", path)).strip(".")
    field = _FIELD_IN_MESSAGE.match(message)
    if field:
        location = f"{location}.{field['field']}".strip(".")
        message = "missing required field" if field["what"] == "missing required" else "unknown field"
    elif message.startswith("Invalid RFC3339"):
        message = "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z"
    elif location.endswith(".id") and "matching regex" in message:
        message = "must not contain '/' nor be '.' or '..' (ids are read back by URL)"
    return f"{location or 'body'}: {message}"


def install(app: FastAPI) -> None:
    """Register the handlers that turn client mistakes into answers."""

    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError) -> JSONResponse:
        request.app.state.metrics.rejected.labels(reason=str(exc.status)).inc()
        return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.exception_handler(StorageUnavailable)
    async def storage_unavailable(request: Request, exc: StorageUnavailable) -> JSONResponse:
        request.app.state.metrics.rejected.labels(reason=str(exc.status)).inc()
        return JSONResponse({"error": exc.reason}, status_code=exc.status, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.app.state.metrics.rejected.labels(reason="422").inc()
        return JSONResponse({"error": describe(exc)}, status_code=422)
