"""`POST /v1/traces`: OTLP/HTTP in protobuf or JSON; spans of LLM calls are stored as events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bakeoff.collector.bodies import read_body
from bakeoff.collector.deps import IngestDep, MetricsDep, SettingsDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.otlp import decode_json, decode_protobuf, events_from_request

router = APIRouter()


@router.post("/v1/traces")
async def export_traces(
    request: Request, settings: SettingsDep, ingest: IngestDep, metrics: MetricsDep
) -> Response:
    """Accept an OTLP trace export; answers once the LLM spans are durable.

    Spans that cannot be read as events are refused one by one: the answer's `partial_success` counts
    them (`rejected_spans`) and says why (`error_message`), in the encoding the request came in.
    """
    body = await read_body(request, settings.max_body_bytes)
    content_type = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip()
    as_json = content_type == "application/json"
    if not as_json and content_type not in ("application/x-protobuf", "application/protobuf"):
        raise ClientError(415, f"unsupported Content-Type {content_type!r}: OTLP protobuf or JSON")
    try:
        export = decode_json(body) if as_json else decode_protobuf(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise ClientError(400, f"not a valid OTLP trace export: {exc}") from exc
    spans = events_from_request(export)
    metrics.otlp_ignored.inc(spans.ignored)
    if spans.events:
        await asyncio.wrap_future(ingest.submit(spans.events, source="otlp"))
    response = ExportTraceServiceResponse()
    if spans.rejected:
        more = f"; and {len(spans.rejected) - 5} more" if len(spans.rejected) > 5 else ""
        response.partial_success.rejected_spans = len(spans.rejected)
        response.partial_success.error_message = "; ".join(spans.rejected[:5]) + more
    if as_json:
        return Response(json_format.MessageToJson(response, indent=None), media_type="application/json")
    return Response(response.SerializeToString(), media_type="application/x-protobuf")
