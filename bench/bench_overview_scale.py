"""The dashboard's overview at 1M and 10M events, from the rollups, against the plain queries over
`events` of the same data in the same run, on the embedded DuckDB file and on DuckLake; and ingest with
and without the rollups' marks and folds, alternating, in the same run.

1. Reads. The events of `bench_ducklake.py` (30 days of traffic, 4 models, 5 kinds and 500 tenant tags,
   written straight into each store in Arrow batches), then the rollups built from them (every minute
   marked, then folded: the time is printed; on DuckLake then a housekeeping round merges the folds'
   small files). The overview's four calls (`/v1/stats`, `/v1/stats/series`,
   by model and by tag, as the page makes them) over the last 7 days and over all history, timed in
   process from the rollups (median of `--repeats`, range) and once from the plain queries; then each
   call alone likewise (the target: each ≤ 300 ms at 1M events, the four ≤ 1 s at 10M).
2. Ingest. Batches of 100 events through the ingest pipeline (journal, applier, commits) of a fresh
   store, timed until every event is committed; with the rollups (the store marks minutes, the applier
   folds once a second) and without (marks and folds switched off), alternating, `--ingest-runs` each.

Run: python bench/bench_overview_scale.py [--events 1000000 10000000] [--stores embedded ducklake]
     [--keep DIR] [--skip-ingest] [--skip-reads]

`--keep DIR` keeps the read phase's stores (the embedded files, the lakes' data paths and their
PostgreSQL catalog cluster) in DIR; a later run with the same DIR reuses each store whose build
finished (a `.built` file beside it marks it), so a run at 10M events does not spend its first
minutes generating them again. The events' times stay those of the first build (30 days before it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_ducklake import fill, timed  # noqa: E402

from bakeoff.collector import housekeeping, overview, rollups, routes_stats  # noqa: E402
from bakeoff.collector.ingest import IngestPipeline  # noqa: E402
from bakeoff.collector.metrics import CollectorMetrics  # noqa: E402
from bakeoff.collector.settings import StoreTarget  # noqa: E402
from bakeoff.schema import validate_event  # noqa: E402
from support.ports import free_port  # noqa: E402
from support.postgres import _SETTINGS, BIN, Cluster, _as_owner, start_cluster  # noqa: E402

WEEK = 7 * 86400


def target_of(kind: str, folder: Path, pg: Cluster, name: str) -> StoreTarget:
    if kind == "embedded":
        return StoreTarget(
            db_path=str(folder / f"{name}.duckdb"), journal_dir=str(folder / f"{name}.journal")
        )
    data = folder / f"{name}-data"
    data.mkdir()
    return StoreTarget(
        "ducklake",
        catalog=pg.createdb(name),
        data_path=str(data),
        journal_dir=str(folder / f"{name}.journal"),
    )


def kept_cluster(folder: Path) -> Cluster:
    """A PostgreSQL cluster whose data stays in `folder/postgres` (started again when it is there)."""
    root = folder / "postgres"
    data, log = root / "data", root / "postgres.log"
    if not data.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster is `nobody`'s
            os.chown(root, 65534, 65534)
            root.chmod(0o700)
        initdb = [str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "bakeoff", "-E", "UTF8"]
        subprocess.run(_as_owner(initdb), check=True, capture_output=True)
    port = free_port()
    options = f"-p {port} -k {root} {_SETTINGS}"
    start = [str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
    subprocess.run(_as_owner(start), check=True, capture_output=True)
    return Cluster(data, port, log)


def kept_target(kind: str, folder: Path, pg: Cluster, name: str) -> tuple[StoreTarget, bool]:
    """The store `name` of `folder`, and whether its build finished in an earlier run; a store left
    half built is removed and made again."""
    built = folder / f"{name}.built"
    if built.exists():
        if kind == "embedded":
            target = StoreTarget(
                db_path=str(folder / f"{name}.duckdb"), journal_dir=str(folder / f"{name}.journal")
            )
        else:
            target = StoreTarget(
                "ducklake",
                catalog=pg.url(name),
                data_path=str(folder / f"{name}-data"),
                journal_dir=str(folder / f"{name}.journal"),
            )
        return target, True
    for leftover in (f"{name}.duckdb", f"{name}.duckdb.wal", f"{name}-data", f"{name}.journal"):
        path = folder / leftover
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if kind == "ducklake":
        dropdb = [str(BIN / "dropdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "bakeoff"]
        subprocess.run([*dropdb, "--if-exists", name], check=True, capture_output=True)
    return target_of(kind, folder, pg, name), False


def overview_calls(scope: routes_stats.Scope, plain: bool) -> Callable[[], None]:
    """The four calls of the page, from the rollups or (plain) from the events."""

    def rollup() -> None:
        routes_stats.stats(scope)
        routes_stats.series(scope)
        routes_stats.series(scope, None, "model", totals=False)
        routes_stats.series(scope, None, "tag", totals=False)

    def events() -> None:
        resolved = scope.resolved(routes_stats.latest(scope.store))
        routes_stats._stats_of(resolved, None)
        routes_stats._series_of(resolved, None, None, None, True)
        routes_stats._series_of(resolved, None, None, "model", False)
        routes_stats._series_of(resolved, None, None, "tag", False)

    return events if plain else rollup


def read_phase(kind: str, folder: Path, pg: Cluster, total: int, repeats: int, keep: bool) -> None:
    name = f"{kind[:4]}{total}"
    if keep:
        target, reused = kept_target(kind, folder, pg, name)
    else:
        target, reused = target_of(kind, folder, pg, name), False
    if reused:
        print(f"{kind}, {total:,} events: reusing the store built in an earlier run")
    else:
        seconds = fill(target, total)
        print(f"{kind}, {total:,} events: generated in {seconds:.0f} s")
    store = target.open("2GB")
    try:
        if not reused:
            started = time.perf_counter()
            rollups.mark_everything(store)
            folded = rollups.fold(store)
            built = time.perf_counter() - started
            print(f"{kind}, {total:,} events: rollups built in {built:.0f} s ({folded:,} minutes)")
            if kind == "ducklake":  # the folds' small files merged, as the housekeeping does every 10 min
                merged = housekeeping.run_round(store, interval_s=0, keep_s=0)
                print(f"{kind}, {total:,} events: housekeeping round {merged}")
            if keep:
                (folder / f"{name}.built").touch()
        print(f"load average before the reads: {Path('/proc/loadavg').read_text().strip()}")
        for label, span in (("last 7 days", WEEK), ("all history", None)):
            scope = routes_stats.Scope(store, span=span)
            with overview.view(store, scope.filters) as view:
                assert view is not None, "the rollups do not answer"
            fast = timed(overview_calls(scope, plain=False), repeats)
            slow = timed(overview_calls(scope, plain=True), 1)[0]
            median = statistics.median(fast)
            print(
                f"{kind}, {total:,} events, overview's four calls, {label}: {median:.0f} ms from the rollups "
                f"(range {min(fast):.0f}-{max(fast):.0f}) vs {slow:.0f} ms plain: {slow / median:.1f}x faster"
            )
        for label, span in (("last 7 days", WEEK), ("all history", None)):
            scope = routes_stats.Scope(store, span=span)
            for name, (fast_call, plain_call) in single_calls(scope).items():
                times = timed(fast_call, repeats)
                plain = timed(plain_call, 1)[0]
                median = statistics.median(times)
                print(
                    f"{kind}, {total:,} events, {name} {label}: {median:.0f} ms from the rollups "
                    f"(range {min(times):.0f}-{max(times):.0f}) vs {plain:.0f} ms plain: "
                    f"{plain / median:.1f}x faster (target ≤ 300 ms)"
                )
        print(f"load average after the reads: {Path('/proc/loadavg').read_text().strip()}")
    finally:
        rollups.stop(store)
        store.close()


def single_calls(scope: routes_stats.Scope) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """Each of the page's four calls, from the rollups and (the same-run baseline) from the events."""

    def plain(call: Callable[[routes_stats.Scope], object]) -> Callable[[], object]:
        return lambda: call(scope.resolved(routes_stats.latest(scope.store)))

    return {
        "/v1/stats": (lambda: routes_stats.stats(scope), plain(lambda s: routes_stats._stats_of(s, None))),
        "/v1/stats/series": (
            lambda: routes_stats.series(scope),
            plain(lambda s: routes_stats._series_of(s, None, None, None, True)),
        ),
        "/v1/stats/series?by=model": (
            lambda: routes_stats.series(scope, None, "model", totals=False),
            plain(lambda s: routes_stats._series_of(s, None, None, "model", False)),
        ),
        "/v1/stats/series?by=tag": (
            lambda: routes_stats.series(scope, None, "tag", totals=False),
            plain(lambda s: routes_stats._series_of(s, None, None, "tag", False)),
        ),
    }


