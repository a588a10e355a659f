"""Every candidate against the baseline: one interval per verdict, and the verdict it supports.

Each comparison is paired on the events both providers answered: exact McNemar for pass/fail metrics,
the paired t-test for scores, and the error rate as a metric of its own (lower is better, on every
event both were sent; listed apart in `error_rate_comparisons`). Holm's step-down procedure runs over
every provider x quality-metric comparison (and apart, over the error rates), and the interval printed
beside a verdict is the test's own inverted interval at the level Holm decided that comparison at
(:func:`~bakeoff.replay.stats.inference.holm_levels`): it excludes 0 exactly when the comparison is
significant, so "-0.100 [-0.250, -0.050] inconclusive" cannot happen.

Verdicts: `better` / `worse` (significant after Holm), else `non-inferior` (the interval's worse end
lies within the margin), else `inconclusive`; `no data` below two paired events. `non_inferior` is
the margin test on its own (a significantly better candidate is non-inferior too).

Segments compare each candidate on each tag the same way, with Holm across all segments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bakeoff.replay.stats import inference as st
from bakeoff.replay.stats.columns import AnalysisOptions, Columns
from bakeoff.replay.stats.columns import rounded as _round

ERROR_METRIC = "error_rate"  # lower is better


class PerEvent:
    """Per-event values of each provider and metric, computed once and shared by every comparison."""

    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._both: dict[tuple[str, str, str], np.ndarray] = {}

    def values(self, metric: str, provider: str) -> np.ndarray:
        key = (metric, provider)
        if key not in self._cache:
            if metric == ERROR_METRIC:
                self._cache[key] = self.cols.errors_per_event(provider)
            else:
                self._cache[key] = self.cols.per_event(self.cols.scores[metric], provider)
        return self._cache[key]

    def both(self, metric: str, baseline: str, provider: str) -> np.ndarray:
        """The events where both providers have a value (reused by every segment)."""
        key = (metric, baseline, provider)
        if key not in self._both:
            a, b = self.values(metric, baseline), self.values(metric, provider)
            self._both[key] = ~(np.isnan(a) | np.isnan(b))
        return self._both[key]


def evidence(
    per_event: PerEvent, metric: str, baseline: str, provider: str, mask: np.ndarray | None = None
) -> st.Evidence | None:
    """The paired test of `provider` against `baseline` on `metric` (on the `mask`ed events); None below 2."""
    a, b = per_event.values(metric, baseline), per_event.values(metric, provider)
    both = per_event.both(metric, baseline, provider)
    if mask is not None:
        both = both & mask
    if int(both.sum()) < 2:
        return None
    a, b = a[both], b[both]
    if _binary(a) and _binary(b):
        return st.paired_binary(a == 1, b == 1)
    return st.paired_t(a, b)


def _binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def _paired_n(per_event: PerEvent, metric: str, baseline: str, provider: str, mask: Any) -> int:
    both = per_event.both(metric, baseline, provider)
    return int((both & mask).sum() if mask is not None else both.sum())


def decide(entries: list[tuple[dict[str, Any], st.Evidence | None]], alpha: float, margin: float) -> None:
    """Holm over the entries; each gets its interval at its Holm level, `significant`, and a verdict."""
    raw = [math.nan if e is None else e.p_value for _, e in entries]
    adjusted = st.holm(raw)
    levels = st.holm_levels(raw, alpha)
    for (row, found), p_adjusted, level in zip(entries, adjusted, levels, strict=True):
        if found is None:
            row.update(diff=None, ci95=[None, None], p_value=None, p_adjusted=None, test=None)
            row.update(significant=False, verdict="no data", non_inferior=False)
            continue
        low, high = found.interval(level)
        significant = bool(p_adjusted < alpha)
        # For the error rate a rise is harm: compare its negation with the same rules.
        sign = -1.0 if row["metric"] == ERROR_METRIC else 1.0
        worst = min(sign * low, sign * high)
        non_inferior = worst > -margin
        if significant:
            verdict = "better" if sign * found.diff > 0 else "worse"
        else:
            verdict = "non-inferior" if margin > 0 and non_inferior else "inconclusive"
        row.update(
            diff=_round(found.diff),
            ci95=[_round(low), _round(high)],
            confidence=_round(1 - level, 8),
            p_value=_round(found.p_value, 12),
            p_adjusted=_round(p_adjusted, 12),
            test=found.test,
            sd_diff=_round(found.sd),
            significant=significant,
            verdict=verdict,
            non_inferior=bool(non_inferior),
        )
        if not significant and not non_inferior:
            row["n_needed"] = _samples_to_settle(found, sign, margin, level)


def _samples_to_settle(found: st.Evidence, sign: float, margin: float, level: float) -> int | None:
    """Paired samples for 80% power to settle it: non-inferiority at the margin if the estimate lies
    within it, else a difference as large as the estimate."""
    distance = sign * found.diff + margin
    effect = distance if distance > 0 and margin > 0 else found.diff
    return st.n_required(effect, found.sd, level) if found.sd > 0 else None


def compare_all(
    cols: Columns,
    kinds: Mapping[str, str],
    providers: Sequence[str],
    baseline: str | None,
    options: AnalysisOptions,
    per_event: PerEvent | None = None,
) -> dict[str, Any]:
    """Every candidate against the baseline on every metric and the error rate, Holm-corrected together."""
    per_event = per_event or PerEvent(cols)
    margin = options.decision_margin
    candidates = _candidates(providers, baseline, cols)
    quality: list[tuple[dict[str, Any], st.Evidence | None]] = []
    errors: list[tuple[dict[str, Any], st.Evidence | None]] = []
    for provider in candidates:
        for metric in [*kinds, ERROR_METRIC]:
            found = evidence(per_event, metric, str(baseline), provider)
            n = found.n if found else _paired_n(per_event, metric, str(baseline), provider, None)
            row = {"provider": provider, "baseline": baseline, "metric": metric, "n": n}
            (errors if metric == ERROR_METRIC else quality).append((row, found))
    # Quality and failures are two questions: each family gets its own Holm correction.
    decide(quality, options.alpha, margin)
    decide(errors, options.alpha, margin)
    return {
        "baseline": baseline,
        "alpha": options.alpha,
        "margin": margin,
        "correction": "holm",
        "interval": "each test's own inverted interval at the level Holm decided it at",
        "comparisons": [row for row, _ in quality],
        "error_rate_comparisons": [row for row, _ in errors],
        "segments": segments(cols, kinds, candidates, str(baseline), options, per_event),
    }


def _candidates(providers: Sequence[str], baseline: str | None, cols: Columns) -> list[str]:
    if baseline is None or baseline not in providers:
        return []
    return [p for p in providers if p != baseline]


def segments(
    cols: Columns,
    kinds: Mapping[str, str],
    candidates: Sequence[str],
    baseline: str,
    options: AnalysisOptions,
    per_event: PerEvent,
) -> list[dict[str, Any]]:
    """Each candidate x metric x tag, Holm across all of them; tags on a single event are left out."""
    entries = []
    for tag, mask in cols.tags.items():
        for provider in candidates:
            for metric in kinds:
                found = evidence(per_event, metric, baseline, provider, mask)
                n = found.n if found else _paired_n(per_event, metric, baseline, provider, mask)
                row = {
                    "provider": provider,
                    "baseline": baseline,
                    "metric": metric,
                    "segment": f"tag:{tag}",
                    "n": n,
                }
                entries.append((row, found))
    decide(entries, options.alpha, options.decision_margin)
    for row, _ in entries:
        row.pop("n_needed", None)
    return [row for row, _ in entries]
