"""Prices: the genai-prices catalogue (tiers, cached input, cache writes), overrides, unknown models.

Reference figures are the providers' published list prices, worked by hand.
"""

from __future__ import annotations

import pytest

from bakeoff.replay.pricing import CatalogPrice, Price, cost, price_for


def test_catalogue_lookup_exact_and_by_dated_name() -> None:
    mini = price_for("openai", "gpt-4o-mini")
    assert isinstance(mini, CatalogPrice)
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.cached_input_per_mtok) == pytest.approx(
        (0.15, 0.6, 0.075)
    )
    dated = price_for("openai", "gpt-4o-mini-2024-07-18")
    assert dated is not None and dated.input_per_mtok == pytest.approx(0.15)  # not gpt-4o's price
    assert cost(price_for("anthropic", "claude-sonnet-4-5-20250929"), 1000, 1000) == pytest.approx(
        cost(price_for("anthropic", "claude-sonnet-4-5"), 1000, 1000)
    )


def test_long_context_tiers_are_priced_at_their_tier() -> None:
    """Claude Sonnet 4.5: $3 / $15 per MTok up to 200k input tokens, $6 / $22.50 beyond."""
    sonnet = price_for("anthropic", "claude-sonnet-4-5")
    assert cost(sonnet, 100_000, 1000) == pytest.approx(100_000 * 3e-6 + 1000 * 15e-6)
    assert cost(sonnet, 300_000, 1000) == pytest.approx(300_000 * 6e-6 + 1000 * 22.5e-6)
    gemini = price_for("google", "gemini-2.5-pro")  # $1.25 / $10 up to 200k, $2.50 / $15 beyond
    assert cost(gemini, 300_000, 1000) == pytest.approx(300_000 * 2.5e-6 + 1000 * 15e-6)


def test_cached_input_and_cache_writes() -> None:
    sonnet = price_for("anthropic", "claude-sonnet-4-5")  # cache reads $0.30, 5-minute writes $3.75
    assert cost(sonnet, 10_000, 0, cached_input_tokens=4000, cache_creation_input_tokens=2000) == (
        pytest.approx(4000 * 3e-6 + 4000 * 0.3e-6 + 2000 * 3.75e-6)
    )
    # Past the tier threshold the catalogue prices the cached part at its tier too ($0.60).
    assert cost(sonnet, 300_000, 0, cached_input_tokens=100_000) == pytest.approx(
        200_000 * 6e-6 + 100_000 * 0.6e-6
    )
    flat = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)
    assert cost(flat, 1_000_000, 500_000) == pytest.approx(6.0)
    assert cost(flat, 1_000_000, 0, cached_input_tokens=400_000) == pytest.approx(1.2 + 0.2)
    assert cost(Price(1.0, 1.0), 100, 100, cached_input_tokens=50) == pytest.approx(0.0002)
    assert cost(None, 10, 10) is None and cost(flat, None, 10) is None


def test_unknown_models_have_no_price_overrides_win_and_simulated_models_keep_theirs() -> None:
    assert price_for("openai", "my-finetune") is None
    assert price_for("ollama", "llama3") is None
    assert price_for("openai", "gpt-4o", Price(1.0, 2.0)) == Price(1.0, 2.0)
    assert price_for("openai", "sim-medium") == Price(0.4, 1.6)
