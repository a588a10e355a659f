"""The statistics behind every verdict, vectorised with numpy; each function is checked against scipy.

Bootstraps resample *counts*, not rows: resampling n values with replacement is the same as drawing
multinomial counts over the distinct values, so 2,000 resamples of 100,000 pass/fail rows cost 2,000
draws over three values instead of 200 million index lookups. Data with more than `MAX_SUPPORT`
distinct values (latencies, similarity scores) is summarised first into equal-count bins represented by
their means (the sample mean is kept exactly; the resampling sees 1,024 points instead of n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

Interval = tuple[float, float]
MAX_SUPPORT = 1024
_NAN_INTERVAL = (math.nan, math.nan)


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> Interval:
    """The Wilson score interval of a proportion (good coverage even near 0 and 1 and at small n)."""
    if n <= 0:
        return _NAN_INTERVAL
    z = _z(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def support(values: ArrayLike, max_support: int = MAX_SUPPORT) -> tuple[np.ndarray, np.ndarray]:
    """(points, probabilities): distinct values and their shares, or equal-count bins past `max_support`."""
    data = np.asarray(values, dtype=float)
    points, counts = np.unique(data, return_counts=True)
    if len(points) <= max_support:
        return points, counts / len(data)
    ordered = np.sort(data)
    starts = np.linspace(0, len(data), max_support + 1).astype(int)[:-1]
    sizes = np.diff(np.append(starts, len(data)))
    return np.add.reduceat(ordered, starts) / sizes, sizes / len(data)


def _bootstrap_counts(
    probabilities: np.ndarray, n: int, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    return rng.multinomial(n, probabilities, size=resamples)


def bootstrap_means(values: ArrayLike, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """The means of `resamples` bootstrap resamples of `values`."""
    data = np.asarray(values, dtype=float)
    points, probabilities = support(data)
    counts = _bootstrap_counts(probabilities, len(data), resamples, np.random.default_rng(seed))
    return np.asarray(counts @ points / len(data))


def _bca(data: np.ndarray, boot: np.ndarray, alpha: float) -> Interval:
    """BCa interval of the mean from its bootstrap distribution (acceleration from the jackknife)."""
    from scipy.stats import norm

    n = len(data)
    estimate = float(data.mean())
    if np.ptp(data) == 0:
        return (estimate, estimate)
    # scipy's convention: the share strictly below the estimate.
    below = float(np.mean(boot < estimate))
    if below <= 0 or below >= 1:
        return (float(np.min(boot)), float(np.max(boot)))
    z0 = float(norm.ppf(below))
    # Leave-one-out means in closed form: (sum - x_i) / (n - 1).
    jackknife = (data.sum() - data) / (n - 1)
    deviation = jackknife.mean() - jackknife
    denominator = 6 * float(np.sum(deviation**2)) ** 1.5
    acceleration = float(np.sum(deviation**3)) / denominator if denominator else 0.0
    bounds = []
    for tail in (alpha / 2, 1 - alpha / 2):
        z = float(norm.ppf(tail))
        adjusted = float(norm.cdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z))))
        bounds.append(float(np.quantile(boot, min(max(adjusted, 0.0), 1.0))))
    return (bounds[0], bounds[1])


def bca_interval(values: ArrayLike, alpha: float = 0.05, resamples: int = 2000, seed: int = 0) -> Interval:
    """BCa bootstrap interval of the mean."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return (float(data[0]), float(data[0])) if len(data) else _NAN_INTERVAL
    return _bca(data, bootstrap_means(data, resamples, seed), alpha)


def hajek_mean(values: ArrayLike, weights: ArrayLike, alpha: float = 0.05) -> tuple[float, Interval]:
    """The weighted (Hájek) estimate of the population mean, with a linearisation-variance interval.

    Weights are inverse inclusion probabilities from sampling, so the estimate is for the whole traffic,
    not the sample. Variance: n/(n-1) * Σ w_i² (y_i - ŷ)² / (Σ w_i)² (with-replacement approximation).
    """
    y = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    n = len(y)
    if n == 0 or w.sum() <= 0:
        return math.nan, _NAN_INTERVAL
    estimate = float(np.sum(w * y) / np.sum(w))
    if n < 2:
        return estimate, (estimate, estimate)
    variance = n / (n - 1) * float(np.sum(w**2 * (y - estimate) ** 2)) / float(np.sum(w)) ** 2
    half = _z(1 - alpha / 2) * math.sqrt(variance)
    return estimate, (estimate - half, estimate + half)


