"""Validation at the door: a client's mistake is a 4xx with a reason, never a 5xx, and nothing a
refused request carried is left behind; long work runs off the event loop."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from support.collector import CollectorProcess

EVENT = {"id": "e1", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "api": "chat.completions"}


def test_bounded_query_values(collector: CollectorProcess) -> None:
    url = collector.url
    assert httpx.post(url + "/v1/events", json={"events": [EVENT]}).status_code == 202
    assert httpx.get(url + "/v1/events", params={"offset": 2**63}).status_code == 422
    assert httpx.get(url + "/v1/events", params={"offset": 2**31 - 1}).json()["events"] == []
    assert httpx.get(url + "/v1/events", params={"since": "0001-01-01T00:00:00+01:00"}).status_code < 500
    assert httpx.get(url + "/v1/runs", params={"limit": 2**64}).status_code == 422
    sample = {"name": "s", "strategy": "random", "n": 1}
    assert httpx.post(url + "/v1/samples", json={**sample, "seed": 2**63}).status_code == 422
    assert httpx.post(url + "/v1/samples", json={**sample, "seed": 2**63 - 1}).status_code == 201
    assert httpx.get(url + "/v1/events/a%2Fb").status_code == 404  # such an id is refused at the door


def test_runs_that_could_not_be_read_back_are_refused(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/runs"

    def run(**fields: object) -> dict[str, object]:
        body: dict[str, object] = {"run": {"run_id": "r1"}, "benchmark": {}, "comparison": {}, "rows": []}
        for part, value in fields.items():
            body[part] = {**body[part], **value}  # type: ignore[dict-item]
        return body

    bad = [
        run(run={"timestamp": "yesterday"}),
        run(run={"timestamp": "0001-01-01T00:00:00+01:00"}),
        run(benchmark={"total_samples": "n/a"}),
        run(benchmark={"total_samples": 2**70}),
        run(comparison={"n": 2**70}),
        run(run={"run_id": "a/b"}),
        run(run={"dataset": {"not": "a name"}}),
    ]
    for body in bad:
        response = httpx.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (body, response.text)
    good = run(run={"run_id": "run.1", "timestamp": "2026-03-01T10:00:00Z"}, benchmark={"total_samples": 3})
    assert httpx.post(url, json=good).status_code == 201
    listed = httpx.get(url).json()["runs"]
    assert [(r["run_id"], r["total_samples"]) for r in listed] == [("run.1", 3)]
    assert httpx.get(url + "/run.1").json()["run"]["run_id"] == "run.1"


def test_failed_imports_leave_nothing_behind(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/datasets/import"
    assert httpx.post(url, json={"name": "d", "rows": [{"id": "c1", "input": "hi"}]}).status_code == 201
    again = httpx.post(url, json={"name": "d", "rows": [{"id": "c2", "input": "hello"}]})
    assert again.status_code == 409
    huge = json.dumps({"name": "d2", "rows": [{"id": "c3", "input": "x", "expected": 2**70}]})
    assert httpx.post(url, content=huge, headers={"Content-Type": "application/json"}).status_code == 422
    slash = httpx.post(url, json={"name": "d3", "rows": [{"id": "c/4", "input": "x"}]})
    assert slash.status_code == 422
    ids = {e["id"] for e in httpx.get(collector.url + "/v1/events").json()["events"]}
    assert ids == {"c1"}
    assert [d["name"] for d in httpx.get(collector.url + "/v1/datasets").json()["datasets"]] == ["d"]


@pytest.mark.embedded_only(
    "probes /healthz every 2 ms; on DuckLake each probe is catalog round trips (~30 ms)"
)
def test_feedback_batches_empty_and_large_do_not_stall_the_collector(collector: CollectorProcess) -> None:
    url = collector.url
    assert httpx.post(url + "/v1/feedback", json={"feedback": []}).json() == {"accepted": 0}
    late = {"event_id": "e", "score": 0.5, "ts": "0001-01-01T00:00:00+01:00"}
    assert httpx.post(url + "/v1/feedback", json=late).status_code == 202
    rows = [{"event_id": f"e{i}", "score": (i % 10) / 10, "comment": "fine"} for i in range(100_000)]
    pauses: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as http:
            while not done.is_set():
                started = time.perf_counter()
                assert http.get(url + "/healthz").status_code == 200
                pauses.append(time.perf_counter() - started)
                time.sleep(0.002)  # sample densely: on a fast machine the batch takes under half a second

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.perf_counter()
    try:
        response = httpx.post(url + "/v1/feedback", json={"feedback": rows}, timeout=120)
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        prober.join()
    assert response.status_code == 202 and response.json() == {"accepted": 100_000}
    # A loop blocked by the batch would stall a probe for about all of it; on a busy machine a probe
    # may still wait a little for the interpreter.
    assert len(pauses) > 5 and max(pauses) < max(0.5, 0.3 * elapsed), (max(pauses), elapsed)
    event = httpx.get(url + "/v1/events/e1")
    assert event.status_code == 404
