"""`bakeoff run -- python app.py` records an unchanged program's calls; bad usage exits 2 with one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bakeoff.replay.simulator.server import SimulatorServer
from support.receiver import Receiver

APP = """
import sys
import openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="k")
for text in ("one", "two", "three"):
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
print("app done")
sys.exit(3)
"""


def bakeoff_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_unchanged_program_is_recorded(
    tmp_path: Path, llm_server: SimulatorServer, receiver: Receiver
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {**os.environ, "BAKEOFF_SPOOL_DIR": str(tmp_path / "spool")}
    result = bakeoff_cli(
        "run",
        "--collector",
        receiver.url,
        "--project",
        "zero-code",
        "--tag",
        "cli",
        "--",
        sys.executable,
        str(app),
        llm_server.url,
        env=env,
    )
    assert result.returncode == 3, result.stderr  # the program's own exit status
    assert "app done" in result.stdout
    deadline = time.monotonic() + 10
    while len(receiver.events) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    events = list(receiver.events.values())
    assert sorted(e["response"]["text"] for e in events) == ["one", "three", "two"]
    assert all(e["project"] == "zero-code" and e["tags"] == ["cli"] for e in events)


def test_nothing_to_run_is_a_usage_error() -> None:
    result = bakeoff_cli("run", "--")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nothing to run" in result.stderr


def test_bad_sample_rate_is_a_usage_error() -> None:
    result = bakeoff_cli("run", "--sample-rate", "2", "--", sys.executable, "-c", "pass")
    assert result.returncode == 2 and "--sample-rate" in result.stderr