@contextmanager
def rollups_off() -> Iterator[None]:
    """No marks and no folds (the store and the applier as they were before the rollups)."""
    saved = rollups.mark_rows, rollups.fold_due
    rollups.mark_rows = lambda *args: None  # type: ignore[assignment]
    rollups.fold_due = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        rollups.mark_rows, rollups.fold_due = saved


def batches(count: int) -> list[list[Any]]:
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        validate_event(
            {
                "id": f"ingest-{i}",
                "ts": (start + timedelta(milliseconds=37 * i)).isoformat(),
                "provider": "openai",
                "api": "chat.completions",
                "model": ["gpt-4o", "gpt-4o-mini"][i % 2],
                "tags": ["support", f"tenant-{i % 50}"],
                "request": {"messages": [{"role": "user", "content": f"question {i} " * 20}]},
                "response": {"text": f"answer {i} " * 30, "finish_reason": "stop"},
                "usage": {"input_tokens": 400, "output_tokens": 60 + i % 90},
                "latency_ms": 100.0 + i % 3000,
            }
        )
        for i in range(count)
    ]
    return [rows[i : i + 100] for i in range(0, count, 100)]


def ingest_once(kind: str, folder: Path, pg: Cluster, name: str, work: list[list[Any]]) -> float:
    """Events/s through a fresh store's pipeline until all are committed."""
    store = target_of(kind, folder, pg, name).open("1GB")
    pipeline = IngestPipeline(store, CollectorMetrics())
    try:
        started = time.perf_counter()
        futures = [pipeline.submit(batch) for batch in work]
        for future in futures:
            future.result()
        waiter = pipeline.barrier()
        if waiter is not None:
            waiter.result()
        took = time.perf_counter() - started
    finally:
        pipeline.close()
        store.close()
    return sum(len(b) for b in work) / took


