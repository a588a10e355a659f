"""A replay monitor's accumulated statistic, checked many times over simulated checks of known truth.

Each simulated check pairs 50 answers of two models whose pass rates are known (Bernoulli draws), and
goes through the same merge, verdict and alert lifecycle as a real check; only the replay is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from bakeoff.monitor_config import ReplayMonitor
from bakeoff.replay.config import ReplayConfig, parse_config
from bakeoff.replay.monitoring.check import CheckResult, Pairs
from bakeoff.replay.monitoring.evidence import Evidence
from bakeoff.replay.monitoring.lifecycle import ReplayState
from bakeoff.replay.monitoring.runner import apply_check
from bakeoff.replay.stats import inference

ALPHA = 0.05
PER_CHECK = 50


def _setup(margin: float) -> tuple[ReplayMonitor, ReplayConfig]:
    config = parse_config(
        {
            "replay": {
                "providers": [{"id": "cand", "provider": "simulated", "model": "sim-medium"}],
                "metrics": [{"bakeoff.replay.simulator.models:correct": {"kind": "pass"}}],
            }
        }
    )
    monitor = ReplayMonitor(name="m", kind="replay", providers=["cand"], margin=margin)
    return monitor, config


def _check(
    rng: np.random.Generator, p_candidate: float, p_production: float, cost: float, error_rate: float = 0.0
) -> CheckResult:
    candidate = (rng.random(PER_CHECK) < p_candidate).astype(float)
    production = (rng.random(PER_CHECK) < p_production).astype(float)
    pairs = Pairs(candidate, production, np.full(PER_CHECK, cost), np.full(PER_CHECK, 1.0), error_rate)
    return CheckResult("2026-12-01T00:00:00Z", PER_CHECK, {"cand": pairs})


def _life(
    seed: int, checks: int, truth: list[tuple[float, float]], cost: float, margin: float, **check: float
) -> tuple[list[dict], ReplayState]:
    """`checks` checks, the i-th with pass rates truth[min(i, len - 1)]; every alert change, the state."""
    monitor, config = _setup(margin)
    rng = np.random.default_rng(seed)
    state = ReplayState("m", monitor.fingerprint())
    changed: list[dict] = []
    for i in range(checks):
        p_candidate, p_production = truth[min(i, len(truth) - 1)]
        state.checks += 1
        result = _check(rng, p_candidate, p_production, cost, **check)
        changed += apply_check(state, monitor, config, result, ALPHA, 0.0, float(i))
    return changed, state


def test_the_merged_moments_give_the_interval_of_all_the_differences() -> None:
    rng = np.random.default_rng(0)
    evidence, everything = Evidence(), []
    for _ in range(7):
        a, b = rng.random(40), rng.random(40)
        evidence.add(a, b, np.ones(40), np.ones(40))
        everything.append(a - b)
    diffs = np.concatenate(everything)
    assert evidence.interval(0.05) == pytest.approx(inference.confidence_sequence(diffs, 0.05), rel=1e-9)


def test_equal_models_checked_100_times_raise_false_regressions_within_the_bound() -> None:
    seeds = 300
    false_alarms = 0
    naive = 0
    for seed in range(seeds):
        changed, _ = _life(seed, 100, [(0.8, 0.8)], cost=1.0, margin=0.0)
        false_alarms += any(a["kind"] == "regression" for a in changed)
        # What looking every time with a fixed-sample 95% interval would do on the same draws.
        rng = np.random.default_rng(seed)
        diffs = np.concatenate([_pair_diffs(rng, 0.8, 0.8) for _ in range(100)])
        for n in range(PER_CHECK, len(diffs) + 1, PER_CHECK):
            seen = diffs[:n]
            if seen.mean() + 1.96 * seen.std(ddof=1) / np.sqrt(n) < 0:
                naive += 1
                break
    # Ville's bound for the interval's upper side: alpha / 2; the sequential look keeps well inside it.
    assert false_alarms / seeds <= ALPHA / 2
    assert naive / seeds > ALPHA / 2  # peeking at a fixed-n interval breaks it on the same draws


def _pair_diffs(rng: np.random.Generator, p_candidate: float, p_production: float) -> np.ndarray:
    candidate = (rng.random(PER_CHECK) < p_candidate).astype(float)
    production = (rng.random(PER_CHECK) < p_production).astype(float)
    return candidate - production


def test_a_cheaper_model_exactly_at_the_margin_is_a_false_opportunity_within_the_bound() -> None:
    seeds = 300
    false_alarms = sum(
        any(a["kind"] == "opportunity" for a in _life(seed, 100, [(0.75, 0.85)], cost=0.2, margin=0.1)[0])
        for seed in range(1000, 1000 + seeds)
    )
    assert false_alarms / seeds <= ALPHA / 2


def test_a_cheaper_equal_raises_exactly_one_opportunity_that_stays_firing() -> None:
    for seed in range(20):
        changed, state = _life(seed, 50, [(0.85, 0.85)], cost=0.2, margin=0.1)
        assert [(a["kind"], a["state"]) for a in changed] == [("opportunity", "firing")]
        assert sorted(state.candidates["cand"].open) == ["opportunity"]


def test_a_candidate_that_was_fine_and_turns_worse_raises_one_regression() -> None:
    changed, state = _life(1, 60, [(0.85, 0.85)] * 20 + [(0.5, 0.85)], cost=1.0, margin=0.05)
    assert [(a["kind"], a["state"]) for a in changed] == [("regression", "firing")]
    assert 20 < state.candidates["cand"].open["regression"]["checks"] <= 40


def test_a_failing_candidate_fires_resolves_once_and_its_evidence_goes_on() -> None:
    monitor, config = _setup(0.1)
    rng = np.random.default_rng(3)
    state = ReplayState("m", monitor.fingerprint())
    changed = []
    for i, rate in enumerate([0.0, 0.9, 0.9, 0.0, 0.0]):
        state.checks += 1
        result = _check(rng, 0.85, 0.85, 1.0, error_rate=rate)
        changed += apply_check(state, monitor, config, result, ALPHA, 0.0, float(i))
    assert [(a["kind"], a["state"]) for a in changed if a["kind"] == "failure"] == [
        ("failure", "firing"),
        ("failure", "resolved"),
    ]
    assert state.candidates["cand"].evidence.checks == 5
