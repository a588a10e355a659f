"""The endpoints `bakeoff watch --collector URL` runs its monitors through, and `serve --monitors` with
monitors only `bakeoff watch` runs."""

from __future__ import annotations

from pathlib import Path

import httpx

from support import stores
from support.collector import CollectorProcess

ALERT = {
    "id": "a1",
    "monitor": "r",
    "kind": "regression",
    "state": "firing",
    "message": "r: x is shown worse",
    "started_at": "2026-12-01T10:00:00Z",
}


def test_states_alerts_and_the_outbox_round_trip(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb").start()
    url = collector.url
    try:
        saved = httpx.put(
            url + "/v1/monitors/state",
            json={"states": [{"name": "r", "fingerprint": "f", "checks": 1}], "alerts": [ALERT]},
        )
        assert saved.status_code == 200
        states = httpx.get(url + "/v1/monitors/state", params={"monitor": ["r", "other"]}).json()["states"]
        assert states == {"r": {"name": "r", "fingerprint": "f", "checks": 1}}
        (due,) = httpx.get(url + "/v1/alerts/pending", params={"monitor": "r"}).json()["pending"]
        assert due["id"] == "a1" and [b["state"] for b in due["bodies"]] == ["firing"]
        assert httpx.get(url + "/v1/alerts/pending", params={"monitor": "other"}).json() == {"pending": []}
        marked = httpx.post(url + "/v1/alerts/a1/notified", json={"state": "firing"})
        assert marked.status_code == 200
        assert httpx.get(url + "/v1/alerts/pending", params={"monitor": "r"}).json() == {"pending": []}
        resolved = {**ALERT, "state": "resolved", "resolved_at": "2026-12-01T11:00:00Z"}
        body = {"states": [{"name": "r", "fingerprint": "f", "checks": 2}], "alerts": [resolved]}
        assert httpx.put(url + "/v1/monitors/state", json=body).status_code == 200
        (due,) = httpx.get(url + "/v1/alerts/pending", params={"monitor": "r"}).json()["pending"]
        assert [b["state"] for b in due["bodies"]] == ["resolved"]  # the firing one was sent already
        (listed,) = httpx.get(url + "/v1/alerts").json()["alerts"]
        assert listed["state"] == "resolved" and listed["resolved_at"] == "2026-12-01T11:00:00Z"
    finally:
        collector.stop()


def test_bad_bodies_are_4xx_with_a_reason(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb").start()
    url = collector.url
    try:
        stray = {"states": [{"name": "r", "fingerprint": "f"}], "alerts": [{**ALERT, "monitor": "q"}]}
        answer = httpx.put(url + "/v1/monitors/state", json=stray)
        assert answer.status_code == 422 and "q" in answer.text
        noon = {**ALERT, "started_at": "noon"}
        bad_time = {"states": [{"name": "r", "fingerprint": "f"}], "alerts": [noon]}
        answer = httpx.put(url + "/v1/monitors/state", json=bad_time)
        assert answer.status_code == 422 and "started_at" in answer.text
        nameless = httpx.put(url + "/v1/monitors/state", json={"states": [{"fingerprint": "f"}]})
        assert nameless.status_code == 422
        assert httpx.get(url + "/v1/alerts/pending").status_code == 422  # which monitors?
        assert httpx.get(url + "/v1/monitors/state").status_code == 422
        unknown = httpx.post(url + "/v1/alerts/nope/notified", json={"state": "firing"})
        assert unknown.status_code == 404
        assert httpx.post(url + "/v1/alerts/nope/notified", json={"state": "open"}).status_code == 422
        twice = {"states": [{"name": "r", "fingerprint": "f"}, {"name": "r", "fingerprint": "g"}]}
        answer = httpx.put(url + "/v1/monitors/state", json=twice)
        assert answer.status_code == 422 and "given twice" in answer.text
        far = {"metric": "json_valid", "scores": [{"event_id": "e", "ts": 1e300, "score": 1}]}
        assert httpx.post(url + "/v1/monitors/scores", json=far).status_code == 422
        monitor = {"name": "j", "signal": "metric:json_valid"}
        answer = httpx.post(url + "/v1/monitors/to-score", json={"monitor": monitor, "after": [1e300, ""]})
        assert answer.status_code == 422
        plain = httpx.post(
            url + "/v1/monitors/to-score", json={"monitor": {"name": "e", "signal": "error_rate"}}
        )
        assert plain.status_code == 422 and "metric:NAME" in plain.text
        assert httpx.post(url + "/v1/monitors/to-score", json={"monitor": monitor}).json() == {
            "events": [],
            "next": None,
        }
        typo = {"config": {"monitors": [{"name": "m", "signal": "error_ratio"}]}}
        answer = httpx.post(url + "/v1/monitors/tick", json=typo)
        assert answer.status_code == 422 and "error_ratio" in answer.text
    finally:
        collector.stop()


def test_serve_leaves_replay_monitors_to_watch_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        "monitors:\n"
        "  - {name: errors, signal: error_rate}\n"
        "  - {name: cheaper, kind: replay, providers: [a]}\n"
    )
    log = tmp_path / "serve.log"
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb", "--monitors", str(config), log=log).start()
    try:
        monitors = httpx.get(collector.url + "/v1/monitors").json()["monitors"]
    finally:
        collector.stop()
    assert [(m["name"], m["runner"]) for m in monitors] == [("errors", "serve"), ("cheaper", "watch")]
    assert monitors[1]["status"] == "not checked yet"
    lines = [line for line in log.read_text().splitlines() if "bakeoff watch" in line]
    assert lines == ["bakeoff serve: monitors run by `bakeoff watch`, not here: cheaper"]


def test_names_and_ids_with_a_nul_character_are_stored_and_found(tmp_path: Path) -> None:
    # On DuckLake a NUL inside a filter's value ended its catalog query: 500s, and a request that hung.
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb").start()
    url = collector.url
    try:
        scores = {"metric": "m\x00", "scores": [{"event_id": "\x00", "ts": 0.0, "score": 1}]}
        for _ in range(2):  # the second time replaces the first
            answer = httpx.post(url + "/v1/monitors/scores", json=scores, timeout=20)
            assert answer.status_code == 200, answer.text
        alert = {**ALERT, "id": "a\x00", "monitor": "r\x00"}
        body = {"states": [{"name": "r\x00", "fingerprint": "f"}], "alerts": [alert]}
        for _ in range(2):
            assert httpx.put(url + "/v1/monitors/state", json=body, timeout=20).status_code == 200
        (due,) = httpx.get(url + "/v1/alerts/pending", params={"monitor": "r\x00"}).json()["pending"]
        assert due["id"] == "a\x00"
        marked = httpx.post(url + "/v1/alerts/a%00/notified", json={"state": "firing"}, timeout=20)
        assert marked.status_code == 200, marked.text
        listed = httpx.get(url + "/v1/alerts", params={"monitor": "r\x00"}).json()["alerts"]
        assert [a["id"] for a in listed] == ["a\x00"]
    finally:
        collector.stop()


def test_states_stored_and_new_are_saved_together_one_row_each(tmp_path: Path) -> None:
    # Saving updates the stored states and inserts only the new ones; names go into the SQL as literals,
    # so quotes and backslashes must come back as they were.
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb").start()
    url = collector.url
    names = ["it's", "back\\slash", "plain"]
    try:
        first = {"states": [{"name": names[0], "fingerprint": "f", "checks": 1}], "alerts": []}
        assert httpx.put(url + "/v1/monitors/state", json=first, timeout=20).status_code == 200
        both = [{"name": n, "fingerprint": "g", "checks": 2} for n in names]
        for _ in range(2):  # the second time every state is stored already
            assert httpx.put(url + "/v1/monitors/state", json={"states": both}, timeout=20).status_code == 200
        got = httpx.get(url + "/v1/monitors/state", params={"monitor": names}).json()["states"]
        assert got == {s["name"]: s for s in both}
    finally:
        collector.stop()
    store = stores.open_test_store(tmp_path / "bakeoff.duckdb")
    try:
        rows = store.cursor().execute("SELECT name FROM monitor_state").fetchall()
    finally:
        store.close()
    assert sorted(name for (name,) in rows) == sorted(names)
