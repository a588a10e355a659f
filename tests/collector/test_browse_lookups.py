"""What the dashboard's pages read by id and by tag, through a real collector on each store, against
what was sent: a run's answers (hundreds of events looked up at once, an id holding a NUL among them)
with each event's tags and prompt, and the tag typeahead's counts once the word index holds the events."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from bakeoff.collector import text_search
from support.collector import CollectorProcess

COUNT = 600


def sent_events() -> list[dict[str, Any]]:
    return [
        {
            "id": f"ans-{i}" if i % 97 else f"ans-\x00{i}",  # a NUL inside an id, stored verbatim
            "ts": f"2026-03-01T{i % 24:02d}:{i % 60:02d}:00Z",
            "provider": "openai",
            "api": "chat.completions",
            "model": "gpt-a",
            "tags": [] if i % 11 == 0 else [f"team-{i % 7}", f"tenant_{i % 13}"],
            "request": {"messages": [{"role": "user", "content": f"question {i} about refunds"}]},
            "response": {"text": f"answer {i}", "finish_reason": "stop", "tool_calls": None},
        }
        for i in range(COUNT)
    ]


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CollectorProcess, list[dict[str, Any]]]]:
    process = CollectorProcess(tmp_path_factory.mktemp("browse") / "bakeoff.duckdb").start()
    events = sent_events()
    try:
        assert httpx.post(f"{process.url}/v1/events", json={"events": events}, timeout=60).status_code == 202
        yield process, events
    finally:
        process.stop()


def test_a_runs_answers_carry_each_events_tags_and_prompt(
    loaded: tuple[CollectorProcess, list[dict[str, Any]]],
) -> None:
    collector, events = loaded
    rows = [
        {
            "event_id": e["id"],
            "provider": provider,
            "output": {"text": f"{provider} {n % 3}", "tool_calls": None},
            "scores": {"exact": {"score": (n * (k + 1)) % 3 / 2}},
            "tags": ["from-the-answer"],
        }
        for n, e in enumerate(events)
        for k, provider in enumerate(["base", "cand"])
    ]
    run = {
        "run": {"run_id": "lookups"},
        "benchmark": {"providers": ["base", "cand"], "primary_metric": "exact", "metrics": {}},
        "comparison": {"baseline": "base"},
        "rows": rows,
    }
    assert httpx.post(f"{collector.url}/v1/runs", json=run, timeout=60).status_code == 201
    answer = httpx.get(f"{collector.url}/v1/runs/lookups/answers", params={"limit": 1000}, timeout=60).json()
    assert answer["counts"]["all"] == answer["total"] == COUNT
    by_id = {e["id"]: e for e in events}
    assert sorted(r["event_id"] for r in answer["rows"]) == sorted(by_id)
    for row in answer["rows"]:
        event = by_id[row["event_id"]]
        assert row["tags"] == (event["tags"] or ["from-the-answer"])  # the event's, else the answer's
        assert row["prompt"] == event["request"]["messages"][0]["content"]
        assert row["reference"]["text"] == event["response"]["text"]
    expected_tags = {t for e in events for t in e["tags"]} | {"from-the-answer"}
    assert answer["tags"] == sorted(expected_tags)
    team = httpx.get(
        f"{collector.url}/v1/runs/lookups/answers", params={"tag": "team-3", "limit": 1000}, timeout=60
    ).json()
    assert team["total"] == sum(1 for e in events if "team-3" in e["tags"]) > 0


def test_tag_counts_once_the_word_index_holds_the_events(
    loaded: tuple[CollectorProcess, list[dict[str, Any]]],
) -> None:
    collector, events = loaded
    deadline = time.monotonic() + 60
    while True:  # fewer events than a chunk wait MAX_WAIT_S (10 s) for the index (none on DuckLake)
        index = httpx.get(f"{collector.url}/v1/search", params={"q": "refunds"}, timeout=30).json()["index"]
        if index["kind"] != "words" or index["indexed"] == COUNT or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert index["kind"] == "scan" or (index["indexed"], index["waiting"]) == (COUNT, 0)
    counts = Counter(t for e in events for t in e["tags"])
    for q in ["", "team", "TENANT_1", "_", "-"]:
        got = httpx.get(f"{collector.url}/v1/facets/tag", params={"q": q, "limit": 200}, timeout=30).json()
        matching = {t: n for t, n in counts.items() if q.lower() in t.lower()}
        expected = sorted(matching.items(), key=lambda item: (-item[1], item[0]))
        assert [(v["value"], v["calls"]) for v in got["values"]] == expected, q


def test_a_search_by_tag_answers_as_the_events_sent(
    loaded: tuple[CollectorProcess, list[dict[str, Any]]],
) -> None:
    """With and without text, once the word index holds the events (its tag words on the file)."""
    collector, events = loaded
    deadline = time.monotonic() + 60
    while True:
        index = httpx.get(f"{collector.url}/v1/search", params={"q": "refunds"}, timeout=30).json()["index"]
        if index["kind"] != "words" or index["indexed"] == COUNT or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    newest_first = sorted(events, key=lambda e: e["id"])
    newest_first.sort(key=lambda e: e["ts"], reverse=True)
    for tag in ["team-3", "tenant_1", "tenant_12", "team", "nobody"]:
        for q in ["", "refunds", "question 1"]:
            got = httpx.get(
                f"{collector.url}/v1/search", params={"tag": tag, "q": q, "limit": 1000}, timeout=30
            ).json()
            words, last_is_prefix = text_search.query_words(q)
            expected = [
                e["id"]
                for e in newest_first
                if tag in e["tags"]
                and text_search.matches(text_search.words_of(orjson.dumps(e).decode()), words, last_is_prefix)
            ]
            assert [e["id"] for e in got["events"]] == expected, (tag, q)
            assert got["total"] == len(expected)
