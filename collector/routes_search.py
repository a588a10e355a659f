"""The dashboard's event browser: `GET /v1/search` (text search with the filters of `GET /v1/events`)
and `GET /v1/facets/{field}` (the values of a filter, busiest first, for typeahead; no cap on choice).

Search matches the stored event body (prompt, answer, tool calls, attributes) case-insensitively and
literally. The query is JSON-encoded the way the body is, so quotes, backslashes and line breaks match
as typed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query

from bakeoff.collector.deps import EventFiltersDep, OffsetQuery, StoreDep
from bakeoff.collector.store import event_filters

router = APIRouter()

FACET_COLUMNS = {
    "tag": "unnest(tags)",
    "model": "model",
    "provider": "provider",
    "project": "project",
    "api": "api",
    "status": "status",
}


def text_pattern(text: str) -> str:
    """A case-insensitive RE2 pattern matching `text` literally inside a JSON-encoded body.

    A regular expression rather than ILIKE: RE2's case folding scans bodies about 3x faster
    (bench/bench_dashboard_api.py)."""
    encoded = orjson.dumps(text).decode()[1:-1]
    return "(?i)\\Q" + encoded.replace("\\E", "\\E\\\\E\\Q") + "\\E"


@router.get("/v1/search")
def search(
    store: StoreDep,
    filters: EventFiltersDep,
    q: Annotated[str, Query(max_length=500)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 25,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Events whose body contains `q` (all when empty) and that match the filters, newest first."""
    where, params = event_filters(filters)
    if q:
        where += " AND regexp_matches(body, ?)"
        params.append(text_pattern(q))
    cursor = store.cursor()
    (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
    rows = cursor.execute(
        f"SELECT body FROM events WHERE {where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return {"events": [orjson.loads(body) for (body,) in rows], "total": int(total)}


@router.get("/v1/facets/{field}")
def facets(
    field: Literal["tag", "model", "provider", "project", "api", "status"],
    store: StoreDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """The values of `field` containing `q` (case-insensitive), with their number of calls."""
    expression = FACET_COLUMNS[field]
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = (
        store.cursor()
        .execute(
            f"SELECT v, count(*) AS calls FROM (SELECT {expression} AS v FROM events) "
            "WHERE v ILIKE ? ESCAPE '\\' GROUP BY v ORDER BY calls DESC, v LIMIT ?",
            [f"%{escaped}%", limit],
        )
        .fetchall()
    )
    return {"field": field, "values": [{"value": value, "calls": calls} for value, calls in rows]}
