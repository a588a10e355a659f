"""Text search over the stored events: a word index kept beside `events`, and a scan of what it lacks.

A query matches the events whose text holds each of its words, the last one as a prefix ("refund
ord" finds "refunds ... order"), case-insensitively, in any order. Words are runs of letters and digits
of any script, read from the strings of the stored body's request, response (answer, tool calls), error,
attributes and tags.

The index numbers the events it holds (a *doc*, 0, 1, 2, ... in the order it indexed them, stored, so
the same across restarts). It lives in the DuckDB file, which one collector opens, so one indexer
numbers; a DuckLake shared by several replicas has no index (see below), hence no numbers to agree on.
It is three tables:

- `search_postings` (word, doc): one row per distinct word of an event, joined on integers, and one
  per tag of the event (its *tag word*, the tag verbatim after a space: no word holds a space, and no
  prefix of a word reaches one), so that a search filtered by a tag intersects the tag's events like
  one more word instead of testing the tags of every match;
- `search_documents` (doc, id, received_at and a copy of the columns the filters read: ts, project,
  provider, api, model, status, tags): a search filters and orders its matches here without joining
  the event ids (strings) of `events`. Those columns never change once an event is stored (an OTLP
  log record folded into its span's event changes its text, usage and attributes only);
- `search_tags` (tag, calls): how many indexed events carry each tag, as rows to add up (one per tag
  per indexed chunk, negative for events deleted), for the tag filter's typeahead.

:class:`TextIndexer` appends the events not indexed yet in the background, in chunks, each chunk's
words sorted so that DuckDB's zone maps skip most of the table on a lookup; once the rows appended
since it was last sorted reach a quarter of it (`COMPACT_SHARE`, at least `COMPACT_MIN_ROWS`), it
rewrites the whole table sorted: each row is rewritten a bounded number of times, and a lookup scans at
most that unsorted part. Events deleted (retention) are removed from the index at its next round.

An event whose body is rewritten in place (an OTLP log join folds its records into its span's event:
:func:`rewriting`) leaves the index in the rewrite's own transaction: its `search_documents` row goes
(its old postings then match no event, and the next compaction drops them), searches read its new
body with the other events the index lacks, and the indexer's next round numbers it again.

Results are complete and exact: the events the index may lack are those received since its *mark* (the
newest indexed `received_at` less `OVERLAP_S`, since events are committed in about the order they were
received) that are not in `search_documents`; a query reads their bodies the way the indexer does.
Whether the index holds only stored events is one count (events = indexed + waiting); while it does not
(events deleted since its last round), a search joins its matches to `events` instead, and the tag
counts are those of the plain scan; the same count notices an event committed later than the mark
allows, and a search then reads every event the index lacks until the indexer has taken it in.
DuckDB's own full-text extension was measured first: its index cannot be appended to, and over 1M
events it took over ten minutes to build and scanned every document at query time.

A store that is not a DuckDB file (a DuckLake store: no index of ours there) is searched by a scan
instead: a regular expression of each word over the JSON of the same fields.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from bakeoff.collector.store import Store, event_filters
from bakeoff.schema import utc_timestamp

logger = logging.getLogger("bakeoff.collector")

WORD = re.compile(r"[^\W_]+")  # letters and digits, any script
TEXT_FIELDS = ("request", "response", "error", "attributes", "tags")  # of the stored body
OVERLAP_S = 3600.0  # how far out of order (by received_at) events may be committed
CHUNK = 20_000  # events indexed per transaction
MIN_CHUNK = 2_000  # fewer waiting are indexed only once the oldest has waited MAX_WAIT_S
MAX_WAIT_S = 10.0
COMPACT_SHARE = 0.25  # rows appended unsorted, as a share of the table, before it is rewritten sorted
COMPACT_MIN_ROWS = 500_000
TAIL_LIMIT = 50_000  # events read in Python at most per query; beyond, the tail is scanned in SQL
MAX_WORDS = 8  # words of a query looked up; the rest are ignored
TAG_ROWS_MAX = 200_000  # search_tags rows appended before they are added up (one per tag)
# What search_documents copies of an event: what the filters of a search read, and what finds it again.
DOC_COLUMNS = ("id", "received_at", "ts", "project", "provider", "api", "model", "status", "tags")
# Times as epoch microseconds: fetching TIMESTAMPTZ values, even as Arrow, would need pytz.
_DOC_SELECT = ", ".join(
    f"epoch_us({name}) AS {name}" if name in ("received_at", "ts") else name for name in DOC_COLUMNS
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_postings (word VARCHAR NOT NULL, doc BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS search_documents (
    doc BIGINT NOT NULL, id VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL, ts TIMESTAMPTZ NOT NULL,
    project VARCHAR NOT NULL, provider VARCHAR NOT NULL, api VARCHAR NOT NULL, model VARCHAR NOT NULL,
    status VARCHAR NOT NULL, tags VARCHAR[]
);
CREATE TABLE IF NOT EXISTS search_tags (tag VARCHAR NOT NULL, calls BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS search_index_version (version INTEGER NOT NULL);
"""
# 1: words only; 2: tag words too (an index of version 1 gets them from search_documents' tags).
INDEX_VERSION = 2


