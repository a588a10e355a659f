"""The dashboard's event browser: `GET /v1/search` (text search with the filters of `GET /v1/events`)
and `GET /v1/facets/{field}` (the values of a filter, busiest first, for typeahead; no cap on choice).

Search finds the events whose stored text (prompt, answer, tool calls, attributes) holds every word of
the query, the last as a prefix, through the word index of :mod:`bakeoff.collector.text_search` (kept
by a background thread this router starts with the app). A query without a letter or digit matches the
body literally instead, case-insensitively (JSON-encoded the way the body is, so quotes, backslashes and
line breaks match as typed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Query, Request

from bakeoff.collector import text_search
from bakeoff.collector.deps import EventFiltersDep, OffsetQuery, StoreDep
from bakeoff.collector.store import Store, event_filters


@asynccontextmanager
async def _text_index(app: FastAPI) -> AsyncIterator[None]:
    """The word index's thread, for the app's life (within the store's: the app opens it first)."""
    store: Store = app.state.store
    indexer = None
    if text_search.indexed_kind(store):
        indexer = await asyncio.to_thread(text_search.TextIndexer, store)
        indexer.start()
    app.state.text_index = indexer
    try:
        yield
    finally:
        if indexer is not None:
            await asyncio.to_thread(indexer.stop)


router = APIRouter(lifespan=_text_index)

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
    request: Request,
    store: StoreDep,
    filters: EventFiltersDep,
    q: Annotated[str, Query(max_length=500)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 25,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Events holding the words of `q` (all when empty) and matching the filters, newest first;
    `index` says how the text was searched."""
    indexer: text_search.TextIndexer | None = getattr(request.app.state, "text_index", None)
    return search_events(store, indexer, filters, q, limit, offset)


def search_events(
    store: Store,
    indexer: text_search.TextIndexer | None,
    filters: dict[str, Any],
    q: str,
    limit: int = 25,
    offset: int = 0,
) -> dict[str, Any]:
    """The body of `GET /v1/search` (see :func:`search`)."""
    where, params = event_filters(filters)
    how: dict[str, Any] = {"kind": "none"}
    matching = f"SELECT ts, id FROM events WHERE {where}", params
    if q:
        indexed = indexer.matching(store, q, where, params) if indexer is not None else None
        scan = None if indexer is not None else text_search.scan_condition(q)
        if indexed is not None and indexer is not None:
            matching = indexed
            how = indexer.status()
        elif scan is not None:
            matching = f"{matching[0]} AND {scan[0]}", [*params, *scan[1]]
            how = {"kind": "scan"}
        else:  # no word to look up: the literal text, by a scan
            matching = f"{matching[0]} AND regexp_matches(body, ?)", [*params, text_pattern(q)]
            how = {"kind": "literal scan"}
    cursor = store.cursor()
    if not q:
        (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
        rows = cursor.execute(
            f"SELECT body FROM events WHERE {where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return {"events": [orjson.loads(body) for (body,) in rows], "total": int(total), "index": how}
    # The matches once, as (ts, id) in this thread's own temporary table: counted, then a page of
    # them ordered, and only that page's bodies read (by id, through the index on events.id).
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE search_matches AS {matching[0]}", matching[1])
    try:
        (total,) = cursor.execute("SELECT count(*) FROM search_matches").fetchone() or (0,)
        page = [
            event_id
            for (event_id,) in cursor.execute(
                "SELECT id FROM search_matches ORDER BY ts DESC, id LIMIT ? OFFSET ?", [limit, offset]
            ).fetchall()
        ]
    finally:
        cursor.execute("DROP TABLE IF EXISTS search_matches")
    bodies: dict[str, str] = {}
    if page:
        marks = ", ".join("?" for _ in page)
        bodies = dict(cursor.execute(f"SELECT id, body FROM events WHERE id IN ({marks})", page).fetchall())
    events = [orjson.loads(bodies[i]) for i in page if i in bodies]
    return {"events": events, "total": int(total), "index": how}


@router.get("/v1/facets/{field}")
def facets(
    request: Request,
    field: Literal["tag", "model", "provider", "project", "api", "status"],
    store: StoreDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """The values of `field` containing `q` (case-insensitive), with their number of calls."""
    indexer: text_search.TextIndexer | None = getattr(request.app.state, "text_index", None)
    return facet_values(store, indexer, field, q, limit)


def facet_values(
    store: Store, indexer: text_search.TextIndexer | None, field: str, q: str = "", limit: int = 20
) -> dict[str, Any]:
    """The body of `GET /v1/facets/{field}` (see :func:`facets`). Tags are counted by the word index
    where it can (5,000 tags over 1M events are 2M values to unnest and group otherwise)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    rows = indexer.tag_counts(store, pattern, limit) if indexer is not None and field == "tag" else None
    if rows is None:
        rows = (
            store.cursor()
            .execute(
                f"SELECT v, count(*) AS calls FROM (SELECT {FACET_COLUMNS[field]} AS v FROM events) "
                "WHERE v ILIKE ? ESCAPE '\\' GROUP BY v ORDER BY calls DESC, v LIMIT ?",
                [pattern, limit],
            )
            .fetchall()
        )
    return {"field": field, "values": [{"value": value, "calls": calls} for value, calls in rows]}
