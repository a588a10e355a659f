"""Each call is an OpenTelemetry span with GenAI semantic conventions, parented to the app's current span."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture()
def traced(
    llm_server: SimulatorServer,
) -> Iterator[tuple[InMemorySpanExporter, TracerProvider, InMemorySink]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = InMemorySink()
    bakeoff.init(sink=sink)
    from bakeoff import instrument

    assert instrument.state.recorder is not None
    instrument.state.recorder.tracer = provider.get_tracer("bakeoff")
    try:
        yield exporter, provider, sink
    finally:
        bakeoff.shutdown()


def test_span_attributes_and_parent(llm_server: SimulatorServer, traced: tuple) -> None:
    exporter, provider, sink = traced
    app_tracer = provider.get_tracer("app")
    with (
        openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client,
        app_tracer.start_as_current_span("handle-request") as parent,
    ):
        client.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0.2, max_tokens=9)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    span = spans["chat gpt-test"]
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == "gpt-test"
    assert attributes["gen_ai.request.temperature"] == 0.2 and attributes["gen_ai.request.max_tokens"] == 9
    (event,) = sink.events
    assert attributes["gen_ai.usage.input_tokens"] == event["usage"]["input_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == event["usage"]["output_tokens"]
    assert event["trace_id"] == f"{span.context.trace_id:032x}"
    assert event["span_id"] == f"{span.context.span_id:016x}"


def test_error_span_status(llm_server: SimulatorServer, traced: tuple) -> None:
    exporter, _, _ = traced
    with (
        openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-sim-fault": "500"})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "InternalServerError"


def test_anthropic_own_span_is_not_doubled(llm_server: SimulatorServer, traced: tuple) -> None:
    exporter, provider, sink = traced
    client = anthropic.Anthropic(
        base_url=llm_server.url, api_key="k", open_telemetry={"tracer_provider": provider}
    )
    with client, provider.get_tracer("app").start_as_current_span("request") as parent:
        client.messages.create(model="claude-test", max_tokens=5, messages=MESSAGES)
    genai_spans = [
        s for s in exporter.get_finished_spans() if (s.attributes or {}).get("gen_ai.provider.name")
    ]
    assert len(genai_spans) == 1 and genai_spans[0].instrumentation_scope.name != "bakeoff"
    (event,) = sink.events
    assert event["trace_id"] == f"{parent.get_span_context().trace_id:032x}"


def test_no_span_recorded_without_a_tracer_provider(
    llm_server: SimulatorServer, recorded: InMemorySink
) -> None:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
    (event,) = recorded.events
    assert event["trace_id"] is None and event["span_id"] is None
