"""`GET /v1/monitors` and `GET /v1/alerts`; starting and stopping the collector's monitor thread."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from bakeoff.collector.deps import StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.monitors.alerts import list_alerts
from bakeoff.collector.monitors.runner import MonitorThread, TrafficRunner
from bakeoff.collector.rows import parse_ts
from bakeoff.collector.settings import CollectorSettings
from bakeoff.collector.store import Store

router = APIRouter()


def start_monitors(store: Store, settings: CollectorSettings) -> MonitorThread | None:
    """The monitor thread of `settings.monitors` (from `bakeoff serve --monitors`), started; or None."""
    if settings.monitors is None:
        return None
    thread = MonitorThread(TrafficRunner(store, settings.monitors), settings.monitor_interval_s)
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
    try:
        when = parse_ts(since) if since else None
    except ValueError as exc:
        raise ClientError(422, f"since: not an RFC 3339 time: {since!r}") from exc
    return {"alerts": list_alerts(store, monitor, state, when)}
