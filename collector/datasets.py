"""Datasets: samples stored by name, exported as JSON lines, and test cases imported from files.

One exported line is the event (the contract's schema) plus its `weight` and, for imported test
cases, the `expected` answer: exactly what `bakeoff replay --dataset` reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from bakeoff.collector.errors import describe_msgspec
from bakeoff.collector.rows import to_columns
from bakeoff.collector.sampling import Sample, SampleSpec, draw
from bakeoff.collector.store import Store
from bakeoff.collector.validation import oversized_integer
from bakeoff.dataset_format import case_messages, case_tags, parse_json_lines
from bakeoff.errors import UsageError
from bakeoff.schema import Event, EventValidationError, utc_timestamp, validate_event


class DatasetExists(UsageError):
    """A dataset of that name exists already (pass replace=True to overwrite it)."""


def _save(
    store: Store,
    name: str,
    strategy: str,
    params: dict[str, Any],
    seed: int,
    sample: Sample,
    expected: dict[str, Any] | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    created = datetime.now(UTC)
    # Under the name's lock: two replicas of a DuckLake creating one name at once, one of them finds
    # the other's dataset (409 without `replace`) instead of both inserting it.
    with store.exclusive(f"dataset:{name}"), store.transaction() as cursor:
        exists = cursor.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone()
        if exists and not replace:
            raise DatasetExists(f"dataset {name!r} exists already")
        if exists:  # a dataset's rows are written with it, in this transaction: none without it
            # (on DuckLake each DELETE scans its table's files: two scans saved per new dataset)
            cursor.execute("DELETE FROM dataset_rows WHERE dataset = ?", [name])
            cursor.execute("DELETE FROM datasets WHERE name = ?", [name])
        cursor.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                strategy,
                orjson.dumps({**params, "weighting": sample.weighting}).decode(),
                seed,
                created,
                sample.population,
                len(sample.rows),
            ],
        )
        if sample.rows:
            # One statement over Arrow columns: executemany inserts row by row, ~2-10 ms a row (a
            # sample of 1,000 took seconds, and more on DuckLake).
            event_ids = [event_id for event_id, _, _ in sample.rows]
            rows = pa.table(
                {
                    "dataset": pa.array([name] * len(event_ids), pa.string()),
                    "position": pa.array(range(len(event_ids)), pa.int32()),
                    "event_id": pa.array(event_ids, pa.string()),
                    "weight": pa.array([weight for _, weight, _ in sample.rows], pa.float64()),
                    "stratum": pa.array([stratum for _, _, stratum in sample.rows], pa.string()),
                    "expected": pa.array(
                        [
                            orjson.dumps(expected[i]).decode() if expected and i in expected else None
                            for i in event_ids
                        ],
                        pa.string(),
                    ),
                }
            )
            cursor.register("incoming_dataset_rows", rows)
            try:
                cursor.execute(
                    "INSERT INTO dataset_rows (dataset, position, event_id, weight, stratum, expected) "
                    "SELECT * FROM incoming_dataset_rows"
                )
            finally:
                cursor.unregister("incoming_dataset_rows")
    return {
        "dataset": name,
        "strategy": strategy,
        "size": len(sample.rows),
        "population": sample.population,
        "seed": seed,
        "weighting": sample.weighting,
        "created": utc_timestamp(created),
        "params": params,
    }


def create_sample(store: Store, name: str, spec: SampleSpec, replace: bool = False) -> dict[str, Any]:
    """Draw a sample by `spec` and store it as dataset `name`; returns its summary."""
    sample = draw(store.cursor(), spec)
    params = {
        "n": spec.n,
        "by": spec.by,
        "allocation": spec.allocation,
        "filters": {k: str(v) for k, v in spec.filters.items() if v is not None},
    }
    return _save(store, name, spec.strategy, params, spec.seed, sample, replace=replace)


def list_datasets(store: Store) -> list[dict[str, Any]]:
    rows = (
        store.cursor()
        .execute(
            "SELECT name, strategy, params, seed, "
            "strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), "
            "population, size FROM datasets ORDER BY created_at DESC"
        )
        .fetchall()
    )
    return [
        {
            "name": n,
            "strategy": s,
            "params": orjson.loads(p),
            "seed": seed,
            "created": c,
            "population": pop,
            "size": size,
        }
        for n, s, p, seed, c, pop, size in rows
    ]


def export_lines(store: Store, name: str) -> Iterator[bytes] | None:
    """The dataset as JSON lines (event, `weight` [, `expected`, `stratum`, `feedback`]), or None."""
    cursor = store.cursor()
    if cursor.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone() is None:
        return None
    # Each row carries the users' mean feedback on its event, when there is any: replay reports how
    # well each metric agrees with what users said.
    rows = cursor.execute(
        "SELECT e.body, r.weight, r.expected, r.stratum, f.score "
        "FROM dataset_rows r JOIN events e ON e.id = r.event_id "
        "LEFT JOIN (SELECT event_id, avg(score) AS score FROM feedback GROUP BY event_id) f "
        "ON f.event_id = r.event_id "
        "WHERE r.dataset = ? ORDER BY r.position",
        [name],
    ).fetchall()

    def lines() -> Iterator[bytes]:
        for body, weight, expected, stratum, feedback in rows:
            # The stored event's JSON as it is (never parsed and re-encoded), its extra fields joined.
            extra = {"weight": weight} | ({} if stratum is None else {"stratum": stratum})
            if feedback is not None:
                extra["feedback"] = feedback
            tail = orjson.dumps(extra)[1:]
            if expected is not None:
                tail = b'"expected":' + expected.encode() + b"," + tail
            yield body[:-1].encode() + b"," + tail + b"\n"

    return lines()


# -- importing test cases ---------------------------------------------------------------------------------


def parse_cases(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Test cases from JSON lines, CSV (`id,input,expected,tags`) or YAML (a list); errors name the line."""
    text = data.decode("utf-8-sig")
    if filename.endswith((".yaml", ".yml")):
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{filename}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, list) or not all(isinstance(row, dict) for row in loaded):
            raise UsageError(f"{filename}: expected a YAML list of test cases")
        return loaded
    if filename.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
        for row in rows:
            if row.get("tags"):
                row["tags"] = [t.strip() for t in str(row["tags"]).split(",") if t.strip()]
        return rows
    return parse_json_lines(text, filename)


