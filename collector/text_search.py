"""Text search over the stored events: a word index kept beside `events`, and a scan of what it lacks.

A query matches the events whose text holds each of its words, the last one as a prefix ("refund
ord" finds "refunds ... order"), case-insensitively, in any order. Words are runs of letters and digits
of any script, read from the strings of the stored body's request, response (answer, tool calls), error,
attributes and tags.

The index is two tables: `search_words` (word, event id), one row per distinct word of an event, and
`search_docs` (event id, received_at), one row per indexed event. :class:`TextIndexer` appends the events
not indexed yet in the background, in chunks, each chunk sorted by word so that DuckDB's zone maps skip
most of the table on a lookup; once the rows appended since it was last sorted reach a quarter of it
(`COMPACT_SHARE`, at least `COMPACT_MIN_ROWS`), it rewrites the whole table sorted: each row is rewritten
a bounded number of times, and a lookup scans at most that unsorted part.

Results are complete: the events the index may lack are those received since its *mark* (the newest
indexed `received_at` less `OVERLAP_S`, since events are committed in about the order they were received)
that are not in `search_docs`; a query reads their bodies the way the indexer does.
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
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from bakeoff.collector.store import Store
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
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_words (word VARCHAR NOT NULL, id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS search_docs (id VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL);
"""


