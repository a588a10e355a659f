"""The word index behind `GET /v1/search`: indexed and not-yet-indexed events are found alike, words
match whole (the last as a prefix), a store without the index is scanned, and results equal a scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bakeoff.collector import text_search
from bakeoff.collector.routes_search import search_events
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store
from bakeoff.schema import validate_event

PROMPTS = [
    "Where is my REFUND for order 4242?",
    "refunds take five days",
    "Réservation d'hôtel à Genève",
    'line one\nsecond line with a "quote"',
    "order 42 shipped",
    "nothing to see",
]


def event(i: int, text: str, model: str = "gpt-a") -> dict:
    return {
        "id": f"ev{i:03d}",
        "ts": f"2026-03-01T10:{i % 60:02d}:00Z",
        "provider": "openai",
        "api": "chat.completions",
        "model": model,
        "tags": ["support"],
        "request": {"messages": [{"role": "user", "content": text}]},
        "response": {"text": f"answer {i}", "finish_reason": "stop", "tool_calls": None},
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "status": "ok",
    }


def insert(store: Store, rows: list[dict]) -> None:
    store.insert_events(to_columns([validate_event(r) for r in rows], "sdk", datetime.now(UTC)))


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Store]:
    opened = Store(str(tmp_path / "search.duckdb"))
    yield opened
    opened.close()


def found(store: Store, indexer: text_search.TextIndexer | None, q: str, **filters: str) -> list[str]:
    answer = search_events(store, indexer, filters, q, limit=100)
    assert answer["total"] == len(answer["events"])
    return sorted(e["id"] for e in answer["events"])


QUERIES = {
    "refund": ["ev000", "ev001"],  # a prefix: REFUND and refunds
    "refund ": ["ev000"],  # a whole word
    "ORDER 42": ["ev000", "ev004"],  # 42 as a prefix: 4242 and 42
    "order 42 ": ["ev004"],
    "genève": ["ev002"],
    "hôtel": ["ev002"],
    "second": ["ev003"],  # after a line break
    "quote": ["ev003"],  # inside escaped quotes
    "days five": ["ev001"],  # any order
    "answer 5": ["ev005"],
    "missing": [],
}


@pytest.mark.embedded_only("the word index lives in the DuckDB file")
def test_the_index_and_the_tail_find_the_same_events(db: Store) -> None:
    insert(db, [event(i, text) for i, text in enumerate(PROMPTS)])
    indexer = text_search.TextIndexer(db)
    before = {q: found(db, indexer, q) for q in QUERIES}  # nothing indexed: every event scanned
    assert before == QUERIES
    assert indexer.index_pending(force=True)
    assert indexer.status()["indexed"] == len(PROMPTS)
    assert {q: found(db, indexer, q) for q in QUERIES} == QUERIES
    # Events received after the index was built are found by the scan of what it lacks.
    insert(db, [event(10, "a late refund"), event(11, "another order 4242")])
    assert found(db, indexer, "refund") == ["ev000", "ev001", "ev010"]
    assert found(db, indexer, "order 4242") == ["ev000", "ev011"]
    assert not indexer.index_pending()  # two events wait for more (or MAX_WAIT_S)
    assert indexer.index_pending(force=True)
    assert found(db, indexer, "refund") == ["ev000", "ev001", "ev010"]
    assert indexer.status()["indexed"] == len(PROMPTS) + 2
    indexer.compact()
    late = {"refund": ["ev010"], "refund ": ["ev010"], "ORDER 42": ["ev011"], "answer 1": ["ev010", "ev011"]}
    expected = {q: sorted(ids + late.get(q, [])) for q, ids in QUERIES.items()}
    assert {q: found(db, indexer, q) for q in QUERIES} == expected
    # Filters apply to indexed and scanned events alike; a query without words matches literally.
    insert(db, [event(12, "refund please", model="gpt-b")])
    assert found(db, indexer, "refund", model="gpt-b") == ["ev012"]
    assert found(db, indexer, "?") == ["ev000"]
    indexer.stop()


@pytest.mark.embedded_only("the word index lives in the DuckDB file")
def test_a_reopened_index_keeps_its_mark(db: Store) -> None:
    insert(db, [event(i, f"refund number {i}") for i in range(50)])
    indexer = text_search.TextIndexer(db, interval_s=0.05)
    indexer.index_pending(force=True)
    mark = indexer.mark
    indexer.stop()
    again = text_search.TextIndexer(db)
    assert again.mark == mark and again.indexed == 50
    assert len(found(db, again, "refund")) == 50
    again.stop()


@pytest.mark.embedded_only("the word index lives in the DuckDB file")
def test_a_long_tail_is_scanned_in_sql(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    insert(db, [event(i, text) for i, text in enumerate(PROMPTS)])
    indexer = text_search.TextIndexer(db)
    monkeypatch.setattr(text_search, "TAIL_LIMIT", 2)  # six events wait: more than the limit
    assert {q: found(db, indexer, q) for q in QUERIES} == QUERIES
    indexer.stop()


def test_a_store_without_the_index_is_scanned(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    insert(db, [event(i, text) for i, text in enumerate(PROMPTS)])
    monkeypatch.setattr(db, "kind", "ducklake", raising=False)
    assert not text_search.indexed_kind(db)
    assert search_events(db, None, {}, "refund")["index"] == {"kind": "scan"}
    assert {q: found(db, None, q) for q in QUERIES} == QUERIES  # the same words match as with the index
    assert (
        not db.cursor()
        .execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'search_postings'")
        .fetchall()
    )
