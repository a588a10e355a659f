"""What the dashboard's monitors page reads beyond `GET /v1/monitors` and `GET /v1/alerts`:
`GET /v1/monitors/{name}/series`, a traffic monitor's signal window by window with its baseline, the
lines past which it alarms, and the alerts it raised.

Windows are the monitor's own (its stored origin, its width), so a point is the value the monitor saw;
the value is the signal's statistic in its unit (the mean, or the quantile it watches), as in its alerts.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from bakeoff.collector.deps import StoreDep
from bakeoff.collector.errors import ClientError
from bakeoff.collector.monitors.alerts import list_alerts, load_states
from bakeoff.collector.monitors.signals import Signal
from bakeoff.collector.store import Store
from bakeoff.monitor_config import TrafficMonitor

router = APIRouter()

MAX_WINDOWS = 2000


def configured(request: Request) -> list[Any]:
    """The monitors of the running collector's config (none without `bakeoff serve --monitors`)."""
    thread = getattr(request.app.state, "monitors", None)
    config = getattr(getattr(thread, "runner", None), "config", None)
    return list(getattr(config, "monitors", None) or [])


# `:path`: a monitor's name may hold a slash (the URL carries it encoded, the route sees it decoded).
@router.get("/v1/monitors/{name:path}/series")
def monitor_series(
    name: str,
    request: Request,
    store: StoreDep,
    windows: Annotated[int, Query(ge=1, le=MAX_WINDOWS)] = 288,
) -> dict[str, Any]:
    """The last `windows` windows of monitor `name` up to the newest event: value and calls in each,
    the baseline (value and bounds), the alarm lines in the signal's unit, and the monitor's alerts."""
    monitor = next((m for m in configured(request) if m.name == name), None)
    if monitor is None:
        raise ClientError(404, f"no monitor named {name!r} in this collector's config")
    alerts = list_alerts(store, name)
    result: dict[str, Any] = {"name": name, "signal": monitor.signal, "alerts": alerts, "points": []}
    if not isinstance(monitor, TrafficMonitor):
        return {**result, "note": f"a {monitor.kind} monitor: no traffic series"}
    signal = Signal(monitor)
    state = load_states(store).get(name)
    current = state is not None and state.get("fingerprint") == monitor.fingerprint()
    baseline = state.get("baseline") if current and state else None
    origin = float(state["origin"]) if current and state else None
    result.update(
        window_s=monitor.window,
        direction=monitor.direction,
        min_change=monitor.min_change,
        baseline=baseline,
        thresholds=_thresholds(monitor, baseline),
        points=_points(store, signal, monitor, origin, windows),
    )
    return result


def _thresholds(monitor: TrafficMonitor, baseline: dict[str, float] | None) -> dict[str, float]:
    """Where the signal alarms, in its unit: above the baseline's upper bound + min_change ("up"),
    below its lower bound - min_change ("down")."""
    if not baseline:
        return {}
    lines = {}
    if monitor.direction in ("up", "both"):
        lines["up"] = baseline["upper"] + monitor.min_change
    if monitor.direction in ("down", "both"):
        lines["down"] = baseline["lower"] - monitor.min_change
    return lines


def _points(
    store: Store, signal: Signal, monitor: TrafficMonitor, origin: float | None, windows: int
) -> list[dict[str, Any]]:
    width = float(monitor.window)
    cursor = store.cursor()
    newest = cursor.execute(
        f"SELECT epoch(max({signal.ts})) FROM {signal.source} WHERE {signal.where}", signal.params
    ).fetchone()
    if newest is None or newest[0] is None:
        return []
    if origin is None:  # not started yet: windows on the width's own grid
        origin = 0.0
    last = math.floor((float(newest[0]) - origin) / width)
    first = last - windows + 1
    start, end = origin + first * width, origin + (last + 1) * width
    stat = f"quantile_cont({signal.x}, {signal.quantile!r})" if signal.quantile else f"avg({signal.x})"
    # Times as epoch seconds: a datetime parameter costs DuckDB a failed import of pytz per query.
    rows = cursor.execute(
        f"""
        SELECT CAST(floor((epoch({signal.ts}) - ?) / ?) AS BIGINT) AS w, count(*), {stat}
        FROM {signal.source}
        WHERE {signal.where} AND {signal.ts} >= to_timestamp(?) AND {signal.ts} < to_timestamp(?)
              AND {signal.x} IS NOT NULL
        GROUP BY w ORDER BY w
        """,
        [origin, width, *signal.params, start, end],
    ).fetchall()
    return [{"t": origin + w * width, "n": n, "value": value} for w, n, value in rows]
