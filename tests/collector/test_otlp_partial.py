"""OTLP exports: the good spans are stored, the bad ones answered in `partial_success` (protobuf or
JSON, as the request came); exports that are not OTLP at all are 400, never 5xx."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from support.collector import CollectorProcess

GOOD = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": 3}
BAD = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": -5}
PLAIN = {"http.method": "GET"}


def protobuf_export(spans: list[dict[str, Any]]) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for number, attributes in enumerate(spans, start=1):
        span = scope.spans.add(
            trace_id=bytes(16) + b"",
            span_id=number.to_bytes(8, "big"),
            name="chat",
            start_time_unix_nano=1_772_000_000_000_000_000,
            end_time_unix_nano=1_772_000_000_250_000_000,
        )
        for key, value in attributes.items():
            wrapped = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
            span.attributes.append(KeyValue(key=key, value=wrapped))
    return request.SerializeToString()


def json_export(spans: list[dict[str, Any]]) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": f"{number:016x}",
                                "name": "chat",
                                "startTimeUnixNano": "1772000000000000000",
                                "endTimeUnixNano": "1772000000250000000",
                                "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
                            }
                            for number, attrs in enumerate(spans, start=1)
                        ]
                    }
                ]
            }
        ]
    }


def test_protobuf_export_stores_the_good_spans_and_counts_the_rejected(collector: CollectorProcess) -> None:
    response = httpx.post(
        collector.url + "/v1/traces",
        content=protobuf_export([GOOD, BAD, PLAIN, GOOD]),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "0000000000000002" in answer.partial_success.error_message
    assert "input_tokens" in answer.partial_success.error_message
    assert httpx.get(collector.url + "/v1/events").json()["total"] == 2


def test_json_export_answers_partial_success_in_json(collector: CollectorProcess) -> None:
    response = httpx.post(collector.url + "/v1/traces", json=json_export([BAD, GOOD]))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1 and "input_tokens" in partial["errorMessage"]
    assert httpx.get(collector.url + "/v1/events").json()["total"] == 1
    clean = httpx.post(collector.url + "/v1/traces", json=json_export([GOOD]))
    assert clean.status_code == 200 and "partialSuccess" not in clean.json()


NOT_EXPORTS = [
    b"[1, 2]",
    b'{"resourceSpans": [1]}',
    b'{"resourceSpans": {"scopeSpans": []}}',
    b'{"resourceSpans": [{"scopeSpans": "x"}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [null]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": 7}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
    b'{"resourceSpans": [{"resource": {"attributes": 5}}]}',
]
NOT_PROTOBUF = [b"\xff\xff\xff\xff", b"\x0a\xff\x01", bytes(range(256))]


def test_bodies_that_are_not_exports_are_400(collector: CollectorProcess) -> None:
    for content_type, bodies in [
        ("application/json", NOT_EXPORTS),
        ("application/x-protobuf", NOT_PROTOBUF),
    ]:
        for body in bodies:
            response = httpx.post(
                collector.url + "/v1/traces", content=body, headers={"Content-Type": content_type}
            )
            assert response.status_code == 400, (body, response.text)
            assert "not a valid OTLP trace export" in response.json()["error"]
    assert httpx.get(collector.url + "/healthz").status_code == 200
