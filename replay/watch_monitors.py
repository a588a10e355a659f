"""`bakeoff watch` for a config with `monitors:`: traffic and replay monitors, looped, once, or backtested.

Everything goes through replay's one door (:mod:`bakeoff.replay.recorded`), to a DuckDB file (`db:`) or a
running collector (`collector:`): the traffic monitors are evaluated where the data is (a tick saves their
state and alerts there, sending nothing), after this process has scored the new answers of the
`metric:NAME` ones; replay monitors are sampled there and replayed here (see
:mod:`bakeoff.replay.monitoring`). Then this process delivers the store's outbox to the config's sinks and
marks what it sent, so a notification goes out once whichever runner or restart comes next.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from bakeoff.config_file import read_yaml_mapping
from bakeoff.errors import ConfigError, UsageError
from bakeoff.monitor_config import MonitoringConfig, Sink, StderrSink
from bakeoff.replay.config import ReplayConfig, load_config
from bakeoff.replay.monitoring.check import validate
from bakeoff.replay.monitoring.runner import check_replay_monitors, deliver_pending
from bakeoff.replay.monitoring.scoring import metric_for, score_new_answers
from bakeoff.replay.recorded import RecordedData, recorded_data

LONGEST_SLEEP_S = 60.0


def _source(config: MonitoringConfig) -> RecordedData:
    source = recorded_data(config)
    if source is None:
        raise UsageError("watch: the config needs `db:` or `collector:` to read the traffic from")
    return source


def replay_config_for(path: str, config: MonitoringConfig) -> ReplayConfig | None:
    """The `replay:` section the replay monitors of the file at `path` run with, checked; None without any.

    Without replay monitors, the section is read only if present: `metric:NAME` may name its metrics.
    """
    if not config.replay and not config.scored:
        return None
    data = read_yaml_mapping(path, "a mapping with a `monitors:` section")
    if not config.replay and "replay" not in data:
        return None
    if "replay" not in data:
        names = ", ".join(m.name for m in config.replay)
        raise ConfigError(f"{path}: replay monitors ({names}) need a `replay:` section with their providers")
    replay_config = load_config(path)
    for monitor in config.replay:
        validate(monitor, replay_config)
    return replay_config


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
    if not config.traffic:
        raise UsageError("--backtest: the config's `monitors:` has no traffic monitor (kind: traffic)")
    alerts = _source(config).backtest_monitors(config, since, until)
    for alert in alerts:
        print(format_alert(alert, style))
    if style == "text":
        firing = sum(a["state"] == "firing" for a in alerts)
        print(f"{len(alerts)} alerts ({firing} still firing at the end)", file=sys.stderr)
    return 0


def run_watch(
    config: MonitoringConfig,
    replay_config: ReplayConfig | None,
    once: bool,
    style: str,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Tick the traffic monitors and check the due replay monitors, alerts to the config's sinks.

    With `once`, one round (every replay monitor checked), then the firing alerts printed: exit 1 if any.
    """
    source = _source(config)
    if config.replay and replay_config is None:
        raise UsageError("watch: replay monitors need the config's `replay:` section (see replay_config_for)")
    names = [m.name for m in config.monitors]
    sinks: list[Sink] = list(config.alerts.sinks) or [StderrSink()]
    interval = min([LONGEST_SLEEP_S, *(m.window for m in config.traffic)])
    metrics = {m.name: metric_for(m, replay_config) for m in config.scored}  # a bad one fails now
    while True:
        for monitor in config.scored:  # scored first: the tick then reads every closed window's scores
            score_new_answers(monitor, metrics[monitor.name], source)
        if config.traffic:
            source.tick_monitors(config)
        if config.replay:
            assert replay_config is not None
            check_replay_monitors(config, replay_config, source, time.time(), every=once)
        deliver_pending(source, names, sinks)
        if once:
            firing = source.firing_alerts(names)
            for alert in firing:
                print(format_alert(alert, style))
            return 1 if firing else 0
        sleep(interval)
