"""Verdicts and recommendations on simulated providers of known quality (ground truth by simulation).

Rows are simulated straight into the analysis (fast); `test_verdicts_cli.py` runs the real commands.
Answers of two providers are correlated the way real models are (they get the same easy questions
right): each event has a latent difficulty, and each provider passes when its own draw clears it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bakeoff.replay.report.render import render
from bakeoff.replay.stats.analysis import AnalysisOptions, analyse
from bakeoff.replay.stats.recommend import Constraints, recommend

KINDS = {"correct": "pass", "similarity": "score"}
RUN = {"run_id": "sim", "providers": ["baseline", "candidate"], "baseline": "baseline"}


def simulated_rows(
    rng: np.random.Generator,
    n: int,
    quality: dict[str, float],
    cost: dict[str, float] | None = None,
    errors: dict[str, float] | None = None,
    tags: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Rows of providers with pass rate `quality[p]` on n events, correlated through a shared difficulty."""
    difficulty = rng.random(n)
    noise = 0.15  # the share of each provider's outcomes drawn independently of the shared difficulty
    rows = []
    for provider, q in quality.items():
        own = rng.random(n)
        shared = np.where(rng.random(n) < noise, own, difficulty)
        passed = shared < q
        failed = rng.random(n) < (errors or {}).get(provider, 0.0)
        for i in range(n):
            rows.append(
                {
                    "event_id": f"e{i}",
                    "provider": provider,
                    "scores": {
                        "correct": {"score": float(passed[i]), "passed": bool(passed[i])},
                        "similarity": {"score": float(np.clip(0.6 * passed[i] + 0.4 * own[i], 0, 1))},
                    },
                    "latency_ms": 100.0,
                    "cost": (cost or {}).get(provider, 0.001),
                    "usage": {"output_tokens": 10},
                    "error": {"type": "server", "message": "down"} if failed[i] else None,
                    "tags": [tags[i % len(tags)]] if tags else [],
                }
            )
    return rows


def decide(rows: list[dict[str, Any]], margin: float, seed: int = 0) -> tuple[dict, dict, dict]:
    options = AnalysisOptions(margin=margin, resamples=200, seed=seed)
    benchmark, comparison = analyse(
        rows,
        KINDS,
        options,
        {
            **RUN,
            "providers": sorted({r["provider"] for r in rows}, key=["baseline", "candidate", "other"].index),
        },
    )
    return benchmark, comparison, recommend(benchmark, comparison, Constraints(margin=margin))


def test_every_printed_interval_agrees_with_its_verdict() -> None:
    rng = np.random.default_rng(11)
    for trial in range(60):
        quality = {"baseline": 0.8, "candidate": rng.uniform(0.6, 0.95), "other": rng.uniform(0.6, 0.95)}
        rows = simulated_rows(rng, int(rng.integers(20, 400)), quality)
        _, comparison, _ = decide(rows, margin=0.02, seed=trial)
        for c in comparison["comparisons"] + comparison["error_rate_comparisons"]:
            if c["verdict"] == "no data":
                continue
            low, high = c["ci95"]
            assert low <= c["diff"] <= high
            assert c["significant"] == (low > 0 or high < 0) == (c["p_adjusted"] < 0.05)
            if c["verdict"] == "better":
                assert low > 0
            elif c["verdict"] == "worse":
                assert high < 0
            elif c["verdict"] == "non-inferior":
                assert low > -0.02 and low <= 0 <= high
            else:
                assert low <= -0.02 and low <= 0 <= high
            assert c["non_inferior"] == (low > -0.02)


def _switch_rate(quality: float, n: int, margin: float, trials: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    switched = 0
    for trial in range(trials):
        rows = simulated_rows(rng, n, {"baseline": 0.85, "candidate": quality}, cost={"candidate": 0.0001})
        switched += decide(rows, margin, seed=trial)[2]["recommended"] == "candidate"
    return switched / trials


def _at_most_alpha(rate: float, trials: int, alpha: float = 0.05) -> bool:
    return rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)


def test_equal_providers_switch_no_more_often_than_alpha_without_a_margin() -> None:
    # With no margin, switching needs the cheaper candidate shown better: a false discovery.
    assert _at_most_alpha(_switch_rate(0.85, 300, 0.0, trials=120, seed=1), 120)


def test_a_candidate_worse_by_exactly_the_margin_is_recommended_at_most_alpha_of_the_time() -> None:
    assert _at_most_alpha(_switch_rate(0.85 - 0.05, 600, 0.05, trials=100, seed=2), 100)


def test_a_candidate_worse_by_twice_the_margin_is_never_recommended() -> None:
    assert _switch_rate(0.85 - 0.04, 400, 0.02, trials=60, seed=3) == 0.0


def test_a_truly_equivalent_cheaper_candidate_is_recommended_at_large_n() -> None:
    assert _switch_rate(0.85, 5000, 0.02, trials=12, seed=4) >= 11 / 12


def test_the_demo_case_is_not_recommended_and_the_reason_says_what_would_settle_it() -> None:
    """-0.059 with an interval wholly below 0: the old rule ('not significant after Holm') switched."""
    rng = np.random.default_rng(5)
    rows = simulated_rows(rng, 240, {"baseline": 0.90, "candidate": 0.89}, cost={"candidate": 0.0001})
    _, comparison, result = decide(rows, margin=0.02)
    assert result["recommended"] == "baseline"
    row = comparison["comparisons"][0]
    assert not row["non_inferior"]
    if row["diff"] > -0.02:
        assert result["promising"][0]["provider"] == "candidate"
        assert result["promising"][0]["n_needed"] > 240
        assert "paired samples would settle it" in result["reason"]


