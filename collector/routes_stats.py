"""The dashboard's overview: `GET /v1/stats` (totals, by model, top tags, feedback) and
`GET /v1/stats/series` (calls, errors, latency, time to first token and tokens per time bucket).

Cost is priced here from the genai-prices catalogue (the events keep tokens, not prices), at each
model's small-request rates; calls of models it does not know are counted apart, never guessed.

A range is `since`/`until`, or `span` seconds up to `until`; without `until` it ends at the newest event,
so recorded traffic of any age has an overview. Everything the filters of `GET /v1/events` take applies.

The figures come from the rollups (:mod:`bakeoff.collector.overview`), equal to the plain queries over
`events` below (quantiles within ~1%); a tag filter, or a bucket that is not whole minutes, takes the
plain queries.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, Query

from bakeoff.collector import overview
from bakeoff.collector.deps import StoreDep, filters_of
from bakeoff.collector.errors import ClientError
from bakeoff.collector.rollups import WIDTHS, bucket_expression
from bakeoff.collector.store import Store, event_filters

router = APIRouter()

# Bucket widths the automatic choice picks from (seconds): at most MAX_AUTO_BUCKETS buckets per range.
BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_AUTO_BUCKETS = 120
MAX_BUCKETS = 2000  # a chosen bucket narrower than span / MAX_BUCKETS is refused: the chart is unreadable
TOP_KEYS = 8  # models or tags drawn as their own series


class Scope:
    """The events one overview call is about: the filters and the time range, resolved per call
    (:meth:`resolved`) in the snapshot the call reads."""

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
        self.span = span
        self.since, self.until = since, until
        self.filters = filters_of(tag, model, provider, status, project, since, until)

    def resolved(self, latest: datetime | None) -> Scope:
        """This scope with `until` the given newest start when it was left open (and `since` from the
        span); `latest` is the newest event's start plus 1 us, as :func:`latest` gives it."""
        since, until = self.since, self.until
        if until is None and (since is None or self.span is not None):
            until = latest
        if since is None and self.span is not None and until is not None:
            since = until - timedelta(seconds=self.span)
        scope = Scope.__new__(Scope)
        scope.store, scope.span, scope.since, scope.until = self.store, None, since, until
        scope.filters = {**self.filters, "since": since, "until": until}
        return scope

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause over `events` and its parameters."""
        return event_filters(self.filters)


ScopeDep = Annotated[Scope, Depends()]


def latest(store: Store) -> datetime | None:
    """Just after the newest event's start (so that `ts < until` keeps it), or None when there is none."""
    # As microseconds since the epoch: fetching TIMESTAMPTZ values as datetimes would need pytz.
    row = store.cursor().execute("SELECT epoch_us(max(ts)) FROM events").fetchone()
    return _just_after(None if row is None else row[0])


def _just_after(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(us) + 1)


# Quantiles from a reservoir sample of 8,192 values per group (exact below that): a t-digest over 1M
# calls costs twice as much, an exact quantile three times (bench/bench_dashboard_api.py).
SAMPLE = 8192


def quantile(column: str, q: float) -> str:
    """SQL for the q-quantile of `column` (exact up to SAMPLE values, a uniform sample's beyond)."""
    return f"reservoir_quantile({column}, {q!r}, {SAMPLE})"


@router.get("/v1/stats")
def stats(scope: ScopeDep) -> dict[str, Any]:
    """Totals, traffic by provider and model, the top tags and feedback over the range."""
    if overview.answers(scope.filters):
        with overview.view(scope.store, scope.filters) as view:
            if view is not None:
                return _stats_of(scope.resolved(_just_after(view.latest_us)), view)
    return _stats_of(scope.resolved(latest(scope.store)), None)


def _stats_of(scope: Scope, view: overview.RollupView | None) -> dict[str, Any]:
    cursor = scope.store.cursor()
    if view is None:
        models, tags, feedback = _plain_models(scope), _plain_tags(scope), _plain_feedback(scope)
    else:
        models = _rollup_models(scope, view)
        counted = view.tag_counts([], scope.since, scope.until, list(WIDTHS))
        tags = sorted(((tag, int(calls)) for tag, calls in counted), key=_busiest)[:20]
        feedback = _feedback_figures(cursor, view.feedback(scope.since, scope.until), [])
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


def _busiest(item: tuple[Any, int]) -> tuple[int, bool, str]:
    """Sort key: most calls first, then by key (NULL last), as `ORDER BY calls DESC, key` sorts."""
    key, calls = item
    return (-calls, key is None, "" if key is None else str(key))


_MODEL_KEYS = ("provider", "model", "calls", "errors", "p50_ms", "p95_ms", "ttft_p50_ms")


