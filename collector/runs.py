"""Replay runs in the collector's DuckDB: the `runs` table (summaries) and `results` (one row per answer).

Saving a run again replaces it, so a resumed run that publishes its final results leaves one copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from bakeoff.collector.store import Store


def save_run(
    store: Store,
    run: dict[str, Any],
    benchmark: dict[str, Any],
    comparison: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    """Store (or replace) a run and its rows."""
    run_id = str(run["run_id"])
    created = run.get("timestamp") or datetime.now(UTC).isoformat()
    results = pa.table(
        {
            "run_id": pa.array([run_id] * len(rows), pa.string()),
            "event_id": pa.array([str(r["event_id"]) for r in rows], pa.string()),
            "provider": pa.array([str(r["provider"]) for r in rows], pa.string()),
            "body": pa.array([orjson.dumps(r).decode() for r in rows], pa.string()),
        }
    )
    with store.transaction() as cursor:
        cursor.execute("DELETE FROM results WHERE run_id = ?", [run_id])
        cursor.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
        cursor.execute(
            "INSERT INTO runs VALUES (?, ?::TIMESTAMPTZ, ?, ?, ?, ?)",
            [
                run_id,
                created,
                run.get("dataset"),
                orjson.dumps(run).decode(),
                orjson.dumps(benchmark).decode(),
                orjson.dumps(comparison).decode(),
            ],
        )
        cursor.register("incoming_results", results)
        cursor.execute("INSERT INTO results SELECT run_id, event_id, provider, body FROM incoming_results")
        cursor.unregister("incoming_results")


def list_runs(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The newest runs: id, created, dataset, providers, baseline."""
    rows = (
        store.cursor()
        .execute(
            # As text: fetching TIMESTAMPTZ values as datetimes would need pytz.
            "SELECT run_id, strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), dataset, "
            "benchmark->>'$.total_samples', comparison->>'$.baseline', benchmark->'$.providers' "
            "FROM runs ORDER BY created_at DESC LIMIT ?",
            [limit],
        )
        .fetchall()
    )
    return [
        {
            "run_id": run_id,
            "created": created,
            "dataset": dataset,
            "total_samples": None if samples is None else int(samples),
            "baseline": baseline,
            "providers": orjson.loads(providers) if providers else [],
        }
        for run_id, created, dataset, samples, baseline, providers in rows
    ]


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """One run: its config, benchmark results and comparison."""
    row = (
        store.cursor()
        .execute("SELECT config, benchmark, comparison FROM runs WHERE run_id = ?", [run_id])
        .fetchone()
    )
    if row is None:
        return None
    return {
        "run": orjson.loads(row[0]),
        "benchmark": orjson.loads(row[1]),
        "comparison": orjson.loads(row[2]),
    }
