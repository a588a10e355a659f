"""Statistics the SDK benchmarks share: a median with a bootstrap confidence interval."""

from __future__ import annotations

import random
import statistics

_BOOTSTRAP = 2000


def median_ci(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The median of `values` and a 95 % percentile-bootstrap confidence interval of it (seeded)."""
    draw = random.Random(seed)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(_BOOTSTRAP))
    return statistics.median(values), medians[int(0.025 * _BOOTSTRAP)], medians[int(0.975 * _BOOTSTRAP) - 1]
