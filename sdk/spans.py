"""OpenTelemetry spans of LLM calls, with the GenAI semantic conventions.

The span is started as a child of the application's current span (if any) but is never made current,
so nothing the application does afterwards is parented to it by accident.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

_OPERATION = {"chat.completions": "chat", "responses": "chat", "messages": "chat", "embeddings": "embeddings"}
_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
}


def get_tracer() -> trace.Tracer:
    """The tracer of bakeoff's spans (a no-op until the application configures a TracerProvider)."""
    from bakeoff import __version__

    return trace.get_tracer("bakeoff", __version__)


_RECHECK_S = 1.0
_configured = {"value": False, "checked_at": -_RECHECK_S}


def tracing_configured() -> bool:
    """Whether the application set a TracerProvider (the default proxy records nothing).

    Asking OpenTelemetry reads the environment each time, so the answer is kept: for good once a
    provider is set (it cannot be unset), and for a second while none is.
    """
    if _configured["value"]:
        return True
    now = time.monotonic()
    if now - _configured["checked_at"] >= _RECHECK_S:
        _configured["checked_at"] = now
        _configured["value"] = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return bool(_configured["value"])


def start_call_span(
    tracer: trace.Tracer, provider: str, api: str, model: str, request: dict[str, Any]
) -> Span:
    """Start the CLIENT span of one call, with its request attributes."""
    operation = _OPERATION.get(api, api)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    for key, attribute in _REQUEST_PARAMS.items():
        value = request.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[attribute] = value
    return tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attributes)


def span_ids(span: Span | None) -> tuple[str | None, str | None]:
    """Trace and span ids (hex) of `span` when it records, else of the current span, else `(None, None)`."""
    context = span.get_span_context() if span is not None and span.is_recording() else None
    if context is None or not context.is_valid:
        context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def end_call_span(span: Span, event: dict[str, Any]) -> None:
    """Set the response attributes from the finished event and end the span."""
    if span.is_recording():
        usage = event["usage"]
        response = event["response"]
        attributes: dict[str, Any] = {}
        if event["attributes"].get("response_model"):
            attributes["gen_ai.response.model"] = event["attributes"]["response_model"]
        if event["attributes"].get("response_id"):
            attributes["gen_ai.response.id"] = event["attributes"]["response_id"]
        if usage.get("input_tokens") is not None:
            attributes["gen_ai.usage.input_tokens"] = usage["input_tokens"]
        if usage.get("output_tokens") is not None:
            attributes["gen_ai.usage.output_tokens"] = usage["output_tokens"]
        if response.get("finish_reason"):
            attributes["gen_ai.response.finish_reasons"] = [response["finish_reason"]]
        attributes["bakeoff.event_id"] = event["id"]
        span.set_attributes(attributes)
        if event["status"] == "error":
            error = event["error"] or {}
            span.set_attribute("error.type", str(error.get("type", "error")))
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))[:256]))
    span.end()