def case_to_event(case: dict[str, Any], index: int, source: str) -> tuple[Event, Any]:
    """An imported row as an event plus its expected answer; plain test cases become chat requests."""
    if "request" in case and "provider" in case:
        expected = case.get("expected")
        body = {k: v for k, v in case.items() if k not in ("expected", "weight", "stratum", "feedback")}
        return validate_event(body), expected
    if "input" not in case:
        raise UsageError(f"{source}: row {index + 1} has neither 'input' nor an event's 'request'")
    messages = case_messages(case, f"{source}: row {index + 1}")
    event = validate_event(
        {
            "id": str(case.get("id") or f"{source}-{index + 1}"),
            "ts": utc_timestamp(),
            "provider": "dataset",
            "api": "chat.completions",
            "model": str(case.get("model") or ""),
            "request": {"messages": messages},
            "tags": case_tags(case),
        }
    )
    return event, case.get("expected")


def _check_before_writing(
    store: Store, name: str, cases: list[dict[str, Any]], source: str, replace: bool
) -> None:
    """Everything that could refuse an import once its events are written, checked before they are:
    a failed import leaves nothing behind."""
    if not replace and store.cursor().execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchone():
        raise DatasetExists(f"dataset {name!r} exists already")
    for index, case in enumerate(cases):
        oversized = oversized_integer(msgspec.json.encode(case))
        if oversized is not None:
            raise UsageError(f"{source}: row {index + 1}: {oversized}: integer outside 64 bits")


def import_cases(
    store: Store,
    name: str,
    cases: list[dict[str, Any]],
    source: str,
    replace: bool = False,
    write: Callable[[list[Event], str], object] | None = None,
) -> dict[str, Any]:
    """Store test cases as events (source 'import') and as dataset `name` carrying their `expected`.

    `write` stores the events (a running collector passes its ingest pipeline's); by default they are
    inserted into `store` directly.
    """
    pairs = []
    for index, case in enumerate(cases):
        try:
            pairs.append(case_to_event(case, index, source))
        except EventValidationError as exc:
            raise UsageError(f"{source}: row {index + 1}: {describe_msgspec(exc)}") from exc
    if not pairs:
        raise UsageError(f"{source}: no test cases")
    _check_before_writing(store, name, cases, source, replace)
    events = [event for event, _ in pairs]
    if write is None:
        store.insert_events(to_columns(events, "import", datetime.now(UTC)))
    else:
        write(events, "import")
    expected = {event.id: value for event, value in pairs if value is not None}
    sample = Sample([(event.id, 1.0, None) for event in events], len(events), weighting="none")
    return _save(store, name, "import", {"source": source}, 0, sample, expected, replace=replace)
