"""Sending a finished run to the collector's DuckDB (runs and results tables), for the dashboard."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import Any

import orjson

from bakeoff.replay.config import ReplayConfig


def publish(
    config: ReplayConfig,
    run: dict[str, Any],
    benchmark: dict[str, Any],
    comparison: dict[str, Any],
    rows: list[dict[str, Any]],
) -> str | None:
    """Store the run where the config's data came from; returns where, or None when nowhere is configured.

    Raises OSError (or a DuckDB error) when the target cannot take it; the caller reports it and the
    run's files stay the record.
    """
    if config.db:
        from bakeoff.collector.cli.common import open_store
        from bakeoff.collector.runs import save_run

        store = open_store(config.db)
        try:
            save_run(store, run, benchmark, comparison, rows)
        finally:
            store.close()
        return config.db
    if config.collector:
        body = orjson.dumps({"run": run, "benchmark": benchmark, "comparison": comparison, "rows": rows})
        headers = {"Content-Type": "application/json"}
        key = os.environ.get("BAKEOFF_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = config.collector.rstrip("/") + "/v1/runs"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        return config.collector
    return None
