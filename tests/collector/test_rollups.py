"""The overview from the rollups equals the plain queries over `events`, on both stores, through late
events, feedback before and after its event, OTLP joins that fill tokens in, retention and restarts;
quantiles within the stated bound of DuckDB's exact `quantile_disc` on the same data."""

from __future__ import annotations

import itertools
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bakeoff.collector import housekeeping, overview, rollups, routes_stats
from bakeoff.collector.ducklake import DuckLakeStore
from bakeoff.collector.errors import ClientError
from bakeoff.collector.otlp_join import LogJoin
from bakeoff.collector.otlp_logs import LogPart
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store
from bakeoff.schema import Event, validate_event
from support.postgres import DuckLakeTarget
from support.stores import open_test_store

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 3
MODELS = [("openai", "gpt-a"), ("openai", "gpt-b"), ("anthropic", "claude-c")]
TAGS = ["support", "math", "billing", "tenant-1", "tenant-2"]
QUANTILE_KEYS = ("p50_ms", "p95_ms", "ttft_p50_ms")


def random_events(rnd: random.Random, prefix: str, count: int, days: float = DAYS) -> list[Event]:
    rows = []
    for i in range(count):
        provider, model = rnd.choice(MODELS)
        ts = START + timedelta(microseconds=rnd.randrange(int(days * 86400e6)))
        rows.append(
            {
                "id": f"{prefix}-{i}",
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "provider": provider,
                "api": "chat.completions",
                "model": model,
                "project": rnd.choice(["default", "default", "other"]),
                "tags": rnd.sample(TAGS, rnd.randrange(0, 3)),
                "request": {"messages": [{"role": "user", "content": f"q {i}"}]},
                "response": {"text": "a", "finish_reason": "stop"},
                "usage": {
                    "input_tokens": rnd.choice([None, rnd.randrange(1, 500)]),
                    "output_tokens": rnd.choice([None, rnd.randrange(1, 200), rnd.randrange(1, 200)]),
                },
                "latency_ms": rnd.choice([0.0, rnd.lognormvariate(6, 1), rnd.lognormvariate(6, 1)]),
                "ttft_ms": rnd.choice([None, rnd.uniform(5, 400)]),
                "status": "error" if rnd.random() < 0.2 else "ok",
            }
        )
    return [validate_event(row) for row in rows]


def feedback(store: Store, rnd: random.Random, event_ids: list[str]) -> None:
    now = datetime.now(UTC)
    store.insert_feedback(
        pa.table(
            {
                "event_id": event_ids,
                "score": [round(rnd.random(), 3) for _ in event_ids],
                "comment": [f"c{i}" for i in range(len(event_ids))],
                "ts": [now + timedelta(seconds=i) for i in range(len(event_ids))],
            }
        )
    )


def plain(scope: routes_stats.Scope) -> routes_stats.Scope:
    return scope.resolved(routes_stats.latest(scope.store))


def exact_quantiles(store: Store, where: str, params: list[Any], group: str) -> dict[Any, tuple[Any, ...]]:
    rows = (
        store.cursor()
        .execute(
            f"SELECT {group} AS g, quantile_disc(latency_ms, 0.5), quantile_disc(latency_ms, 0.95), "
            f"quantile_disc(ttft_ms, 0.5) FROM events WHERE {where} GROUP BY g",
            params,
        )
        .fetchall()
    )
    return {row[0]: row[1:] for row in rows}


def assert_close(estimate: float | None, exact: float | None) -> None:
    if exact is None or estimate is None:
        assert estimate == exact
    elif exact == 0:
        assert estimate == 0
    else:
        assert abs(estimate / exact - 1) <= rollups.QUANTILE_ERROR + 1e-12, (estimate, exact)


def without_quantiles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in QUANTILE_KEYS} for row in rows]


