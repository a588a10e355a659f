"""DuckDB schema of the collector, as an ordered list of migrations.

`schema_migrations` records which versions ran; :meth:`bakeoff.collector.store.Store.migrate` applies
the missing ones at open. Never edit a released migration: append a new one.

The same migrations build both stores. The embedded DuckDB file runs them as written (its existing
databases keep their keys). DuckLake has no keys and no indexes, so :func:`for_store` rewrites them for
it: `PRIMARY KEY` and `UNIQUE` constraints are dropped and `CREATE INDEX` statements skipped (an index
only speeds the file's reads). Where uniqueness matters on DuckLake the code keeps it: event ids by the
claims of :mod:`bakeoff.collector.ducklake`, dataset and run names by delete-then-insert in one
transaction. New migrations need nothing special: write them for the file, as before.
"""

from __future__ import annotations

import re

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE events (
            id            VARCHAR NOT NULL,       -- idempotency key (unique by construction of ingest)
            project       VARCHAR NOT NULL,
            ts            TIMESTAMPTZ NOT NULL,   -- start of the call
            provider      VARCHAR NOT NULL,
            api           VARCHAR NOT NULL,
            model         VARCHAR NOT NULL,
            status        VARCHAR NOT NULL,       -- 'ok' | 'error'
            error_type    VARCHAR,
            error_status  INTEGER,
            latency_ms    DOUBLE,
            ttft_ms       DOUBLE,
            stream        BOOLEAN,
            input_tokens  INTEGER,
            output_tokens INTEGER,
            tags          VARCHAR[],
            source        VARCHAR NOT NULL,       -- 'sdk' | 'otlp' | 'import'
            prompt_hash   UBIGINT,                -- hash of the normalised prompt text (diverse sampling)
            received_at   TIMESTAMPTZ NOT NULL,
            trace_id      VARCHAR,
            span_id       VARCHAR,
            body          VARCHAR NOT NULL         -- the whole event as JSON (request, response, ...)
        );
        CREATE TABLE feedback (
            event_id    VARCHAR NOT NULL,
            score       DOUBLE NOT NULL,
            comment     VARCHAR,
            ts          TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE datasets (
            name        VARCHAR PRIMARY KEY,
            strategy    VARCHAR NOT NULL,
            params      JSON NOT NULL,            -- n, by, allocation, filters, ...
            seed        BIGINT NOT NULL,
            created_at  TIMESTAMPTZ NOT NULL,
            population  BIGINT NOT NULL,          -- events matching the filters when sampled
            size        BIGINT NOT NULL
        );
        CREATE TABLE dataset_rows (
            dataset     VARCHAR NOT NULL,
            position    INTEGER NOT NULL,
            event_id    VARCHAR NOT NULL,
            weight      DOUBLE NOT NULL,          -- inverse inclusion probability
            stratum     VARCHAR,
            expected    JSON                      -- reference answer of imported test cases
        );
        CREATE TABLE runs (
            run_id      VARCHAR PRIMARY KEY,
            created_at  TIMESTAMPTZ NOT NULL,
            dataset     VARCHAR,
            config      JSON,
            benchmark   JSON,                     -- benchmark_results.json
            comparison  JSON                      -- provider_comparison.json
        );
        CREATE TABLE results (
            run_id      VARCHAR NOT NULL,
            event_id    VARCHAR NOT NULL,
            provider    VARCHAR NOT NULL,
            body        JSON NOT NULL             -- one detailed_results.jsonl line
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE monitor_state (                 -- one row per traffic monitor (see monitors/)
            name        VARCHAR PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,             -- what it measures; a changed monitor starts anew
            state       JSON NOT NULL,                -- windows seen, baseline, detectors, open alert
            updated_at  TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE alerts (
            id          VARCHAR PRIMARY KEY,
            monitor     VARCHAR NOT NULL,
            state       VARCHAR NOT NULL,             -- 'firing' | 'resolved'
            started_at  TIMESTAMPTZ NOT NULL,
            firing      JSON NOT NULL,                -- the alert as it fired
            resolved    JSON,                         -- the alert as it resolved
            notified    VARCHAR                       -- the last state sent to the sinks
        );
        """,
    ),
    (
        3,
        """
        -- How many leading tags came from the SDK's init (the tags every call of a process shares):
        -- stratifying by tag uses the tags after them. 0 for OTLP spans and older SDKs.
        ALTER TABLE events ADD COLUMN init_tags INTEGER;
        """,
    ),
    (
        4,
        """
        -- GenAI log records (OTLP logs): the prompts and answers instrumentations send apart from their
        -- spans. Each joins the event of its span; all are kept, so that the joined event is the same
        -- whichever of span and records arrived first, and however often either was sent.
        CREATE TABLE otlp_log_records (
            record_id   VARCHAR NOT NULL,      -- hash of the record as sent: a re-sent export adds nothing
            event_id    VARCHAR NOT NULL,      -- the event of its span: otlp-<trace id>-<span id>
            name        VARCHAR NOT NULL,      -- gen_ai.user.message, gen_ai.choice, ...
            time_ns     BIGINT NOT NULL,       -- when it happened (else when it was observed), Unix ns
            position    INTEGER NOT NULL,      -- its place in its export: orders records of equal time
            received_at TIMESTAMPTZ NOT NULL,
            part        JSON NOT NULL          -- what it says of the call (messages, answer), decoded
        );
        """,
    ),
    (
        5,
        """
        -- Scores of a metric (`metric:NAME` traffic monitors) on a sampled share of production answers,
        -- written by `bakeoff watch` (scoring lives in replay); placed in windows by the event's own ts.
        CREATE TABLE metric_scores (
            event_id    VARCHAR NOT NULL,
            metric      VARCHAR NOT NULL,      -- the monitor's NAME
            ts          TIMESTAMPTZ NOT NULL,  -- the event's ts
            score       DOUBLE NOT NULL,       -- in [0, 1]
            scored_at   TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- Events looked up by id: a dataset's page of rows, a run's answers, one event's detail. Without
        -- it each lookup scans every body (about a second at 1M events); with it, tens of milliseconds.
        CREATE INDEX events_id ON events (id);
        """,
    ),
    (
        7,
        """
        -- Summaries of the events for the dashboard's overview, kept up to date by folds of the minutes
        -- that writes mark (see collector/rollups.py). A cell: a bucket of `width` seconds (60, 3600 or
        -- 86400, starting on time_bucket's origin) and a project, provider, model and status.
        CREATE TABLE rollup_cells (
            width          INTEGER NOT NULL,
            bucket         BIGINT NOT NULL,       -- the bucket's start, epoch seconds
            project        VARCHAR NOT NULL,
            provider       VARCHAR NOT NULL,
            model          VARCHAR NOT NULL,
            status         VARCHAR NOT NULL,
            calls          BIGINT NOT NULL,
            input_tokens   BIGINT,                -- the sum (NULL when no event had a count)
            input_counted  BIGINT NOT NULL,       -- how many events had a count
            output_tokens  BIGINT,
            output_counted BIGINT NOT NULL,
            min_us         BIGINT NOT NULL,       -- the first and last start in the cell, epoch us
            max_us         BIGINT NOT NULL
        );
        CREATE TABLE rollup_bins (                -- latency (metric 0) and TTFT (1) histograms
            width INTEGER NOT NULL, bucket BIGINT NOT NULL, project VARCHAR NOT NULL,
            provider VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
            metric TINYINT NOT NULL, bin INTEGER NOT NULL, n BIGINT NOT NULL
        );
        CREATE TABLE rollup_tags (
            width INTEGER NOT NULL, bucket BIGINT NOT NULL, project VARCHAR NOT NULL,
            provider VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
            tag VARCHAR, calls BIGINT NOT NULL
        );
        CREATE TABLE rollup_feedback (            -- feedback joined with its event
            event_id VARCHAR NOT NULL, score DOUBLE NOT NULL, comment VARCHAR,
            feedback_ts TIMESTAMPTZ NOT NULL, ts TIMESTAMPTZ NOT NULL, minute BIGINT NOT NULL,
            project VARCHAR NOT NULL, provider VARCHAR NOT NULL, model VARCHAR NOT NULL,
            status VARCHAR NOT NULL
        );
        CREATE TABLE rollup_marks (               -- minutes whose cells may differ from the events
            owner     VARCHAR NOT NULL,           -- who folds it ('' anyone)
            minute    BIGINT NOT NULL,
            marked_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE rollup_folded (              -- the marks of `owner` in `minute` up to `upto` are folded
            owner     VARCHAR NOT NULL,           -- (kept apart: on DuckLake a fold deleting marks would
            minute    BIGINT NOT NULL,            -- conflict with every replica's concurrent marks)
            upto      TIMESTAMPTZ NOT NULL
        );
        -- The events stored before: every minute holding one is folded from them.
        INSERT INTO rollup_marks
        SELECT DISTINCT '', CAST(floor((epoch_us(ts) - 946857600000000) / 60000000) AS BIGINT) * 60
               + 946857600, now()
        FROM events;
        """,
    ),
    (
        8,
        """
        -- The word index's first layout (search_words keyed by event id strings; search_docs without the
        -- columns a search filters on) gives way to integers for events: text_search builds the new
        -- tables, from the start. Only the embedded file ever had these tables.
        DROP TABLE IF EXISTS search_words;
        DROP TABLE IF EXISTS search_docs;
        """,
    ),
    (
        10,
        """
        -- A uniform 64-bit key per event, hash(id), written at ingest: a seeded sample orders events by an
        -- integer hash of it and the seed (see collector/sampling.py) instead of hashing every id, most of
        -- a sample's time at 10M events. The events stored before get theirs here.
        ALTER TABLE events ADD COLUMN sample_key UBIGINT;
        UPDATE events SET sample_key = hash(id);
        """,
    ),
]


_COMMENT = re.compile(r"--[^\n]*")
_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)
# A column's `PRIMARY KEY` / `UNIQUE`, or a table's `PRIMARY KEY (a, b)` / `UNIQUE (a)` line.
_TABLE_KEY = re.compile(r",\s*(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", re.IGNORECASE)
_COLUMN_KEY = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)


def for_store(sql: str, kind: str) -> str:
    """`sql` (one migration's statements) as the store of `kind` runs it: unchanged for "embedded";
    for "ducklake" without keys, unique constraints or indexes (see the module docstring)."""
    if kind != "ducklake":
        return sql
    statements = []
    for statement in _COMMENT.sub("", sql).split(";"):
        if not statement.strip() or _INDEX.match(statement):
            continue
        statements.append(_COLUMN_KEY.sub("", _TABLE_KEY.sub("", statement)).strip())
    return ";\n".join(statements)
