"""run.json is the typed RunState: the same keys as before, old files load, the model is the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakeoff.cli import main
from bakeoff.errors import UsageError
from bakeoff.replay.run.state import RunState, read_state, run_json_schema

CONFIG = {
    "replay": {
        "providers": [
            {"id": "a", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
            {"id": "b", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
        ],
        "metrics": ["numeric_match"],
    }
}

# A run.json as bakeoff wrote it before the state was typed (a finished --until-decided run).
OLD_RUN_JSON: dict[str, Any] = {
    "run_id": "20261130-101500-ab12",
    "timestamp": "2026-11-30T10:15:00+00:00",
    "dataset": "cases.jsonl",
    "config": CONFIG,
    "options": {
        "dataset": "cases.jsonl",
        "tag": None,
        "providers": ["a", "b"],
        "max_samples": None,
        "concurrency": None,
        "cost_limit": 1.5,
        "output": "runs",
        "no_cache": True,
        "repeat": 1,
        "sweep": None,
        "ablate": None,
        "until_decided": True,
        "seed": 3,
        "alpha": 0.05,
        "margin": 0.02,
        "round_size": 50,
    },
    "providers": ["a", "b"],
    "baseline": "a",
    "recorded_baseline": False,
    "metrics": {"numeric_match": "pass"},
    "simulated": True,
    "status": "decided",
    "skipped_rows": [{"event_id": "e9", "reason": "the recorded call failed"}],
    "skipped": [{"event_id": "e3", "provider": "b", "reason": "no tool definitions to remove"}],
    "requests": 8,
    "cache_hits": 0,
    "retries": 1,
    "spend": 0.0012,
    "judge_cost": 0.0,
    "unpriced_models": [],
    "sequential": {
        "rounds": 2,
        "decisions": [
            {"provider": "b", "metric": "numeric_match", "n": 4, "decision": "worse", "cs95": [-0.9, -0.1]}
        ],
    },
}


def test_an_old_run_json_loads_and_is_written_back_unchanged() -> None:
    state = RunState.model_validate(OLD_RUN_JSON)
    assert state.options.until_decided and state.options.seed == 3 and state.baseline == "a"
    assert state.sequential is not None and state.sequential.decisions[0].decision == "worse"
    assert state.to_json() == OLD_RUN_JSON


def test_a_run_json_from_the_first_versions_loads_with_defaults() -> None:
    """Keys added since (skips, costs, the sequential state) may be absent; unknown keys are ignored."""
    first = {"run_id": "r", "timestamp": "2026-11-01T00:00:00+00:00", "config": CONFIG, "baseline": "a"}
    state = RunState.model_validate({**first, "added_by_a_later_version": 1})
    assert state.status == "running" and state.skipped == [] and state.sequential is None
    assert "sequential" not in state.to_json() and "added_by_a_later_version" not in state.to_json()


def test_the_model_is_the_schema() -> None:
    schema = run_json_schema()
    assert set(schema["required"]) == {"run_id", "timestamp", "config", "baseline"}
    assert set(schema["properties"]) == set(OLD_RUN_JSON)


def test_an_old_run_directory_is_compared_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run written by the CLI, its run.json replaced by the old shape, still works with every reader."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bakeoff.yaml").write_text(yaml.safe_dump(CONFIG))
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "input": f"{i}+{i}?", "expected": str(2 * i)}) + "\n" for i in range(4)
        )
    )
    assert main(["replay", "--config", "bakeoff.yaml", "--dataset", str(cases), "--output", "runs"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    written = json.loads((run / "run.json").read_text())
    assert set(written) == set(OLD_RUN_JSON) - {"sequential"}
    old = {**OLD_RUN_JSON, "run_id": run.name, "options": {**OLD_RUN_JSON["options"], "until_decided": False}}
    (run / "run.json").write_text(json.dumps(old))
    assert main(["compare", str(run), "--format", "json"]) == 0
    assert main(["recommend", str(run), "--format", "json"]) == 0
    assert main(["replay", "--resume", str(run)]) == 0
    assert read_state(run).status == "completed" and read_state(run).options.seed == 3


def test_a_run_json_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({**OLD_RUN_JSON, "status": "sleeping"}))
    with pytest.raises(UsageError) as raised:
        read_state(tmp_path)
    assert "run.json: status: Input should be" in str(raised.value) and "\n" not in str(raised.value)