def rounded(value: Any) -> Any:
    """`value` with its floats to 10 significant digits: sums in another order differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def random_scope(store: Store, rnd: random.Random) -> routes_stats.Scope:
    def moment() -> datetime:
        return START + timedelta(
            microseconds=rnd.randrange(int((DAYS + 0.5) * 86400e6)) - int(0.25 * 86400e6)
        )

    since, until, span = None, None, None
    kind = rnd.choice(["all", "since", "until", "both", "span", "aligned"])
    if kind in ("since", "both"):
        since = moment()
    if kind in ("until", "both"):
        until = moment()
    if kind == "span":
        span = rnd.choice([3600, 86400, 7 * 86400, rnd.randrange(60, 86400)])
    if kind == "aligned":  # whole hours and days: the cells alone
        since = START + timedelta(hours=rnd.randrange(0, 24))
        until = since + timedelta(days=rnd.randrange(1, 3))
    if since is not None and until is not None and since >= until:
        since, until = until, since
    provider, model = rnd.choice([(None, None), (None, None), *MODELS])
    return routes_stats.Scope(
        store,
        since=since,
        until=until,
        span=span,
        model=model if rnd.random() < 0.5 else None,
        provider=provider,
        status=rnd.choice([None, None, "ok", "error"]),
        project=rnd.choice([None, None, "default", "other"]),
    )


def check_stats(store: Store, scope: routes_stats.Scope) -> None:
    got = routes_stats.stats(scope)
    base = plain(scope)
    want = routes_stats._stats_of(base, None)
    assert rounded(without_quantiles(got["models"])) == rounded(without_quantiles(want["models"]))
    assert rounded({k: v for k, v in got.items() if k != "models"}) == rounded(
        {k: v for k, v in want.items() if k != "models"}
    )
    where, params = base.where()
    exact = exact_quantiles(store, where, params, "provider || '/' || model")
    for row in got["models"]:
        for key, value in zip(QUANTILE_KEYS, exact[f"{row['provider']}/{row['model']}"], strict=True):
            assert_close(row[key], value)


def check_series(store: Store, scope: routes_stats.Scope, bucket: int | None, by: str | None) -> None:
    try:
        want = routes_stats._series_of(plain(scope), None, bucket, by, True)
    except ClientError:
        with pytest.raises(ClientError):
            routes_stats.series(scope, bucket, by)
        return
    got = routes_stats.series(scope, bucket, by)
    assert rounded(without_quantiles(got["points"])) == rounded(without_quantiles(want["points"]))
    assert rounded({k: v for k, v in got.items() if k != "points"}) == rounded(
        {k: v for k, v in want.items() if k != "points"}
    )
    where, params = plain(scope).where()
    exact = exact_quantiles(store, where, params, routes_stats.bucket_expression(want["bucket_s"]))
    for point in got["points"]:
        for key, value in zip(QUANTILE_KEYS, exact[point["t"]], strict=True):
            assert_close(point[key], value)


def check(store: Store, rnd: random.Random, scopes: int = 8) -> None:
    """The overview's calls on random scopes and buckets, from the rollups and from the events."""
    for _ in range(scopes):
        scope = random_scope(store, rnd)
        check_stats(store, scope)
        check_series(store, scope, rnd.choice([None, None, 60, 300, 3600, 86400, 7 * 86400]), None)
        check_series(store, scope, None, rnd.choice(["model", "tag"]))


def marks(store: Store) -> int:
    (count,) = store.cursor().execute(f"SELECT count(*) FROM {rollups.OPEN_MARKS}").fetchone() or (0,)
    return int(count)


def fill_tokens(store: Store, event_ids: list[str]) -> None:
    """OTLP log records that fill in the input tokens of `event_ids`, joined into the stored events."""
    join = LogJoin(store)
    parts = [
        LogPart(f"r-{event_id}", event_id, "gen_ai.details", 1, 0, {"kind": "details", "input_tokens": 777})
        for event_id in event_ids
    ]
    join.store_records(parts)
    assert join.fold_stored(event_ids) == len(event_ids)


