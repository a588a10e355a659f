"""`POST /v1/traces`: OTLP/HTTP in protobuf or JSON; spans of LLM calls are stored as events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bakeoff.collector.bodies import read_body
from bakeoff.collector.deps import IngestDep, MetricsDep, SettingsDep
from bakeoff.collector.errors import ClientError, describe_msgspec
from bakeoff.collector.otlp import decode_json, decode_protobuf, events_from_request
from bakeoff.schema import EventValidationError

router = APIRouter()


@router.post("/v1/traces")
async def export_traces(
    request: Request, settings: SettingsDep, ingest: IngestDep, metrics: MetricsDep
) -> Response:
    """Accept an OTLP trace export; answers once the LLM spans are durable."""
    body = await read_body(request, settings.max_body_bytes)
    content_type = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip()
    try:
        if content_type == "application/json":
            export = decode_json(body)
        elif content_type in ("application/x-protobuf", "application/protobuf"):
            export = decode_protobuf(body)
        else:
            raise ClientError(415, f"unsupported Content-Type {content_type!r}: OTLP protobuf or JSON")
        events, ignored = events_from_request(export)
    except EventValidationError as exc:
        raise ClientError(422, describe_msgspec(exc)) from exc
    except (DecodeError, ValueError) as exc:
        raise ClientError(400, f"not a valid OTLP trace export: {exc}") from exc
    metrics.otlp_ignored.inc(ignored)
    if events:
        await asyncio.wrap_future(ingest.submit(events, source="otlp"))
    response = ExportTraceServiceResponse()
    if content_type == "application/json":
        return Response(b"{}", media_type="application/json")
    return Response(response.SerializeToString(), media_type="application/x-protobuf")
