"""The replay engine's parts: dataset rows to cases, retries with backoff, token buckets."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from bakeoff.dataset_format import parse_json_lines
from bakeoff.errors import UsageError
from bakeoff.replay.errors import BadResponseError, ProviderError
from bakeoff.replay.run.ratelimit import TokenBucket
from bakeoff.replay.run.retry import with_retries
from bakeoff.replay.run.sources import cases_from_rows

EVENT = {
    "id": "e1",
    "provider": "openai",
    "api": "chat.completions",
    "model": "gpt-a",
    "tags": ["math"],
    "request": {"messages": [{"role": "user", "content": "2+2?"}]},
    "weight": 12.5,
    "response": {"text": "4", "finish_reason": "stop", "tool_calls": None},
}


def test_rows_become_cases_with_references_and_weights() -> None:
    rows = [
        EVENT,
        {**EVENT, "id": "e2", "expected": "four"},
        {"id": "t1", "input": "capital of France?", "expected": "Paris", "tags": "geo"},
        {**EVENT, "id": "e3", "status": "error"},
        {**EVENT, "id": "e4", "api": "embeddings"},
    ]
    loaded = cases_from_rows(rows)
    first, second, test_case = loaded.cases
    assert first.reference.text == "4" and not first.reference.from_expected and first.weight == 12.5
    assert second.reference.expected == "four" and second.reference.from_expected
    assert test_case.request == {"messages": [{"role": "user", "content": "capital of France?"}]}
    assert test_case.tags == ("geo",) and test_case.reference.expected == "Paris"
    assert [s["event_id"] for s in loaded.skipped] == ["e3", "e4"]
    assert [c.id for c in cases_from_rows(rows, tag="math", max_samples=1).cases] == ["e1"]


def test_bad_rows_and_lines_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="row 1"):
        cases_from_rows([{"what": "ever"}])
    with pytest.raises(UsageError, match=r"data\.jsonl:2"):
        parse_json_lines(b'{"id": 1}\n{oops\n', "data.jsonl")


async def test_retries_honour_retry_after_then_give_up() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ProviderError("busy", status_code=429, retryable=True, retry_after=1.5)
        return "ok"

    assert await with_retries(flaky, sleep=sleep) == ("ok", 2)
    assert waits == [1.5, 1.5]

    async def always_down() -> str:
        raise ProviderError("down", status_code=503, retryable=True)

    waits.clear()
    with pytest.raises(ProviderError, match="down"):
        await with_retries(always_down, attempts=4, base_s=1.0, rng=random.Random(1), sleep=sleep)
    assert len(waits) == 3 and all(0 <= w <= 1.0 * 2**i for i, w in enumerate(waits))

    async def refused() -> str:
        raise ProviderError("bad request", status_code=400, retryable=False)

    waits.clear()
    with pytest.raises(ProviderError):
        await with_retries(refused, sleep=sleep)
    assert waits == []


async def test_token_bucket_holds_the_rate() -> None:
    bucket = TokenBucket(rate_per_min=600)  # 10 a second, bursts of 10
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(25)))
    elapsed = time.monotonic() - started
    assert 1.3 <= elapsed <= 2.5  # 10 at once, then 15 more at 10 a second


async def test_token_bucket_for_tokens_per_minute() -> None:
    bucket = TokenBucket(rate_per_min=60_000, capacity=2_000)  # 1,000 tokens a second
    started = time.monotonic()
    for _ in range(3):
        await bucket.acquire(1_000)
    assert 0.8 <= time.monotonic() - started <= 1.6


async def test_a_wait_asked_for_is_capped_by_the_timeout_and_bad_answers_are_retried_once() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    calls = 0

    async def busy_for_minutes() -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ProviderError("busy", status_code=429, retryable=True, retry_after=360.0)
        return "ok"

    assert await with_retries(busy_for_minutes, wait_cap_s=5.0, sleep=sleep) == ("ok", 1)
    assert waits == [5.0]

    calls = 0

    async def garbage() -> str:
        nonlocal calls
        calls += 1
        raise BadResponseError("not JSON (text/html): b'<html>'", status_code=200)

    with pytest.raises(BadResponseError):
        await with_retries(garbage, attempts=4, sleep=sleep)
    assert calls == 2  # once more, not three more times
