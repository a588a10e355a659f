"""Reading request bodies safely: size limits before and after gzip, and JSON with pydantic or msgspec."""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

import msgspec
from fastapi import Request
from pydantic import BaseModel, ValidationError

from bakeoff.collector.errors import ClientError, describe, describe_msgspec

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when `Content-Encoding: gzip`; 413 past `limit` bytes either way."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ClientError(413, f"body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientError(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        return _gunzip(body, limit)
    if encoding not in ("identity", ""):
        raise ClientError(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ClientError(400, f"body is not valid gzip: {exc}") from exc
    if len(data) > limit or decompressor.unconsumed_tail:
        raise ClientError(413, f"decompressed body is over the limit of {limit} bytes")
    if not decompressor.eof:
        raise ClientError(400, "gzip body is truncated")
    return data


def _require_content(body: bytes) -> None:
    if not body.strip():
        raise ClientError(400, "empty body: expected a JSON object")


def decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    """Decode a JSON body with a typed msgspec decoder; 400 for malformed JSON, 422 naming the field."""
    _require_content(body)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ClientError(422, describe_msgspec(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ClientError(400, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise ClientError(400, "JSON nested too deeply") from exc


def parse(model: type[M], body: bytes) -> M:
    """Validate a JSON body against `model`; 400 for malformed JSON, 422 naming the fields otherwise."""
    _require_content(body)
    try:
        return model.model_validate_json(body)
    except RecursionError as exc:
        raise ClientError(400, "JSON nested too deeply") from exc
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            raise ClientError(400, f"malformed JSON: {exc.errors()[0].get('msg')}") from exc
        raise ClientError(422, describe(exc)) from exc
