"""Each strategy's statistical property, on a real DuckDB file with a population of known make-up."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from bakeoff.collector.rows import to_columns
from bakeoff.collector.sampling import SampleSpec, allocate, draw, pps_probabilities
from bakeoff.collector.store import Store
from bakeoff.schema import Event, validate_event
from support import stores

START = datetime(2026, 3, 1, tzinfo=UTC)
STRATA = {"support": 600, "extraction": 300, "math": 100}


def make_events() -> list[Event]:
    rng = random.Random(7)
    events = []
    for tag, count in STRATA.items():
        for i in range(count):
            failed = rng.random() < 0.05
            events.append(
                validate_event(
                    {
                        "id": f"{tag}-{i}",
                        "ts": (START + timedelta(minutes=len(events))).isoformat(),
                        "provider": "openai",
                        "api": "chat.completions",
                        "model": "gpt-a" if i % 3 else "gpt-b",
                        "request": {"messages": [{"role": "user", "content": f"{tag} question {i % 50}"}]},
                        "tags": [tag],
                        "status": "error" if failed else "ok",
                        "error": {"type": "APIError"} if failed else None,
                        "latency_ms": float(rng.randint(100, 5000)),
                    }
                )
            )
    return events


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Iterator[Store]:
    store = stores.open_test_store(tmp_path_factory.mktemp("sampling") / "s.duckdb")
    events = make_events()
    store.insert_events(to_columns(events, "sdk", START))
    rng = random.Random(3)
    scored = events[::4]
    store.insert_feedback(
        pa.table(
            {
                "event_id": [e.id for e in scored],
                "score": [rng.choice([0.0, 0.5, 1.0]) for _ in scored],
                "comment": pa.array([None] * len(scored), pa.string()),
                "ts": pa.array([START] * len(scored), pa.timestamp("us", tz="UTC")),
            }
        )
    )
    yield store
    store.close()


def sample(store: Store, **kwargs: object) -> list[tuple[str, float, str | None]]:
    return draw(store.cursor(), SampleSpec(**kwargs)).rows  # type: ignore[arg-type]


def test_random_is_reproducible_and_weighted(store: Store) -> None:
    first = sample(store, strategy="random", n=100, seed=1)
    assert first == sample(store, strategy="random", n=100, seed=1)
    assert first != sample(store, strategy="random", n=100, seed=2)
    assert len({i for i, _, _ in first}) == 100
    assert sum(w for _, w, _ in first) == pytest.approx(1000)


def test_random_is_uniform(store: Store) -> None:
    hits: Counter[str] = Counter()
    for seed in range(200):
        hits.update(i.split("-")[0] for i, _, _ in sample(store, strategy="random", n=50, seed=seed))
    # 10,000 draws: each stratum's share within 4 standard errors of its population share
    for tag, size in STRATA.items():
        p = size / 1000
        assert abs(hits[tag] / 10_000 - p) < 4 * (p * (1 - p) / 10_000) ** 0.5


def test_stratified_counts_are_exact_and_weights_sum_to_population(store: Store) -> None:
    rows = sample(store, strategy="stratified", n=100, by="tag", seed=4)
    counts = Counter(stratum for _, _, stratum in rows)
    assert counts == {"support": 60, "extraction": 30, "math": 10}
    assert sum(w for _, w, _ in rows) == pytest.approx(1000)
    equal = sample(store, strategy="stratified", n=90, by="tag", allocation="equal", seed=4)
    assert Counter(s for _, _, s in equal) == {"support": 30, "extraction": 30, "math": 30}
    assert sum(w for _, w, _ in equal) == pytest.approx(1000)


def test_allocation_edge_cases() -> None:
    assert allocate({"a": 5, "b": 100}, 60, "equal") == {"a": 5, "b": 55}
    assert allocate({"a": 1, "b": 1, "c": 1}, 2, "proportional") == {"a": 1, "b": 1, "c": 0}
    assert sum(allocate({"a": 7, "b": 13, "c": 29}, 17, "proportional").values()) == 17
    assert allocate({"a": 3}, 10, "proportional") == {"a": 3}


def test_weighted_mean_is_unbiased_on_a_stratified_sample(store: Store) -> None:
    true_mean = (0 * 600 + 1 * 300 + 1 * 100) / 1000  # indicator "not support"
    estimates = []
    for seed in range(100):
        rows = sample(store, strategy="stratified", n=30, by="tag", allocation="equal", seed=seed)
        total = sum(w for _, w, _ in rows)
        estimates.append(sum(w * (not i.startswith("support")) for i, w, _ in rows) / total)
    assert sum(estimates) / len(estimates) == pytest.approx(true_mean, abs=1e-9)  # exact for this design


def test_filters(store: Store) -> None:
    rows = sample(store, strategy="random", n=1000, filters={"tag": "math", "model": "gpt-b"})
    assert rows and all(i.startswith("math-") and int(i.split("-")[1]) % 3 == 0 for i, _, _ in rows)
    since = sample(store, strategy="recent", n=1000, filters={"since": START + timedelta(minutes=990)})
    assert len(since) == 10


def test_errors_first_then_slowest(store: Store) -> None:
    cursor = store.cursor()
    failures = cursor.execute("SELECT count(*) FROM events WHERE status = 'error'").fetchone()[0]
    rows = sample(store, strategy="errors", n=failures + 5)
    statuses = dict(cursor.execute("SELECT id, status FROM events").fetchall())
    latency = dict(cursor.execute("SELECT id, latency_ms FROM events").fetchall())
    assert all(statuses[i] == "error" for i, _, _ in rows[:failures])
    tail = [latency[i] for i, _, _ in rows[failures:]]
    assert tail == sorted(tail, reverse=True) and tail[0] == max(
        v for k, v in latency.items() if statuses[k] == "ok"
    )


def test_recent_is_newest_first(store: Store) -> None:
    rows = sample(store, strategy="recent", n=3)
    assert [i for i, _, _ in rows] == ["math-99", "math-98", "math-97"]


def test_diverse_collapses_duplicate_prompts(store: Store) -> None:
    rows = sample(store, strategy="diverse", n=500, seed=3)
    # 3 tags x 50 distinct question numbers = 150 distinct prompts
    assert len(rows) == 150
    prompts = store.cursor().execute("SELECT id, prompt_hash FROM events").fetchall()
    by_id = dict(prompts)
    assert len({by_id[i] for i, _, _ in rows}) == 150
    assert sum(w for _, w, _ in rows) == pytest.approx(1000)


def test_feedback_prefers_low_scores(store: Store) -> None:
    scores = dict(store.cursor().execute("SELECT event_id, score FROM feedback").fetchall())
    counts: Counter[float] = Counter()
    for seed in range(40):
        counts.update(scores[i] for i, _, _ in sample(store, strategy="feedback", n=30, seed=seed))
    assert counts[0.0] > counts[0.5] > counts[1.0]
    rows = sample(store, strategy="feedback", n=30, seed=1)
    assert all(w >= 1.0 for _, w, _ in rows)


def test_pps_probabilities_cap_at_one() -> None:
    probabilities = pps_probabilities({"big": 100.0, "a": 1.0, "b": 1.0, "c": 2.0}, 2)
    assert probabilities["big"] == 1.0
    assert sum(probabilities.values()) == pytest.approx(2.0)
    assert probabilities["c"] == pytest.approx(2 * probabilities["a"])


def test_bad_n_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="positive"):
        sample(store, strategy="random", n=0)


def test_empty_population(tmp_path: Path) -> None:
    empty = stores.open_test_store(tmp_path / "e.duckdb")
    try:
        assert sample(empty, strategy="stratified", n=10) == []
        assert sample(empty, strategy="random", n=10) == []
    finally:
        empty.close()


def test_stratified_cut_off_gives_the_same_rows_as_the_full_window(store: Store) -> None:
    from bakeoff.collector.sampling import STRATUM_SQL, _stratified_rows, sample_key

    key = sample_key(store.cursor(), 9)
    counts = {"support": 36, "extraction": 18, "math": 6}
    sizes = dict(STRATA)
    tight = {h: int(2**64 * min(1.0, 4 * k / sizes[h] + 64 / sizes[h])) for h, k in counts.items()}
    full = dict.fromkeys(counts, 2**64 - 1)
    args = (store.cursor(), key, STRATUM_SQL["tag"], "TRUE", [], counts)
    assert _stratified_rows(*args, tight) == _stratified_rows(*args, full)


def test_a_replaced_sample_keeps_only_its_new_rows(store: Store) -> None:
    """A new name is saved without deleting anything; a replaced one loses every row of its old sample."""
    from bakeoff.collector.datasets import DatasetExists, create_sample

    def saved(name: str) -> list[tuple[str, float]]:
        return (
            store.cursor()
            .execute("SELECT event_id, weight FROM dataset_rows WHERE dataset = ? ORDER BY position", [name])
            .fetchall()
        )

    create_sample(store, "kept", SampleSpec("random", 30, seed=3))
    create_sample(store, "again", SampleSpec("random", 50, seed=4))
    with pytest.raises(DatasetExists):
        create_sample(store, "again", SampleSpec("random", 20, seed=5))
    summary = create_sample(store, "again", SampleSpec("random", 20, seed=5), replace=True)
    assert summary["size"] == 20
    expected = [(i, w) for i, w, _ in sample(store, strategy="random", n=20, seed=5)]
    assert saved("again") == expected
    assert len(saved("kept")) == 30
    (datasets,) = store.cursor().execute("SELECT count(*) FROM datasets WHERE name = 'again'").fetchone()
    assert datasets == 1
