"""Several collectors as one on DuckLake (PostgreSQL catalog, local data path), next to the embedded store.

1. Aggregate durable ingest: the load of `bench_collector_ingest.py` (its batches of 100 events of ~2 KB
   and its clients, 4 per collector) against the embedded store, then against 1, 2 and 3 DuckLake
   replicas on one catalog (each replica on a fresh catalog), the batches split evenly between them.
   Reported: events/s acknowledged (202: journaled), events/s until every event is committed and
   readable from every replica, and the CPU each collector process spent per event (user + system,
   over the load and the commits behind it), plus the catalog's PostgreSQL CPU per event.
2. 10M events generated straight into a lake (Arrow batches of 1M, small bodies, 30 days of traffic;
   not through HTTP), and into an embedded DuckDB file as the baseline; then one collector on each:
   `POST /v1/samples` random 1,000 (target ≤ 500 ms), and the dashboard's overview, i.e. the four calls
   `/` makes at once (`/v1/stats` and `/v1/stats/series` overall, by model, by tag; last 7 days, and
   all), target ≤ 1 s.

Run: python bench/bench_ducklake.py [--batches 600] [--events 10000000] [--skip-ingest] [--skip-big]
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import aiohttp
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "deploy"))

from bench_collector_ingest import load, make_batches, wait_healthy  # noqa: E402
from local_cluster import LocalCluster, Replica, free_port  # noqa: E402

from bakeoff.collector import rollups  # noqa: E402
from bakeoff.collector.rows import EVENT_SCHEMA  # noqa: E402
from bakeoff.collector.settings import StoreTarget  # noqa: E402
from bakeoff.collector.store import SAMPLE_KEY_SQL  # noqa: E402
from support.postgres import Cluster, start_cluster  # noqa: E402

CLIENTS_PER_COLLECTOR = 4
TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU accounting ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu(cluster: Cluster) -> float:
    """CPU of the PostgreSQL cluster: the postmaster and its children (backends, writers)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            continue  # ended meanwhile
    return total


# -- ingest ----------------------------------------------------------------------------------------------


def _count(url: str) -> int:
    # /healthz waits for this collector's acknowledged events to be committed; its count is the store's.
    with urllib.request.urlopen(url + "/healthz", timeout=120) as response:
        return int(orjson.loads(response.read())["events"])


def drive(urls: Sequence[str], batches: list[bytes]) -> tuple[int, float, float]:
    """Split `batches` evenly over `urls` and post them; return (events, seconds to the last ack,
    seconds until every collector reads every event)."""
    parts = [batches[i :: len(urls)] for i in range(len(urls))]

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(load(url, part, CLIENTS_PER_COLLECTOR) for url, part in zip(urls, parts, strict=True))
        )
        return time.perf_counter() - started

    events = 100 * len(batches)
    started = time.perf_counter()
    acked = asyncio.run(run())
    while True:  # each read barrier, then every replica's count: committed and visible everywhere
        counts = [_count(url) for url in urls]
        if all(count >= events for count in counts):
            break
        time.sleep(0.02)
    return events, acked, time.perf_counter() - started


def measure_ingest(
    name: str, pids: Callable[[], list[int]], urls: list[str], batches: list[bytes], pg: Cluster | None
) -> None:
    asyncio.run(_warm(urls))
    before = [cpu_seconds(pid) for pid in pids()]
    pg_before = postgres_cpu(pg) if pg is not None else 0.0
    events, acked, committed = drive(urls, batches)
    spent = [cpu_seconds(pid) - b for pid, b in zip(pids(), before, strict=True)]
    print(f"{name}: {events / acked:,.0f} events/s acknowledged ({events:,} events)")
    print(f"{name}: {events / committed:,.0f} events/s until all committed and readable everywhere")
    per_event = [1e6 * s / (events / len(urls)) for s in spent]
    print(f"{name}: CPU per event per collector {' '.join(f'{c:.0f}' for c in per_event)} µs")
    if pg is not None:
        print(
            f"{name}: catalog PostgreSQL CPU per event {1e6 * (postgres_cpu(pg) - pg_before) / events:.1f} µs"
        )


async def _warm(urls: Sequence[str]) -> None:
    warm = make_batches(5, f"warm-{time.monotonic_ns()}")
    await asyncio.gather(*(load(url, warm, 1) for url in urls))


def ingest_phase(folder: Path, pg: Cluster, batches_count: int) -> None:
    embedded = folder / "embedded.duckdb"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bakeoff.cli", "serve", "--db", str(embedded), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        measure_ingest(
            "embedded store", lambda: [server.pid], [url], make_batches(batches_count, "emb"), None
        )
    finally:
        server.terminate()
        server.wait(60)
    for replicas in (1, 2, 3):
        with LocalCluster(folder / f"cluster-{replicas}", replicas, postgres=pg) as cluster:
            measure_ingest(
                f"ducklake, {replicas} replica{'s' if replicas > 1 else ''}",
                lambda cluster=cluster: [r.process.pid for r in cluster.replicas if r.process],
                cluster.urls,
                make_batches(batches_count, f"dl{replicas}"),
                pg,
            )


