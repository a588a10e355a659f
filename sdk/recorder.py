"""One LLM call in flight (:class:`Call`) and what becomes of it when it ends (:class:`Recorder`).

The integrations describe a call (provider, API, request) and feed it the response or the stream's
chunks; the call turns that into one event of the contract's schema, exactly once, and hands it to the
recorder, whose processors sample, strip content and redact before the sink ships it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, Tracer, set_span_in_context

from bakeoff import genai_metrics, spans
from bakeoff.config import Settings
from bakeoff.context import attributes_var, last_event_var, tags_var
from bakeoff.genai_metrics import GenAIMetrics
from bakeoff.internal_errors import handle_internal_error, logger
from bakeoff.shipping.base import Sink

_SENTINEL_TYPES = frozenset({"NotGiven", "Omit"})
_NOT_RECORDED = frozenset({"extra_headers", "extra_query", "timeout", "extra_body"})
_CONTENT_KEYS = ("messages", "input", "system", "prompt", "instructions")
_NO_IDS: tuple[None, None] = (None, None)
_RECHECK_NS = 1_000_000_000
_NO_USAGE = {
    "input_tokens": None,
    "output_tokens": None,
    "cached_input_tokens": None,
    "cache_creation_input_tokens": None,
    "reasoning_tokens": None,
}


# What to do with a request argument, by its type: keep it, copy it (a list or tuple), or leave it out
# (a client sentinel such as NotGiven / Omit). Filled as types are met: a dict lookup per argument.
_KEEP, _COPY, _SKIP = 0, 1, 2
_ARGUMENT_KINDS: dict[type, int] = {
    str: _KEEP,
    int: _KEEP,
    float: _KEEP,
    bool: _KEEP,
    list: _COPY,
    dict: _KEEP,
}


def _argument_kind(kind: type) -> int:
    if kind.__name__ in _SENTINEL_TYPES:
        verdict = _SKIP
    elif issubclass(kind, list | tuple):
        verdict = _COPY
    else:
        verdict = _KEEP
    _ARGUMENT_KINDS[kind] = verdict
    return verdict


def snapshot_request(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the calling thread keeps of a call's arguments: lists copied, the rest by reference.

    Lists (of messages, tools) are copied so that an application appending to its conversation after
    the call does not change what was recorded; `extra_body` (a dict the application may reuse) too.
    Telling sentinels and transport options apart waits for :func:`clean_request`, off the caller's
    thread.
    """
    request = dict(kwargs)  # the client is handed the application's own lists, not our copies
    for key, value in kwargs.items():
        if isinstance(value, list):
            request[key] = list(value)
    if "extra_body" in kwargs and isinstance(kwargs["extra_body"], dict):
        request["extra_body"] = dict(kwargs["extra_body"])
    return request


