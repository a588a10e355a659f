"""Segments: a candidate equal overall but worse on one tag is caught there, and only there."""

from __future__ import annotations

import numpy as np

from bakeoff.replay.report.render import render
from bakeoff.replay.stats.analysis import AnalysisOptions, analyse

TAGS = (*(f"t{i}" for i in range(9)), "refunds")
KINDS = {"correct": "pass"}


def rows_with_one_bad_tag(rng: np.random.Generator, n: int, drop: float) -> list[dict]:
    """Two providers at 0.85; on `refunds` the candidate falls by `drop` (and gains a little elsewhere)."""
    rows = []
    tags = [TAGS[i % len(TAGS)] for i in range(n)]
    difficulty = rng.random(n)
    for provider in ("baseline", "candidate"):
        for i in range(n):
            quality = 0.85
            if provider == "candidate":
                quality += -drop if tags[i] == "refunds" else drop / (len(TAGS) - 1)
            passed = bool(difficulty[i] < quality) if rng.random() > 0.2 else bool(rng.random() < quality)
            rows.append(
                {
                    "event_id": f"e{i}",
                    "provider": provider,
                    "scores": {"correct": {"score": float(passed), "passed": passed}},
                    "latency_ms": 10.0,
                    "cost": 0.001,
                    "error": None,
                    "tags": [tags[i]],
                }
            )
    return rows


def _segments(rows: list[dict], seed: int) -> tuple[dict, dict]:
    run = {"run_id": "s", "providers": ["baseline", "candidate"], "baseline": "baseline"}
    return analyse(rows, KINDS, AnalysisOptions(resamples=200, seed=seed), run)


def test_a_tag_made_worse_is_flagged_worse_on_that_tag_and_no_other() -> None:
    rng = np.random.default_rng(21)
    caught = 0
    for trial in range(10):
        benchmark, comparison = _segments(rows_with_one_bad_tag(rng, 3000, 0.3), trial)
        assert len(comparison["segments"]) == len(TAGS)
        flagged = [s for s in comparison["segments"] if s["significant"]]
        # The truth: worse on refunds, slightly better everywhere else.
        assert all((s["segment"] == "tag:refunds") == (s["diff"] < 0) for s in flagged)
        caught += any(s["segment"] == "tag:refunds" for s in flagged)
        refunds = next(s for s in comparison["segments"] if s["segment"] == "tag:refunds")
        assert refunds["n"] == 300 and refunds["p_adjusted"] >= refunds["p_value"]
        assert refunds["ci95"][0] <= refunds["diff"] <= refunds["ci95"][1]
        assert set(refunds) >= {"provider", "baseline", "metric", "segment", "diff", "ci95", "p_value"}
    assert caught >= 9
    text = render(benchmark, comparison, "text")
    low, high = refunds["ci95"]
    assert f"candidate: worse on tag:refunds ({refunds['diff']:+.2f} [{low:+.2f}, {high:+.2f}])" in text


def test_equal_providers_flag_a_segment_no_more_often_than_alpha() -> None:
    rng = np.random.default_rng(22)
    trials = 60
    flagged = sum(
        any(s["significant"] for s in _segments(rows_with_one_bad_tag(rng, 1000, 0.0), t)[1]["segments"])
        for t in range(trials)
    )
    assert flagged / trials <= 0.05 + 3 * (0.05 * 0.95 / trials) ** 0.5