def text_of(body: str) -> str:
    """The text of a stored body (JSON), lower-cased: every string in its request, response, error,
    attributes (keys too) and tags, joined by spaces; not its numbers, times or ids."""
    event = orjson.loads(body)
    texts: list[str] = []
    for field in TEXT_FIELDS:
        _strings(event.get(field), texts)
    return " ".join(texts).lower()


def words_of(body: str) -> set[str]:
    """The distinct words, lower-cased, of the text of a stored body (see :func:`text_of`)."""
    return set(WORD.findall(text_of(body)))


def _strings(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            into.append(key)
            _strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)


def matches(words: set[str], wanted: list[str], last_is_prefix: bool) -> bool:
    """Whether an event of these words holds every wanted word (the last as a prefix)."""
    whole = wanted[:-1] if last_is_prefix else wanted
    if not all(w in words for w in whole):
        return False
    return not last_is_prefix or any(w.startswith(wanted[-1]) for w in words)


def matcher(wanted: list[str], last_is_prefix: bool) -> Callable[[str], bool]:
    """Whether a :func:`text_of` holds every wanted word (the last as a prefix): the test of
    :func:`matches` without splitting the whole text into words. A word of the text is a longest run of
    letters and digits, so `w` is one where it is found with no letter or digit either side."""
    edge = r"(?<![^\W_])"
    patterns = [
        re.compile(edge + re.escape(w) + ("" if last_is_prefix and n == len(wanted) - 1 else r"(?![^\W_])"))
        for n, w in enumerate(wanted)
    ]
    return lambda text: all(pattern.search(text) for pattern in patterns)


def tag_word(tag: str) -> str:
    """The posting word of a tag: the tag verbatim (case kept, as the tag filter compares it) after a
    space, which no word of a text holds."""
    return " " + tag


def query_words(q: str) -> tuple[list[str], bool]:
    """The words of a query (at most MAX_WORDS) and whether the last one is a prefix (the query does
    not end with a separator: the user may still be typing it)."""
    words = list(dict.fromkeys(WORD.findall(q.lower())))[:MAX_WORDS]
    return words, bool(words) and bool(q) and WORD.fullmatch(q[-1]) is not None


def indexed_kind(store: Store) -> bool:
    """Whether the store is a DuckDB file, where the word index lives (a DuckLake store has no index)."""
    return getattr(store, "kind", "embedded") == "embedded"


