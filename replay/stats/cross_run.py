"""The same providers across two runs (`bakeoff compare NEW --compare-with OLD`): did anything regress?

When the runs share events, each provider's metric is compared *paired* on the shared events (the
tests of :mod:`~bakeoff.replay.stats.analysis`);
otherwise, or when only the old `benchmark_results.json` is at
hand, unpaired: a two-proportion z-test for pass rates, a Welch z-test from the intervals for scores.
Holm's correction runs over every provider x metric test, as in a single run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bakeoff.errors import UsageError
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.stats import inference as st
from bakeoff.replay.stats.analysis import AnalysisOptions, Columns, columns, compare_metric

Z95 = 1.959963984540054


def load_old(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """(benchmark_results, rows or None) of an old run directory or a benchmark_results.json file."""
    location = Path(path)
    if location.is_dir():
        file = location / "benchmark_results.json"
        if not file.is_file():
            raise UsageError(f"--compare-with {path}: no benchmark_results.json in it")
        return orjson.loads(file.read_bytes()), RunDirectory(location).read_rows()
    if location.is_file():
        try:
            return orjson.loads(location.read_bytes()), None
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--compare-with {path}: not JSON: {exc}") from None
    raise UsageError(f"--compare-with {path}: no such run directory or file")


def _unpaired(
    old: Mapping[str, Any], new: Mapping[str, Any], kind: str
) -> tuple[float, tuple[float, float], float, str]:
    if kind == "pass":
        x1, n1, x2, n2 = old["passed"], old["total"], new["passed"], new["total"]
        p1, p2 = x1 / n1, x2 / n2
        pooled = (x1 + x2) / (n1 + n2)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        diff = p2 - p1
        z = diff / se0 if se0 > 0 else 0.0
        test = "two-proportion z"
    else:
        diff = new["score"] - old["score"]
        se_old = (old["ci95"][1] - old["ci95"][0]) / (2 * Z95)
        se_new = (new["ci95"][1] - new["ci95"][0]) / (2 * Z95)
        se = math.sqrt(se_old**2 + se_new**2)
        z = diff / se if se > 0 else 0.0
        test = "welch z (from intervals)"
    from scipy.stats import norm

    p_value = float(2 * norm.sf(abs(z))) if z else 1.0
    return diff, (diff - Z95 * se, diff + Z95 * se), p_value, test


def compare_runs(
    new_benchmark: Mapping[str, Any],
    new_rows: list[dict[str, Any]],
    old_benchmark: Mapping[str, Any],
    old_rows: list[dict[str, Any]] | None,
    kinds: Mapping[str, str],
    options: AnalysisOptions,
) -> dict[str, Any]:
    """Every provider and metric both runs have: new minus old, Holm-corrected."""
    providers = [p for p in new_benchmark["providers"] if p in old_benchmark.get("providers", [])]
    metrics = [m for m in kinds if m in old_benchmark.get("metrics", {})]
    comparisons: list[dict[str, Any]] = []
    shared = bool(old_rows) and bool(
        {r["event_id"] for r in old_rows or []} & {r["event_id"] for r in new_rows}
    )
    if shared and old_rows is not None:
        # One table holding both runs, the old run's providers renamed, so the paired machinery applies.
        merged = new_rows + [{**r, "provider": "\x00old:" + r["provider"]} for r in old_rows]
        cols: Columns = columns(merged, metrics)
        for provider in providers:
            for metric in metrics:
                result = compare_metric(cols, metric, kinds[metric], "\x00old:" + provider, provider, options)
                comparisons.append({**result, "baseline": f"{provider} (old run)", "paired": True})
    else:
        for provider in providers:
            for metric in metrics:
                old = old_benchmark["metrics"][metric].get(provider)
                new = new_benchmark["metrics"][metric].get(provider)
                if (
                    not old
                    or not new
                    or not old.get("total")
                    or not new.get("total")
                    or old.get("score") is None
                ):
                    continue
                diff, interval, p_value, test = _unpaired(old, new, kinds[metric])
                comparisons.append(
                    {
                        "provider": provider,
                        "baseline": f"{provider} (old run)",
                        "metric": metric,
                        "diff": round(diff, 6),
                        "ci95": [round(interval[0], 6), round(interval[1], 6)],
                        "p_value": p_value,
                        "test": test,
                        "n": min(old["total"], new["total"]),
                        "paired": False,
                    }
                )
    adjusted = st.holm([math.nan if c.get("p_value") is None else c["p_value"] for c in comparisons])
    for comparison, p_adjusted in zip(comparisons, adjusted, strict=True):
        comparison["p_adjusted"] = None if np.isnan(p_adjusted) else p_adjusted
        comparison["significant"] = bool(not np.isnan(p_adjusted) and p_adjusted < options.alpha)
    return {
        "old_run": old_benchmark.get("run_id"),
        "new_run": new_benchmark.get("run_id"),
        "alpha": options.alpha,
        "margin": options.margin,
        "comparisons": comparisons,
    }


def regressions(comparisons: list[dict[str, Any]], margin: float) -> list[dict[str, Any]]:
    """Comparisons significantly worse (after Holm) beyond `margin`: the whole interval is below -margin."""
    return [
        c
        for c in comparisons
        if c.get("significant")
        and c.get("diff") is not None
        and c["ci95"][1] is not None
        and c["ci95"][1] < -margin
    ]
