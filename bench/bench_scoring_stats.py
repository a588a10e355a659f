"""Scoring and statistics for 100,000 paired rows x 4 providers x 3 metrics, next to a plain-Python loop.

The vectorised path: each metric scores a provider's whole column (`score_batch`), then the analysis
computes every provider's mean and interval (Wilson / BCa with 2,000 resamples) and every paired
comparison against the baseline (exact McNemar or the paired t-test, each with its inverted interval at
its Holm level, the error rate apart) and every segment (candidate x metric x tag over 10 tags, Holm
across segments), the way `bakeoff compare` does. The baseline is the obvious plain-Python program:
one `score()` call per row and metric, and a bootstrap that resamples rows in a Python loop; its
bootstrap is timed on 20 resamples and scaled to 2,000 (running it whole would take minutes).

Run: python bench/bench_scoring_stats.py [--events 100000]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from bakeoff.replay.scoring.registry import build_metric
from bakeoff.replay.stats.analysis import AnalysisOptions, Columns, compare_all, metric_summary
from bakeoff.replay.types import Case, Completion, Reference

PROVIDERS = {"baseline": 0.90, "same": 0.90, "cheaper": 0.88, "weaker": 0.75}
METRICS = ("exact_match", "numeric_match", "fuzzy")
TAGS = 10


def make_data(events: int, seed: int = 0) -> tuple[list[Reference], dict[str, list[str]]]:
    rng = random.Random(seed)
    truths = [rng.randint(10, 9999) for _ in range(events)]
    references = [Reference(expected=f"The answer is {t}.", from_expected=True) for t in truths]
    answers = {
        provider: [
            f"The answer is {t}." if rng.random() < quality else f"It is {t + rng.randint(1, 9)}."
            for t in truths
        ]
        for provider, quality in PROVIDERS.items()
    }
    return references, answers


def vectorised(
    references: list[Reference], answers: dict[str, list[str]], segments: bool = True
) -> tuple[float, float]:
    """(scoring seconds, statistics seconds), with or without segments over `TAGS` tags."""
    started = time.perf_counter()
    metrics = {name: build_metric(name) for name in METRICS}
    scores: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    passes: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for provider in PROVIDERS:
        for name, metric in metrics.items():
            score, passed = metric.score_batch(answers[provider], references)
            scores[name].append(score)
            passes[name].append(passed)
    scored = time.perf_counter()
    n, k = len(references), len(PROVIDERS)
    cols = Columns(
        events=[str(i) for i in range(n)],
        providers=list(PROVIDERS),
        weight=np.ones(n),
        provider=np.repeat(np.arange(k), n),
        event=np.tile(np.arange(n), k),
        latency=np.full(n * k, np.nan),
        ttft=np.full(n * k, np.nan),
        cost=np.full(n * k, np.nan),
        output_tokens=np.full(n * k, np.nan),
        error=np.zeros(n * k, dtype=bool),
        cached=np.zeros(n * k, dtype=bool),
        judge_cost=np.full(n * k, np.nan),
        scores={m: np.concatenate(scores[m]) for m in METRICS},
        passes={m: np.concatenate(passes[m]) for m in METRICS},
        tags={f"tag{t}": np.arange(n) % TAGS == t for t in range(TAGS)} if segments else {},
    )
    kinds = {m: metrics[m].kind for m in METRICS}
    options = AnalysisOptions(baseline="baseline")
    for metric in METRICS:
        for provider in PROVIDERS:
            metric_summary(cols, metric, kinds[metric], provider, options)
    comparison = compare_all(cols, kinds, list(PROVIDERS), "baseline", options)
    assert any(c["significant"] for c in comparison["comparisons"] if c["provider"] == "weaker")
    assert len(comparison["segments"]) == (3 * len(METRICS) * TAGS if segments else 0)
    return scored - started, time.perf_counter() - scored


def plain_python(
    references: list[Reference], answers: dict[str, list[str]], resamples: int
) -> tuple[float, float]:
    """(scoring seconds, bootstrap seconds for `resamples` resamples of every summary and comparison)."""
    started = time.perf_counter()
    metrics = [build_metric(name) for name in METRICS]
    case_of = [
        Case(id=str(i), api="chat.completions", provider="p", model="m", request={}, reference=r)
        for i, r in enumerate(references)
    ]
    values: dict[tuple[str, str], list[float]] = {}
    for provider in PROVIDERS:
        for metric in metrics:
            values[(provider, metric.name)] = [
                float(metric.score(Completion(text=text), case).score or 0.0)
                for text, case in zip(answers[provider], case_of, strict=True)
            ]
    scored = time.perf_counter()
    rng = random.Random(0)
    n = len(references)
    series = list(values.values())  # 12 summaries
    series += [  # 9 paired differences
        [b - a for a, b in zip(values[("baseline", m)], values[(p, m)], strict=True)]
        for p in PROVIDERS
        if p != "baseline"
        for m in METRICS
    ]
    for data in series:
        for _ in range(resamples):
            sum(data[rng.randrange(n)] for _ in range(n))
    return scored - started, time.perf_counter() - scored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    references, answers = make_data(args.events)
    rows = args.events * len(PROVIDERS)
    vectorised(references[:1000], {p: a[:1000] for p, a in answers.items()})  # imports and caches warm
    _, without_segments = vectorised(references, answers, segments=False)
    scoring, statistics = vectorised(references, answers)
    print(f"vectorised: scoring {scoring:.2f} s ({1e6 * scoring / (rows * len(METRICS)):.2f} µs per score)")
    print(f"vectorised: statistics with 2,000 resamples, without segments {without_segments:.2f} s")
    print(f"vectorised: statistics with 2,000 resamples and {TAGS}-tag segments {statistics:.2f} s")
    print(
        f"vectorised: total {scoring + statistics:.2f} s for {args.events:,} events x 4 providers x 3 metrics"
        f" with segments over {TAGS} tags"
    )
    plain_scoring, plain_bootstrap = plain_python(references, answers, resamples=20)
    plain_total = plain_scoring + plain_bootstrap * 100
    per_score = 1e6 * plain_scoring / (rows * len(METRICS))
    print(f"plain Python: scoring {plain_scoring:.2f} s ({per_score:.2f} µs per score)")
    scaled = plain_bootstrap * 100
    print(f"plain Python: bootstrap {plain_bootstrap:.2f} s for 20 resamples, {scaled:.0f} s scaled to 2,000")
    print(f"speed-up: {plain_total / (scoring + statistics):.0f}x")


if __name__ == "__main__":
    main()
