"""One candidate's evidence against production, accumulated over a replay monitor's checks.

Every check replays a fresh sample, so the paired differences (candidate minus production, on the
monitor's metric) of all checks form one growing sequence. Its always-valid confidence sequence
(:func:`bakeoff.replay.stats.inference.confidence_sequence_of`) may be looked at after every check
without inflating false alarms: at level alpha it ever excludes the true mean difference with probability
at most alpha over the monitor's whole life. Only the count, mean and sum of squared deviations are kept
(merged check by check), so the state stays a few numbers however long the monitor runs.

The conditions, for a non-inferiority margin m and the sequence's interval [low, high]:

- `opportunity`: low > -m (shown non-inferior) and the candidate costs less per request than production;
  once firing it holds until the candidate is shown worse (high < -m) or stops being cheaper, so the
  interval's wobble around -m cannot make it flap;
- `regression`: high < -m (shown worse than production by more than the margin);
- `failure`: the share of the candidate's calls that failed in this check exceeds `max_error_rate`.

A false `opportunity` needs the interval's lower side to fail, a false `regression` its upper side: each
has probability at most alpha / 2, so one interval at level alpha bounds both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bakeoff.replay.stats.inference import confidence_sequence_of


@dataclass
class Evidence:
    """The moments of the paired differences so far, the scores' sums and both sides' costs."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean
    candidate_sum: float = 0.0  # the candidate's scores on the paired events
    production_sum: float = 0.0
    cost_sum: float = 0.0  # the candidate's priced answers
    cost_n: int = 0
    baseline_cost_sum: float = 0.0
    baseline_cost_n: int = 0
    checks: int = 0
    since: str | None = None  # the time of the first check counted

    def add(
        self,
        candidate: np.ndarray,
        production: np.ndarray,
        costs: np.ndarray,
        baseline_costs: np.ndarray,
    ) -> None:
        """Merge one check: the paired scores (NaN-free, same length) and each side's answer costs."""
        diffs = np.asarray(candidate, float) - np.asarray(production, float)
        if len(diffs):
            n_b, mean_b = len(diffs), float(diffs.mean())
            m2_b = float(((diffs - mean_b) ** 2).sum())
            total = self.n + n_b
            delta = mean_b - self.mean
            self.mean += delta * n_b / total
            self.m2 += m2_b + delta * delta * self.n * n_b / total
            self.n = total
            self.candidate_sum += float(np.sum(candidate))
            self.production_sum += float(np.sum(production))
        costs, baseline_costs = _finite(costs), _finite(baseline_costs)
        self.cost_sum += float(costs.sum())
        self.cost_n += len(costs)
        self.baseline_cost_sum += float(baseline_costs.sum())
        self.baseline_cost_n += len(baseline_costs)
        self.checks += 1

    def interval(self, alpha: float) -> tuple[float, float]:
        """The always-valid interval at level 1 - alpha for the mean difference (infinite below 2 pairs)."""
        variance = self.m2 / (self.n - 1) if self.n > 1 else 0.0
        return confidence_sequence_of(self.n, self.mean, variance, alpha)

    @property
    def cost_per_request(self) -> float | None:
        return self.cost_sum / self.cost_n if self.cost_n else None

    @property
    def baseline_cost_per_request(self) -> float | None:
        return self.baseline_cost_sum / self.baseline_cost_n if self.baseline_cost_n else None

    @property
    def cheaper(self) -> bool:
        """Whether the candidate costs less per request than production (False when either is unpriced)."""
        own, base = self.cost_per_request, self.baseline_cost_per_request
        return own is not None and base is not None and own < base

    def scores(self) -> tuple[float | None, float | None]:
        """The candidate's and production's mean scores on the paired events."""
        if not self.n:
            return None, None
        return self.candidate_sum / self.n, self.production_sum / self.n

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(**data)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, float)
    return values[np.isfinite(values)]


@dataclass(frozen=True)
class Verdict:
    """Where one candidate stands after a check: the interval, and which conditions hold."""

    low: float
    high: float
    opportunity: bool
    regression: bool
    failure: bool
    error_rate: float | None  # this check's share of failed calls (None: none attempted)


def judge(
    evidence: Evidence,
    margin: float,
    alpha: float,
    error_rate: float | None,
    max_error_rate: float,
    opportunity_open: bool,
    failure_open: bool,
) -> Verdict:
    """The conditions after a check; `*_open` say whether that alert is firing (for the hysteresis)."""
    low, high = evidence.interval(alpha)
    worse = high < -margin
    shown = not worse if opportunity_open else low > -margin
    opportunity = evidence.cheaper and shown
    # Nothing attempted (every row skipped): the failure stays as it was.
    failure = failure_open if error_rate is None else error_rate > max_error_rate
    return Verdict(low, high, opportunity, worse, failure, error_rate)
