"""`bakeoff watch` on a config with `monitors:`: --backtest (on a DuckDB file and on a collector), --once.

The traffic: 200 quiet 5-minute windows at 1% errors, then 100 at 8%, posted to a real collector.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from bakeoff.errors import ConfigError
from bakeoff.replay.config import parse_config
from support.collector import CollectorProcess
from support.traffic import Regime, post, traffic

MONITORS = """
monitors:
  - name: api-errors
    filters: {tag: api}
    signal: error_rate
    min_change: 0.01
  - name: api-latency
    filters: {tag: api}
    signal: latency_p95_ms
    min_change: 100
alerts:
  false_alarm_rate: 0.01
  sinks:
    - {file: ALERTS}
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("watch") / "bakeoff.duckdb"
    collector = CollectorProcess(db).start()
    try:
        regimes = [Regime(200), Regime(100, error_rate=0.08)]
        post(collector.url, traffic(regimes, tag="api", seed=3, per_window=40, feedback_share=0.0))
    finally:
        collector.stop()
    return db


def _config(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "bakeoff.yaml"
    path.write_text(source + MONITORS.replace("ALERTS", str(tmp_path / "alerts.jsonl")))
    return path


def _watch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bakeoff.cli", "watch", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _db(recorded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(recorded.read_bytes())
    return copy


def test_backtest_lists_what_would_have_fired_and_sends_nothing(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, f"db: {_db(recorded, tmp_path)}\n")
    result = _watch("--config", str(config), "--backtest", "--format", "json")
    assert result.returncode == 0, result.stderr
    (alert,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert alert["monitor"] == "api-errors" and alert["state"] == "firing"
    assert alert["started_at"] > "2026-03-01T16:40:00Z"  # after the change at window 200
    assert not (tmp_path / "alerts.jsonl").exists()
    before = _watch("--config", str(config), "--backtest", "--until", "2026-03-01T16:40:00Z")
    assert before.returncode == 0 and before.stdout == ""
    text = _watch("--config", str(config), "--backtest")
    assert "firing   api-errors: error_rate rose to" in text.stdout


def test_backtest_and_once_through_a_running_collector(recorded: Path, tmp_path: Path) -> None:
    collector = CollectorProcess(_db(recorded, tmp_path)).start()
    try:
        config = _config(tmp_path, f"collector: {collector.url}\n")
        result = _watch("--config", str(config), "--backtest", "--format", "json")
        # --once against the collector: the tick runs there (state and alerts kept in its store), the
        # alert goes to this config's sinks once, and a second run finds it still firing without resending.
        runs = [_watch("--config", str(config), "--once", "--format", "json") for _ in range(2)]
        stored = httpx.get(collector.url + "/v1/alerts").json()["alerts"]
        pending = httpx.get(collector.url + "/v1/alerts/pending", params={"monitor": "api-errors"}).json()
    finally:
        collector.stop()
    assert result.returncode == 0, result.stderr
    assert [orjson.loads(line)["monitor"] for line in result.stdout.splitlines()] == ["api-errors"]
    for once in runs:
        assert once.returncode == 1, once.stderr
        assert [orjson.loads(line)["monitor"] for line in once.stdout.splitlines()] == ["api-errors"]
    sent = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["state"] for line in sent] == ["firing"]
    assert [(a["monitor"], a["state"]) for a in stored] == [("api-errors", "firing")]
    assert pending == {"pending": []}


def test_once_exits_1_while_firing_and_sends_it_once(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, f"db: {_db(recorded, tmp_path)}\n")
    for _ in range(2):
        result = _watch("--config", str(config), "--once", "--format", "json")
        assert result.returncode == 1, result.stderr
        assert [orjson.loads(line)["monitor"] for line in result.stdout.splitlines()] == ["api-errors"]
    sent = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["state"] for line in sent] == ["firing"]  # not repeated by the second run


def test_mistakes_are_one_line_and_exit_2(recorded: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, f"db: {_db(recorded, tmp_path)}\n")
    bad_time = _watch("--config", str(config), "--backtest", "--since", "last week")
    assert bad_time.returncode == 2 and bad_time.stderr.strip().count("\n") == 0
    assert "--since" in bad_time.stderr
    plain = tmp_path / "plain.yaml"
    plain.write_text("db: x.duckdb\nreplay:\n  providers: [{id: a, provider: simulated, model: m}]\n")
    assert "no `monitors:`" in _watch("--config", str(plain), "--backtest").stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text("db: x.duckdb\nmonitors:\n  - {name: m, signal: error_rate, windw: 60}\n")
    result = _watch("--config", str(typo), "--once")
    assert result.returncode == 2 and "monitors[0].windw" in result.stderr


def test_the_replay_config_accepts_monitors_and_alerts() -> None:
    replay = {"providers": [{"id": "a", "provider": "simulated", "model": "m"}]}
    monitors = [{"name": "m", "signal": "error_rate"}, {"name": "r", "kind": "replay", "providers": ["a"]}]
    config = parse_config({"replay": replay, "monitors": monitors, "alerts": {"false_alarm_rate": 0.05}})
    assert [m.kind for m in config.monitors] == ["traffic", "replay"]
    assert config.alerts.false_alarm_rate == 0.05
    with pytest.raises(ConfigError, match=r"monitors\[0\]"):
        parse_config({"replay": replay, "monitors": [{"name": "m", "signal": "nope"}]})
