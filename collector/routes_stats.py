"""`GET /v1/stats`: the dashboard's overview (counts, latency percentiles, errors, feedback, volume)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bakeoff.collector.deps import StoreDep

router = APIRouter()


@router.get("/v1/stats")
def stats(store: StoreDep) -> dict[str, Any]:
    """Traffic by provider and model, and events per hour over the last two days of data."""
    cursor = store.cursor()
    by_model = cursor.execute(
        """
        SELECT e.provider, e.model, count(*) AS calls,
               count(*) FILTER (WHERE e.status = 'error') AS errors,
               quantile_cont(e.latency_ms, 0.5) AS p50, quantile_cont(e.latency_ms, 0.95) AS p95,
               sum(e.input_tokens) AS input_tokens, sum(e.output_tokens) AS output_tokens,
               avg(f.score) AS feedback
        FROM events e LEFT JOIN (SELECT event_id, avg(score) AS score FROM feedback GROUP BY event_id) f
             ON f.event_id = e.id
        GROUP BY e.provider, e.model ORDER BY calls DESC
        """
    ).fetchall()
    keys = [
        "provider",
        "model",
        "calls",
        "errors",
        "p50_ms",
        "p95_ms",
        "input_tokens",
        "output_tokens",
        "feedback",
    ]
    hourly = cursor.execute(
        """
        WITH last AS (SELECT max(ts) AS latest FROM events)
        SELECT strftime(date_trunc('hour', ts) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:00Z') AS hour, count(*)
        FROM events, last WHERE ts > last.latest - INTERVAL 48 HOUR GROUP BY hour ORDER BY hour
        """
    ).fetchall()
    tags = cursor.execute(
        "SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM events) "
        "GROUP BY tag ORDER BY 2 DESC LIMIT 50"
    ).fetchall()
    models = [dict(zip(keys, row, strict=True)) for row in by_model]
    return {
        "total": sum(m["calls"] for m in models),
        "errors": sum(m["errors"] for m in models),
        "models": models,
        "hourly": [{"hour": hour, "calls": calls} for hour, calls in hourly],
        "tags": [{"tag": tag, "calls": calls} for tag, calls in tags],
    }
