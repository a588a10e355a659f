"""What the replay tests share: the contract's keys and running `bakeoff replay` in-process."""

from __future__ import annotations

from pathlib import Path

from bakeoff.cli import main

BENCHMARK_KEYS = {
    "run_id",
    "timestamp",
    "dataset",
    "providers",
    "total_samples",
    "metrics",
    "cost_analysis",
    "latency",
    "errors",
}
COMPARISON_KEYS = {
    "provider",
    "baseline",
    "metric",
    "diff",
    "ci95",
    "p_value",
    "p_adjusted",
    "test",
    "significant",
    "n",
}
ROW_KEYS = {"event_id", "provider", "output", "scores", "latency_ms", "ttft_ms", "usage", "cost", "error"}


def replay(config: Path, dataset: Path | str, output: Path, *flags: str) -> int:
    """`bakeoff replay --config CONFIG --dataset DATASET --output OUTPUT FLAGS...`; its exit status."""
    return main(
        ["replay", "--config", str(config), "--dataset", str(dataset), "--output", str(output), *flags]
    )
