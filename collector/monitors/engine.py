"""One traffic monitor's life as a state machine over its windows: baseline, watching, firing, resolved.

The first `baseline_windows` windows fix the baseline; every later window feeds the detector of each
watched direction. An alarm opens an alert (one at a time per monitor: repeats are folded into it); from
then on a second detector gathers evidence that the signal is back within baseline + min_change, and
resolves the alert when it has it. A resolution drops the evidence spent and starts a cooldown during
which the monitor cannot fire again. The state is plain JSON, so a store can keep it between ticks.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bakeoff.collector.monitors.detector import Detector
from bakeoff.collector.monitors.signals import Counts, Signal
from bakeoff.monitor_config import TrafficMonitor
from bakeoff.schema import utc_timestamp

# The evidence a resolution needs: less than an alarm's, since a wrong resolution costs only a new alarm
# later, while waiting for 1/alpha would keep a recovered monitor firing for as long again as it took to fire.
RESOLVE_ALPHA = 0.1

ValueOf = Callable[[int], float | None]  # a window's value in the signal's unit, looked up when needed


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


def _iso(epoch: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(epoch, UTC))


class Engine:
    """Feeds a monitor's windows to its detectors and returns the alerts that change state."""

    def __init__(self, monitor: TrafficMonitor, alpha: float, cooldown: float) -> None:
        self.monitor = monitor
        self.signal = Signal(monitor)
        directions = 2 if monitor.direction == "both" else 1
        # A union bound: each direction watched gets alpha / directions, half for its baseline's bound
        # and half for its detector.
        self.alpha = alpha / directions / 2
        self.baseline_alpha = alpha / directions / 2
        self.cooldown_windows = math.ceil(cooldown / monitor.window)

    def set_baseline(self, state: MonitorState, baseline: dict[str, float] | None) -> None:
        """Fix the baseline (once window `baseline_windows - 1` has closed); None leaves it unset."""
        if baseline is None:
            return
        state.baseline = baseline
        state.next_window = self.monitor.baseline_windows
        state.detectors = {t.direction: Detector(self.alpha) for t in self.signal.tests(baseline)}

    def feed(self, state: MonitorState, counts: Counts, value_of: ValueOf) -> list[dict[str, Any]]:
        """Windows counts.first.. (in order, empty ones included); the alerts they open or resolve."""
        assert state.baseline is not None
        size = len(counts.n)
        indices = counts.first + np.arange(size)
        changed: list[dict[str, Any]] = []
        at = 0
        while at < size:
            if state.firing is not None:
                direction = state.firing["direction"]
                hit = state.firing["resolver"].run(counts.resolve[direction][at:], np.ones(size - at, bool))
                end = size if hit is None else at + hit + 1
                self._advance_others(state, counts, direction, at, end)
                if hit is None:
                    break
                changed.append(self._resolve(state, int(indices[at + hit]), value_of))
            else:
                eligible = (counts.n[at:] > 0) & (indices[at:] >= state.quiet_until)
                hit, direction = self._first_alarm(state, counts, at, eligible)
                if hit is None:
                    break
                changed.append(self._fire(state, int(indices[at + hit]), direction, value_of))
            at += hit + 1
        state.next_window = counts.first + size
        return changed

    def _advance_others(self, state: MonitorState, counts: Counts, firing: str, start: int, end: int) -> None:
        """The detectors of the other direction take the windows too; they cannot fire meanwhile."""
        for direction, detector in state.detectors.items():
            if direction != firing:
                detector.run(counts.alarm[direction][start:end], np.zeros(end - start, bool))

    def _first_alarm(
        self, state: MonitorState, counts: Counts, start: int, eligible: np.ndarray
    ) -> tuple[int | None, str]:
        """Run the detectors from window `start` to the first alarm of any; (its offset, its direction)."""
        if len(state.detectors) == 1:
            ((direction, detector),) = state.detectors.items()
            return detector.run(counts.alarm[direction][start:], eligible), direction
        trials = {d: copy.deepcopy(det) for d, det in state.detectors.items()}
        hits = {d: det.run(counts.alarm[d][start:], eligible) for d, det in trials.items()}
        found = [(h, d) for d, h in hits.items() if h is not None]
        if not found:
            state.detectors = trials
            return None, next(iter(state.detectors))
        hit, direction = min(found)
        for d, detector in state.detectors.items():
            block = counts.alarm[d][start : start + hit + 1]
            detector.run(block, np.zeros(len(block), bool))
        return hit, direction

    def _window_fields(self, state: MonitorState, index: int, value_of: ValueOf) -> dict[str, Any]:
        start = state.origin + index * self.monitor.window
        base = state.baseline["value"] if state.baseline else None
        value = value_of(index)
        change = None if value is None or base is None else value - base
        return {
            "value": value,
            "baseline": base,
            "change": change,
            "window_start": _iso(start),
            "window_end": _iso(start + self.monitor.window),
        }

    def _fire(self, state: MonitorState, index: int, direction: str, value_of: ValueOf) -> dict[str, Any]:
        fields = self._window_fields(state, index, value_of)
        key = f"{state.name}|{state.fingerprint}|{index}"
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

    def _resolve(self, state: MonitorState, index: int, value_of: ValueOf) -> dict[str, Any]:
        assert state.firing is not None
        fields = self._window_fields(state, index, value_of)
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
        state.quiet_until = index + 1 + self.cooldown_windows
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
