"""Replay against a server answering after 50 ms: the providers alone, the whole engine, aiohttp, httpx(2).

Throughput at concurrency 1, 16, 64 and 256 as a fraction of the bound min(concurrency / 0.05 s,
CPU bound), where the CPU bound is what the client's own CPU per request allows on one core; and the
client CPU per request. The server runs in its own process. Concurrency 1 sends 200 requests (2,000
would take 100 s); the others 2,000.

Run: python bench/bench_replay_throughput.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import httpx2
import openai
import orjson
from servers import start_simulator

from bakeoff.replay.providers.base import make_client, make_provider
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.run.budget import Budget
from bakeoff.replay.run.dispatch import Dispatcher
from bakeoff.replay.run.engine import ReplayEngine
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.run.variants import Variant
from bakeoff.replay.scoring.builtin import ExactMatch, Fuzzy, NumericMatch
from bakeoff.replay.scoring.registry import MetricPlan
from bakeoff.replay.types import Case, Reference

CANONICAL = {"model": "m", "messages": [{"role": "user", "content": "What is 6 * 7?"}], "temperature": 0}
LATENCY_S = 0.05


async def drive(send: Callable[[], Awaitable[object]], total: int, concurrency: int) -> tuple[float, float]:
    """Send `total` requests, `concurrency` at a time; (wall seconds, process CPU seconds)."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def run_bakeoff(url: str, total: int, concurrency: int) -> tuple[float, float]:
    client = make_client(limit=max(concurrency, 1))
    provider = make_provider(
        ProviderConfig(id="b", provider="openai-compatible", model="m", base_url=url + "/v1", stream=False),
        client,
    )
    try:
        await drive(lambda: provider.acomplete(CANONICAL), max(20, concurrency), concurrency)  # warm up
        return await drive(lambda: provider.acomplete(CANONICAL), total, concurrency)
    finally:
        await client.close()


async def run_engine(
    url: str, total: int, concurrency: int, metrics: MetricPlan | None = None, stream: bool = True
) -> tuple[float, float]:
    """The whole engine: dispatcher (limits, budget), streamed answers, the metrics, rows appended."""
    config = ProviderConfig(
        id="e", provider="openai-compatible", model="m", base_url=url + "/v1", stream=stream
    )
    warm = max(20, concurrency)  # one request per connection first: the steady state is measured
    cases = [
        Case(
            id=f"c{i}",
            api="chat.completions",
            provider="openai",
            model="m",
            request={"messages": CANONICAL["messages"]},
            reference=Reference(expected="42", from_expected=True),
        )
        for i in range(total + warm)
    ]
    metrics = metrics or MetricPlan([])
    with tempfile.TemporaryDirectory() as folder:
        dispatcher = Dispatcher([config], concurrency=concurrency, budget=Budget(limit=None))
        engine = ReplayEngine(dispatcher, metrics, RunDirectory(folder), workers=concurrency)
        variants = [Variant(config)]
        try:
            await engine.run(engine.work(cases[:warm], variants, 1, False, set()))
            items = engine.work(cases[warm:], variants, 1, False, set())
            wall, cpu = time.perf_counter(), time.process_time()
            await engine.run(items)
            return time.perf_counter() - wall, time.process_time() - cpu
        finally:
            await dispatcher.aclose()
            engine.run_dir.close()


async def run_scored_engine(url: str, total: int, concurrency: int) -> tuple[float, float]:
    return await run_engine(url, total, concurrency, MetricPlan([ExactMatch(), NumericMatch(), Fuzzy()]))


async def run_httpx(url: str, total: int, concurrency: int) -> tuple[float, float]:
    body = {**CANONICAL, "model": "m"}
    async with httpx.AsyncClient(base_url=url + "/v1", timeout=60) as client:

        async def send() -> object:
            response = await client.post("/chat/completions", json=body)
            return response.json()

        await drive(send, max(20, concurrency), concurrency)
        return await drive(send, total, concurrency)


