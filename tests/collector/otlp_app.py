"""An application instrumented only with an OpenTelemetry GenAI instrumentation, exporting OTLP/HTTP.

Run as `python otlp_app.py {openai-v2|openllmetry} COLLECTOR_URL LLM_URL` by the OTLP interop tests.
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
