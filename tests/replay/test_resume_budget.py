"""`--cost-limit` holds across `kill -9`: the requests in flight when a run dies are counted on resume.

A slow local provider bills a fixed $0.0625 a request (50 output tokens at $1,250 per million: a sum
of such prices is exact in floating point); the limit is $1, so at most 16 requests may reach it. A
real `bakeoff replay` process is killed while requests are in flight, its resume is killed the same
way, and a last resume runs to the limit. What the provider would bill — the requests it received,
times their price — must stay within the limit.
"""

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
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.simulator.answers import Answer
from bakeoff.replay.simulator.server import SimulatorServer

PRICE_PER_REQUEST = 0.0625
LIMIT = 1.0


def _answer(model: str, request: dict[str, Any], api: str) -> Answer:
    return Answer("The answer is 4.", [], "stop", input_tokens=10, output_tokens=50)


@pytest.fixture()
def provider() -> Iterator[SimulatorServer]:
    with SimulatorServer(responder=_answer, fixed_latency_ms=600) as server:
        yield server


def _files(tmp_path: Path, server: SimulatorServer) -> tuple[Path, Path]:
    config = tmp_path / "bakeoff.yaml"
    sim = {
        "id": "sim",
        "provider": "openai-compatible",
        "model": "sim-paid",
        "base_url": server.url + "/v1",
        "params": {"max_tokens": 50},
        "price": {"input_per_mtok": 0.0, "output_per_mtok": 1250.0},
    }
    replay = {"providers": [sim], "baseline": "sim", "metrics": ["exact_match"], "concurrency": 4}
    config.write_text(yaml.safe_dump({"replay": {**replay, "cache_dir": str(tmp_path / "cache")}}))
    dataset = tmp_path / "events.jsonl"
    with dataset.open("w") as file:
        for i in range(60):
            request = {"model": "gpt-x", "messages": [{"role": "user", "content": f"What is {i} + 4?"}]}
            event = {
                "id": f"e{i}",
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-x",
                "request": request,
                "response": {"text": str(i + 4), "finish_reason": "stop", "tool_calls": None},
                "usage": {"input_tokens": 10, "output_tokens": 50},
            }
            file.write(json.dumps(event) + "\n")
    return config, dataset


def _rows(run: Path) -> int:
    return len((run / "detailed_results.jsonl").read_bytes().splitlines())


def _kill_in_flight(
    command: list[str], server: SimulatorServer, runs: Path, more_rows: int, lost: int = 0
) -> Path:
    """Start `command`, wait for `more_rows` new rows with requests of its own in flight, kill -9 it.

    `lost`: the requests earlier processes sent whose answers no row holds.
    """
    before = {run: _rows(run) for run in runs.glob("*")} if runs.exists() else {}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for run in runs.glob("*") if runs.exists() else ():
                rows = _rows(run)
                # two of its own in flight: one may still answer between this look and the kill
                if rows - before.get(run, 0) >= more_rows and len(server.requests) - rows >= lost + 2:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    return run
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    raise AssertionError("the run made no progress")


def test_kill_9_with_requests_in_flight_never_passes_the_cost_limit(
    tmp_path: Path, provider: SimulatorServer
) -> None:
    config, dataset = _files(tmp_path, provider)
    runs = tmp_path / "runs"
    cli = [sys.executable, "-m", "bakeoff.cli", "replay"]
    start = [*cli, "--config", str(config), "--dataset", str(dataset), "--output", str(runs), "--no-cache"]
    start += ["--cost-limit", str(LIMIT)]
    run = _kill_in_flight(start, provider, runs, more_rows=4)
    lost = [len(provider.requests) - _rows(run)]  # requests sent whose answers no row holds
    assert _kill_in_flight([*cli, "--resume", str(run)], provider, runs, 2, lost[0]) == run
    lost.append(len(provider.requests) - _rows(run))
    assert main(["replay", "--resume", str(run)]) == 0
    time.sleep(0.7)  # the last requests of the killed processes reach the server too

    billed = len(provider.requests) * PRICE_PER_REQUEST
    assert billed <= LIMIT + 1e-9, f"billed ${billed:.2f} against a ${LIMIT:.2f} limit"
    assert 0 < lost[0] < lost[1]  # each kill did leave requests unanswered
    assert billed >= LIMIT - 8 * PRICE_PER_REQUEST  # and the budget was used, not refused outright
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "budget"


def test_the_ledger_counts_unsettled_requests_at_their_maximum(tmp_path: Path) -> None:
    first = RunDirectory(tmp_path / "run")
    paid = first.ledger.sent(0.5)
    first.ledger.settled(paid, 0.25)
    first.ledger.sent(0.75)  # killed before its answer
    first.ledger.settled(first.ledger.sent(None), None)  # unpriced
    first.close()
    with (tmp_path / "run" / "requests.jsonl").open("ab") as file:
        file.write(b'{"sent": "torn')  # killed mid-write
    second = RunDirectory(tmp_path / "run")
    assert second.spent([]) == 0.25 + 0.75
    second.ledger.settled(second.ledger.sent(0.5), 0.5)  # a fresh line after the torn one
    second.close()
    assert RunDirectory(tmp_path / "run").spent([]) == 1.5
    rows = [{"cost": 0.5, "judge_cost": 0.25}, {"cost": 1.0, "cached": True}]
    old = RunDirectory(tmp_path / "old-run")
    assert old.spent(rows) == 0.75  # a run from before the ledger: its rows, carried into a new ledger
    old.ledger.settled(old.ledger.sent(0.5), 0.5)
    old.close()
    assert RunDirectory(tmp_path / "old-run").spent(rows) == 1.25  # resumed again: both counted
