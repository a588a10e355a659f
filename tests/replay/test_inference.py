"""The statistics, against scipy's reference values and against simulated ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bakeoff.replay.stats import inference as st


def binomial_tolerance(p: float, trials: int) -> float:
    return 3 * math.sqrt(p * (1 - p) / trials)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (45, 50), (512, 1000)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    reference = stats.binomtest(k, n).proportion_ci(method="wilson")
    low, high = st.wilson_interval(k, n)
    assert low == pytest.approx(reference.low, abs=1e-12) and high == pytest.approx(reference.high, abs=1e-12)


def test_bca_agrees_with_scipy_bootstrap() -> None:
    rng = np.random.default_rng(3)
    for sample in (
        rng.exponential(size=200),
        rng.uniform(size=60),
        rng.integers(0, 2, size=150).astype(float),
    ):
        reference = stats.bootstrap((sample,), np.mean, method="BCa", n_resamples=20000, random_state=1)
        low, high = st.bca_interval(sample, resamples=20000, seed=2)
        spread = sample.max() - sample.min()
        assert low == pytest.approx(reference.confidence_interval.low, abs=0.01 * spread)
        assert high == pytest.approx(reference.confidence_interval.high, abs=0.01 * spread)


def test_bca_covers_the_true_mean_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    trials, covered = 400, 0
    for seed in range(trials):
        sample = rng.exponential(scale=2.0, size=80)  # skewed: where BCa earns its keep
        low, high = st.bca_interval(sample, seed=seed)
        covered += low <= 2.0 <= high
    assert abs(covered / trials - 0.95) <= binomial_tolerance(0.95, trials) + 0.01


def test_binned_support_keeps_the_mean_and_approximates_the_bootstrap() -> None:
    rng = np.random.default_rng(5)
    sample = rng.normal(size=50_000)
    points, probabilities = st.support(sample)
    assert len(points) == st.MAX_SUPPORT
    assert float(points @ probabilities) == pytest.approx(sample.mean(), abs=1e-12)
    boot = st.bootstrap_means(sample, resamples=4000, seed=1)
    assert boot.std() == pytest.approx(sample.std() / math.sqrt(len(sample)), rel=0.05)


def test_hajek_is_unbiased_on_a_stratified_sample_of_a_known_population() -> None:
    rng = np.random.default_rng(8)
    # Three strata of very different size and mean; sampled at very different rates.
    strata = [rng.binomial(1, 0.9, 20_000), rng.binomial(1, 0.5, 3_000), rng.binomial(1, 0.2, 500)]
    population_mean = np.concatenate(strata).mean()
    sizes = (60, 60, 60)
    estimates, covered, naive = [], 0, []
    trials = 400
    for _ in range(trials):
        values, weights = [], []
        for stratum, n in zip(strata, sizes, strict=True):
            picked = rng.choice(stratum, size=n, replace=False)
            values.append(picked)
            weights.append(np.full(n, len(stratum) / n))
        y, w = np.concatenate(values), np.concatenate(weights)
        estimate, (low, high) = st.hajek_mean(y, w)
        estimates.append(estimate)
        naive.append(y.mean())
        covered += low <= population_mean <= high
    assert np.mean(estimates) == pytest.approx(population_mean, abs=0.01)
    assert abs(np.mean(naive) - population_mean) > 0.15  # the unweighted mean is far off
    assert covered / trials >= 0.95 - binomial_tolerance(0.95, trials) - 0.02


def test_mcnemar_is_exact_at_every_number_of_discordant_pairs() -> None:
    baseline = np.array([1] * 5 + [0] * 10 + [1] * 20, dtype=bool)
    candidate = np.array([0] * 5 + [1] * 10 + [1] * 20, dtype=bool)
    p, test = st.mcnemar(baseline, candidate)  # 15 discordant: 5 vs 10
    assert test == "mcnemar-exact" and p == pytest.approx(stats.binomtest(10, 15, 0.5).pvalue)
    baseline = np.array([1] * 40 + [0] * 30, dtype=bool)
    candidate = np.array([0] * 40 + [1] * 30, dtype=bool)
    p, test = st.mcnemar(baseline, candidate)  # 70 discordant: 40 vs 30
    assert test == "mcnemar-exact" and p == pytest.approx(stats.binomtest(30, 70, 0.5).pvalue)
    assert st.mcnemar(baseline, baseline) == (1.0, "mcnemar-exact")
    even = np.array([1] * 60 + [0] * 60, dtype=bool)
    assert st.mcnemar(even, ~even)[0] == 1.0  # b = c: exactly 1 (the chi-squared approximation said 0.90)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (20, 20), (37, 90), (400, 1000)])
def test_clopper_pearson_matches_scipy(k: int, n: int) -> None:
    reference = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    low, high = st.clopper_pearson(k, n, 0.05)
    assert low == pytest.approx(reference.low, abs=1e-12) and high == pytest.approx(reference.high, abs=1e-12)


def test_the_mcnemar_interval_excludes_zero_exactly_when_the_test_rejects() -> None:
    rng = np.random.default_rng(5)
    for _ in range(400):
        n = int(rng.integers(5, 400))
        a = rng.random(n) < rng.uniform(0.3, 0.95)
        b = rng.random(n) < rng.uniform(0.3, 0.95)
        found = st.paired_binary(a, b)
        assert found.p_value == pytest.approx(st.mcnemar(a, b)[0])
        for alpha in (0.05, 0.01, 0.05 / 7):
            low, high = found.interval(alpha)
            assert low <= found.diff <= high
            assert (low > 0 or high < 0) == (found.p_value < alpha)


def test_the_mcnemar_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(8)
    trials, n = 1000, 150
    covered = 0
    for _ in range(trials):
        a = rng.random(n) < 0.8
        b = np.where(rng.random(n) < 0.7, a, rng.random(n) < 0.7)  # correlated, true diff 0.7*0.3*(0.7-0.8)
        low, high = st.paired_binary(a, b).interval(0.05)
        covered += low <= 0.3 * (0.7 - 0.8) <= high
    assert covered / trials >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / trials)


def test_paired_t_matches_scipy() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.random(60), np.clip(rng.random(60) + 0.05, 0, 1)
    found = st.paired_t(a, b)
    reference = stats.ttest_rel(b, a)
    assert found.p_value == pytest.approx(reference.pvalue)
    interval = reference.confidence_interval(0.99)
    assert found.interval(0.01) == pytest.approx((interval.low, interval.high))
    assert st.paired_t(a, a).p_value == 1.0 and st.paired_t(a, a).interval(0.05) == (0.0, 0.0)


def test_holm_levels_make_intervals_agree_with_holm() -> None:
    raw = [0.01, 0.04, 0.03, 0.005, math.nan]
    assert st.holm_levels(raw, 0.05)[:4] == pytest.approx([0.05 / 3, 0.025, 0.025, 0.0125])
    assert math.isnan(st.holm_levels(raw, 0.05)[4])
    rng = np.random.default_rng(3)
    for _ in range(300):
        p = rng.uniform(0, 0.1, int(rng.integers(1, 15))) ** 2
        rejected = np.array(st.holm(list(p))) < 0.05
        assert np.array_equal(p < np.array(st.holm_levels(list(p), 0.05)), rejected)


def test_spearman_interval_is_the_fisher_z_interval_and_covers() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=80)
    y = x + rng.normal(size=80)
    rho, (low, high), n = st.spearman_interval(x, y)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic) and n == 80
    half = 1.959963984540054 * math.sqrt((1 + rho**2 / 2) / 77)
    assert (low, high) == pytest.approx(
        (math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half))
    )
    # Coverage against the population value of a bivariate normal with r = 0.5: 6/pi * asin(r / 2).
    truth, covered, trials = 6 / math.pi * math.asin(0.25), 0, 600
    cov = [[1, 0.5], [0.5, 1]]
    for _ in range(trials):
        sample = rng.multivariate_normal([0, 0], cov, size=60)
        _, (lo, hi), _ = st.spearman_interval(sample[:, 0], sample[:, 1])
        covered += lo <= truth <= hi
    assert covered / trials >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / trials)


def test_wilcoxon_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(size=120)
    b = np.clip(a + rng.normal(0.03, 0.1, size=120), 0, 1)
    p, _ = st.wilcoxon_signed_rank(a, b)
    assert p == pytest.approx(stats.wilcoxon(b - a, zero_method="zsplit").pvalue)
    assert st.wilcoxon_signed_rank(a, a) == (1.0, "wilcoxon")


def test_holm_worked_example_and_monotonicity() -> None:
    assert st.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = st.holm([0.2, math.nan, 0.001])
    assert (
        adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.002)
    )
    rng = np.random.default_rng(0)
    raw = rng.uniform(size=30)
    result = np.array(st.holm(raw))
    order = np.argsort(raw)
    assert np.all(np.diff(result[order]) >= 0) and np.all(result >= raw) and np.all(result <= 1)


def test_mde_and_required_samples_agree_with_the_normal_power_formula() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert st.mde_paired(0.5, 400) == pytest.approx(z * 0.5 / 20)
    needed = st.n_required(0.05, 0.5)
    assert needed == math.ceil((z * 0.5 / 0.05) ** 2)
    assert st.mde_paired(0.5, needed) <= 0.05 < st.mde_paired(0.5, needed - 1)
    assert st.n_required(0.0, 0.5) is None


def simulate_pairs(
    rng: np.random.Generator, p_a: float, p_b: float, n: int, trials: int
) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((trials, n)) < p_a, rng.random((trials, n)) < p_b


def test_equal_providers_are_flagged_at_most_alpha_of_the_time() -> None:
    rng = np.random.default_rng(21)
    trials = 1000
    a, b = simulate_pairs(rng, 0.85, 0.85, 200, trials)
    rejections = sum(st.mcnemar(a[i], b[i])[0] < 0.05 for i in range(trials))
    assert rejections / trials <= 0.05 + binomial_tolerance(0.05, trials)


def test_power_on_a_known_gap_matches_the_analytic_value() -> None:
    """90% vs 80% at n = 400 (independent outcomes): McNemar's power ≈ the normal-approximation value."""
    rng = np.random.default_rng(4)
    trials, n = 600, 400
    a, b = simulate_pairs(rng, 0.80, 0.90, n, trials)
    power = np.mean([st.mcnemar(a[i], b[i])[0] < 0.05 for i in range(trials)])
    # Discordant probabilities: baseline-only 0.8*0.1, candidate-only 0.2*0.9.
    p10, p01 = 0.8 * 0.1, 0.2 * 0.9
    diff, discordant = p01 - p10, p01 + p10
    sd = math.sqrt(discordant - diff**2)
    analytic = stats.norm.cdf(math.sqrt(n) * diff / sd - stats.norm.ppf(0.975))
    assert power == pytest.approx(analytic, abs=0.05)
    assert analytic > 0.95