def paired_bootstrap_diff(
    baseline: ArrayLike, candidate: ArrayLike, alpha: float = 0.05, resamples: int = 2000, seed: int = 0
) -> tuple[float, Interval, float]:
    """(mean of candidate - baseline, its BCa interval, a two-sided bootstrap p-value)."""
    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    if len(diffs) < 2:
        return (float(diffs.mean()) if len(diffs) else math.nan), _NAN_INTERVAL, 1.0
    boot = bootstrap_means(diffs, resamples, seed)
    estimate = float(diffs.mean())
    # The share of the null-centred bootstrap distribution at least as far from 0 as the estimate.
    centred = boot - boot.mean()
    p = float(np.mean(np.abs(centred) >= abs(estimate))) if np.ptp(diffs) else 1.0
    return estimate, _bca(diffs, boot, alpha), max(p, 1.0 / (resamples + 1))


def mcnemar(baseline_pass: ArrayLike, candidate_pass: ArrayLike) -> tuple[float, str]:
    """Two-sided exact McNemar p-value of paired pass/fail outcomes, at every number of discordant pairs.

    The candidate-only passes among the discordant pairs are Binomial(d, 1/2) under no difference;
    with b = c the p-value is exactly 1 (a chi-squared approximation gives 0.90 there).
    """
    a = np.asarray(baseline_pass, dtype=bool)
    b = np.asarray(candidate_pass, dtype=bool)
    return _mcnemar_p(int(np.sum(a & ~b)), int(np.sum(~a & b))), "mcnemar-exact"


def _mcnemar_p(only_baseline: int, only_candidate: int) -> float:
    discordant = only_baseline + only_candidate
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    # With p = 1/2 the distribution is symmetric, so scipy's two-sided p is twice the smaller tail: the
    # test whose inversion is the Clopper-Pearson interval of `mcnemar_interval`.
    return float(binomtest(only_candidate, discordant, 0.5).pvalue)


def clopper_pearson(successes: int, n: int, alpha: float) -> Interval:
    """The exact (Clopper-Pearson) interval of a proportion: the inversion of the two-sided binomial test."""
    from scipy.stats import beta

    if n <= 0:
        return (0.0, 1.0)
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return (low, high)


@dataclass(frozen=True)
class Evidence:
    """A paired comparison (candidate - baseline): the difference, the raw p-value, and what it takes to
    draw the interval that inverts the test at any level (it excludes 0 exactly when p < that level)."""

    diff: float
    p_value: float
    test: str  # "mcnemar-exact" | "paired-t" | an unpaired z test
    n: int
    sd: float  # of the per-event differences (unpaired: the standard error times sqrt(n))
    counts: tuple[int, int] = (0, 0)  # McNemar: (baseline-only passes, candidate-only passes)

    def interval(self, alpha: float) -> Interval:
        """The (1 - alpha) interval of the difference, dual to the test."""
        if self.test == "mcnemar-exact":
            return mcnemar_interval(*self.counts, self.n, alpha)
        if self.sd == 0:
            return (self.diff, self.diff)
        from scipy.stats import t

        quantile = float(t.ppf(1 - alpha / 2, self.n - 1)) if self.test == "paired-t" else _z(1 - alpha / 2)
        half = quantile * self.sd / math.sqrt(self.n)
        return (self.diff - half, self.diff + half)


def mcnemar_interval(only_baseline: int, only_candidate: int, n: int, alpha: float) -> Interval:
    """The interval of the difference in pass rates that inverts exact McNemar.

    diff = (d / n)(2 pi - 1), with pi the share of the d discordant pairs won by the candidate. pi gets
    its Clopper-Pearson interval (the exact test's inversion, so the sign of each bound is the test's
    decision) and d / n is taken at the end of its own exact interval that widens the bound: the
    uncertainty of how often the two disagree is not ignored (with d = 0 the interval is not [0, 0]).
    """
    discordant = only_baseline + only_candidate
    pi_low, pi_high = clopper_pearson(only_candidate, discordant, alpha)
    share_low, share_high = clopper_pearson(discordant, n, alpha)

    def scaled(edge: float, lower: bool) -> float:
        # A bound away from 0 takes the largest plausible share, a bound towards 0 the smallest.
        outward = edge < 0 if lower else edge > 0
        return edge * (share_high if outward else share_low)

    return (scaled(2 * pi_low - 1, True), scaled(2 * pi_high - 1, False))


