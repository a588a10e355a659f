"""Housekeeping of a DuckLake store: one round per interval for the whole cluster, small files merged,
old snapshots and unreferenced files gone, every event still readable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from bakeoff.collector.ducklake import DuckLakeStore
from bakeoff.collector.housekeeping import Round, run_round
from bakeoff.collector.rows import to_columns
from bakeoff.schema import Event
from support.deploy import Replica, free_port
from support.postgres import DuckLakeTarget

pytestmark = pytest.mark.embedded_only("these tests open DuckLake stores of their own")

NOW = datetime.now(UTC)


def _events(prefix: str, count: int, age: timedelta) -> list[Event]:
    return [
        Event(
            id=f"{prefix}-{i}",
            ts=NOW - age,
            provider="openai",
            api="chat.completions",
            model="gpt-4o-mini",
            request={"messages": [{"role": "user", "content": f"question {i}"}]},
        )
        for i in range(count)
    ]


def _data_files(target: DuckLakeTarget) -> int:
    return sum(1 for path in target.data_path.rglob("*.parquet"))


def _replica(target: DuckLakeTarget, folder: Path) -> DuckLakeStore:
    return DuckLakeStore(target.catalog, str(target.data_path), journal_dir=str(folder))


def test_two_replicas_at_once_run_one_round_that_merges_and_keeps_every_event(
    ducklake_target: DuckLakeTarget, tmp_path: Path
) -> None:
    first, second = _replica(ducklake_target, tmp_path / "a"), _replica(ducklake_target, tmp_path / "b")
    try:
        kept: list[str] = []
        for batch in range(6):  # small commits from both replicas: a file each
            store = first if batch % 2 else second
            young = _events(f"young{batch}", 40, timedelta(hours=1))
            store.insert_events(to_columns(young, "sdk", NOW))
            kept += [e.id for e in young]
            store.insert_events(to_columns(_events(f"old{batch}", 25, timedelta(days=40)), "sdk", NOW))
        before = _data_files(ducklake_target)
        assert before >= 12

        results: list[Round | None] = []
        start = threading.Barrier(2)

        def housekeep(store: DuckLakeStore) -> None:
            start.wait()
            results.append(run_round(store, interval_s=600, keep_s=0, retention_days=30))

        threads = [threading.Thread(target=housekeep, args=(store,)) for store in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        done = [r for r in results if r is not None]
        assert len(results) == 2 and len(done) == 1, results  # once for the cluster, not once per replica
        (round_,) = done
        assert round_.deleted_events == 150
        assert round_.merged_files >= 2 and round_.written_files >= 1
        assert round_.expired_snapshots > 0 and round_.removed_files > 0

        after = _data_files(ducklake_target)
        assert after < before / 2, (before, after)
        for store in (first, second):  # every replica reads every kept event, and only those
            ids = {row[0] for row in store.cursor().execute("SELECT id FROM events").fetchall()}
            assert ids == set(kept)
            assert store.get_event(kept[0]) is not None

        # Within the interval no replica runs another round; past it, one does (and finds nothing old).
        assert run_round(first, interval_s=600, keep_s=0, retention_days=30) is None
        assert run_round(second, interval_s=600, keep_s=0, retention_days=30) is None
        again = run_round(second, interval_s=0, keep_s=0, retention_days=30)
        assert again is not None and again.deleted_events == 0
    finally:
        first.close()
        second.close()


def test_files_younger_than_keep_stay(ducklake_target: DuckLakeTarget, tmp_path: Path) -> None:
    """A reader may still be on a snapshot from before the merge: its files stay for `keep_s`."""
    store = _replica(ducklake_target, tmp_path / "a")
    try:
        for batch in range(4):
            store.insert_events(to_columns(_events(f"e{batch}", 20, timedelta(hours=1)), "sdk", NOW))
        events_files = ducklake_target.data_path / "main" / "events"
        before = set(events_files.glob("*.parquet"))
        assert len(before) == 4
        done = run_round(store, interval_s=0, keep_s=3600)
        assert done is not None and done.merged_files >= 4 and done.written_files >= 1
        assert done.expired_snapshots == 0 and done.removed_files == 0
        after = set(events_files.glob("*.parquet"))
        assert before < after and len(after) == 5  # the four merged into one, and none removed
        assert store.count_events() == 80
    finally:
        store.close()


def test_serve_applies_retention_once_for_the_cluster(
    ducklake_target: DuckLakeTarget, tmp_path: Path
) -> None:
    plain = Replica(
        "plain", ducklake_target.catalog, ducklake_target.data_path, tmp_path / "plain", free_port()
    ).start()
    try:
        old = {"id": "old", "ts": "2020-01-01T00:00:00Z", "provider": "openai", "api": "chat.completions"}
        new = {**old, "id": "new", "ts": "2099-01-01T00:00:00Z"}
        assert httpx.post(plain.url + "/v1/events", json={"events": [old, new]}).status_code == 202
    finally:
        plain.stop()
    replicas = [
        Replica(
            f"r{i}",
            ducklake_target.catalog,
            ducklake_target.data_path,
            tmp_path / f"r{i}",
            free_port(),
            ["--retention-days", "30", "--log-level", "info"],
        )
        for i in range(2)
    ]
    for replica in replicas:
        replica.launch()
    try:
        for replica in replicas:
            replica.wait_healthy()
        for replica in replicas:
            ids = [e["id"] for e in httpx.get(replica.url + "/v1/events").json()["events"]]
            if ids != ["new"]:  # the round runs just after start, on whichever replica takes the lease
                deadline = datetime.now(UTC) + timedelta(seconds=30)
                while ids != ["new"] and datetime.now(UTC) < deadline:
                    ids = [e["id"] for e in httpx.get(replica.url + "/v1/events").json()["events"]]
            assert ids == ["new"]
    finally:
        for replica in replicas:
            replica.stop()
    logs = [replica.log.read_text() for replica in replicas]
    assert sum("retention: deleted 1 events" in log for log in logs) == 1, logs
    with psycopg.connect(ducklake_target.catalog) as pg:
        leases = dict(pg.execute("SELECT job, replica FROM bakeoff_housekeeping").fetchall())
        assert set(leases) == {"retention", "files"} and all(leases.values())