async def _run_httpx2(client: httpx2.AsyncClient, total: int, concurrency: int) -> tuple[float, float]:
    body = {**CANONICAL, "model": "m"}
    async with client:

        async def send() -> object:
            response = await client.post("/chat/completions", json=body)
            return response.json()

        await drive(send, max(20, concurrency), concurrency)
        return await drive(send, total, concurrency)


def _pool(concurrency: int) -> httpx2.Limits:
    return httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


async def run_httpx2_tuned(url: str, total: int, concurrency: int) -> tuple[float, float]:
    """httpx2 (what openai 3.x and anthropic 2.x sit on) with its pool sized to the concurrency."""
    client = httpx2.AsyncClient(base_url=url + "/v1", timeout=60, limits=_pool(concurrency))
    return await _run_httpx2(client, total, concurrency)


async def run_httpx2_aiohttp(url: str, total: int, concurrency: int) -> tuple[float, float]:
    """httpx2 over its aiohttp transport (the openai SDK's `DefaultAioHttpClient`), pool tuned too."""
    client = openai.DefaultAioHttpClient(base_url=url + "/v1", timeout=60, limits=_pool(concurrency))
    return await _run_httpx2(client, total, concurrency)


async def run_aiohttp(url: str, total: int, concurrency: int) -> tuple[float, float]:
    """A tuned aiohttp session (pooled keep-alive connections, no cookies), for comparison."""
    body = orjson.dumps({**CANONICAL, "model": "m"})
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def send() -> object:
            async with session.post(
                url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
            ) as response:
                return orjson.loads(await response.read())

        await drive(send, max(20, concurrency), concurrency)
        return await drive(send, total, concurrency)


def report(name: str, concurrency: int, total: int, wall: float, cpu: float) -> None:
    rate = total / wall
    cpu_per_request = cpu / total
    bound = min(concurrency / LATENCY_S, 1 / cpu_per_request)
    latency_bound = concurrency / LATENCY_S
    print(
        f"{name} concurrency {concurrency}: {rate:,.0f} req/s = {100 * rate / bound:.0f}% of the bound "
        f"{bound:,.0f} req/s ({100 * rate / latency_bound:.0f}% of concurrency / 50 ms); "
        f"client CPU {1000 * cpu_per_request:.2f} ms/request"
    )


def median_cpu(url: str, concurrency: int, rounds: int = 7, total: int = 1000) -> None:
    """The engine's client CPU per request, streamed and not, as the median of interleaved runs.

    One run's figure moves by up to ±20% with the machine's other load; interleaving the two kinds
    and taking medians keeps them comparable.
    """
    figures: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for stream in (True, False):
            _, cpu = asyncio.run(run_engine(url, total, concurrency, stream=stream))
            figures[stream].append(1000 * cpu / total)
    for stream, values in figures.items():
        kind = "streamed" if stream else "non-streamed"
        spread = ", ".join(f"{v:.2f}" for v in sorted(values))
        print(
            f"engine client CPU per {kind} request, median of {rounds} runs at concurrency {concurrency}: "
            f"{statistics.median(values):.2f} ms (runs: {spread})"
        )


def main() -> None:
    server, url = start_simulator(fixed_latency_ms=50)
    try:
        for concurrency in (16, 64):
            median_cpu(url, concurrency=concurrency)
        for concurrency in (1, 16, 64, 256):
            total = 200 if concurrency == 1 else 2000
            runners = (
                ("bakeoff providers (own HTTP client)", run_bakeoff),
                ("bakeoff engine (dispatch + stream + rows)", run_engine),
                ("bakeoff engine (dispatch + stream + 3 metrics + rows)", run_scored_engine),
                ("aiohttp.ClientSession", run_aiohttp),
                ("naive httpx.AsyncClient", run_httpx),
                ("httpx2.AsyncClient, pool tuned", run_httpx2_tuned),
                ("httpx2 over aiohttp (openai.DefaultAioHttpClient), pool tuned", run_httpx2_aiohttp),
            )
            for name, runner in runners:
                wall, cpu = asyncio.run(runner(url, total, concurrency))
                report(name, concurrency, total, wall, cpu)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
