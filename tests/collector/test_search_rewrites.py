"""Search through a real collector after an event's text changes or the event goes: a span's event
rewritten by its GenAI log records (the OTLP join) is found by the words of the joined prompt and answer,
no longer by the span's own; an event retention deleted is found by no word, and the word index forgets
it. On DuckLake (no word index: searches scan the bodies) the same answers are asserted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from support.collector import CollectorProcess

TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
START_NS = 1772000000000000000
WAIT_S = 40.0  # fewer events than a chunk wait text_search.MAX_WAIT_S (10 s) for the index


def span_export(span_id: str, prompt: str, answer: str) -> dict[str, Any]:
    """An OTLP/JSON trace export of one chat span carrying its prompt and answer as attributes."""
    attributes = {
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": prompt}]}],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
        ],
    }
    span = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": "chat m",
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 400_000_000),
        "attributes": [
            {"key": k, "value": {"stringValue": v if isinstance(v, str) else orjson.dumps(v).decode()}}
            for k, v in attributes.items()
        ],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "rewrites"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


def logs_export(span_id: str, prompt: str, answer: str) -> dict[str, Any]:
    """The span's GenAI log records, one per message (the conventions up to 1.36)."""

    def record(name: str, body: dict[str, Any], offset_ns: int) -> dict[str, Any]:
        return {
            "timeUnixNano": str(START_NS + offset_ns),
            "eventName": name,
            "traceId": TRACE,
            "spanId": span_id,
            "body": {"kvlistValue": {"values": [{"key": k, "value": value(v)} for k, v in body.items()]}},
        }

    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, dict):
            return {"kvlistValue": {"values": [{"key": k, "value": value(x)} for k, x in v.items()]}}
        if isinstance(v, int):
            return {"intValue": str(v)}
        return {"stringValue": v}

    records = [
        record("gen_ai.user.message", {"content": prompt}, 1),
        record(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}},
            2,
        ),
    ]
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


def search(collector: CollectorProcess, q: str) -> dict[str, Any]:
    response = httpx.get(f"{collector.url}/v1/search", params={"q": q, "limit": 100}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def found(collector: CollectorProcess, q: str) -> list[str]:
    return [event["id"] for event in search(collector, q)["events"]]


def wait_indexed(collector: CollectorProcess, count: int) -> dict[str, Any]:
    """The index's status once it holds `count` events and none waits (at once on DuckLake: no index)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        index = search(collector, "anything")["index"]
        if index["kind"] != "words" or (index["indexed"], index["waiting"]) == (count, 0):
            return index
        assert time.monotonic() < deadline, index
        time.sleep(0.25)


def test_a_joined_event_is_found_by_its_new_words_only(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "rewrites.duckdb").start()
    try:
        span_id = "00000000000000c1"
        event_id = f"otlp-{TRACE}-{span_id}"
        sent = httpx.post(
            collector.url + "/v1/traces", json=span_export(span_id, "tangerine walrus", "marmalade")
        )
        assert sent.status_code == 200, sent.text
        assert found(collector, "tangerine") == [event_id]
        wait_indexed(collector, 1)  # the span's words are in the index now
        assert found(collector, "walrus marmalade") == [event_id]

        # Its log records come later and rewrite its prompt and answer.
        joined = httpx.post(
            collector.url + "/v1/logs", json=logs_export(span_id, "quokka lighthouse", "pelican harbour")
        )
        assert joined.status_code == 200, joined.text
        event = httpx.get(f"{collector.url}/v1/events/{event_id}").json()
        assert event["request"]["messages"] == [{"role": "user", "content": "quokka lighthouse"}]
        assert event["response"]["text"] == "pelican harbour"

        def assert_new_words_only() -> None:
            for q in ["quokka", "lighthouse", "pelican harb", "quokka pelican "]:
                assert found(collector, q) == [event_id], q
                assert search(collector, q)["total"] == 1, q
            for q in ["tangerine", "walrus", "marmalade", "quokka walrus"]:
                answer = search(collector, q)
                assert (answer["events"], answer["total"]) == ([], 0), q

        assert_new_words_only()  # right after the join answered
        index = wait_indexed(collector, 1)  # the index took the rewritten event in again
        assert_new_words_only()
        if index["kind"] == "words":
            collector.stop()  # the index on disk: no posting of the span's old words is left to a doc
            with duckdb.connect(str(tmp_path / "rewrites.duckdb"), read_only=True) as db:
                docs = db.execute(
                    "SELECT count(*) FROM search_documents d JOIN search_postings p USING (doc) "
                    "WHERE p.word IN ('tangerine', 'walrus', 'marmalade')"
                ).fetchone()
                assert docs == (0,)
    finally:
        collector.stop()


EVENT = {
    "provider": "openai",
    "api": "chat.completions",
    "model": "gpt-a",
    "usage": {"input_tokens": 1, "output_tokens": 1},
    "status": "ok",
}


def event(event_id: str, ts: str, prompt: str) -> dict[str, Any]:
    return {
        **EVENT,
        "id": event_id,
        "ts": ts,
        "tags": [f"tag-{event_id}"],
        "request": {"messages": [{"role": "user", "content": prompt}]},
        "response": {"text": "fine", "finish_reason": "stop", "tool_calls": None},
    }


def test_retention_leaves_nothing_to_find(tmp_path: Path) -> None:
    db = tmp_path / "retention.duckdb"
    collector = CollectorProcess(db).start()
    try:
        events = [
            event("old", "2020-01-01T00:00:00Z", "ancient parchment"),
            event("new", "2099-01-01T00:00:00Z", "recent parchment"),
        ]
        assert httpx.post(collector.url + "/v1/events", json={"events": events}).status_code == 202
        wait_indexed(collector, 2)
        assert found(collector, "parchment") == ["new", "old"]
    finally:
        collector.stop()
    collector = CollectorProcess(db, "--retention-days", "30").start()
    try:
        deadline = time.monotonic() + WAIT_S  # retention runs as the collector starts
        while [e["id"] for e in httpx.get(collector.url + "/v1/events").json()["events"]] != ["new"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # At once, before the index's next round, and after it.
        assert found(collector, "ancient") == [] and search(collector, "ancient")["total"] == 0
        assert found(collector, "parchment") == ["new"]
        tags = httpx.get(collector.url + "/v1/facets/tag", params={"q": "tag-"}).json()["values"]
        assert tags == [{"value": "tag-new", "calls": 1}]
        index = wait_indexed(collector, 1)  # the index forgot the deleted event
        assert found(collector, "ancient") == [] and found(collector, "parchment") == ["new"]
        assert httpx.get(collector.url + "/v1/facets/tag", params={"q": "tag-"}).json()["values"] == tags
    finally:
        collector.stop()
    if index["kind"] == "words":
        with duckdb.connect(str(db), read_only=True) as con:
            left = con.execute("SELECT count(*) FROM search_postings WHERE word = 'ancient'").fetchone()
            assert left == (0,)
