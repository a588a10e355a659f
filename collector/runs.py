"""Replay runs in the collector's DuckDB: the `runs` table (summaries) and `results` (one row per answer).

Saving a run again replaces it, so a resumed run that publishes its final results leaves one copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from bakeoff.collector.rows import parse_ts
from bakeoff.collector.store import Store


def run_problem(
    run: dict[str, Any], benchmark: dict[str, Any], comparison: dict[str, Any], rows: list[dict[str, Any]]
) -> str | None:
    """Why a posted run cannot be stored so that every reader takes it back, or None when it can."""
    run_id = run.get("run_id")
    if not isinstance(run_id, str) or not run_id or len(run_id) > 256:
        return "run.run_id: a non-empty string of at most 256 characters is required"
    if "/" in run_id or run_id in (".", ".."):
        return "run.run_id: must not contain '/' nor be '.' or '..' (ids are read back by URL)"
    timestamp = run.get("timestamp")
    if timestamp is not None:
        try:
            parse_ts(timestamp)
        except (TypeError, ValueError, OverflowError, AttributeError):
            return "run.timestamp: must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z"
    if run.get("dataset") is not None and not isinstance(run["dataset"], str):
        return "run.dataset: must be a string"
    samples = benchmark.get("total_samples")
    if samples is not None and (type(samples) is not int or not 0 <= samples <= 2**62):
        return "benchmark.total_samples: must be a non-negative integer"
    for number, row in enumerate(rows):
        if not isinstance(row.get("event_id"), str) or not isinstance(row.get("provider"), str):
            return f"rows[{number}]: event_id and provider must be strings"
    for name, part in (("run", run), ("benchmark", benchmark), ("comparison", comparison), ("rows", rows)):
        try:
            orjson.dumps(part)
        except TypeError:
            return f"{name}: holds an integer outside 64 bits or is nested too deeply"
    return None


def save_run(
    store: Store,
    run: dict[str, Any],
    benchmark: dict[str, Any],
    comparison: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    """Store (or replace) a run and its rows. Under the run id's lock: DuckLake has no unique keys, and
    two replicas saving one run at once would each delete nothing and both insert it."""
    run_id = str(run["run_id"])
    created = parse_ts(run["timestamp"]) if run.get("timestamp") else datetime.now(UTC)
    results = pa.table(
        {
            "run_id": pa.array([run_id] * len(rows), pa.string()),
            "event_id": pa.array([str(r["event_id"]) for r in rows], pa.string()),
            "provider": pa.array([str(r["provider"]) for r in rows], pa.string()),
            "body": pa.array([orjson.dumps(r).decode() for r in rows], pa.string()),
        }
    )
    with store.exclusive(f"run:{run_id}"), store.transaction() as cursor:
        cursor.execute("DELETE FROM results WHERE run_id = ?", [run_id])
        cursor.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
        cursor.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
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
            # TRY_CAST: a run stored by an older collector may hold anything there.
            "SELECT run_id, strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), dataset, "
            "TRY_CAST(benchmark->>'$.total_samples' AS BIGINT), comparison->>'$.baseline', "
            "benchmark->'$.providers' "
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
            "total_samples": samples,
            "baseline": baseline,
            "providers": orjson.loads(providers) if providers else [],
        }
        for run_id, created, dataset, samples, baseline, providers in rows
    ]


def run_scores(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The newest runs, oldest first, each with every provider's score and interval on every metric:
    what comparing two runs and following a provider over runs need, without fetching each run."""
    rows = (
        store.cursor()
        .execute(
            "SELECT run_id, strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), dataset, "
            "benchmark, comparison->>'$.baseline' FROM runs ORDER BY created_at DESC, run_id LIMIT ?",
            [limit],
        )
        .fetchall()
    )
    runs = []
    for run_id, created, dataset, benchmark_json, baseline in reversed(rows):
        benchmark = orjson.loads(benchmark_json)
        metrics = benchmark.get("metrics") if isinstance(benchmark.get("metrics"), dict) else {}
        scores = {
            str(metric): {
                str(provider): {"score": summary.get("score"), "ci95": summary.get("ci95")}
                for provider, summary in by_provider.items()
                if isinstance(summary, dict)
            }
            for metric, by_provider in metrics.items()
            if isinstance(by_provider, dict)
        }
        runs.append(
            {
                "run_id": run_id,
                "created": created,
                "dataset": dataset,
                "baseline": baseline,
                "primary_metric": benchmark.get("primary_metric"),
                "providers": [str(p) for p in benchmark.get("providers") or []],
                "scores": scores,
            }
        )
    return runs


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
