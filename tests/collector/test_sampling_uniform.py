"""Seeded samples are uniform: over many seeds every event is drawn equally often, and events whose
stored sampling keys are neighbours are not drawn together more often than any two events.

The ground truth is simple random sampling without replacement: each of N events is in a sample of n
with probability n/N, and a given pair with probability n(n-1)/(N(N-1)). The keys are deterministic
(the same seed always draws the same sample), so these tests pass or fail the same way every time.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from scipy import stats

from bakeoff.collector.rows import to_columns
from bakeoff.collector.sampling import SampleSpec, draw
from bakeoff.collector.store import Store
from bakeoff.schema import validate_event
from support import stores

START = datetime(2026, 5, 1, tzinfo=UTC)
SIZES = {"support": 180, "billing": 90, "math": 30}  # 300 events
N = sum(SIZES.values())
SEEDS = range(400)
# A thousand draws a test: the key is the same SQL on both stores, so these run on the file only (on
# DuckLake, tests/collector/test_ducklake_cluster.py checks that two replicas draw the same ids).
uniformity = pytest.mark.embedded_only("the same SQL on both stores; a thousand draws each")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Iterator[Store]:
    store = stores.open_test_store(tmp_path_factory.mktemp("uniform") / "u.duckdb")
    events = [
        validate_event(
            {
                "id": f"{tag}-{i}",
                "ts": (START + timedelta(seconds=len(SIZES) * i + j)).isoformat(),
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-a",
                "request": {"messages": [{"role": "user", "content": f"{tag} {i}"}]},
                "tags": [tag],
            }
        )
        for j, (tag, size) in enumerate(SIZES.items())
        for i in range(size)
    ]
    store.insert_events(to_columns(events, "sdk", START))
    try:
        yield store
    finally:
        store.close()


_drawn: dict[tuple[int, str], list[list[str]]] = {}


def _draws(store: Store, **spec: object) -> list[list[str]]:
    """The samples of every seed, drawn once per store and spec (the tests share them)."""
    key = (id(store), repr(sorted(spec.items())))
    if key not in _drawn:
        _drawn[key] = _draw_all(store, **spec)
    return _drawn[key]


def _draw_all(store: Store, **spec: object) -> list[list[str]]:
    return [[row[0] for row in draw(store.cursor(), SampleSpec(seed=seed, **spec)).rows] for seed in SEEDS]  # type: ignore[arg-type]


def _uniformity_p(counts: Counter[str], ids: list[str]) -> float:
    """The chi-square test's p-value of `counts` (draws per event) against equal counts over `ids`."""
    return float(stats.chisquare([counts[i] for i in ids]).pvalue)


@uniformity
def test_random_samples_draw_every_event_equally_often(store: Store) -> None:
    n = 30
    samples = _draws(store, strategy="random", n=n)
    assert all(len(sample) == n == len(set(sample)) for sample in samples)
    counts = Counter(i for sample in samples for i in sample)
    ids = [f"{tag}-{i}" for tag, size in SIZES.items() for i in range(size)]
    assert set(counts) <= set(ids)
    assert sum(counts.values()) == n * len(SEEDS)  # 40 draws per event expected
    assert _uniformity_p(counts, ids) > 0.001


@uniformity
def test_random_samples_do_not_draw_neighbouring_keys_together(store: Store) -> None:
    """A sample taken as a window of the stored keys (or of one hash under a mask per seed) draws
    events of neighbouring keys together; a uniform one draws any pair n(n-1)/(N(N-1)) of the time."""
    n = 30
    samples = [set(sample) for sample in _draws(store, strategy="random", n=n)]
    ordered = [
        row[0] for row in store.cursor().execute("SELECT id FROM events ORDER BY sample_key").fetchall()
    ]
    pairs = list(itertools.pairwise(ordered))
    together = sum(1 for sample in samples for a, b in pairs if a in sample and b in sample)
    p_pair = n * (n - 1) / (N * (N - 1))
    expected = len(pairs) * len(SEEDS) * p_pair  # ~1,160
    assert abs(together - expected) < 4 * (expected * (1 - p_pair)) ** 0.5, (together, expected)


@uniformity
def test_stratified_samples_draw_every_event_of_a_stratum_equally_often(store: Store) -> None:
    n = 30  # proportional: 18 support, 9 billing, 3 math
    samples = _draws(store, strategy="stratified", n=n, by="tag")
    counts = Counter(i for sample in samples for i in sample)
    for tag, size in SIZES.items():
        ids = [f"{tag}-{i}" for i in range(size)]
        assert sum(counts[i] for i in ids) == len(SEEDS) * n * size // N
        assert _uniformity_p(counts, ids) > 0.001, tag


def test_a_seed_draws_the_same_sample_each_time(store: Store) -> None:
    first = draw(store.cursor(), SampleSpec("random", 25, seed=42)).rows
    assert first == draw(store.cursor(), SampleSpec("random", 25, seed=42)).rows
    assert first != draw(store.cursor(), SampleSpec("random", 25, seed=43)).rows
