"""A run's rows as columns (numpy arrays indexed by row or by event), and the analysis's options.

A failed request has no quality: its scores are left out (NaN), so quality is compared on the events
both providers answered, and failures are counted by the error rate, a metric of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_MARGIN = 0.02  # the non-inferiority margin when neither the command line nor the config sets one


@dataclass
class AnalysisOptions:
    """Choices of the analysis. `margin` None: the default margin (`replay.margin`, else 0.02)."""

    baseline: str | None = None
    alpha: float = 0.05
    margin: float | None = None
    resamples: int = 2000
    seed: int | None = None  # None: the run's own --seed, so every command draws the same resamples

    @property
    def draw_seed(self) -> int:
        """The seed of every resampling."""
        return self.seed or 0

    @property
    def decision_margin(self) -> float:
        """The margin the verdicts use."""
        return DEFAULT_MARGIN if self.margin is None else self.margin


@dataclass
class Columns:
    """A run's rows as arrays. Per-event arrays are indexed by event code; NaN marks 'no value'."""

    events: list[str]
    providers: list[str]
    weight: np.ndarray  # per event
    provider: np.ndarray  # per row: provider index
    event: np.ndarray  # per row: event code
    latency: np.ndarray
    ttft: np.ndarray
    cost: np.ndarray
    output_tokens: np.ndarray
    error: np.ndarray  # bool
    cached: np.ndarray  # bool
    judge_cost: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> per row score
    passes: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> per row 1/0/NaN
    tags: dict[str, np.ndarray] = field(default_factory=dict)  # tag -> per event bool
    feedback: np.ndarray | None = None  # per event: the users' mean feedback score, NaN without

    def rows_of(self, provider: str) -> np.ndarray:
        if provider not in self.providers:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(self.provider == self.providers.index(provider))

    def per_event(self, values: np.ndarray, provider: str) -> np.ndarray:
        """The provider's value per event (the mean over repetitions), NaN where it has none."""
        rows = self.rows_of(provider)
        picked = values[rows]
        keep = ~np.isnan(picked)
        total = np.bincount(self.event[rows][keep], weights=picked[keep], minlength=len(self.events))
        count = np.bincount(self.event[rows][keep], minlength=len(self.events))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def errors_per_event(self, provider: str) -> np.ndarray:
        """The provider's share of failed attempts per event (0 or 1 without repetitions), NaN unattempted."""
        return self.per_event(self.error.astype(float), provider)


def rounded(value: float | None, digits: int = 6) -> float | None:
    """A figure as written to the result files: rounded, None for no value (NaN)."""
    return None if value is None or math.isnan(value) else round(float(value), digits)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _feedback_score(value: Any) -> float:
    """A row's feedback: a number, or the feedback records of an event (`[{"score": ...}, ...]`)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        scores = [float(f["score"]) for f in value if isinstance(f, dict) and f.get("score") is not None]
        return sum(scores) / len(scores) if scores else math.nan
    return math.nan


def columns(rows: Sequence[Mapping[str, Any]], metrics: Iterable[str]) -> Columns:
    """Columns of the rows (in one pass over them)."""
    names = list(metrics)
    event_codes: dict[str, int] = {}
    provider_codes: dict[str, int] = {}
    n = len(rows)
    provider, event = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    numeric = np.full((5, n), np.nan)
    flags = np.zeros((2, n), dtype=bool)
    score = {m: np.full(n, np.nan) for m in names}
    passed = {m: np.full(n, np.nan) for m in names}
    weights: dict[int, float] = {}
    feedback: dict[int, float] = {}
    tagged: dict[str, set[int]] = {}
    for i, row in enumerate(rows):
        code = event_codes.setdefault(row["event_id"], len(event_codes))
        event[i] = code
        provider[i] = provider_codes.setdefault(row["provider"], len(provider_codes))
        if code not in weights:
            weights[code] = float(row.get("weight") or 1.0)
            for tag in row.get("tags") or ():
                tagged.setdefault(str(tag), set()).add(code)
        if row.get("feedback") is not None:
            feedback.setdefault(code, _feedback_score(row["feedback"]))
        usage = row.get("usage") or {}
        numeric[:, i] = (
            _number(row.get("latency_ms")),
            _number(row.get("ttft_ms")),
            _number(row.get("cost")),
            _number(usage.get("output_tokens")),
            _number(row.get("judge_cost")),
        )
        failed = row.get("error") is not None
        flags[0, i] = failed
        flags[1, i] = bool(row.get("cached"))
        if failed:
            continue  # no answer, no quality: the error rate counts it
        for metric, result in (row.get("scores") or {}).items():
            if metric in score:
                if result.get("score") is not None:
                    score[metric][i] = result["score"]
                if result.get("passed") is not None:
                    passed[metric][i] = float(result["passed"])
    count = len(event_codes)
    return Columns(
        events=list(event_codes),
        providers=list(provider_codes),
        weight=np.array([weights[c] for c in range(count)]),
        provider=provider,
        event=event,
        latency=numeric[0],
        ttft=numeric[1],
        cost=numeric[2],
        output_tokens=numeric[3],
        error=flags[0],
        cached=flags[1],
        judge_cost=numeric[4],
        scores=score,
        passes=passed,
        tags={tag: _mask(codes, count) for tag, codes in sorted(tagged.items())},
        feedback=_per_event(feedback, count) if feedback else None,
    )


def _mask(codes: set[int], count: int) -> np.ndarray:
    mask = np.zeros(count, dtype=bool)
    mask[list(codes)] = True
    return mask


def _per_event(values: dict[int, float], count: int) -> np.ndarray:
    out = np.full(count, np.nan)
    out[list(values)] = list(values.values())
    return out
