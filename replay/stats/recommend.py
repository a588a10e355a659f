"""Which provider to choose: evidence first, then constraints, then a weighted score, with the reasons.

A candidate other than the baseline qualifies only when non-inferiority on the primary metric is
*shown*: the lower end of its interval (the verdict's own, Holm-adjusted) lies above -margin. "Not shown
worse" is not enough: absence of evidence is not evidence of absence. Candidates within the margin by
their estimate but not yet shown non-inferior are *promising*, each with the paired samples that would
settle it; while none qualifies, the recommendation is to stay with the baseline. A provider with no
successful answer is never recommended; when every provider failed, there is no recommendation.

Constraints: `min_score` on the primary metric, `max_cost` in USD per request, `max_p95_ms`. The
qualifying providers are ranked by `quality * q + cheapness * c + speed * s`, each term a ratio to
the best candidate: score / best score, cheapest cost / cost, lowest p95 / p95 (1 for the best; ratios
do not depend on units and never tie two different providers the way min-max scaling can).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    margin: float | None = None  # None: the margin of the comparison (`replay.margin`, else 0.02)
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
    """`{"recommended", "reason", "ranking", "excluded", "promising", "margin"}`."""
    primary = benchmark.get("primary_metric")
    margin = _number(comparison.get("margin")) if constraints.margin is None else constraints.margin
    margin = 0.0 if math.isnan(margin) else margin
    empty = {"ranking": [], "excluded": {}, "promising": [], "margin": margin}
    if primary is None:
        return {"recommended": None, "reason": "the run has no metric", **empty}
    answered = [p for p in benchmark["providers"] if _answered(benchmark, p)]
    if not answered:
        return {"recommended": None, "reason": "every request of every provider failed", **empty}
    baseline = comparison.get("baseline")
    rows = {c["provider"]: c for c in comparison.get("comparisons", []) if c["metric"] == primary}
    candidates: dict[str, dict[str, float]] = {}
    excluded: dict[str, str] = {}
    promising: list[dict[str, Any]] = []
    for provider in benchmark["providers"]:
        why = _evidence_against(provider, baseline, rows.get(provider), answered, primary, margin)
        if why is None:
            why = _constraint_against(benchmark, provider, primary, constraints)
        if why is not None:
            excluded[provider] = why
            hope = _promise(rows.get(provider), margin) if provider != baseline else None
            if hope is not None and why.startswith("non-inferiority"):
                promising.append(hope)
            continue
        candidates[provider] = _figures(benchmark, provider, primary)
    ranking = _rank(candidates, constraints.weights)
    result = {"ranking": ranking, "excluded": excluded, "promising": promising, "margin": margin}
    if not ranking:
        return {"recommended": None, "reason": "no provider meets the constraints", **result}
    best = ranking[0]
    reason = _explain(best, ranking, benchmark, comparison, primary, margin)
    if best["provider"] == baseline and promising:
        reason += "; promising: " + "; ".join(_promise_text(p) for p in promising)
    return {"recommended": best["provider"], "reason": reason, **result, "weights": constraints.weights}


def _answered(benchmark: Mapping[str, Any], provider: str) -> bool:
    errors = benchmark.get("error_rate", {}).get(provider)
    if errors is not None:
        return bool(errors["total"]) and errors["errors"] < errors["total"]
    return benchmark["cost_analysis"][provider].get("requests", 0) > benchmark["errors"].get(provider, 0)


def _evidence_against(
    provider: str,
    baseline: Any,
    row: Mapping[str, Any] | None,
    answered: list[str],
    primary: str,
    margin: float,
) -> str | None:
    """Why the evidence rules `provider` out, or None."""
    if provider not in answered:
        return "no successful answer"
    if provider == baseline:
        return None
    if row is None or row.get("diff") is None:
        return f"no paired {primary} data against the baseline"
    low = row["ci95"][0]
    if low is not None and low > -margin:
        return None
    if row.get("verdict") == "worse":
        return f"significantly worse than the baseline on {primary} ({_ci(row)})"
    return f"non-inferiority not shown: {primary} {_ci(row)}, lower end not above -{margin:g}"


def _constraint_against(
    benchmark: Mapping[str, Any], provider: str, primary: str, constraints: Constraints
) -> str | None:
    v = _figures(benchmark, provider, primary)
    score, cost, p95 = v["score"], v["cost"], v["p95_ms"]
    if math.isnan(score):
        return f"no {primary} score"
    if constraints.min_score is not None and score < constraints.min_score:
        return f"{primary} {score:.3f} < {constraints.min_score:g}"
    if constraints.max_cost is not None and (math.isnan(cost) or cost > constraints.max_cost):
        return "no price known" if math.isnan(cost) else f"${cost:.6f}/request > ${constraints.max_cost:g}"
    if constraints.max_p95_ms is not None and (math.isnan(p95) or p95 > constraints.max_p95_ms):
        return f"p95 {p95:.0f} ms > {constraints.max_p95_ms:g} ms"
    return None


def _figures(benchmark: Mapping[str, Any], provider: str, primary: str) -> dict[str, float]:
    return {
        "score": _number(benchmark["metrics"][primary][provider]["score"]),
        "cost": _number(benchmark["cost_analysis"][provider]["cost_per_request"]),
        "p95_ms": _number(benchmark["latency"][provider]["p95_ms"]),
    }


def _ci(row: Mapping[str, Any]) -> str:
    low, high = row["ci95"]
    return f"{row['diff']:+.3f} [{low:+.3f}, {high:+.3f}], n={row['n']}"


def _promise(row: Mapping[str, Any] | None, margin: float) -> dict[str, Any] | None:
    """A candidate whose estimate lies within the margin but whose interval does not yet show it."""
    if row is None or row.get("diff") is None or margin <= 0 or row["diff"] <= -margin:
        return None
    from bakeoff.replay.stats.inference import n_required

    sd, level = row.get("sd_diff"), 1 - (row.get("confidence") or 0.95)
    needed = n_required(row["diff"] + margin, sd, level) if sd else None
    return {
        "provider": row["provider"],
        "diff": row["diff"],
        "ci95": row["ci95"],
        "n": row["n"],
        "n_needed": needed,
    }


def _promise_text(hope: Mapping[str, Any]) -> str:
    settle = f", ~{hope['n_needed']} paired samples would settle it" if hope.get("n_needed") else ""
    return f"{hope['provider']} ({_ci(hope)}{settle})"


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
    best: Mapping[str, Any],
    ranking: Sequence[Mapping[str, Any]],
    benchmark: Mapping[str, Any],
    comparison: Mapping[str, Any],
    primary: str,
    margin: float,
) -> str:
    provider = best["provider"]
    baseline = comparison.get("baseline")
    parts = [f"{primary} {best['score']:.3f}"]
    if provider == baseline:
        # Candidates shown non-inferior may still rank below the baseline on the weights.
        qualified = [r["provider"] for r in ranking if r["provider"] != baseline]
        if qualified:
            parts.append(
                f"the baseline: {', '.join(qualified)} shown non-inferior but ranked lower on the weights"
            )
        elif len(benchmark["providers"]) > 1:
            parts.append("the baseline: no candidate is shown non-inferior")
        else:
            parts.append("the only provider")
        return f"{provider}: " + ", ".join(parts)
    match = next(
        (
            c
            for c in comparison.get("comparisons", [])
            if c["provider"] == provider and c["metric"] == primary
        ),
        None,
    )
    if match and match.get("diff") is not None:
        parts.append(f"{_ci(match)} vs {baseline}, non-inferior within {margin:g} ({match['verdict']})")
    if baseline in benchmark["cost_analysis"]:
        base_cost = _number(benchmark["cost_analysis"][baseline]["cost_per_request"])
        base_p95 = _number(benchmark["latency"][baseline]["p95_ms"])
        if best["cost"] is not None and base_cost > 0:
            parts.append(f"cost {100 * (best['cost'] / base_cost - 1):+.0f}%")
        if best["p95_ms"] is not None and base_p95 > 0:
            parts.append(f"p95 {100 * (best['p95_ms'] / base_p95 - 1):+.0f}%")
    return f"{provider}: " + ", ".join(parts)
