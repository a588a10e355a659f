"""Which provider to choose: constraints first, then a weighted score, with the reasons and runners-up.

Constraints: `min_score` on the primary metric, `max_cost` in USD per request, `max_p95_ms`. A provider
significantly worse than the baseline on the primary metric (beyond the margin) is never recommended.
The remaining providers are ranked by `quality * q + cheapness * c + speed * s`, each term a ratio to
the best candidate: score / best score, cheapest cost / cost, lowest p95 / p95 (1 for the best; ratios
do not depend on units and never tie two different providers the way min-max scaling can).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bakeoff.errors import UsageError

DEFAULT_WEIGHTS = {"quality": 0.5, "cost": 0.3, "speed": 0.2}


@dataclass
class Constraints:
    """What a recommendation must satisfy, and how to weigh the rest."""

    min_score: float | None = None
    max_cost: float | None = None  # USD per request
    max_p95_ms: float | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


def parse_weights(text: str) -> dict[str, float]:
    """`quality=.5,cost=.3,speed=.2` -> a dict; names and numbers checked."""
    weights = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_WEIGHTS:
            raise UsageError(f"--weights: unknown weight {name!r}; use quality, cost and speed")
        try:
            weights[name] = float(value)
        except ValueError:
            raise UsageError(f"--weights: {name} needs a number, got {value!r}") from None
        if weights[name] < 0:
            raise UsageError(f"--weights: {name} must not be negative")
    if not any(weights.values()):
        raise UsageError("--weights: at least one weight must be positive")
    return {k: weights.get(k, 0.0) for k in DEFAULT_WEIGHTS}


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _ratio(value: float, best: float, lower_is_better: bool) -> float:
    if math.isnan(value) or math.isnan(best):
        return 0.0
    if lower_is_better:
        return 1.0 if value <= 0 else best / value
    return 1.0 if best <= 0 else value / best


def recommend(
    benchmark: Mapping[str, Any], comparison: Mapping[str, Any], constraints: Constraints
) -> dict[str, Any]:
    """`{"recommended", "reason", "ranking": [...], "excluded": {provider: why}}`."""
    primary = benchmark.get("primary_metric")
    if primary is None:
        return {"recommended": None, "reason": "the run has no metric", "ranking": [], "excluded": {}}
    worse = {
        c["provider"]
        for c in comparison.get("comparisons", [])
        if c["metric"] == primary and c.get("verdict") == "worse"
    }
    candidates: dict[str, dict[str, float]] = {}
    excluded: dict[str, str] = {}
    for provider in benchmark["providers"]:
        score = _number(benchmark["metrics"][primary][provider]["score"])
        cost = _number(benchmark["cost_analysis"][provider]["cost_per_request"])
        p95 = _number(benchmark["latency"][provider]["p95_ms"])
        if math.isnan(score):
            excluded[provider] = f"no {primary} score"
        elif provider in worse:
            excluded[provider] = f"significantly worse than the baseline on {primary}"
        elif constraints.min_score is not None and score < constraints.min_score:
            excluded[provider] = f"{primary} {score:.3f} < {constraints.min_score:g}"
        elif constraints.max_cost is not None and (math.isnan(cost) or cost > constraints.max_cost):
            excluded[provider] = (
                "no price known" if math.isnan(cost) else f"${cost:.6f}/request > ${constraints.max_cost:g}"
            )
        elif constraints.max_p95_ms is not None and (math.isnan(p95) or p95 > constraints.max_p95_ms):
            excluded[provider] = f"p95 {p95:.0f} ms > {constraints.max_p95_ms:g} ms"
        else:
            candidates[provider] = {"score": score, "cost": cost, "p95_ms": p95}
    ranking = _rank(candidates, constraints.weights)
    if not ranking:
        return {
            "recommended": None,
            "reason": "no provider meets the constraints",
            "ranking": [],
            "excluded": excluded,
        }
    best = ranking[0]
    return {
        "recommended": best["provider"],
        "reason": _explain(best, benchmark, comparison, primary),
        "ranking": ranking,
        "excluded": excluded,
        "weights": constraints.weights,
    }


def _rank(candidates: dict[str, dict[str, float]], weights: Mapping[str, float]) -> list[dict[str, Any]]:
    if not candidates:
        return []

    def best(key: str, lowest: bool) -> float:
        values = [v[key] for v in candidates.values() if not math.isnan(v[key])]
        return (min(values) if lowest else max(values)) if values else math.nan

    top_score, lowest_cost, lowest_p95 = best("score", False), best("cost", True), best("p95_ms", True)
    ranking = []
    for provider, v in candidates.items():
        utility = (
            weights.get("quality", 0) * _ratio(v["score"], top_score, lower_is_better=False)
            + weights.get("cost", 0) * _ratio(v["cost"], lowest_cost, lower_is_better=True)
            + weights.get("speed", 0) * _ratio(v["p95_ms"], lowest_p95, lower_is_better=True)
        )
        ranking.append(
            {
                "provider": provider,
                "utility": round(utility, 4),
                **{k: (None if math.isnan(x) else x) for k, x in v.items()},
            }
        )
    return sorted(ranking, key=lambda r: -r["utility"])


def _explain(
    best: Mapping[str, Any], benchmark: Mapping[str, Any], comparison: Mapping[str, Any], primary: str
) -> str:
    provider = best["provider"]
    baseline = comparison.get("baseline")
    parts = [f"{primary} {best['score']:.3f}"]
    if provider != baseline and baseline is not None:
        match = next(
            (
                c
                for c in comparison.get("comparisons", [])
                if c["provider"] == provider and c["metric"] == primary
            ),
            None,
        )
        if match and match.get("diff") is not None:
            low, high = match["ci95"]
            parts.append(
                f"{match['diff']:+.3f} vs {baseline} (95% CI {low:+.3f}..{high:+.3f}, {match['verdict']})"
            )
            if match["verdict"] == "inconclusive" and match.get("n_needed"):
                parts.append(f"~{match['n_needed']} paired samples would settle it")
        base_cost = _number(benchmark["cost_analysis"][baseline]["cost_per_request"])
        base_p95 = _number(benchmark["latency"][baseline]["p95_ms"])
        if best["cost"] is not None and base_cost > 0:
            parts.append(f"cost {100 * (best['cost'] / base_cost - 1):+.0f}%")
        if best["p95_ms"] is not None and base_p95 > 0:
            parts.append(f"p95 {100 * (best['p95_ms'] / base_p95 - 1):+.0f}%")
    return f"{provider}: " + ", ".join(parts)
