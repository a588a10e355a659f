"""No good event lost to a bad one: drills with the real openai client, a real collector or a receiver.

The application records through `bakeoff.init()` and the real `openai` client talks to the simulated LLM
server; events go to a real collector (uvicorn + DuckDB) or to a receiver answering what the drill needs.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from support.collector import CollectorProcess
from support.receiver import Receiver

QUESTION = [{"role": "user", "content": "what is two plus two"}]


@pytest.fixture()
def client(llm_server: SimulatorServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm_server.url + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture()
def start(tmp_path: Path) -> Iterator[Any]:
    """`start(url, **shipping settings)`: bakeoff recording to `url`; shut down after the test."""

    def init(url: str, **settings: Any) -> None:
        settings.setdefault("flush_interval_s", 30.0)  # batches form by count: the drills' sizes hold
        bakeoff.init(url, spool_dir=str(tmp_path / "spool"), **settings)

    yield init
    bakeoff.shutdown(1)


def stored(collector: CollectorProcess) -> dict[str, Any]:
    with urllib.request.urlopen(collector.url + "/v1/events?limit=1000", timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def assert_accounted(stats: dict[str, Any]) -> None:
    """Every recorded item is delivered, filtered or counted as lost: nothing vanishes uncounted."""
    assert stats["queued"] == 0 and stats["spool_pending"] == 0
    assert stats["recorded"] == stats["sent"] + stats["filtered"] + stats["undelivered"]


def test_one_bad_tag_attribute_costs_only_its_own_event(
    client: openai.OpenAI, collector: CollectorProcess, start: Any
) -> None:
    start(collector.url, batch_size=200)
    ids = []
    for i in range(200):
        attributes = {"shape": {"not": "a scalar"}} if i == 117 else {"n": i}
        with bakeoff.tag("drill", **attributes):
            client.chat.completions.create(model="m", messages=QUESTION)
        ids.append(bakeoff.last_event_id())
    assert not bakeoff.flush(30)  # one event was refused: flush says not everything was delivered
    stats = bakeoff.stats()
    assert stats["rejected"] == 1 and stats["accepted"] == 199
    assert sum(stats["rejected_reasons"].values()) == 1
    assert "attributes" in next(iter(stats["rejected_reasons"]))
    assert_accounted(stats)
    events = stored(collector)
    assert events["total"] == 199
    assert {e["id"] for e in events["events"]} == set(ids) - {ids[117]}


def test_a_70_bit_integer_is_sent_as_a_string_with_its_batch(
    client: openai.OpenAI, collector: CollectorProcess, start: Any
) -> None:
    start(collector.url, batch_size=200)
    ids = []
    for i in range(200):
        extra = {"extra_body": {"seed_big": 2**70}} if i == 42 else {}
        client.chat.completions.create(model="m", messages=QUESTION, **extra)
        ids.append(bakeoff.last_event_id())
    assert bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["accepted"] == 200 and stats["coerced"] == 1 and stats["undelivered"] == 0
    assert_accounted(stats)
    with urllib.request.urlopen(f"{collector.url}/v1/events/{ids[42]}", timeout=30) as response:
        event = json.loads(response.read())
    assert event["request"]["seed_big"] == str(2**70)  # every digit kept
    assert stored(collector)["total"] == 200


def test_large_prompts_from_8_threads_are_split_under_the_body_limit(
    client: openai.OpenAI, collector: CollectorProcess, start: Any
) -> None:
    # ~400 KB prompts: 256 of them (one batch by count) are ~100 MB, three times the collector's limit.
    start(collector.url)
    prompt = [{"role": "system", "content": "policy " * 57_000}, *QUESTION]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(900 // 8 + 1):
                client.chat.completions.create(model="m", messages=prompt)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert bakeoff.flush(120)
    stats = bakeoff.stats()
    assert stats["recorded"] == 904 and stats["accepted"] == 904 and stats["undelivered"] == 0
    assert stats["splits"] == 0  # cut by bytes up front: no batch was over the limit
    assert_accounted(stats)
    with urllib.request.urlopen(collector.url + "/v1/events?limit=1", timeout=30) as response:
        assert json.loads(response.read())["total"] == 904


def events_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body.get("events") or body.get("feedback") or []
    return items


def test_413_halves_the_batch_and_a_single_oversized_event_is_counted_alone(
    client: openai.OpenAI, receiver: Receiver, start: Any
) -> None:
    receiver.max_body_bytes = 200_000  # a collector configured far below the default limit
    start(receiver.url, batch_size=40)
    for i in range(40):
        text = "x" * (300_000 if i == 7 else 20_000)  # one event alone is over the limit
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert not bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["dropped_too_large"] == 1 and stats["sent"] == 39 and stats["undelivered"] == 1
    assert stats["splits"] > 0
    assert len(receiver.events) == 39 and set(receiver.deliveries.values()) == {1}
    assert_accounted(stats)


def partial(reason_of: Any) -> Any:
    """A receiver's answer like the collector's partial success: refuse the items `reason_of` names."""

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        items = events_of(body)
        refused = [
            {"index": i, "id": e.get("id"), "reason": reason_of(e)}
            for i, e in enumerate(items)
            if reason_of(e)
        ]
        kept = [e for i, e in enumerate(items) if i not in {r["index"] for r in refused}]
        if refused and not kept:
            return 422, {"error": "every event is invalid", "rejected": refused}, []
        return 202, {"accepted": len(kept), "duplicates": 0, "rejected": refused}, kept

    return answer


def test_partial_success_counts_refusals_by_reason_and_resends_none(
    client: openai.OpenAI, receiver: Receiver, start: Any
) -> None:
    def reason(event: dict[str, Any]) -> str | None:
        n = event["request"].get("n")
        return None if n is None else ("n must be 1" if n == 2 else "n is too large")

    receiver.answer = partial(reason)
    start(receiver.url, batch_size=30)
    for i in range(30):
        extra = {"n": 2} if i % 10 == 3 else ({"n": 9} if i == 5 else {})
        client.chat.completions.create(model="m", messages=QUESTION, **extra)
    assert not bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["rejected_reasons"] == {"n must be 1": 3, "n is too large": 1}
    assert stats["accepted"] == 26 and stats["rejected"] == 4
    assert len(receiver.headers) == 1  # the refused were not sent again
    assert_accounted(stats)


def test_a_batch_that_is_all_invalid_is_refused_once(
    client: openai.OpenAI, receiver: Receiver, start: Any
) -> None:
    receiver.answer = partial(lambda event: "model is not allowed")
    start(receiver.url, batch_size=10)
    for _ in range(10):
        client.chat.completions.create(model="m", messages=QUESTION)
    assert not bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["rejected_reasons"] == {"model is not allowed": 10} and len(receiver.headers) == 1
    assert_accounted(stats)


def test_a_collector_refusing_whole_batches_loses_only_the_bad_event(
    client: openai.OpenAI, receiver: Receiver, start: Any
) -> None:
    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        items = events_of(body)
        if any(e["request"].get("temperature") == 7 for e in items):
            return 422, {"error": "events.0.request.temperature: at most 2"}, []
        return 202, {"accepted": len(items), "duplicates": 0}, items

    receiver.answer = answer
    start(receiver.url, batch_size=64)
    for i in range(64):
        client.chat.completions.create(model="m", messages=QUESTION, temperature=7 if i == 50 else 0)
    assert not bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["sent"] == 63 and stats["rejected"] == 1 and len(receiver.events) == 63
    assert len(receiver.headers) <= 2 * 6 + 1  # halving finds the bad one in log2(64) rounds
    assert_accounted(stats)


@pytest.mark.parametrize("status", [500, 503, 507, 429, 401])
def test_a_failing_collector_is_retried_with_backoff_until_it_takes_everything(
    client: openai.OpenAI, receiver: Receiver, start: Any, status: int
) -> None:
    failures = iter(range(2))

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        if next(failures, None) is not None:
            return status, {"error": "disk full" if status == 507 else "try again"}, []
        return 202, {"accepted": len(events_of(body)), "duplicates": 0}, events_of(body)

    receiver.answer = answer
    start(receiver.url, batch_size=25)
    ids = []
    for _ in range(50):
        client.chat.completions.create(model="m", messages=QUESTION)
        ids.append(bakeoff.last_event_id())
    assert bakeoff.flush(30)
    stats = bakeoff.stats()
    assert stats["retries"] >= 2 and stats["spooled"] >= 25 and stats["undelivered"] == 0
    assert set(receiver.events) == set(ids) and set(receiver.deliveries.values()) == {1}
    assert_accounted(stats)


def test_spooled_batches_are_delivered_oldest_first(
    client: openai.OpenAI, receiver: Receiver, start: Any
) -> None:
    receiver.mode = "down"
    start(receiver.url, batch_size=5)
    ids = []
    for _ in range(40):
        client.chat.completions.create(model="m", messages=QUESTION)
        ids.append(bakeoff.last_event_id())
    assert not bakeoff.flush(1)
    assert bakeoff.stats()["spool_pending"] == 40
    order: list[str] = []

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        order.extend(e["id"] for e in events_of(body))
        return 202, {}, events_of(body)

    receiver.answer = answer
    receiver.mode = "ok"
    assert bakeoff.flush(30)
    assert order == ids


def test_no_collector_at_all_spools_and_flush_says_so(client: openai.OpenAI, start: Any) -> None:
    start("http://127.0.0.1:9")  # nothing listens there
    for _ in range(10):
        client.chat.completions.create(model="m", messages=QUESTION)
    assert not bakeoff.flush(1)
    stats = bakeoff.stats()
    assert stats["spool_pending"] == 10 and stats["undelivered"] == 0 and stats["last_error"]
