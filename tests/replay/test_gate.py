"""The regression gate on simulated providers of known quality: it does not cry wolf, and it catches a gap."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from bakeoff.replay.stats.analysis import AnalysisOptions, Columns, compare_all
from bakeoff.replay.stats.cross_run import regressions

KINDS = {"correct": "pass", "similarity": "score"}


def simulated_run(
    rng: np.random.Generator, n: int, baseline_quality: float, candidate_quality: float
) -> Columns:
    """Two providers answering the same n events; a pass metric and a score metric that tracks it."""
    passes = np.concatenate([rng.random(n) < baseline_quality, rng.random(n) < candidate_quality]).astype(
        float
    )
    similarity = np.clip(0.5 * passes + 0.5 * rng.beta(4, 4, 2 * n), 0, 1)
    return Columns(
        events=[str(i) for i in range(n)],
        providers=["baseline", "candidate"],
        weight=np.ones(n),
        provider=np.repeat([0, 1], n),
        event=np.tile(np.arange(n), 2),
        latency=np.full(2 * n, np.nan),
        ttft=np.full(2 * n, np.nan),
        cost=np.full(2 * n, np.nan),
        output_tokens=np.full(2 * n, np.nan),
        error=np.zeros(2 * n, dtype=bool),
        cached=np.zeros(2 * n, dtype=bool),
        judge_cost=np.full(2 * n, np.nan),
        scores={"correct": passes, "similarity": similarity},
        passes={"correct": passes, "similarity": (similarity >= 0.5).astype(float)},
    )


def gate_fires(columns: Columns, margin: float = 0.0, seed: int = 0) -> bool:
    options = AnalysisOptions(baseline="baseline", margin=margin, resamples=200, seed=seed)
    comparison = compare_all(columns, KINDS, ["baseline", "candidate"], "baseline", options)
    return bool(regressions(comparison["comparisons"], margin))


def test_equal_providers_fail_the_gate_at_most_alpha_of_the_time() -> None:
    rng = np.random.default_rng(31)
    trials = 300
    fired = sum(gate_fires(simulated_run(rng, 300, 0.85, 0.85), seed=i) for i in range(trials))
    assert fired / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_a_known_gap_fails_the_gate_as_often_as_the_analytic_power_says() -> None:
    """90% vs 80% at n = 400: McNemar's power (normal approximation, Holm over two tests: alpha/2)."""
    rng = np.random.default_rng(7)
    trials, n = 200, 400
    fired = np.mean([gate_fires(simulated_run(rng, n, 0.90, 0.80), seed=i) for i in range(trials)])
    p10, p01 = 0.9 * 0.2, 0.1 * 0.8  # baseline-only and candidate-only passes
    diff, discordant = p10 - p01, p10 + p01
    analytic = stats.norm.cdf(
        math.sqrt(n) * diff / math.sqrt(discordant - diff**2) - stats.norm.ppf(1 - 0.025 / 2)
    )
    assert fired >= analytic - 0.05
    assert analytic > 0.95


def test_a_drop_within_the_margin_does_not_fail_the_gate() -> None:
    rng = np.random.default_rng(5)
    fired = np.mean(
        [gate_fires(simulated_run(rng, 2000, 0.90, 0.89), margin=0.05, seed=i) for i in range(50)]
    )
    assert fired == 0
