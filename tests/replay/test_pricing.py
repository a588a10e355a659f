"""Prices: the built-in table, dated model names, overrides, unknown models and cached input."""

from __future__ import annotations

import pytest

from bakeoff.replay.pricing import Price, cost, price_for, price_table


def test_table_is_versioned_and_complete() -> None:
    table = price_table()
    assert table["version"] == 1 and table["as_of"]
    assert {"openai", "anthropic", "google"} <= set(table["models"])
    for models in table["models"].values():
        for price in models.values():
            assert price["input_per_mtok"] >= 0 and price["output_per_mtok"] >= 0


def test_lookup_exact_and_by_dated_name() -> None:
    assert price_for("openai", "gpt-4o-mini") == Price(0.15, 0.6, 0.075)
    assert price_for("openai", "gpt-4o-mini-2024-07-18") == Price(0.15, 0.6, 0.075)  # not gpt-4o's price
    assert price_for("anthropic", "claude-sonnet-4-5-20250929") == price_for("anthropic", "claude-sonnet-4-5")
    assert price_for("openai-compatible", "gpt-4.1-nano") == Price(0.1, 0.4, 0.025)


def test_unknown_models_have_no_price_and_overrides_win() -> None:
    assert price_for("openai", "my-finetune") is None
    assert price_for("ollama", "llama3") is None
    assert price_for("openai", "gpt-4o", Price(1.0, 2.0)) == Price(1.0, 2.0)


def test_cost() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)
    assert cost(price, 1_000_000, 500_000) == pytest.approx(6.0)
    assert cost(price, 1_000_000, 0, cached_input_tokens=400_000) == pytest.approx(1.2 + 0.2)
    assert cost(Price(1.0, 1.0), 100, 100, cached_input_tokens=50) == pytest.approx(0.0002)
    assert cost(None, 10, 10) is None and cost(price, None, 10) is None
