"""The dashboard's overview: `GET /v1/stats` (totals, by model, top tags, feedback) and
`GET /v1/stats/series` (calls, errors, latency, time to first token and tokens per time bucket).

Cost is priced here from the genai-prices catalogue (the events keep tokens, not prices), at each
model's small-request rates; calls of models it does not know are counted apart, never guessed.

A range is `since`/`until`, or `span` seconds up to `until`; without `until` it ends at the newest event,
so recorded traffic of any age has an overview. Everything the filters of `GET /v1/events` take applies.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, Query

from bakeoff.collector.deps import StoreDep, filters_of
from bakeoff.collector.errors import ClientError
from bakeoff.collector.store import Store, event_filters

router = APIRouter()

# Bucket widths the automatic choice picks from (seconds): at most MAX_AUTO_BUCKETS buckets per range.
BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_AUTO_BUCKETS = 120
MAX_BUCKETS = 2000  # a chosen bucket narrower than span / MAX_BUCKETS is refused: the chart is unreadable
TOP_KEYS = 8  # models or tags drawn as their own series


class Scope:
    """The events one overview call is about: the filters and the resolved time range."""

    def __init__(
        self,
        store: StoreDep,
        since: datetime | None = None,
        until: datetime | None = None,
        span: Annotated[int | None, Query(ge=60, le=10 * 365 * 86400)] = None,
        tag: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        status: Annotated[str | None, Query(pattern="^(ok|error)$")] = None,
        project: str | None = None,
    ) -> None:
        self.store = store
        if since is not None and until is not None and since >= until:
            raise ClientError(422, "since must be before until")
        if until is None and (since is None or span is not None):
            until = latest(store)
        if since is None and span is not None and until is not None:
            since = until - timedelta(seconds=span)
        self.since, self.until = since, until
        self.filters = filters_of(tag, model, provider, status, project, since, until)

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause over `events` and its parameters."""
        return event_filters(self.filters)


ScopeDep = Annotated[Scope, Depends()]


def latest(store: Store) -> datetime | None:
    """Just after the newest event's start (so that `ts < until` keeps it), or None when there is none."""
    # As microseconds since the epoch: fetching TIMESTAMPTZ values as datetimes would need pytz.
    row = store.cursor().execute("SELECT epoch_us(max(ts)) FROM events").fetchone()
    if row is None or row[0] is None:
        return None
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(row[0]) + 1)


# Quantiles from a reservoir sample of 8,192 values per group (exact below that): a t-digest over 1M
# calls costs twice as much, an exact quantile three times (bench/bench_dashboard_api.py).
SAMPLE = 8192


def quantile(column: str, q: float) -> str:
    """SQL for the q-quantile of `column` (exact up to SAMPLE values, a uniform sample's beyond)."""
    return f"reservoir_quantile({column}, {q!r}, {SAMPLE})"


@router.get("/v1/stats")
def stats(scope: ScopeDep) -> dict[str, Any]:
    """Totals, traffic by provider and model, the top tags and feedback over the range."""
    cursor = scope.store.cursor()
    where, params = scope.where()
    by_model = cursor.execute(
        f"""
        SELECT provider, model, count(*) AS calls, count(*) FILTER (WHERE status = 'error'),
               {quantile("latency_ms", 0.5)}, {quantile("latency_ms", 0.95)}, {quantile("ttft_ms", 0.5)},
               sum(input_tokens), sum(output_tokens)
        FROM events WHERE {where} GROUP BY provider, model ORDER BY calls DESC, provider, model
        """,
        params,
    ).fetchall()
    keys = ("provider", "model", "calls", "errors", "p50_ms", "p95_ms", "ttft_p50_ms")
    models = [
        {**dict(zip(keys, row, strict=False)), "input_tokens": row[7], "output_tokens": row[8]}
        for row in by_model
    ]
    tags = cursor.execute(
        f"SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM events WHERE {where}) "
        "GROUP BY tag ORDER BY 2 DESC, 1 LIMIT 20",
        params,
    ).fetchall()
    feedback = _feedback(cursor, where, params)
    for model in models:
        model["feedback"], model["feedback_count"] = feedback["by_model"].get(
            (model["provider"], model["model"]), (None, 0)
        )
    return {
        "total": sum(m["calls"] for m in models),
        "errors": sum(m["errors"] for m in models),
        "since": _iso(scope.since),
        "until": _iso(scope.until),
        "models": models,
        "tags": [{"tag": tag, "calls": calls} for tag, calls in tags],
        "feedback": {k: v for k, v in feedback.items() if k != "by_model"},
    }


