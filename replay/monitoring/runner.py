"""Checking replay monitors: each due one sampled, replayed, judged and saved, then the outbox delivered.

A monitor is due `interval` seconds after its last check (`bakeoff watch`), or at every run with
`--once` (cron or CI sets the schedule then). Each monitor's state is saved with the alerts its check
changed before the next monitor starts, and notifications go out only after that save, from the store's
outbox: a watcher killed mid-way repeats nothing already sent and forgets nothing already decided.

The false-alarm budget `alerts.false_alarm_rate` is split evenly over a monitor's candidates, and each
candidate's always-valid interval runs at its share (see :mod:`.evidence`).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import orjson

from bakeoff.errors import UsageError
from bakeoff.monitor_config import MonitoringConfig, ReplayMonitor, Sink
from bakeoff.monitor_sinks import deliver
from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.monitoring.check import CheckResult, margin_of, metric_of, run_check
from bakeoff.replay.monitoring.evidence import judge
from bakeoff.replay.monitoring.lifecycle import Candidate, ReplayState, load, transitions
from bakeoff.replay.recorded import RecordedData


def _provider_fingerprint(config: ReplayConfig, provider: str) -> str:
    (chosen,) = (p for p in config.replay.providers if p.id == provider)
    dumped = orjson.dumps(chosen.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(dumped).hexdigest()[:16]


def apply_check(
    state: ReplayState,
    monitor: ReplayMonitor,
    config: ReplayConfig,
    result: CheckResult,
    alpha: float,
    cooldown: float,
    now: float,
) -> list[dict[str, Any]]:
    """Merge a check into the state; the alerts it opened or resolved."""
    margin = margin_of(monitor, config)
    context = {
        "metric": metric_of(monitor, config),
        "margin": margin,
        "max_error_rate": monitor.max_error_rate,
        "window_start": result.window_start,
    }
    level = alpha / len(monitor.providers)
    changed: list[dict[str, Any]] = []
    for provider in monitor.providers:
        fingerprint = _provider_fingerprint(config, provider)
        candidate = state.candidates.get(provider)
        if candidate is None or candidate.fingerprint != fingerprint:  # a changed candidate starts anew
            kept = candidate.open if candidate else {}
            candidate = state.candidates[provider] = Candidate(fingerprint, open=kept)
        pairs = result.pairs[provider]
        evidence = candidate.evidence
        if evidence.since is None:
            evidence.since = result.window_start
        evidence.add(pairs.candidate, pairs.production, pairs.costs, pairs.baseline_costs)
        verdict = judge(
            evidence,
            margin,
            level,
            pairs.error_rate,
            monitor.max_error_rate,
            "opportunity" in candidate.open,
            "failure" in candidate.open,
        )
        changed += transitions(state, monitor, provider, verdict, context, now, cooldown)
        state.last[provider] = {
            "n": evidence.n,
            "checks": evidence.checks,
            "change": evidence.mean if evidence.n else None,
            "interval": [b if abs(b) != float("inf") else None for b in (verdict.low, verdict.high)],
            "cheaper": evidence.cheaper,
            "error_rate": verdict.error_rate,
            "firing": sorted(candidate.open),
        }
    return changed


def check_monitor(
    monitor: ReplayMonitor,
    state: ReplayState,
    monitoring: MonitoringConfig,
    config: ReplayConfig,
    source: RecordedData,
    now: float,
) -> list[dict[str, Any]]:
    """One check of one monitor, merged into `state`; its alerts changed (a failed check changes none)."""
    seed = state.checks
    state.checks += 1
    state.last_check = now
    try:
        result = run_check(monitor, config, source, datetime.fromtimestamp(now, UTC), seed)
    except UsageError as exc:  # e.g. nothing replayable in this sample: the next check tries again
        print(f"bakeoff watch: {monitor.name}: check skipped: {exc}", file=sys.stderr)
        return []
    if result is None:
        print(f"bakeoff watch: {monitor.name}: no traffic to sample; check skipped", file=sys.stderr)
        return []
    alerts = monitoring.alerts
    return apply_check(state, monitor, config, result, alerts.false_alarm_rate, alerts.cooldown, now)


def check_replay_monitors(
    monitoring: MonitoringConfig, config: ReplayConfig, source: RecordedData, now: float, every: bool
) -> list[dict[str, Any]]:
    """Check the replay monitors that are due (all of them with `every`); the alerts changed."""
    stored = source.monitor_states([m.name for m in monitoring.replay])
    changed: list[dict[str, Any]] = []
    for monitor in monitoring.replay:
        state = load(monitor, stored.get(monitor.name))
        if not every and state.last_check is not None and now - state.last_check < monitor.interval:
            continue
        found = check_monitor(monitor, state, monitoring, config, source, now)
        source.save_monitor_states([state.to_dict()], found)
        changed += found
    return changed


def deliver_pending(source: RecordedData, names: Collection[str], sinks: list[Sink]) -> None:
    """Send the notifications the named monitors owe, each marked once every sink has had it."""
    for alert_id, state, bodies in source.pending_alerts(names):
        for body in bodies:
            deliver(body, sinks)
        source.mark_alert_notified(alert_id, state)
