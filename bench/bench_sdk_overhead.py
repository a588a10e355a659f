"""What recording costs the application: bakeoff vs plain openai calls, next to openai-v2 instrumentation.

Against one simulated OpenAI-compatible server in its own process (no latency), the same process makes
plain and instrumented calls alternately (the plain call goes to the original, unwrapped method), and
reports medians of the calling thread's CPU time and of wall time per call, and CPU per streamed chunk;
the shipping thread's CPU over the non-streamed calls (their events flushed) is added per call to make
the figure that counts every thread.
OpenTelemetry's `opentelemetry-instrumentation-openai-v2` imports only beside `opentelemetry-util-genai`
1.1b0 (pinned in the dev extra); it is measured in a separate process of the same (or the
BAKEOFF_BENCH_V2_PYTHON) interpreter, by this same script.

Run: python bench/bench_sdk_overhead.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from sdk_stats import median_ci
from servers import start_receiver, start_simulator

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]
# A longer answer: the slope between the two stream lengths is the cost of one more chunk.
LONG_MESSAGES = [{"role": "user", "content": " ".join(["word"] * 72)}]


def _shipper_cpu_ns() -> int:
    """CPU time of bakeoff's shipping thread so far (0 when there is none)."""
    for thread in threading.enumerate():
        if thread.name == "bakeoff-shipper" and thread.ident is not None:
            return time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident))
    return 0


def _measure(base_url: str, calls: int, instrument: str) -> dict[str, float]:
    import openai

    flush: Any = lambda: True  # noqa: E731
    if instrument == "bakeoff":
        import bakeoff
        from bakeoff.shipping.shipper import HttpShipper  # noqa: F401  (the real shipping path)

        if os.environ.get("BENCH_SINK") == "memory":
            from bakeoff.shipping.base import InMemorySink

            bakeoff.init(sink=InMemorySink())
        else:
            bakeoff.init(os.environ["BENCH_COLLECTOR"], spool_dir=os.environ["BENCH_SPOOL"])
        flush = lambda: bakeoff.flush(30)  # noqa: E731
    else:
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

    client = openai.OpenAI(base_url=base_url + "/v1", api_key="k")
    resource = client.chat.completions
    plain_create = type(resource).__dict__["create"].__wrapped__

    def plain(**kw: Any) -> Any:
        return plain_create(resource, **kw)

    def timed(fn: Any, **kw: Any) -> tuple[int, int]:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        result = fn(**kw)
        # Read the answer as an application does (the clients build nested response objects lazily).
        if kw.get("stream"):
            for chunk in result:
                _ = chunk.choices[0].delta.content if chunk.choices else chunk.usage
        else:
            _ = result.choices[0].message.content, result.usage.total_tokens
        return time.thread_time_ns() - cpu, time.perf_counter_ns() - wall

    def run(stream: bool, messages: list[dict[str, str]] = MESSAGES) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"plain_cpu": [], "plain_wall": [], "inst_cpu": [], "inst_wall": []}
        for i in range(calls):
            order = [("plain", plain), ("inst", resource.create)]
            if i % 2:
                order.reverse()
            for name, fn in order:
                cpu, wall = timed(fn, model="m", messages=messages, stream=stream)
                out[f"{name}_cpu"].append(cpu)
                out[f"{name}_wall"].append(wall)
        return out

    if os.environ.get("BENCH_NO_GC"):
        import gc

        gc.disable()
    for _ in range(50):  # warm up connections and caches
        resource.create(model="m", messages=MESSAGES)
    flush()
    shipping_start = _shipper_cpu_ns()
    plain_run = run(stream=False)
    flush()  # the non-streamed calls' events, shipped: the shipping thread's CPU is theirs
    shipping_ns = _shipper_cpu_ns() - shipping_start
    spans_run = _with_spans(instrument, lambda: run(stream=False))
    stream_run = run(stream=True)
    long_run = run(stream=True, messages=LONG_MESSAGES)
    chunks = sum(1 for _ in plain(model="m", messages=MESSAGES, stream=True))
    long_chunks = sum(1 for _ in plain(model="m", messages=LONG_MESSAGES, stream=True))
    median = statistics.median
    paired_median, paired_low, paired_high = median_ci(_paired_us(plain_run))
    span_figures: dict[str, float] = {}
    if spans_run is not None:
        names = ("span_call_cpu_us", "span_low_us", "span_high_us")
        span_figures = dict(zip(names, median_ci(_paired_us(spans_run)), strict=True))
    long_added = (median(long_run["inst_cpu"]) - median(long_run["plain_cpu"])) / 1000
    stream_added = (median(stream_run["inst_cpu"]) - median(stream_run["plain_cpu"])) / 1000
    return {
        "shipping_cpu_us": shipping_ns / calls / 1000,
        "plain_cpu_us": median(plain_run["plain_cpu"]) / 1000,
        "chunk_cpu_us": (long_added - stream_added) / (long_chunks - chunks),
        "call_cpu_us": (median(plain_run["inst_cpu"]) - median(plain_run["plain_cpu"])) / 1000,
        "paired_cpu_us": paired_median,
        "paired_low_us": paired_low,
        "paired_high_us": paired_high,
        **span_figures,
        "call_wall_us": (median(plain_run["inst_wall"]) - median(plain_run["plain_wall"])) / 1000,
        "plain_wall_us": median(plain_run["plain_wall"]) / 1000,
        "stream_cpu_us": (median(stream_run["inst_cpu"]) - median(stream_run["plain_cpu"])) / 1000,
        "chunks": chunks,
    }


