"""The answer cache: deterministic requests only, shared through a file, failures never cached."""

from __future__ import annotations

from pathlib import Path

from bakeoff.replay.run.cache import ResponseCache, cache_key, cacheable
from bakeoff.replay.types import Completion


def test_what_is_cacheable() -> None:
    assert cacheable({"temperature": 0}) and cacheable({"seed": 1, "temperature": 0.7})
    assert not cacheable({"temperature": 0.7}) and not cacheable({})


def test_keys_ignore_key_order_but_not_content() -> None:
    a = cache_key("openai", "m", {"messages": [{"role": "user", "content": "x"}], "temperature": 0})
    b = cache_key("openai", "m", {"temperature": 0, "messages": [{"content": "x", "role": "user"}]})
    assert a == b
    assert a != cache_key(
        "anthropic", "m", {"messages": [{"role": "user", "content": "x"}], "temperature": 0}
    )
    assert a != cache_key("openai", "m", {"messages": [{"role": "user", "content": "y"}], "temperature": 0})


def test_round_trip_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "answers.sqlite"
    first = ResponseCache(path)
    answer = Completion(text="4", finish_reason="stop", input_tokens=3, output_tokens=1, latency_ms=12.0)
    first.put("k", answer)
    first.put(
        "failed", Completion(error={"type": "RateLimitError", "message": "slow down", "status_code": 429})
    )
    first.close()
    second = ResponseCache(path)
    hit = second.get("k")
    assert hit is not None and hit.cached and hit.text == "4" and hit.output_tokens == 1
    assert second.get("failed") is None and second.get("missing") is None
    second.close()
