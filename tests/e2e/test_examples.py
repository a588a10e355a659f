"""The examples run as a user would run them, offline, and record what they claim to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from bakeoff.replay.simulator.server import SimulatorServer
from support.collector import CollectorProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_run_offline_records_and_samples(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "instrumented_app" / "run_offline.py"),
            "--calls",
            "9",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "recorded 15 calls (answers simulated)" in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "example.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and abs(sum(r["weight"] for r in rows) - 15) < 1e-9
    assert {r["tags"][0] for r in rows} == {"support", "extraction", "math"}


def test_app_unchanged_under_bakeoff_run(
    tmp_path: Path, collector: CollectorProcess, llm_server: SimulatorServer
) -> None:
    env = {
        **os.environ,
        "OPENAI_API_KEY": "simulated",
        "ANTHROPIC_API_KEY": "simulated",
        "BAKEOFF_SPOOL_DIR": str(tmp_path / "spool"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bakeoff.cli",
            "run",
            "--collector",
            collector.url,
            "--tag",
            "zero-code",
            "--",
            sys.executable,
            str(EXAMPLES / "instrumented_app" / "app.py"),
            "--calls",
            "3",
            "--openai-base-url",
            llm_server.url + "/v1",
            "--anthropic-base-url",
            llm_server.url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    events = httpx.get(collector.url + "/v1/events", params={"tag": "zero-code"}).json()
    assert events["total"] == 5  # 3 support answers, 1 extraction, 1 arithmetic
    assert {e["provider"] for e in events["events"]} == {"openai", "anthropic"}
