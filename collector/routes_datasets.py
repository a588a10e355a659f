"""Samples and datasets: `POST /v1/samples`, `GET /v1/datasets`, `GET /v1/datasets/{name}`, imports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from bakeoff.collector.datasets import DatasetExists, create_sample, export_lines, import_cases, list_datasets
from bakeoff.collector.deps import FreshStoreDep, IngestDep, StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.sampling import SampleSpec
from bakeoff.errors import UsageError

router = APIRouter()

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Filters(BaseModel):
    """Which events a sample is drawn from."""

    model_config = {"extra": "forbid"}

    tag: str | None = None
    model: str | None = None
    provider: str | None = None
    status: Literal["ok", "error"] | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class SampleRequest(BaseModel):
    """The body of `POST /v1/samples`."""

    model_config = {"extra": "forbid"}

    name: str = Field(pattern=NAME)
    strategy: Literal["random", "stratified", "feedback", "errors", "recent", "diverse"]
    n: int = Field(gt=0, le=1_000_000)
    by: Literal["tag", "model", "provider"] = "tag"
    allocation: Literal["proportional", "equal"] = "proportional"
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1)  # DuckDB's hash takes a BIGINT seed
    filters: Filters = Field(default_factory=Filters)
    replace: bool = False


class ImportRequest(BaseModel):
    """The body of `POST /v1/datasets/import`: test cases or events, as parsed from a file."""

    name: str = Field(pattern=NAME)
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)
    source: str = "import"
    replace: bool = False


@router.post("/v1/samples", status_code=201)
def make_sample(body: SampleRequest, store: FreshStoreDep) -> dict[str, Any]:
    """Draw a sample into a new dataset, from every event the cluster acknowledged before the request."""
    spec = SampleSpec(body.strategy, body.n, body.by, body.allocation, body.seed, body.filters.model_dump())
    try:
        return create_sample(store, body.name, spec, replace=body.replace)
    except DatasetExists as exc:
        raise ClientError(409, f'{exc}: choose another name or send "replace": true') from exc


@router.post("/v1/datasets/import", status_code=201)
def import_dataset(body: ImportRequest, store: StoreDep, ingest: IngestDep) -> dict[str, Any]:
    """Store test cases (or events) as a dataset."""
    try:
        return import_cases(
            store, body.name, body.rows, body.source, replace=body.replace, write=ingest.commit_now
        )
    except DatasetExists as exc:
        raise ClientError(409, str(exc)) from exc
    except UsageError as exc:
        raise ClientError(422, str(exc)) from exc


@router.get("/v1/datasets")
def datasets(store: StoreDep) -> dict[str, Any]:
    return {"datasets": list_datasets(store)}


@router.get("/v1/datasets/{name}")
def dataset(name: str, store: StoreDep) -> StreamingResponse:
    """One dataset as JSON lines, each row an event with its sampling weight."""
    lines = export_lines(store, name)
    if lines is None:
        raise ClientError(404, f"no dataset named {name!r}")
    return StreamingResponse(lines, media_type="application/x-ndjson")