def test_paired_bootstrap_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(9)
    trials, covered = 300, 0
    for seed in range(trials):
        a = rng.random(300) < 0.8
        b = rng.random(300) < 0.85
        _, (low, high), _ = st.paired_bootstrap_diff(a.astype(float), b.astype(float), seed=seed)
        covered += low <= 0.05 <= high
    assert abs(covered / trials - 0.95) <= binomial_tolerance(0.95, trials) + 0.01


def test_percentile_differences() -> None:
    rng = np.random.default_rng(1)
    slow, fast = rng.lognormal(6.5, 0.3, 3000), rng.lognormal(6.0, 0.3, 3000)
    diff, (low, high) = st.bootstrap_percentile_diff(slow, fast, 95)
    assert diff == pytest.approx(np.percentile(fast, 95) - np.percentile(slow, 95))
    assert low < diff < high < 0


def test_pareto_front() -> None:
    points = {"a": (1.0, 0.7), "b": (2.0, 0.9), "c": (3.0, 0.85), "d": (0.5, 0.5), "e": (math.nan, 1.0)}
    assert st.pareto_front(points) == ["d", "a", "b"]


def test_spearman_matches_scipy() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=100)
    y = x + rng.normal(size=100)
    assert st.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert math.isnan(st.spearman([1, 1, 1], [1, 2, 3]))


