"""Running traffic monitors over a store: a tick (incremental, stateful), a backtest (stateless), a thread.

Windows close on event time: a window is closed once the store holds an event `GRACE_S` past its end
(the newest `ts`, capped at the wall clock plus `MAX_SKEW_S` so that a client's wrong clock cannot close
the future). A tick reads only the windows closed since the last one, so it never rescans history; an
event arriving after its window closed is left out of the ticks (a backtest counts it). A monitor seen for
the first time starts from its traffic of the last `BACKFILL_S` at most, and sends only what is still
firing at the end of that catch-up, not what it would have raised and resolved in the past.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

from bakeoff.collector.monitors import alerts as alert_store
from bakeoff.collector.monitors import scans
from bakeoff.collector.monitors.engine import Engine, MonitorState, ValueOf, new_state
from bakeoff.collector.monitors.signals import epoch_literal
from bakeoff.collector.store import Store
from bakeoff.monitor_config import MonitoringConfig, Sink, StderrSink, TrafficMonitor
from bakeoff.monitor_sinks import deliver

logger = logging.getLogger("bakeoff.collector")

GRACE_S = 30.0
MAX_SKEW_S = 300.0
BACKFILL_S = 7 * 86400.0


def newest_ts(store: Store, since: float | None = None) -> float | None:
    """The newest event's `ts` (epoch seconds), None for an empty store. Given `since`, a `ts` an
    earlier call returned, only events from then on are read (DuckDB skips the older row groups by
    their bounds): the newest is among them unless they were all deleted since, and then it is looked
    for among every event."""
    cursor = store.cursor()
    if since is not None:
        # A second before it: the epoch float need not round back to the very microsecond.
        sql = f"SELECT epoch(max(ts)) FROM events WHERE ts >= {epoch_literal(since - 1.0)}"
        (newest,) = cursor.execute(sql).fetchone() or (None,)
        if newest is not None:
            return float(newest)
    (newest,) = cursor.execute("SELECT epoch(max(ts)) FROM events").fetchone() or (None,)
    return None if newest is None else float(newest)


def watermark(store: Store, newest: float | None = None) -> float | None:
    """Event time: windows ending at or before it are closed; None for an empty store. `newest`: the
    newest event's `ts` if known (see `newest_ts`)."""
    if newest is None:
        newest = newest_ts(store)
    if newest is None:
        return None
    return min(newest, time.time() + MAX_SKEW_S) - GRACE_S


def advance(
    store: Store, monitors: list[tuple[Engine, MonitorState]], closed_until: float
) -> list[list[dict[str, Any]]]:
    """Feed each state every window closed by `closed_until` that it has not seen; the alerts each changed.

    The monitors are asked together (see :mod:`.scans`): the baselines of those still without one, then
    the counts of all.
    """
    _set_baselines(store, monitors, closed_until)
    due: list[tuple[int, int]] = []
    for i, (engine, state) in enumerate(monitors):
        last = math.floor((closed_until - state.origin) / engine.monitor.window) - 1
        if state.baseline is not None and last >= state.next_window:
            due.append((i, last))
    asks = []
    for i, last in due:
        engine, state = monitors[i]
        assert state.baseline is not None
        asks.append((engine.signal, state.origin, state.next_window, last, state.baseline))
    changed: list[list[dict[str, Any]]] = [[] for _ in monitors]
    for (i, _), counts in zip(due, scans.counts(store, asks), strict=True):
        engine, state = monitors[i]
        changed[i] = engine.feed(state, counts, _value_of(store, engine, state.origin))
    return changed


def _set_baselines(store: Store, monitors: list[tuple[Engine, MonitorState]], closed_until: float) -> None:
    """Fix the baseline of each monitor without one whose baseline windows have closed; one without
    traffic in them starts again at its next traffic."""
    waiting = [i for i, (_, state) in enumerate(monitors) if state.baseline is None]
    while waiting:
        ranges = {}
        for i in waiting:
            engine, state = monitors[i]
            end = state.origin + engine.monitor.baseline_windows * engine.monitor.window
            ranges[i] = (engine.signal, state.origin, end, engine.baseline_alpha)
        ready = [i for i in waiting if ranges[i][2] <= closed_until]
        found = scans.baselines(store, [ranges[i] for i in ready])
        waiting = []
        for i, baseline in zip(ready, found, strict=True):
            engine, state = monitors[i]
            engine.set_baseline(state, baseline)
            if state.baseline is None:
                waiting.append(i)
        firsts = scans.first_ts(store, [(ranges[i][0], ranges[i][2]) for i in waiting])
        for i, first in zip(waiting, firsts, strict=True):
            engine, state = monitors[i]
            width = engine.monitor.window
            state.origin = ranges[i][2] if first is None else math.floor(first / width) * width
        # Without later traffic, later baselines would be as empty: the next tick tries again.
        waiting = [i for i, first in zip(waiting, firsts, strict=True) if first is not None]


