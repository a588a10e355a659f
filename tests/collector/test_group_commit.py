"""The writer's grouping on a real DuckDB file: concurrent requests share a commit, a lone one never waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from bakeoff.collector.ingest import GroupCommitter
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.store import Store
from bakeoff.schema import Event, validate_event

LINGER_S = 1.0  # long, so that "did not wait" and "waited" are far apart whatever the machine's load


class GatedStore(Store):
    """A store whose inserts wait for `gate`: holds the writer inside a commit while requests queue."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()

    def insert_events(self, table: pa.Table) -> set[str]:
        self.gate.wait(10)
        return super().insert_events(table)


def batch(prefix: str, size: int = 3) -> list[Event]:
    return [
        validate_event(
            {
                "id": f"{prefix}-{i}",
                "ts": "2026-03-01T10:00:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-4o-mini",
                "request": {"messages": [{"role": "user", "content": f"{prefix} {i}"}]},
            }
        )
        for i in range(size)
    ]


@pytest.fixture
def committer(tmp_path: Path) -> Iterator[GroupCommitter]:
    store = GatedStore(str(tmp_path / "c.duckdb"))
    committer = GroupCommitter(store, CollectorMetrics(), linger_s=LINGER_S)
    yield committer
    committer.close()
    store.close()


def commits(committer: GroupCommitter) -> float:
    return committer.metrics.registry.get_sample_value("bakeoff_commit_seconds_count") or 0.0


def test_a_lone_client_never_waits(committer: GroupCommitter) -> None:
    for i in range(3):
        started = time.monotonic()
        assert committer.submit(batch(f"lone{i}")).result(timeout=10) == (3, 0)
        assert time.monotonic() - started < LINGER_S / 2
    assert commits(committer) == 3


def test_a_commit_waits_for_the_requests_that_were_in_flight_together(committer: GroupCommitter) -> None:
    store = committer.store
    assert isinstance(store, GatedStore)
    store.gate.clear()
    first = committer.submit(batch("first"))
    time.sleep(0.2)  # the writer has taken `first` and is held inside its commit
    crowd = [committer.submit(batch(f"crowd{i}")) for i in range(3)]
    store.gate.set()
    assert [f.result(timeout=10) for f in [first, *crowd]] == [(3, 0)] * 4
    # Three requests were in the last group: the next group waits for three, though they come apart.
    before = commits(committer)
    started = time.monotonic()
    late = [committer.submit(batch("late0"))]
    time.sleep(0.1)
    late += [committer.submit(batch(f"late{i}")) for i in (1, 2)]
    assert [f.result(timeout=10) for f in late] == [(3, 0)] * 3
    assert commits(committer) == before + 1
    assert time.monotonic() - started < LINGER_S  # the group was complete: no waiting out the linger
    # Then a lone request waits once for company that does not come, and never again.
    alone = committer.submit(batch("alone0"))
    assert alone.result(timeout=10) == (3, 0)
    started = time.monotonic()
    assert committer.submit(batch("alone1")).result(timeout=10) == (3, 0)
    assert time.monotonic() - started < LINGER_S / 2
    assert store.cursor().execute("SELECT count(*) FROM events").fetchone() == (3 * 9,)
