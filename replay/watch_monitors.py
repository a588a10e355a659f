"""`bakeoff watch` for a config with `monitors:`: its traffic monitors, ticked, once, or backtested.

The monitors run where the data is, through replay's one door (:mod:`bakeoff.replay.recorded`): on a DuckDB
file (`db:`) in this process, state and alerts kept in the file; `--backtest` also against a running
collector (`collector:`), which evaluates and returns the alerts without sending them. Replay monitors
(`kind: replay`) are accepted in the config but not run yet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from bakeoff.errors import UsageError
from bakeoff.monitor_config import MonitoringConfig
from bakeoff.replay.recorded import RecordedData, recorded_data

LONGEST_SLEEP_S = 60.0


def _source(config: MonitoringConfig) -> RecordedData:
    if not config.traffic:
        raise UsageError("watch: the config's `monitors:` has no traffic monitor (kind: traffic)")
    source = recorded_data(config)
    if source is None:
        raise UsageError("watch: the config needs `db:` or `collector:` to read the traffic from")
    return source


def format_alert(alert: dict[str, Any], style: str) -> str:
    """One line per alert: JSON, or `started_at state monitor: message`."""
    if style == "json":
        return orjson.dumps(alert).decode()
    when = (
        alert["started_at"]
        if alert["state"] == "firing"
        else f"{alert['started_at']}..{alert['resolved_at']}"
    )
    return f"{when} {alert['state']:<8} {alert['message']}"


def run_backtest(config: MonitoringConfig, since: datetime | None, until: datetime | None, style: str) -> int:
    """Print the alerts the traffic monitors would have raised from `since` to `until`; exit 0."""
    alerts = _source(config).backtest_monitors(config, since, until)
    for alert in alerts:
        print(format_alert(alert, style))
    if style == "text":
        firing = sum(a["state"] == "firing" for a in alerts)
        print(f"{len(alerts)} alerts ({firing} still firing at the end)", file=sys.stderr)
    return 0


def run_watch(
    config: MonitoringConfig, once: bool, style: str, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Tick the traffic monitors (alerts go to the config's sinks); with `once`, exit 1 if one is firing."""
    source = _source(config)
    interval = min(LONGEST_SLEEP_S, *(m.window for m in config.traffic))
    while True:
        firing = source.tick_monitors(config)
        if once:
            for alert in firing:
                print(format_alert(alert, style))
            return 1 if firing else 0
        sleep(interval)
