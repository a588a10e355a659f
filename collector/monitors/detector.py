"""An always-valid sequential change detector whose false-alarm probability over a whole life is <= alpha.

Each window brings observations x in [0, 1] (an indicator such as "this call failed", or a score). The
null hypothesis is that their mean stays at most `p0` (the baseline plus `min_change`, in the harmful
direction). For a bet `lam` in [0, 1/p0), the wealth of a gambler betting on "the mean exceeds p0",

    E_k..t(lam) = prod over the observations of windows k..t of (1 + lam * (x - p0)),

is a nonnegative supermartingale under the null with value 1 at its start: an e-process. A change may
start at any window k, so the detector mixes every start point k with weight w_k (summing to 1) and a
grid of bets with equal weights. The mixture

    S_t(lam) = sum over k <= t of w_k * E_k..t(lam),   S_t(lam) = e_t(lam) * (S_{t-1}(lam) + w_t),

plus the weight of the start points still to come, is again a nonnegative supermartingale with value 1
at the start. Ville's inequality bounds the chance that it ever reaches 1/alpha by alpha: the detector
alarms there, so a monitor whose traffic never changes alarms with probability at most alpha, however
long it runs and however often it looks. After a resolution the start points already spent are
dropped, and later start points keep their (smaller) weights: the bound holds for the monitor's life.

The weights w_k ~ 1 / ((k + 1) log(k + 1)^2) make the detection delay after a change at window k grow
like log k + 2 log log k (in nats of evidence), rather than the 2 log k of w_k = 1 / (k (k + 1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

# Bets as a fraction of the largest one allowed: from ~0.5% (a shift of 0.01 over p0 = 0.02 bets ~1%)
# to 90% (a window where nearly every call fails).
BET_FRACTIONS = np.geomspace(0.004, 0.9, 12)
_TAIL_FROM = 100_000


@lru_cache(maxsize=1)
def _log_normaliser() -> float:
    k = np.arange(1, _TAIL_FROM + 1, dtype=float)
    head = float(np.sum(1.0 / ((k + 1) * np.log(k + 1) ** 2)))
    tail = 1.0 / math.log(_TAIL_FROM + 1)  # the integral of 1 / (x log(x)^2) from N + 1 on
    return math.log(head + tail)


def log_start_weight(k: int) -> float:
    """log w_k for start point k = 1, 2, ...; the weights sum to 1."""
    return -math.log(k + 1) - 2.0 * math.log(math.log(k + 1)) - _log_normaliser()


def _log_weights(first: int, count: int) -> np.ndarray:
    k = np.arange(first, first + count, dtype=float)
    return -np.log(k + 1) - 2.0 * np.log(np.log(k + 1)) - _log_normaliser()


def _kl(p: float, q: float) -> float:
    eps = 1e-12
    p, q = min(max(p, eps), 1 - eps), min(max(q, eps), 1 - eps)
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def mean_upper_bound(mean: float, n: float, alpha: float) -> float:
    """An upper confidence bound at level 1 - alpha for the mean of n observations in [0, 1].

    Chernoff's bound: the largest q >= mean with n * KL(mean || q) <= log(1/alpha), found by bisection;
    valid for any variable in [0, 1], and tight for rare events (a 1% error rate), unlike Hoeffding's.
    """
    if n <= 0:
        return 1.0
    low, high, budget = mean, 1.0, math.log(1.0 / alpha) / n
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _kl(mean, middle) <= budget else (low, middle)
    return high


def bernoulli_log_e_rows(n: np.ndarray, bad: np.ndarray, p0: float) -> np.ndarray:
    """log e-values, one row per window with `bad` of `n` indicators set, one column per bet: mean <= p0."""
    rows = np.zeros((len(n), len(BET_FRACTIONS)))
    if p0 >= 1.0:
        return rows  # a null that nothing can contradict: no bet
    p0 = max(p0, 1e-9)
    lam = BET_FRACTIONS / p0
    bad = np.asarray(bad, dtype=float)[:, None]
    return bad * np.log1p(lam * (1.0 - p0)) + (np.asarray(n, dtype=float)[:, None] - bad) * np.log1p(
        -lam * p0
    )


def bernoulli_log_e(n: int, bad: int, p0: float) -> np.ndarray:
    """log e-values of one window with `bad` of `n` indicators set, for each bet, against mean <= p0."""
    return bernoulli_log_e_rows(np.array([n]), np.array([bad]), p0)[0]


def bets(p0: float) -> np.ndarray:
    """The bets `lam` of the grid against mean <= p0 (empty when the null cannot be contradicted)."""
    return BET_FRACTIONS / max(p0, 1e-9) if p0 < 1.0 else np.zeros(0)


def bounded_log_e(values: np.ndarray, p0: float) -> np.ndarray:
    """log e-values of one window of observations in [0, 1], for each bet, against mean <= p0."""
    if len(values) == 0 or p0 >= 1.0:
        return np.zeros(len(BET_FRACTIONS))
    p0 = max(p0, 1e-9)
    lam = BET_FRACTIONS / p0
    return np.log1p(np.outer(lam, np.clip(values, 0.0, 1.0) - p0)).sum(axis=1)


@dataclass
class Detector:
    """The mixture of start points and bets, in log space; `index` counts the windows of its life."""

    alpha: float
    index: int = 0
    log_s: np.ndarray = field(default_factory=lambda: np.full(len(BET_FRACTIONS), -math.inf))

    @property
    def log_evidence(self) -> float:
        """log of the mixture's value (0 at the start; alarm at log(1/alpha))."""
        top = float(self.log_s.max())
        if top == -math.inf:
            return -math.inf
        return top + math.log(float(np.mean(np.exp(self.log_s - top))))

    def update(self, log_e: np.ndarray) -> bool:
        """Take one window's log e-values; True when the evidence reaches 1/alpha (an alarm)."""
        self.index += 1
        self.log_s = log_e + np.logaddexp(self.log_s, log_start_weight(self.index))
        return self.log_evidence >= math.log(1.0 / self.alpha)

    def run(self, log_e: np.ndarray, eligible: np.ndarray) -> int | None:
        """Take the rows of `log_e` (one window each) up to the first alarm among `eligible` windows.

        Vectorised: with P_t the product of the e-values of rows 1..t, S_t = P_t (S_0 + sum over k <= t of
        w_k / P_(k-1)), a cumulative log-sum-exp. Returns the alarm's row (the detector then stands right
        after it), or None when no eligible row alarms (the detector then stands after the last row).
        """
        rows = len(log_e)
        if rows == 0:
            return None
        log_w = _log_weights(self.index + 1, rows)[:, None]
        total = np.cumsum(log_e, axis=0)
        before = np.vstack([np.zeros((1, log_e.shape[1])), total[:-1]])
        terms = np.vstack([self.log_s[None, :], log_w - before])
        log_s = total + np.logaddexp.accumulate(terms, axis=0)[1:]
        top = log_s.max(axis=1, keepdims=True)
        safe = np.where(np.isfinite(top), top, 0.0)
        evidence = safe[:, 0] + np.log(np.mean(np.exp(log_s - safe), axis=1))
        hits = np.flatnonzero(eligible & (evidence >= math.log(1.0 / self.alpha)))
        stop = int(hits[0]) if len(hits) else rows - 1
        self.log_s = log_s[stop]
        self.index += stop + 1
        return int(hits[0]) if len(hits) else None

    def restart(self) -> None:
        """Drop the start points spent so far (after a resolution); the life's window count goes on."""
        self.log_s = np.full(len(BET_FRACTIONS), -math.inf)

    def to_dict(self) -> dict[str, Any]:
        """The detector as JSON (-inf, the log of no evidence, as null)."""
        log_s = [None if v == -math.inf else float(v) for v in self.log_s]
        return {"alpha": self.alpha, "index": self.index, "log_s": log_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Detector:
        """The detector `to_dict` gave."""
        log_s = np.array([-math.inf if v is None else v for v in data["log_s"]], dtype=float)
        return cls(float(data["alpha"]), int(data["index"]), log_s)
