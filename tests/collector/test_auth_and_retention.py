"""API keys guard every /v1 call; retention deletes old events on its schedule."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from support.collector import CollectorProcess

EVENT = {"id": "a1", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "api": "chat.completions"}


def test_api_keys(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("from-file\n")
    collector = CollectorProcess(
        tmp_path / "db.duckdb", "--api-key", "k1", "--api-key-file", str(key_file)
    ).start()
    try:
        url = collector.url + "/v1/events"
        missing = httpx.post(url, json={"events": [EVENT]})
        assert missing.status_code == 401 and "missing API key" in missing.json()["error"]
        wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "invalid" in wrong.json()["error"]
        assert (
            httpx.post(url, json={"events": [EVENT]}, headers={"Authorization": "Bearer k1"}).status_code
            == 202
        )
        assert httpx.get(url, headers={"Authorization": "Bearer from-file"}).json()["total"] == 1
        assert httpx.get(collector.url + "/healthz").status_code == 200  # liveness stays open
    finally:
        collector.stop()


def test_retention_deletes_old_events(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    collector = CollectorProcess(db).start()
    try:
        old = {**EVENT, "id": "old", "ts": "2020-01-01T00:00:00Z"}
        httpx.post(
            collector.url + "/v1/events",
            json={"events": [old, {**EVENT, "id": "new", "ts": "2099-01-01T00:00:00Z"}]},
        )
    finally:
        collector.stop()
    collector = CollectorProcess(db, "--retention-days", "30").start()
    try:
        deadline = time.monotonic() + 30  # the first round runs as the collector starts, not before it
        while True:
            ids = [e["id"] for e in httpx.get(collector.url + "/v1/events").json()["events"]]
            if ids == ["new"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ids == ["new"]
    finally:
        collector.stop()
