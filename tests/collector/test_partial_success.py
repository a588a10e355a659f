"""One bad event costs only itself: the valid events of a batch are stored, the others refused with
per-item reasons; what is acknowledged reads back through every endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson

from support.collector import CollectorProcess


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "ts": "2026-03-01T10:00:00Z",
        "provider": "openai",
        "api": "chat.completions",
        **fields,
    }


def test_valid_events_are_stored_and_the_others_refused_one_by_one(collector: CollectorProcess) -> None:
    batch = [
        event("good-0"),
        event("bad-tag", attributes={"k": {"nested": "dict"}}),
        event("good-1"),
        event("bad-int", request={"extra_body": {"seed": 2**70}}),
        {"id": "bad-ts", "ts": "0001-01-01T00:00:00+01:00", "provider": "p", "api": "a"},
        event("bad/slash"),
        event("good-2", request={"n": 2**63 - 1, "digits": "1" * 40}),
    ]
    response = httpx.post(collector.url + "/v1/events", content=json.dumps({"events": batch}))
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    assert [(r["index"], r["id"]) for r in body["rejected"]] == [
        (1, "bad-tag"),
        (3, "bad-int"),
        (4, "bad-ts"),
        (5, "bad/slash"),
    ]
    reasons = [r["reason"] for r in body["rejected"]]
    assert reasons[0].startswith("events.1.attributes")
    assert reasons[1] == "events.3.request.extra_body.seed: integer outside 64 bits"
    assert "out of range" in reasons[2]
    assert "'/'" in reasons[3]
    page = httpx.get(collector.url + "/v1/events", params={"limit": 100}).json()
    assert sorted(e["id"] for e in page["events"]) == ["good-0", "good-1", "good-2"]
    assert httpx.get(collector.url + "/v1/events/good-2").json()["request"]["n"] == 2**63 - 1


def test_a_batch_with_no_valid_event_is_422_with_every_reason(collector: CollectorProcess) -> None:
    batch = [event("x", usage={"input_tokens": -1}), {"id": "y"}]
    response = httpx.post(collector.url + "/v1/events", json={"events": batch})
    assert response.status_code == 422
    assert [r["index"] for r in response.json()["rejected"]] == [0, 1]
    assert "events.0.usage.input_tokens" in response.json()["error"]
    assert "events.1.ts" in response.json()["error"]


def test_deep_nesting_is_refused_with_4xx(collector: CollectorProcess) -> None:
    deep = b'{"events": [' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]}"
    response = httpx.post(collector.url + "/v1/events", content=deep)
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    nested: Any = 1
    for _ in range(300):  # deep, but within what JSON readers take: stored, and read back
        nested = {"a": nested}
    posted = httpx.post(collector.url + "/v1/events", json={"events": [event("deep", request=nested)]})
    assert posted.status_code == 202 and posted.json()["accepted"] == 1
    assert httpx.get(collector.url + "/v1/events/deep").status_code == 200
    assert httpx.get(collector.url + "/v1/events").json()["total"] == 1
    sample = {"name": "deep", "strategy": "random", "n": 5}
    assert httpx.post(collector.url + "/v1/samples", json=sample).status_code == 201
    lines = httpx.get(collector.url + "/v1/datasets/deep").content.splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["deep"]
    assert httpx.get(collector.url + "/healthz").json()["status"] == "ok"
