"""The verdicts through the real commands on simulated providers of known quality.

`replay`, `compare`, `recommend` and `report` of one run give the same figures; the config's margin
decides; segments reach every output; `--compare-with` a different dataset is labelled and not called
significant unless `--unpaired`; `--sweep` works with a configured baseline.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakeoff.cli import main
from support.replaying import replay


def _dataset(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    with path.open("w") as file:
        for i in range(n):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            tag = ("refunds", "billing", "math")[i % 3]
            case = {
                "id": f"s{seed}-q{i}",
                "input": f"What is {a} * {b}?",
                "expected": str(a * b),
                "tags": [tag],
            }
            file.write(json.dumps(case) + "\n")
    return path


def _config(path: Path, baseline: str = "prod") -> Path:
    providers = [
        {"id": name, "provider": "simulated", "model": model, "latency_scale": 0}
        for name, model in (("prod", "sim-prod-large"), ("medium", "sim-medium"), ("small", "sim-small-fast"))
    ]
    replay_section = {
        "providers": providers,
        "baseline": baseline,
        "metrics": ["numeric_match", "exact_match"],
        "margin": 0.05,
    }
    path.write_text(yaml.safe_dump({"replay": replay_section}))
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verdicts")
    config = _config(root / "bakeoff.yaml")
    found = {}
    for name, n, seed in (("main", 240, 1), ("other", 120, 2)):
        output = root / name
        assert replay(config, _dataset(root / f"{name}.jsonl", n, seed), output, "--format", "json") == 0
        found[name] = next(output.glob("*"))
    found["config"] = config
    return found


def _figures(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (c["provider"], c["metric"], c["diff"], tuple(c["ci95"]), c["p_adjusted"], c["verdict"]) for c in rows
    ]


def test_every_command_gives_the_same_figures(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    written = json.loads((runs["main"] / "provider_comparison.json").read_text())
    assert written["margin"] == 0.05  # replay.margin of the config
    compared = _json(capsys, "compare", str(runs["main"]), "--format", "json")["comparison"]
    assert _figures(compared["comparisons"]) == _figures(written["comparisons"])
    assert compared["segments"] == written["segments"]
    assert {s["segment"] for s in written["segments"]} == {"tag:refunds", "tag:billing", "tag:math"}
    for row in written["comparisons"]:
        assert row["verdict"] in {"better", "worse", "non-inferior", "inconclusive", "no data"}
        assert isinstance(row["non_inferior"], bool) and row["n"] == 240
    recommendation = _json(capsys, "recommend", str(runs["main"]), "--format", "json")
    assert recommendation["margin"] == 0.05
    chosen = recommendation["recommended"]
    if chosen != "prod":
        row = next(
            c for c in written["comparisons"] if c["provider"] == chosen and c["metric"] == "numeric_match"
        )
        assert row["ci95"][0] > -0.05 and row["ci95"] == pytest.approx(row["ci95"])
        assert f"[{row['ci95'][0]:+.3f}, {row['ci95'][1]:+.3f}]" in recommendation["reason"]
    small = recommendation["excluded"]["small"]  # 0.70 against 0.90: shown worse
    assert small.startswith("significantly worse")


def test_the_text_outputs_show_every_metric_and_the_segments(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capsys.readouterr()
    assert main(["compare", str(runs["main"]), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| numeric_match |" in text and "| exact_match |" in text and "| error_rate |" in text
    written = json.loads((runs["main"] / "provider_comparison.json").read_text())
    for segment in (s for s in written["segments"] if s["significant"]):
        word = "better" if segment["diff"] > 0 else "worse"
        assert f"{segment['provider']}: {word} on {segment['segment']} ({segment['diff']:+.2f}" in text
    report = tmp_path / "report.html"
    assert main(["report", str(runs["main"]), "--html", str(report)]) == 0
    assert "error_rate" in report.read_text()


def test_compare_with_a_different_dataset_is_labelled_and_needs_unpaired(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    refused = _json(
        capsys, "compare", str(runs["main"]), "--compare-with", str(runs["other"]), "--format", "json"
    )
    cross = refused["cross_run"]
    assert cross["same_dataset"] is False and cross["unpaired_allowed"] is False
    assert cross["comparisons"] and all(not c["significant"] for c in cross["comparisons"])
    assert all(c["label"] == "different datasets, unpaired" for c in cross["comparisons"])
    capsys.readouterr()
    assert main(["compare", str(runs["main"]), "--compare-with", str(runs["other"])]) == 0
    assert "DIFFERENT DATASETS" in capsys.readouterr().out
    allowed = _json(
        capsys,
        "compare",
        str(runs["main"]),
        "--compare-with",
        str(runs["other"]),
        "--unpaired",
        "--format",
        "json",
    )
    assert allowed["cross_run"]["unpaired_allowed"] is True


def test_sweep_with_a_configured_baseline(runs: dict[str, Path], tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "small.jsonl", 12, 3)
    status = replay(
        runs["config"], dataset, tmp_path / "out", "--sweep", "temperature=0,1", "--format", "json"
    )
    assert status == 0
    state = json.loads(next((tmp_path / "out").glob("*/run.json")).read_text())
    assert state["baseline"] == "prod"
    assert {"prod", "prod[temperature=0]", "prod[temperature=1]", "medium[temperature=1]"} <= set(
        state["providers"]
    )


def test_an_explicit_margin_of_zero_beats_the_configs(runs: dict[str, Path], tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "zero.jsonl", 30, 3)
    assert replay(runs["config"], dataset, tmp_path / "out", "--margin", "0", "--format", "json") == 0
    written = json.loads((next((tmp_path / "out").glob("*")) / "provider_comparison.json").read_text())
    assert written["margin"] == 0.0  # not the config's 0.05: 0 is a margin, not "unset"
