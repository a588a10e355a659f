"""Prices: the genai-prices catalogue (tiers, cached input, cache writes), overrides, unknown models.

Reference figures are the providers' published list prices, worked by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from bakeoff.replay.pricing import CatalogPrice, Price, completion_cost, cost, price_for
from bakeoff.replay.types import Completion


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


def test_cached_tokens_reach_the_cost_of_an_answer() -> None:
    sonnet = price_for("anthropic", "claude-sonnet-4-5")
    answer = Completion(input_tokens=10_000, output_tokens=0, cached_input_tokens=8000)
    assert completion_cost(sonnet, answer) == pytest.approx(2000 * 3e-6 + 8000 * 0.3e-6)


async def _answered_with_cache(kind: str, body: dict[str, Any]) -> Completion:
    """One request to a local server that answers `body`, through the replay provider of `kind`."""
    from aiohttp import web

    from bakeoff.replay.providers.base import make_client, make_provider
    from bakeoff.replay.providers.config import ProviderConfig

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    app.router.add_post("/v1/messages", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai-compatible" else "")
    config = ProviderConfig(id="p", provider=kind, model="m", base_url=base, api_key_env=None)
    client = make_client()
    try:
        canonical = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
        return await make_provider(config, client).acomplete(canonical, stream=False)
    finally:
        await client.close()
        await runner.cleanup()


async def test_replayed_answers_carry_their_cached_tokens() -> None:
    chat = {
        "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 768},
        },
    }
    openai = await _answered_with_cache("openai-compatible", chat)
    assert (openai.input_tokens, openai.cached_input_tokens) == (1000, 768)
    message = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 5,
            "cache_read_input_tokens": 800,
            "cache_creation_input_tokens": 100,
        },
    }
    anthropic = await _answered_with_cache("anthropic", message)
    # Anthropic counts cache reads and writes apart; the whole input is their sum.
    assert (anthropic.input_tokens, anthropic.cached_input_tokens, anthropic.cache_creation_input_tokens) == (
        1000,
        800,
        100,
    )


def test_the_configs_price_overrides_with_cached_and_cache_write_rates() -> None:
    from bakeoff.replay.providers.config import PriceConfig

    price = PriceConfig(
        input_per_mtok=1.0, output_per_mtok=2.0, cached_input_per_mtok=0.1, cache_write_per_mtok=1.25
    ).to_price()
    assert price_for("anthropic", "claude-sonnet-4-5", price) is price
    assert cost(price, 1000, 100, cached_input_tokens=500, cache_creation_input_tokens=300) == pytest.approx(
        (200 * 1.0 + 500 * 0.1 + 300 * 1.25 + 100 * 2.0) / 1e6
    )
