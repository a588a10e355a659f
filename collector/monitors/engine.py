"""One traffic monitor's life as a state machine over its windows: baseline, watching, firing, resolved.

The first `baseline_windows` windows fix the baseline; every later window feeds the detector of each
watched direction. An alarm opens an alert (one at a time per monitor: repeats are folded into it); from
then on a second detector gathers evidence that the signal is back within baseline + min_change, and
resolves the alert when it has it. A resolution drops the evidence spent and starts a cooldown during
which the monitor cannot fire again. The state is plain JSON, so a store can keep it between ticks.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bakeoff.collector.monitors.detector import Detector, bernoulli_log_e, bounded_log_e
from bakeoff.collector.monitors.signals import Signal, Test, Window
from bakeoff.monitor_config import TrafficMonitor

# The evidence a resolution needs: less than an alarm's, since a wrong resolution costs only a new alarm
# later, while waiting for 1/alpha would keep a recovered monitor firing for as long again as it took to fire.
RESOLVE_ALPHA = 0.1


@dataclass
class MonitorState:
    """Where a monitor stands: the windows it has seen, its baseline, its detectors, its open alert."""

    name: str
    fingerprint: str
    origin: float  # epoch seconds where window 0 starts
    next_window: int = 0
    baseline: dict[str, float] | None = None
    detectors: dict[str, Detector] = field(default_factory=dict)
    firing: dict[str, Any] | None = None  # the open alert, with "direction" and its "resolver"
    quiet_until: int = 0  # no new alert before this window (the cooldown)

    def to_dict(self) -> dict[str, Any]:
        firing = None
        if self.firing is not None:
            firing = {**self.firing, "resolver": self.firing["resolver"].to_dict()}
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "origin": self.origin,
            "next_window": self.next_window,
            "baseline": self.baseline,
            "detectors": {d: det.to_dict() for d, det in self.detectors.items()},
            "firing": firing,
            "quiet_until": self.quiet_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorState:
        firing = data.get("firing")
        if firing is not None:
            firing = {**firing, "resolver": Detector.from_dict(firing["resolver"])}
        return cls(
            data["name"],
            data["fingerprint"],
            float(data["origin"]),
            int(data["next_window"]),
            data.get("baseline"),
            {d: Detector.from_dict(v) for d, v in data.get("detectors", {}).items()},
            firing,
            int(data.get("quiet_until", 0)),
        )


def new_state(monitor: TrafficMonitor, start: float) -> MonitorState:
    """A monitor's first state, its windows aligned on multiples of the width from `start` down."""
    origin = math.floor(start / monitor.window) * monitor.window
    return MonitorState(monitor.name, monitor.fingerprint(), origin)


def _log_e(window: Window, test: Test, resolving: bool) -> np.ndarray:
    """log e-values of one window against the test's null (or, resolving, against its mirror image)."""
    p0 = 1.0 - test.p0 if resolving else test.p0
    if window.scores is not None:
        values = window.scores if test.direction == "up" else 1.0 - window.scores
        return bounded_log_e(1.0 - values if resolving else values, p0)
    bad = (window.bad or {}).get(test.direction, 0)
    return bernoulli_log_e(window.n, window.n - bad if resolving else bad, p0)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class Engine:
    """Feeds a monitor's windows to its detectors and returns the alerts that change state."""

    def __init__(self, monitor: TrafficMonitor, alpha: float, cooldown: float) -> None:
        self.monitor = monitor
        self.signal = Signal(monitor)
        directions = 2 if monitor.direction == "both" else 1
        self.alpha = alpha / directions  # a union bound over the directions watched
        self.cooldown_windows = math.ceil(cooldown / monitor.window)

    def set_baseline(self, state: MonitorState, baseline: dict[str, float] | None) -> None:
        """Fix the baseline (once window `baseline_windows - 1` has closed); None leaves it unset."""
        if baseline is None:
            return
        state.baseline = baseline
        state.next_window = self.monitor.baseline_windows
        state.detectors = {t.direction: Detector(self.alpha) for t in self.signal.tests(baseline["value"])}

    def feed(self, state: MonitorState, window: Window) -> list[dict[str, Any]]:
        """One window (in order, empty ones included); the alerts it opens or resolves."""
        assert state.baseline is not None
        tests = {t.direction: t for t in self.signal.tests(state.baseline["value"])}
        state.next_window = window.index + 1
        changed: list[dict[str, Any]] = []
        if state.firing is not None:
            test = tests[state.firing["direction"]]
            if state.firing["resolver"].update(_log_e(window, test, resolving=True)):
                changed.append(self._resolve(state, window))
        for direction, detector in state.detectors.items():
            if state.firing is not None and state.firing["direction"] == direction:
                continue  # its evidence is spent on the open alert
            alarm = detector.update(_log_e(window, tests[direction], resolving=False))
            if alarm and state.firing is None and window.index >= state.quiet_until and window.n:
                changed.append(self._fire(state, window, direction))
        return changed

    def _window_fields(self, state: MonitorState, window: Window) -> dict[str, Any]:
        start = state.origin + window.index * self.monitor.window
        base = state.baseline["value"] if state.baseline else None
        value = window.value
        change = None if value is None or base is None else value - base
        return {
            "value": value,
            "baseline": base,
            "change": change,
            "window_start": _iso(start),
            "window_end": _iso(start + self.monitor.window),
        }

    def _fire(self, state: MonitorState, window: Window, direction: str) -> dict[str, Any]:
        fields = self._window_fields(state, window)
        key = f"{state.name}|{state.fingerprint}|{window.index}"
        alert = {
            "id": hashlib.sha256(key.encode()).hexdigest()[:20],
            "monitor": state.name,
            "kind": "traffic",
            "state": "firing",
            "signal": self.monitor.signal,
            **fields,
            "message": self._message(fields, direction, "firing"),
            "started_at": fields["window_end"],
            "resolved_at": None,
        }
        state.firing = {"alert": alert, "direction": direction, "resolver": Detector(RESOLVE_ALPHA)}
        return dict(alert)

    def _resolve(self, state: MonitorState, window: Window) -> dict[str, Any]:
        assert state.firing is not None
        fields = self._window_fields(state, window)
        direction = state.firing["direction"]
        alert = {
            **state.firing["alert"],
            **fields,
            "state": "resolved",
            "message": self._message(fields, direction, "resolved"),
            "resolved_at": fields["window_end"],
        }
        state.detectors[direction].restart()
        state.firing = None
        state.quiet_until = window.index + 1 + self.cooldown_windows
        return alert

    def _message(self, fields: dict[str, Any], direction: str, state: str) -> str:
        monitor, value, base = self.monitor, fields["value"], fields["baseline"]
        now = "no data" if value is None else f"{value:.4g}"
        if state == "resolved":
            return f"{monitor.name}: {monitor.signal} back to {now} (baseline {base:.4g})"
        way = "rose" if direction == "up" else "fell"
        return (
            f"{monitor.name}: {monitor.signal} {way} to {now} from a baseline of {base:.4g} "
            f"({fields['change']:+.4g}; min_change {monitor.min_change:g})"
        )
