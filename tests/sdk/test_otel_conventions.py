"""OpenTelemetry's conventions: the instrumentor entry point, the OTEL_* variables, the span made current
while the client runs, the GenAI span attributes, and the GenAI client histograms."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from canned import CannedServer
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import bakeoff
from bakeoff import instrument
from bakeoff.config import resolve_settings
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink
from support.receiver import Receiver

MESSAGES = [{"role": "user", "content": "hello there"}]
APP = """
import sys
import openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="k")
for text in ("one", "two"):
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
print("app done")
"""


def test_opentelemetry_instrument_records_events(
    tmp_path: Path, llm_server: SimulatorServer, receiver: Receiver
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        **os.environ,
        "BAKEOFF_COLLECTOR_URL": receiver.url,
        "BAKEOFF_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    instrument_cli = str(Path(sys.executable).parent / "opentelemetry-instrument")
    command = [instrument_cli, sys.executable, str(app), llm_server.url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout
    deadline = time.monotonic() + 10
    while len(receiver.events) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = list(receiver.events.values())
    assert sorted(e["response"]["text"] for e in events) == ["one", "two"]
    assert {e["project"] for e in events} == {"checkout"}
    # The other installed instrumentations (openai-v2, OpenLLMetry) were loaded too: still one event each.
    assert len(events) == 2


def test_environment_conventions() -> None:
    assert resolve_settings(environ={"OTEL_SDK_DISABLED": "true"}).disabled
    assert not resolve_settings(environ={"OTEL_SDK_DISABLED": "false"}).disabled
    assert not resolve_settings(environ={"OTEL_SDK_DISABLED": "true", "BAKEOFF_DISABLED": "0"}).disabled
    assert resolve_settings(environ={"OTEL_SERVICE_NAME": "svc"}).project == "svc"
    assert resolve_settings(environ={"OTEL_SERVICE_NAME": "svc", "BAKEOFF_PROJECT": "p"}).project == "p"
    assert resolve_settings(project="arg", environ={"OTEL_SERVICE_NAME": "svc"}).project == "arg"
    otel = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    for value in ("false", "NO_CONTENT", "no_content"):
        assert not resolve_settings(environ={otel: value}).capture_content
    for value in ("true", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"):
        assert resolve_settings(environ={otel: value}).capture_content
    assert resolve_settings(environ={otel: "false", "BAKEOFF_CAPTURE_CONTENT": "1"}).capture_content
    assert not resolve_settings(capture_content=False, environ={otel: "true"}).capture_content


def test_otel_sdk_disabled_records_nothing(
    monkeypatch: pytest.MonkeyPatch, llm_server: SimulatorServer
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    try:
        assert instrument.state.recorder is None
        with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:
            client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        bakeoff.shutdown()
    assert sink.events == []


@pytest.fixture()
def traced() -> Iterator[tuple[InMemorySpanExporter, TracerProvider, InMemorySink, InMemoryMetricReader]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    recorder = instrument.state.recorder
    assert recorder is not None
    recorder.tracer = provider.get_tracer("bakeoff")
    recorder.use_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        yield exporter, provider, sink, reader
    finally:
        bakeoff.shutdown()


def test_span_is_current_while_the_client_sends(llm_server: SimulatorServer, traced: tuple) -> None:
    exporter, _, _, _ = traced
    seen: list[Any] = []

    def on_request(request: Any) -> None:
        seen.append(trace.get_current_span().get_span_context())

    http_client = openai.DefaultHttpxClient(event_hooks={"request": [on_request]})
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", http_client=http_client) as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
        assert not trace.get_current_span().get_span_context().is_valid  # not current afterwards
    (span,) = exporter.get_finished_spans()
    assert [c.span_id for c in seen] == [span.context.span_id]


def test_span_attributes(llm_server: SimulatorServer, canned: CannedServer, traced: tuple) -> None:
    exporter, _, sink, _ = traced
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:
        client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            stop=["END", "STOP"],
            frequency_penalty=0.5,
            presence_penalty=0.25,
            extra_body={"top_k": 5},
        )
    canned.serve("openai_chat_tools.sse")
    with openai.OpenAI(base_url=canned.url + "/v1", api_key="k") as client:
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    plain, streamed = (dict(s.attributes or {}) for s in exporter.get_finished_spans())
    assert plain["server.address"] == "127.0.0.1" and plain["server.port"] == llm_server.port
    assert plain["gen_ai.request.stop_sequences"] == ("END", "STOP")
    assert plain["gen_ai.request.frequency_penalty"] == 0.5
    assert plain["gen_ai.request.presence_penalty"] == 0.25
    assert plain["gen_ai.request.top_k"] == 5
    assert "gen_ai.response.time_to_first_chunk" not in plain
    assert streamed["gen_ai.usage.cache_read.input_tokens"] == 64
    assert streamed["gen_ai.usage.reasoning.output_tokens"] == 16
    assert streamed["gen_ai.response.finish_reasons"] == ("tool_calls",)
    ttft = sink.events[1]["ttft_ms"]
    assert streamed["gen_ai.response.time_to_first_chunk"] == pytest.approx(ttft / 1000)


def test_genai_histograms(llm_server: SimulatorServer, traced: tuple) -> None:
    _, _, sink, reader = traced
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-sim-fault": "500"})
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens.data.data_points}
    ok = sink.events[0]["usage"]
    assert by_type["input"].sum == ok["input_tokens"] and by_type["output"].sum == ok["output_tokens"]
    assert by_type["input"].attributes["gen_ai.request.model"] == "m"
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    points = sorted(duration.data.data_points, key=lambda p: "error.type" in p.attributes)
    assert [p.count for p in points] == [1, 1]
    assert points[1].attributes["error.type"] == "InternalServerError"
    assert points[0].attributes["server.port"] == llm_server.port