def test_confidence_sequence_holds_at_every_n_and_is_wider_than_a_fixed_n_interval() -> None:
    rng = np.random.default_rng(13)
    sequences, length, mean = 300, 500, 0.05
    failures = 0
    for _ in range(sequences):
        diffs = (rng.random(length) < 0.15 + mean).astype(float) - (rng.random(length) < 0.15).astype(float)
        for n in range(20, length + 1, 20):  # looked at after every round of 20
            low, high = st.confidence_sequence(diffs[:n])
            if not low <= mean <= high:
                failures += 1
                break
    assert failures / sequences <= 0.05 + binomial_tolerance(0.05, sequences)
    diffs = rng.normal(size=400)
    low, high = st.confidence_sequence(diffs)
    fixed = 1.96 * diffs.std(ddof=1) / 20
    assert high - low > 2 * fixed


def test_peeking_with_sequential_decisions_keeps_false_positives_under_alpha() -> None:
    rng = np.random.default_rng(17)
    sequences, false_positives = 300, 0
    for _ in range(sequences):
        diffs = (rng.random(600) < 0.8).astype(float) - (rng.random(600) < 0.8).astype(float)
        for n in range(30, 601, 30):
            if st.sequential_decision(diffs[:n]) in ("better", "worse"):
                false_positives += 1
                break
    assert false_positives / sequences <= 0.05 + binomial_tolerance(0.05, sequences)


def test_sequential_decision_on_a_large_gap_and_on_too_few_samples() -> None:
    rng = np.random.default_rng(3)
    diffs = (rng.random(400) < 0.95).astype(float) - (rng.random(400) < 0.6).astype(float)
    assert st.sequential_decision(diffs) == "better"
    assert st.sequential_decision(-diffs) == "worse"
    assert st.sequential_decision(diffs[:5]) == "undecided"
    small_drop = (rng.random(3000) < 0.89).astype(float) - (rng.random(3000) < 0.9).astype(float)
    assert st.sequential_decision(small_drop, margin=0.1) == "non-inferior"