def _plain_models(scope: Scope) -> list[dict[str, Any]]:
    where, params = scope.where()
    by_model = (
        scope.store.cursor()
        .execute(
            f"""
            SELECT provider, model, count(*) AS calls, count(*) FILTER (WHERE status = 'error'),
                   {quantile("latency_ms", 0.5)}, {quantile("latency_ms", 0.95)}, {quantile("ttft_ms", 0.5)},
                   sum(input_tokens), sum(output_tokens)
            FROM events WHERE {where} GROUP BY provider, model ORDER BY calls DESC, provider, model
            """,
            params,
        )
        .fetchall()
    )
    return [
        {**dict(zip(_MODEL_KEYS, row, strict=False)), "input_tokens": row[7], "output_tokens": row[8]}
        for row in by_model
    ]


def _rollup_models(scope: Scope, view: overview.RollupView) -> list[dict[str, Any]]:
    widths = list(WIDTHS)
    rows = view.totals(overview.MODEL_GROUP, scope.since, scope.until, widths)
    quantiles = view.quantiles(overview.MODEL_GROUP, scope.since, scope.until, widths)
    rows.sort(key=lambda row: (-row[2], row[0], row[1]))
    return [
        {
            **dict(zip(_MODEL_KEYS, (provider, model, int(calls), int(errors)), strict=False)),
            **dict(zip(_MODEL_KEYS[4:], quantiles.get((provider, model), (None, None, None)), strict=True)),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
        }
        for provider, model, calls, errors, tokens_in, tokens_out, _, _ in rows
    ]


def _plain_tags(scope: Scope) -> list[tuple[Any, int]]:
    where, params = scope.where()
    return (
        scope.store.cursor()
        .execute(
            f"SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM events WHERE {where}) "
            "GROUP BY tag ORDER BY 2 DESC, 1 LIMIT 20",
            params,
        )
        .fetchall()
    )


def _plain_feedback(scope: Scope) -> dict[str, Any]:
    """Feedback on the events in scope; the events are probed once, the figures read the matches."""
    where, params = scope.where()
    cursor = scope.store.cursor()
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE scoped_feedback AS
        SELECT f.event_id, f.score, f.comment, f.ts, e.provider, e.model
        FROM feedback f JOIN (SELECT id, provider, model FROM events WHERE {where}) e ON e.id = f.event_id
        """,
        params,
    )
    try:
        return _feedback_figures(cursor, "scoped_feedback", [])
    finally:
        cursor.execute("DROP TABLE IF EXISTS scoped_feedback")


def _feedback_figures(cursor: duckdb.DuckDBPyConnection, scoped: str, params: list[Any]) -> dict[str, Any]:
    """Feedback figures over `scoped` (event_id, score, comment, ts, provider, model): count, mean,
    scores below 0.5, the latest ten, and per model the mean of each event's mean score."""
    count, mean, low = cursor.execute(
        f"SELECT count(*), avg(score), count(*) FILTER (WHERE score < 0.5) FROM {scoped}", params
    ).fetchone() or (0, None, 0)
    latest = cursor.execute(
        "SELECT event_id, score, comment, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
        f"FROM {scoped} ORDER BY ts DESC, event_id LIMIT 10",
        params,
    ).fetchall()
    by_model = cursor.execute(
        "SELECT provider, model, avg(score), count(*) FROM (SELECT provider, model, avg(score) AS score "
        f"FROM {scoped} GROUP BY event_id, provider, model) GROUP BY provider, model",
        params,
    ).fetchall()
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
    if overview.answers(scope.filters, bucket):
        with overview.view(scope.store, scope.filters) as view:
            if view is not None:
                return _series_of(scope.resolved(_just_after(view.latest_us)), view, bucket, by, totals)
    return _series_of(scope.resolved(latest(scope.store)), None, bucket, by, totals)


_POINT_KEYS = ("t", "calls", "errors", "p50_ms", "p95_ms", "ttft_p50_ms", "input_tokens", "output_tokens")


def _series_of(
    scope: Scope, view: overview.RollupView | None, bucket: int | None, by: str | None, totals: bool
) -> dict[str, Any]:
    if view is None:
        where, params = scope.where()
        first, last = scope.store.cursor().execute(
            f"SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM events WHERE {where}", params
        ).fetchone() or (None, None)
    else:
        ((*_, first, last),) = view.totals([], scope.since, scope.until, list(WIDTHS)) or [(None, None)]
    width = bucket_width(first, last, bucket)
    result: dict[str, Any] = {"since": _iso(scope.since), "until": _iso(scope.until), "bucket_s": width}
    if totals:
        points = _plain_points(scope, width) if view is None else _rollup_points(scope, view, width)
        result["points"] = points
    if by is not None:
        result["by"] = by
        result["groups"] = (
            _grouped(scope, width, by) if view is None else _rollup_grouped(scope, view, width, by)
        )
    return result


