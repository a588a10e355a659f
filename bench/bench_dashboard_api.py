"""Server time of every API call behind a dashboard page on 1M events, beside the plain event page
(`GET /v1/events?limit=25`, the store's own query) and a plain ILIKE scan measured in the same run.

The handlers run in-process on a DuckDB file (what a request costs minus HTTP). Events are generated
by DuckDB from `range()`: ~700-byte bodies with varied prompt and answer words, 5 tags plus 5,000
tenant tags, 4 models; 20,000 feedback scores. The word index is built by the collector's indexer
(its rate is printed), then TAIL events more are added unindexed, as a running collector has them
between two rounds of its indexer: searches read them by the scan of what the index lacks. The
overview's rollups are then rebuilt from every event (marked, then folded), so that the overview calls
answer as a running collector serves them, not from the plain queries.

Run: python bench/bench_dashboard_api.py [--events 1000000] [--store PATH] [--repeats 3]

`--store PATH` keeps the built store in PATH; a later run with the same PATH and --events reuses it
(events, word index, tail, run) and only rebuilds the rollups, instead of generating and indexing again
(~6 min at 1M). A file left half built (no `bench_built` table) is built again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from bakeoff.collector import overview, rollups, routes_browse, routes_search, routes_stats, text_search
from bakeoff.collector.datasets import create_sample
from bakeoff.collector.runs import save_run
from bakeoff.collector.sampling import SampleSpec
from bakeoff.collector.store import Store

GENERATE = """
INSERT INTO events (id, project, ts, provider, api, model, status, error_type, error_status, latency_ms,
                    ttft_ms, stream, input_tokens, output_tokens, tags, source, prompt_hash, received_at,
                    trace_id, span_id, body)
SELECT 'ev-' || i, 'default', TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i * 2),
       CASE WHEN i % 4 < 2 THEN 'openai' ELSE 'anthropic' END, 'chat.completions',
       ['gpt-4o-mini', 'gpt-4o', 'claude-haiku', 'claude-sonnet'][i % 4 + 1],
       CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, NULL, NULL,
       100 + i % 3000, CASE WHEN i % 3 = 0 THEN 20 + i % 500 END, i % 3 = 0, 400, 60 + i % 90,
       [['support', 'extraction', 'math', 'billing', 'search'][i * 7 % 5 + 1], 'tenant-' || (i % 5000)],
       'sdk', i % 50000, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i * 2 + 1), NULL, NULL,
       '{"id":"ev-' || i || '","request":{"messages":[{"role":"user","content":"order '
       || (i * 7919 % 1000003) || ' customer ' || (i % 9973) || ' asks about '
       || ['refunds', 'shipping', 'invoices', 'passwords'][i % 4 + 1] || ' '
       || repeat('lorem ipsum dolor sit amet ', 16) || '"}]},"response":{"text":"answer '
       || (i * 31 % 99991) || ' ' || repeat('consectetur adipiscing elit ', 6)
       || '","tool_calls":null},"tags":[]}'
