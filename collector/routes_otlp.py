"""`POST /v1/traces` and `POST /v1/logs`: OTLP/HTTP in protobuf or JSON.

Spans of LLM calls are stored as events; the GenAI log records of those spans (the prompts and answers
instrumentations send as events) are stored and joined to them (see :mod:`bakeoff.collector.otlp_join`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bakeoff.collector import otlp, otlp_logs
from bakeoff.collector.bodies import read_body
from bakeoff.collector.deps import IngestDep, MetricsDep, SettingsDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.otlp_join import after_logs, log_join, submit_spans

router = APIRouter()

_PROTOBUF = ("application/x-protobuf", "application/protobuf")


async def _export_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body and whether it is OTLP/JSON (else protobuf); 415 for any other content type."""
    body = await read_body(request, limit)
    content_type = request.headers.get("content-type", "application/x-protobuf").split(";")[0].strip()
    as_json = content_type == "application/json"
    if not as_json and content_type not in _PROTOBUF:
        raise ClientError(415, f"unsupported Content-Type {content_type!r}: OTLP protobuf or JSON")
    return body, as_json


def _answer(response: Message, rejected: list[str], as_json: bool) -> Response:
    """The export's answer, with the count and the first reasons of what was refused, in the encoding
    the request came in."""
    if rejected:
        more = f"; and {len(rejected) - 5} more" if len(rejected) > 5 else ""
        partial = response.partial_success
        if isinstance(response, ExportLogsServiceResponse):
            partial.rejected_log_records = len(rejected)
        else:
            partial.rejected_spans = len(rejected)
        partial.error_message = "; ".join(rejected[:5]) + more
    if as_json:
        return Response(json_format.MessageToJson(response, indent=None), media_type="application/json")
    return Response(response.SerializeToString(), media_type="application/x-protobuf")


@router.post("/v1/traces")
async def export_traces(
    request: Request, settings: SettingsDep, ingest: IngestDep, metrics: MetricsDep
) -> Response:
    """Accept an OTLP trace export; answers once the LLM spans are durable.

    Spans that cannot be read as events are refused one by one: the answer's `partial_success` counts
    them (`rejected_spans`) and says why (`error_message`), in the encoding the request came in.
    """
    body, as_json = await _export_body(request, settings.max_body_bytes)
    try:
        export = otlp.decode_json(body) if as_json else otlp.decode_protobuf(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise ClientError(400, f"not a valid OTLP trace export: {exc}") from exc
    spans = otlp.events_from_request(export)
    metrics.otlp_ignored.inc(spans.ignored)
    if spans.events:
        await submit_spans(log_join(request.app), ingest, spans.events)
    return _answer(ExportTraceServiceResponse(), spans.rejected, as_json)


@router.post("/v1/logs")
async def export_logs(request: Request, settings: SettingsDep, ingest: IngestDep) -> Response:
    """Accept an OTLP logs export; answers once its GenAI records are durable and joined to the events
    of their spans that are stored (those of spans still to come join them when they arrive).

    Records of anything else are ignored. GenAI records that cannot be read or joined (no span id, a
    body of the wrong shape) are refused one by one: `partial_success` counts them
    (`rejected_log_records`) and says why (`error_message`).
    """
    body, as_json = await _export_body(request, settings.max_body_bytes)
    try:
        export = otlp_logs.decode_json(body) if as_json else otlp_logs.decode_protobuf(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise ClientError(400, f"not a valid OTLP logs export: {exc}") from exc
    records = otlp_logs.records_from_request(export)
    if records.parts:
        await after_logs(log_join(request.app), ingest, records.parts)
    return _answer(ExportLogsServiceResponse(), records.rejected, as_json)
