"""The word index's integer layout against the plain scan of the same events: every search (words,
prefixes, filters, pages) and every tag count equals what a scan of every body finds, while the index
is empty, partial, complete, holding events that retention deleted, and after it removed them; its
event numbers survive a restart."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bakeoff.collector import search_page, text_search
from bakeoff.collector.routes_search import facet_values, search_events
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store, event_filters
from bakeoff.schema import validate_event

pytestmark = pytest.mark.embedded_only("the word index lives in the DuckDB file")

VOCABULARY = ["refund", "refunds", "refunded", "order", "orders", "ship", "shipping", "Genève", "naïve", "42"]
TAGS = ["support", "billing", "tenant-1", "tenant-12", "tenant_2", "100%"]
MODELS = ["gpt-a", "gpt-b", "claude-c"]
QUERIES = [
    "",  # the filters alone (a tag filter through the index's tag words)
    "refund",
    "refund ",
    "refunds ",
    "ship",
    "order 4",
    "order 42 ",
    "42 order",
    "genève",
    "NAÏVE ship",
    "zzz",
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"model": "gpt-b"},
    {"tag": "tenant-1"},
    {"model": "gpt-a", "tag": "support"},
]


def make_event(rng: random.Random, i: int, day: int) -> dict[str, Any]:
    words = " ".join(rng.choice(VOCABULARY) + rng.choice(["", "", str(rng.randint(0, 60))]) for _ in range(6))
    return {
        "id": f"ev{i:04d}",
        "ts": f"2026-03-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",  # ties on purpose
        "provider": "openai",
        "api": "chat.completions",
        "model": rng.choice(MODELS),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "request": {"messages": [{"role": "user", "content": words}]},
        "response": {"text": rng.choice(VOCABULARY), "finish_reason": "stop", "tool_calls": None},
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "status": "ok",
    }


def insert(store: Store, rows: list[dict[str, Any]]) -> None:
    store.insert_events(to_columns([validate_event(r) for r in rows], "sdk", datetime.now(UTC)))


def scanned(store: Store, q: str, filters: dict[str, Any]) -> list[str]:
    """Ground truth: every stored body matching the filters, newest first, read word by word."""
    where, params = event_filters(filters)
    rows = (
        store.cursor()
        .execute(f"SELECT id, body FROM events WHERE {where} ORDER BY ts DESC, id", params)
        .fetchall()
    )
    words, last_is_prefix = text_search.query_words(q)
    return [i for i, body in rows if text_search.matches(text_search.words_of(body), words, last_is_prefix)]


def assert_same_as_a_scan(store: Store, indexer: text_search.TextIndexer) -> None:
    for q in QUERIES:
        for filters in FILTERS:
            expected = scanned(store, q, filters)
            answer = search_events(store, indexer, filters, q, limit=1000)
            assert [e["id"] for e in answer["events"]] == expected, (q, filters)
            assert answer["total"] == len(expected)
            page = search_events(store, indexer, filters, q, limit=3, offset=2)
            assert [e["id"] for e in page["events"]] == expected[2:5]
            assert page["total"] == len(expected)
    for q in ["", "tenant", "TENANT-1", "_", "%", "b"]:
        for limit in (2, 50):
            plain = facet_values(store, None, "tag", q, limit)  # the scan of `events`
            assert facet_values(store, indexer, "tag", q, limit) == plain, (q, limit)


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Store]:
    opened = Store(str(tmp_path / "search.duckdb"))
    yield opened
    opened.close()


def stale(store: Store, indexer: text_search.TextIndexer) -> int:
    return indexer._census(store.cursor())[1]


def test_every_state_of_the_index_answers_as_a_scan(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(300)])
    indexer = text_search.TextIndexer(db)
    assert indexer.waiting == 300 and indexer.indexed == 0
    assert_same_as_a_scan(db, indexer)  # nothing indexed: the tail is every event

    monkeypatch.setattr(text_search, "CHUNK", 120)
    assert indexer.index_pending(force=True)
    assert indexer.indexed == 120 and indexer.waiting == 180
    assert_same_as_a_scan(db, indexer)  # partly indexed
    while indexer.index_pending(force=True):
        pass
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(300, 340)])  # a tail after the index
    assert_same_as_a_scan(db, indexer)
    indexer.compact()
    assert_same_as_a_scan(db, indexer)

    # An event committed long after it was received (older than the mark): found, then indexed.
    late = make_event(rng, 5000, 8)
    late["request"]["messages"][0]["content"] = "naïve refunded order 42"
    db.insert_events(to_columns([validate_event(late)], "sdk", datetime(2026, 1, 1, tzinfo=UTC)))
    assert stale(db, indexer) == -1
    assert "ev5000" in scanned(db, "naïve refunded order 42 ", {})
    assert_same_as_a_scan(db, indexer)
    assert indexer.index_pending(force=True)
    assert stale(db, indexer) == 0 and indexer.mark is not None
    assert_same_as_a_scan(db, indexer)

    # Retention deletes the first days: until the indexer's next round, searches skip them through
    # `events` and tags are counted by the scan; then the index holds none of them.
    indexed = {i for (i,) in db.cursor().execute("SELECT id FROM search_documents").fetchall()}
    deleted = db.delete_older_than(datetime(2026, 3, 4, tzinfo=UTC))
    assert deleted > 50
    kept = {i for (i,) in db.cursor().execute("SELECT id FROM events").fetchall()}
    assert stale(db, indexer) == len(indexed - kept) > 0
    assert_same_as_a_scan(db, indexer)
    while indexer.index_pending(force=True):
        pass
    assert stale(db, indexer) == 0
    cursor = db.cursor()
    (left,) = cursor.execute(
        "SELECT count(*) FROM search_postings WHERE doc NOT IN "
        "(SELECT doc FROM search_documents WHERE id IN (SELECT id FROM events))"
    ).fetchone() or (None,)
    assert left == 0
    assert indexer.indexed == db.count_events()
    assert_same_as_a_scan(db, indexer)

    # A deleted event sent again with other text is a new event: its old words find nothing.
    old = cursor.execute("SELECT min(id) FROM search_documents").fetchone()
    assert old is not None
    again = make_event(rng, 9999, 20)
    again["id"], again["request"]["messages"][0]["content"] = "ev0000", "naïve refunded"
    assert cursor.execute("SELECT count(*) FROM events WHERE id = 'ev0000'").fetchone() == (0,)
    insert(db, [again])
    assert_same_as_a_scan(db, indexer)
    while indexer.index_pending(force=True):
        pass
    assert_same_as_a_scan(db, indexer)
    db.delete_older_than(datetime(2026, 3, 21, tzinfo=UTC))  # everything
    assert_same_as_a_scan(db, indexer)
    indexer.index_pending(force=True)
    assert indexer.indexed == 0
    assert cursor.execute("SELECT count(*) FROM search_postings").fetchone() == (0,)
    assert cursor.execute("SELECT coalesce(sum(calls), 0) FROM search_tags").fetchone() == (0,)
    indexer.stop()


def test_event_numbers_survive_a_restart(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    insert(db, [make_event(rng, i, 5) for i in range(60)])
    monkeypatch.setattr(text_search, "CHUNK", 25)
    indexer = text_search.TextIndexer(db)
    indexer.index_pending(force=True)
    numbered = db.cursor().execute("SELECT doc, id FROM search_documents ORDER BY doc").fetchall()
    indexer.stop()
    again = text_search.TextIndexer(db)
    assert again.next_doc == 25 and again.indexed == 25
    while again.index_pending(force=True):
        pass
    docs = db.cursor().execute("SELECT doc, id FROM search_documents ORDER BY doc").fetchall()
    assert docs[:25] == numbered
    assert [doc for doc, _ in docs] == list(range(60))
    assert sorted(i for _, i in docs) == sorted(f"ev{i:04d}" for i in range(60))
    assert_same_as_a_scan(db, again)
    again.stop()


def tag_words(store: Store) -> list[tuple[str, int]]:
    rows = store.cursor().execute("SELECT word, doc FROM search_postings WHERE word LIKE ' %'").fetchall()
    return sorted((str(word), int(doc)) for word, doc in rows)


def expected_tag_words(store: Store) -> list[tuple[str, int]]:
    """A posting per tag of each indexed event, from the index's copy of its tags."""
    rows = store.cursor().execute("SELECT doc, tags FROM search_documents").fetchall()
    return sorted((text_search.tag_word(tag), int(doc)) for doc, tags in rows for tag in tags or ())


