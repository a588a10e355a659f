"""`metric:NAME` traffic monitors whose metric is a judge: production's answers graded within a budget.

The judge is a model on the simulated provider server (loopback), which grades an answer 5 when it is
valid JSON and 1 when not, and counts the calls it gets. The traffic is posted to a real collector with
its own timestamps; `bakeoff watch --once` scores it (a fresh process each time, as cron runs it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import orjson
import pytest

from bakeoff.replay.simulator.answers import Answer, last_user_text
from bakeoff.replay.simulator.server import SimulatorServer
from support.collector import CollectorProcess

START = datetime(2026, 11, 2, tzinfo=UTC)
WINDOW_S = 300
USD_PER_TOKEN = 10 / 1e6  # the judge's price, input and output
OUTPUT_TOKENS = 30


def input_tokens(request: dict[str, Any]) -> int:
    """The judge's count of a request's tokens: about four characters a token."""
    return len(orjson.dumps(request["messages"])) // 4


def call_usd(request: dict[str, Any]) -> float:
    """What one judge call costs."""
    return (input_tokens(request) + OUTPUT_TOKENS) * USD_PER_TOKEN


def grade(model: str, request: dict[str, Any], api: str) -> Answer:
    """The judge: validity 5 for an answer that parses as JSON, else 1."""
    answer = last_user_text(request, api).split("Answer to grade:")[-1].split("Score the answer")[0]
    try:
        json.loads(answer)
        score = 5
    except ValueError:
        score = 1
    reply = json.dumps({"scores": {"validity": score}, "reason": "parsed"})
    return Answer(reply, input_tokens=input_tokens(request), output_tokens=OUTPUT_TOKENS)


@pytest.fixture(scope="module")
def judge() -> Iterator[SimulatorServer]:
    with SimulatorServer(responder=grade, log_size=100_000) as server:
        yield server


# What every answer of the traffic shares: a successful call of the `orders` feature.
ORDER_CALL = {
    "provider": "openai",
    "api": "chat.completions",
    "model": "gpt-a",
    "tags": ["orders"],
    "usage": {"input_tokens": 10, "output_tokens": 5},
    "latency_ms": 300.0,
    "status": "ok",
}


def _event(ts: datetime, event_id: str, valid: bool) -> dict[str, Any]:
    """An answer at `ts`, valid JSON or not."""
    text = '{"order": 1}' if valid else '{"order": 1'
    request = {"model": "gpt-a", "messages": [{"role": "user", "content": f"order {event_id}"}]}
    stamp = ts.isoformat().replace("+00:00", "Z")
    return {**ORDER_CALL, "id": event_id, "ts": stamp, "request": request, "response": {"text": text}}


def _window(window: int, per_window: int, valid: float, rng: np.random.Generator) -> list[dict[str, Any]]:
    """`per_window` answers spread evenly over window `window`, each valid with probability `valid`."""
    step = WINDOW_S / per_window
    return [
        _event(
            START + timedelta(seconds=window * WINDOW_S + i * step), f"w{window}-{i}", rng.random() < valid
        )
        for i in range(per_window)
    ]


def _post(db: Path, events: list[dict[str, Any]]) -> None:
    collector = CollectorProcess(db).start()
    try:
        for start in range(0, len(events), 2000):
            batch = {"events": events[start : start + 2000]}
            assert httpx.post(collector.url + "/v1/events", json=batch, timeout=60).status_code == 202
    finally:
        collector.stop()


def _config(tmp_path: Path, judge: SimulatorServer, budget: str, **monitor: Any) -> Path:
    extra = "".join(f"    {key}: {value}\n" for key, value in monitor.items())
    path = tmp_path / "bakeoff.yaml"
    path.write_text(
        f"""db: {tmp_path / "bakeoff.duckdb"}
replay:
  providers:
    - {{id: judge, provider: openai-compatible, model: judge-json, base_url: "{judge.url}/v1",
       price: {{input_per_mtok: 10, output_per_mtok: 10}}}}
  metrics: [{{llm_judge: {{judge: judge, criteria: [validity]}}}}]
monitors:
  - name: orders-judged
    filters: {{tag: orders}}
    signal: metric:llm_judge
    metric_share: 1.0
    window: {WINDOW_S}
    direction: down
    min_change: 0.02
    judge_budget: {budget}
{extra}alerts:
  false_alarm_rate: 0.01
  sinks:
    - {{file: {tmp_path / "alerts.jsonl"}}}