FROM range(?, ?) t(i)
"""


def timed(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()  # warm: the first call pays for reading the file
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def seed_run(store: Store) -> None:
    create_sample(store, "bench", SampleSpec("random", 1000, seed=1))
    ids = [r[0] for r in store.cursor().execute("SELECT event_id FROM dataset_rows").fetchall()]
    rows = [
        {
            "event_id": event_id,
            "provider": provider,
            "output": {"text": f"answer {n % 7}", "tool_calls": None},
            "scores": {"fuzzy": {"score": (n * (k + 3)) % 5 / 4}},
            "tags": ["math"],
        }
        for n, event_id in enumerate(ids)
        for k, provider in enumerate(["base", "cand"])
    ]
    benchmark = {"providers": ["base", "cand"], "primary_metric": "fuzzy", "metrics": {}}
    save_run(store, {"run_id": "r1", "dataset": "bench"}, benchmark, {"baseline": "base"}, rows)


FEEDBACK = """
INSERT INTO feedback SELECT 'ev-' || (i * 37 % ?), (i % 11) / 10, 'comment ' || i,
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i * 90)
FROM range(20000) t(i)
"""
TAIL = 2_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", help="a DuckDB file to keep the built store in, reused when complete")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per API call (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or os.path.join(tmp, "bench.duckdb")
        store = Store(path, memory_limit="2GB")
        if _built(store) == args.events:
            print(f"reusing {path}: {store.count_events():,} events")
            indexer = text_search.TextIndexer(store)
            if indexer.version < text_search.INDEX_VERSION:  # built by an older collector
                indexer.upgrade()
        else:
            store.close()
            for leftover in (path, path + ".wal"):  # a store left half built, or of another size
                if os.path.exists(leftover):
                    os.remove(leftover)
            store = Store(path, memory_limit="2GB")
            indexer = build(store, args.events)
        try:
            measure(store, indexer, args.repeats)
        finally:
            indexer.stop()
            rollups.stop(store)  # the folder thread the overview's reads started, before the store closes
            store.close()


def _built(store: Store) -> int | None:
    """The events a complete earlier build of this file was made for, or None."""
    try:
        row = store.cursor().execute("SELECT events FROM bench_built").fetchone()
    except duckdb.Error:
        return None
    return int(row[0]) if row else None


def build(store: Store, events: int) -> text_search.TextIndexer:
    """Generate the events, feedback and run, index them, then add TAIL events the index lacks."""
    cursor = store.cursor()
    for start in range(0, events, 250_000):
        cursor.execute(GENERATE, [start, min(start + 250_000, events)])
    cursor.execute(FEEDBACK, [events])
    cursor.execute("CHECKPOINT")
    seed_run(store)
    print(f"events: {store.count_events():,}")
    indexer = text_search.TextIndexer(store)
    started = time.perf_counter()
    while indexer.index_pending(force=True):
        pass
    indexer.compact()
    took = time.perf_counter() - started
    print(f"word index: {indexer.indexed:,} events in {took:.0f} s ({indexer.indexed / took:,.0f} events/s)")
    cursor.execute(GENERATE, [events, events + TAIL])
    cursor.execute(f"CREATE TABLE bench_built AS SELECT {int(events)} AS events")
    cursor.execute("CHECKPOINT")
    return indexer


def measure(store: Store, indexer: text_search.TextIndexer, repeats: int) -> None:
    """Time every call beside the plain page and the plain ILIKE scan, in this run."""
    cursor = store.cursor()
    # Written around the store, the events have no rollups yet: the overview would answer from the
    # events (plain queries). Rebuilt as a running collector's folds keep them, the overview calls
    # are measured as served.
    started = time.perf_counter()
    rollups.mark_everything(store)
    rollups.fold(store)
    with overview.view(store, {}) as view:
        served = "from the rollups" if view is not None else "from the events (rollups not usable)"
    print(f"rollups: rebuilt in {time.perf_counter() - started:.0f} s; the overview answers {served}")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    plain = timed(lambda: store.query_events({}, 25, 0), repeats)
    print(f"baseline GET /v1/events?limit=25 (plain page + total): {plain:.0f} ms")
    ilike = "SELECT count(*) FROM events WHERE body ILIKE '%customer 4242 %'"
    scan = timed(lambda: cursor.execute(ilike).fetchall(), repeats)
    print(f"baseline plain ILIKE count over every body: {scan:.0f} ms")
    week = 7 * 86400
    whole = routes_stats.Scope(store)

    def search(q: str, **filters: str) -> object:
        return routes_search.search_events(store, indexer, filters, q)

    calls: list[tuple[str, Callable[[], object]]] = [
        ("GET /v1/stats (all 1M)", lambda: routes_stats.stats(whole)),
        ("GET /v1/stats?span=7d", lambda: routes_stats.stats(routes_stats.Scope(store, span=week))),
        ("GET /v1/stats/series (all, auto bucket)", lambda: routes_stats.series(whole)),
        (
            "GET /v1/stats/series?by=model&totals=false",
            lambda: routes_stats.series(whole, None, "model", totals=False),
        ),
        (
            "GET /v1/stats/series?by=tag&totals=false",
            lambda: routes_stats.series(whole, None, "tag", totals=False),
        ),
        ("GET /v1/search (no text, newest 25 + total)", lambda: search("")),
        ("GET /v1/search?q=customer 4242", lambda: search("customer 4242 ")),
        (
            "GET /v1/search?q=refunds&model=gpt-4o&tag=math",
            lambda: search("refunds", model="gpt-4o", tag="math"),
        ),
        ("GET /v1/search?q=refunds&tag=tenant-40", lambda: search("refunds", tag="tenant-40")),
        ("GET /v1/search?q=refunds&tag=math", lambda: search("refunds", tag="math")),
        ("GET /v1/search?tag=math (no text, 200k matches)", lambda: search("", tag="math")),
        ("GET /v1/search?tag=tenant-40 (no text)", lambda: search("", tag="tenant-40")),
        ("GET /v1/search?q=shipping (250k matches)", lambda: search("shipping")),
        (
            "GET /v1/facets/tag?q=tenant-42",
            lambda: routes_search.facet_values(store, indexer, "tag", "tenant-42"),
        ),
        ("GET /v1/facets/tag (top tags)", lambda: routes_search.facet_values(store, indexer, "tag")),
        ("GET /v1/facets/model", lambda: routes_search.facet_values(store, indexer, "model")),
        ("GET /v1/datasets/bench/rows?limit=50", lambda: routes_browse.dataset_rows("bench", store)),
        ("GET /v1/runs/r1/answers (1,000 pairs)", lambda: routes_browse.run_answers("r1", store)),
        (
            "GET /v1/runs/r1/answers?outcome=lost&tag=math",
            lambda: routes_browse.run_answers("r1", store, outcome="lost", tag="math"),
        ),
    ]
    for name, call in calls:
        ms = timed(call, repeats)
        versus = f", {ms / scan:.2f}x the ILIKE scan" if "?q=" in name else ""
        print(f"{name}: {ms:.0f} ms ({ms / plain:.1f}x the plain page{versus})")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
