"""What a request costs: the `genai-prices` catalogue, overridable per provider in the config.

The catalogue knows each model's tiers (long-context input priced higher past a threshold), cached
input and cache writes, and dated model names (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5-20250929`).
The config's `price:` overrides it; the simulated models have their simulated prices. An unknown model
has no price: its cost is `None`, never a guess (the run counts such models and warns).

Token counts follow the event's `usage`: `input_tokens` is the whole input, of which
`cached_input_tokens` were read from the provider's prompt cache and `cache_creation_input_tokens`
written to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bakeoff.replay.types import Completion

# Which catalogue provider a configured provider kind's models are looked up in.
_CATALOGUE_OF = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "gemini": "google",
}


@dataclass(frozen=True)
class Price:
    """USD per million tokens: a flat price (the config's `price:`, or a simulated model's)."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None  # None: the input price
    cache_write_per_mtok: float | None = None  # None: the input price

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Price:
        def optional(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        return cls(
            float(data["input_per_mtok"]),
            float(data["output_per_mtok"]),
            optional("cached_input_per_mtok"),
            optional("cache_write_per_mtok"),
        )

    def amount(self, input_tokens: int, output_tokens: int, cached: int = 0, written: int = 0) -> float:
        """USD for these token counts (`cached` and `written` are part of `input_tokens`)."""
        cached_rate = (
            self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        )
        write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        plain = max(0, input_tokens - cached - written)
        return (
            plain * self.input_per_mtok
            + cached * cached_rate
            + written * write_rate
            + output_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True)
class CatalogPrice(Price):
    """A model's price in the `genai-prices` catalogue: tiers, cached input and cache writes.

    The flat figures are the catalogue's rates for a small request (what a projection needs); `amount`
    asks the catalogue, so a 300k-token prompt is priced at its long-context tier.
    """

    provider_id: str = ""
    model_ref: str = ""
    tier_from: float = float("inf")  # input tokens from which a higher tier applies

    def amount(self, input_tokens: int, output_tokens: int, cached: int = 0, written: int = 0) -> float:
        # Below every tier the price is linear: the flat rates are the catalogue's own and cost
        # nothing to apply (asking the catalogue takes about a millisecond a request).
        if input_tokens < self.tier_from:
            return super().amount(input_tokens, output_tokens, cached, written)
        return _catalogue_amount(
            self.provider_id, self.model_ref, input_tokens, output_tokens, cached, written
        )


def _catalogue_amount(
    provider_id: str, model_ref: str, input_tokens: int, output_tokens: int, cached: int, written: int
) -> float:
    from genai_prices import Usage

    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached or None,
        cache_write_tokens=written or None,
    )
    provider, model = _catalogue_model(provider_id, model_ref)
    return float(model.calc_price(usage, provider, genai_request_timestamp=datetime.now(UTC)).total_price)


@cache
def _catalogue_model(provider_id: str, model_ref: str) -> tuple[Any, Any]:
    """(provider, model) of the catalogue; found once per model (matching names is the slow part)."""
    from genai_prices import data_snapshot

    found: tuple[Any, Any] = data_snapshot.get_snapshot().find_provider_model(
        model_ref, None, provider_id, None
    )
    return found


def _tier_from(model: Any) -> float:
    """The smallest input size at which some tier starts (0 for prices that change over time: always ask)."""
    from genai_prices.types import ModelPrice, TieredPrices

    prices = model.prices
    if not isinstance(prices, ModelPrice):
        return 0.0
    starts = [
        tier.start
        for value in vars(prices).values()
        if isinstance(value, TieredPrices)
        for tier in value.tiers
    ]
    return float(min(starts)) if starts else float("inf")


@cache
def catalogue_price(provider: str, model: str) -> CatalogPrice | None:
    """The catalogue's price of `model` on `provider`, or None when the catalogue does not know it."""
    provider_id = _CATALOGUE_OF.get(provider, provider)
    try:
        _catalogue_model(provider_id, model)
    except LookupError:
        return None

    def rate(output: int = 0, cached: int = 0, written: int = 0) -> float:
        # USD per million tokens, measured on 1,000 tokens: below every tier's threshold.
        return _catalogue_amount(provider_id, model, 1000, output, cached, written) * 1000

    base = rate()
    return CatalogPrice(
        input_per_mtok=base,
        output_per_mtok=rate(output=1000) - base,
        cached_input_per_mtok=rate(cached=1000),
        cache_write_per_mtok=rate(written=1000),
        provider_id=provider_id,
        model_ref=model,
        tier_from=_tier_from(_catalogue_model(provider_id, model)[1]),
    )


def price_for(provider: str, model: str, override: Price | None = None) -> Price | None:
    """The price of `model` on `provider`: the override, else a simulated model's, else the catalogue's."""
    if override is not None:
        return override
    return _simulated_price(model) or catalogue_price(provider, model)


def _simulated_price(model: str) -> Price | None:
    """The simulated models' prices (whatever provider they were recorded or replayed through)."""
    from bakeoff.replay.simulator.models import DEFAULT_MODELS

    for simulated in DEFAULT_MODELS:
        if simulated.name == model:
            return Price(simulated.input_per_mtok, simulated.output_per_mtok)
    return None


def completion_cost(price: Price | None, completion: Completion) -> float | None:
    """USD for one answer, its cached and cache-written input tokens priced as such."""
    return cost(
        price,
        completion.input_tokens,
        completion.output_tokens,
        completion.cached_input_tokens,
        completion.cache_creation_input_tokens,
    )


def cost(
    price: Price | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None = 0,
    cache_creation_input_tokens: int | None = 0,
) -> float | None:
    """USD for one request; None when the price or the token counts are unknown."""
    if price is None or input_tokens is None or output_tokens is None:
        return None
    cached = min(cached_input_tokens or 0, input_tokens)
    written = min(cache_creation_input_tokens or 0, input_tokens - cached)
    return price.amount(input_tokens, output_tokens, cached, written)
