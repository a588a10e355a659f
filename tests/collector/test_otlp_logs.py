"""OTLP logs: GenAI log events joined to their span's event, through the real exporters.

The instrumented application is this file run as a script (see `main` at the end): the real openai
client, instrumented by OpenTelemetry's openai-v2 or by OpenLLMetry, calls a local simulated server and
exports spans and log records with the SDK's OTLP/HTTP exporters to a real collector, in the order and
as often as a test asks. Hand-made exports (protobuf and JSON) cover the conventions' shapes and
hostile records.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from bakeoff.replay.simulator.server import SimulatorServer
    from support.collector import CollectorProcess

SYSTEM, QUESTION, TOOL_ANSWER = "be brief", "what is the weather in Paris?", "sunny, 21 C"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call-1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call-1", "content": TOOL_ANSWER},
]
LATEST = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
MODE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


# -- the instrumented application ------------------------------------------------------------------------


def main() -> None:
    """`python test_otlp_logs.py FLAVOUR PROJECT COLLECTOR LLM ORDER SENDS`: one chat call with a tool
    result, exported (spans and logs) in ORDER (`logs-first` or `spans-first`), each export sent SENDS
    times (a re-sent export). FLAVOUR: `openai-v2`, `openai-v2-legacy` (its path of the conventions up to
    1.36, one record per message) or `openllmetry` (its event mode)."""
    flavour, project, collector_url, llm_url, order, sends = sys.argv[1:7]

    import openai
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class Resending(OTLPSpanExporter):
        def export(self, spans: Any) -> Any:
            for _ in range(int(sends) - 1):
                super().export(spans)
            return super().export(spans)

    class ResendingLogs(OTLPLogExporter):
        def export(self, batch: Any) -> Any:
            for _ in range(int(sends) - 1):
                super().export(batch)
            return super().export(batch)

    resource = Resource.create({"service.name": project})
    tracer_provider = TracerProvider(resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    # Batches flushed explicitly below, so that the test decides which of spans and logs comes first.
    delay = {"schedule_delay_millis": 600_000}
    tracer_provider.add_span_processor(
        BatchSpanProcessor(Resending(endpoint=collector_url + "/v1/traces"), **delay)
    )
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(ResendingLogs(endpoint=collector_url + "/v1/logs"), **delay)
    )
    providers = {"tracer_provider": tracer_provider, "logger_provider": logger_provider}
    if flavour.startswith("openai-v2"):
        import opentelemetry.instrumentation.openai_v2 as openai_v2

        if flavour == "openai-v2-legacy":  # util-genai 1.x always takes the latest conventions' path
            openai_v2.is_experimental_mode = lambda: False  # type: ignore[attr-defined]
        openai_v2.OpenAIInstrumentor().instrument(**providers)
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor(use_attributes=False).instrument(**providers)
    client = openai.OpenAI(base_url=llm_url + "/v1", api_key="k")
    client.chat.completions.create(model="gpt-logs", messages=CONVERSATION, temperature=0.2, tools=TOOLS)
    client.close()
    first, second = (
        (logger_provider, tracer_provider) if order == "logs-first" else (tracer_provider, logger_provider)
    )
    assert first.force_flush() and second.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()


# -- tests -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collector(store_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One collector for the module on each store: each application run exports under a project of its
    own, each hand-made export under a span of its own."""
    from support.collector import CollectorProcess

    process = CollectorProcess(tmp_path_factory.mktemp("logs") / "logs.duckdb").start()
    try:
        yield process
    finally:
        process.stop()


def run_app(
    collector: CollectorProcess,
    llm: SimulatorServer,
    flavour: str,
    project: str,
    env: dict[str, str],
    order: str = "logs-first",
    sends: int = 1,
) -> dict[str, Any]:
    """Run the application; the one event of `project` as the API gives it."""
    result = subprocess.run(
        [sys.executable, __file__, flavour, project, collector.url, llm.url, order, str(sends)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}, **env},
    )
    assert result.returncode == 0, result.stderr
    assert "Failed to export" not in result.stderr, result.stderr
    listing = httpx.get(collector.url + "/v1/events", params={"project": project}).json()
    (event,) = listing["events"]
    one = httpx.get(f"{collector.url}/v1/events/{event['id']}").json()
    assert one["request"] == event["request"] and one["response"] == event["response"]
    return dict(event)


