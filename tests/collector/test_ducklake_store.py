"""The DuckLake store: its flags, replicas on one catalog, and an event id stored once across them."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bakeoff.cli import main
from bakeoff.collector.ducklake import DuckLakeStore
from bakeoff.collector.ingest import IngestPipeline
from bakeoff.collector.journal import Journal, encode_record
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.migrations import MIGRATIONS, for_store
from bakeoff.collector.rows import to_columns
from bakeoff.schema import Event, validate_event
from support.collector import CollectorProcess
from support.postgres import DuckLakeTarget

pytestmark = pytest.mark.embedded_only("these tests open DuckLake stores of their own")


def raw(prefix: str, count: int, ts: str = "2026-03-01T10:00:00Z") -> list[dict[str, object]]:
    return [
        {
            "id": f"{prefix}-{i}",
            "ts": ts,
            "provider": "openai",
            "api": "chat.completions",
            "model": "gpt-4o-mini",
            "request": {"messages": [{"role": "user", "content": f"{prefix} {i}"}]},
        }
        for i in range(count)
    ]


def events(prefix: str, count: int, ts: str = "2026-03-01T10:00:00Z") -> list[Event]:
    return [validate_event(body) for body in raw(prefix, count, ts)]


def replica(target: DuckLakeTarget, journal: Path) -> DuckLakeStore:
    return DuckLakeStore(target.catalog, str(target.data_path), journal_dir=str(journal))


def counts(store: DuckLakeStore) -> tuple[int, int]:
    row = store.cursor().execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", "serve", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def two_replicas(ducklake_target: DuckLakeTarget, tmp_path: Path) -> Iterator[list[DuckLakeStore]]:
    stores = [replica(ducklake_target, tmp_path / f"journal-{name}") for name in "ab"]
    yield stores
    for store in stores:
        store.close()


def test_bad_catalog_flags_are_one_line(
    ducklake_target: DuckLakeTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(ducklake_target.data_path)
    unreachable = ducklake_target.catalog.rsplit(":", 1)[0] + ":1/lake"  # nothing listens on port 1
    missing_db = ducklake_target.catalog + "_absent"
    cases = [
        (["--catalog", "mysql://u@h/db", "--data-path", data], "not a PostgreSQL URL"),
        (["--catalog", "postgresql://u@h:99999/db", "--data-path", data], "not a PostgreSQL URL"),
        (["--catalog", "postgresql://u@h:5432/", "--data-path", data], "not a PostgreSQL URL"),
        (["--catalog", unreachable, "--data-path", data], "cannot reach PostgreSQL"),
        (["--catalog", missing_db, "--data-path", data], "does not exist"),
        (["--data-path", data], "needs --catalog"),
        (["--catalog", ducklake_target.catalog], "needs --data-path"),
        (["--catalog", ducklake_target.catalog, "--data-path", str(tmp_path / "nowhere")], "no such folder"),
        (["--catalog", ducklake_target.catalog, "--data-path", data, "--db", "x.duckdb"], "--db"),
    ]
    for args, needle in cases:  # in this process: each a usage error before anything starts
        status = main(["serve", "--store", "ducklake", "--journal", str(tmp_path / "j"), *args])
        stderr = capsys.readouterr().err
        assert status == 2, (args, stderr)
        assert stderr.count("\n") == 1 and needle in stderr, (args, stderr)
    result = serve("--store", "ducklake", "--catalog", unreachable, "--data-path", data)  # the real exit
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_the_environment_names_the_store(ducklake_target: DuckLakeTarget, tmp_path: Path) -> None:
    env = {"BAKEOFF_STORE": "ducklake", "BAKEOFF_CATALOG": "postgres://nobody@127.0.0.1:1/x"}
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", "serve", "--data-path", str(ducklake_target.data_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2 and "cannot reach PostgreSQL" in result.stderr


def test_a_batch_retried_against_another_replica_is_stored_once(two_replicas: list[DuckLakeStore]) -> None:
    # Each replica knows only the ids it committed itself (its Bloom filter is built before the other
    # commits): only the claims keep the second copy of each event out.
    for store in two_replicas:
        assert store.stored_ids(["warm-up"]) == set()
    pipelines = [IngestPipeline(store, CollectorMetrics()) for store in two_replicas]
    batches = [events(f"retry{n}", 200) for n in range(10)]
    outcomes: list[tuple[int, int]] = []
    lock = threading.Lock()

    def send(pipeline: IngestPipeline) -> None:
        for batch in batches:
            outcome = pipeline.submit(batch).result(timeout=60)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=send, args=(p,)) for p in pipelines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for pipeline in pipelines:
        pipeline.close()
    assert len(outcomes) == 20 and sum(accepted + dup for accepted, dup in outcomes) == 4000
    for store in two_replicas:
        assert counts(store) == (2000, 2000)


def test_a_replica_killed_between_claim_and_commit_commits_on_restart(
    ducklake_target: DuckLakeTarget, tmp_path: Path
) -> None:
    batch = events("claimed", 50)
    table = to_columns(batch, "sdk", datetime.now(UTC))
    first = replica(ducklake_target, tmp_path / "ja")
    ids = table.column("id").to_pylist()
    assert first.claim(ids) == set(ids)  # claimed, then killed before the commit...
    journal = Journal(tmp_path / "ja")  # ...with the acknowledged rows in its journal
    journal.append(encode_record(table))
    journal.close()
    first.close()

    other = replica(ducklake_target, tmp_path / "jb")  # an SDK retried the batch against another replica
    other_pipeline = IngestPipeline(other, CollectorMetrics())
    other_pipeline.commit_now(batch, "sdk")
    assert counts(other) == (0, 0)  # the ids are the first replica's to commit

    restarted = replica(ducklake_target, tmp_path / "ja")
    assert restarted.replica_id == first.replica_id  # the identity lives in the journal folder
    pipeline = IngestPipeline(restarted, CollectorMetrics())
    assert pipeline.recovered == 50
    pipeline.close()
    other_pipeline.close()
    assert counts(other) == (50, 50)
    restarted.close()
    other.close()


def test_a_replica_killed_between_commit_and_journal_deletion_replays_idempotently(
    ducklake_target: DuckLakeTarget, tmp_path: Path
) -> None:
    table = to_columns(events("committed", 30), "sdk", datetime.now(UTC))
    first = replica(ducklake_target, tmp_path / "ja")
    assert len(first.append_events(table)) == 30  # committed...
    journal = Journal(tmp_path / "ja")  # ...and still journaled when it was killed
    journal.append(encode_record(table))
    journal.close()
    first.close()
    restarted = replica(ducklake_target, tmp_path / "ja")
    pipeline = IngestPipeline(restarted, CollectorMetrics())
    assert pipeline.recovered == 0
    pipeline.close()
    assert counts(restarted) == (30, 30)
    restarted.close()


def test_one_process_per_journal(ducklake_target: DuckLakeTarget, tmp_path: Path) -> None:
    store = replica(ducklake_target, tmp_path / "shared")
    try:
        result = serve(*ducklake_target.args(), "--journal", str(tmp_path / "shared"))
    finally:
        store.close()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "in use by another collector" in result.stderr


def test_reads_on_one_replica_see_the_other_replicas_commits(two_replicas: list[DuckLakeStore]) -> None:
    writer, reader = two_replicas
    cursor = reader.cursor()  # a long-lived cursor, opened before the commits
    assert reader.count_events() == 0
    writer.insert_events(to_columns(events("seen", 20), "sdk", datetime.now(UTC)))
    assert cursor.execute("SELECT count(*) FROM events").fetchone() == (20,)
    listed, total = reader.query_events({"model": "gpt-4o-mini"}, limit=5, offset=0)
    assert total == 20 and len(listed) == 5
    assert reader.get_event("seen-3") is not None
    writer.insert_events(to_columns(events("later", 5), "sdk", datetime.now(UTC)))
    assert reader.count_events() == 25
    assert reader.stored_ids(["later-1", "nowhere"]) == {"later-1"}  # the claims answer for the others


def test_retention_forgets_the_claims_of_what_it_deleted(two_replicas: list[DuckLakeStore]) -> None:
    first, second = two_replicas
    old = to_columns(events("old", 10, ts="2020-01-01T00:00:00Z"), "sdk", datetime.now(UTC))
    first.insert_events(old)
    assert first.delete_older_than(datetime.now(UTC) - timedelta(days=30)) == 10
    assert second.insert_events(old) == {f"old-{i}" for i in range(10)}  # stored again, as on a file
    assert counts(second) == (10, 10)


def test_migrations_on_ducklake_have_no_keys_and_no_indexes() -> None:
    sql = """
        CREATE TABLE a (id VARCHAR PRIMARY KEY, b INTEGER UNIQUE, c INTEGER);  -- a comment; with a semicolon
        CREATE TABLE d (x INTEGER, y INTEGER, PRIMARY KEY (x, y));
        CREATE INDEX a_c ON a (c);
        create unique index d_y on d (y);
        ALTER TABLE a ADD COLUMN e VARCHAR;
    """
    assert for_store(sql, "embedded") == sql
    rewritten = for_store(sql, "ducklake")
    assert (
        "PRIMARY" not in rewritten and "UNIQUE" not in rewritten.upper() and "INDEX" not in rewritten.upper()
    )
    assert rewritten.count("CREATE TABLE") == 2 and "ADD COLUMN e VARCHAR" in rewritten
    for _, migration in MIGRATIONS:
        assert "PRIMARY KEY" not in for_store(migration, "ducklake")


def test_two_collectors_on_one_catalog_are_one_collector(
    ducklake_target: DuckLakeTarget, tmp_path: Path
) -> None:
    collectors = [
        CollectorProcess(
            tmp_path / f"unused-{n}.duckdb",
            store_args=[*ducklake_target.args(), "--journal", str(tmp_path / f"j{n}")],
        )
        for n in range(2)
    ]
    for collector in collectors:
        collector.start(timeout=60)
    try:
        batches = [raw(f"http{n}", 50) for n in range(6)]

        def send(url: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                for batch in batches:  # every batch to both: an SDK retrying against the other replica
                    assert client.post("/v1/events", json={"events": batch}).status_code == 202

        threads = [threading.Thread(target=send, args=(c.url,)) for c in collectors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for collector in collectors:  # a read waits for the replica's own acknowledged events
            httpx.get(collector.url + "/v1/events", params={"limit": 1}).raise_for_status()
        for collector in collectors:  # then each sees every event, whichever replica committed it
            listed = httpx.get(collector.url + "/v1/events", params={"limit": 1}).json()
            assert listed["total"] == 300
            assert httpx.get(collector.url + "/v1/events/http5-49").status_code == 200
        sample = {"name": "s", "strategy": "random", "n": 20, "seed": 7}
        made = httpx.post(collectors[0].url + "/v1/samples", json=sample).json()
        again = httpx.post(collectors[1].url + "/v1/samples", json={**sample, "name": "t"}).json()
        assert made["size"] == again["size"] == 20
        rows = [
            [
                line.split(b'"id":', 1)[1][:20]
                for line in httpx.get(c.url + f"/v1/datasets/{n}").content.splitlines()
            ]
            for c, n in zip(collectors, "st", strict=True)
        ]
        assert rows[0] == rows[1]  # the same seed draws the same sample on either replica
    finally:
        for collector in collectors:
            collector.stop()


def test_ids_and_filters_with_a_nul_character(two_replicas: list[DuckLakeStore]) -> None:
    # Stored verbatim, as on the file: neither the claims (PostgreSQL text has no NUL) nor the lake's
    # file pruning (it writes filter values into its catalog query) may choke on one.
    first, second = two_replicas
    body = {**raw("x", 1)[0], "id": "nul\x00id", "model": "m\x00del"}
    table = to_columns([validate_event(body)], "sdk", datetime.now(UTC))
    assert first.insert_events(table) == {"nul\x00id"}
    assert second.insert_events(table) == set()
    assert second.get_event("nul\x00id") is not None and second.get_event("nul\x00other") is None
    assert second.query_events({"model": "m\x00del"}, limit=10, offset=0)[1] == 1
    assert counts(second) == (1, 1)
