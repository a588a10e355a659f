"""`bakeoff serve` refuses unusable settings with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bakeoff.collector.ingest import journal_folder
from bakeoff.collector.journal import Journal, encode_record
from bakeoff.collector.rows import to_columns
from bakeoff.schema import validate_event
from support import stores
from support.collector import CollectorProcess


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "seven"], "--port"),
        (["--memory-limit", "lots"], "--memory-limit"),
        (["--retention-days", "-1"], "--retention-days"),
        (["--db", "/nonexistent-folder/x.duckdb"], "does not exist"),
        (["--api-key-file", "/nonexistent-keys"], "--api-key-file"),
    ],
)
def test_bad_settings(args: list[str], needle: str, tmp_path: Path) -> None:
    full = ["--db", str(tmp_path / "db.duckdb"), *args] if "--db" not in args else args
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", "serve", *full], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr


def test_events_left_in_the_journal_are_committed_on_start_and_said(tmp_path: Path) -> None:
    db = tmp_path / "left.duckdb"
    event = validate_event(
        {"id": "left-1", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "api": "chat.completions"}
    )
    journal = Journal(journal_folder(str(db)))  # what a collector killed before its commit leaves
    journal.append(encode_record(to_columns([event], "sdk", datetime.now(UTC))))
    journal.close()
    log = tmp_path / "serve.log"
    collector = CollectorProcess(db, log=log).start()
    try:
        health = httpx.get(collector.url + "/healthz").json()
    finally:
        collector.stop()
    assert health["events"] == 1
    assert "journal: 1 acknowledged events committed on start" in log.read_text()
    left = (
        sorted(p.name for p in journal_folder(str(db)).glob("*")) if journal_folder(str(db)).exists() else []
    )
    assert left == ([] if stores.kind() == "embedded" else ["replica"])  # a replica keeps its identity


def test_a_journal_written_before_a_migration_added_a_column_is_committed(tmp_path: Path) -> None:
    # A collector of the previous release acknowledged these rows, then the upgrade added `init_tags`.
    db = tmp_path / "upgraded.duckdb"
    event = validate_event(
        {"id": "old-1", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "api": "chat.completions"}
    )
    columns = to_columns([event], "sdk", datetime.now(UTC))
    older = columns.drop_columns(["init_tags"])
    journal = Journal(journal_folder(str(db)))
    journal.append(encode_record(older))
    journal.close()
    collector = CollectorProcess(db).start()
    try:
        health = httpx.get(collector.url + "/healthz").json()
        stored = httpx.get(collector.url + "/v1/events/old-1")
    finally:
        collector.stop()
    assert health["events"] == 1
    assert stored.status_code == 200 and stored.json()["id"] == "old-1"


@pytest.mark.embedded_only("the DuckDB file's lock; on DuckLake, the journal's: test_ducklake_store")
def test_a_second_collector_on_a_database_in_use_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    first = CollectorProcess(db).start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "bakeoff.cli", "serve", "--db", str(db), "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.stop()
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "in use by process" in second.stderr