def _plain_points(scope: Scope, width: int) -> list[dict[str, Any]]:
    where, params = scope.where()
    cursor = scope.store.cursor()
    rows = cursor.execute(
        f"""
        SELECT {bucket_expression(width)} AS t, count(*), count(*) FILTER (WHERE status = 'error'),
               {quantile("latency_ms", 0.5)}, {quantile("latency_ms", 0.95)},
               {quantile("ttft_ms", 0.5)}, sum(input_tokens), sum(output_tokens)
        FROM events WHERE {where} GROUP BY t ORDER BY t
        """,
        params,
    ).fetchall()
    points = [dict(zip(_POINT_KEYS, row, strict=True)) for row in rows]
    costs = cursor.execute(
        f"SELECT {bucket_expression(width)} AS t, provider, model, count(*), "
        f"coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) "
        f"FROM events WHERE {where} GROUP BY ALL",
        params,
    ).fetchall()
    _add_costs(points, costs)
    return points


def _rollup_points(scope: Scope, view: overview.RollupView, width: int) -> list[dict[str, Any]]:
    widths = _widths_for(width)
    group = [overview.cell_group(width)]
    rows = view.totals(group, scope.since, scope.until, widths)
    quantiles = view.quantiles(group, scope.since, scope.until, widths)
    points = [
        dict(
            zip(
                _POINT_KEYS,
                (t, int(calls), int(errors), *quantiles.get((t,), (None, None, None)), tokens_in, tokens_out),
                strict=True,
            )
        )
        for t, calls, errors, tokens_in, tokens_out, _, _ in rows
    ]
    by_model = view.totals([*group, *overview.MODEL_GROUP], scope.since, scope.until, widths)
    _add_costs(
        points, [(t, p, m, calls, tin or 0, tout or 0) for t, p, m, calls, _, tin, tout, _, _ in by_model]
    )
    return points


def _widths_for(width: int) -> list[int]:
    """The cell widths a series of `width`-second buckets can read: those dividing it."""
    return [cell for cell in WIDTHS if width % cell == 0]


def _add_costs(points: list[dict[str, Any]], rows: list[tuple[Any, ...]]) -> None:
    """Each point's `cost_usd` at list prices (the genai-prices catalogue, its small-request rates) and
    `unpriced_calls`, the calls of models the catalogue does not know (left out of the cost), from rows
    (t, provider, model, calls, input tokens, output tokens)."""
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
    return _groups(top, rows)


def _rollup_grouped(scope: Scope, view: overview.RollupView, width: int, by: str) -> list[dict[str, Any]]:
    """As :func:`_grouped`, from the rollups."""
    widths, group = _widths_for(width), overview.cell_group(width)
    if by == "tag":
        # The busiest over the range from the widest cells (the same counts, fewer rows).
        counted = [
            (tag, int(calls)) for tag, calls in view.tag_counts([], scope.since, scope.until, list(WIDTHS))
        ]
        top = [tag for tag, _ in sorted(counted, key=_busiest)[:TOP_KEYS]]
        rows = view.tag_counts([group], scope.since, scope.until, widths, [t for t in top if t is not None])
    else:
        per_model = view.totals([("model", "model")], scope.since, scope.until, widths)
        top = [model for model, _ in sorted(((m, int(c)) for m, c, *_ in per_model), key=_busiest)[:TOP_KEYS]]
        models = view.totals([("model", "model"), group], scope.since, scope.until, widths)
        rows = [(model, t, calls) for model, t, calls, *_ in models if model in top]
    return _groups(top, sorted(rows, key=lambda row: row[1]))


def _groups(top: list[Any], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The series of each of `top`, from rows (key, t, calls) ordered by t."""
    groups: dict[Any, list[dict[str, int]]] = {k: [] for k in top}
    for k, t, calls in rows:
        if k in groups:
            groups[k].append({"t": t, "calls": int(calls)})
    return [{"key": k, "points": points} for k, points in groups.items()]


def bucket_width(first_us: int | None, last_us: int | None, chosen: int | None) -> int:
    """The chosen bucket (refused when it would draw more than MAX_BUCKETS bars), else the narrowest
    standard width giving at most MAX_AUTO_BUCKETS buckets over the events in range (first and last
    start, epoch us): a week's range holding an hour of traffic is drawn in minutes, not in one bar."""
    span = (last_us - first_us) / 1e6 if first_us is not None and last_us is not None else 0.0
    if chosen is not None:
        if span / chosen > MAX_BUCKETS:
            raise ClientError(
                422, f"bucket {chosen} s gives {span / chosen:.0f} buckets: at most {MAX_BUCKETS}"
            )
        return chosen
    return next((width for width in BUCKETS if span / width <= MAX_AUTO_BUCKETS), BUCKETS[-1])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
