"""What the dashboard's dataset and run pages read beyond the contract's endpoints:
`GET /v1/datasets/{name}/rows` (rows with weights and strata) and `GET /v1/runs/{id}/answers`
(a candidate's answers beside the baseline's and the reference, with who won each row).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import duckdb
import orjson
from fastapi import APIRouter, Query

from bakeoff.collector.deps import OffsetQuery, StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.rows import prompt_text
from bakeoff.collector.store import matched

router = APIRouter()

Outcome = Literal["all", "lost", "won", "disagreed", "tied"]
OUTCOMES = ("lost", "won", "disagreed", "tied")
Result = tuple[str, str, str]  # event id, provider, result row


@router.get("/v1/datasets/{name}/rows")
def dataset_rows(
    name: str,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """A page of the dataset's rows (event summary, weight, stratum, reference) and its strata."""
    cursor = store.cursor()
    if cursor.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone() is None:
        raise ClientError(404, f"no dataset named {name!r}")
    page = cursor.execute(
        "SELECT position, event_id, weight, stratum, expected FROM dataset_rows WHERE dataset = ? "
        "ORDER BY position LIMIT ? OFFSET ?",
        [name, limit, offset],
    ).fetchall()
    events = {
        row[0]: row[1:]
        for row in _events_by_id(
            cursor, "id, model, provider, tags, status, body->'$.request'", [r[1] for r in page]
        )
    }
    rows = [(*r, *events.get(r[1], (None,) * 5)) for r in page]
    strata = cursor.execute(
        "SELECT stratum, count(*), sum(weight) FROM dataset_rows WHERE dataset = ? "
        "GROUP BY stratum ORDER BY 2 DESC, 1",
        [name],
    ).fetchall()
    return {
        "dataset": name,
        "total": sum(count for _, count, _ in strata),
        "strata": [{"stratum": s, "rows": count, "weight": weight} for s, count, weight in strata],
        "rows": [
            {
                "position": position,
                "event_id": event_id,
                "weight": weight,
                "stratum": stratum,
                "expected": None if expected is None else orjson.loads(expected),
                "model": model,
                "provider": provider,
                "tags": tags or [],
                "status": status,
                "prompt": prompt_text(orjson.loads(request)) if request else None,
            }
            for position, event_id, weight, stratum, expected, model, provider, tags, status, request in rows
        ],
    }


