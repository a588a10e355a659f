"""Sustained ingest through HTTP with durable acks, next to a bare endpoint that only parses (the ceiling).

Batches of 100 events of ~2 KB, 4 concurrent clients on loopback, for a fixed number of batches. Reports
events/s, p50/p99 ack latency, the collector's RSS at start and end, and how long after the last ack
every event is readable (acknowledged events are journaled; DuckDB commits them behind).

Run: python bench/bench_collector_ingest.py [--batches 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import aiohttp
import orjson

BARE_APP = """
import orjson
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def events(request):
    batch = orjson.loads(await request.body())
    return JSONResponse({"accepted": len(batch["events"]), "duplicates": 0}, status_code=202)

async def healthz(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/v1/events", events, methods=["POST"]), Route("/healthz", healthz)])
"""


def make_batches(count: int, prefix: str) -> list[bytes]:
    text = "lorem ipsum dolor sit amet " * 55  # ~1.5 KB of prompt: ~2 KB per event with the rest
    batches = []
    for b in range(count):
        events = [
            {
                "id": f"{prefix}-{b}-{i}",
                "ts": "2026-03-01T10:00:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-4o-mini",
                "tags": ["support"],
                "latency_ms": 812.5,
                "request": {"messages": [{"role": "user", "content": text}], "temperature": 0},
                "response": {
                    "text": "an answer of some length " * 8,
                    "finish_reason": "stop",
                    "tool_calls": None,
                },
                "usage": {"input_tokens": 400, "output_tokens": 60},
            }
            for i in range(100)
        ]
        batches.append(orjson.dumps({"events": events}))
    return batches


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def load(url: str, batches: list[bytes], clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(reversed(batches))

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with session.post(
                url + "/v1/events", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                assert response.status == 202, response.status
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - started, latencies


def measure(name: str, command: list[str], url: str, batches: list[bytes], cwd: str) -> None:
    server = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url)
        asyncio.run(load(url, batches[:20], 4))  # warm up
        rss = [rss_mb(server.pid)]
        elapsed, latencies = 0.0, []
        quarter = (len(batches) - 20) // 4
        for part in range(4):  # four equal parts, RSS read after each
            chunk = batches[20 + part * quarter : 20 + (part + 1) * quarter]
            part_elapsed, part_latencies = asyncio.run(load(url, chunk, 4))
            elapsed += part_elapsed
            latencies += part_latencies
            rss.append(rss_mb(server.pid))
        events = 100 * len(latencies)
        readable_after = time.perf_counter()
        with urllib.request.urlopen(url + "/healthz", timeout=60) as health:  # waits for the commits
            stored = orjson.loads(health.read()).get("events")
        readable_after = time.perf_counter() - readable_after
        latencies.sort()
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        print(f"{name}: {events / elapsed:,.0f} events/s")
        print(
            f"{name}: ack latency p50 {1000 * statistics.median(latencies):.0f} ms, p99 {1000 * p99:.0f} ms"
        )
        print(
            f"{name}: RSS (MB) at start and after each quarter of {events:,} events: "
            + " ".join(f"{r:.0f}" for r in rss)
        )
        if stored is not None:  # the bare endpoint stores nothing
            print(f"{name}: {stored:,} events readable {1000 * readable_after:.0f} ms after the last ack")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument(
        "--memory-limit",
        default="256MB",
        help="the collector's --memory-limit (low enough to reach it within a run)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "bare_app.py")
        with open(bare, "w") as handle:
            handle.write(BARE_APP)
        measure(
            "bare endpoint (parse only)",
            [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", "7891", "--log-level", "warning"],
            "http://127.0.0.1:7891",
            make_batches(args.batches, "bare"),
            tmp,
        )
        measure(
            "bakeoff collector (durable)",
            [
                sys.executable,
                "-m",
                "bakeoff.cli",
                "serve",
                "--db",
                os.path.join(tmp, "bench.duckdb"),
                "--memory-limit",
                args.memory_limit,
                "--port",
                "7892",
            ],
            "http://127.0.0.1:7892",
            make_batches(args.batches, "col"),
            tmp,
        )


if __name__ == "__main__":
    main()