# -- 10M events ------------------------------------------------------------------------------------------

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku", "claude-sonnet"]
PROVIDERS = ["openai", "openai", "anthropic", "anthropic"]
KINDS = ["support", "extraction", "math", "billing", "search"]
SPAN_S = 30 * 86400


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values)).cast(pa.string())


def generated(start: int, count: int, total: int, end_us: int) -> pa.Table:
    """Events `start`..`start + count` of `total`, evenly over the 30 days before `end_us`, as the
    `events` table's columns (small bodies: ~330 bytes)."""
    i = np.arange(start, start + count, dtype=np.int64)
    number = pc.cast(pa.array(i), pa.string())
    ids = pc.binary_join_element_wise("gen-", number, "")
    ts_us = end_us - SPAN_S * 1_000_000 + i * (SPAN_S * 1_000_000 // total)
    ts = pa.array(ts_us, pa.timestamp("us", tz="UTC"))
    seconds = pa.array(ts_us // 1_000_000, pa.int64()).cast(pa.timestamp("s"))  # naive: UTC text
    ts_text = pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T")
    model_index = i % 4
    model, provider = _pick(MODELS, model_index), _pick(PROVIDERS, model_index)
    kind = _pick(KINDS, i * 7 % 5)
    tenant = pc.binary_join_element_wise("tenant-", pc.cast(pa.array(i % 500), pa.string()), "")
    tags = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * count + 1, 2, dtype=np.int32)),
        pa.concat_arrays([kind, tenant]).take(pa.array(np.stack([i - start, i - start + count], 1).ravel())),
    )
    error = i % 50 == 0
    latency = (100 + i % 3000).astype(np.float64)
    output_tokens = (60 + i % 90).astype(np.int32)
    latency_text = pc.cast(pa.array(latency), pa.string())
    body = pc.binary_join_element_wise(
        '{"id":"', ids, '","ts":"', ts_text, 'Z","provider":"', provider,
        '","api":"chat.completions","model":"', model,
        '","request":{"messages":[{"role":"user","content":"question ', number,
        ' about ', kind, '"}]},"response":{"text":"answer ', number,
        '","finish_reason":"stop"},"usage":{"input_tokens":400,"output_tokens":',
        pc.cast(pa.array(output_tokens), pa.string()), '},"latency_ms":', latency_text,
        ',"status":"', pc.if_else(pa.array(error), "error", "ok"), '","tags":["', kind, '","', tenant, '"]}',
        "",
    )  # fmt: skip
    columns = {
        "id": ids,
        "project": pa.repeat("default", count),
        "ts": ts,
        "provider": provider,
        "api": pa.repeat("chat.completions", count),
        "model": model,
        "status": pc.if_else(pa.array(error), "error", "ok"),
        "error_type": pc.if_else(pa.array(error), "RateLimitError", pa.scalar(None, pa.string())),
        "error_status": pc.if_else(pa.array(error), 429, pa.scalar(None, pa.int32())),
        "latency_ms": pa.array(latency),
        "ttft_ms": pa.array(np.where(i % 3 == 0, 20 + i % 500, 0).astype(np.float64), mask=i % 3 != 0),
        "stream": pa.array(i % 3 == 0),
        "input_tokens": pa.array(np.full(count, 400, dtype=np.int32)),
        "output_tokens": pa.array(output_tokens),
        "tags": tags,
        "source": pa.repeat("sdk", count),
        "prompt_hash": pa.array((i % 50_000).astype(np.uint64)),
        "received_at": ts,
        "trace_id": pa.nulls(count, pa.string()),
        "span_id": pa.nulls(count, pa.string()),
        "body": body,
        "init_tags": pa.array(np.zeros(count, dtype=np.int32)),
    }
    missing = set(EVENT_SCHEMA.names) - set(columns)
    if missing:
        raise SystemExit(f"the events table has columns this generator does not fill: {sorted(missing)}")
    return pa.Table.from_arrays(
        [columns[name].cast(EVENT_SCHEMA.field(name).type) for name in EVENT_SCHEMA.names],
        schema=EVENT_SCHEMA,
    )


def batches_of(total: int, size: int = 1_000_000) -> Iterator[pa.Table]:
    end_us = int(time.time() * 1_000_000)
    for start in range(0, total, size):
        yield generated(start, min(size, total - start), total, end_us)


