"""Strata by tag are kinds of request: init's tags and tags every event carries do not make strata.

End to end as the README shows it (the SDK with `init(tags=[...])`, a real openai client, a real
collector, the CLI), then the rule on a real DuckDB file: other senders, odd attributes, old databases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import openai
import pytest

import bakeoff
from bakeoff.collector.migrations import MIGRATIONS
from bakeoff.collector.rows import to_columns
from bakeoff.collector.sampling import SampleSpec, draw, tag_strata
from bakeoff.collector.store import Store
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.schema import validate_event
from support.collector import CollectorProcess

START = datetime(2026, 3, 1, tzinfo=UTC)


def bakeoff_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args], capture_output=True, text=True, timeout=120
    )


def sample_rows(collector: CollectorProcess, folder: Path, name: str, *args: str) -> list[dict[str, Any]]:
    """`bakeoff sample --strategy stratified --by tag ARGS` into the collector; the rows it wrote out."""
    out = folder / f"{name}.jsonl"
    command = ["sample", "--strategy", "stratified", "--by", "tag", *args, "--seed", "3", "--name", name]
    result = bakeoff_cli(*command, "--collector", collector.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def weight_by_stratum(rows: list[dict[str, Any]]) -> dict[str, float]:
    totals: defaultdict[str, float] = defaultdict(float)
    for row in rows:
        totals[row["stratum"]] += row["weight"]
    return dict(totals)


def test_readme_pattern_init_tags_then_kinds_of_request(
    collector: CollectorProcess, llm_server: SimulatorServer, tmp_path: Path
) -> None:
    bakeoff.init(
        collector.url,
        project="strata",
        tags=["prod"],
        spool_dir=str(tmp_path / "spool"),
        flush_interval_s=0.05,
    )
    try:
        with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k") as client:
            for kind, count in (("easy", 60), ("hard", 20)):
                with bakeoff.tag(kind):
                    for i in range(count):
                        client.chat.completions.create(
                            model="gpt-test", messages=[{"role": "user", "content": f"{kind} {i}"}]
                        )
            event_id = bakeoff.last_event_id()
        assert bakeoff.flush(20)
    finally:
        bakeoff.shutdown()
    stored = httpx.get(f"{collector.url}/v1/events/{event_id}").json()
    assert stored["tags"] == ["prod", "hard"] and stored["attributes"]["bakeoff.init_tags"] == 1

    equal = sample_rows(collector, tmp_path, "eq", "--allocation", "equal", "--n", "20")
    assert Counter(row["stratum"] for row in equal) == {"easy": 10, "hard": 10}
    assert weight_by_stratum(equal) == pytest.approx({"easy": 60.0, "hard": 20.0})
    assert all(row["tags"] == ["prod", row["stratum"]] for row in equal)
    again = sample_rows(collector, tmp_path, "eq2", "--allocation", "equal", "--n", "20")
    assert [row["id"] for row in again] == [row["id"] for row in equal]

    proportional = sample_rows(collector, tmp_path, "prop", "--n", "20")
    assert Counter(row["stratum"] for row in proportional) == {"easy": 15, "hard": 5}
    assert all(row["weight"] == pytest.approx(4.0) for row in proportional)


def event(event_id: str, tags: list[str], attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "ts": START.isoformat(),
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-a",
        "request": {"messages": [{"role": "user", "content": event_id}]},
        "tags": tags,
        "attributes": attributes or {},
    }


def events_of(groups: list[tuple[int, list[str], dict[str, Any] | None]]) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for count, tags, attributes in groups:
        made += [event(f"{'-'.join(tags) or 'none'}-{len(made) + i}", tags, attributes) for i in range(count)]
    return made


def store_of(tmp_path: Path, events: list[dict[str, Any]]) -> Store:
    store = Store(str(tmp_path / "strata.duckdb"))
    store.insert_events(to_columns([validate_event(e) for e in events], "sdk", START))
    return store


def strata(store: Store, **spec: Any) -> Counter[str | None]:
    rows = draw(store.cursor(), SampleSpec("stratified", by="tag", **spec)).rows
    return Counter(stratum for _, _, stratum in rows)


def test_a_tag_every_event_carries_is_passed_over(tmp_path: Path) -> None:
    # Sent without the init count (another SDK, an older one): 'prod' is on every event.
    store = store_of(
        tmp_path, events_of([(60, ["prod", "easy"], None), (20, ["prod", "hard"], None), (5, ["prod"], None)])
    )
    try:
        assert tag_strata(store.cursor(), "TRUE", []).common == ["prod"]
        assert strata(store, n=15, allocation="equal") == {"easy": 5, "hard": 5, "(untagged)": 5}
        sample = draw(store.cursor(), SampleSpec("stratified", 17, by="tag", seed=2))
        totals: defaultdict[str | None, float] = defaultdict(float)
        for _, weight, stratum in sample.rows:
            totals[stratum] += weight
        assert dict(totals) == pytest.approx({"easy": 60.0, "hard": 20.0, "(untagged)": 5.0})
        assert sample.rows == draw(store.cursor(), SampleSpec("stratified", 17, by="tag", seed=2)).rows
        # Within a filter the filtered tag is common too: what is left tells the events apart.
        assert strata(store, n=10, filters={"tag": "easy"}) == {"(untagged)": 10}
    finally:
        store.close()


def test_init_tags_differ_between_processes(tmp_path: Path) -> None:
    # Two services, each with its own init tag: neither tag is common, the init count still skips it.
    store = store_of(
        tmp_path,
        events_of(
            [
                (30, ["svc-a", "easy"], {"bakeoff.init_tags": 1}),
                (30, ["svc-b", "hard"], {"bakeoff.init_tags": 1}),
                (10, ["svc-b", "eu", "hard"], {"bakeoff.init_tags": 2}),
                (10, ["svc-a"], {"bakeoff.init_tags": 1}),
            ]
        ),
    )
    try:
        assert tag_strata(store.cursor(), "TRUE", []).common == []
        assert strata(store, n=80) == {"easy": 30, "hard": 40, "(untagged)": 10}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("value", "skipped"),
    [(1, 1), (2, 2), (9, 2), (0, 0), (-1, 0), ("1", 0), (True, 0), (1.0, 0), (None, 0)],
)
def test_the_init_count_is_read_only_as_a_whole_number_within_the_tags(value: Any, skipped: int) -> None:
    attributes = {"bakeoff.init_tags": value}
    table = to_columns([validate_event(event("e", ["a", "b"], attributes))], "sdk", START)
    assert table.column("init_tags").to_pylist() == [skipped]


def test_events_with_no_tags_at_all(tmp_path: Path) -> None:
    store = store_of(
        tmp_path, events_of([(4, [], None), (6, ["only"], {"bakeoff.init_tags": 1}), (2, ["x"], None)])
    )
    try:
        assert strata(store, n=12) == {"(untagged)": 10, "x": 2}
    finally:
        store.close()


def test_a_database_from_before_the_init_count_is_migrated_and_sampled(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    for version, sql in MIGRATIONS[:2]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, now())", [version])
    old = to_columns(
        [validate_event(e) for e in events_of([(6, ["prod", "easy"], None), (3, ["prod", "hard"], None)])],
        "sdk",
        START,
    )
    con.register("old_rows", old.drop_columns(["init_tags"]))
    con.execute("INSERT INTO events SELECT * FROM old_rows")
    con.close()
    store = Store(str(path))
    try:
        assert store.cursor().execute("SELECT count(*) FROM events WHERE init_tags IS NULL").fetchone() == (
            9,
        )
        store.insert_events(
            to_columns(
                [validate_event(e) for e in events_of([(3, ["prod", "hard"], {"bakeoff.init_tags": 1})])],
                "sdk",
                START,
            )
        )
        assert strata(store, n=12) == {"easy": 6, "hard": 6}
    finally:
        store.close()


def test_a_tag_that_one_event_lacks_is_no_common_tag(tmp_path: Path) -> None:
    # 'prod' is on all but the last of 12,000 events: whichever events are looked at first, it stays.
    store = store_of(
        tmp_path,
        events_of([(8_000, ["prod", "easy"], None), (3_999, ["prod", "hard"], None), (1, ["hard"], None)]),
    )
    try:
        assert tag_strata(store.cursor(), "TRUE", []).common == []
        assert tag_strata(store.cursor(), "TRUE", []).sizes == {"prod": 11_999, "hard": 1}
    finally:
        store.close()
