"""Traffic monitors over a store of 1M events (30 days): one incremental tick of 20 monitors, a backtest of
30 days of 5-minute windows, and ingest throughput with the monitors running beside ingest vs without.

Baselines, measured in the same run: for the backtest, one scan of the store aggregating every event by
window (what any backtest must read at least), and the same backtest asking each monitor alone (one
query per monitor and question, as before monitors shared their queries); for the tick, the first tick
(a catch-up over its 7 days of backfill); for ingest, the same collector on the same data without
`--monitors`, and a third arm without them again (the A/A control). Ingest runs in rounds, each arm
once a round on a fresh copy of the store, the order going through every permutation; each is measured
in steady state (after a warm-up, and with monitors once their catch-up tick is done), as the
collector's CPU time per event (every thread, the monitors' too: the primary reading), events per
second acknowledged and events per second until committed. Each figure is printed as the ratio with
the arm without monitors of its round, beside the A/A control's ratio, which is what noise alone gives. The
events' `ts` advance 0.5 s per event, so event time runs ~1,000 times faster than the wall clock and
every tick (one a second by default, `--tick`, where the collector's default is 30 s) has windows to
process: a harder load than live traffic. With `--together` the three arms of a round run at the same time,
each collector loaded by its own clients over the same seconds, so the machine's other work (this one is
shared) falls on every arm alike instead of on whichever ran while it happened.

Run: python bench/bench_monitors.py [--events 1000000] [--batches 600] [--rounds 12] [--skip-ingest]
     [--together]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_collector_ingest import load, wait_healthy

from bakeoff.collector.monitors import scans
from bakeoff.collector.monitors.runner import TrafficRunner, backtest
from bakeoff.collector.store import Store
from bakeoff.monitor_config import parse_monitoring

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 30
TAGS = [f"t{i}" for i in range(5)]
WARM_UP = 20  # batches posted before measuring ingest
SIGNALS = {"error_rate": 0.01, "latency_p95_ms": 100.0, "ttft_p95_ms": 30.0, "feedback": 0.05}


def monitors_yaml(alerts_file: str) -> dict[str, object]:
    monitors = [
        {"name": f"{tag}-{signal}", "filters": {"tag": tag}, "signal": signal, "min_change": change}
        | ({"direction": "down"} if signal == "feedback" else {})
        for tag in TAGS
        for signal, change in SIGNALS.items()
    ]
    return {"monitors": monitors, "alerts": {"sinks": [{"file": alerts_file}]}}


def fill(
    store: Store, events: int, first: int = 0, start: datetime = START, span_s: float = DAYS * 86400
) -> None:
    """`events` events spread evenly over `span_s` from `start`, in ts order; feedback on one in ten."""
    step_us = int(span_s * 1e6 / events)
    store.connection.execute(
        f"""
        INSERT INTO events (id, project, ts, provider, api, model, status, latency_ms, ttft_ms, stream,
                            input_tokens, output_tokens, tags, source, prompt_hash, received_at, body)
        SELECT 'e' || (i + {first}), 'bench', ?::TIMESTAMPTZ + to_microseconds(i * {step_us}), 'openai',
               'chat.completions', 'gpt-a', CASE WHEN random() < 0.01 THEN 'error' ELSE 'ok' END,
               exp(6.3 + 0.33 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())),
               exp(5.1 + 0.33 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())),
               true, 100, CAST(180 + 40 * random() AS INTEGER),
               ['t' || ((i + {first}) % 5)], 'import', 0, now(), '{{}}'
        FROM range({events}) r(i)
        """,
        [start],
    )
    store.connection.execute(
        "INSERT INTO feedback SELECT id, random(), NULL, ts + INTERVAL 1 SECOND FROM events "
        f"WHERE hash(id) % 10 = 0 AND id >= 'e{first}' AND ts >= ?",
        [start],
    )


def timed(function: object, *args: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)  # type: ignore[operator]
    return time.perf_counter() - started, result


def bench_store(folder: str, events: int) -> str:
    path = os.path.join(folder, "bench.duckdb")
    config = parse_monitoring(monitors_yaml(os.path.join(folder, "alerts.jsonl")))
    store = Store(path)
    try:
        fill_s, _ = timed(fill, store, events)
        print(f"store: {events:,} events over {DAYS} days written in {fill_s:.1f} s")
        scan_s, _ = timed(
            lambda: (
                store.cursor()
                .execute(
                    "SELECT floor(epoch(ts) / 300) AS w, count(*), avg(latency_ms) FROM events GROUP BY w"
                )
                .fetchall()
            )
        )
        backtest_s, alerts = timed(backtest, store, config)
        shared, scans.MAX_MEMBERS = scans.MAX_MEMBERS, 1  # every monitor asked alone, as before
        try:
            alone_s, alone = timed(backtest, store, config)
        finally:
            scans.MAX_MEMBERS = shared
        assert alone == alerts
        print(f"backtest of 20 monitors, {DAYS} days of 5-minute windows: {backtest_s:.2f} s")
        print(f"backtest baseline, one scan aggregating by window: {scan_s:.3f} s")
        print(
            f"backtest / one scan: {backtest_s / scan_s:.1f}x; alerts raised on null traffic: {len(alerts)}"
        )
        print(f"backtest baseline, one query per monitor and question: {alone_s:.2f} s")
        print(f"backtest / one query per monitor: {backtest_s / alone_s:.2f}")
        runner = TrafficRunner(store, config)
        catch_up_s, _ = timed(runner.tick)
        # the next ten minutes of traffic, then a tick as the collector's monitor thread runs it
        fill(store, 1200, first=events, start=START + timedelta(days=DAYS), span_s=600)
        tick_s, _ = timed(runner.tick)
    finally:
        store.close()
    print(f"tick of 20 monitors after 10 new minutes, over {events + 1200:,} events: {tick_s * 1000:.0f} ms")
    print(f"tick baseline, the first tick (7 days of catch-up): {catch_up_s * 1000:.0f} ms")
    print(f"tick / first tick: {tick_s / catch_up_s:.3f}")
    return path


def make_batches(count: int, start: datetime) -> list[bytes]:
    """Batches of 100 events, ts advancing 0.5 s per event past the store's history."""
    batches = []
    for b in range(count):
        events = [
            {
                "id": f"live-{b}-{i}",
                "ts": (start + timedelta(seconds=0.5 * (100 * b + i))).isoformat().replace("+00:00", "Z"),
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-a",
                "tags": [TAGS[i % 5]],
                "latency_ms": 600.0 + i,
                "status": "error" if i == 0 else "ok",
                "request": {"messages": [{"role": "user", "content": "lorem ipsum " * 100}]},
                "usage": {"input_tokens": 400, "output_tokens": 60},
            }
            for i in range(100)
        ]
        batches.append(orjson.dumps({"events": events}))
    return batches