def _feedback(cursor: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> dict[str, Any]:
    """Feedback on the events in scope: count, mean, scores below 0.5, the latest ten, and per model
    the mean of each event's mean score. The events are probed once; the rest reads the matches."""
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE scoped_feedback AS
        SELECT f.event_id, f.score, f.comment, f.ts, e.provider, e.model
        FROM feedback f JOIN (SELECT id, provider, model FROM events WHERE {where}) e ON e.id = f.event_id
        """,
        params,
    )
    try:
        count, mean, low = cursor.execute(
            "SELECT count(*), avg(score), count(*) FILTER (WHERE score < 0.5) FROM scoped_feedback"
        ).fetchone() or (0, None, 0)
        latest = cursor.execute(
            "SELECT event_id, score, comment, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
            "FROM scoped_feedback ORDER BY ts DESC, event_id LIMIT 10"
        ).fetchall()
        by_model = cursor.execute(
            "SELECT provider, model, avg(score), count(*) FROM (SELECT provider, model, avg(score) AS score "
            "FROM scoped_feedback GROUP BY event_id, provider, model) GROUP BY provider, model"
        ).fetchall()
    finally:
        cursor.execute("DROP TABLE IF EXISTS scoped_feedback")
    return {
        "count": count,
        "mean": mean,
        "low": low,
        "latest": [
            {"event_id": event_id, "score": score, "comment": comment, "ts": ts}
            for event_id, score, comment, ts in latest
        ],
        "by_model": {(p, m): (score, n) for p, m, score, n in by_model},
    }


# Bucket starts as epoch seconds, on time_bucket's origin (Monday 2000-01-03, so weeks start on Mondays),
# computed from the microseconds: time_bucket over TIMESTAMPTZ goes through time zones, 5x the cost.
ORIGIN_S = 946857600


def bucket_expression(width: int) -> str:
    """SQL: the start (epoch seconds) of the `width`-second bucket holding each event's `ts`."""
    start = f"CAST(floor((epoch_us(ts) - {ORIGIN_S * 10**6}) / {width * 10**6}) AS BIGINT)"
    return f"({start} * {width} + {ORIGIN_S})"


@router.get("/v1/stats/series")
def series(
    scope: ScopeDep,
    bucket: Annotated[int | None, Query(ge=1)] = None,
    by: Literal["model", "tag"] | None = None,
    totals: bool = True,
) -> dict[str, Any]:
    """Per time bucket: calls, errors, latency p50/p95 and time to first token p50, tokens in and out,
    cost at list prices;
    with `by`, calls per bucket of the busiest models or tags too (`totals=false`: only those)."""
    width = bucket_width(scope, bucket)
    result: dict[str, Any] = {"since": _iso(scope.since), "until": _iso(scope.until), "bucket_s": width}
    if totals:
        where, params = scope.where()
        rows = (
            scope.store.cursor()
            .execute(
                f"""
                SELECT {bucket_expression(width)} AS t, count(*), count(*) FILTER (WHERE status = 'error'),
                       {quantile("latency_ms", 0.5)}, {quantile("latency_ms", 0.95)},
                       {quantile("ttft_ms", 0.5)}, sum(input_tokens), sum(output_tokens)
                FROM events WHERE {where} GROUP BY t ORDER BY t
                """,
                params,
            )
            .fetchall()
        )
        keys = ("t", "calls", "errors", "p50_ms", "p95_ms", "ttft_p50_ms", "input_tokens", "output_tokens")
        points = [dict(zip(keys, row, strict=True)) for row in rows]
        _add_costs(scope, width, points)
        result["points"] = points
    if by is not None:
        result["by"] = by
        result["groups"] = _grouped(scope, width, by)
    return result


def _add_costs(scope: Scope, width: int, points: list[dict[str, Any]]) -> None:
    """Each point's `cost_usd` at list prices (the genai-prices catalogue, its small-request rates) and
    `unpriced_calls`, the calls of models the catalogue does not know (left out of the cost)."""
    where, params = scope.where()
    rows = (
        scope.store.cursor()
        .execute(
            f"SELECT {bucket_expression(width)} AS t, provider, model, count(*), "
            f"coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) "
            f"FROM events WHERE {where} GROUP BY ALL",
            params,
        )
        .fetchall()
    )
    by_time = {p["t"]: p for p in points}
    for point in points:
        point["cost_usd"], point["unpriced_calls"] = 0.0, 0
    for t, provider, model, calls, tokens_in, tokens_out in rows:
        point = by_time[t]
        rates = list_price(provider, model)
        if rates is None:
            point["unpriced_calls"] += calls
        else:
            point["cost_usd"] += (tokens_in * rates[0] + tokens_out * rates[1]) / 1e6


@functools.cache
def list_price(provider: str, model: str) -> tuple[float, float] | None:
    """USD per million input and output tokens of `model` in the genai-prices catalogue, or None."""
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(Usage(input_tokens=1000, output_tokens=1000), model, provider_id=provider)
    except LookupError:
        return None
    return float(price.input_price) * 1000, float(price.output_price) * 1000


def _grouped(scope: Scope, width: int, by: str) -> list[dict[str, Any]]:
    """Calls per bucket of the TOP_KEYS busiest keys: the keys first, then only their rows are bucketed
    (tags can number in the thousands; bucketing every one of them costs several times more)."""
    where, params = scope.where()
    key = "unnest(tags)" if by == "tag" else "model"
    cursor = scope.store.cursor()
    top = [
        k
        for (k,) in cursor.execute(
            f"SELECT k FROM (SELECT {key} AS k FROM events WHERE {where}) "
            "GROUP BY k ORDER BY count(*) DESC, k LIMIT ?",
            [*params, TOP_KEYS],
        ).fetchall()
    ]
    rows = cursor.execute(
        f"""
        SELECT k, t, count(*) FROM (
            SELECT {bucket_expression(width)} AS t, {key} AS k FROM events WHERE {where}
        ) WHERE k IN (SELECT unnest(?::VARCHAR[])) GROUP BY k, t ORDER BY t
        """,
        [*params, top],
    ).fetchall()
    groups: dict[str, list[dict[str, int]]] = {k: [] for k in top}
    for k, t, calls in rows:
        groups[k].append({"t": t, "calls": calls})
    return [{"key": k, "points": points} for k, points in groups.items()]


def bucket_width(scope: Scope, chosen: int | None) -> int:
    """The chosen bucket (refused when it would draw more than MAX_BUCKETS bars), else the narrowest
    standard width giving at most MAX_AUTO_BUCKETS buckets over the events in range: a week's range
    holding an hour of traffic is drawn in minutes, not in one bar."""
    where, params = scope.where()
    (first, last) = scope.store.cursor().execute(
        f"SELECT epoch(min(ts)), epoch(max(ts)) FROM events WHERE {where}", params
    ).fetchone() or (None, None)
    span = float(last - first) if first is not None and last is not None else 0.0
    if chosen is not None:
        if span / chosen > MAX_BUCKETS:
            raise ClientError(
                422, f"bucket {chosen} s gives {span / chosen:.0f} buckets: at most {MAX_BUCKETS}"
            )
        return chosen
    return next((width for width in BUCKETS if span / width <= MAX_AUTO_BUCKETS), BUCKETS[-1])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
