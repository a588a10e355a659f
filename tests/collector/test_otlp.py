"""OTLP/HTTP interop: real GenAI instrumentations exporting to a running collector, and OTLP/JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bakeoff.replay.simulator.server import SimulatorServer
from support.collector import CollectorProcess

APP = Path(__file__).resolve().parents[2] / "examples" / "otel_app" / "app.py"
CONTENT_ON = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "TRACELOOP_TRACE_CONTENT": "true",
}


@pytest.mark.parametrize("flavour", ["openai-v2", "openllmetry"])
def test_instrumented_app_exports_events(
    flavour: str, collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    result = subprocess.run(
        [sys.executable, str(APP), flavour, collector.url, llm_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **CONTENT_ON},
    )
    assert result.returncode == 0, result.stderr
    (event,) = httpx.get(collector.url + "/v1/events").json()["events"]
    assert event["project"] == f"otlp-{flavour}" and event["provider"] == "openai"
    assert event["model"] == "gpt-otlp" and event["request"]["temperature"] == 0.3
    assert event["request"]["messages"] == [{"role": "user", "content": "hello over otlp"}]
    assert event["response"]["text"] == "hello over otlp"
    assert event["usage"]["input_tokens"] > 0 and event["usage"]["output_tokens"] > 0
    assert event["latency_ms"] > 0 and event["trace_id"]
    metrics = httpx.get(collector.url + "/metrics").text
    assert "bakeoff_otlp_spans_ignored_total 1.0" in metrics  # the app's own "handle-request" span


def _json_export(span_attributes: list[dict], status_code: int = 1) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat m",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000250000000",
                                "attributes": span_attributes,
                                "status": {"code": status_code},
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_otlp_json_with_openllmetry_style_attributes(collector: CollectorProcess) -> None:
    attributes = [
        {"key": "gen_ai.system", "value": {"stringValue": "anthropic"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "claude-x"}},
        {"key": "gen_ai.prompt.0.role", "value": {"stringValue": "user"}},
        {"key": "gen_ai.prompt.0.content", "value": {"stringValue": "ping"}},
        {"key": "gen_ai.completion.0.content", "value": {"stringValue": "pong"}},
        {"key": "gen_ai.completion.0.finish_reason", "value": {"stringValue": "end_turn"}},
        {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "3"}},
        {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": "1"}},
        {"key": "error.type", "value": {"stringValue": "overloaded"}},
    ]
    url = collector.url + "/v1/traces"
    for _ in range(2):  # a re-sent export is idempotent
        response = httpx.post(url, json=_json_export(attributes, status_code=2))
        assert response.status_code == 200
    (event,) = httpx.get(collector.url + "/v1/events").json()["events"]
    assert event["provider"] == "anthropic" and event["api"] == "messages" and event["model"] == "claude-x"
    assert event["request"]["messages"] == [{"role": "user", "content": "ping"}]
    assert event["response"]["text"] == "pong"
    assert (event["usage"]["input_tokens"], event["usage"]["output_tokens"]) == (3, 1)
    assert event["latency_ms"] == 250.0 and event["status"] == "error"
    assert event["error"]["type"] == "overloaded" and event["project"] == "json-app"


def test_bad_otlp_is_refused(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/traces"
    assert (
        httpx.post(
            url, content=b"\xff\x00garbage", headers={"Content-Type": "application/x-protobuf"}
        ).status_code
        == 400
    )
    assert httpx.post(url, content=b"{bad", headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.get(collector.url + "/healthz").status_code == 200


def test_otlp_json_with_span_event_messages(collector: CollectorProcess) -> None:
    export = _json_export(
        [
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-events"}},
            {
                "key": "gen_ai.response.finish_reasons",
                "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
            },
        ]
    )
    export["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"] = [
        {
            "name": "gen_ai.system.message",
            "timeUnixNano": "1700000000000000000",
            "attributes": [{"key": "content", "value": {"stringValue": "be brief"}}],
        },
        {
            "name": "gen_ai.user.message",
            "timeUnixNano": "1700000000000000000",
            "attributes": [{"key": "content", "value": {"stringValue": "hello"}}],
        },
        {
            "name": "gen_ai.choice",
            "timeUnixNano": "1700000000200000000",
            "attributes": [
                {"key": "message", "value": {"stringValue": '{"content": "hi there"}'}},
                {"key": "finish_reason", "value": {"stringValue": "stop"}},
            ],
        },
    ]
    assert httpx.post(collector.url + "/v1/traces", json=export).status_code == 200
    (event,) = httpx.get(collector.url + "/v1/events").json()["events"]
    assert event["request"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert event["response"]["text"] == "hi there" and event["response"]["finish_reason"] == "stop"
