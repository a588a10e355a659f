"""bakeoff without its SDK: an application instrumented only with an OpenTelemetry GenAI instrumentation.

It exports its spans with the standard OTLP/HTTP exporter to a bakeoff collector, which stores the
LLM calls among them as events (and counts the other spans):

    bakeoff serve --db bakeoff.duckdb &
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY \
    OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental \
        python app.py openai-v2 http://127.0.0.1:7800 https://api.openai.com

`openai-v2` is OpenTelemetry's own instrumentation, `openllmetry` is Traceloop's; the third argument is
the OpenAI-compatible server to call (its `/v1` is appended).
"""

from __future__ import annotations

import sys

import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def main() -> None:
    flavour, collector_url, llm_url = sys.argv[1:4]
    provider = TracerProvider(resource=Resource.create({"service.name": f"otlp-{flavour}"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector_url + "/v1/traces")))
    trace.set_tracer_provider(provider)
    if flavour == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # type: ignore[no-redef]
    OpenAIInstrumentor().instrument()
    with trace.get_tracer("app").start_as_current_span("handle-request"):
        client = openai.OpenAI(base_url=llm_url + "/v1", api_key="k")
        client.chat.completions.create(
            model="gpt-otlp", messages=[{"role": "user", "content": "hello over otlp"}], temperature=0.3
        )
        client.close()
    provider.shutdown()


if __name__ == "__main__":
    main()
