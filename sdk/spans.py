"""OpenTelemetry spans of LLM calls, with the GenAI semantic conventions.

The span is started as a child of the application's current span (if any) and is made current only
while the client's method runs, so the client's HTTP spans nest under it but nothing the application
does afterwards (while it reads a stream, say) is parented to it by accident.
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
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "n": "gen_ai.request.choice.count",
}
# OpenAI calls them `stop`, Anthropic `stop_sequences`.
_STOP_PARAMS = ("stop", "stop_sequences")
_USAGE_ATTRIBUTES = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
}
_DEFAULT_PORTS = {"https": 443, "http": 80}


def operation_name(api: str) -> str:
    """`gen_ai.operation.name` of one of our APIs (`chat`, `embeddings`)."""
    return _OPERATION.get(api, api)


def server_address(resource: Any) -> tuple[str, int] | None:
    """`(server.address, server.port)` of a client library's resource, from its client's base URL."""
    url = getattr(getattr(resource, "_client", None), "base_url", None)
    host = getattr(url, "host", None)
    if not host:
        return None
    port = getattr(url, "port", None) or _DEFAULT_PORTS.get(str(getattr(url, "scheme", "")), 443)
    return str(host), int(port)


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
    tracer: trace.Tracer,
    provider: str,
    api: str,
    model: str,
    request: dict[str, Any],
    server: tuple[str, int] | None = None,
) -> Span:
    """Start the CLIENT span of one call, with its request attributes."""
    operation = operation_name(api)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    if server is not None:
        attributes["server.address"], attributes["server.port"] = server
    for key, attribute in _REQUEST_PARAMS.items():
        value = request.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[attribute] = value
    for key in _STOP_PARAMS:
        stop = request.get(key)
        if isinstance(stop, str):
            attributes["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            attributes["gen_ai.request.stop_sequences"] = stop
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
        for key, attribute in _USAGE_ATTRIBUTES.items():
            if usage.get(key) is not None:
                attributes[attribute] = usage[key]
        choices = response.get("choices") or [response]
        reasons = [c.get("finish_reason") for c in choices]
        if any(reasons):
            attributes["gen_ai.response.finish_reasons"] = [r or "" for r in reasons]
        if event["ttft_ms"] is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = event["ttft_ms"] / 1000
        if response.get("incomplete"):
            attributes["bakeoff.response.incomplete"] = True
        attributes["bakeoff.event_id"] = event["id"]
        span.set_attributes(attributes)
        if event["status"] == "error":
            error = event["error"] or {}
            span.set_attribute("error.type", str(error.get("type", "error")))
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))[:256]))
    span.end()
