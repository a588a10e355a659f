"""Shipping: the caller's cost per event, the shipping thread's, throughput, memory with the collector down.

Run: python bench/bench_sdk_shipping.py [--events 100000]
"""

from __future__ import annotations

import argparse
import collections
import resource
import tempfile
import time
import tracemalloc
from typing import Any

import orjson
from servers import start_receiver

from bakeoff.config import resolve_settings
from bakeoff.shipping.shipper import HttpShipper


def event(i: int) -> dict[str, Any]:
    return {
        "id": f"{i:032x}",
        "schema_version": 1,
        "project": "p",
        "ts": "2026-01-01T00:00:00Z",
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-4o-mini",
        "request": {"messages": [{"role": "user", "content": "question " * 40}]},
        "response": {"text": "answer " * 40, "finish_reason": "stop", "tool_calls": None},
        "usage": {"input_tokens": 60, "output_tokens": 50},
        "latency_ms": 800.0,
        "ttft_ms": None,
        "stream": False,
        "status": "ok",
        "error": None,
        "tags": ["support"],
        "attributes": {},
        "trace_id": None,
        "span_id": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    events = [event(i) for i in range(args.events)]
    receiver, url = start_receiver()
    try:
        with tempfile.TemporaryDirectory() as spool:
            baseline: collections.deque[dict[str, Any]] = collections.deque()
            started = time.thread_time_ns()
            for item in events:
                baseline.append(item)
            deque_ns = (time.thread_time_ns() - started) / len(events)

            # The least a JSON shipper does per event: orjson.dumps of it, measured in this run.
            started = time.thread_time_ns()
            for item in events:
                orjson.dumps(item)
            dumps_ns = (time.thread_time_ns() - started) / len(events)

            for compress in (False, True):
                shipper = HttpShipper(
                    resolve_settings(url, spool_dir=spool, queue_size=args.events, compress=compress)
                )
                started_wall = time.perf_counter()
                started = time.thread_time_ns()
                for item in events:
                    shipper.submit_event(item)
                submit_ns = (time.thread_time_ns() - started) / len(events)
                clock = time.pthread_getcpuclockid(shipper._thread.ident)  # type: ignore[union-attr]
                delivered = shipper.flush(120)
                elapsed = time.perf_counter() - started_wall
                thread_ns = time.clock_gettime_ns(clock) / len(events)
                shipper.shutdown()
                label = "gzip" if compress else "plain JSON (loopback default)"
                print(
                    f"shipping thread CPU, {label}: {thread_ns / 1000:.2f} us/event "
                    f"(orjson.dumps alone: {dumps_ns / 1000:.2f} us, {thread_ns / dumps_ns:.1f}x)"
                )
            print(
                f"submit_event on the calling thread: {submit_ns:.0f} ns/event "
                f"(plain deque append: {deque_ns:.0f} ns, {submit_ns / deque_ns:.1f}x)"
            )
            print(
                f"delivery to a loopback receiver: {len(events) / elapsed:,.0f} events/s "
                f"(all delivered: {delivered})"
            )

        with tempfile.TemporaryDirectory() as spool:
            down = HttpShipper(
                resolve_settings("http://127.0.0.1:9", spool_dir=spool, spool_max_bytes=16 * 2**20)
            )
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            tracemalloc.start()
            slowest = 0
            for item in events:
                started = time.perf_counter_ns()
                down.submit_event(item)
                slowest = max(slowest, time.perf_counter_ns() - started)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            down.flush(2)
            stats = down.stats()
            down.shutdown(1)
            rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
            print(
                f"{len(events):,}-event burst, collector down: peak traced memory {peak / 2**20:.1f} MB, "
                f"max RSS growth {rss_growth:+.0f} MB, slowest submit {slowest / 1000:.0f} us"
            )
            print(
                f"  spooled {stats['spooled']:,}, dropped at the full queue {stats['queue_dropped']:,}, "
                f"dropped from the full spool {stats['spool_dropped']:,}"
            )
    finally:
        receiver.kill()


if __name__ == "__main__":
    main()
