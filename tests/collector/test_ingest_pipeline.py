"""The ingest pipeline on a real DuckDB file: acknowledged once journaled, committed behind, replayed
after a crash, idempotent across what is pending and what is stored, and bounded in memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import pyarrow as pa
import pytest

from bakeoff.collector.errors import StorageUnavailable
from bakeoff.collector.ingest import IngestPipeline, journal_folder
from bakeoff.collector.journal import encode_record
from bakeoff.collector.local import open_store
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.store import Store
from bakeoff.schema import Event, validate_event

# The pipeline over DuckLake (claims, replays across replicas) is tested in test_ducklake_store.py.
pytestmark = pytest.mark.embedded_only("drives the pipeline with a gated subclass of the file store")


class GatedStore(Store):
    """A store whose commits of ingested events wait for `gate` (or fail while `fail` is set)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.fail = False

    def append_events(self, table: pa.Table) -> None:
        self.gate.wait(10)
        if self.fail:
            raise OSError("disk failed")
        super().append_events(table)


def batch(prefix: str, size: int = 3) -> list[Event]:
    return [
        validate_event(
            {
                "id": f"{prefix}-{i}",
                "ts": "2026-03-01T10:00:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "request": {"messages": [{"role": "user", "content": f"{prefix} {i}"}]},
            }
        )
        for i in range(size)
    ]


def stored_ids(store: Store) -> set[str]:
    return {row[0] for row in store.cursor().execute("SELECT id FROM events").fetchall()}


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[GatedStore, IngestPipeline]]:
    store = GatedStore(str(tmp_path / "p.duckdb"))
    pipeline = IngestPipeline(store, CollectorMetrics(), max_rows=6)
    yield store, pipeline
    store.gate.set()
    pipeline.close()
    store.close()


def test_acknowledged_before_committed_and_readers_wait_for_the_commit(
    gated: tuple[GatedStore, IngestPipeline],
) -> None:
    store, pipeline = gated
    assert pipeline.submit(batch("a")).result(timeout=10) == (3, 0)  # the commit is held by the gate
    assert stored_ids(store) == set()
    waiter = pipeline.barrier()
    assert waiter is not None and not waiter.done()
    store.gate.set()
    waiter.result(timeout=10)
    assert stored_ids(store) == {"a-0", "a-1", "a-2"}
    assert pipeline.barrier() is None  # nothing pending: readers do not wait


def test_repeats_are_refused_whether_pending_or_stored(gated: tuple[GatedStore, IngestPipeline]) -> None:
    store, pipeline = gated
    assert pipeline.submit(batch("a")).result(timeout=10) == (3, 0)
    assert pipeline.submit(batch("a", size=4)).result(timeout=10) == (1, 3)  # a-0..2 pending
    store.gate.set()
    pipeline.commit_now([], "sdk")
    assert pipeline.submit(batch("a", size=5)).result(timeout=10) == (1, 4)  # a-0..3 stored
    pipeline.commit_now([], "sdk")
    rows = store.cursor().execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    assert rows == (5, 5)


def test_acknowledgements_wait_while_too_many_rows_are_uncommitted(
    gated: tuple[GatedStore, IngestPipeline],
) -> None:
    store, pipeline = gated
    first = [pipeline.submit(batch(f"b{i}")) for i in range(2)]  # 6 rows: the bound
    assert [f.result(timeout=10) for f in first] == [(3, 0), (3, 0)]
    late = pipeline.submit(batch("late"))
    with pytest.raises(TimeoutError):
        late.result(timeout=0.5)
    store.gate.set()
    assert late.result(timeout=10) == (3, 0)


def test_requests_that_gave_up_waiting_do_not_stop_the_pipeline(
    gated: tuple[GatedStore, IngestPipeline],
) -> None:
    # A request cancelled while it waits (its client went away) cancels its future: resolving it
    # later must not kill the pipeline's threads.
    store, pipeline = gated
    assert [pipeline.submit(batch(f"full{i}")).result(timeout=10) for i in range(2)] == [(3, 0)] * 2
    reader = pipeline.barrier()
    writer = pipeline.submit(batch("waiting"))  # over the bound: waits for the commit
    assert reader is not None and reader.cancel() and writer.cancel()
    store.gate.set()
    assert pipeline.submit(batch("after")).result(timeout=10) == (3, 0)
    committed = pipeline.barrier()
    assert committed is None or committed.result(timeout=10) is None
    assert {"after-0", "waiting-0", "full0-0"} <= stored_ids(store)