@router.get("/v1/runs/{run_id}/answers")
def run_answers(
    run_id: str,
    store: StoreDep,
    candidate: str | None = None,
    metric: str | None = None,
    outcome: Outcome = "all",
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Per event: the prompt, the reference, the baseline's and the candidate's answers and scores on
    `metric` (default: the run's primary metric), and whether the candidate lost, won or tied there."""
    cursor = store.cursor()
    found = cursor.execute(
        "SELECT dataset, benchmark, comparison FROM runs WHERE run_id = ?", [run_id]
    ).fetchone()
    if found is None:
        raise ClientError(404, f"no run {run_id!r}")
    dataset, benchmark, comparison = found[0], orjson.loads(found[1]), orjson.loads(found[2])
    providers = [str(p) for p in benchmark.get("providers") or []]
    baseline = comparison.get("baseline") or (providers[0] if providers else None)
    candidate = candidate or next((p for p in providers if p != baseline), None)
    metric = metric or benchmark.get("primary_metric")
    if candidate not in providers:
        raise ClientError(422, f"candidate {candidate!r} is not a provider of run {run_id!r}: {providers}")
    results = cursor.execute(
        "SELECT event_id, provider, body FROM results WHERE run_id = ? AND provider IN (?, ?) "
        "ORDER BY event_id",
        [run_id, baseline, candidate],
    ).fetchall()
    ids = list(dict.fromkeys(r[0] for r in results))
    tags = {i: list(t or []) for i, t in _events_by_id(cursor, "id, tags", ids)}
    rows = _paired(results, tags, str(baseline), candidate, metric)
    counts = {name: sum(1 for r in rows if name in r["outcomes"]) for name in OUTCOMES}
    chosen = [
        r
        for r in rows
        if (outcome == "all" or outcome in r["outcomes"]) and (tag is None or tag in r["tags"])
    ]
    page = chosen[offset : offset + limit]
    _add_prompts(cursor, dataset, page)
    return {
        "run_id": run_id,
        "baseline": baseline,
        "candidate": candidate,
        "metric": metric,
        "providers": providers,
        "counts": {"all": len(rows), **counts},
        "tags": sorted({t for r in rows for t in r["tags"]}),
        "total": len(chosen),
        "rows": page,
    }


def _events_by_id(cursor: duckdb.DuckDBPyConnection, columns: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """`columns` of the events with these ids. The ids as one JSON parameter: a list of constants is
    looked up in the index on events.id (migration 6) only while it is short, and past a few hundred
    ids DuckDB compares every event with the whole list (a run's 1,000 answers: 3-5x slower); a list
    parameter or a registered Arrow table costs tens of milliseconds more to bind. An id holding a NUL
    is compared as an expression (see `matched`)."""
    if not ids:
        return []
    unique = list(dict.fromkeys(ids))
    return cursor.execute(
        f"SELECT {columns} FROM events WHERE {matched('id', *unique)} IN "
        "(SELECT unnest(from_json(?, '[\"VARCHAR\"]')))",
        [orjson.dumps(unique).decode()],
    ).fetchall()


def _paired(
    results: list[Result], tags: dict[str, list[str]], baseline: str, candidate: str, metric: str | None
) -> list[dict[str, Any]]:
    """One row per event with both answers (the first repeat of each), in event order."""
    by_event: dict[str, dict[str, Any]] = {}
    for event_id, provider, body in results:
        row = by_event.get(event_id)
        if row is None:
            row = by_event[event_id] = {"event_id": event_id, "tags": tags.get(event_id) or []}
        answer = orjson.loads(body)
        side = "baseline" if provider == baseline else "candidate"
        if side not in row:
            row[side] = answer
            row["tags"] = row["tags"] or list(answer.get("tags") or [])  # imported cases: the row's tags
    paired = [r for r in by_event.values() if "baseline" in r and "candidate" in r]
    for row in paired:
        row["outcomes"] = _outcomes(row["baseline"], row["candidate"], metric)
    return paired


def _add_prompts(cursor: duckdb.DuckDBPyConnection, dataset: str | None, rows: list[dict[str, Any]]) -> None:
    """The prompt and the reference (the dataset row's expected answer, else the recorded one) of the
    rows shown: only a page's events are read."""
    ids = [r["event_id"] for r in rows]
    bodies = {i: orjson.loads(b) for i, b in _events_by_id(cursor, "id, body", ids)}
    expected: dict[str, Any] = {}
    if ids and dataset is not None:
        marks = ", ".join("?" for _ in ids)
        for event_id, value in cursor.execute(
            f"SELECT event_id, expected FROM dataset_rows WHERE dataset = ? AND event_id IN ({marks}) "
            "AND expected IS NOT NULL",
            [dataset, *ids],
        ).fetchall():
            expected.setdefault(event_id, orjson.loads(value))
    for row in rows:
        event = bodies.get(row["event_id"], {})
        row["prompt"] = prompt_text(event.get("request") or {})
        row["reference"] = expected.get(row["event_id"], event.get("response"))


def _score(answer: dict[str, Any], metric: str | None) -> float | None:
    result = (answer.get("scores") or {}).get(metric) if metric else None
    value = result.get("score") if isinstance(result, dict) else result
    return float(value) if isinstance(value, int | float) else None


def _outcomes(baseline: dict[str, Any], candidate: dict[str, Any], metric: str | None) -> list[str]:
    """lost / won / tied on the metric's score, and disagreed when the two answers differ."""
    outcomes = []
    a, b = _score(baseline, metric), _score(candidate, metric)
    if a is not None and b is not None:
        outcomes.append("lost" if b < a else "won" if b > a else "tied")
    if _answer_key(baseline) != _answer_key(candidate):
        outcomes.append("disagreed")
    return outcomes


def _answer_key(answer: dict[str, Any]) -> tuple[str, str]:
    output = answer.get("output") or {}
    text = " ".join(str(output.get("text") or "").split()).lower()
    return text, orjson.dumps(output.get("tool_calls")).decode()
