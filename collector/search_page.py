"""A page of a search's matches, newest first (ts, then id), and how many match in all.

A common word matches a quarter of a million events at 1M; writing every match's (ts, id) to a table
to count and order them cost more than the rest of the search together. Instead, two aggregates over the
matches: their count with the `k` newest times (`max(ts, k)`: a bounded heap, not a sort), then the
matches at or after the `k`-th newest time, sorted (ties on the time ordered by id, as the page must
be). Only the page's (ts, id) ever leave DuckDB; the matches read in Python (the events the index
lacks) join them there. Deep pages (beyond `TOP_MAX`) and scans of every body (no index) write the
matches once to a temporary table instead: a scan read twice would cost twice.
"""

from __future__ import annotations

import heapq

import duckdb
import pyarrow as pa

from bakeoff.collector.text_search import Matches

TOP_MAX = 5_000  # offset + limit up to which the newest times are kept in an aggregate
# The time bound goes to DuckDB as seconds in a double, rounded to a fraction of a microsecond: it is
# lowered by this much, and the matches in between only come after the page's LIMIT.
MARGIN_S = 1.0


def page(
    cursor: duckdb.DuckDBPyConnection, matches: Matches, limit: int, offset: int
) -> tuple[int, list[str]]:
    """How many events `matches`, and the ids of its page (`offset`, `limit`), newest first."""
    k = offset + limit
    if k > TOP_MAX or matches.scan:
        return _materialized(cursor, matches, limit, offset)
    sql, params = matches.sql, matches.params
    count, low = cursor.execute(
        f"SELECT count(*), list_min(max(epoch_us(ts), {int(k)})) FROM ({sql})", params
    ).fetchone() or (0, None)
    rows: list[tuple[int, str]] = []
    if count:
        # Bounded by time, not by epoch_us(ts): DuckDB then skips the row groups that end earlier.
        rows = cursor.execute(
            f"SELECT epoch_us(ts), id FROM ({sql}) WHERE ts >= to_timestamp(?) "
            f"ORDER BY ts DESC, id LIMIT {int(k)}",
            [*params, int(low) / 1e6 - MARGIN_S],
        ).fetchall()
    newest = heapq.nsmallest(k, [*rows, *matches.found], key=lambda row: (-row[0], row[1]))
    return int(count) + len(matches.found), [event_id for _, event_id in newest[offset:]]


def _materialized(
    cursor: duckdb.DuckDBPyConnection, matches: Matches, limit: int, offset: int
) -> tuple[int, list[str]]:
    """The same answer from every match's (ts, id), written once to this cursor's temporary table."""
    found = pa.table(
        {
            "ts": pa.array([ts for ts, _ in matches.found], pa.int64()),
            "id": pa.array([event_id for _, event_id in matches.found], pa.string()),
        }
    )
    cursor.register("search_found", found)
    try:
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE search_matches AS "
            f"SELECT epoch_us(ts) AS ts, id FROM ({matches.sql}) UNION ALL SELECT ts, id FROM search_found",
            matches.params,
        )
        (total,) = cursor.execute("SELECT count(*) FROM search_matches").fetchone() or (0,)
        ids = cursor.execute(
            "SELECT id FROM search_matches ORDER BY ts DESC, id LIMIT ? OFFSET ?", [limit, offset]
        ).fetchall()
    finally:
        cursor.execute("DROP TABLE IF EXISTS search_matches")
        cursor.unregister("search_found")
    return int(total), [event_id for (event_id,) in ids]
