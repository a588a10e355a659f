"""`bakeoff replay` end to end: real HTTP to the simulated OpenAI/Anthropic server, files per the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakeoff.cli import main
from bakeoff.replay.simulator.models import responder
from bakeoff.replay.simulator.server import SimulatorServer
from support.replaying import BENCHMARK_KEYS, COMPARISON_KEYS, ROW_KEYS, replay


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(responder=responder()) as simulator:
        yield simulator


def arithmetic_cases(path: Path, n: int = 40) -> Path:
    with path.open("w") as file:
        for i in range(n):
            a, b = 3 + i, 7 + 2 * i
            file.write(json.dumps({"id": f"q{i}", "input": f"What is {a} * {b}?", "expected": a * b}) + "\n")
    return path


def recorded_events(path: Path, n: int = 30) -> Path:
    """Events as the SDK records them, on OpenAI chat completions, with a system prompt and a tool."""
    with path.open("w") as file:
        for i in range(n):
            request = {
                "model": "sim-prod-large",
                "messages": [
                    {"role": "system", "content": "You are a calculator."},
                    {"role": "user", "content": f"What is {i + 2} + {i * 3}?"},
                ],
                "temperature": 0,
            }
            event = {
                "id": f"ev{i}",
                "provider": "openai",
                "api": "chat.completions",
                "model": "sim-prod-large",
                "request": request,
                "response": {
                    "text": f"The answer is {i + 2 + i * 3}.",
                    "finish_reason": "stop",
                    "tool_calls": None,
                },
                "usage": {"input_tokens": 20, "output_tokens": 6},
                "latency_ms": 900.0,
                "status": "ok",
                "tags": ["math"],
                "weight": 2.0,
            }
            file.write(json.dumps(event) + "\n")
    return path


def write_config(path: Path, server: SimulatorServer, providers: list[dict[str, Any]], **replay: Any) -> Path:
    for provider in providers:
        if provider["provider"] == "anthropic":
            provider.setdefault("base_url", server.url)
        elif provider["provider"] != "simulated":
            provider.setdefault("base_url", server.url + "/v1")
    section = {"providers": providers, "cache_dir": str(path.parent / "cache"), **replay}
    path.write_text(yaml.safe_dump({"replay": section}))
    return path


def only_run(output: Path) -> Path:
    (run,) = [p for p in output.iterdir() if p.is_dir()]
    return run


def read_rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]


def test_replay_across_apis_writes_the_contracts_files(
    server: SimulatorServer, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_KEY", "sk-ant-secret-7")
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [
            {"id": "chat/premium", "provider": "openai-compatible", "model": "sim-premium"},
            {
                "id": "claude/small",
                "provider": "anthropic",
                "model": "sim-small-fast",
                "api_key_env": "CLAUDE_KEY",
            },
            {
                "id": "responses/medium",
                "provider": "openai-compatible",
                "model": "sim-medium",
                "api": "responses",
            },
        ],
        metrics=["numeric_match", "exact_match"],
        baseline="chat/premium",
    )
    dataset = arithmetic_cases(tmp_path / "cases.jsonl")
    status = replay(config, dataset, tmp_path / "runs", "--format", "json")
    assert status == 0
    run = only_run(tmp_path / "runs")
    benchmark = json.loads((run / "benchmark_results.json").read_text())
    comparison = json.loads((run / "provider_comparison.json").read_text())
    assert set(benchmark) >= BENCHMARK_KEYS
    assert benchmark["total_samples"] == 40
    assert benchmark["providers"] == ["chat/premium", "claude/small", "responses/medium"]
    for provider in benchmark["providers"]:
        summary = benchmark["metrics"]["numeric_match"][provider]
        assert {"score", "passed", "total", "ci95"} <= set(summary) and summary["total"] == 40
        assert summary["ci95"][0] <= summary["score"] <= summary["ci95"][1]
        assert {"p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms"} <= set(benchmark["latency"][provider])
        assert benchmark["cost_analysis"][provider]["total_cost"] > 0
        assert benchmark["errors"][provider] == 0
    assert comparison["baseline"] == "chat/premium" and comparison["alpha"] == 0.05
    assert len(comparison["comparisons"]) == 4  # two candidates x two metrics
    for item in comparison["comparisons"]:
        assert set(item) >= COMPARISON_KEYS
        assert item["p_adjusted"] >= item["p_value"]
    assert set(comparison["pareto"]) <= set(benchmark["providers"]) and comparison["pareto"]
    rows = read_rows(run)
    assert len(rows) == 120
    assert all(set(row) >= ROW_KEYS for row in rows)
    assert {r["provider"] for r in rows if r["ttft_ms"] is not None} == set(
        benchmark["providers"]
    )  # streamed
    # The JSON printed on stdout is the same verdict.
    printed = json.loads(capsys.readouterr().out)
    assert printed["benchmark"]["run_id"] == run.name
    # Requests really went over HTTP to both APIs, and no key was sent or written anywhere.
    paths = {entry["api"] for entry in server.requests}
    assert {"chat.completions", "messages", "responses"} <= paths
    assert all("sk-ant-secret-7" not in file.read_text() for file in run.iterdir() if file.is_file())


def test_retries_absorb_injected_rate_limits_and_server_errors(
    server: SimulatorServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [{"id": "chat", "provider": "openai-compatible", "model": "sim-medium"}],
        metrics=["numeric_match"],
        concurrency=2,
    )
    server.inject("429", times=3)
    server.inject("500", times=2)
    status = replay(config, arithmetic_cases(tmp_path / "c.jsonl", 10), tmp_path / "runs", "--no-cache")
    run = only_run(tmp_path / "runs")
    meta = json.loads((run / "run.json").read_text())
    assert status == 0
    assert meta["retries"] == 5
    assert all(row["error"] is None for row in read_rows(run))


def test_a_provider_failing_every_request_exits_1(server: SimulatorServer, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [
            {"id": "good", "provider": "openai-compatible", "model": "sim-medium"},
            {"id": "gone", "provider": "openai-compatible", "model": "missing-model"},
        ],
        metrics=["numeric_match"],
    )
    status = replay(config, arithmetic_cases(tmp_path / "c.jsonl", 5), tmp_path / "runs")
    assert status == 1
    rows = read_rows(only_run(tmp_path / "runs"))
    failed = [r for r in rows if r["provider"] == "gone"]
    assert len(failed) == 5 and all(r["error"]["status_code"] == 404 for r in failed)
    assert all(r["scores"]["numeric_match"]["passed"] is False for r in failed)


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        yaml.safe_dump({"replay": {"providers": [{"id": "x", "provider": "opnai", "model": "m"}]}})
    )
    assert main(["replay", "--config", str(config), "--dataset", "x.jsonl"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "replay.providers[0].provider" in error and "'openai'" in error
    config.write_text(
        yaml.safe_dump(
            {
                "replay": {
                    "providers": [{"id": "x", "provider": "simulated", "model": "m"}],
                    "metrics": ["fuzzzy"],
                }
            }
        )
    )
    (tmp_path / "c.jsonl").write_text('{"id": "1", "input": "hi"}\n')
    assert replay(config, tmp_path / "c.jsonl", tmp_path) == 2
    assert "did you mean 'fuzzy'" in capsys.readouterr().err


def test_cost_limit_stops_before_the_budget_is_passed(server: SimulatorServer, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [{"id": "premium", "provider": "openai-compatible", "model": "sim-premium"}],
        metrics=["numeric_match"],
        concurrency=1,
    )
    # sim-premium costs ~$0.0002 a request here, but before its first answer the projection assumes 256
    # output tokens (~$0.005): a $0.006 limit lets the first through and then about twenty more of forty.
    status = replay(
        config,
        arithmetic_cases(tmp_path / "c.jsonl"),
        tmp_path / "runs",
        "--cost-limit",
        "0.006",
        "--no-cache",
    )
    assert status == 0
    run = only_run(tmp_path / "runs")
    meta = json.loads((run / "run.json").read_text())
    rows = read_rows(run)
    assert meta["status"] == "budget"
    assert 5 <= len(rows) < 40
    assert meta["spend"] <= 0.006
    assert sum(r["cost"] for r in rows) <= 0.006


def test_identical_deterministic_requests_come_from_the_cache(
    server: SimulatorServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [
            {
                "id": "chat",
                "provider": "openai-compatible",
                "model": "sim-medium",
                "params": {"temperature": 0},
            }
        ],
        metrics=["numeric_match"],
    )
    dataset = arithmetic_cases(tmp_path / "c.jsonl", 12)
    args = ["replay", "--config", str(config), "--dataset", str(dataset)]
    assert main([*args, "--output", str(tmp_path / "first")]) == 0
    sent = len(server.requests)
    assert main([*args, "--output", str(tmp_path / "second")]) == 0
    second = only_run(tmp_path / "second")
    meta = json.loads((second / "run.json").read_text())
    assert meta["cache_hits"] == 12 and meta["requests"] == 0 and len(server.requests) == sent
    first_rows = {r["event_id"]: r for r in read_rows(only_run(tmp_path / "first"))}
    for row in read_rows(second):
        assert row["cached"] and row["output"] == first_rows[row["event_id"]]["output"]
        assert (
            row["cost"] == first_rows[row["event_id"]]["cost"]
        )  # what it would cost, though nothing was paid
    assert main([*args, "--output", str(tmp_path / "third"), "--no-cache"]) == 0
    assert len(server.requests) == sent + 12


def test_sweeps_ablations_and_untranslatable_rows(tmp_path: Path, server: SimulatorServer) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [{"id": "sim", "provider": "simulated", "model": "sim-medium", "latency_scale": 0}],
        metrics=["numeric_match"],
    )
    dataset = recorded_events(tmp_path / "events.jsonl", 6)
    status = replay(
        config, dataset, tmp_path / "runs", "--sweep", "temperature=0,1", "--ablate", "system,tools"
    )
    assert status == 0
    run = only_run(tmp_path / "runs")
    benchmark = json.loads((run / "benchmark_results.json").read_text())
    meta = json.loads((run / "run.json").read_text())
    assert benchmark["providers"] == [
        "production",
        "sim[temperature=0]",
        "sim[temperature=0][-system]",
        "sim[temperature=0][-tools]",
        "sim[temperature=1]",
        "sim[temperature=1][-system]",
        "sim[temperature=1][-tools]",
    ]
    # No recorded request has tools: the tools ablation is skipped for every row, with the reason.
    tool_skips = [s for s in meta["skipped"] if s["provider"].endswith("[-tools]")]
    assert len(tool_skips) == 12 and all(s["reason"] == "no tool definitions to remove" for s in tool_skips)
    assert benchmark["skipped"] == 12
    # The baseline is production (the recorded model is not among the providers), weighted rows are estimated.
    assert meta["baseline"] == "production"
    assert benchmark["metrics"]["numeric_match"]["production"]["weighted"]["score"] == 1.0


def test_results_go_to_the_duckdb_file(tmp_path: Path, server: SimulatorServer) -> None:
    duckdb = pytest.importorskip("duckdb")
    from bakeoff.collector.store import Store

    Store(str(tmp_path / "events.duckdb")).close()
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "db": str(tmp_path / "events.duckdb"),
                "replay": {
                    "providers": [
                        {"id": "sim", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0}
                    ],
                    "metrics": ["numeric_match"],
                    "cache_dir": str(tmp_path / "cache"),
                },
            }
        )
    )
    assert replay(config, arithmetic_cases(tmp_path / "c.jsonl", 8), tmp_path / "runs") == 0
    run = only_run(tmp_path / "runs")
    connection = duckdb.connect(str(tmp_path / "events.duckdb"), read_only=True)
    assert connection.execute("SELECT run_id FROM runs").fetchall() == [(run.name,)]
    assert connection.execute("SELECT count(*) FROM results WHERE run_id = ?", [run.name]).fetchone() == (8,)


def test_a_killed_run_resumes_without_redoing_rows(tmp_path: Path) -> None:
    with SimulatorServer(responder=responder(), fixed_latency_ms=40) as slow:
        config = write_config(
            tmp_path / "bakeoff.yaml",
            slow,
            [{"id": "chat", "provider": "openai-compatible", "model": "sim-medium"}],
            metrics=["numeric_match"],
            concurrency=2,
        )
        dataset = arithmetic_cases(tmp_path / "c.jsonl", 120)
        command = [
            sys.executable,
            "-m",
            "bakeoff.cli",
            "replay",
            "--config",
            str(config),
            "--dataset",
            str(dataset),
            "--output",
            str(tmp_path / "runs"),
            "--no-cache",
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
        )
        deadline = time.monotonic() + 60
        rows_file = None
        while time.monotonic() < deadline:
            runs = list((tmp_path / "runs").glob("*/detailed_results.jsonl"))
            if runs and len(runs[0].read_bytes().splitlines()) >= 20:
                rows_file = runs[0]
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert rows_file is not None
        before = len(rows_file.read_bytes().splitlines())
        assert before < 120
        run = rows_file.parent
        before_requests = len(slow.requests)
        assert main(["replay", "--resume", str(run)]) == 0
    rows = read_rows(run)
    assert sorted(r["event_id"] for r in rows) == sorted(f"q{i}" for i in range(120))
    assert len(slow.requests) - before_requests <= 120 - before + 2  # at most the rows in flight are redone
    assert json.loads((run / "benchmark_results.json").read_text())["total_samples"] == 120


def test_until_decided_stops_early_on_a_clear_gap(tmp_path: Path, server: SimulatorServer) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [
            {"id": "premium", "provider": "simulated", "model": "sim-premium", "latency_scale": 0},
            {"id": "small", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
        ],
        metrics=["numeric_match"],
        baseline="premium",
    )
    dataset = arithmetic_cases(tmp_path / "c.jsonl", 1000)
    assert replay(config, dataset, tmp_path / "runs", "--until-decided") == 0
    run = only_run(tmp_path / "runs")
    comparison = json.loads((run / "provider_comparison.json").read_text())
    sequential = comparison["sequential"]
    assert sequential["decisions"][0]["decision"] == "worse"
    assert sequential["rounds"] < 20
    assert len(read_rows(run)) < 2000


def test_repeat_measures_non_determinism_and_rate_limits_pace_requests(
    server: SimulatorServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "bakeoff.yaml",
        server,
        [
            {
                "id": "paced",
                "provider": "openai-compatible",
                "model": "sim-medium",
                "rpm": 120,  # two a second, a burst of two
                "concurrency": 1,
                "params": {"temperature": 0.7},
            }
        ],
        metrics=["numeric_match"],
        concurrency=8,
    )
    started = time.monotonic()
    assert replay(config, arithmetic_cases(tmp_path / "c.jsonl", 2), tmp_path / "runs", "--repeat", "3") == 0
    elapsed = time.monotonic() - started
    rows = read_rows(only_run(tmp_path / "runs"))
    assert sorted((r["event_id"], r["repeat"]) for r in rows) == [
        (q, k) for q in ("q0", "q1") for k in range(3)
    ]
    assert elapsed >= 1.9  # six requests at two a second after a burst of two
    benchmark = json.loads((only_run(tmp_path / "runs") / "benchmark_results.json").read_text())
    assert benchmark["metrics"]["numeric_match"]["paced"]["total"] == 2  # repetitions averaged per event
