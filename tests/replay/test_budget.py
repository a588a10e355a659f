"""`--cost-limit` ends a run once the budget is reached, whatever the order requests settle in.

Floating-point sums of reservations used to leave a residue (2.98e-19 USD) with nothing in flight, so
every worker waited for a settlement that would never come. Real `bakeoff replay` processes run against
a local provider whose answers vary in length (so costs are uneven decimals) until the limit, under many
seeds; each must finish within a timeout.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakeoff.replay.run.budget import Budget
from bakeoff.replay.simulator.answers import Answer
from bakeoff.replay.simulator.server import SimulatorServer


def test_a_reservation_settled_in_any_order_leaves_nothing_reserved() -> None:
    budget = Budget(limit=1.0)
    amounts = [0.1, 0.2, 0.3, 1e-7, 0.1 / 3, 2.98e-19]
    for amount in amounts:
        assert budget.reserve(amount) is True
    for amount in reversed(amounts):
        budget.settle("p", amount, None, None)
    assert budget.reserved == 0.0
    assert budget.in_flight == 0


def test_the_limit_is_declared_reached_only_with_nothing_in_flight() -> None:
    budget = Budget(limit=0.3)
    assert budget.reserve(0.1) is True
    assert budget.reserve(0.1) is True
    assert budget.reserve(0.15) is None  # two in flight may settle below their projection
    budget.settle("p", 0.1, 0.1, 10)
    budget.settle("p", 0.1, 0.1, 10)
    assert budget.reserve(0.15) is False
    assert budget.exhausted
    assert budget.spent == pytest.approx(0.2)


def _answer(model: str, request: dict[str, Any], api: str) -> Answer:
    # Answer lengths from the prompt itself, so each seed's dataset gives its own uneven costs.
    text = request["messages"][-1]["content"]
    tokens = 7 + sum(map(ord, text)) % 53
    return Answer("x " * tokens, [], "stop", input_tokens=3 + len(text) % 11, output_tokens=tokens)


@pytest.fixture(scope="module")
def provider() -> Any:
    with SimulatorServer(responder=_answer) as server:
        yield server


def _write_run(tmp_path: Path, server: SimulatorServer, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    sim = {
        "id": "sim",
        "provider": "openai-compatible",
        "model": "sim-uneven",
        "base_url": server.url + "/v1",
        "price": {"input_per_mtok": 0.1 * rng.randint(1, 9), "output_per_mtok": 0.3 * rng.randint(1, 9)},
    }
    replay = {"providers": [sim], "baseline": "sim", "metrics": ["exact_match"], "concurrency": 8}
    config = tmp_path / f"bakeoff-{seed}.yaml"
    config.write_text(yaml.safe_dump({"replay": replay}))
    dataset = tmp_path / f"events-{seed}.jsonl"
    with dataset.open("w") as file:
        for i in range(80):
            words = " ".join(str(rng.random()) for _ in range(rng.randint(1, 6)))
            request = {"model": "m", "messages": [{"role": "user", "content": f"{i}: {words}"}]}
            event = {
                "id": f"s{seed}-e{i}",
                "provider": "openai",
                "api": "chat.completions",
                "model": "m",
                "request": request,
                "response": {"text": "ok", "finish_reason": "stop", "tool_calls": None},
                "usage": {"input_tokens": 5, "output_tokens": rng.randint(1, 60)},
            }
            file.write(json.dumps(event) + "\n")
    return config, dataset


@pytest.mark.parametrize("seed", range(8))
def test_a_run_that_reaches_the_cost_limit_finishes(
    tmp_path: Path, provider: SimulatorServer, seed: int
) -> None:
    config, dataset = _write_run(tmp_path, provider, seed)
    # About a third of the dataset's cost: the limit is reached with requests in flight.
    limit = 80 * 35 * 1.6e-6 / 3
    command = [sys.executable, "-c", "import sys; from bakeoff.cli import main; sys.exit(main())"]
    command += ["replay", "--config", str(config)]
    command += ["--dataset", str(dataset), "--output", str(tmp_path / "runs"), "--no-cache"]
    command += ["--cost-limit", f"{limit:.10f}", "--seed", str(seed), "--format", "json"]
    finished = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert finished.returncode in (0, 1), finished.stderr.decode()[-2000:]
    state = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert state["status"] == "budget"
    # Projections are estimates: at most the requests in flight (8) may each cost more than projected.
    largest_request = (13 * 0.9 + 59 * 2.7) / 1e6
    assert 0 < state["spend"] <= limit + 8 * largest_request
