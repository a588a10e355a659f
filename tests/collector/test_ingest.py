"""Ingest into a real collector: the SDK end to end, idempotency, feedback before its event, queries."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import httpx
import openai

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from support.collector import CollectorProcess


def event(event_id: str, **fields: object) -> dict[str, object]:
    base = {
        "id": event_id,
        "ts": "2026-03-01T10:00:00Z",
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-a",
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "tags": ["t1"],
    }
    return {**base, **fields}


def test_sdk_ships_into_the_collector(
    collector: CollectorProcess, llm_server: SimulatorServer, tmp_path: Path
) -> None:
    bakeoff.init(collector.url, project="e2e", spool_dir=str(tmp_path / "spool"), flush_interval_s=0.05)
    try:
        with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:
            with bakeoff.tag("support"):
                client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "a b"}]
                )
                event_id = bakeoff.last_event_id()
            list(
                client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "c"}], stream=True
                )
            )
        assert event_id is not None
        bakeoff.feedback(event_id, 0.25, "wrong tone")
        assert bakeoff.flush(10)
    finally:
        bakeoff.shutdown()
    listed = httpx.get(collector.url + "/v1/events", params={"tag": "support"}).json()
    assert listed["total"] == 1 and listed["events"][0]["response"]["text"] == "a b"
    one = httpx.get(f"{collector.url}/v1/events/{event_id}").json()
    assert one["project"] == "e2e" and one["feedback"][0]["score"] == 0.25
    assert httpx.get(collector.url + "/v1/events", params={"model": "gpt-test"}).json()["total"] == 2


def test_retried_batches_are_idempotent(collector: CollectorProcess) -> None:
    batch = {"events": [event("a"), event("b"), event("a")]}
    first = httpx.post(collector.url + "/v1/events", json=batch)
    assert first.status_code == 202 and first.json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    again = httpx.post(collector.url + "/v1/events", json=batch)
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert httpx.get(collector.url + "/v1/events").json()["total"] == 2


def test_gzip_bodies(collector: CollectorProcess) -> None:
    import orjson

    body = gzip.compress(orjson.dumps({"events": [event("gz")]}))
    response = httpx.post(
        collector.url + "/v1/events",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 202 and response.json()["accepted"] == 1


def test_feedback_before_its_event_is_joined_later(collector: CollectorProcess) -> None:
    assert (
        httpx.post(collector.url + "/v1/feedback", json={"event_id": "later", "score": 1.0}).status_code
        == 202
    )
    assert httpx.get(collector.url + "/v1/events/later").status_code == 404
    httpx.post(collector.url + "/v1/events", json={"events": [event("later")]})
    assert httpx.get(collector.url + "/v1/events/later").json()["feedback"][0]["score"] == 1.0


def test_filters_and_paging(collector: CollectorProcess) -> None:
    events = [
        event(
            f"e{i}",
            model="gpt-a" if i % 2 else "gpt-b",
            status="error" if i % 5 == 0 else "ok",
            error={"type": "RateLimitError"} if i % 5 == 0 else None,
            ts=f"2026-03-01T10:{i:02d}:00Z",
            tags=["odd" if i % 2 else "even"],
        )
        for i in range(20)
    ]
    httpx.post(collector.url + "/v1/events", json={"events": events})

    def query(**params: object) -> dict:
        return httpx.get(collector.url + "/v1/events", params=params).json()

    assert query(model="gpt-a")["total"] == 10
    assert query(status="error")["total"] == 4
    assert query(tag="even", status="error")["total"] == 2  # events 0 and 10
    assert query(since="2026-03-01T10:10:00Z")["total"] == 10
    assert query(until="2026-03-01T10:05:00Z")["total"] == 5
    page = query(limit=5, offset=5)
    assert page["total"] == 20 and [e["id"] for e in page["events"]] == [f"e{i}" for i in range(14, 9, -1)]
    assert httpx.get(collector.url + "/v1/events", params={"limit": 5000}).status_code == 422


def test_health_and_metrics(collector: CollectorProcess) -> None:
    httpx.post(collector.url + "/v1/events", json={"events": [event("m1"), event("m1")]})
    assert httpx.get(collector.url + "/healthz").json()["events"] == 1
    text = httpx.get(collector.url + "/metrics").text
    assert 'bakeoff_events_ingested_total{source="sdk"} 1.0' in text
    assert "bakeoff_events_duplicates_total 1.0" in text
    assert "bakeoff_commit_seconds_count" in text


def test_concurrent_retries_of_overlapping_batches_store_each_event_once(collector: CollectorProcess) -> None:
    # Eight clients send overlapping ids at once: some repeat an id still waiting for its DuckDB commit,
    # some one already committed. Every id is accepted exactly once over all the answers, and stored once.
    ids = [f"race-{i}" for i in range(400)]
    batches = [
        {"events": [event(i, tags=["race"]) for i in ids[start : start + 100]]} for start in range(0, 400, 50)
    ]
    accepted = []

    def send(batch: dict[str, object]) -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(3):
                answer = client.post(collector.url + "/v1/events", json=batch)
                assert answer.status_code == 202
                accepted.append(answer.json()["accepted"])

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(accepted) == len(ids)
    stored = httpx.get(collector.url + "/v1/events", params={"tag": "race", "limit": 1000}).json()
    assert stored["total"] == len(ids)
    assert sorted(e["id"] for e in stored["events"]) == sorted(ids)