def _paired_us(run: dict[str, list[int]]) -> list[float]:
    """Each instrumented call's CPU less its plain neighbour's, in microseconds."""
    return [(a - b) / 1000 for a, b in zip(run["inst_cpu"], run["plain_cpu"], strict=True)]


def _with_spans(instrument: str, measure: Any) -> dict[str, list[int]] | None:
    """`measure()` again with bakeoff making its span (a TracerProvider exporting nowhere); None for v2."""
    if instrument != "bakeoff":
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from bakeoff import instrument as bakeoff_instrument

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    recorder = bakeoff_instrument.state.recorder
    assert recorder is not None
    untraced = recorder.tracer
    recorder.tracer = provider.get_tracer("bakeoff")
    try:
        return measure()
    finally:
        recorder.tracer = untraced
        recorder._explicit_tracer = False  # back to asking whether a TracerProvider is set (none is)
        provider.shutdown()


def _report(name: str, figures: dict[str, float]) -> None:
    print(f"{name} added CPU per call (median): {figures['call_cpu_us']:.1f} us")
    if "paired_cpu_us" in figures:
        print(
            f"{name} added CPU per call, median of paired differences: {figures['paired_cpu_us']:.1f} us "
            f"(95 % CI {figures['paired_low_us']:.1f} to {figures['paired_high_us']:.1f})"
        )
    if "span_call_cpu_us" in figures:
        print(
            f"{name} with its OpenTelemetry span (a TracerProvider set), added CPU per call, paired: "
            f"{figures['span_call_cpu_us']:.1f} us (95 % CI {figures['span_low_us']:.1f} to "
            f"{figures['span_high_us']:.1f}); the span's share: "
            f"{figures['span_call_cpu_us'] - figures['paired_cpu_us']:.1f} us"
        )
    if figures["shipping_cpu_us"]:
        every = figures["call_cpu_us"] + figures["shipping_cpu_us"]
        print(f"{name} shipping thread CPU per non-streamed call: {figures['shipping_cpu_us']:.1f} us")
        plain = figures["plain_cpu_us"]
        print(
            f"{name} added CPU per call, calling and shipping threads: {every:.1f} us, "
            f"{100 * every / plain:.2f} % of the plain call's {plain:.0f} us"
        )
        if "paired_cpu_us" in figures:
            paired = figures["paired_cpu_us"] + figures["shipping_cpu_us"]
            low = figures["paired_low_us"] + figures["shipping_cpu_us"]
            high = figures["paired_high_us"] + figures["shipping_cpu_us"]
            print(
                f"{name} the same with the calling thread's paired median: {paired:.1f} us, "
                f"{100 * paired / plain:.2f} % (CI {100 * low / plain:.2f} to {100 * high / plain:.2f} %)"
            )
    print(f"{name} added CPU per stream of {figures['chunks']} chunks: {figures['stream_cpu_us']:.1f} us")
    print(
        f"{name} added CPU per streamed chunk (slope over stream lengths): {figures['chunk_cpu_us']:.2f} us"
    )
    print(
        f"{name} added wall time per call: {100 * figures['call_wall_us'] / figures['plain_wall_us']:.2f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--measure", choices=["bakeoff", "openai-v2"])
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.base_url, args.calls, args.measure)))
        return
    server, url = start_simulator()
    receiver, collector = start_receiver()
    env = {**os.environ, "BENCH_COLLECTOR": collector, "BENCH_SPOOL": "/tmp/bakeoff-bench-spool"}
    try:
        ours = subprocess.run(
            [sys.executable, __file__, "--measure", "bakeoff", "--base-url", url, "--calls", str(args.calls)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        figures = json.loads(ours.stdout)
        print(
            f"plain loopback call (median): {figures['plain_wall_us']:.0f} us; "
            f"stream of {figures['chunks']} chunks"
        )
        _report("bakeoff", figures)
        # The dev extra installs openai-v2 with the util-genai release it imports with; another
        # environment can be named with BAKEOFF_BENCH_V2_PYTHON.
        v2_python = os.environ.get("BAKEOFF_BENCH_V2_PYTHON", sys.executable)
        if os.path.exists(v2_python):
            theirs = subprocess.run(
                [
                    v2_python,
                    __file__,
                    "--measure",
                    "openai-v2",
                    "--base-url",
                    url,
                    "--calls",
                    str(args.calls),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            v2 = json.loads(theirs.stdout)
            _report("openai-v2", v2)
            ratio = v2["call_cpu_us"] / max(figures["call_cpu_us"], 0.1)
            print(f"ratio openai-v2 / bakeoff, added CPU per call: {ratio:.1f}x")
        else:
            print(f"openai-v2: not measured ({v2_python} missing: see this file's docstring)")
    finally:
        server.kill()
        receiver.kill()


if __name__ == "__main__":
    main()
