"""Added CPU per streamed chunk: bakeoff against openai-v2, each against the plain client, in one run.

Also the added CPU of a non-streamed call in the calling thread (median of alternating calls; the
shipping thread's share is measured by bench_sdk_process_cpu.py).

Streams are chat-completion chunks decoded beforehand (the client's own parsing costs ~100 us per
chunk on a shared machine, and its noise would hide a few microseconds); non-streamed calls go through
the real client to an in-process transport (`httpx2.MockTransport`). In each process the plain call
(the original, unwrapped `create`) and the instrumented call alternate; each reads its answer as an
application does. The added cost per chunk is the slope between a short and a long stream,
which leaves out what a call costs once (starting and finishing the event or span). openai-v2
(`opentelemetry-instrumentation-openai-v2`, with an SDK TracerProvider whose exporter discards) is
measured in a second process of the same interpreter, by this same script.

Run: python bench/bench_sdk_stream_chunk.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from servers import start_receiver

SHORT, LONG = 20, 1020  # content chunks per stream
MESSAGES = [{"role": "user", "content": "count"}]
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two three"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()
CALLS = 2000


def _body(chunks: int) -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def line(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, "usage": usage}).encode() + b"\n\n"

    parts = [line([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    parts += [
        line([{"index": 0, "delta": {"content": f" word{i}"}, "finish_reason": None}]) for i in range(chunks)
    ]
    parts.append(line([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    parts.append(line([], {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5}))
    return b"".join(parts) + b"data: [DONE]\n\n"


def _client() -> Any:
    import httpx2
    import openai

    bodies = {SHORT: _body(SHORT), LONG: _body(LONG)}

    def handler(request: httpx2.Request) -> httpx2.Response:
        chunks = int(request.headers.get("x-chunks", 0))
        if not chunks:
            return httpx2.Response(200, headers={"content-type": "application/json"}, content=COMPLETION)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=bodies[chunks])

    http_client = openai.DefaultHttpxClient(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(base_url="http://bench.invalid/v1", api_key="k", http_client=http_client)


def _instrument(name: str) -> None:
    if name == "bakeoff":
        import bakeoff

        # The real shipping to a collector stand-in: events are built and sent off the calling thread.
        bakeoff.init(os.environ["BENCH_COLLECTOR"], spool_dir=os.environ["BENCH_SPOOL"])
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument()


class DecodedStream:
    """A chat stream of chunks decoded beforehand: iterating it costs next to nothing, so what an
    instrumentation adds per chunk is not lost in the client's own ~100 us of parsing per chunk."""

    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = iter(chunks)
        self.response = None

    def __iter__(self) -> DecodedStream:
        return self

    def __next__(self) -> Any:
        return next(self._chunks)

    def __enter__(self) -> DecodedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._chunks = iter(())


def _decoded_streams() -> None:
    """Make `create(stream=True)` answer with decoded streams (before an instrumentation wraps it)."""
    from openai.resources.chat.completions import Completions
    from openai.types.chat import ChatCompletionChunk

    decoded = {
        n: [
            ChatCompletionChunk.model_validate_json(event[len(b"data: ") :])
            for event in _body(n).split(b"\n\n")
            if event.startswith(b"data: {")
        ]
        for n in (SHORT, LONG)
    }
    create = Completions.create

    def create_decoded(self: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            return DecodedStream(decoded[int(kwargs["extra_headers"]["x-chunks"])])
        return create(self, **kwargs)

    Completions.create = create_decoded  # type: ignore[method-assign,assignment]


def _measure(name: str, rounds: int) -> dict[str, float]:
    import gc

    _decoded_streams()
    _instrument(name)
    client = _client()
    resource = client.chat.completions
    original = type(resource).__dict__["create"].__wrapped__

    def plain(**kw: Any) -> Any:
        return original(resource, **kw)

    def cpu_of(create: Any, chunks: int) -> int:
        headers = {"x-chunks": str(chunks)}
        start = time.thread_time_ns()
        stream = create(model="m", messages=MESSAGES, stream=True, extra_headers=headers)
        for chunk in stream:
            _ = chunk.choices[0].delta.content if chunk.choices else chunk.usage
        return time.thread_time_ns() - start

    samples: dict[str, list[int]] = {f"{arm}_{n}": [] for arm in ("plain", "inst") for n in (SHORT, LONG)}
    gc.disable()  # a collection inside one arm's stream would be charged to it alone
    for i in range(rounds + 5):
        arms = [("plain", plain), ("inst", resource.create)]
        if i % 2:
            arms.reverse()
        for n in (SHORT, LONG):
            for arm, create in arms:
                cost = cpu_of(create, n)
                if i >= 5:  # the first rounds warm caches up
                    samples[f"{arm}_{n}"].append(cost)
        gc.collect()
    calls: dict[str, list[int]] = {"plain": [], "inst": []}
    for i in range(CALLS):
        arms = [("plain", plain), ("inst", resource.create)]
        for arm, create in arms if i % 2 else arms[::-1]:
            start = time.thread_time_ns()
            completion = create(model="m", messages=MESSAGES)
            _ = completion.choices[0].message.content, completion.usage
            calls[arm].append(time.thread_time_ns() - start)
        if i % 100 == 99:
            gc.collect()
    # The least CPU each arm took: on a shared machine the other processes only ever add to it.
    best = {key: min(values) / 1000 for key, values in samples.items()}
    call_plain = statistics.median(calls["plain"]) / 1000
    call_added = statistics.median(calls["inst"]) / 1000 - call_plain
    added_short = best[f"inst_{SHORT}"] - best[f"plain_{SHORT}"]
    added_long = best[f"inst_{LONG}"] - best[f"plain_{LONG}"]
    return {
        "chunk_us": (added_long - added_short) / (LONG - SHORT),
        "plain_chunk_us": (best[f"plain_{LONG}"] - best[f"plain_{SHORT}"]) / (LONG - SHORT),
        "stream_us": added_short,
        "call_plain_us": call_plain,
        "call_added_us": call_added,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--measure", choices=["bakeoff", "openai-v2"])
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.rounds)))
        return
    figures = {}
    receiver, collector = start_receiver()
    env = {
        **os.environ,
        "BENCH_COLLECTOR": collector,
        "BENCH_SPOOL": tempfile.mkdtemp(prefix="bakeoff-bench-"),
    }
    try:
        for name in ("bakeoff", "openai-v2"):
            command = [sys.executable, __file__, "--measure", name, "--rounds", str(args.rounds)]
            run = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            figures[name] = json.loads(run.stdout)
    finally:
        receiver.kill()
    print(f"decoded stream CPU per chunk (baseline): {figures['bakeoff']['plain_chunk_us']:.2f} us")
    for name, measured in figures.items():
        print(f"{name} added CPU per streamed chunk: {measured['chunk_us']:.2f} us")
        stream_us = measured["stream_us"]
        print(f"{name} added CPU per stream of {SHORT} chunks (per-call part included): {stream_us:.1f} us")
    ratio = figures["openai-v2"]["chunk_us"] / max(figures["bakeoff"]["chunk_us"], 0.01)
    print(f"ratio openai-v2 / bakeoff, added CPU per chunk: {ratio:.1f}x")
    plain_call = figures["bakeoff"]["call_plain_us"]
    print(f"plain client CPU per non-streamed call (baseline, median): {plain_call:.0f} us")
    for name, measured in figures.items():
        share = 100 * measured["call_added_us"] / measured["call_plain_us"]
        added = measured["call_added_us"]
        print(f"{name} added CPU per call in the calling thread (median): {added:.1f} us ({share:.1f} %)")


if __name__ == "__main__":
    main()