def paired_binary(baseline_pass: ArrayLike, candidate_pass: ArrayLike) -> Evidence:
    """Exact McNemar on paired pass/fail outcomes; its interval is :func:`mcnemar_interval`."""
    a = np.asarray(baseline_pass, dtype=bool)
    b = np.asarray(candidate_pass, dtype=bool)
    only_baseline, only_candidate = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = len(a)
    diffs = b.astype(float) - a.astype(float)
    return Evidence(
        diff=(only_candidate - only_baseline) / n,
        p_value=_mcnemar_p(only_baseline, only_candidate),
        test="mcnemar-exact",
        n=n,
        sd=float(np.std(diffs, ddof=1)) if n > 1 else 0.0,
        counts=(only_baseline, only_candidate),
    )


def paired_t(baseline: ArrayLike, candidate: ArrayLike) -> Evidence:
    """The paired t-test of mean scores, whose interval is the t interval of the mean difference.

    Scores are bounded in [0, 1], so the mean of their differences is close to normal from a few dozen
    pairs. Differences that never vary: p = 1 when they are all 0, else 0 (the interval is the point).
    """
    from scipy.stats import t

    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(diffs)
    mean = float(diffs.mean())
    sd = float(np.std(diffs, ddof=1)) if n > 1 else 0.0
    if sd == 0:
        return Evidence(mean, 1.0 if mean == 0 else 0.0, "paired-t", n, 0.0)
    p_value = float(2 * t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return Evidence(mean, p_value, "paired-t", n, sd)


def holm_levels(p_values: Sequence[float], alpha: float) -> list[float]:
    """The level each hypothesis is decided at by Holm's step-down procedure (NaN stays NaN).

    The k-th smallest p is tested at alpha / (m - k + 1) until the first one that fails; that one and
    every larger p are left at the failing step's level. An interval at its hypothesis's level then
    excludes 0 exactly when Holm rejects it, so the printed interval and the verdict agree.
    """
    values = np.asarray(p_values, dtype=float)
    valid = np.flatnonzero(~np.isnan(values))
    levels = np.full(len(values), np.nan)
    order = valid[np.argsort(values[valid], kind="stable")]
    m = len(order)
    failed: float | None = None
    for rank, index in enumerate(order):
        level = alpha / (m - rank)
        if failed is None and not values[index] < level:
            failed = level
        levels[index] = level if failed is None else failed
    return [float(v) for v in levels]


def wilcoxon_signed_rank(baseline: ArrayLike, candidate: ArrayLike) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value of paired scores (zero differences split between signs)."""
    from scipy.stats import wilcoxon

    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    if len(diffs) == 0 or not np.any(diffs):
        return 1.0, "wilcoxon"
    return float(wilcoxon(diffs, zero_method="zsplit").pvalue), "wilcoxon"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in input order (NaN stays NaN and does not count)."""
    values = np.asarray(p_values, dtype=float)
    valid = np.flatnonzero(~np.isnan(values))
    adjusted = np.full(len(values), np.nan)
    order = valid[np.argsort(values[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]


def cohens_d_paired(baseline: ArrayLike, candidate: ArrayLike) -> float:
    """Mean difference over the standard deviation of the differences (0 when they do not vary)."""
    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    spread = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    return float(diffs.mean()) / spread if spread > 0 else 0.0


def mde_paired(sd_diff: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean difference a two-sided paired test detects with `power` at this n."""
    if n <= 0:
        return math.nan
    return (_z(1 - alpha / 2) + _z(power)) * sd_diff / math.sqrt(n)


def n_required(effect: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Paired samples needed to detect a mean difference of `effect` (None for no effect)."""
    if effect == 0 or math.isnan(effect) or math.isnan(sd_diff):
        return None
    return max(2, math.ceil(((_z(1 - alpha / 2) + _z(power)) * sd_diff / abs(effect)) ** 2))


def non_inferior(diff_ci_low: float, margin: float) -> bool:
    """No worse than the baseline by more than `margin`: the difference's interval starts above -margin."""
    return not math.isnan(diff_ci_low) and diff_ci_low > -margin


def percentile(values: ArrayLike, q: float) -> float:
    """The q-th percentile (linear interpolation); NaN for no values."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    return float(np.percentile(data, q)) if len(data) else math.nan


def bootstrap_percentiles(values: ArrayLike, q: float, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """The q-th percentile of each bootstrap resample, from resampled counts over the support."""
    data = np.asarray(values, dtype=float)
    points, probabilities = support(data)
    counts = _bootstrap_counts(probabilities, len(data), resamples, np.random.default_rng(seed))
    cumulative = np.cumsum(counts, axis=1)
    rank = np.ceil(q / 100 * len(data))
    index = np.minimum((cumulative < rank).sum(axis=1), len(points) - 1)
    return np.asarray(points[index])


def bootstrap_percentile_diff(
    baseline: ArrayLike,
    candidate: ArrayLike,
    q: float,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, Interval]:
    """Difference of the q-th percentiles (candidate - baseline) with a percentile-bootstrap interval."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return math.nan, _NAN_INTERVAL
    diffs = bootstrap_percentiles(b, q, resamples, seed) - bootstrap_percentiles(a, q, resamples, seed + 1)
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return percentile(b, q) - percentile(a, q), (float(low), float(high))


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Ids not dominated on (cost: lower is better, quality: higher is better), by cost ascending."""
    valid = {k: v for k, v in points.items() if not (math.isnan(v[0]) or math.isnan(v[1]))}
    front = []
    for name, (cost, quality) in valid.items():
        dominated = any(
            c <= cost and q >= quality and (c < cost or q > quality)
            for other, (c, q) in valid.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda k: (valid[k][0], -valid[k][1]))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rank correlation; NaN with fewer than 3 points or a constant input."""
    from scipy.stats import spearmanr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def spearman_interval(x: ArrayLike, y: ArrayLike, alpha: float = 0.05) -> tuple[float, Interval, int]:
    """Spearman's rho with its Fisher-z interval (Bonett & Wright 2000: var = (1 + rho^2 / 2) / (n - 3)).

    Returns (rho, interval, n); NaN with fewer than 4 pairs or a constant input.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    n = int(keep.sum())
    rho = spearman(a[keep], b[keep])
    if n < 4 or math.isnan(rho):
        return rho, _NAN_INTERVAL, n
    if abs(rho) >= 1:
        return rho, (rho, rho), n
    half = _z(1 - alpha / 2) * math.sqrt((1 + rho * rho / 2) / (n - 3))
    z = math.atanh(rho)
    return rho, (math.tanh(z - half), math.tanh(z + half)), n


def confidence_sequence(
    diffs: ArrayLike, alpha: float = 0.05, t_opt: int = 200, variance_floor: float = 0.01
) -> Interval:
    """An always-valid interval for the mean of paired differences: it may be checked after every round.

    The normal-mixture boundary (Robbins; Howard et al. 2021, eq. 14) with V = n * var and the mixing
    parameter rho tuned to be tightest near `t_opt` samples:
    radius = sqrt((V + rho) * log((V + rho) / (rho * (alpha/2)^2))) / n, each side at alpha/2. `var` is
    the running sample variance (floored), the plug-in of the mixture SPRT of Johari et al. (2017).
    """
    data = np.asarray(diffs, dtype=float)
    if len(data) < 2:
        return (-math.inf, math.inf)
    return confidence_sequence_of(
        len(data), float(data.mean()), float(np.var(data, ddof=1)), alpha, t_opt, variance_floor
    )


def confidence_sequence_of(
    n: int, mean: float, variance: float, alpha: float = 0.05, t_opt: int = 200, variance_floor: float = 0.01
) -> Interval:
    """:func:`confidence_sequence` from the differences' count, mean and sample variance (ddof 1) alone.

    Evidence accumulated over many checks keeps these three numbers rather than every difference.
    """
    if n < 2:
        return (-math.inf, math.inf)
    variance = max(variance, variance_floor)
    rho = variance * t_opt / (2 * math.log(2 / alpha) + math.log(1 + 2 * math.log(2 / alpha)))
    v = n * variance
    radius = math.sqrt((v + rho) * math.log((v + rho) / (rho * (alpha / 2) ** 2))) / n
    return (mean - radius, mean + radius)


def sequential_decision(diffs: ArrayLike, margin: float = 0.0, alpha: float = 0.05) -> str:
    """ "better", "worse", "non-inferior" or "undecided" for a candidate, from its confidence sequence."""
    low, high = confidence_sequence(diffs, alpha)
    if low > 0:
        return "better"
    if high < -margin:
        return "worse"
    if margin > 0 and low > -margin:
        return "non-inferior"
    return "undecided"
