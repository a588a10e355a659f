"""Bad input gets a 4xx with a reason that names the problem; nothing is stored; the collector keeps going."""

from __future__ import annotations

import gzip

import httpx
import pytest

from support.collector import CollectorProcess

GOOD = {"id": "ok1", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "api": "chat.completions"}


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"", 400, "empty body"),
        (b"[1, 2]", 422, "body"),
        (b'{"events": "nope"}', 422, "events"),
        (b'{"events": [{"id": "x"}]}', 422, "events.0.ts"),
        (b'{"events": [{"id": "x", "ts": "yesterday", "provider": "p", "api": "a"}]}', 422, "RFC 3339"),
        (
            b'{"events": [{"id": "x", "ts": "2026-01-01T00:00:00Z", "provider": "p", "api": "a", '
            b'"usage": {"input_tokens": -3}}]}',
            422,
            "events.0.usage.input_tokens",
        ),
        (
            b'{"events": [{"id": "x", "ts": "2026-01-01T00:00:00Z", "provider": "p", "api": "a", '
            b'"usage": {"output_tokens": 1099511627776}}]}',
            422,
            "events.0.usage.output_tokens",
        ),
        (
            b'{"events": [{"id": "x", "ts": "2026-01-01T00:00:00Z", "provider": "p", "api": "a", '
            b'"status": "error", "error": {"type": "E", "status_code": 1180591620717411303424}}]}',
            422,
            "events.0.error.status_code",
        ),
        (
            b'{"events": [{"id": "x", "ts": "2026-01-01T00:00:00Z", "provider": "p", "api": "a", '
            b'"bogus": 1}]}',
            422,
            "bogus",
        ),
        (
            b'{"events": [{"id": "", "ts": "2026-01-01T00:00:00Z", "provider": "p", "api": "a"}]}',
            422,
            "events.0.id",
        ),
    ],
)
def test_malformed_and_wrong_typed_events(
    collector: CollectorProcess, body: bytes, status: int, reason: str
) -> None:
    response = httpx.post(
        collector.url + "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert reason in response.json()["error"]
    assert httpx.get(collector.url + "/healthz").json()["events"] == 0


def test_encodings_and_sizes(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/events"
    assert (
        httpx.post(url, content=b"\x1f\x8bgarbage", headers={"Content-Encoding": "gzip"}).status_code == 400
    )
    assert httpx.post(url, content=b"{}", headers={"Content-Encoding": "br"}).status_code == 415
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))  # 40 MB of spaces, a few KB compressed
    response = httpx.post(url, content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413 and "decompressed" in response.json()["error"]
    huge = b'{"events": [' + b" " * (33 * 1024 * 1024) + b"]}"
    assert httpx.post(url, content=huge).status_code == 413


def test_hostile_values_are_stored_verbatim_or_refused(collector: CollectorProcess) -> None:
    hostile = {
        **GOOD,
        "id": "h1",
        "model": "'; DROP TABLE events; --",
        "tags": ["\x00", "ü" * 50, "<script>"],
        "attributes": {"k": "\u202e"},
    }
    assert httpx.post(collector.url + "/v1/events", json={"events": [hostile]}).status_code == 202
    stored = httpx.get(collector.url + "/v1/events/h1").json()
    assert stored["model"] == hostile["model"] and stored["tags"] == hostile["tags"]
    nested = {**GOOD, "id": "h2", "attributes": {"k": {"nested": "object"}}}
    assert httpx.post(collector.url + "/v1/events", json={"events": [nested]}).status_code == 422
    assert httpx.get(collector.url + "/healthz").status_code == 200


def test_bad_feedback(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/feedback"
    assert httpx.post(url, json={"event_id": "x", "score": 1.5}).status_code == 422
    assert httpx.post(url, json={"score": 0.5}).status_code == 422
    assert httpx.post(url, content=b"nope").status_code == 400


def test_bad_queries(collector: CollectorProcess) -> None:
    assert httpx.get(collector.url + "/v1/events", params={"status": "maybe"}).status_code == 422
    assert httpx.get(collector.url + "/v1/events", params={"since": "last week"}).status_code == 422
    assert httpx.get(collector.url + "/v1/events/nope").status_code == 404


@pytest.mark.parametrize("path", ["/v1/events", "/v1/search", "/v1/datasets/none/rows"])
def test_offsets_past_bigint_are_refused_on_every_listing(collector: CollectorProcess, path: str) -> None:
    for offset in (2**63, 10**20):
        answer = httpx.get(collector.url + path, params={"offset": offset})
        assert answer.status_code == 422, (path, offset, answer.text)
        assert "offset" in answer.json()["error"]
