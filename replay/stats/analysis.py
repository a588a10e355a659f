"""From the rows of a run to `benchmark_results.json` and `provider_comparison.json`.

The rows become columns (numpy arrays indexed by event), so that every figure is a vectorised
operation: per provider and metric a mean with its interval (Wilson for pass rates, BCa for scores)
and, when the dataset carries sampling weights, the Hájek estimate for the whole traffic; per
candidate the paired difference against the baseline on the events both answered, with McNemar's or
Wilcoxon's test, Holm's correction across every provider x metric test, an effect size, the minimum
detectable difference and the samples a conclusive answer would need; latency and cost figures; the
Pareto fronts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bakeoff.replay.stats import inference as st

WEIGHTED_LABEL = "estimate for the whole traffic (Hájek, weighted by inverse inclusion probability)"


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


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def columns(rows: Sequence[Mapping[str, Any]], metrics: Iterable[str]) -> Columns:
    """Columns of the rows (in one pass over them)."""
    names = list(metrics)
    event_codes: dict[str, int] = {}
    provider_codes: dict[str, int] = {}
    n = len(rows)
    provider, event = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    numeric = np.full((6, n), np.nan)
    flags = np.zeros((2, n), dtype=bool)
    score = {m: np.full(n, np.nan) for m in names}
    passed = {m: np.full(n, np.nan) for m in names}
    weights: dict[int, float] = {}
    for i, row in enumerate(rows):
        code = event_codes.setdefault(row["event_id"], len(event_codes))
        event[i] = code
        provider[i] = provider_codes.setdefault(row["provider"], len(provider_codes))
        weights.setdefault(code, float(row.get("weight") or 1.0))
        usage = row.get("usage") or {}
        numeric[:, i] = (
            _number(row.get("latency_ms")),
            _number(row.get("ttft_ms")),
            _number(row.get("cost")),
            _number(usage.get("output_tokens")),
            _number(row.get("judge_cost")),
            0.0,
        )
        flags[0, i] = row.get("error") is not None
        flags[1, i] = bool(row.get("cached"))
        for metric, result in (row.get("scores") or {}).items():
            if metric in score:
                if result.get("score") is not None:
                    score[metric][i] = result["score"]
                if result.get("passed") is not None:
                    passed[metric][i] = float(result["passed"])
    return Columns(
        events=list(event_codes),
        providers=list(provider_codes),
        weight=np.array([weights[c] for c in range(len(event_codes))]),
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
    )


def _finite(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _round(value: float, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def _interval(interval: tuple[float, float], digits: int = 6) -> list[float | None]:
    return [_round(interval[0], digits), _round(interval[1], digits)]


@dataclass
class AnalysisOptions:
    """Choices of the analysis."""

    baseline: str | None = None
    alpha: float = 0.05
    margin: float = 0.0
    resamples: int = 2000
    seed: int = 0


def metric_summary(cols: Columns, metric: str, kind: str, provider: str, options: AnalysisOptions) -> dict:
    """score, passed, total, ci95 (+ the weighted estimate when the sample carries weights)."""
    values = cols.per_event(cols.scores[metric], provider)
    passes = cols.per_event(cols.passes[metric], provider)
    judged = ~np.isnan(values)
    data = values[judged]
    total = int(judged.sum())
    passed = int(np.nansum(passes[judged] >= 0.5)) if total else 0
    if total == 0:
        return {"score": None, "passed": 0, "total": 0, "ci95": [None, None], "kind": kind}
    mean = float(data.mean())
    if kind == "pass" and np.all((data == 0) | (data == 1)):
        interval = st.wilson_interval(float(data.sum()), total, options.alpha)
    else:
        interval = st.bca_interval(data, options.alpha, options.resamples, options.seed)
    summary: dict[str, Any] = {
        "score": _round(mean),
        "passed": passed,
        "total": total,
        "ci95": _interval(interval),
        "kind": kind,
    }
    weights = cols.weight[judged]
    if np.any(weights != 1.0):
        estimate, weighted_interval = st.hajek_mean(data, weights, options.alpha)
        summary["weighted"] = {
            "score": _round(estimate),
            "ci95": _interval(weighted_interval),
            "label": WEIGHTED_LABEL,
        }
    return summary


def compare_metric(
    cols: Columns, metric: str, kind: str, baseline: str, provider: str, options: AnalysisOptions
) -> dict[str, Any]:
    """The paired comparison of `provider` against `baseline` on `metric` (Holm is applied later)."""
    a = cols.per_event(cols.scores[metric], baseline)
    b = cols.per_event(cols.scores[metric], provider)
    both = ~(np.isnan(a) | np.isnan(b))
    a, b = a[both], b[both]
    n = int(both.sum())
    result: dict[str, Any] = {"provider": provider, "baseline": baseline, "metric": metric, "n": n}
    if n < 2:
        return {**result, "diff": None, "ci95": [None, None], "p_value": None, "test": None}
    binary = kind == "pass" and np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0)))
    diff, interval, bootstrap_p = st.paired_bootstrap_diff(
        a, b, options.alpha, options.resamples, options.seed
    )
    if binary:
        p_value, test = st.mcnemar(a == 1, b == 1)
    elif np.any(a != b):
        p_value, test = st.wilcoxon_signed_rank(a, b)
    else:
        p_value, test = 1.0, "wilcoxon"
    spread = float(np.std(b - a, ddof=1))
    mde = st.mde_paired(spread, n, options.alpha)
    needed = st.n_required(max(abs(diff), options.margin), spread, options.alpha) if spread > 0 else None
    return {
        **result,
        "diff": _round(diff),
        "ci95": _interval(interval),
        "p_value": _round(p_value, 10),
        "test": test,
        "bootstrap_p": _round(bootstrap_p, 6),
        "effect_size": _round(st.cohens_d_paired(a, b), 4),
        "mde": _round(mde),
        "n_needed": needed,
        "non_inferior": st.non_inferior(interval[0], options.margin) if options.margin > 0 else None,
    }


def _verdict(comparison: dict[str, Any], alpha: float, margin: float) -> str:
    diff, low = comparison.get("diff"), (comparison.get("ci95") or [None])[0]
    if diff is None:
        return "no data"
    if comparison["significant"]:
        if diff > 0:
            return "better"
        if margin > 0 and low is not None and low > -margin:
            return "non-inferior"
        return "worse"
    if margin > 0 and low is not None and low > -margin:
        return "non-inferior"
    return "inconclusive"


def _latency_summary(cols: Columns, provider: str) -> dict[str, Any]:
    rows = cols.rows_of(provider)
    ok = rows[~cols.error[rows]]
    latency, ttft = _finite(cols.latency[ok]), _finite(cols.ttft[ok])
    tokens = cols.output_tokens[ok]
    seconds = cols.latency[ok] / 1000
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = _finite(np.where(seconds > 0, tokens / seconds, np.nan))
    return {
        "p50_ms": _round(st.percentile(latency, 50), 2),
        "p95_ms": _round(st.percentile(latency, 95), 2),
        "p99_ms": _round(st.percentile(latency, 99), 2),
        "mean_ms": _round(float(latency.mean()) if len(latency) else math.nan, 2),
        "ttft_p50_ms": _round(st.percentile(ttft, 50), 2),
        "ttft_p95_ms": _round(st.percentile(ttft, 95), 2),
        "output_tokens_per_s_p50": _round(st.percentile(speed, 50), 2),
    }


def _cost_summary(cols: Columns, provider: str, primary: str | None) -> dict[str, Any]:
    rows = cols.rows_of(provider)
    ok = rows[~cols.error[rows]]
    costs = cols.cost[ok]
    priced = bool(len(costs)) and not np.all(np.isnan(costs))
    total = float(np.nansum(costs)) if priced else math.nan
    per_request = total / len(ok) if priced and len(ok) else math.nan
    passes = int(np.nansum(cols.passes[primary][rows] >= 0.5)) if primary else 0
    return {
        "total_cost": _round(total, 8),
        "cost_per_request": _round(per_request, 8),
        "cost_per_1k_requests": _round(per_request * 1000, 6),
        "cost_per_passing_answer": _round(total / passes, 8) if priced and passes else None,
        "paid_cost": _round(float(np.nansum(cols.cost[ok][~cols.cached[ok]])), 8) if priced else None,
        "judge_cost": _round(float(np.nansum(cols.judge_cost[rows])), 8),
        "requests": len(rows),
        "priced": priced,
    }


def _correlations(cols: Columns, provider: str, metrics: Sequence[str]) -> dict[str, dict[str, float | None]]:
    rows = cols.rows_of(provider)
    return {
        metric: {
            "latency": _round(st.spearman(cols.scores[metric][rows], cols.latency[rows]), 4),
            "cost": _round(st.spearman(cols.scores[metric][rows], cols.cost[rows]), 4),
        }
        for metric in metrics
    }


def _latency_comparison(cols: Columns, baseline: str, provider: str, options: AnalysisOptions) -> dict:
    a = cols.latency[cols.rows_of(baseline)]
    b = cols.latency[cols.rows_of(provider)]
    result: dict[str, Any] = {"provider": provider, "baseline": baseline}
    for q in (50, 95):
        diff, interval = st.bootstrap_percentile_diff(a, b, q, options.alpha, options.resamples, options.seed)
        result[f"p{q}_diff_ms"] = _round(diff, 2)
        result[f"p{q}_ci95"] = _interval(interval, 2)
    return result


def analyse(
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    options: AnalysisOptions,
    run: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(benchmark_results, provider_comparison) of a run's rows."""
    metrics = list(kinds)
    cols = columns(rows, metrics)
    providers = list(run.get("providers") or [])
    providers += [p for p in cols.providers if p not in providers]
    baseline = options.baseline or run.get("baseline") or (providers[0] if providers else None)
    primary = metrics[0] if metrics else None
    benchmark: dict[str, Any] = {
        "run_id": run.get("run_id"),
        "timestamp": run.get("timestamp"),
        "dataset": run.get("dataset"),
        "providers": providers,
        "total_samples": len(cols.events),
        "metrics": {
            m: {p: metric_summary(cols, m, kinds[m], p, options) for p in providers} for m in metrics
        },
        "cost_analysis": {p: _cost_summary(cols, p, primary) for p in providers},
        "latency": {p: _latency_summary(cols, p) for p in providers},
        "errors": {p: int(cols.error[cols.rows_of(p)].sum()) for p in providers},
        "error_rates": {
            p: _round(float(cols.error[cols.rows_of(p)].mean()) if len(cols.rows_of(p)) else math.nan, 4)
            for p in providers
        },
        "correlations": {p: _correlations(cols, p, metrics) for p in providers},
        "primary_metric": primary,
        "weighted": bool(np.any(cols.weight != 1.0)),
        "simulated": bool(run.get("simulated", False)),
    }
    comparison = compare_all(cols, kinds, providers, baseline, options)
    comparison["pareto"] = _pareto(benchmark, providers, primary, "cost")
    comparison["pareto_latency"] = _pareto(benchmark, providers, primary, "latency")
    return benchmark, comparison