def _cpu_s(pid: int) -> float:
    """User and system CPU time of a process, all its threads (from /proc)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=60) as response:
        result: dict[str, object] = orjson.loads(response.read())
        return result


def _wait_stored(url: str, events: int) -> None:
    """Until the store holds `events` events (the acknowledged ones committed)."""
    while int(_get(url + "/healthz").get("events") or 0) < events:  # type: ignore[call-overload]
        time.sleep(0.02)


def _wait_watching(url: str) -> None:
    """Until the monitors' first tick (their catch-up over the backfill) is done."""
    for _ in range(3000):
        monitors = _get(url + "/v1/monitors")["monitors"]
        if all(m["status"] in ("watching", "firing") for m in monitors):  # type: ignore[attr-defined]
            return
        time.sleep(0.1)
    raise RuntimeError("the monitors did not start watching")


def _start(db: str, folder: str, tick: float | None, port: int) -> subprocess.Popen[bytes]:
    """`bakeoff serve` on `db`, with the 20 monitors ticking every `tick` seconds unless it is None."""
    command = [sys.executable, "-m", "bakeoff.cli", "serve", "--db", db, "--port", str(port)]
    if tick is not None:
        config = os.path.join(folder, "monitors.yaml")
        with open(config, "wb") as file:
            file.write(orjson.dumps(monitors_yaml(os.path.join(folder, "live-alerts.jsonl"))))  # JSON is YAML
        command += ["--monitors", config, "--monitor-interval", repr(tick)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _warm(url: str, warm: list[bytes], stored: int, monitors: bool) -> None:
    """Warm-up batches stored (they build the id filter over the stored events, in every arm), and the
    monitors' first tick (the 7-day catch-up) done: what follows is steady state."""
    wait_healthy(url)
    asyncio.run(load(url, warm, 4))
    _wait_stored(url, stored + 100 * len(warm))
    if monitors:
        _wait_watching(url)


async def _measured(url: str, pid: int, batches: list[bytes], stored: int, clients: int) -> Reading:
    """`batches` posted by `clients` concurrent clients, until all are stored (committed)."""
    cpu = _cpu_s(pid)
    elapsed, latencies = await load(url, batches, clients)
    acknowledged = time.perf_counter()
    await asyncio.to_thread(_wait_stored, url, stored)  # off the loop: the other arms' clients go on
    committed_s = elapsed + (time.perf_counter() - acknowledged)
    cpu = _cpu_s(pid) - cpu
    events = 100 * len(latencies)
    return cpu * 1e6 / events, events / elapsed, events / committed_s


Reading = tuple[float, float, float]  # collector CPU µs per event, events/s acknowledged, until committed


def ingest_rate(
    db: str, folder: str, batches: list[bytes], tick: float | None, port: int, stored: int
) -> Reading:
    """One arm alone, in steady state (see `_warm`); monitors tick every `tick` seconds unless None."""
    server = _start(db, folder, tick, port)
    try:
        warm, measured = batches[:WARM_UP], batches[WARM_UP:]
        url = f"http://127.0.0.1:{port}"
        _warm(url, warm, stored, tick is not None)
        return asyncio.run(_measured(url, server.pid, measured, stored + 100 * len(batches), 4))
    finally:
        server.terminate()
        server.wait(60)


def ingest_together(
    dbs: list[str], ticks: list[float | None], folder: str, batches: list[bytes], port: int, stored: int
) -> list[Reading]:
    """Every arm at once, each collector loaded by its own clients over the same seconds: the machine's
    other work falls on all arms alike, so their ratio carries less of it than arms run one after
    another."""
    arms = list(zip(dbs, ticks, strict=True))
    servers = [_start(db, folder, tick, port + at) for at, (db, tick) in enumerate(arms)]
    try:
        warm, measured = batches[:WARM_UP], batches[WARM_UP:]
        urls = [f"http://127.0.0.1:{port + at}" for at in range(len(dbs))]
        for url, tick in zip(urls, ticks, strict=True):
            _warm(url, warm, stored, tick is not None)

        async def every_arm() -> list[Reading]:
            total = stored + 100 * len(batches)
            pairs = zip(urls, servers, strict=True)
            runs = (_measured(url, server.pid, measured, total, 2) for url, server in pairs)
            return list(await asyncio.gather(*runs))

        return asyncio.run(every_arm())
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(60)


ARMS = ("without monitors", "with 20 monitors ticking", "without monitors again")
ORDERS = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2)]  # each arm in each place
FIGURES = ("collector CPU µs per event (every thread)", "events/s acknowledged", "events/s until committed")


