"""`GET /v1/monitors` and `GET /v1/alerts`; starting and stopping the collector's monitor thread."""

from __future__ import annotations

import sys
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bakeoff.collector.deps import StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.monitors import routes_records
from bakeoff.collector.monitors.alerts import list_alerts
from bakeoff.collector.monitors.runner import MonitorThread, TrafficRunner, backtest
from bakeoff.collector.rows import parse_ts
from bakeoff.collector.settings import CollectorSettings
from bakeoff.collector.store import Store
from bakeoff.errors import ConfigError
from bakeoff.monitor_config import parse_monitoring

router = APIRouter()
router.include_router(routes_records.router)


def start_monitors(store: Store, settings: CollectorSettings) -> MonitorThread | None:
    """The monitor thread of `settings.monitors` (from `bakeoff serve --monitors`), started; or None."""
    if settings.monitors is None:
        return None
    config = settings.monitors
    elsewhere = [m.name for m in config.monitors if m in config.replay or m in config.scored]
    if elsewhere:  # replaying and scoring live in replay, which the collector never imports
        print(
            f"bakeoff serve: monitors run by `bakeoff watch`, not here: {', '.join(elsewhere)}",
            file=sys.stderr,
            flush=True,
        )
    thread = MonitorThread(TrafficRunner(store, config, scored=False), settings.monitor_interval_s)
    thread.start()
    return thread


@router.get("/v1/monitors")
def monitors(request: Request, store: StoreDep) -> dict[str, Any]:
    """The configured monitors, each with where it stands (watching, firing, its baseline, evidence)."""
    thread: MonitorThread | None = getattr(request.app.state, "monitors", None)
    return {"monitors": [] if thread is None else thread.runner.monitors()}


@router.get("/v1/alerts")
def alerts(
    store: StoreDep,
    monitor: str | None = None,
    state: Literal["firing", "resolved"] | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """Alerts, newest first, each in its latest state."""
    return {"alerts": list_alerts(store, monitor, state, _time("since", since))}


class BacktestBody(BaseModel):
    """`POST /v1/monitors/backtest`: the `monitors:` and `alerts:` of a config, and the range to replay."""

    config: dict[str, Any] = Field(default_factory=dict)
    since: str | None = None
    until: str | None = None


@router.post("/v1/monitors/backtest")
def run_backtest(body: BacktestBody, store: StoreDep) -> dict[str, Any]:
    """The alerts the given traffic monitors would have raised over the stored history; sends nothing."""
    try:
        config = parse_monitoring(body.config, "config")
    except ConfigError as exc:
        raise ClientError(422, str(exc)) from exc
    since, until = _time("since", body.since), _time("until", body.until)
    return {"alerts": backtest(store, config, since, until)}


def _time(name: str, value: str | None) -> Any:
    try:
        return parse_ts(value) if value else None
    except ValueError as exc:
        raise ClientError(422, f"{name}: not an RFC 3339 time: {value!r}") from exc