def test_an_index_made_before_tag_words_gets_them_once(db: Store) -> None:
    rng = random.Random(13)
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(200)])
    indexer = text_search.TextIndexer(db)
    while indexer.index_pending(force=True):
        pass
    assert indexer.version == text_search.INDEX_VERSION
    assert tag_words(db) == expected_tag_words(db) != []
    indexer.stop()

    # As an index of version 1 left it: no tag words, no version row. Until its indexer's next round,
    # a search by tag tests the tags of its matches; that round adds them, then indexes what waits.
    cursor = db.cursor()
    cursor.execute("DELETE FROM search_postings WHERE word LIKE ' %'")
    cursor.execute("DELETE FROM search_index_version")
    old = text_search.TextIndexer(db)
    assert old.version == 1
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(200, 240)])
    assert_same_as_a_scan(db, old)
    assert old.index_pending(force=True)
    assert old.version == text_search.INDEX_VERSION and old.indexed == 240
    assert tag_words(db) == expected_tag_words(db)
    assert_same_as_a_scan(db, old)
    old.stop()

    # Reopened: of the current version, nothing added twice.
    again = text_search.TextIndexer(db)
    assert again.version == text_search.INDEX_VERSION
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(240, 250)])
    assert again.index_pending(force=True)
    assert tag_words(db) == expected_tag_words(db)
    assert_same_as_a_scan(db, again)
    again.stop()


