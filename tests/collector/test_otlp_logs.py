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
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

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
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One collector for the module: each application run exports under a project of its own."""
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


if __name__ == "__main__":
    main()
