"""`bakeoff serve --monitors FILE`: the monitor thread in a real collector, a signed webhook on loopback,
and a collector killed between firing and resolving that neither forgets nor repeats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from support.collector import CollectorProcess
from support.traffic import START, Regime, post, traffic
from support.webhook import Hook

SECRET = "s3cret-for-the-hook"
WINDOW_S = 300.0


@pytest.fixture()
def hook() -> Iterator[Hook]:
    receiver = Hook(SECRET)
    try:
        yield receiver
    finally:
        receiver.close()


def _config(tmp_path: Path, hook: Hook) -> Path:
    path = tmp_path / "bakeoff.yaml"
    path.write_text(
        f"""
monitors:
  - name: svc-errors
    kind: traffic
    filters: {{tag: svc}}
    signal: error_rate
    window: {WINDOW_S}
    baseline_windows: 24
    direction: up
    min_change: 0.01
alerts:
  false_alarm_rate: 0.01
  sinks:
    - {{webhook: {hook.url}, secret_env: BAKEOFF_WEBHOOK_SECRET}}
    - {{file: {tmp_path / "alerts.jsonl"}}}
"""
    )
    return path


def _phase(url: str, regimes: list[Regime], first_window: int, seed: int) -> None:
    start = START + timedelta(seconds=first_window * WINDOW_S)
    post(url, traffic(regimes, tag="svc", seed=seed, per_window=40, start=start, feedback_share=0.0))


@pytest.mark.embedded_only(
    "kills as the webhook arrives; DuckLake marks it sent ~100 ms later, so it repeats"
)
def test_killed_between_firing_and_resolving_one_notification_each(
    tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAKEOFF_WEBHOOK_SECRET", SECRET)
    args = ("--monitors", str(_config(tmp_path, hook)), "--monitor-interval", "0.2")
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb", *args).start()
    try:
        _phase(collector.url, [Regime(100), Regime(60, error_rate=0.10)], 0, seed=1)
        (fired,) = hook.wait_for(1)
        assert fired["state"] == "firing" and fired["monitor"] == "svc-errors"
        listed = httpx.get(collector.url + "/v1/alerts", params={"state": "firing"}).json()["alerts"]
        assert [a["id"] for a in listed] == [fired["id"]]
        (monitor,) = httpx.get(collector.url + "/v1/monitors").json()["monitors"]
        assert monitor["status"] == "firing" and monitor["alert"]["id"] == fired["id"]
        collector.kill()
        collector.start()
        time.sleep(1.5)  # several ticks: the firing alert is remembered, not sent again
        assert len(hook.received) == 1
        _phase(collector.url, [Regime(300, error_rate=0.002)], 160, seed=2)
        _, resolved = hook.wait_for(2)
        assert resolved["state"] == "resolved" and resolved["id"] == fired["id"]
        assert resolved["resolved_at"] is not None
        collector.kill()
        collector.start()
        time.sleep(1.5)
        assert httpx.get(collector.url + "/v1/alerts").json()["alerts"][0]["state"] == "resolved"
    finally:
        collector.stop()
    assert [body["state"] for body, _ in hook.received] == ["firing", "resolved"]
    assert all(signed for _, signed in hook.received)
    lines = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["state"] for line in lines] == ["firing", "resolved"]


def test_bad_alert_queries_and_configs_are_refused_with_a_reason(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "bakeoff.duckdb").start()
    try:
        answer = httpx.get(collector.url + "/v1/alerts", params={"since": "yesterday"})
        assert answer.status_code == 422 and "since" in answer.text
        assert httpx.get(collector.url + "/v1/alerts", params={"state": "open"}).status_code == 422
        assert httpx.get(collector.url + "/v1/monitors").json() == {"monitors": []}
    finally:
        collector.stop()
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitors:\n  - {name: m, signal: error_ratio}\n")
    with pytest.raises(RuntimeError, match=r"monitors\[0\].*unknown signal 'error_ratio'"):
        CollectorProcess(tmp_path / "other.duckdb", "--monitors", str(bad)).start()
