"""Sending a finished run to where the config's data came from (the `runs` and `results` tables)."""

from __future__ import annotations

from typing import Any

from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.recorded import recorded_data
from bakeoff.replay.run.state import RunState


def publish(
    config: ReplayConfig,
    state: RunState,
    benchmark: dict[str, Any],
    comparison: dict[str, Any],
    rows: list[dict[str, Any]],
) -> str | None:
    """Store the run where the config's data came from; returns where, or None when nowhere is configured.

    Raises a UsageError, OSError or DuckDB error when the target cannot take it; the caller reports it and the
    run's files stay the record.
    """
    target = recorded_data(config)
    if target is None:
        return None
    target.save_run({"run": state.to_json(), "benchmark": benchmark, "comparison": comparison, "rows": rows})
    return target.where
