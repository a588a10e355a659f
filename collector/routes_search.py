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
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Annotated, Any, Literal

import duckdb
import orjson
from fastapi import APIRouter, FastAPI, Query, Request

from bakeoff.collector import search_page, text_search
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
    """The body of `GET /v1/search` (see :func:`search`). Its statements read one snapshot: a commit
    between them (an indexer round, a log join taking an event out of the index) cannot make the
    total, the page and the bodies disagree."""
    where, params = event_filters(filters)
    how: dict[str, Any] = {"kind": "none"}
    cursor = store.cursor()
    with _snapshot(cursor):
        matches = indexer.matching(store, q, filters) if indexer is not None else None
        if not q and matches is None:
            (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
            rows = cursor.execute(
                f"SELECT body FROM events WHERE {where} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return {"events": [orjson.loads(body) for (body,) in rows], "total": int(total), "index": how}
        if matches is not None and indexer is not None:
            how = indexer.status()
        else:
            scan = None if indexer is not None else text_search.scan_condition(q)
            if scan is not None:
                sql, scan_params = f"SELECT ts, id FROM events WHERE {where} AND {scan[0]}", scan[1]
                how = {"kind": "scan"}
            else:  # no word to look up: the literal text, by a scan
                sql, scan_params = (
                    f"SELECT ts, id FROM events WHERE {where} AND regexp_matches(body, ?)",
                    [text_pattern(q)],
                )
                how = {"kind": "literal scan"}
            matches = text_search.Matches(sql, [*params, *scan_params], [], scan=True)
        total, page = search_page.page(cursor, matches, limit, offset)
        bodies: dict[str, str] = {}
        if page:
            # As JSON: a list parameter costs DuckDB milliseconds per id to bind.
            bodies = dict(
                cursor.execute(
                    "SELECT id, body FROM events WHERE id IN (SELECT unnest(from_json(?, '[\"VARCHAR\"]')))",
                    [orjson.dumps(page).decode()],
                ).fetchall()
            )
    events = [orjson.loads(bodies[i]) for i in page if i in bodies]
    return {"events": events, "total": int(total), "index": how}


@contextmanager
def _snapshot(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A read transaction on `cursor`: the statements inside it see one snapshot."""
    cursor.execute("BEGIN")
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # nothing written: ending it is all
            cursor.execute("ROLLBACK")


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
