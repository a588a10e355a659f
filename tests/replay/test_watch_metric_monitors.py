"""`metric:NAME` traffic monitors in `bakeoff watch`: a share of production's answers scored, by window.

The traffic: 60 five-minute windows of 80 answers of which 95% are valid JSON, then 40 windows where
85% are (the metric's pass rate 10 points down), posted to a real collector with their own timestamps.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from support.collector import CollectorProcess

START = datetime(2026, 11, 2, tzinfo=UTC)
WINDOW_S = 300
PER_WINDOW = 80
CHANGE_AT = 60


def _events() -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    events = []
    for window in range(100):
        valid = 0.95 if window < CHANGE_AT else 0.85
        for i in range(PER_WINDOW):
            ts = START + timedelta(seconds=window * WINDOW_S + i * WINDOW_S / PER_WINDOW)
            text = '{"order": 1}' if rng.random() < valid else '{"order": 1'
            events.append(
                {
                    "id": f"j{window}-{i}",
                    "ts": ts.isoformat().replace("+00:00", "Z"),
                    "provider": "openai",
                    "api": "chat.completions",
                    "model": "gpt-a",
                    "tags": ["orders"],
                    "request": {"model": "gpt-a", "messages": [{"role": "user", "content": f"order {i}"}]},
                    "response": {"text": text, "finish_reason": "stop", "tool_calls": None},
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                    "latency_ms": 300.0,
                    "status": "ok",
                }
            )
    return events


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("metric-monitors") / "bakeoff.duckdb"
    collector = CollectorProcess(db).start()
    try:
        events = _events()
        for start in range(0, len(events), 2000):
            batch = {"events": events[start : start + 2000]}
            assert httpx.post(collector.url + "/v1/events", json=batch, timeout=60).status_code == 202
    finally:
        collector.stop()
    return db


def _config(tmp_path: Path, source: str, metric: str = "json_valid") -> Path:
    path = tmp_path / "bakeoff.yaml"
    path.write_text(
        f"""{source}
monitors:
  - name: orders-json
    filters: {{tag: orders}}
    signal: metric:{metric}
    metric_share: 1.0
    window: {WINDOW_S}
    direction: down
    min_change: 0.02
alerts:
  false_alarm_rate: 0.01
  sinks:
    - {{file: {tmp_path / "alerts.jsonl"}}}
"""
    )
    return path


def _watch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bakeoff.cli", "watch", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _copy(recorded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(recorded.read_bytes())
    return copy


def _window_of(alert: dict[str, Any]) -> int:
    start = datetime.fromisoformat(alert["window_start"].replace("Z", "+00:00"))
    return int((start - START).total_seconds() // WINDOW_S)


def test_a_pass_rate_10_points_down_is_found_within_15_windows(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, f"db: {_copy(recorded, tmp_path)}")
    runs = [_watch("--config", str(config), "--once", "--format", "json") for _ in range(2)]
    for run in runs:
        assert run.returncode == 1, run.stderr
        (alert,) = [orjson.loads(line) for line in run.stdout.splitlines()]
        assert alert["monitor"] == "orders-json" and alert["signal"] == "metric:json_valid"
    assert CHANGE_AT <= _window_of(alert) < CHANGE_AT + 15
    assert alert["baseline"] == pytest.approx(0.95, abs=0.02)
    sent = [orjson.loads(line) for line in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    assert [a["id"] for a in sent] == [alert["id"]]  # the second run scored nothing twice, sent nothing


def test_through_a_running_collector_and_in_serve(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    log = tmp_path / "serve.log"
    args = ("--monitors", str(config), "--monitor-interval", "0.2")
    collector = CollectorProcess(_copy(recorded, tmp_path), *args, log=log).start()
    try:
        config.write_text(f"collector: {collector.url}\n" + config.read_text())
        run = _watch("--config", str(config), "--once", "--format", "json")
        (listed,) = httpx.get(collector.url + "/v1/monitors").json()["monitors"]
    finally:
        collector.stop()
    assert run.returncode == 1, run.stderr
    (alert,) = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert CHANGE_AT <= _window_of(alert) < CHANGE_AT + 15
    # serve left it to the watcher, said so, and shows the state the watcher's tick kept there.
    assert listed["runner"] == "watch" and listed["status"] == "firing"
    assert "monitors run by `bakeoff watch`, not here: orders-json" in log.read_text()


def test_a_metric_that_calls_a_model_or_does_not_exist_is_one_line(tmp_path: Path) -> None:
    judge = (
        f"db: {tmp_path / 'x.duckdb'}\nreplay:\n"
        "  providers: [{id: judge, provider: simulated, model: sim-medium}]\n"
        "  metrics: [{llm_judge: {judge: judge}}]"
    )
    cases = [
        (f"db: {tmp_path / 'x.duckdb'}", "jsn_valid", "json_valid"),
        (judge, "llm_judge", "needs `judge_budget:"),
    ]
    for source, metric, expected in cases:
        result = _watch("--config", str(_config(tmp_path, source, metric)), "--once")
        assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
        assert expected in result.stderr
    assert not (tmp_path / "x.duckdb").exists()  # refused before anything was opened