def test_a_failed_commit_degrades_then_recovers_without_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "f.duckdb")
    store = GatedStore(path)
    pipeline = IngestPipeline(store, CollectorMetrics(), retry_s=0.05)
    store.fail = True
    assert pipeline.submit(batch("kept")).result(timeout=10) == (3, 0)  # journaled: acknowledged
    store.gate.set()
    deadline = time.monotonic() + 10
    while pipeline.health()["status"] == "ok" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipeline.health() == {"status": "degraded", "reason": ANY, "uncommitted": 3}
    assert pipeline.barrier() is None  # reads answer from what is committed instead of waiting
    with pytest.raises(StorageUnavailable) as refused:  # later writes are refused, not acknowledged
        pipeline.submit(batch("refused")).result(timeout=10)
    assert refused.value.status == 503 and "disk failed" in refused.value.reason
    assert journal_folder(path).is_dir() and stored_ids(store) == set()
    store.fail = False  # the storage comes back: the retry commits, writes are accepted again
    while pipeline.health()["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipeline.submit(batch("after")).result(timeout=10) == (3, 0)
    pipeline.commit_now([], "sdk")
    assert stored_ids(store) == {f"{p}-{i}" for p in ("kept", "after") for i in range(3)}
    pipeline.close()
    store.close()


def test_rows_a_closing_pipeline_could_not_commit_are_committed_on_the_next_start(tmp_path: Path) -> None:
    path = str(tmp_path / "n.duckdb")
    store = GatedStore(path)
    pipeline = IngestPipeline(store, CollectorMetrics(), retry_s=0.05)
    store.fail = True
    store.gate.set()
    assert pipeline.submit(batch("kept")).result(timeout=10) == (3, 0)
    pipeline.close()
    store.close()

    store = Store(path)
    pipeline = IngestPipeline(store, CollectorMetrics())
    assert pipeline.recovered == 3
    assert stored_ids(store) == {"kept-0", "kept-1", "kept-2"}
    pipeline.close()
    store.close()
    assert not journal_folder(path).exists()  # a clean stop leaves no journal


CRASHING_CHILD = """
import os, signal, sys, threading
from bakeoff.collector.local import open_store
from bakeoff.collector.errors import StorageUnavailable
from bakeoff.collector.ingest import IngestPipeline
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.store import Store
from bakeoff.schema import validate_event

class NeverCommits(Store):
    def append_events(self, table):
        threading.Event().wait()

store = NeverCommits(sys.argv[1])
pipeline = IngestPipeline(store, CollectorMetrics())
for b in range(5):
    events = [
        validate_event({"id": f"c{b}-{i}", "ts": "2026-03-01T10:00:00Z", "provider": "openai",
                        "api": "chat.completions", "request": {"messages": []}})
        for i in range(20)
    ]
    assert pipeline.submit(events).result(timeout=10) == (20, 0)
print("acknowledged", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def crash_after_acknowledging(path: str) -> None:
    """Run CRASHING_CHILD on `path`: 100 events acknowledged, none committed, then SIGKILL."""
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASHING_CHILD), path], capture_output=True, text=True
    )
    assert child.returncode == -9, child.stderr
    assert child.stdout.strip() == "acknowledged"


def test_events_acknowledged_before_a_kill_9_are_committed_on_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "k.duckdb")
    crash_after_acknowledging(path)
    newest = max(journal_folder(path).glob("*.seg"))
    with open(newest, "ab") as segment:  # a record cut short by the kill: never acknowledged, dropped
        segment.write(encode_record(pa.table({"id": ["torn"]}))[:-8])

    store = Store(path)
    assert stored_ids(store) == set()  # nothing reached DuckDB before the kill
    pipeline = IngestPipeline(store, CollectorMetrics())
    assert pipeline.recovered == 100
    assert "is torn" in caplog.text and "never acknowledged" in caplog.text
    assert stored_ids(store) == {f"c{b}-{i}" for b in range(5) for i in range(20)}
    pipeline.close()
    store.close()


def test_a_db_command_commits_what_a_crashed_collector_left(tmp_path: Path) -> None:
    path = str(tmp_path / "cli.duckdb")
    crash_after_acknowledging(path)
    store = open_store(path)  # what `bakeoff sample --db` and `bakeoff dataset --db` open
    try:
        assert len(stored_ids(store)) == 100
    finally:
        store.close()
    assert not journal_folder(path).exists()


def test_a_journal_that_cannot_be_written_refuses_with_507(tmp_path: Path) -> None:
    path = str(tmp_path / "j.duckdb")
    store = Store(path)
    pipeline = IngestPipeline(store, CollectorMetrics())
    try:
        # The next segment is /dev/full: every write to it fails with ENOSPC, as on a full disk.
        (journal_folder(path) / f"{pipeline.journal.current + 1:012d}.seg").symlink_to("/dev/full")
        pipeline.journal.seal()
        with pytest.raises(StorageUnavailable) as refused:
            pipeline.submit(batch("lost")).result(timeout=10)
        assert refused.value.status == 507 and "disk is full" in refused.value.reason
        with pytest.raises(StorageUnavailable):  # and so every write while it lasts: none acknowledged
            pipeline.submit(batch("again")).result(timeout=10)
        assert pipeline.commit_now([], "sdk") == (0, 0) and stored_ids(store) == set()
    finally:
        pipeline.close()
        store.close()
