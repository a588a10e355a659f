"""Sampling and filtered queries on 1M events, next to a naive full-row ORDER BY random() baseline and
to each strategy with the key it had before migration 10 (a seeded hash of every id).

Run: python bench/bench_collector_sampling.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from bakeoff.collector import sampling
from bakeoff.collector.rows import EVENT_SCHEMA
from bakeoff.collector.sampling import SampleKey, SampleSpec, draw
from bakeoff.collector.store import Store

TAGS = ["support", "extraction", "math", "billing", "search"]
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku", "claude-sonnet"]


def synthetic_table(start: int, count: int) -> pa.Table:
    """`count` events of ~1 KB with varied tags, models, statuses and times (built as columns)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = range(start, start + count)
    body = '{"request": {"messages": [{"role": "user", "content": "' + "x" * 900 + '"}]}}'
    columns = {
        "id": [f"ev-{i}" for i in ids],
        "project": ["default"] * count,
        "ts": [base + timedelta(seconds=i) for i in ids],
        "provider": ["openai"] * count,
        "api": ["chat.completions"] * count,
        "model": [MODELS[i % 4] for i in ids],
        "status": ["error" if i % 50 == 0 else "ok" for i in ids],
        "error_type": [None] * count,
        "error_status": [None] * count,
        "latency_ms": [float(100 + i % 3000) for i in ids],
        "ttft_ms": [None] * count,
        "stream": [False] * count,
        "input_tokens": [400] * count,
        "output_tokens": [60] * count,
        "tags": [[TAGS[(i * 7) % 5]] for i in ids],
        "source": ["sdk"] * count,
        "prompt_hash": [i % 50_000 for i in ids],
        "received_at": [base] * count,
        "trace_id": [None] * count,
        "span_id": [None] * count,
        "body": [body] * count,
        "init_tags": [0] * count,
    }
    return pa.table(columns, schema=EVENT_SCHEMA)


def timed(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def draw_hashing_ids(cursor: duckdb.DuckDBPyConnection, spec: SampleSpec) -> object:
    """The same draw with the key of before migration 10 (a seeded hash of every id), for comparison."""
    stored = sampling.sample_key
    sampling.sample_key = lambda cursor, seed: SampleKey(f"hash(id, {int(seed)})", stored=False)
    try:
        return draw(cursor, spec)
    finally:
        sampling.sample_key = stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.duckdb"))
        for start in range(0, args.events, 100_000):
            store.insert_events(synthetic_table(start, min(100_000, args.events - start)))
        cursor = store.cursor()
        print(f"events: {store.count_events():,}")
        naive = timed(
            lambda: cursor.execute(
                "SELECT * EXCLUDE (ts, received_at) FROM events ORDER BY random() LIMIT 1000"
            ).fetchall(),
            3,
        )
        print(f"baseline full-row ORDER BY random() LIMIT 1000: {naive:.0f} ms")
        for name, spec in [
            ("random 1,000", SampleSpec("random", 1000, seed=1)),
            ("stratified by tag 1,000", SampleSpec("stratified", 1000, by="tag", seed=1)),
            (
                "stratified by model 1,000 (equal)",
                SampleSpec("stratified", 1000, by="model", allocation="equal"),
            ),
            (
                "random 1,000 of tag=math, model=gpt-4o",
                SampleSpec("random", 1000, filters={"tag": "math", "model": "gpt-4o"}),
            ),
            ("diverse 1,000", SampleSpec("diverse", 1000, seed=1)),
            ("errors 1,000", SampleSpec("errors", 1000, seed=1)),
            ("recent 1,000", SampleSpec("recent", 1000, seed=1)),
        ]:
            ms = timed(lambda spec=spec: draw(cursor, spec))
            before = timed(lambda spec=spec: draw_hashing_ids(cursor, spec))
            print(
                f"sample {name}: {ms:.0f} ms ({naive / ms:.1f}x faster than the baseline; "
                f"{before / ms:.1f}x faster than hashing every id, {before:.0f} ms)"
            )
        query = timed(lambda: store.query_events({"tag": "math", "model": "gpt-4o", "status": "ok"}, 100, 0))
        print(f"filtered query (tag, model, status; first 100 + total): {query:.0f} ms")
        # As the README's init(tags=["prod"]) records them: one tag on every event, given to init.
        cursor.execute("UPDATE events SET tags = list_prepend('prod', tags), init_tags = 1")
        spec = SampleSpec("stratified", 1000, by="tag", seed=1)
        ms = timed(lambda: draw(cursor, spec))
        before = timed(lambda: draw_hashing_ids(cursor, spec))
        print(
            f"sample stratified by tag 1,000, init tag on every event: {ms:.0f} ms "
            f"({naive / ms:.1f}x faster than the baseline; {before / ms:.1f}x faster than hashing every id)"
        )
        store.close()


if __name__ == "__main__":
    main()