def words_of(body: str) -> set[str]:
    """The distinct words, lower-cased, of the text of a stored body (JSON): every string in its
    request, response, error, attributes (keys too) and tags; not its numbers, times or ids."""
    event = orjson.loads(body)
    texts: list[str] = []
    for field in TEXT_FIELDS:
        _strings(event.get(field), texts)
    return set(WORD.findall(" ".join(texts).lower()))


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
        self.indexed = 0  # rows in search_docs
        self.unsorted_rows = 0  # search_words rows appended since the table was last sorted
        self._waiting_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor = store.connection.cursor()  # this indexer's own: it runs on its own thread
        self._cursor.execute(SCHEMA)
        self._refresh_mark()
        tail, params = self._tail_sql()
        row = self._cursor.execute(f"SELECT count(*) FROM events WHERE {tail}", params).fetchone()
        self.waiting = int(row[0]) if row else 0  # events the index lacks, as of its last round

    # -- the background thread -----------------------------------------------------------------------

    def start(self) -> TextIndexer:
        self._thread = threading.Thread(target=self._loop, name="bakeoff-text-index", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
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
        newest, count = self._cursor.execute(
            "SELECT epoch_us(max(received_at)), count(*) FROM search_docs"
        ).fetchone() or (None, 0)
        self.indexed = int(count)
        if newest is not None:
            self.mark = int(newest) / 1e6 - OVERLAP_S

    def _tail_sql(self) -> tuple[str, list[Any]]:
        """A condition over `events` true of the events the index lacks, and its parameters."""
        if self.mark is None:
            return "id NOT IN (SELECT id FROM search_docs)", []
        return (
            # Times as epoch seconds: a datetime parameter costs DuckDB a failed import of pytz.
            "received_at >= to_timestamp(?) "
            "AND id NOT IN (SELECT id FROM search_docs WHERE received_at >= to_timestamp(?))",
            [self.mark, self.mark],
        )

    def index_pending(self, force: bool = False) -> bool:
        """Index the next chunk of events the index lacks; True when a chunk was indexed.

        A few waiting events are left to the scan until MAX_WAIT_S has passed (or `force`): an index
        made of many tiny chunks would be slower to read than the scan of them."""
        tail, params = self._tail_sql()
        cursor = self._cursor
        (waiting,) = cursor.execute(f"SELECT count(*) FROM events WHERE {tail}", params).fetchone() or (0,)
        self.waiting = int(waiting)
        if not waiting:
            self._waiting_since = None
            return False
        now = time.monotonic()
        self._waiting_since = self._waiting_since or now
        if waiting < MIN_CHUNK and not force and now - self._waiting_since < MAX_WAIT_S:
            return False
        rows = cursor.execute(
            # received_at as microseconds: fetching TIMESTAMPTZ values would need pytz.
            f"SELECT id, body, epoch_us(received_at) AS received_us FROM events WHERE {tail} "
            "ORDER BY received_at LIMIT ?",
            [*params, CHUNK],
        ).fetchall()
        word_column: list[str] = []
        id_column: list[str] = []
        for event_id, body, _ in rows:
            for word in words_of(body):
                word_column.append(word)
                id_column.append(event_id)
        words = pa.table({"word": pa.array(word_column, pa.string()), "id": pa.array(id_column, pa.string())})
        docs = pa.table(
            {
                "id": pa.array([row[0] for row in rows], pa.string()),
                "received_at": pa.array([row[2] for row in rows], pa.int64()).cast(
                    pa.timestamp("us", tz="UTC")
                ),
            }
        )
        cursor.register("new_words", words)
        cursor.register("new_docs", docs)
        try:
            with _transaction(cursor):
                cursor.execute("INSERT INTO search_words SELECT word, id FROM new_words ORDER BY word, id")
                cursor.execute("INSERT INTO search_docs SELECT id, received_at FROM new_docs")
        finally:
            cursor.unregister("new_words")
            cursor.unregister("new_docs")
        self._waiting_since = None
        self.waiting -= len(rows)
        self._refresh_mark()
        self.unsorted_rows += words.num_rows
        # Not while catching up (more waiting): the table is sorted once the backlog is indexed.
        caught_up = self.waiting <= 0
        if caught_up and self.unsorted_rows >= max(COMPACT_MIN_ROWS, COMPACT_SHARE * self._word_rows()):
            self.compact()
        return True

    def compact(self) -> None:
        """Rewrite `search_words` sorted by word (one transaction: searches see the old or the new)."""
        cursor = self._cursor
        with _transaction(cursor):
            cursor.execute("CREATE TEMP TABLE search_words_sorted AS SELECT * FROM search_words")
            cursor.execute("DELETE FROM search_words")
            cursor.execute("INSERT INTO search_words SELECT * FROM search_words_sorted ORDER BY word, id")
            cursor.execute("DROP TABLE search_words_sorted")
        self.unsorted_rows = 0

    def _word_rows(self) -> int:
        row = self._cursor.execute("SELECT count(*) FROM search_words").fetchone()
        return int(row[0]) if row else 0

    # -- searching -------------------------------------------------------------------------------------

    def matching_ids(self, store: Store, q: str) -> tuple[str, list[Any]] | None:
        """SQL selecting the ids of the events matching `q` (indexed or not) and its parameters, or
        None when `q` has no word (the caller then matches every event)."""
        words, last_is_prefix = query_words(q)
        if not words:
            return None
        lookups, params = [], []
        for number, word in enumerate(words):
            if last_is_prefix and number == len(words) - 1:
                lookups.append("SELECT id FROM search_words WHERE word >= ? AND word < ?")
                params += [word, _upper(word)]
            else:
                lookups.append("SELECT id FROM search_words WHERE word = ?")
                params.append(word)
        tail, tail_params = self._tail_sql()
        # The events the index lacks are read here, with the index's own reading of a body: the same
        # words match the same events whether they are indexed yet or not (only the bodies holding
        # every word as a substring are read). While the index catches up (more than TAIL_LIMIT
        # waiting at its last round), they are scanned in SQL instead.
        union = f"({' INTERSECT '.join(lookups)}) UNION ALL "
        if self.waiting > TAIL_LIMIT:
            condition, scan_params = scan_condition(q) or ("TRUE", [])
            return union + f"(SELECT id FROM events WHERE {tail} AND {condition})", [
                *params,
                *tail_params,
                *scan_params,
            ]
        substrings = " AND ".join("body ILIKE ? ESCAPE '\\'" for _ in words)
        rows = (
            store.cursor()
            .execute(
                f"SELECT id, body FROM events WHERE {tail} AND {substrings}",
                [*tail_params, *(_contains(w) for w in words)],
            )
            .fetchall()
        )
        found = [i for i, body in rows if matches(words_of(body), words, last_is_prefix)]
        return union + "(SELECT unnest(?::VARCHAR[]))", [*params, found]

    def status(self) -> dict[str, Any]:
        """What the index holds, for the search answer (so that a page can say what was scanned)."""
        return {
            "kind": "words",
            "indexed": self.indexed,
            "waiting": self.waiting,
            "mark": None if self.mark is None else utc_timestamp(datetime.fromtimestamp(self.mark, UTC)),
        }


def _contains(word: str) -> str:
    """An ILIKE pattern: `word` anywhere (JSON-encoded, as the body holds it)."""
    encoded = orjson.dumps(word).decode()[1:-1]
    escaped = encoded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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
