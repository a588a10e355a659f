"""Replay monitors in `bakeoff watch`: fresh samples replayed against simulated candidates of known quality.

The recorded traffic: arithmetic questions answered by `sim-prod-large` (right 90% of the time, the
dearest model). Candidates: `sim-medium` (89%, far cheaper: truly as good within the 0.1 margin),
`sim-small-fast` (70%: truly worse) and a provider whose address refuses every call. Each `--once` is a
new process, so the checks also show that a restart neither forgets the evidence nor repeats an alert.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bakeoff.replay.providers.simulated import CATALOGUE
from bakeoff.replay.simulator.models import answer
from support.collector import CollectorProcess, free_port

PRODUCTION_MODEL = "sim-prod-large"


def recorded_traffic(n: int = 400) -> list[dict[str, Any]]:
    """Production's calls of the last hours, each answered as the production model answers it."""
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        request = {
            "model": PRODUCTION_MODEL,
            "messages": [{"role": "user", "content": f"What is {3 + i % 37} * {11 + i}?"}],
        }
        said = answer(CATALOGUE[PRODUCTION_MODEL], request, "chat.completions")
        events.append(
            {
                "id": f"rm{i}",
                "ts": (now - timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z"),
                "provider": "openai",
                "api": "chat.completions",
                "model": PRODUCTION_MODEL,
                "tags": ["math"],
                "request": request,
                "response": {"text": said.text, "finish_reason": "stop", "tool_calls": None},
                "usage": {"input_tokens": said.input_tokens, "output_tokens": said.output_tokens},
                "latency_ms": said.latency_ms,
                "status": "ok",
            }
        )
    return events


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("replay-monitors") / "bakeoff.duckdb"
    collector = CollectorProcess(db).start()
    try:
        response = httpx.post(collector.url + "/v1/events", json={"events": recorded_traffic()}, timeout=60)
        assert response.status_code == 202
    finally:
        collector.stop()
    return db


def _config(tmp_path: Path, source: dict[str, str], providers: list[str]) -> Path:
    closed = free_port()  # nothing listens there: every call to `broken` fails
    path = tmp_path / "bakeoff.yaml"
    config = {
        **source,
        "replay": {
            "providers": [
                {"id": "medium", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
                {"id": "small", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
                {
                    "id": "broken",
                    "provider": "openai-compatible",
                    "model": "gpt-x",
                    "base_url": f"http://127.0.0.1:{closed}/v1",
                },
            ],
            "metrics": [{"bakeoff.replay.simulator.models:correct": {"kind": "pass"}}],
            "output": str(tmp_path / "runs"),
            "cache_dir": str(tmp_path / "cache"),
            "retries": 0,
            "timeout": 5,
        },
        "monitors": [
            {
                "name": "cheaper-models",
                "kind": "replay",
                "providers": providers,
                "sample": {"strategy": "random", "n": 250, "since_hours": 24},
                "margin": 0.1,
            }
        ],
        "alerts": {"false_alarm_rate": 0.05, "sinks": [{"file": str(tmp_path / "alerts.jsonl")}]},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _watch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bakeoff.cli", "watch", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _sent(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def _db(recorded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(recorded.read_bytes())
    return copy


def test_checks_find_the_cheaper_equal_the_worse_and_the_failing(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, {"db": str(_db(recorded, tmp_path))}, ["medium", "small", "broken"])
    runs = [_watch("--config", str(config), "--once", "--format", "json") for _ in range(4)]
    for run in runs:  # the failing candidate fires at the first check and keeps firing: exit 1 each time
        assert run.returncode == 1, run.stderr
    sent = _sent(tmp_path)
    # Each alert went out once, firing, however many processes checked after it fired.
    assert len({a["id"] for a in sent}) == len(sent)
    assert {(a["kind"], a["provider"], a["state"]) for a in sent} == {
        ("failure", "broken", "firing"),
        ("regression", "small", "firing"),
        ("opportunity", "medium", "firing"),
    }
    (failure,) = [a for a in sent if a["kind"] == "failure"]
    assert failure["value"] == 1.0 and failure["signal"] == "error_rate"
    (opportunity,) = [a for a in sent if a["kind"] == "opportunity"]
    low = opportunity["interval"][0]
    assert low > -0.1 and opportunity["cost_per_request"] < opportunity["baseline_cost_per_request"]
    (regression,) = [a for a in sent if a["kind"] == "regression"]
    assert regression["interval"][1] < -0.1 and regression["signal"] == "correct"
    # The failing candidate did not stop the others' evidence from growing check after check.
    firing = [orjson.loads(line) for line in runs[-1].stdout.splitlines()]
    assert {a["provider"] for a in firing} == {"broken", "small", "medium"}
    # Evidence piles up across checks (and processes): the worse one was shown worse on two samples.
    assert regression["checks"] >= 2 and regression["n"] == 250 * regression["checks"]


def test_against_a_running_collector_state_and_alerts_live_there(recorded: Path, tmp_path: Path) -> None:
    collector = CollectorProcess(_db(recorded, tmp_path)).start()
    try:
        config = _config(tmp_path, {"collector": collector.url}, ["small"])
        runs = [_watch("--config", str(config), "--once") for _ in range(2)]
        state = httpx.get(collector.url + "/v1/monitors/state", params={"monitor": "cheaper-models"}).json()
        stored = httpx.get(collector.url + "/v1/alerts").json()["alerts"]
    finally:
        collector.stop()
    # One sample of 250 does not show the worse model worse yet; the evidence the collector kept from it
    # and a second sample do.
    assert [r.returncode for r in runs] == [0, 1], runs[-1].stderr
    summary = state["states"]["cheaper-models"]["summary"]
    assert summary["status"] == "firing" and summary["checks"] == 2
    assert [(a["kind"], a["provider"]) for a in stored] == [("regression", "small")]
    assert [(a["kind"], a["state"]) for a in _sent(tmp_path)] == [("regression", "firing")]


def test_mistakes_in_a_replay_monitor_are_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, {"db": str(tmp_path / "x.duckdb")}, ["medium", "nope"])
    result = _watch("--config", str(config), "--once")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "'nope' is not in replay.providers" in result.stderr
    bare = tmp_path / "bare.yaml"
    bare.write_text("db: x.duckdb\nmonitors:\n  - {name: r, kind: replay, providers: [a]}\n")
    result = _watch("--config", str(bare), "--once")
    assert result.returncode == 2 and "need a `replay:` section" in result.stderr