def _next_due(engine: Engine, state: MonitorState) -> float:
    """The event time at which the monitor's next window (or its baseline's last) closes."""
    width = engine.monitor.window
    if state.baseline is None:
        return state.origin + engine.monitor.baseline_windows * width
    return state.origin + (state.next_window + 1) * width


def _value_of(store: Store, engine: Engine, origin: float) -> ValueOf:
    return lambda index: engine.signal.value(store, origin, index)


def _engines(config: MonitoringConfig, scored: bool = True) -> list[Engine]:
    alerts = config.alerts
    chosen = [m for m in config.traffic if scored or m.metric is None]
    return [Engine(m, alerts.false_alarm_rate, alerts.cooldown) for m in chosen]


def backtest(
    store: Store, config: MonitoringConfig, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """The alerts the traffic monitors would have raised over the recorded history; sends nothing.

    Every window from `since` (default: each monitor's first event) to `until` (default: the newest
    event) counts, late events included. An alert still firing at the end is listed as firing.
    """
    newest = watermark(store)
    if newest is None or not config.traffic:
        return []
    # By default through the newest event's window, partial or not: history is complete here.
    widest = max(m.window for m in config.traffic)
    end = until.timestamp() if until is not None else newest + GRACE_S + widest
    engines = _engines(config)
    if since is None:
        starts = scans.first_ts(store, [(engine.signal, 0.0) for engine in engines])
    else:
        starts = [since.timestamp()] * len(engines)
    monitors = [(e, new_state(e.monitor, s)) for e, s in zip(engines, starts, strict=True) if s is not None]
    raised: dict[str, dict[str, Any]] = {}
    for found in advance(store, monitors, end):
        for alert in found:
            raised[alert["id"]] = alert
    return sorted(raised.values(), key=lambda a: (a["started_at"], a["monitor"]))


class TrafficRunner:
    """The traffic monitors of a config, ticked over a store whose tables keep their state and alerts."""

    def __init__(self, store: Store, config: MonitoringConfig, scored: bool = True) -> None:
        """`scored`: run the `metric:NAME` monitors too (`bakeoff watch` does, having scored the answers)."""
        self.store = store
        self.config = config
        self.engines = _engines(config, scored)
        self.sinks: list[Sink] = list(config.alerts.sinks) or [StderrSink()]
        # What lets a tick with nothing to do return after one cheap query (the collector ticks often,
        # beside ingest): the event time before which no monitor has a window to close, as of this
        # runner's last save (None: unknown, or a monitor still waits for traffic), and whether the
        # outbox may hold notifications (it does after a save that changed alerts, or a crash).
        self._idle_until: float | None = None
        self._newest: float | None = None  # the newest event's ts at the last tick
        self._outbox_empty = False

    def tick(self) -> list[dict[str, Any]]:
        """Process the windows closed since the last tick, save, then send what is due; the alerts changed."""
        changed = self.advance()
        if not self._outbox_empty:
            self.send_pending()
        return changed

    def advance(self) -> list[dict[str, Any]]:
        """Process and save the windows closed since the last tick, sending nothing; the alerts changed."""
        self._newest = newest_ts(self.store, self._newest)
        closed_until = watermark(self.store, self._newest)
        if closed_until is None or (self._idle_until is not None and closed_until < self._idle_until):
            return []
        return self._advance_all(closed_until)

    def _advance_all(self, closed_until: float) -> list[dict[str, Any]]:
        stored = alert_store.load_states(self.store)
        monitors: list[tuple[Engine, MonitorState]] = []
        unchanged: list[dict[str, Any] | None] = []  # the state as stored, to save only what moved
        fresh = []
        for engine in self.engines:
            data = stored.get(engine.monitor.name)
            if data is not None and data["fingerprint"] == engine.monitor.fingerprint():
                monitors.append((engine, MonitorState.from_dict(data)))
                unchanged.append(data)
            else:
                fresh.append(engine)
        starts = scans.first_ts(self.store, [(e.signal, closed_until - BACKFILL_S) for e in fresh])
        for engine, start in zip(fresh, starts, strict=True):
            if start is not None:
                monitors.append((engine, new_state(engine.monitor, start)))
                unchanged.append(None)
        states, changed, silent = [], [], set()
        found_each = advance(self.store, monitors, closed_until)
        for (_, state), before, found in zip(monitors, unchanged, found_each, strict=True):
            if before is None:  # a catch-up: only what still fires is news
                silent |= {a["id"] for a in found if a["state"] == "resolved"}
            changed += found
            after = state.to_dict()
            if after != before:
                states.append(after)
        if states or changed:
            alert_store.save(self.store, states, changed, silent, datetime.now(UTC))
        if changed:
            self._outbox_empty = False
        self._idle_until = None
        if len(monitors) == len(self.engines):  # every monitor has a state: the next work is known
            self._idle_until = min((_next_due(e, state) for e, state in monitors), default=None)
        return changed

    def send_pending(self) -> None:
        """Send every notification not sent yet (after a crash, too), each marked once all sinks had it."""
        for alert_id, state, bodies in alert_store.pending(
            self.store, [e.monitor.name for e in self.engines]
        ):
            for body in bodies:
                deliver(body, self.sinks)
            alert_store.mark_notified(self.store, alert_id, state)
        self._outbox_empty = True

    def monitors(self) -> list[dict[str, Any]]:
        """Each configured monitor with its state (for `GET /v1/monitors`)."""
        stored = alert_store.load_states(self.store)
        scoring = {m.name: stored.get(m.scoring_state_name) for m in self.config.traffic}
        return [describe(m, stored.get(m.name), scoring.get(m.name)) for m in self.config.monitors]


def describe(
    monitor: Any, data: dict[str, Any] | None, scoring: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A monitor's config and where it stands: watching or firing, its baseline, its evidence; for a
    `metric:NAME` one, its scoring state too (a judge's: what it spent, whether its budget is spent)."""
    entry: dict[str, Any] = {"name": monitor.name, "kind": monitor.kind, "config": monitor.model_dump()}
    if not isinstance(monitor, TrafficMonitor):  # a replay monitor: `bakeoff watch` runs it and saves here
        entry["runner"] = "watch"
        if data is None or data.get("fingerprint") != monitor.fingerprint():
            return {**entry, "status": "not checked yet"}
        return {**entry, **data.get("summary", {})}
    entry["runner"] = "watch" if monitor.metric is not None else "serve"
    if scoring is not None and scoring["fingerprint"] == monitor.fingerprint() and "summary" in scoring:
        entry["scoring"] = scoring["summary"]  # kept by the scorer, `bakeoff watch`
    if data is None or data["fingerprint"] != monitor.fingerprint():
        return {**entry, "status": "waiting for traffic"}
    state = MonitorState.from_dict(data)
    if state.baseline is None:
        return {**entry, "status": "baseline"}
    status = "firing" if state.firing else "watching"
    evidence = {d: det.log_evidence for d, det in state.detectors.items()}
    return {
        **entry,
        "status": status,
        "baseline": state.baseline,
        "windows_seen": state.next_window,
        "last_window_end": datetime.fromtimestamp(
            state.origin + state.next_window * monitor.window, UTC
        ).isoformat(),
        "log_evidence": {d: (None if math.isinf(v) else v) for d, v in evidence.items()},
        "alarm_at": math.log(1.0 / state.detectors[next(iter(state.detectors))].alpha),
        "alert": state.firing["alert"] if state.firing else None,
    }


class MonitorThread:
    """Ticks a runner every `interval` seconds on its own thread; a failing tick is logged, not fatal."""

    def __init__(self, runner: TrafficRunner, interval: float) -> None:
        self.runner = runner
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bakeoff-monitors", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                # On DuckLake, the windows a tick closes hold what the other replicas acknowledged too.
                self.runner.store.await_replicas()
                self.runner.tick()
            except Exception:  # the next tick tries again; ingest never depends on it
                logger.exception("monitors: tick failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
