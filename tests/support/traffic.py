"""Simulated production traffic with known truth, spread over days by `ts`, and a way to post it.

Each window of a :class:`Regime` gets `per_window` calls: failing with `error_rate`, log-normal latency
(p95 ~ 1.1 s at scale 1), time to first token for streams, output tokens with mean `output_tokens`, and
feedback on a share of calls with mean `feedback` (Beta-distributed scores). A list of regimes, each for a
number of windows, is the truth a test knows: when what changed, and by how much.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Regime:
    """How the traffic behaves for `windows` windows."""

    windows: int
    error_rate: float = 0.01
    latency_scale: float = 1.0
    output_tokens: float = 200.0
    feedback: float = 0.7


def traffic(
    regimes: list[Regime],
    *,
    tag: str,
    seed: int,
    per_window: int = 50,
    window_s: float = 300.0,
    start: datetime = START,
    feedback_share: float = 0.5,
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(event, its feedback or None), in order of `ts`."""
    rng = np.random.default_rng(seed)
    index = 0
    for regime in regimes:
        for _ in range(regime.windows):
            window_start = start + timedelta(seconds=index * window_s)
            offsets = np.sort(rng.uniform(0, window_s, per_window))
            for call, offset in enumerate(offsets):
                ts = window_start + timedelta(seconds=float(offset))
                event_id = f"{tag}-{seed}-{index}-{call}"
                yield (
                    _event(rng, regime, event_id, tag, ts),
                    _feedback(rng, regime, event_id, ts, feedback_share),
                )
            index += 1


def _event(rng: np.random.Generator, regime: Regime, event_id: str, tag: str, ts: datetime) -> dict[str, Any]:
    failed = bool(rng.random() < regime.error_rate)
    latency = float(rng.lognormal(6.3, 0.33)) * regime.latency_scale
    event: dict[str, Any] = {
        "id": event_id,
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-a",
        "request": {"messages": [{"role": "user", "content": "hello"}]},
        "usage": {"input_tokens": 100, "output_tokens": int(rng.poisson(regime.output_tokens))},
        "latency_ms": latency,
        "ttft_ms": latency * 0.3,
        "stream": True,
        "status": "error" if failed else "ok",
        "tags": [tag],
    }
    if failed:
        event["error"] = {"type": "APIError", "message": "upstream failed", "status_code": 500}
    return event


def _feedback(
    rng: np.random.Generator, regime: Regime, event_id: str, ts: datetime, share: float
) -> dict[str, Any] | None:
    if rng.random() >= share:
        return None
    strength = 10.0
    score = float(rng.beta(regime.feedback * strength, (1 - regime.feedback) * strength))
    when = (ts + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    return {"event_id": event_id, "score": score, "ts": when}


def post(url: str, items: Iterator[tuple[dict[str, Any], dict[str, Any] | None]], batch: int = 5000) -> int:
    """POST the events (and their feedback) to a collector; how many events."""
    events: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    count = 0
    with httpx.Client(base_url=url, timeout=60) as client:

        def flush() -> None:
            if events:
                client.post("/v1/events", json={"events": events}).raise_for_status()
            if feedback:
                client.post("/v1/feedback", json={"feedback": feedback}).raise_for_status()
            events.clear()
            feedback.clear()

        for event, score in items:
            events.append(event)
            count += 1
            if score is not None:
                feedback.append(score)
            if len(events) >= batch:
                flush()
        flush()
    return count