def test_failed_requests_are_not_wrong_answers_and_errors_are_a_metric_of_their_own() -> None:
    rng = np.random.default_rng(6)
    rows = simulated_rows(rng, 500, {"baseline": 0.85, "candidate": 0.85}, errors={"candidate": 0.3})
    benchmark, comparison, _ = decide(rows, margin=0.02)
    quality = comparison["comparisons"][0]
    assert quality["verdict"] != "worse" and quality["n"] < 400  # compared where both answered
    errors = comparison["error_rate_comparisons"][0]
    assert errors["metric"] == "error_rate" and errors["verdict"] == "worse" and errors["ci95"][0] > 0.2
    assert benchmark["error_rate"]["candidate"]["total"] == 500
    low, high = benchmark["error_rate"]["candidate"]["ci95"]
    assert low < 0.3 < high


def test_a_provider_that_never_answered_is_never_recommended() -> None:
    rng = np.random.default_rng(7)
    rows = simulated_rows(rng, 100, {"baseline": 0.5, "candidate": 0.9}, errors={"baseline": 1.0})
    _, _, result = decide(rows, margin=0.02)
    assert result["recommended"] is None and result["excluded"]["baseline"] == "no successful answer"
    down = simulated_rows(
        rng, 50, {"baseline": 0.9, "candidate": 0.9}, errors={"baseline": 1.0, "candidate": 1.0}
    )
    benchmark, comparison, result = decide(down, margin=0.02)
    assert result["recommended"] is None and result["reason"] == "every request of every provider failed"
    assert comparison["comparisons"][0]["verdict"] == "no data"
    assert "no recommendation: every request of every provider failed" in render(
        benchmark, comparison, "text", result
    )


def test_a_metric_that_does_not_apply_is_na_not_zero() -> None:
    rng = np.random.default_rng(8)
    rows = simulated_rows(rng, 40, {"baseline": 0.9, "candidate": 0.9})
    for row in rows:
        if int(row["event_id"][1:]) % 5 == 0:  # a tool-call reference: the text metric cannot judge
            row["scores"]["similarity"] = {"score": None, "passed": None, "reason": "not applicable"}
    benchmark, comparison, result = decide(rows, margin=0.02)
    summary = benchmark["metrics"]["similarity"]["candidate"]
    assert summary["total"] == 32 and summary["not_applicable"] == 8
    text = render(benchmark, comparison, "markdown", result)
    assert "(8 n/a, excluded)" in text and "| similarity |" in text and "| error_rate |" in text
    assert next(c for c in comparison["comparisons"] if c["metric"] == "similarity")["n"] == 32


def test_p_values_print_as_less_than_not_zero() -> None:
    rng = np.random.default_rng(9)
    rows = simulated_rows(rng, 2000, {"baseline": 0.95, "candidate": 0.5})
    benchmark, comparison, result = decide(rows, margin=0.02)
    assert comparison["comparisons"][0]["p_adjusted"] < 0.001
    text = render(benchmark, comparison, "markdown", result)
    assert "< 0.001" in text and "| 0 |" not in text


def test_the_same_run_gives_the_same_figures_every_time() -> None:
    rng = np.random.default_rng(10)
    rows = simulated_rows(rng, 300, {"baseline": 0.85, "candidate": 0.83}, tags=("a", "b"))
    first, second = decide(rows, 0.02, seed=3), decide(rows, 0.02, seed=3)
    assert first == second


@pytest.mark.parametrize("n", [5, 60])
def test_feedback_agreement_is_reported_where_events_carry_feedback(n: int) -> None:
    rng = np.random.default_rng(12)
    rows = simulated_rows(rng, n, {"baseline": 0.7, "candidate": 0.7})
    for row in rows:
        if row["provider"] == "baseline":
            liked = row["scores"]["correct"]["score"] if rng.random() < 0.8 else rng.random()
            row["feedback"] = [{"score": liked}]
    feedback = {r["event_id"]: r["feedback"] for r in rows if "feedback" in r}
    for row in rows:
        row["feedback"] = feedback[row["event_id"]]
    benchmark, comparison, result = decide(rows, margin=0.02)
    agreement = benchmark["feedback_agreement"]
    assert agreement["provider"] == "baseline"
    figures = agreement["metrics"]["correct"]
    assert figures["n"] == n
    low, high = figures["ci95"]
    assert low < figures["spearman"] < high and (low > 0.3 or n < 10)  # the metric tracks what users like
    assert "correct vs user feedback on baseline's answers: Spearman" in render(
        benchmark, comparison, "text", result
    )


@pytest.mark.parametrize("name", ["exact_match", "fuzzy", "semantic_similarity"])
def test_text_metrics_do_not_apply_to_a_tool_call_reference(name: str) -> None:
    from bakeoff.replay.scoring.registry import build_metric
    from bakeoff.replay.types import Case, Completion, Reference

    call = [{"name": "lookup", "arguments": {"id": 7}}]
    case = Case("e", "chat.completions", "openai", "m", {}, Reference(tool_calls=call))
    for answer in (Completion(tool_calls=call), Completion(text="some words")):
        result = build_metric(name).score(answer, case)
        assert result.score is None and result.passed is None and "not applicable" in (result.reason or "")
    text_case = Case("e", "chat.completions", "openai", "m", {}, Reference(text="hello"))
    assert build_metric(name).score(Completion(text="hello"), text_case).score == pytest.approx(1.0)
