"""`POST /v1/runs` (a replay run's results), `GET /v1/runs`, `GET /v1/runs/{id}`, and `GET /v1/scores`
(every run's scores, for comparing runs)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bakeoff.collector import runs
from bakeoff.collector.bodies import parse, read_body
from bakeoff.collector.deps import SettingsDep, StoreDep
from bakeoff.collector.errors import ClientError

router = APIRouter()


class RunBody(BaseModel):
    """What `bakeoff replay` publishes: run.json, the two summaries and the detailed rows."""

    run: dict[str, Any]
    benchmark: dict[str, Any]
    comparison: dict[str, Any]
    rows: list[dict[str, Any]] = Field(default_factory=list, max_length=5_000_000)


@router.post("/v1/runs", status_code=201)
async def save_run(request: Request, settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """Store a run (replacing an earlier copy of it)."""
    body = parse(RunBody, await read_body(request, settings.max_body_bytes))
    problem = runs.run_problem(body.run, body.benchmark, body.comparison, body.rows)
    if problem is not None:
        raise ClientError(422, problem)
    await asyncio.to_thread(runs.save_run, store, body.run, body.benchmark, body.comparison, body.rows)
    return JSONResponse({"run_id": body.run["run_id"], "rows": len(body.rows)}, status_code=201)


@router.get("/v1/runs")
async def list_runs(store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The newest runs."""
    return {"runs": await asyncio.to_thread(runs.list_runs, store, limit)}


@router.get("/v1/scores")
async def run_scores(store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The newest runs (oldest first) with every provider's score on every metric: two runs side by
    side, a provider's score over successive runs."""
    return {"runs": await asyncio.to_thread(runs.run_scores, store, limit)}


@router.get("/v1/runs/{run_id}")
async def get_run(run_id: str, store: StoreDep) -> dict[str, Any]:
    """One run's summaries."""
    found = await asyncio.to_thread(runs.get_run, store, run_id)
    if found is None:
        raise ClientError(404, f"no run {run_id!r}")
    return found