def compare_all(
    cols: Columns,
    kinds: Mapping[str, str],
    providers: Sequence[str],
    baseline: str | None,
    options: AnalysisOptions,
) -> dict[str, Any]:
    """Every candidate against the baseline on every metric, Holm-corrected together."""
    comparisons: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    if baseline is not None and baseline in providers:
        for provider in providers:
            if provider == baseline:
                continue
            comparisons += [compare_metric(cols, m, k, baseline, provider, options) for m, k in kinds.items()]
            latency.append(_latency_comparison(cols, baseline, provider, options))
    adjusted = st.holm([math.nan if c["p_value"] is None else c["p_value"] for c in comparisons])
    for comparison, p_adjusted in zip(comparisons, adjusted, strict=True):
        comparison["p_adjusted"] = _round(p_adjusted, 10)
        comparison["significant"] = bool(not math.isnan(p_adjusted) and p_adjusted < options.alpha)
        comparison["verdict"] = _verdict(comparison, options.alpha, options.margin)
    return {
        "baseline": baseline,
        "alpha": options.alpha,
        "margin": options.margin,
        "correction": "holm",
        "comparisons": comparisons,
        "latency_comparisons": latency,
    }


def _pareto(benchmark: dict[str, Any], providers: Sequence[str], primary: str | None, axis: str) -> list[str]:
    if primary is None:
        return []
    points = {}
    for p in providers:
        quality = _number(benchmark["metrics"][primary][p]["score"])
        if axis == "cost":
            x = _number(benchmark["cost_analysis"][p]["cost_per_request"])
        else:
            x = _number(benchmark["latency"][p]["p95_ms"])
        points[p] = (x, quality)
    return st.pareto_front(points)
