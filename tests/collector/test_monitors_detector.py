"""The change detector against known truth: null streams alarm at most at alpha, changes are found.

The null streams sit exactly on the boundary of the null (the true mean equals p0), the hardest case;
each seed is a whole monitor life, so the measured rate is the rate of "ever alarmed".
"""

from __future__ import annotations

import math

import numpy as np

from bakeoff.collector.monitors.detector import (
    Detector,
    bernoulli_log_e,
    bounded_log_e,
    log_start_weight,
)


def _life(stream: list[np.ndarray], alpha: float) -> int | None:
    """The window of the first alarm, or None."""
    detector = Detector(alpha)
    for index, log_e in enumerate(stream):
        if detector.update(log_e):
            return index
    return None


def _bernoulli_stream(rng: np.random.Generator, rates: list[float], n: int, p0: float) -> list[np.ndarray]:
    return [bernoulli_log_e(n, int(rng.binomial(n, rate)), p0) for rate in rates]


def test_start_weights_sum_to_one() -> None:
    n = 200_000
    head = math.fsum(math.exp(log_start_weight(k)) for k in range(1, n + 1))
    scale = math.exp(log_start_weight(1)) * 2 * math.log(2) ** 2  # w_k = scale / ((k+1) log(k+1)^2)
    tail = scale / math.log(n + 1)  # the integral of the rest
    assert abs(head + tail - 1.0) < 1e-4


def test_null_bernoulli_streams_alarm_at_most_at_alpha() -> None:
    alpha, seeds, windows = 0.05, 200, 500
    alarms = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        alarms += _life(_bernoulli_stream(rng, [0.03] * windows, 100, 0.03), alpha) is not None
    assert alarms / seeds <= alpha  # measured: 3 of 200 (1.5%)


def test_error_rate_rising_from_1_to_4_percent_is_found_within_250_windows() -> None:
    # baseline 1%, min_change 2 points: the null is "at most 3%"; 100 calls per window.
    for change_at in (30, 1000):
        delays = []
        for seed in range(20):
            rng = np.random.default_rng(1000 + seed)
            rates = [0.01] * change_at + [0.04] * 400
            found = _life(_bernoulli_stream(rng, rates, 100, 0.03), 0.01)
            assert found is not None and found >= change_at, (seed, found)
            delays.append(found - change_at)
        assert max(delays) <= 250, delays  # measured: median ~80 windows, 8000 calls


def test_a_shift_within_min_change_stays_quiet() -> None:
    # 1% -> 2.5%, below the null's 3%: no alarm in any of 50 lives of 600 windows.
    for seed in range(50):
        rng = np.random.default_rng(seed)
        assert _life(_bernoulli_stream(rng, [0.01] * 100 + [0.025] * 500, 100, 0.03), 0.01) is None


def test_bounded_scores_null_and_a_drop() -> None:
    # Feedback scores in [0, 1] with mean 0.7, watched for a fall (x -> 1 - x) beyond min_change 0.05.
    p0 = 1 - (0.7 - 0.05)
    alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        stream = [bounded_log_e(1 - rng.beta(7, 3, 40), p0) for _ in range(300)]
        alarms += _life(stream, 0.05) is not None
    assert alarms / 100 <= 0.05
    for seed in range(10):  # the mean falls by 0.15 (to 0.55) at window 50: found within 30 windows
        rng = np.random.default_rng(500 + seed)
        stream = [bounded_log_e(1 - rng.beta(7, 3, 40), p0) for _ in range(50)]
        stream += [bounded_log_e(1 - rng.beta(5.5, 4.5, 40), p0) for _ in range(100)]
        found = _life(stream, 0.01)
        assert found is not None and 50 <= found <= 80, (seed, found)


def test_a_detector_survives_its_json() -> None:
    rng = np.random.default_rng(7)
    stream = _bernoulli_stream(rng, [0.05] * 60, 100, 0.03)
    whole, halves = Detector(0.01), Detector(0.01)
    for log_e in stream[:30]:
        whole.update(log_e)
        halves.update(log_e)
    halves = Detector.from_dict(halves.to_dict())
    for log_e in stream[30:]:
        assert whole.update(log_e) == halves.update(log_e)
    assert whole.index == halves.index == 60
    assert math.isclose(whole.log_evidence, halves.log_evidence)


def test_a_null_that_nothing_can_contradict_never_bets() -> None:
    assert not np.any(bernoulli_log_e(100, 100, 1.0))
    assert not np.any(bernoulli_log_e(0, 0, 0.3))