def ingest_phase(kind: str, folder: Path, pg: Cluster, events: int, runs: int) -> None:
    work = batches(events)
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for run in range(runs):
        for arm in ("without", "with") if run % 2 == 0 else ("with", "without"):
            if arm == "with":
                rate = ingest_once(kind, folder, pg, f"ingest{run}{arm}", work)
            else:
                with rollups_off():
                    rate = ingest_once(kind, folder, pg, f"ingest{run}{arm}", work)
            rates[arm].append(rate)
    ratios = [w / wo for w, wo in zip(rates["with"], rates["without"], strict=True)]
    with_, without = rates["with"], rates["without"]
    print(
        f"{kind}, ingest of {events:,} events: with the rollups {statistics.median(with_):,.0f} events/s "
        f"({min(with_):,.0f}-{max(with_):,.0f}), without {statistics.median(without):,.0f} "
        f"({min(without):,.0f}-{max(without):,.0f}): {statistics.median(ratios):.2f}x "
        f"(pairs {min(ratios):.2f}-{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--stores", nargs="+", default=["embedded", "ducklake"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ingest-events", type=int, default=20_000)
    parser.add_argument("--ingest-runs", type=int, default=3)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--keep", type=Path, help="a folder to keep the read phase's stores in, reused")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overview-") as tmp:
        folder = Path(tmp)
        pg = start_cluster(folder / "postgres")
        kept = None
        if args.keep is not None and not args.skip_reads:
            args.keep.mkdir(parents=True, exist_ok=True)
            kept = kept_cluster(args.keep)
        try:
            for kind in args.stores:
                if not args.skip_ingest:
                    ingest_phase(kind, folder, pg, args.ingest_events, args.ingest_runs)
                if not args.skip_reads:
                    for total in args.events:
                        if kept is not None:
                            read_phase(kind, args.keep, kept, total, args.repeats, keep=True)
                        else:
                            read_phase(kind, folder, pg, total, args.repeats, keep=False)
        finally:
            pg.stop()
            if kept is not None:
                kept.stop()


if __name__ == "__main__":
    main()
