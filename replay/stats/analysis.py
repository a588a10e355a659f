"""From the rows of a run to `benchmark_results.json` and `provider_comparison.json`.

The rows become columns (:mod:`~bakeoff.replay.stats.columns`), so that every figure is a vectorised
operation: per provider and metric a mean with its interval (Wilson for pass rates, BCa for scores)
and, when the dataset carries sampling weights, the Hájek estimate for the whole traffic; the error
rate with its Wilson interval; the verdicts of :mod:`~bakeoff.replay.stats.verdicts` (paired tests,
Holm, segments); latency and cost figures; the Pareto fronts; and, where events carry user feedback,
how well each metric agrees with it on the production answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bakeoff.replay.stats import inference as st
from bakeoff.replay.stats.columns import DEFAULT_MARGIN, AnalysisOptions, Columns, columns
from bakeoff.replay.stats.columns import rounded as _round
from bakeoff.replay.stats.verdicts import ERROR_METRIC, PerEvent, compare_all

__all__ = ["AnalysisOptions", "Columns", "analyse", "columns", "compare_all", "metric_summary"]

WEIGHTED_LABEL = "estimate for the whole traffic (Hájek, weighted by inverse inclusion probability)"
PRODUCTION = "production"  # the recorded answers, when they are a provider of the run


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _interval(interval: tuple[float, float], digits: int = 6) -> list[float | None]:
    return [_round(interval[0], digits), _round(interval[1], digits)]


def metric_summary(cols: Columns, metric: str, kind: str, provider: str, options: AnalysisOptions) -> dict:
    """score, passed, total, ci95, not_applicable (+ the weighted estimate when the sample has weights).

    `total` counts the events judged; answered events the metric does not apply to (a text metric on a
    tool-call reference) are `not_applicable`, left out rather than scored 0.
    """
    values = cols.per_event(cols.scores[metric], provider)
    passes = cols.per_event(cols.passes[metric], provider)
    judged = ~np.isnan(values)
    answered = int(np.sum(cols.errors_per_event(provider) < 1))
    data = values[judged]
    total = int(judged.sum())
    passed = int(np.nansum(passes[judged] >= 0.5)) if total else 0
    summary: dict[str, Any] = {"passed": passed, "total": total, "not_applicable": max(0, answered - total)}
    if total == 0:
        return {"score": None, **summary, "ci95": [None, None], "kind": kind}
    if kind == "pass" and np.all((data == 0) | (data == 1)):
        interval = st.wilson_interval(float(data.sum()), total, options.alpha)
    else:
        interval = st.bca_interval(data, options.alpha, options.resamples, options.draw_seed)
    summary = {"score": _round(float(data.mean())), **summary, "ci95": _interval(interval), "kind": kind}
    weights = cols.weight[judged]
    if np.any(weights != 1.0):
        estimate, weighted_interval = st.hajek_mean(data, weights, options.alpha)
        summary["weighted"] = {
            "score": _round(estimate),
            "ci95": _interval(weighted_interval),
            "label": WEIGHTED_LABEL,
        }
    return summary


def error_summary(cols: Columns, provider: str, alpha: float) -> dict[str, Any]:
    """The share of failed requests, with its Wilson interval."""
    failed = cols.error[cols.rows_of(provider)]
    total, errors = len(failed), int(failed.sum())
    rate = errors / total if total else math.nan
    interval = st.wilson_interval(errors, total, alpha) if total else (math.nan, math.nan)
    return {"rate": _round(rate, 6), "errors": errors, "total": total, "ci95": _interval(interval)}


def feedback_agreement(
    cols: Columns, metrics: Sequence[str], provider: str, alpha: float
) -> dict[str, dict[str, Any]]:
    """Spearman's rho of each metric with the users' feedback on `provider`'s answers, with its interval."""
    if cols.feedback is None or provider not in cols.providers:
        return {}
    agreement = {}
    for metric in metrics:
        rho, interval, n = st.spearman_interval(
            cols.per_event(cols.scores[metric], provider), cols.feedback, alpha
        )
        agreement[metric] = {"spearman": _round(rho, 4), "ci95": _interval(interval, 4), "n": n}
    return agreement


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
        diff, interval = st.bootstrap_percentile_diff(
            a, b, q, options.alpha, options.resamples, options.draw_seed
        )
        result[f"p{q}_diff_ms"] = _round(diff, 2)
        result[f"p{q}_ci95"] = _interval(interval, 2)
    return result


def analyse(
    rows: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, str],
    options: AnalysisOptions,
    run: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(benchmark_results, provider_comparison) of a run's rows.

    The margin, when the options leave it unset, is the config's `replay.margin`, else 0.02.
    """
    metrics = list(kinds)
    cols = columns(rows, metrics)
    providers = list(run.get("providers") or [])
    providers += [p for p in cols.providers if p not in providers]
    baseline = options.baseline or run.get("baseline") or (providers[0] if providers else None)
    if options.margin is None:
        options.margin = configured_margin(run)
    if options.seed is None:
        options.seed = int((run.get("options") or {}).get("seed") or 0)
    primary = metrics[0] if metrics else None
    errors = {p: error_summary(cols, p, options.alpha) for p in providers}
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
        "errors": {p: errors[p]["errors"] for p in providers},
        "error_rates": {p: _round(_number(errors[p]["rate"]), 4) for p in providers},
        ERROR_METRIC: errors,
        "correlations": {p: _correlations(cols, p, metrics) for p in providers},
        "primary_metric": primary,
        "weighted": bool(np.any(cols.weight != 1.0)),
        "simulated": bool(run.get("simulated", False)),
        "unpriced_models": list(run.get("unpriced_models") or []),
    }
    if cols.feedback is not None:
        production = PRODUCTION if PRODUCTION in cols.providers else baseline
        benchmark["feedback_agreement"] = {
            "provider": production,
            "metrics": feedback_agreement(cols, metrics, str(production), options.alpha),
        }
    comparison = compare_all(cols, kinds, providers, baseline, options, PerEvent(cols))
    comparison["latency_comparisons"] = (
        [_latency_comparison(cols, str(baseline), p, options) for p in providers if p != baseline]
        if baseline in providers
        else []
    )
    comparison["pareto"] = _pareto(benchmark, providers, primary, "cost")
    comparison["pareto_latency"] = _pareto(benchmark, providers, primary, "latency")
    return benchmark, comparison


def configured_margin(run: Mapping[str, Any]) -> float:
    """`replay.margin` of the run's config, else the default margin."""
    replay = (run.get("config") or {}).get("replay") or {}
    margin = replay.get("margin") if isinstance(replay, Mapping) else None
    return DEFAULT_MARGIN if margin is None else float(margin)


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