def fill(target: StoreTarget, total: int) -> float:
    """Create the store of `target` (its migrations) and write `total` generated events into its
    events table, one statement per batch; return the seconds taken."""
    store = target.open("2GB", journal=False)
    started = time.perf_counter()
    try:
        cursor = store.cursor()
        for table in batches_of(total):
            cursor.register("generated_events", table)
            try:
                cursor.execute(
                    f"INSERT INTO events BY NAME SELECT *, {SAMPLE_KEY_SQL} AS sample_key "
                    "FROM generated_events"
                )
            finally:
                cursor.unregister("generated_events")
    finally:
        store.close()
    return time.perf_counter() - started


def build_rollups(target: StoreTarget) -> float:
    """Build the overview's rollups of events written straight into the table (every minute marked,
    then folded), as the collector would over its next folds; return the seconds taken. Without it the
    overview notices the cells miss the events and answers from the events (plain-query figures)."""
    store = target.open("2GB", journal=False)
    started = time.perf_counter()
    try:
        rollups.mark_everything(store)
        rollups.fold(store)
    finally:
        rollups.stop(store)
        store.close()
    return time.perf_counter() - started


def timed(call: Callable[[], object], repeats: int = 3) -> list[float]:
    call()  # warm: the first call reads the files
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return times


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, orjson.dumps(body), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return orjson.loads(response.read())  # type: ignore[no-any-return]


def overview(url: str, span: str) -> Callable[[], None]:
    """The four requests the dashboard's overview makes at once."""
    scope = f"span={span}" if span else ""
    paths = [f"/v1/stats?{scope}", f"/v1/stats/series?{scope}"]
    paths += [f"/v1/stats/series?{scope}&by={by}" for by in ("model", "tag")]

    async def all_four() -> None:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> None:
                async with session.get(url + path) as response:
                    assert response.status == 200, (path, response.status, await response.text())
                    await response.read()

            await asyncio.gather(*(get(path) for path in paths))

    return lambda: asyncio.run(all_four())


def read_figures(name: str, url: str, total: int) -> None:
    assert _count(url) == total, _count(url)
    seeds = iter(range(1, 1000))

    def sample() -> None:
        seed = next(seeds)
        made = _post(
            url + "/v1/samples", {"name": f"bench-{seed}", "strategy": "random", "n": 1000, "seed": seed}
        )
        assert made["size"] == 1000, made

    times = timed(sample)
    print(
        f"{name}: POST /v1/samples random 1,000 of {total:,}: median {statistics.median(times):.0f} ms "
        f"(range {min(times):.0f}-{max(times):.0f}; target ≤ 500 ms)"
    )
    for label, span in (("last 7 days", "604800"), ("all", "")):
        times = timed(overview(url, span))
        print(
            f"{name}: dashboard overview ({label}, 4 calls at once) on {total:,}: median "
            f"{statistics.median(times):.0f} ms (range {min(times):.0f}-{max(times):.0f}; target ≤ 1000 ms)"
        )


def big_phase(folder: Path, pg: Cluster, total: int) -> None:
    embedded = folder / "big.duckdb"
    seconds = fill(StoreTarget(db_path=str(embedded)), total)
    print(f"embedded store: {total:,} events generated in {seconds:.0f} s")
    seconds = build_rollups(StoreTarget(db_path=str(embedded)))
    print(f"embedded store: rollups built in {seconds:.0f} s")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bakeoff.cli", "serve", "--db", str(embedded), "--port", str(port),
         "--memory-limit", "2GB"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        read_figures("embedded store", url, total)
    finally:
        server.terminate()
        server.wait(60)
    embedded.unlink()
    catalog = pg.createdb("big")
    data_path = folder / "big-data"
    data_path.mkdir()
    lake = StoreTarget("ducklake", catalog=catalog, data_path=str(data_path))
    seconds = fill(lake, total)
    files = sum(len(names) for _, _, names in os.walk(data_path))
    print(f"ducklake: {total:,} events generated in {seconds:.0f} s ({files} data files)")
    print(f"ducklake: rollups built in {build_rollups(lake):.0f} s")
    replica = Replica(
        "big", catalog, data_path, folder / "big-replica", free_port(), ["--memory-limit", "2GB"]
    )
    replica.start(timeout=300)
    try:
        read_figures("ducklake (1 replica)", replica.url, total)
    finally:
        replica.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=600, help="batches of 100 events per configuration")
    parser.add_argument("--events", type=int, default=10_000_000, help="events of the read figures")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ducklake-") as tmp:
        folder = Path(tmp)
        pg = start_cluster(folder / "postgres")
        try:
            if not args.skip_ingest:
                ingest_phase(folder, pg, args.batches)
            if not args.skip_big:
                big_phase(folder, pg, args.events)
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