def _upper(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class TextIndexer:
    """The word index of one store, appended to by a background thread (or by :meth:`index_pending`)."""

    def __init__(self, store: Store, interval_s: float = 1.0) -> None:
        self.store = store
        self.interval_s = interval_s
        self.mark: float | None = None  # epoch seconds: events received before it are all indexed
        self.indexed = 0  # rows in search_documents
        self.next_doc = 0  # the number the next event indexed gets
        self.unsorted_rows = 0  # search_postings rows appended since the table was last sorted
        self.tag_rows = 0  # search_tags rows appended since they were last added up
        self._waiting_since: float | None = None
        # Held by a rewrite of events (see `rewriting`) from before its transaction to after its commit,
        # and by this indexer while it writes `search_documents`: a rewrite and an indexed chunk follow
        # each other. `_rewritten`: the events rewritten since this round began.
        self._rewrite_lock = threading.Lock()
        self._rewritten: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor = store.connection.cursor()  # this indexer's own: it runs on its own thread
        self._cursor.execute(SCHEMA)
        self.version = self._stored_version(self._cursor)
        if self.version == 0:  # a new index: of the current version from its first event on
            self._cursor.execute("INSERT INTO search_index_version VALUES (?)", [INDEX_VERSION])
            self.version = INDEX_VERSION
        self._refresh_mark()
        self.waiting, _ = self._census(self._cursor)  # events the index lacks, as of its last round
        _indexers[store] = self

    # -- the background thread -----------------------------------------------------------------------

    def start(self) -> TextIndexer:
        self._thread = threading.Thread(target=self._loop, name="bakeoff-text-index", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if _indexers.get(self.store) is self:
            del _indexers[self.store]
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with contextlib.suppress(duckdb.Error):
            self._cursor.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.index_pending() and not self._stop.is_set():
                    pass
            except duckdb.Error as exc:  # a full disk, a reopened store: the next round tries again
                logger.warning("text index: %s", exc)
                with contextlib.suppress(duckdb.Error):  # the store may have reopened its connection
                    self._cursor = self.store.connection.cursor()
            self._stop.wait(self.interval_s)

    # -- indexing --------------------------------------------------------------------------------------

    def _refresh_mark(self) -> None:
        newest, count, last = self._cursor.execute(
            "SELECT epoch_us(max(received_at)), count(*), max(doc) FROM search_documents"
        ).fetchone() or (None, 0, None)
        self.indexed = int(count)
        self.next_doc = 0 if last is None else int(last) + 1
        if newest is not None:
            self.mark = int(newest) / 1e6 - OVERLAP_S

    def _tail_sql(self, whole: bool = False) -> tuple[str, list[Any]]:
        """A condition over `events` true of the events the index lacks, and its parameters (`whole`:
        not only those received since the mark)."""
        if self.mark is None or whole:
            return "id NOT IN (SELECT id FROM search_documents)", []
        return (
            # Times as epoch seconds: a datetime parameter costs DuckDB a failed import of pytz.
            "received_at >= to_timestamp(?) "
            "AND id NOT IN (SELECT id FROM search_documents WHERE received_at >= to_timestamp(?))",
            [self.mark, self.mark],
        )

    def _census(self, cursor: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        """The events the index lacks, and how many of its events are no longer stored (deleted, or
        stored again since): in one statement, so that both describe the same snapshot."""
        tail, params = self._tail_sql()
        waiting, stale = cursor.execute(
            f"SELECT (SELECT count(*) FROM events WHERE {tail}), "
            f"(SELECT count(*) FROM search_documents) + (SELECT count(*) FROM events WHERE {tail}) "
            "- (SELECT count(*) FROM events)",
            [*params, *params],
        ).fetchone() or (0, 0)
        # stale < 0 is an event older than the mark and not indexed: readers take the exact path too,
        # and the indexer's next round takes it in.
        return int(waiting), int(stale)

    def index_pending(self, force: bool = False) -> bool:
        """Index the next chunk of events the index lacks (first removing the events deleted since the
        last round); True when a chunk was indexed.

        A few waiting events are left to the scan until MAX_WAIT_S has passed (or `force`): an index
        made of many tiny chunks would be slower to read than the scan of them."""
        cursor = self._cursor
        if self.version < INDEX_VERSION:
            self.upgrade()
        with self._rewrite_lock:  # before this round reads any body: only later rewrites matter to it
            self._rewritten.clear()
        self.waiting, stale = self._census(cursor)
        if stale > 0:
            self.remove_deleted()
        elif stale < 0:
            # An event older than the mark that the index lacks: committed later than OVERLAP_S allows,
            # or rewritten (taken out of the index). Indexed now, however few: until then every search
            # reads all of `events` for what the index lacks, not only what came since the mark.
            self.mark = None  # this round, the tail is every event not indexed (the mark is then reset)
            self.waiting, _ = self._census(cursor)
            force = True
        if not self.waiting:
            self._waiting_since = None
            return False
        now = time.monotonic()
        self._waiting_since = self._waiting_since or now
        if self.waiting < MIN_CHUNK and not force and now - self._waiting_since < MAX_WAIT_S:
            return False
        tail, params = self._tail_sql()
        chunk = cursor.execute(
            f"SELECT {_DOC_SELECT}, body FROM events WHERE {tail} ORDER BY received_at LIMIT ?",
            [*params, CHUNK],
        ).to_arrow_table()
        if not chunk.num_rows:  # taken out of the tail since the census (deleted)
            return False
        for name in ("received_at", "ts"):  # back from microseconds (see _DOC_SELECT)
            at = chunk.schema.get_field_index(name)
            chunk = chunk.set_column(at, name, chunk.column(at).cast(pa.timestamp("us", tz="UTC")))
        first = self.next_doc
        word_column: list[str] = []
        doc_column: list[int] = []
        bodies, tag_lists = chunk.column("body").to_pylist(), chunk.column("tags").to_pylist()
        for doc, (body, tags) in enumerate(zip(bodies, tag_lists, strict=True), start=first):
            found = words_of(body)
            found.update(tag_word(tag) for tag in tags or () if tag is not None)
            word_column.extend(found)
            doc_column.extend([doc] * len(found))
        words = pa.table(
            {"word": pa.array(word_column, pa.string()), "doc": pa.array(doc_column, pa.int64())}
        )
        docs = chunk.drop_columns(["body"]).append_column(
            "doc", pa.array(range(first, first + chunk.num_rows), pa.int64())
        )
        with self._rewrite_lock:
            if self._rewritten:  # rewritten since this chunk was read: the next round reads them again
                docs, words = _without(docs, words, self._rewritten)
            self._insert_chunk(docs, words)
        self._waiting_since = None
        self.waiting -= chunk.num_rows
        self._refresh_mark()
        self.unsorted_rows += words.num_rows
        # Not while catching up (more waiting): the table is sorted once the backlog is indexed.
        caught_up = self.waiting <= 0
        if caught_up and self.unsorted_rows >= max(COMPACT_MIN_ROWS, COMPACT_SHARE * self._word_rows()):
            self.compact()
        elif caught_up and self.tag_rows >= TAG_ROWS_MAX:
            self._add_up_tags()
        return True

    def _insert_chunk(self, docs: pa.Table, words: pa.Table) -> None:
        """Append a chunk's documents, postings and tag counts in one transaction."""
        cursor = self._cursor
        cursor.register("new_words", words)
        cursor.register("new_docs", docs)
        try:
            with _transaction(cursor):
                cursor.execute(
                    "INSERT INTO search_postings SELECT word, doc FROM new_words ORDER BY word, doc"
                )
                cursor.execute("INSERT INTO search_documents BY NAME SELECT * FROM new_docs")
                (tags,) = cursor.execute(
                    "INSERT INTO search_tags SELECT tag, count(*) FROM "
                    "(SELECT unnest(tags) AS tag FROM new_docs) WHERE tag IS NOT NULL GROUP BY tag"
                ).fetchone() or (0,)
        finally:
            cursor.unregister("new_words")
            cursor.unregister("new_docs")
        self.tag_rows += int(tags)

    @staticmethod
    def _stored_version(cursor: duckdb.DuckDBPyConnection) -> int:
        """The index's version: without a version row, 1 when it holds anything (made before tag
        words), else 0 (a new index)."""
        row = cursor.execute(
            "SELECT (SELECT max(version) FROM search_index_version), "
            "(SELECT count(*) FROM (SELECT 1 FROM search_documents LIMIT 1)) "
            "+ (SELECT count(*) FROM (SELECT 1 FROM search_postings LIMIT 1))"
        ).fetchone() or (None, 0)
        if row[0] is not None:
            return int(row[0])
        return 1 if row[1] else 0

    def upgrade(self) -> None:
        """Bring an index of an earlier version to INDEX_VERSION, in one transaction: the tag words of
        every indexed event, from `search_documents`' copy of its tags. Run by the indexer's own round,
        before it indexes a chunk, so that no event gets them twice. Until it commits, a search with a
        tag filter tests the tags of its matches (see :meth:`matching`)."""
        cursor = self._cursor
        with _transaction(cursor):
            version = self._stored_version(cursor)
            if version < 2:
                (added,) = cursor.execute(
                    "INSERT INTO search_postings SELECT ' ' || tag, doc FROM "
                    "(SELECT unnest(tags) AS tag, doc FROM search_documents) WHERE tag IS NOT NULL "
                    "ORDER BY 1, 2"
                ).fetchone() or (0,)
                self.unsorted_rows += int(added)
            cursor.execute("DELETE FROM search_index_version")
            cursor.execute("INSERT INTO search_index_version VALUES (?)", [INDEX_VERSION])
        self.version = INDEX_VERSION

    def remove_deleted(self) -> int:
        """Remove from the index the events no longer stored (retention deleted them; one stored again
        since counts as a new event, its old words removed); return how many."""
        cursor = self._cursor
        # Under the rewrite lock: a rewrite deleting the same row at once (an event stored again since,
        # then rewritten) would fail one of the two on a conflict.
        with self._rewrite_lock, _transaction(cursor):
            (gone,) = cursor.execute(
                "CREATE TEMP TABLE search_gone AS SELECT doc, tags FROM search_documents d WHERE NOT EXISTS "
                "(SELECT 1 FROM events e WHERE e.id = d.id AND e.received_at = d.received_at)"
            ).fetchone() or (0,)
            if gone:
                cursor.execute("DELETE FROM search_postings WHERE doc IN (SELECT doc FROM search_gone)")
                cursor.execute("DELETE FROM search_documents WHERE doc IN (SELECT doc FROM search_gone)")
                cursor.execute(
                    "INSERT INTO search_tags SELECT tag, -count(*) FROM "
                    "(SELECT unnest(tags) AS tag FROM search_gone) WHERE tag IS NOT NULL GROUP BY tag"
                )
            cursor.execute("DROP TABLE search_gone")
        self._refresh_mark()
        return int(gone)

    def compact(self) -> None:
        """Rewrite `search_postings` sorted by word, and add up `search_tags` (one transaction: searches
        see the old or the new)."""
        cursor = self._cursor
        with _transaction(cursor):
            cursor.execute("CREATE TEMP TABLE search_postings_sorted AS SELECT * FROM search_postings")
            cursor.execute("DELETE FROM search_postings")
            cursor.execute(  # without the postings of events taken out of the index (rewritten)
                "INSERT INTO search_postings SELECT * FROM search_postings_sorted "
                "WHERE doc IN (SELECT doc FROM search_documents) ORDER BY word, doc"
            )
            cursor.execute("DROP TABLE search_postings_sorted")
            self._add_up_tags_sql(cursor)
        self.unsorted_rows = 0
        self.tag_rows = 0

    def _add_up_tags(self) -> None:
        with _transaction(self._cursor):
            self._add_up_tags_sql(self._cursor)
        self.tag_rows = 0

    @staticmethod
    def _add_up_tags_sql(cursor: duckdb.DuckDBPyConnection) -> None:
        """One row per tag in `search_tags` (tags no indexed event carries any more left out)."""
        cursor.execute(
            "CREATE TEMP TABLE search_tags_sum AS SELECT tag, sum(calls)::BIGINT AS calls "
            "FROM search_tags GROUP BY tag HAVING sum(calls) <> 0"
        )
        cursor.execute("DELETE FROM search_tags")
        cursor.execute("INSERT INTO search_tags SELECT * FROM search_tags_sum ORDER BY tag")
        cursor.execute("DROP TABLE search_tags_sum")

    def _word_rows(self) -> int:
        row = self._cursor.execute("SELECT count(*) FROM search_postings").fetchone()
        return int(row[0]) if row else 0

    # -- searching -------------------------------------------------------------------------------------

    def matching(self, store: Store, q: str, filters: dict[str, Any]) -> Matches | None:
        """The events matching `q` and the API's `filters` (see `event_filters`), indexed or not; None
        when `q` has no word (the caller then matches the text otherwise), or is empty without a tag
        filter the index can serve (the caller then reads `events`). Its SQL reads a temporary table of
        the store's cursor (`search_hits`), made here: read it in the same transaction."""
        words, last_is_prefix = query_words(q)
        cursor = store.cursor()
        tag = filters.get("tag")
        by_tag = bool(tag) and self._has_tag_words(cursor)
        if not words and (q or not by_tag):
            return None
        where, params = event_filters(filters)
        exact = "SELECT doc FROM search_postings WHERE word = ?"
        prefix = "SELECT doc FROM search_postings WHERE word >= ? AND word < ?"
        lookups = [(exact, [w]) for w in words[:-1]]
        if words:
            last = words[-1]
            lookups.append((prefix, [last, _upper(last)]) if last_is_prefix else (exact, [last]))
        indexed_where, indexed_params = where, params
        if by_tag:
            # The tag's events, intersected like a word's, in place of testing every match's tags.
            lookups.append((exact, [tag_word(str(tag))]))
            indexed_where, indexed_params = event_filters({k: v for k, v in filters.items() if k != "tag"})
        if len(lookups) > 1:
            # DuckDB builds its hash table on the right of an INTERSECT: the rarest word last ("4242
            # customer" costs 5x more the other way round at 1M events).
            counts = cursor.execute(
                "SELECT " + ", ".join(f"(SELECT count(*) FROM ({sql}))" for sql, _ in lookups),
                [p for _, lookup_params in lookups for p in lookup_params],
            ).fetchone()
            lookups = [lookup for _, lookup in sorted(zip(counts or (), lookups, strict=True), reverse=True)]
        elif last_is_prefix and not self._one_word(cursor, *lookups[0][1]):
            lookups = [(prefix.replace("SELECT doc", "SELECT DISTINCT doc"), lookups[0][1])]  # refund(s)
        # The docs holding every word, once, in this cursor's temporary table: the caller reads the
        # matches more than once (a count, then a page), and intersecting common words costs the most.
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE search_hits AS " + " INTERSECT ".join(sql for sql, _ in lookups),
            [p for _, lookup_params in lookups for p in lookup_params],
        )
        _, stale = self._census(cursor)
        if stale == 0:  # the index holds stored events only: filtered and ordered on its own copy
            # A join, not `doc IN (...)`: DuckDB builds the (smaller) matches' side and skips the rest.
            indexed = (
                f"SELECT ts, id FROM search_documents JOIN search_hits USING (doc) WHERE {indexed_where}"
            )
        else:  # events deleted since its last round: only the matches still stored, found in `events`
            indexed = (
                f"SELECT ts, id FROM events WHERE {where} AND EXISTS (SELECT 1 FROM search_documents d "
                "WHERE d.doc IN (SELECT doc FROM search_hits) AND d.id = events.id "
                "AND d.received_at = events.received_at)"
            )
            indexed_params = params
        tail, tail_params = self._tail_sql(whole=stale < 0)
        if not words:  # the tag filter alone: every event the index lacks that matches the filters
            found = cursor.execute(
                f"SELECT epoch_us(ts), id FROM events WHERE {tail} AND {where}", [*tail_params, *params]
            ).fetchall()
            return Matches(indexed, list(indexed_params), found)
        # The events the index lacks are read here, with the index's own reading of a body: the same
        # words match the same events whether they are indexed yet or not (only the bodies holding
        # every word as a substring are read). While the index catches up (more than TAIL_LIMIT
        # waiting at its last round), they are scanned in SQL instead.
        if self.waiting > TAIL_LIMIT:
            condition, scan_params = scan_condition(q) or ("TRUE", [])
            found = cursor.execute(
                f"SELECT epoch_us(ts), id FROM events WHERE {tail} AND {where} AND {condition}",
                [*tail_params, *params, *scan_params],
            ).fetchall()
            return Matches(indexed, list(indexed_params), found)
        # contains(lower(body), w), not ILIKE: the same test, twice as fast over the same bodies.
        substrings = " AND ".join("contains(lower(body), ?)" for _ in words)
        rows = cursor.execute(
            f"SELECT epoch_us(ts), id, body FROM events WHERE {tail} AND {where} AND {substrings}",
            [*tail_params, *params, *(_encoded(w) for w in words)],
        ).fetchall()
        holds = matcher(words, last_is_prefix)
        return Matches(
            indexed, list(indexed_params), [(ts, i) for ts, i, body in rows if holds(text_of(body))]
        )

    @staticmethod
    def _has_tag_words(cursor: duckdb.DuckDBPyConnection) -> bool:
        """Whether the index, as this cursor's snapshot sees it, holds its events' tag words."""
        row = cursor.execute("SELECT max(version) FROM search_index_version").fetchone()
        return bool(row and row[0] is not None and row[0] >= 2)

    def _one_word(self, cursor: duckdb.DuckDBPyConnection, low: str, high: str) -> bool:
        """Whether no indexed word but `low` itself lies in [low, high) (a prefix typed whole, often)."""
        return (
            cursor.execute(
                "SELECT 1 FROM search_postings WHERE word > ? AND word < ? LIMIT 1", [low, high]
            ).fetchone()
            is None
        )

    def tag_counts(self, store: Store, pattern: str, limit: int) -> list[tuple[str, int]] | None:
        """The tags matching the ILIKE `pattern` (escaped by backslashes) with their number of calls,
        busiest first, from the index's counts and the events it lacks; None while the index holds
        deleted events (the caller then counts from `events`)."""
        cursor = store.cursor()
        _, stale = self._census(cursor)
        if stale != 0:
            return None
        tail, tail_params = self._tail_sql()
        waiting = f"SELECT unnest(tags) AS v FROM events WHERE {tail}"
        rows = cursor.execute(
            "SELECT v, sum(calls)::BIGINT AS calls FROM ("
            "SELECT tag AS v, calls FROM search_tags WHERE tag ILIKE ? ESCAPE '\\' UNION ALL "
            f"SELECT v, 1 FROM ({waiting}) WHERE v ILIKE ? ESCAPE '\\'"
            ") GROUP BY v HAVING sum(calls) > 0 ORDER BY calls DESC, v LIMIT ?",
            [pattern, *tail_params, pattern, limit],
        ).fetchall()
        return [(str(tag), int(calls)) for tag, calls in rows]

    def status(self) -> dict[str, Any]:
        """What the index holds, for the search answer (so that a page can say what was scanned)."""
        return {
            "kind": "words",
            "indexed": self.indexed,
            "waiting": self.waiting,
            "mark": None if self.mark is None else utc_timestamp(datetime.fromtimestamp(self.mark, UTC)),
        }


@dataclass(frozen=True)
class Matches:
    """The events matching a query: `sql` (with `params`) selects (ts, id) of those the index holds,
    or of all of them by a scan of every body (`scan`); `found` are those among the events it lacks,
    read here, as (ts in epoch microseconds, id)."""

    sql: str
    params: list[Any]
    found: list[tuple[int, str]]
    scan: bool = False


_indexers: weakref.WeakKeyDictionary[Store, TextIndexer] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def rewriting(store: Store) -> Iterator[Callable[[duckdb.DuckDBPyConnection, list[str]], None]]:
    """Around a write transaction of `store` that rewrites the bodies of stored events (entered before
    it, left after its commit): yields `forget(cursor, ids)`, to be called within the transaction with
    the ids rewritten, which takes those events out of the word index in that same transaction.
    Searches then read their new bodies (the index lacks them) and the indexer's next round indexes them
    again. A round that read one of them before the rewrite committed leaves it out (the rewrite holds
    the indexer's lock until then, and names the events it rewrote). Nothing to do without an index."""
    indexer = _indexers.get(store)
    rewritten: list[str] = []

    def forget(cursor: duckdb.DuckDBPyConnection, ids: list[str]) -> None:
        if ids and indexed_kind(store) and _has_index(cursor):
            _forget(cursor, ids)
        rewritten.extend(ids)

    with indexer._rewrite_lock if indexer is not None else contextlib.nullcontext():
        yield forget
        if indexer is not None:
            indexer._rewritten.update(rewritten)


def _has_index(cursor: duckdb.DuckDBPyConnection) -> bool:
    row = cursor.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_documents' AND NOT temporary"
    ).fetchone()
    return bool(row and row[0])


def _forget(cursor: duckdb.DuckDBPyConnection, ids: list[str]) -> None:
    """Delete the `search_documents` rows of `ids`, and take their tags off the tag counts."""
    cursor.register("search_rewritten", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        gone = cursor.execute(
            "DELETE FROM search_documents WHERE id IN (SELECT id FROM search_rewritten) RETURNING tags"
        ).fetchall()
    finally:
        cursor.unregister("search_rewritten")
    counts = Counter(tag for (tags,) in gone for tag in tags or () if tag is not None)
    if counts:
        cursor.register(
            "search_untagged",
            pa.table({"tag": list(counts), "calls": pa.array([-n for n in counts.values()], pa.int64())}),
        )
        try:
            cursor.execute("INSERT INTO search_tags SELECT tag, calls FROM search_untagged")
        finally:
            cursor.unregister("search_untagged")


def _without(docs: pa.Table, words: pa.Table, ids: set[str]) -> tuple[pa.Table, pa.Table]:
    """A chunk's documents and postings without the events of `ids`."""
    keep = pc.invert(pc.is_in(docs.column("id"), value_set=pa.array(list(ids), pa.string())))
    kept = docs.filter(keep)
    return kept, words.filter(pc.is_in(words.column("doc"), value_set=kept.column("doc")))


def _encoded(word: str) -> str:
    """`word` JSON-encoded, as a body holds it."""
    return orjson.dumps(word).decode()[1:-1]


def scan_condition(q: str) -> tuple[str, list[Any]] | None:
    """A WHERE condition over `events` for a scan (a store without the index, or a long tail): each
    word of `q` at a word start in the JSON of the text fields; None when `q` has no word."""
    words, last_is_prefix = query_words(q)
    if not words:
        return None
    text = " || ' ' || ".join(f"coalesce(body->>'$.{field}', '')" for field in TEXT_FIELDS)
    patterns = [_word_pattern(w, last_is_prefix and n == len(words) - 1) for n, w in enumerate(words)]
    return " AND ".join(f"regexp_matches({text}, ?)" for _ in patterns), patterns


def _word_pattern(word: str, prefix: bool) -> str:
    """RE2: `word` at a word start in JSON text (after a separator or an escape such as \\n)."""
    encoded = orjson.dumps(word).decode()[1:-1]
    literal = "\\Q" + encoded.replace("\\E", "\\E\\\\E\\Q") + "\\E"
    end = "" if prefix else "(?:[^\\pL\\pN]|$)"
    return "(?i)(?:^|[^\\pL\\pN\\\\]|\\\\[a-z])" + literal + end


@contextlib.contextmanager
def _transaction(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT on the indexer's own cursor, rolled back on any failure. Not the store's
    transaction, which holds the write lock that ingest commits under."""
    cursor.execute("BEGIN")
    try:
        yield
        cursor.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # DuckDB may have ended the transaction with the failure
            cursor.execute("ROLLBACK")
        raise