"""
    )
    return path


def _watch(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bakeoff.cli", "watch", "--config", str(config), "--once"]
    return subprocess.run([*command, "--format", "json"], capture_output=True, text=True, timeout=600)


def _judged(judge: SimulatorServer) -> int:
    """The calls the judge has had so far."""
    return sum(r["body"]["model"] == "judge-json" for r in judge.requests)


def _scored(db: Path, width: float = WINDOW_S) -> dict[int, int]:
    """Scores stored, by period of `width` seconds from START."""
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute("SELECT epoch(ts) FROM metric_scores WHERE metric = 'llm_judge'").fetchall()
    return dict(Counter(int((ts - START.timestamp()) // width) for (ts,) in rows))


def _scoring_state(db: Path) -> dict[str, Any]:
    with duckdb.connect(str(db), read_only=True) as connection:
        (row,) = connection.execute(
            "SELECT state FROM monitor_state WHERE name = 'orders-judged#scored'"
        ).fetchall()
    return dict(orjson.loads(row[0]))


def _iso(window: int) -> str:
    return (START + timedelta(seconds=window * WINDOW_S)).isoformat().replace("+00:00", "Z")


def test_each_window_is_judged_within_its_calls_across_restarts(
    judge: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "bakeoff.duckdb"
    rng = np.random.default_rng(1)
    later = [_window(w, 30, 0.9, rng) for w in range(9)]
    # Six windows of 30 answers, 10 s apart, and the first six of the seventh: the watermark (30 s
    # before the newest answer) lets three of those be scored.
    _post(db, [e for w in later[:6] for e in w] + later[6][:6])
    config = _config(tmp_path, judge, "{per: window, calls: 10}")
    before = _judged(judge)
    run = _watch(config)
    assert run.returncode == 0, run.stderr
    assert _judged(judge) - before == 6 * 10 + 3
    assert _scored(db) == {**dict.fromkeys(range(6), 10), 6: 3}
    state = _scoring_state(db)
    assert state["judge"]["calls"] == 3 and not state["judge"]["spent"]
    assert state["summary"]["status"] == "scoring" and state["summary"]["total_calls"] == 63
    paid = sum(call_usd(r["body"]) for r in list(judge.requests)[-63:])
    assert state["judge"]["total_usd"] == pytest.approx(paid)
    # The judge saw production's answer alone, not that answer again as its reference.
    prompt = judge.requests[-1]["body"]["messages"][0]["content"]
    assert "Reference answer (may be imperfect):\n(none)" in prompt

    # A restart with nothing new spends nothing; the seventh window's budget goes on where it was.
    assert _watch(config).returncode == 0
    assert _judged(judge) - before == 63
    _post(db, later[6][6:] + [e for w in later[7:] for e in w])
    before = _judged(judge)
    run = _watch(config)
    assert run.returncode == 0, run.stderr
    assert _judged(judge) - before == 7 + 10 + 10
    assert _scored(db) == dict.fromkeys(range(9), 10)
    state = _scoring_state(db)
    assert state["judge"]["spent"] and state["judge"]["calls"] == 10
    assert state["summary"]["status"] == f"budget spent until {_iso(9)}"
    assert state["summary"]["total_calls"] == 90

    # The collector shows where scoring stands.
    shown = tmp_path / "serve.yaml"
    shown.write_text("\n".join(config.read_text().splitlines()[1:]))
    collector = CollectorProcess(db, "--monitors", str(shown), "--monitor-interval", "60").start()
    try:
        (listed,) = httpx.get(collector.url + "/v1/monitors").json()["monitors"]
    finally:
        collector.stop()
    assert listed["scoring"]["status"] == f"budget spent until {_iso(9)}"
    assert listed["scoring"]["judge_budget"] == {"per": "window", "calls": 10}


def test_through_a_running_collector(judge: SimulatorServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    config = _config(tmp_path, judge, "{per: window, calls: 10}")
    config.write_text("\n".join(config.read_text().splitlines()[1:]))  # no `db:`: the collector's
    args = ("--monitors", str(config), "--monitor-interval", "60")
    collector = CollectorProcess(tmp_path / "served.duckdb", *args).start()
    try:
        events = [e for w in range(4) for e in _window(w, 30, 0.9, rng)]
        assert (
            httpx.post(collector.url + "/v1/events", json={"events": events}, timeout=60).status_code == 202
        )
        config.write_text(f"collector: {collector.url}\n" + config.read_text())
        before = _judged(judge)
        runs = [_watch(config) for _ in range(2)]  # the second finds every window's budget spent
        (listed,) = httpx.get(collector.url + "/v1/monitors").json()["monitors"]
    finally:
        collector.stop()
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert _judged(judge) - before == 4 * 10
    assert listed["scoring"]["status"] == f"budget spent until {_iso(4)}"
    assert listed["scoring"]["total_calls"] == 40 and listed["status"] == "baseline"


def test_a_usd_budget_per_day_stops_each_day_before_it_is_passed(
    judge: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "bakeoff.duckdb"
    _post(db, [_event(START + timedelta(hours=h), f"h{h}", h % 2 == 0) for h in range(72)])
    usd = 0.012  # about six calls' worth
    config = _config(tmp_path, judge, f"{{per: day, usd: {usd}}}", window=3600, baseline_windows=4)
    before = len(judge.requests)
    run = _watch(config)
    assert run.returncode == 0, run.stderr
    paid: Counter[int] = Counter()
    calls: Counter[int] = Counter()
    for call in list(judge.requests)[before:]:  # by the day of the answer each call judged
        hour = int(re.findall(r"user: order h(\d+)", call["body"]["messages"][0]["content"])[0])
        paid[hour // 24] += call_usd(call["body"])
        calls[hour // 24] += 1
    most = max(call_usd(call["body"]) for call in list(judge.requests)[before:])
    assert sorted(paid) == [0, 1, 2] and max(calls.values()) < 20  # of the 24 answers of a day
    # Within each day's budget, and stopped only when the next call might not fit.
    assert all(usd - 2 * most < spent <= usd for spent in paid.values()), (paid, usd)
    assert _scored(db, 86400) == calls
    state = _scoring_state(db)
    assert state["judge"]["usd"] == pytest.approx(paid[2]) and state["judge"]["spent"]
    assert state["summary"]["status"] == "budget spent until 2026-11-05T00:00:00Z"


def test_a_pass_rate_10_points_down_is_found_with_half_the_answers_judged(
    judge: SimulatorServer, tmp_path: Path
) -> None:
    db = tmp_path / "bakeoff.duckdb"
    rng = np.random.default_rng(5)
    change_at = 40
    windows = [_window(w, 80, 0.95 if w < change_at else 0.85, rng) for w in range(change_at + 40)]
    _post(db, [e for w in windows for e in w])
    config = _config(tmp_path, judge, "{per: window, calls: 60}")
    before = _judged(judge)
    run = _watch(config)
    assert run.returncode == 1, run.stderr
    assert _judged(judge) - before == 60 * len(windows)
    (alert,) = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert alert["monitor"] == "orders-judged" and alert["signal"] == "metric:llm_judge"
    start = datetime.fromisoformat(alert["window_start"].replace("Z", "+00:00"))
    found_at = int((start - START).total_seconds() // WINDOW_S)
    assert change_at <= found_at < change_at + 30
    assert alert["baseline"] == pytest.approx(0.95, abs=0.03)


@pytest.mark.parametrize(
    ("budget", "metrics", "expected"),
    [
        (None, "[{llm_judge: {judge: judge}}]", "needs `judge_budget: {per: window|day, calls: N}`"),
        ("{per: day}", "[{llm_judge: {judge: judge}}]", "give exactly one of `usd` and `calls`"),
        ("{per: day, usd: 1, calls: 5}", "[{llm_judge: {judge: judge}}]", "exactly one of `usd` and `calls`"),
        ("{per: week, calls: 5}", "[{llm_judge: {judge: judge}}]", "judge_budget.per"),
        (
            "{per: day, calls: 5}",
            "[{llm_judge: {judge: judge, mode: pairwise}}]",
            "a pairwise judge compares two answers",
        ),
        ("{per: day, calls: 5}", "[json_valid]", "judge_budget applies to judge metrics only"),
    ],
)
def test_a_judge_without_a_sound_budget_is_one_line(
    judge: SimulatorServer, tmp_path: Path, budget: str | None, metrics: str, expected: str
) -> None:
    config = _config(tmp_path, judge, budget or "null")
    text = config.read_text().replace("metrics: [{llm_judge: {judge: judge, criteria: [validity]}}]", "")
    text = text.replace("  providers:", f"  metrics: {metrics}\n  providers:")
    if "json_valid" in metrics:
        text = text.replace("signal: metric:llm_judge", "signal: metric:json_valid")
    config.write_text(text)
    result = _watch(config)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert expected in result.stderr


def test_a_usd_budget_needs_the_judges_price_and_a_budget_needs_a_metric_signal(
    judge: SimulatorServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, judge, "{per: day, usd: 1}")
    unpriced = config.read_text().replace(",\n       price: {input_per_mtok: 10, output_per_mtok: 10}", "")
    unpriced = unpriced.replace("model: judge-json", "model: judge-unlisted")
    config.write_text(unpriced)
    result = _watch(config)
    assert result.returncode == 2 and "judge_budget.usd needs the price of judge 'judge'" in result.stderr
    config.write_text(unpriced.replace("signal: metric:llm_judge", "signal: error_rate"))
    result = _watch(config)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "judge_budget applies to metric:NAME signals only" in result.stderr