def test_the_rollups_follow_every_change_of_the_events(
    store_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(17)
    monkeypatch.setattr(rollups, "fold_due", lambda store: None)  # folds only where the test calls them
    db = tmp_path / "rollups.duckdb"
    store = open_test_store(db)
    try:
        first = random_events(rnd, "a", 1500)
        store.insert_events(to_columns(first, "sdk", START))
        feedback(store, rnd, [e.id for e in first[:40]] + ["late-3", "late-7", "nowhere"])
        rollups.fold(store)  # as the folder thread does behind ingest
        check(store, rnd)
        rollups.fold(store)
        assert marks(store) == 0

        # Late events (days in the past), not folded: readers take marked minutes from the events.
        late = random_events(rnd, "late", 60, days=1)
        store.insert_events(to_columns(late, "sdk", START))
        assert 0 < marks(store) <= overview.MAX_MARKED
        check(store, rnd, scopes=6)
        feedback(store, rnd, [e.id for e in late[10:20]])
        no_tokens = [e.id for e in first if e.usage.input_tokens is None][:15]
        fill_tokens(store, no_tokens)
        check(store, rnd, scopes=6)
    finally:
        store.close()

    # A restart with marks left: the reopened store's folds take them.
    store = open_test_store(db)
    try:
        assert marks(store) > 0
        check(store, rnd, scopes=4)
        rollups.fold(store)
        assert marks(store) == 0
        cutoff = START + timedelta(hours=17, minutes=31, seconds=7, microseconds=5)
        assert store.delete_older_than(cutoff) > 0
        assert marks(store) > 0  # the minutes it deleted from, answered from the events until folded
        assert routes_stats.stats(routes_stats.Scope(store))["total"] == store.count_events()
        rollups.fold(store)
        check(store, rnd)
        (count,) = (
            store.cursor().execute("SELECT sum(calls) FROM rollup_cells WHERE width = 86400").fetchone()
        )
        assert count == store.count_events()
    finally:
        store.close()


def test_quantiles_from_the_histograms_are_within_the_bound(store_kind: str, tmp_path: Path) -> None:
    """Heavy tails, ties and zeros: p50/p95 from the bins against `quantile_disc` per model and hour."""
    rnd = random.Random(5)
    store = open_test_store(tmp_path / "quantiles.duckdb")
    try:
        events = random_events(rnd, "q", 4000, days=1)
        for i, event in enumerate(events):  # a Pareto tail and repeated values
            event.latency_ms = [1.0, 1.0, 250.0, 10 * rnd.paretovariate(1.2), rnd.uniform(0, 5)][i % 5]
        store.insert_events(to_columns(events, "sdk", START))
        rollups.fold(store)
        scope = routes_stats.Scope(store)
        check_stats(store, scope)
        check_series(store, scope, 3600, None)
        worst = 0.0
        got = routes_stats.stats(scope)
        exact = exact_quantiles(store, "TRUE", [], "provider || '/' || model")
        for row in got["models"]:
            for key, value in zip(QUANTILE_KEYS, exact[f"{row['provider']}/{row['model']}"], strict=True):
                worst = max(worst, abs(row[key] / value - 1) if value else 0.0)
        assert 0 < worst <= rollups.QUANTILE_ERROR < 0.01  # binned, not exact, and within ~1%
    finally:
        store.close()


def test_a_tag_filter_and_odd_buckets_take_the_plain_query(store_kind: str, tmp_path: Path) -> None:
    rnd = random.Random(3)
    store = open_test_store(tmp_path / "plain.duckdb")
    try:
        store.insert_events(to_columns(random_events(rnd, "p", 300, days=0.2), "sdk", START))
        scope = routes_stats.Scope(store, tag="math")
        assert not overview.answers(scope.filters) and not overview.answers({}, 90)
        got, want = routes_stats.stats(scope), routes_stats._stats_of(plain(scope), None)
        assert got == want and got["total"] == sum("math" in e for e in _tags(store))
        series = routes_stats.series(routes_stats.Scope(store), 90)
        assert series == routes_stats._series_of(plain(routes_stats.Scope(store)), None, 90, None, True)
    finally:
        store.close()


def _tags(store: Store) -> list[list[str]]:
    return [row[0] or [] for row in store.cursor().execute("SELECT tags FROM events").fetchall()]


def test_marked_minutes_cover_what_is_not_folded(store_kind: str) -> None:
    """The cover: cells only where no marked minute lies, events for the rest and the edges."""
    minute = rollups.bucket_start(int(START.timestamp()) + 7 * 3600 + 1234, 60)
    since = overview.micros(START) + 17
    until = overview.micros(START + timedelta(days=2)) - 5
    piece = overview.cover(since, until, [60, 3600, 86400], [minute])
    spans = [(w, lo * 10**6, hi * 10**6) for w, lo, hi in piece.cells if lo is not None and hi is not None]
    assert all(lo % (w * 10**6) == rollups.ORIGIN_S * 10**6 % (w * 10**6) for w, lo, _ in spans)
    covered = sorted([(lo, hi) for _, lo, hi in spans] + [(lo, hi) for lo, hi in piece.events])  # type: ignore[misc]
    assert covered[0][0] == since and covered[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # no gap, no overlap
    assert (minute * 10**6, (minute + 60) * 10**6) in piece.events
    assert not any(lo <= minute * 10**6 < hi for _, lo, hi in spans)


def test_events_written_around_the_store_are_noticed_and_folded(store_kind: str, tmp_path: Path) -> None:
    """A bulk load straight into `events` (no marks): the overview answers from the events, marks
    every minute, and answers from the rebuilt cells after the next fold."""
    rnd = random.Random(11)
    store = open_test_store(tmp_path / "around.duckdb")
    try:
        store.insert_events(to_columns(random_events(rnd, "in", 200, days=0.5), "sdk", START))
        cursor = store.cursor()
        cursor.register("bulk", to_columns(random_events(rnd, "bulk", 300, days=0.5), "sdk", START))
        cursor.execute("INSERT INTO events BY NAME SELECT * FROM bulk")
        cursor.unregister("bulk")
        scope = routes_stats.Scope(store)
        assert routes_stats.stats(scope)["total"] == 500  # answered from the events
        assert marks(store) > 0
        rollups.fold(store)
        with overview.view(store, {}) as view:
            assert view is not None and view.whole()[0] == 500
        check(store, rnd, scopes=3)
    finally:
        store.close()


@pytest.mark.embedded_only("opens two DuckLake replicas of its own")
def test_replicas_read_each_others_marked_minutes_and_fold_their_own(
    ducklake_target: DuckLakeTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(23)
    monkeypatch.setattr(rollups, "fold_due", lambda store: None)  # folds only where the test calls them
    a, b = (
        DuckLakeStore(ducklake_target.catalog, str(ducklake_target.data_path), journal_dir=str(tmp_path / n))
        for n in "ab"
    )
    try:
        a.insert_events(to_columns(random_events(rnd, "a", 400, days=1), "sdk", START))
        assert rollups.fold(b) == 0  # a's marks are a's to fold: its writes may be in flight
        check(b, rnd, scopes=4)  # b reads a's marked minutes from the events
        assert rollups.fold(a) > 0 and marks(a) == 0

        def write_and_fold(store: DuckLakeStore, prefix: str) -> None:
            for batch in range(3):
                store.insert_events(
                    to_columns(random_events(rnd, f"{prefix}{batch}", 80, days=1), "sdk", START)
                )
                rollups.fold(store)  # concurrent folds: one replica at a time, the other's wait for later

        threads = [threading.Thread(target=write_and_fold, args=(s, p)) for s, p in ((a, "x"), (b, "y"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rollups.fold(a)
        rollups.fold(b)
        assert marks(a) == 0 and a.count_events() == 880
        check(a, rnd, scopes=3)
        check(b, rnd, scopes=3)
    finally:
        a.close()
        b.close()


def _rollup_files(store: DuckLakeStore, table: str) -> tuple[int, int]:
    """How many data files `table` has in the lake, and how many of them have rows deleted."""
    row = (
        store.cursor()
        .execute(f"SELECT count(*), count(delete_file) FROM ducklake_list_files('lake', '{table}')")
        .fetchone()
    )
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.embedded_only("opens a DuckLake store of its own")
def test_housekeeping_keeps_the_rollups_in_one_sorted_file_per_table(
    ducklake_target: DuckLakeTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fold deletes the cells it recomputes, so nearly every file a fold wrote has rows deleted,
    which DuckLake never merges: a round rewrites those files and merges them, sorted by (width,
    bucket), and the overview still equals the plain queries."""
    rnd = random.Random(31)
    monkeypatch.setattr(rollups, "fold_due", lambda store: None)  # folds only where the test calls them
    store = DuckLakeStore(ducklake_target.catalog, str(ducklake_target.data_path), journal_dir=str(tmp_path))
    try:
        for batch in range(5):  # each batch's day and hour cells recomputed by the next fold
            store.insert_events(to_columns(random_events(rnd, f"b{batch}", 200), "sdk", START))
            rollups.fold(store)
        tables = ("rollup_cells", "rollup_bins", "rollup_tags")
        for table in tables:
            files, with_deletes = _rollup_files(store, table)
            assert files >= 5 and with_deletes >= 4, (table, files, with_deletes)
        done = housekeeping.run_round(store, interval_s=0, keep_s=0)
        assert done is not None and done.merged_files >= 15
        for table in tables:
            assert _rollup_files(store, table) == (1, 0), table
            listed = f"SELECT data_file FROM ducklake_list_files('lake', '{table}')"
            ((path,),) = store.cursor().execute(listed).fetchall()
            order = store.cursor().execute(f"SELECT width, bucket FROM read_parquet('{path}')").fetchall()
            assert order == sorted(order), table  # minute, hour and day cells apart, each by bucket
        check(store, rnd, scopes=6)
        again = housekeeping.run_round(store, interval_s=0, keep_s=0)  # sorted once: no ALTER again
        assert again is not None and again.merged_files == 0
    finally:
        store.close()