def _spread(values: list[float], digits: int = 3) -> str:
    """Median, middle half and range."""
    q1, middle, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    low, high = min(values), max(values)
    return (
        f"median {middle:.{digits}f}, middle half {q1:.{digits}f}-{q3:.{digits}f}, "
        f"range {low:.{digits}f}-{high:.{digits}f}"
    )


def _interval(ratios: list[float], seed: int = 0) -> str:
    """A 90% bootstrap interval of the median of the rounds' ratios."""
    rng = np.random.default_rng(seed)
    draws = rng.choice(np.asarray(ratios), size=(10_000, len(ratios)), replace=True)
    low, high = np.quantile(np.median(draws, axis=1), [0.05, 0.95])
    return f"{low:.3f}-{high:.3f}"


def bench_ingest(
    folder: str, source: str, stored: int, batches: int, rounds: int, together: bool, tick: float
) -> None:
    """Rounds of three arms on fresh copies of the store: without monitors, with, and without again
    (the A/A control: two runs of the same thing, whose ratio shows what noise alone does). The order
    within a round goes through every permutation, so no arm always runs first or last. Every figure
    is a ratio with the arm without monitors of its own round; the CPU per event is the primary
    reading (it counts what the monitor thread costs, where a throughput on a shared 2-core machine
    mostly measures the other processes)."""
    readings: dict[int, list[tuple[float, float, float]]] = {arm: [] for arm in range(len(ARMS))}
    loads = [os.getloadavg()[0]]
    start = START + timedelta(days=DAYS, hours=1)
    load_batches = make_batches(batches, start)
    for round_ in range(rounds):
        order = ORDERS[round_ % len(ORDERS)]
        dbs = {arm: os.path.join(folder, f"ingest-{round_}-{arm}.duckdb") for arm in order}
        for db in dbs.values():
            shutil.copy(source, db)
        port = 7850 + 3 * round_
        if together:  # the order says which arm takes which port and warms up first
            dbs_in_order, ticks = [dbs[arm] for arm in order], [tick if arm == 1 else None for arm in order]
            placed = ingest_together(dbs_in_order, ticks, folder, load_batches, port, stored)
            for at, arm in enumerate(order):
                readings[arm].append(placed[at])
        else:
            for arm in order:
                readings[arm].append(
                    ingest_rate(
                        dbs[arm], folder, load_batches, tick if arm == 1 else None, port + arm, stored
                    )
                )
                loads.append(os.getloadavg()[0])
        for db in dbs.values():
            os.remove(db)
        loads.append(os.getloadavg()[0])
        cpu = [readings[arm][-1][0] for arm in range(len(ARMS))]
        print(
            f"round {round_ + 1}: CPU µs per event {cpu[0]:.1f} / {cpu[1]:.1f} / {cpu[2]:.1f} "
            f"(without / with / without again), load average {loads[-1]:.1f}",
            flush=True,
        )
    print(f"load average (1 min) during ingest: {_spread(loads, 1)}")
    mode = "at the same time" if together else "one after another"
    print(f"ingest arms run {mode}; the monitors tick every {tick:g} s")
    for at, figure in enumerate(FIGURES):
        arms = [[r[at] for r in readings[arm]] for arm in range(len(ARMS))]
        for name, values in zip(ARMS, arms, strict=True):
            print(f"ingest {name}, {figure}: {_spread(values, 1)} ({rounds} rounds)")
        with_ = [w / o for w, o in zip(arms[1], arms[0], strict=True)]
        control = [a / o for a, o in zip(arms[2], arms[0], strict=True)]
        print(f"ingest with / without monitors, {figure}: {_spread(with_)}; 90% {_interval(with_)}")
        print(f"  A/A control, without again / without: {_spread(control)}; 90% {_interval(control)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--skip-ingest", action="store_true", help="the backtest and the tick only")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between the monitors' ticks")
    parser.add_argument(
        "--together", action="store_true", help="the three ingest arms at once, not one after another"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = bench_store(folder, args.events)
        if not args.skip_ingest:
            bench_ingest(
                folder,
                path,
                args.events + 1200,
                args.batches + WARM_UP,
                args.rounds,
                args.together,
                args.tick,
            )


if __name__ == "__main__":
    main()