def rewrite(store: Store, event_id: str, prompt: str) -> None:
    """Rewrite a stored event's prompt in place, the way the OTLP log join does (see `rewriting`)."""
    cursor = store.cursor()
    (body,) = cursor.execute("SELECT body FROM events WHERE id = ?", [event_id]).fetchone() or (None,)
    event = orjson.loads(body)
    event["request"]["messages"][0]["content"] = prompt
    with text_search.rewriting(store) as forget, store.transaction() as cursor:
        cursor.execute("UPDATE events SET body = ? WHERE id = ?", [orjson.dumps(event).decode(), event_id])
        forget(cursor, [event_id])


def orphans(store: Store) -> int:
    (count,) = store.cursor().execute(
        "SELECT count(*) FROM search_postings WHERE doc NOT IN (SELECT doc FROM search_documents)"
    ).fetchone() or (0,)
    return int(count)


def test_rewritten_events_are_found_by_their_new_words(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(200)])
    indexer = text_search.TextIndexer(db)
    while indexer.index_pending(force=True):
        pass
    # Rewritten once indexed: out of the index in the rewrite's own transaction, found by its new words.
    rewrite(db, "ev0003", "naïve quokka")
    assert search_events(db, indexer, {}, "quokka")["total"] == 1
    assert_same_as_a_scan(db, indexer)
    assert indexer.index_pending(force=True)
    assert_same_as_a_scan(db, indexer)
    assert [e["id"] for e in search_events(db, indexer, {}, "quokka")["events"]] == ["ev0003"]

    # Rewritten while the indexer's round that read its old body is under way: left to the next round.
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(200, 260)])
    words_of = text_search.words_of

    def rewritten_meanwhile(body: str) -> set[str]:
        if not db.cursor().execute("SELECT 1 FROM events WHERE body LIKE '%walrus%'").fetchall():
            rewrite(db, "ev0250", "walrus refunds")
        return words_of(body)

    monkeypatch.setattr(text_search, "words_of", rewritten_meanwhile)
    assert indexer.index_pending(force=True)
    monkeypatch.setattr(text_search, "words_of", words_of)
    indexed = {i for (i,) in db.cursor().execute("SELECT id FROM search_documents").fetchall()}
    assert "ev0250" not in indexed and {f"ev{i:04d}" for i in range(200, 260)} - indexed == {"ev0250"}
    assert_same_as_a_scan(db, indexer)
    assert search_events(db, indexer, {}, "walrus")["total"] == 1
    assert indexer.index_pending(force=True)
    assert_same_as_a_scan(db, indexer)

    # Rewritten long after the mark: every search reads what the index lacks, and the indexer takes it
    # in at its next round, not MAX_WAIT_S later.
    for table in ("search_documents", "events"):
        db.cursor().execute(
            f"UPDATE {table} SET received_at = received_at - INTERVAL 10 DAY WHERE id < 'ev0050'"
        )
    assert stale(db, indexer) == 0
    rewrite(db, "ev0010", "order lighthouse")
    assert stale(db, indexer) == -1
    assert_same_as_a_scan(db, indexer)
    assert search_events(db, indexer, {}, "lighthouse")["total"] == 1
    assert indexer.index_pending()  # not forced
    assert stale(db, indexer) == 0
    assert_same_as_a_scan(db, indexer)

    # The postings of the old bodies match no event; compaction drops them.
    assert orphans(db) > 0
    indexer.compact()
    assert orphans(db) == 0
    assert_same_as_a_scan(db, indexer)
    indexer.stop()


def test_deep_pages_answer_as_a_scan(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages beyond search_page.TOP_MAX come from every match written once to a table: the same answers."""
    rng = random.Random(5)
    insert(db, [make_event(rng, i, 1 + i % 9) for i in range(150)])
    indexer = text_search.TextIndexer(db)
    monkeypatch.setattr(text_search, "CHUNK", 100)
    assert indexer.index_pending(force=True)  # 100 indexed, 50 read as the index's tail
    monkeypatch.setattr(search_page, "TOP_MAX", 3)  # limit=3 at offset 0 only takes the aggregate
    assert_same_as_a_scan(db, indexer)
    indexer.stop()