def clean_request(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request body as sent: the call's arguments without the clients' sentinels and transport options.

    `kwargs` is a snapshot (:func:`snapshot_request`), whose lists are its own copies already and are
    taken as they are; tuples become lists; `extra_body` is merged in, as the clients send it.
    """
    request: dict[str, Any] = {}
    kinds = _ARGUMENT_KINDS
    for key, value in kwargs.items():
        if key in _NOT_RECORDED:
            continue
        kind = kinds.get(type(value))
        if kind is None:
            kind = _argument_kind(type(value))
        if kind == _KEEP or type(value) is list:
            request[key] = value
        elif kind == _COPY:
            request[key] = list(value)
    extra_body = kwargs.get("extra_body")
    if isinstance(extra_body, dict):
        request.update(extra_body)
    return request


# The formatted second of the last timestamp: events come in bursts within the same second, and
# strftime is most of a timestamp's cost. One tuple, swapped whole, so threads never see half of it.
_last_second: tuple[int, str] = (-1, "")


def rfc3339(timestamp_ns: int) -> str:
    """`2026-01-31T12:00:00.123456Z` for a Unix timestamp in nanoseconds (cheaper than datetime.isoformat)."""
    global _last_second
    whole, micros = divmod(timestamp_ns // 1000, 1_000_000)
    second, prefix = _last_second
    if second != whole:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _last_second = (whole, prefix)
    return "%s.%06dZ" % (prefix, micros)  # noqa: UP031  (a third cheaper than the f-string's format spec)


# Event ids: 128 random bits, like uuid4, from a generator of our own seeded by os.urandom (a system
# call per id costs more than the rest of the id); reseeded in a forked child, so parent and child never
# share ids, and out of reach of an application's random.seed().
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)
_random_bits = _ids.getrandbits


def new_event_id() -> str:
    """A fresh event id: 32 hex digits."""
    return "%032x" % _random_bits(128)  # noqa: UP031


_SAMPLE_SHIFT = 96  # the first 32 bits of an id (its first 8 hex digits) decide sampling


def error_info(exc: BaseException) -> dict[str, Any]:
    """`{"type", "message", "status_code"}` of an exception raised by a client library."""
    status = getattr(exc, "status_code", None)
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "status_code": status if isinstance(status, int) else None,
    }


class Call:
    """One call in flight: started by an integration, finished exactly once.

    A finished call is itself what the sink is handed: calling it builds its processed event (off the
    caller's thread), so nothing else is allocated per call to carry the outcome to the shipper. The
    calling thread keeps only what cannot wait (the arguments' snapshot, clocks, the context's tags
    and attributes, the answer as read); the request is cleaned, the id written out and the event
    assembled when it is built.
    """

    __slots__ = (
        "_answer",
        "_fix_request",
        "_id_bits",
        "_recorder",
        "_start_ns",
        "api",
        "attributes",
        "done",
        "metrics",
        "outcome",
        "provider",
        "server",
        "snapshot",
        "span",
        "stream",
        "tags",
        "traced",
        "ts_ns",
        "ttft_ms",
    )

    def __init__(
        self,
        recorder: Recorder,
        provider: str,
        api: str,
        snapshot: dict[str, Any],
        stream: bool,
        start_ns: int,
        span: Span | None = None,
        server: tuple[str, int] | None = None,
        traced: bool = False,
        metrics: GenAIMetrics | None = None,
        fix_request: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._recorder = recorder
        self.span = span
        self.server = server
        self.traced = traced  # a TracerProvider is set: the event carries the trace's ids
        self.metrics = metrics
        self._start_ns = start_ns  # time.perf_counter_ns() when the call started
        # The wall clock from the same reading (one clock read fewer; the offset is renewed every second).
        self.ts_ns = start_ns + recorder.wall_offset_ns
        self.provider = provider
        self.api = api
        self.snapshot = snapshot  # see snapshot_request; `request` is it cleaned
        self._fix_request = fix_request
        self.stream = stream
        self.tags = tags_var.get()
        # The tag blocks' dict: never mutated (each block sets a new one), so shared until finished.
        self.attributes: dict[str, Any] = attributes_var.get(_NO_ATTRIBUTES)
        self.ttft_ms: float | None = None
        self.done = False
        self._id_bits = _random_bits(128)
        # (response, usage, error, latency_ms, (trace_id, span_id)), once finished.
        self.outcome: tuple[Any, ...] | None = None
        # (expand, values) of an answer read as plain values (see finish_read), expanded with the event.
        self._answer: tuple[Callable[[Any], Any], Any] | None = None

    @property
    def event_id(self) -> str:
        """The event's id: 32 hex digits."""
        return "%032x" % self._id_bits  # noqa: UP031

    @property
    def request(self) -> dict[str, Any]:
        """The request body as sent (see :func:`clean_request`)."""
        request = clean_request(self.snapshot)
        if self._fix_request is not None:
            request = self._fix_request(request)
        return request

    @property
    def model(self) -> str:
        """The requested model."""
        return str(self.snapshot.get("model", ""))

    def activate(self) -> object:
        """Make the call's span current (the client's HTTP spans nest under it); a token for deactivate."""
        if self.span is None:
            return None
        return otel_context.attach(set_span_in_context(self.span))

    def deactivate(self, token: object) -> None:
        """Undo :meth:`activate`."""
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def first_token(self) -> None:
        """Mark the arrival of the first streamed chunk (only the first call counts)."""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter_ns() - self._start_ns) / 1e6

    def add_attributes(self, attributes: dict[str, Any]) -> None:
        """Record the answer's attributes (those not None) beside the tag blocks' ones."""
        merged = dict(self.attributes)  # the tag block's dict is shared: never written to
        for key, value in attributes.items():
            if value is not None:
                merged[key] = value
        self.attributes = merged

    def finish(
        self,
        response: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        error: BaseException | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """End the call and hand it to the sink (unless sampled out); later calls do nothing.

        What can wait (building the event, the processors) runs when the sink calls it.
        """
        if self.done:
            return
        self.done = True
        latency_ms = (time.perf_counter_ns() - self._start_ns) / 1e6
        try:
            if attributes:
                self.add_attributes(attributes)
            recorder = self._recorder
            last_event_var.set(self)
            # The caller's context, so read now; without a TracerProvider no span id can be valid.
            trace_ids = spans.span_ids(self.span) if self.traced else _NO_IDS
            failure = error_info(error) if error is not None else None
            self.outcome = (response, usage, failure, latency_ms, trace_ids)
            if self.span is not None:
                spans.end_call_span(self.span, self.event())
            if self.metrics is not None:
                self.metrics.record(self, usage, failure, latency_ms)
            self._submit(recorder)
        except Exception:
            handle_internal_error("recording an LLM call")

    def _submit(self, recorder: Recorder) -> None:
        """The event handed to the sink, unless the recorder's sampling leaves this call out."""
        threshold = recorder.threshold
        if threshold is not None and self._id_bits >> _SAMPLE_SHIFT >= threshold:
            return
        recorder.sink.submit_event(self)

    def finish_read(self, expand: Callable[[Any], Any], values: Any) -> None:
        """End the call with a complete answer read as `values`; `expand(values)` is its `(response, usage,
        attributes)`.

        The calling thread reads the answer's values (so what the application does with the response
        object later changes nothing) and leaves making the event's dicts of them to the event's
        building, off its thread; a span or the histograms need them now, and get them now.
        """
        if self.span is not None or self.metrics is not None:
            response, usage, attributes = expand(values)
            self.finish(response, usage, None, attributes)
            return
        if self.done:
            return
        self.done = True
        latency_ms = (time.perf_counter_ns() - self._start_ns) / 1e6
        # What finish() does for an answer without error, span or histograms (inline: this runs per call).
        try:
            self._answer = (expand, values)
            last_event_var.set(self)
            self.outcome = (None, None, None, latency_ms, spans.span_ids(None) if self.traced else _NO_IDS)
            self._submit(self._recorder)
        except Exception:
            handle_internal_error("recording an LLM call")

    def __call__(self) -> dict[str, Any] | None:
        """The finished call's event as it leaves the process (None: dropped by the redact callable)."""
        return self._recorder.processed(self.event())

    def event(self) -> dict[str, Any]:
        """The finished call's event, in the contract's schema."""
        assert self.outcome is not None, "the call has not finished"
        response, usage, error, latency_ms, (trace_id, span_id) = self.outcome
        settings = self._recorder.settings
        # The event's own attributes (a copy: processors and redaction may change them).
        attributes = dict(self.attributes)
        if self._answer is not None:
            expand, values = self._answer
            response, usage, answered = expand(values)
            for key, value in answered.items():
                if value is not None:
                    attributes[key] = value
        if settings.tags:
            tags = list(settings.tags) + [t for t in self.tags if t not in settings.tags]
            # How many leading tags came from init(): stratifying by tag uses the ones after them.
            attributes["bakeoff.init_tags"] = len(settings.tags)
        else:
            tags = list(self.tags)
        return {
            "id": self.event_id,
            "schema_version": 1,
            "project": settings.project,
            "ts": rfc3339(self.ts_ns),
            "provider": self.provider,
            "api": self.api,
            "model": self.model,
            "request": self.request,
            "response": response or _empty_response(self.stream),
            "usage": usage or _NO_USAGE,
            "latency_ms": latency_ms,
            "ttft_ms": self.ttft_ms if self.stream else None,
            "stream": self.stream,
            "status": "error" if error is not None else "ok",
            "error": error,
            "tags": tags,
            "attributes": attributes,
            "trace_id": trace_id,
            "span_id": span_id,
        }


_NO_ATTRIBUTES: dict[str, Any] = {}


def _empty_response(stream: bool) -> dict[str, Any]:
    # No answer at all: a stream that ended before anything arrived is incomplete.
    return {
        "text": None,
        "finish_reason": None,
        "tool_calls": None,
        "refusal": None,
        "incomplete": stream,
        "choices": None,
    }


class Recorder:
    """Starts calls and processes their events: sample, strip content, redact, then hand to the sink."""

    def __init__(self, settings: Settings, sink: Sink, tracer: Tracer | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self._tracer = tracer or spans.get_tracer()
        self._explicit_tracer = tracer is not None
        self._metrics: GenAIMetrics | None = None
        self._recheck_at = 0  # when to ask again whether tracing and metrics are configured
        self._traced = False
        self._current_metrics: GenAIMetrics | None = None
        # time.time_ns() - time.perf_counter_ns(), renewed with the recheck: a call's wall-clock start.
        self.wall_offset_ns = time.time_ns() - time.perf_counter_ns()
        # Keep an event when the first 32 bits of its (random) id fall under the rate: deterministic per id.
        self.threshold = None if settings.sample_rate >= 1.0 else int(settings.sample_rate * 0x100000000)

    def start(
        self,
        provider: str,
        api: str,
        snapshot: dict[str, Any],
        *,
        stream: bool,
        span: bool = True,
        client: Any = None,
        fix_request: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Call:
        """Start recording a call; `span=False` when the client library makes its own GenAI span.

        `snapshot` is the arguments as :func:`snapshot_request` keeps them; `fix_request` rewrites the
        cleaned request of a method whose arguments differ from the body it sends. `client` is the
        library's resource object, whose base URL is the span's server address.
        """
        # Whether a TracerProvider or a MeterProvider is set, asked at most once a second (finishing
        # the call reuses the answers).
        now = time.perf_counter_ns()  # the clock the call's latency is measured on
        if now >= self._recheck_at:
            self._recheck_at = now + _RECHECK_NS
            self.wall_offset_ns = time.time_ns() - now
            self._traced = self._explicit_tracer or spans.tracing_configured()
            self._current_metrics = self.metrics
        traced, metrics = self._traced, self._current_metrics
        if not (traced or metrics):
            return Call(self, provider, api, snapshot, stream, now, fix_request=fix_request)
        call_span = None
        server = spans.server_address(client)
        if span and traced:
            request = clean_request(snapshot)
            if fix_request is not None:
                request = fix_request(request)
            model = str(request.get("model", ""))
            call_span = spans.start_call_span(self._tracer, provider, api, model, request, server)
        return Call(
            self, provider, api, snapshot, stream, now, call_span, server, traced, metrics, fix_request
        )

    @property
    def tracer(self) -> Tracer:
        """The tracer of call spans: the global one unless a tracer was given (spans are then always made)."""
        return self._tracer

    @tracer.setter
    def tracer(self, tracer: Tracer) -> None:
        self._tracer, self._explicit_tracer = tracer, True
        self._recheck_at = 0

    def tracer_enabled(self) -> bool:
        """False while no TracerProvider is configured: a span would record nothing, so none is made."""
        return self._explicit_tracer or spans.tracing_configured()

    @property
    def metrics(self) -> GenAIMetrics | None:
        """The GenAI histograms, once a MeterProvider is configured (or given); None until then."""
        if self._metrics is None and genai_metrics.metrics_configured():
            self._metrics = GenAIMetrics(genai_metrics.global_meter_provider())
        return self._metrics

    def use_meter_provider(self, provider: MeterProvider) -> None:
        """Record the GenAI histograms into `provider` rather than the global one."""
        self._metrics = GenAIMetrics(provider)
        self._recheck_at = 0

    def processed(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The event as it leaves the process: content stripped on request, then redacted (None: dropped)."""
        settings = self.settings
        if not settings.capture_content:
            strip_content(event)
        redact: Callable[[dict[str, Any]], dict[str, Any] | None] | None = settings.redact
        if redact is None:
            return event
        try:
            return redact(event)
        except Exception:
            logger.warning("bakeoff: the redact callable raised; the event is dropped", exc_info=True)
            return None


def strip_content(event: dict[str, Any]) -> None:
    """Remove prompt and answer text from an event, keeping its structure, model, tokens and timings."""
    request = dict(event["request"])
    for key in _CONTENT_KEYS:
        value = request.get(key)
        if isinstance(value, list):
            request[key] = [
                {"role": m.get("role"), "content": None} if isinstance(m, dict) else None for m in value
            ]
        elif value is not None:
            request[key] = None
    event["request"] = request
    response = _without_text(event["response"])
    if response.get("refusal") is not None:
        response["refusal"] = ""  # that the model refused stays known, not what it said
    if response.get("choices"):
        response["choices"] = [_without_text(choice) for choice in response["choices"]]
    event["response"] = response


def _without_text(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer (or one of its choices) without its text and tool-call arguments."""
    answer = {**answer, "text": None}
    if answer.get("tool_calls"):
        answer["tool_calls"] = [
            {**call, "function": {"name": call.get("function", {}).get("name"), "arguments": None}}
            for call in answer["tool_calls"]
        ]
    return answer
