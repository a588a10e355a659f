"""`bakeoff watch --once` against a running collector: fresh samples, replays, alerts to a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from bakeoff.cli import main
from support.collector import CollectorProcess


def recorded_traffic(n: int = 240) -> list[dict[str, Any]]:
    events = []
    for i in range(n):
        a, b = 3 + i % 50, 7 + i
        events.append(
            {
                "id": f"w{i}",
                "ts": f"2026-11-01T10:{i // 60:02d}:{i % 60:02d}Z",
                "provider": "openai",
                "api": "chat.completions",
                "model": "sim-prod-large",
                "tags": ["math"],
                "request": {
                    "model": "sim-prod-large",
                    "messages": [{"role": "user", "content": f"What is {a} * {b}?"}],
                },
                "response": {"text": f"The answer is {a * b}.", "finish_reason": "stop", "tool_calls": None},
                "usage": {"input_tokens": 12, "output_tokens": 6},
                "latency_ms": 900.0,
                "status": "ok",
            }
        )
    return events


def watch_config(path: Path, collector: CollectorProcess, production_model: str) -> Path:
    providers = [
        {"id": "production", "provider": "simulated", "model": production_model, "latency_scale": 0},
        {"id": "medium", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
    ]
    metric = {"bakeoff.replay.simulator.models:correct": {"kind": "pass"}}
    path.write_text(
        yaml.safe_dump(
            {
                "collector": collector.url,
                "replay": {
                    "providers": providers,
                    "baseline": "production",
                    "metrics": [metric],
                    "output": str(path.parent / "runs"),
                    "cache_dir": str(path.parent / "cache"),
                },
                "watch": {
                    "sample": {"strategy": "random", "n": 240},
                    "margin": 0.1,
                    "alert_file": str(path.parent / "alerts.jsonl"),
                },
            }
        )
    )
    return path


def test_watch_raises_opportunities_and_regressions(collector: CollectorProcess, tmp_path: Path) -> None:
    assert httpx.post(collector.url + "/v1/events", json={"events": recorded_traffic()}).status_code == 202
    alerts_file = tmp_path / "alerts.jsonl"
    # First check: sim-medium is non-inferior within 10 points and far cheaper -> an opportunity.
    assert (
        main(
            [
                "watch",
                "--config",
                str(watch_config(tmp_path / "w.yaml", collector, "sim-prod-large")),
                "--once",
            ]
        )
        == 1
    )
    first = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert [(a["kind"], a["provider"]) for a in first] == [("opportunity", "medium")]
    # Second check: the model behind "production" silently changed to a much weaker one -> a regression
    # against the previous check, found on a fresh sample.
    assert (
        main(
            [
                "watch",
                "--config",
                str(watch_config(tmp_path / "w.yaml", collector, "sim-small-fast")),
                "--once",
                "--seed",
                "1",
            ]
        )
        == 1
    )
    second = [json.loads(line) for line in alerts_file.read_text().splitlines()][len(first) :]
    regressions = [a for a in second if a["kind"] == "regression"]
    assert [(a["provider"], a["metric"]) for a in regressions] == [("production", "correct")]
    assert regressions[0]["diff"] < -0.1
    runs = httpx.get(collector.url + "/v1/runs").json()["runs"]
    assert len(runs) == 2 and httpx.get(collector.url + f"/v1/runs/{runs[0]['run_id']}").status_code == 200
    assert httpx.get(collector.url + "/v1/runs/nope").status_code == 404
