"""The endpoints `bakeoff watch --collector URL` runs its monitors through (see :mod:`.records`).

`POST /v1/monitors/tick`: one tick of the given traffic monitors, saved, nothing sent;
`GET|PUT /v1/monitors/state`: the replay monitors' states, saved together with the alerts they changed;
`GET /v1/alerts/pending`, `POST /v1/alerts/{id}/notified`: the outbox, which the watcher delivers to its own
sinks (the collector never posts to an address a request names, nor writes a file it names);
`POST /v1/monitors/to-score`, `POST /v1/monitors/scores`: the answers a `metric:NAME` monitor scores, and
their scores.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bakeoff.collector.deps import StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.monitors.records import MonitorRecords
from bakeoff.collector.rows import parse_ts
from bakeoff.errors import ConfigError
from bakeoff.monitor_config import TrafficMonitor, parse_monitoring

router = APIRouter()

Names = Annotated[list[str], Query(alias="monitor", min_length=1, max_length=1000)]
# Epoch seconds DuckDB can turn into a timestamp (years 1970 to 3000).
Epoch = Annotated[float, Field(ge=0, le=32_503_680_000)]


class TickBody(BaseModel):
    """The `monitors:` and `alerts:` of a config."""

    config: dict[str, Any] = Field(default_factory=dict)


class StoredState(BaseModel):
    """A monitor's state as its runner keeps it: any JSON object with its name and fingerprint."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=1000)
    fingerprint: str = Field(min_length=1, max_length=200)


class StoredAlert(BaseModel):
    """An alert in the contract's JSON (its other fields are kept as given)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    monitor: str = Field(min_length=1, max_length=1000)
    state: Literal["firing", "resolved"]
    started_at: str

    @field_validator("started_at")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        try:
            parse_ts(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 time: {value!r}") from None
        return value


class StateBody(BaseModel):
    """`PUT /v1/monitors/state`: states and the alerts they opened or resolved, saved together."""

    states: list[StoredState] = Field(max_length=1000)
    alerts: list[StoredAlert] = Field(default_factory=list, max_length=10_000)

    @field_validator("states")
    @classmethod
    def _one_each(cls, value: list[StoredState]) -> list[StoredState]:
        names = [s.name for s in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"a monitor's state given twice: {', '.join(repeated)}")
        return value


class NotifiedBody(BaseModel):
    state: Literal["firing", "resolved"]


class ToScoreBody(BaseModel):
    """`POST /v1/monitors/to-score`: a `metric:NAME` monitor, where its last page ended, a page size."""

    monitor: TrafficMonitor
    after: tuple[Epoch, str] | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)

    @field_validator("monitor")
    @classmethod
    def _scored(cls, value: TrafficMonitor) -> TrafficMonitor:
        if value.metric is None:
            raise ValueError("not a metric:NAME monitor")
        return value


class Score(BaseModel):
    event_id: str = Field(min_length=1, max_length=1000)
    ts: Epoch
    score: float = Field(ge=0, le=1)


class ScoresBody(BaseModel):
    """`POST /v1/monitors/scores`: scores of one metric."""

    metric: str = Field(min_length=1, max_length=1000)
    scores: list[Score] = Field(max_length=10_000)


@router.post("/v1/monitors/tick")
def tick(body: TickBody, store: StoreDep) -> dict[str, Any]:
    """One tick of the given traffic monitors, their state kept here; the alerts it changed (none sent)."""
    try:
        config = parse_monitoring(body.config, "config")
    except ConfigError as exc:
        raise ClientError(422, str(exc)) from exc
    return {"alerts": MonitorRecords(store).tick_traffic(config)}


@router.get("/v1/monitors/state")
def states(store: StoreDep, names: Names) -> dict[str, Any]:
    """The stored states of the named monitors, by name (absent: never saved)."""
    return {"states": MonitorRecords(store).states(set(names))}


@router.put("/v1/monitors/state")
def save_states(body: StateBody, store: StoreDep) -> dict[str, Any]:
    """Save the states and their alerts in one transaction."""
    names = {s.name for s in body.states}
    strays = sorted({a.monitor for a in body.alerts} - names)
    if strays:
        raise ClientError(422, f"alerts of monitors whose state is not in the body: {', '.join(strays)}")
    records = MonitorRecords(store)
    records.save([s.model_dump() for s in body.states], [a.model_dump() for a in body.alerts])
    return {"saved": len(body.states), "alerts": len(body.alerts)}


@router.get("/v1/alerts/pending")
def pending(store: StoreDep, names: Names) -> dict[str, Any]:
    """The notifications the named monitors still owe, oldest first, each with the bodies due in order."""
    due = MonitorRecords(store).pending(set(names))
    return {"pending": [{"id": i, "state": s, "bodies": b} for i, s, b in due]}


@router.post("/v1/alerts/{alert_id}/notified")
def notified(alert_id: str, body: NotifiedBody, store: StoreDep) -> dict[str, Any]:
    """Record that the watcher's sinks have had the alert in `state`."""
    records = MonitorRecords(store)
    if not records.exists(alert_id):
        raise ClientError(404, f"no alert {alert_id!r}")
    records.mark_notified(alert_id, body.state)
    return {"id": alert_id, "notified": body.state}


@router.post("/v1/monitors/to-score")
def to_score(body: ToScoreBody, store: StoreDep) -> dict[str, Any]:
    """The next page of answers in the monitor's share to score, and where the page after starts."""
    events, after = MonitorRecords(store).events_to_score(body.monitor, body.after, body.limit)
    return {"events": events, "next": after}


@router.post("/v1/monitors/scores")
def save_scores(body: ScoresBody, store: StoreDep) -> dict[str, Any]:
    """Store scores of a metric (an event scored again is replaced)."""
    rows = [(s.event_id, s.ts, s.score) for s in body.scores]
    MonitorRecords(store).save_scores(body.metric, rows)
    return {"saved": len(rows)}
