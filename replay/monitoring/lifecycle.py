"""A replay monitor's state across checks, and its alerts' lifecycle: firing, then resolved, once each.

Each candidate has one alert per kind at most (`opportunity`, `regression`, `failure`): a condition that
starts to hold opens one, and while it keeps holding nothing new is raised; when it stops holding the
alert resolves, and the same kind cannot fire again for that candidate during the cooldown. A candidate
whose provider config changes starts its evidence anew, as a monitor whose own config changes does. The
state is plain JSON, kept in the store next to the traffic monitors', so a restart neither forgets nor
repeats.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bakeoff.monitor_config import ReplayMonitor
from bakeoff.replay.monitoring.evidence import Evidence, Verdict
from bakeoff.schema import utc_timestamp

KINDS = ("opportunity", "regression", "failure")


@dataclass
class Candidate:
    """One candidate's evidence, its open alerts by kind, and when each kind may fire again."""

    fingerprint: str
    evidence: Evidence = field(default_factory=Evidence)
    open: dict[str, dict[str, Any]] = field(default_factory=dict)
    quiet_until: dict[str, float] = field(default_factory=dict)  # epoch seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "evidence": self.evidence.to_dict(),
            "open": self.open,
            "quiet_until": self.quiet_until,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(
            data["fingerprint"], Evidence.from_dict(data["evidence"]), data["open"], data["quiet_until"]
        )


@dataclass
class ReplayState:
    """Where a replay monitor stands: its checks so far and its candidates."""

    name: str
    fingerprint: str
    checks: int = 0
    last_check: float | None = None  # epoch seconds
    candidates: dict[str, Candidate] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)  # the latest verdicts, for GET /v1/monitors

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "kind": "replay",
            "checks": self.checks,
            "last_check": self.last_check,
            "candidates": {c: s.to_dict() for c, s in self.candidates.items()},
            "last": self.last,
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayState:
        return cls(
            data["name"],
            data["fingerprint"],
            int(data["checks"]),
            data.get("last_check"),
            {c: Candidate.from_dict(s) for c, s in data["candidates"].items()},
            data.get("last", {}),
        )

    def summary(self) -> dict[str, Any]:
        """What `GET /v1/monitors` shows: firing or watching, the checks, each candidate's standing."""
        firing = [a for c in self.candidates.values() for a in c.open.values()]
        last = None if self.last_check is None else iso(self.last_check)
        return {
            "status": "firing" if firing else "watching",
            "checks": self.checks,
            "last_check": last,
            "candidates": self.last,
            "alerts": firing,
        }


def load(monitor: ReplayMonitor, stored: dict[str, Any] | None) -> ReplayState:
    """The stored state while the monitor's config is unchanged, else a fresh one."""
    if stored is not None and stored.get("fingerprint") == monitor.fingerprint():
        return ReplayState.from_dict(stored)
    return ReplayState(monitor.name, monitor.fingerprint())


def iso(epoch: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(epoch, UTC))


def _bound(value: float) -> float | None:
    return value if math.isfinite(value) else None


def transitions(
    state: ReplayState,
    monitor: ReplayMonitor,
    provider: str,
    verdict: Verdict,
    context: dict[str, Any],
    now: float,
    cooldown: float,
) -> list[dict[str, Any]]:
    """Apply one candidate's verdict: the alerts it opens or resolves (each as it now stands)."""
    candidate = state.candidates[provider]
    changed = []
    for kind in KINDS:
        holds = bool(getattr(verdict, kind))
        alert = candidate.open.get(kind)
        if holds and alert is None and now >= candidate.quiet_until.get(kind, 0.0):
            alert = _alert(state, monitor, provider, kind, verdict, candidate.evidence, context, now)
            candidate.open[kind] = alert
            changed.append(dict(alert))
        elif not holds and alert is not None:
            figures = _figures(kind, verdict, candidate.evidence, context)
            resolved = {
                **alert,
                **figures,
                "state": "resolved",
                "message": _message(monitor, provider, kind, "resolved", figures),
                "window_end": iso(now),
                "resolved_at": iso(now),
            }
            del candidate.open[kind]
            candidate.quiet_until[kind] = now + cooldown
            changed.append(resolved)
    return changed


def _alert(
    state: ReplayState,
    monitor: ReplayMonitor,
    provider: str,
    kind: str,
    verdict: Verdict,
    evidence: Evidence,
    context: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    key = f"{state.name}|{state.fingerprint}|{provider}|{kind}|{state.checks}"
    figures = _figures(kind, verdict, evidence, context)
    since = context["window_start"] if kind == "failure" else (evidence.since or context["window_start"])
    return {
        "id": hashlib.sha256(key.encode()).hexdigest()[:20],
        "monitor": state.name,
        "kind": kind,
        "state": "firing",
        "provider": provider,
        **figures,
        "message": _message(monitor, provider, kind, "firing", figures),
        "window_start": since,
        "window_end": iso(now),
        "started_at": iso(now),
        "resolved_at": None,
    }


def _figures(kind: str, verdict: Verdict, evidence: Evidence, context: dict[str, Any]) -> dict[str, Any]:
    if kind == "failure":
        rate, bound = verdict.error_rate, context["max_error_rate"]
        return {
            "signal": "error_rate",
            "value": rate,
            "baseline": bound,
            "change": None if rate is None else rate - bound,
        }
    value, base = evidence.scores()
    return {
        "signal": context["metric"],
        "value": value,
        "baseline": base,
        "change": evidence.mean if evidence.n else None,
        "interval": [_bound(verdict.low), _bound(verdict.high)],
        "n": evidence.n,
        "checks": evidence.checks,
        "margin": context["margin"],
        "cost_per_request": evidence.cost_per_request,
        "baseline_cost_per_request": evidence.baseline_cost_per_request,
    }


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:.4g}"


def _message(monitor: ReplayMonitor, provider: str, kind: str, state: str, figures: dict[str, Any]) -> str:
    head = f"{monitor.name}: {provider}"
    if kind == "failure":
        rate = figures["value"]
        now = "no calls" if rate is None else f"{rate:.0%} of its calls failed"
        if state == "resolved":
            return f"{head} answers again ({now} in the last check)"
        return f"{head} is failing: {now} in the last check (bound {figures['baseline']:.0%})"
    low, high = (f"{b:+.3f}" if b is not None else "?" for b in figures["interval"])
    change = figures["change"]
    evidence = (
        f"{figures['signal']} {change:+.3f} vs production over {figures['n']} replays "
        f"(always-valid interval {low}..{high}, margin {figures['margin']:g})"
    )
    costs = (
        f"{_money(figures['cost_per_request'])} vs {_money(figures['baseline_cost_per_request'])} a request"
    )
    if kind == "opportunity":
        if state == "resolved":
            return f"{head} is no longer a cheaper equal: {evidence}; {costs}"
        return f"{head} is shown non-inferior and cheaper: {evidence}; {costs}"
    if state == "resolved":
        return f"{head} is no longer shown worse: {evidence}"
    return f"{head} is shown worse than production: {evidence}"
