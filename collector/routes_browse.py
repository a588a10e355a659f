"""What the dashboard's dataset and run pages read beyond the contract's endpoints:
`GET /v1/datasets/{name}/rows` (rows with weights and strata) and `GET /v1/runs/{id}/answers`
(a candidate's answers beside the baseline's and the reference, with who won each row).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query

from bakeoff.collector.deps import OffsetQuery, StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.rows import prompt_text

router = APIRouter()

Outcome = Literal["all", "lost", "won", "disagreed", "tied"]
OUTCOMES = ("lost", "won", "disagreed", "tied")
Result = tuple[str, str, str, str | None, str | None]  # event id, provider, row, event body, expected


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
    rows = cursor.execute(
        "SELECT r.position, r.event_id, r.weight, r.stratum, r.expected, e.model, e.provider, e.tags, "
        "e.status, e.body->'$.request' FROM dataset_rows r LEFT JOIN events e ON e.id = r.event_id "
        "WHERE r.dataset = ? ORDER BY r.position LIMIT ? OFFSET ?",
        [name, limit, offset],
    ).fetchall()
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
        "SELECT r.event_id, r.provider, r.body, e.body, d.expected FROM results r "
        "LEFT JOIN events e ON e.id = r.event_id "
        "LEFT JOIN dataset_rows d ON d.dataset = ? AND d.event_id = r.event_id "
        "WHERE r.run_id = ? AND r.provider IN (?, ?) ORDER BY r.event_id",
        [dataset, run_id, baseline, candidate],
    ).fetchall()
    rows = _paired(results, str(baseline), candidate, metric)
    counts = {name: sum(1 for r in rows if name in r["outcomes"]) for name in OUTCOMES}
    chosen = [
        r
        for r in rows
        if (outcome == "all" or outcome in r["outcomes"]) and (tag is None or tag in r["tags"])
    ]
    return {
        "run_id": run_id,
        "baseline": baseline,
        "candidate": candidate,
        "metric": metric,
        "providers": providers,
        "counts": {"all": len(rows), **counts},
        "tags": sorted({t for r in rows for t in r["tags"]}),
        "total": len(chosen),
        "rows": chosen[offset : offset + limit],
    }


def _paired(results: list[Result], baseline: str, candidate: str, metric: str | None) -> list[dict[str, Any]]:
    """One row per event with both answers (the first repeat of each), in event order."""
    by_event: dict[str, dict[str, Any]] = {}
    for event_id, provider, body, event_body, expected in results:
        row = by_event.get(event_id)
        if row is None:
            event = orjson.loads(event_body) if event_body else {}
            reference = orjson.loads(expected) if expected else event.get("response")
            row = by_event[event_id] = {
                "event_id": event_id,
                "prompt": prompt_text(event.get("request") or {}),
                "reference": reference,
                "tags": list(event.get("tags") or []),
            }
        answer = orjson.loads(body)
        side = "baseline" if provider == baseline else "candidate"
        if side not in row:
            row[side] = answer
            row["tags"] = row["tags"] or list(answer.get("tags") or [])  # imported cases: the row's tags
    paired = [r for r in by_event.values() if "baseline" in r and "candidate" in r]
    for row in paired:
        row["outcomes"] = _outcomes(row["baseline"], row["candidate"], metric)
    return paired


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