def assert_whole_conversation(event: dict[str, Any]) -> None:
    """The request's messages as the application sent them, and the model's answer (a tool call)."""
    messages = event["request"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[0]["content"] == SYSTEM and messages[1]["content"] == QUESTION
    (call,) = messages[2]["tool_calls"]
    assert call["id"] == "call-1" and call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert messages[3]["content"] == TOOL_ANSWER
    response = event["response"]
    assert response["finish_reason"] == "tool_calls"
    (answer_call,) = response["tool_calls"]
    assert answer_call["function"]["name"] == "get_weather" and answer_call["id"]
    assert isinstance(orjson.loads(answer_call["function"]["arguments"]), dict)
    assert event["usage"]["input_tokens"] > 0 and event["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("order", ["logs-first", "spans-first"])
@pytest.mark.parametrize("mode", ["EVENT_ONLY", "SPAN_AND_EVENT"])
def test_openai_v2_content_as_log_events_joins_the_span(
    mode: str, order: str, collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    project = f"v2-{mode}-{order}".lower()
    event = run_app(collector, llm_server, "openai-v2", project, {**LATEST, MODE: mode}, order)
    assert_whole_conversation(event)
    assert event["provider"] == "openai" and event["model"] == "gpt-logs"
    assert event["request"]["temperature"] == 0.2
    assert event["request"]["messages"][3]["tool_call_id"] == "call-1"
    assert event["attributes"]["otlp.log_records"] == 1  # the whole call in one record


def test_openai_v2_span_only_sends_no_logs(collector: CollectorProcess, llm_server: SimulatorServer) -> None:
    event = run_app(collector, llm_server, "openai-v2", "v2-span-only", {**LATEST, MODE: "SPAN_ONLY"})
    assert [m["role"] for m in event["request"]["messages"]] == ["system", "user", "assistant", "tool"]
    assert event["request"]["messages"][1]["content"] == QUESTION
    assert "otlp.log_records" not in event["attributes"]  # nothing was joined: the span said it all


def test_openai_v2_default_captures_no_content(
    collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    event = run_app(collector, llm_server, "openai-v2", "v2-default", {})
    assert event["request"]["messages"] == [] and event["response"]["text"] is None
    assert event["response"]["finish_reason"] == "tool_calls" and event["usage"]["input_tokens"] > 0


@pytest.mark.parametrize("order", ["logs-first", "spans-first"])
def test_older_conventions_one_record_per_message(
    order: str, collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    event = run_app(collector, llm_server, "openai-v2-legacy", f"legacy-{order}", {MODE: "true"}, order)
    assert_whole_conversation(event)
    assert event["attributes"]["otlp.log_records"] == 5  # four messages and the choice


def test_older_conventions_default_joins_what_it_has(
    collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    """Without content the records still tell the roles, finish reason and tool calls: messages stay
    empty (nothing to replay them with) and the answer's tool call is joined."""
    event = run_app(collector, llm_server, "openai-v2-legacy", "legacy-default", {})
    assert event["request"]["messages"] == []
    assert event["response"]["finish_reason"] == "tool_calls"
    assert event["response"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_openllmetry_event_mode(collector: CollectorProcess, llm_server: SimulatorServer) -> None:
    event = run_app(
        collector, llm_server, "openllmetry", "openllmetry-events", {"TRACELOOP_TRACE_CONTENT": "true"}
    )
    messages = event["request"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[1]["content"] == QUESTION and messages[3]["content"] == TOOL_ANSWER
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert event["response"]["finish_reason"] == "tool_calls"
    assert event["response"]["tool_calls"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("order", ["logs-first", "spans-first"])
def test_re_sent_exports_change_nothing(
    order: str, collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    once = run_app(collector, llm_server, "openai-v2-legacy", f"once-{order}", {MODE: "true"}, order)
    thrice = run_app(
        collector, llm_server, "openai-v2-legacy", f"thrice-{order}", {MODE: "true"}, order, sends=3
    )
    assert_whole_conversation(thrice)
    for key in ("request", "response", "usage"):
        assert thrice[key] == once[key]
    assert thrice["attributes"]["otlp.log_records"] == 5


def test_a_joined_event_replays(
    collector: CollectorProcess, llm_server: SimulatorServer, tmp_path: Path
) -> None:
    """EVENT_ONLY traffic, sampled and replayed: the replayed call sends the recorded conversation and
    is scored against the recorded answer."""
    import yaml

    from support.replaying import replay

    project = "v2-replayed"
    event = run_app(collector, llm_server, "openai-v2", project, {**LATEST, MODE: "EVENT_ONLY"})
    sample = {"name": "otel-events", "strategy": "random", "n": 5, "seed": 1, "filters": {"project": project}}
    assert httpx.post(collector.url + "/v1/samples", json=sample).json()["size"] == 1
    provider = {
        "id": "candidate",
        "provider": "openai-compatible",
        "model": "sim-x",
        "base_url": llm_server.url + "/v1",
    }
    config = tmp_path / "bakeoff.yaml"
    replay_section = {
        "providers": [provider],
        "metrics": ["tool_call_match"],
        "cache_dir": str(tmp_path / "cache"),
    }
    config.write_text(yaml.safe_dump({"collector": collector.url, "replay": replay_section}))
    llm_server.requests.clear()
    assert replay(config, "otel-events", tmp_path / "runs", "--no-cache") == 0
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    rows = [orjson.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if r["provider"] == "candidate"]
    assert row["event_id"] == event["id"] and row["error"] is None
    assert row["scores"]["tool_call_match"]["score"] is not None  # judged against the recorded tool call
    (sent,) = [r["body"] for r in llm_server.requests if r["api"] == "chat.completions"]
    assert sent["messages"] == event["request"]["messages"] and sent["messages"][1]["content"] == QUESTION


# -- hand-made exports: both encodings, every shape, hostile records --------------------------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span_export(span_id: str, project: str) -> dict[str, Any]:
    """An OTLP/JSON trace export of one chat span that carries no content (as EVENT_ONLY sends it)."""
    attributes = {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": project}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": span_id,
                                "name": "chat m",
                                "startTimeUnixNano": "1772000000000000000",
                                "endTimeUnixNano": "1772000000400000000",
                                "attributes": [
                                    {"key": k, "value": {"stringValue": v}} for k, v in attributes.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }


def any_value(value: Any) -> dict[str, Any]:
    """`value` as OTLP/JSON's AnyValue."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": any_value(v)} for k, v in value.items()]}}
    return {}


def log_record(
    name: str | None,
    body: Any = None,
    span_id: str | None = "00f067aa0ba902b7",
    attributes: dict[str, Any] | None = None,
    time_ns: int = 1772000000100000000,
    name_as_attribute: bool = False,
) -> dict[str, Any]:
    record: dict[str, Any] = {"timeUnixNano": str(time_ns), "observedTimeUnixNano": str(time_ns)}
    attributes = dict(attributes or {})
    if name is not None and name_as_attribute:
        attributes["event.name"] = name
    elif name is not None:
        record["eventName"] = name
    if body is not None:
        record["body"] = any_value(body)
    if span_id is not None:
        record["traceId"], record["spanId"] = TRACE, span_id
    record["attributes"] = [{"key": k, "value": any_value(v)} for k, v in attributes.items()]
    return record


def logs_export(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


def as_protobuf(export: dict[str, Any]) -> bytes:
    """The same export in protobuf, through the decoder's own JSON mapping (hex ids included)."""
    from bakeoff.collector.otlp_logs import decode_json

    return decode_json(orjson.dumps(export)).SerializeToString()


def post_logs(collector: CollectorProcess, export: dict[str, Any], protobuf: bool = False) -> httpx.Response:
    if protobuf:
        return httpx.post(
            collector.url + "/v1/logs",
            content=as_protobuf(export),
            headers={"Content-Type": "application/x-protobuf"},
        )
    return httpx.post(collector.url + "/v1/logs", json=export)


def event_of(collector: CollectorProcess, span_id: str) -> dict[str, Any]:
    response = httpx.get(f"{collector.url}/v1/events/otlp-{TRACE}-{span_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def older_records(span_id: str) -> list[dict[str, Any]]:
    """One record per message, as the conventions up to 1.36 send them (names in both places)."""
    return [
        log_record("gen_ai.system.message", {"content": "be brief"}, span_id, time_ns=1),
        log_record("gen_ai.user.message", {"content": "ping"}, span_id, time_ns=2, name_as_attribute=True),
        log_record(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "pong"}},
            span_id,
            time_ns=3,
        ),
    ]


@pytest.mark.parametrize("protobuf", [False, True])
def test_records_in_either_encoding_then_the_span(protobuf: bool, collector: CollectorProcess) -> None:
    span_id = "00000000000000a1" if protobuf else "00000000000000a2"
    records = older_records(span_id)
    answer = post_logs(collector, logs_export(records), protobuf)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == ("application/x-protobuf" if protobuf else "application/json")
    if not protobuf:
        assert answer.json() == {}  # nothing refused: no partial_success
    # The same records sent again in the other encoding are the same records: nothing is added.
    assert post_logs(collector, logs_export(records[::-1]), not protobuf).status_code == 200
    assert httpx.post(collector.url + "/v1/traces", json=span_export(span_id, "hand")).status_code == 200
    event = event_of(collector, span_id)
    assert event["request"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ping"},
    ]
    assert event["response"]["text"] == "pong" and event["response"]["finish_reason"] == "stop"
    assert event["attributes"]["otlp.log_records"] == 3


def test_records_split_over_exports_and_a_whole_call_record(collector: CollectorProcess) -> None:
    span_id = "00000000000000b1"
    assert httpx.post(collector.url + "/v1/traces", json=span_export(span_id, "hand")).status_code == 200
    first, *rest = older_records(span_id)
    assert post_logs(collector, logs_export(rest)).status_code == 200
    assert event_of(collector, span_id)["request"]["messages"] == [{"role": "user", "content": "ping"}]
    assert post_logs(collector, logs_export([first]), protobuf=True).status_code == 200
    event = event_of(collector, span_id)  # the late record takes its place by time, not by arrival
    assert [m["content"] for m in event["request"]["messages"]] == ["be brief", "ping"]
    # The latest conventions' record of the whole call, its messages as a JSON string attribute, and
    # two choices: it says the whole conversation, so it stands for the per-message records.
    details = log_record(
        "gen_ai.client.inference.operation.details",
        span_id=span_id,
        time_ns=4,
        attributes={
            "gen_ai.system_instructions": [{"type": "text", "content": "be kind"}],
            "gen_ai.input.messages": orjson.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "ping?"}]}]
            ).decode(),
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "finish_reason": "stop",
                    "parts": [{"type": "text", "content": "pong!"}],
                },
                {
                    "role": "assistant",
                    "finish_reason": "length",
                    "parts": [{"type": "text", "content": "po"}],
                },
            ],
            "gen_ai.usage.input_tokens": 7,
        },
    )
    assert post_logs(collector, logs_export([details])).status_code == 200
    event = event_of(collector, span_id)
    assert event["request"]["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "ping?"},
    ]
    assert event["response"]["text"] == "pong!" and len(event["response"]["choices"]) == 2
    assert event["response"]["choices"][1] == {"text": "po", "finish_reason": "length", "tool_calls": None}
    assert event["usage"]["input_tokens"] == 7


def test_hostile_records_are_refused_one_by_one(collector: CollectorProcess) -> None:
    span_id = "00000000000000c1"
    good = older_records(span_id)
    bad = [
        log_record("gen_ai.user.message", {"content": "orphan"}, span_id=None),
        log_record("gen_ai.user.message", "a body that is no map", span_id),
        log_record("gen_ai.user.message", {"content": 42}, span_id),
        log_record("gen_ai.assistant.message", {"tool_calls": "call it"}, span_id),
        log_record("gen_ai.choice", {"index": -1, "message": {"content": "x"}}, span_id),
        log_record("gen_ai.choice", {"index": 0, "message": ["not", "a", "map"]}, span_id),
        log_record(
            "gen_ai.client.inference.operation.details",
            span_id=span_id,
            attributes={"gen_ai.input.messages": "{not json"},
        ),
        log_record(
            "gen_ai.client.inference.operation.details",
            span_id=span_id,
            attributes={"gen_ai.input.messages": 3},
        ),
        {**log_record("gen_ai.user.message", {"content": "short id"}, span_id), "spanId": "00ff"},
    ]
    plain = log_record(None, "GET /healthz 200", span_id)  # an ordinary application log: ignored
    for protobuf in (False, True):
        answer = post_logs(collector, logs_export([bad[0], *good, plain, *bad[1:]]), protobuf)
        assert answer.status_code == 200
        if protobuf:
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

            partial = ExportLogsServiceResponse.FromString(answer.content).partial_success
            assert partial.rejected_log_records == len(bad)
            message = partial.error_message
        else:
            partial_json = answer.json()["partialSuccess"]
            assert int(partial_json["rejectedLogRecords"]) == len(bad)
            message = partial_json["errorMessage"]
        assert "log record 1 (gen_ai.user.message): no trace and span id" in message
        assert "the body of gen_ai.user.message must be a map" in message
        assert "content must be a string" in message and "and 4 more" in message
    assert httpx.post(collector.url + "/v1/traces", json=span_export(span_id, "hand")).status_code == 200
    event = event_of(collector, span_id)  # what was good is joined, the rest left no trace
    assert [m["content"] for m in event["request"]["messages"]] == ["be brief", "ping"]
    assert event["response"]["text"] == "pong" and event["attributes"]["otlp.log_records"] == 3
    assert httpx.get(collector.url + "/healthz").json()["status"] == "ok"


def test_exports_that_are_not_otlp_logs_are_4xx(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/logs"
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(url, content=b"\xff\x00garbage", headers=protobuf).status_code == 400
    assert httpx.post(url, content=b"{bad", headers={"Content-Type": "application/json"}).status_code == 400
    for body in ([], {"resourceLogs": {}}, {"resourceLogs": [{"scopeLogs": [{"logRecords": [1]}]}]}):
        assert httpx.post(url, json=body).status_code == 400
    bad_hex = logs_export([{**log_record("gen_ai.user.message", {"content": "x"}), "traceId": "zz"}])
    assert httpx.post(url, json=bad_hex).status_code == 400
    assert httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.post(url, json=logs_export([])).status_code == 200
    paths = httpx.get(collector.url + "/openapi.json").json()["paths"]
    body = paths["/v1/logs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/x-protobuf", "application/json"}
    assert "resourceLogs" in body["application/json"]["schema"]["properties"]


def test_records_stored_before_a_restart_join_the_span_after_it(tmp_path: Path) -> None:
    from support.collector import CollectorProcess

    span_id = "00000000000000e1"
    process = CollectorProcess(tmp_path / "restart.duckdb").start()
    try:
        assert post_logs(process, logs_export(older_records(span_id)), protobuf=True).status_code == 200
        process.stop()
        process.start()
        assert httpx.post(process.url + "/v1/traces", json=span_export(span_id, "restart")).status_code == 200
        event = event_of(process, span_id)
        assert [m["content"] for m in event["request"]["messages"]] == ["be brief", "ping"]
        assert event["response"]["text"] == "pong"
    finally:
        process.stop()


@pytest.mark.embedded_only("two replicas on a DuckLake of its own")
@pytest.mark.parametrize("order", ["logs-first", "spans-first"])
def test_spans_and_records_on_two_replicas_of_one_ducklake(
    order: str, ducklake_target: Any, tmp_path: Path
) -> None:
    from support.collector import CollectorProcess

    replicas = [
        CollectorProcess(
            tmp_path / name, store_args=[*ducklake_target.args(), "--journal", str(tmp_path / name)]
        )
        for name in ("journal-a", "journal-b")
    ]
    span_id = "00000000000000f1"
    try:
        for process in replicas:
            process.start()
        spans, logs = replicas if order == "spans-first" else replicas[::-1]
        for number, process in enumerate(replicas):  # both have taken traffic (and know what they stored)
            warm = span_export(f"{0xF8 + number:016x}", "replicas")
            assert httpx.post(process.url + "/v1/traces", json=warm).status_code == 200
        posts = [
            lambda: httpx.post(spans.url + "/v1/traces", json=span_export(span_id, "replicas")),
            lambda: post_logs(logs, logs_export(older_records(span_id)), protobuf=True),
        ]
        for post in posts if order == "spans-first" else posts[::-1]:
            assert post().status_code == 200
        for process in replicas:
            event = event_of(process, span_id)
            assert [m["content"] for m in event["request"]["messages"]] == ["be brief", "ping"]
            assert event["response"]["text"] == "pong"
    finally:
        for process in replicas:
            process.stop()


def test_concurrent_spans_and_records_all_join(collector: CollectorProcess) -> None:
    """Trace and logs exports of many spans at once, in a shuffled order: every event is joined."""
    import asyncio
    import random

    span_ids = [f"{0xD000 + n:016x}" for n in range(40)]
    posts: list[tuple[str, dict[str, Any]]] = []
    for span_id in span_ids:
        posts.append(("/v1/traces", span_export(span_id, "concurrent")))
        posts.append(("/v1/logs", logs_export(older_records(span_id))))
    random.Random(7).shuffle(posts)

    async def send_all() -> list[int]:
        async with httpx.AsyncClient(base_url=collector.url, timeout=60) as client:
            answers = await asyncio.gather(*(client.post(path, json=body) for path, body in posts))
        return [answer.status_code for answer in answers]

    assert set(asyncio.run(send_all())) == {200}
    for span_id in span_ids:
        event = event_of(collector, span_id)
        assert [m["content"] for m in event["request"]["messages"]] == ["be brief", "ping"], span_id
        assert event["response"]["text"] == "pong"


# -- the decoder and the fold, on their own --------------------------------------------------------------

FAST = settings(
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
names = st.sampled_from(
    [
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
        "gen_ai.evaluation.result",
        "",
    ]
)


@pytest.mark.embedded_only("the decoder alone: no store")
@settings(FAST, max_examples=200)
@given(st.binary(max_size=400))
def test_logs_protobuf_decoder_refuses_or_reads(body: bytes) -> None:
    from bakeoff.collector.otlp_logs import decode_protobuf, records_from_request

    try:
        export = decode_protobuf(body)
    except Exception as exc:
        assert type(exc).__name__ == "DecodeError"
        return
    records = records_from_request(export)  # never raises: a bad record is refused, not the export
    assert records.ignored + len(records.parts) + len(records.rejected) >= 0


@pytest.mark.embedded_only("the decoder alone: no store")
@settings(FAST, max_examples=300)
@given(
    names,
    json_values,
    st.dictionaries(
        st.sampled_from(
            [
                "gen_ai.input.messages",
                "gen_ai.output.messages",
                "gen_ai.system_instructions",
                "event.name",
                "gen_ai.usage.input_tokens",
            ]
        ),
        json_values,
    ),
)
def test_any_record_is_read_refused_or_ignored(name: str, body: Any, attributes: dict[str, Any]) -> None:
    from bakeoff.collector.otlp_logs import decode_json, records_from_request

    record = log_record(name or None, body, attributes=attributes)
    try:
        export = decode_json(orjson.dumps(logs_export([record])))
    except ValueError:
        return
    records = records_from_request(export)
    assert records.ignored + len(records.parts) + len(records.rejected) == 1
    for part in records.parts:
        orjson.loads(orjson.dumps(part.part))


@pytest.mark.embedded_only("the fold alone: no store")
@settings(FAST, max_examples=200)
@given(st.lists(st.tuples(names, json_values), max_size=6), st.integers(0, 6))
def test_folding_again_or_a_superset_gives_the_same_event(records: list[tuple[str, Any]], cut: int) -> None:
    from bakeoff.collector.otlp_logs import decode_json, joined, records_from_request
    from bakeoff.schema import encode_event, validate_event

    export = logs_export([log_record(name, body, time_ns=n + 1) for n, (name, body) in enumerate(records)])
    try:
        parts = [p.part for p in records_from_request(decode_json(orjson.dumps(export))).parts]
    except ValueError:
        return
    span = validate_event(
        {"id": "otlp-x-y", "ts": "2026-01-01T00:00:00Z", "provider": "openai", "api": "chat.completions"}
    )
    whole = joined(span, parts)
    assert encode_event(joined(whole, parts)) == encode_event(whole)
    assert encode_event(joined(joined(span, parts[:cut]), parts)) == encode_event(whole)


if __name__ == "__main__":
    main()


def test_retention_deletes_log_records_as_old_as_the_events_it_deletes(tmp_path: Path) -> None:
    from support import stores  # here: this file also runs as a script, an app without the test helpers

    store = stores.open_test_store(tmp_path / "retention.duckdb")
    try:
        now = datetime.now(UTC)
        with store.transaction() as cursor:
            for record_id, age_days in (("old", 40), ("new", 1)):
                cursor.execute(
                    "INSERT INTO otlp_log_records VALUES (?, 'otlp-t-s', 'gen_ai.choice', "
                    "epoch_ns(?::TIMESTAMPTZ), 0, now(), '{}')",
                    [record_id, now - timedelta(days=age_days)],
                )
        store.delete_older_than(now - timedelta(days=30))
        left = [row[0] for row in store.cursor().execute("SELECT record_id FROM otlp_log_records").fetchall()]
    finally:
        store.close()
    assert left == ["new"]
