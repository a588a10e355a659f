"""What a request costs: a built-in, versioned price table, overridable per provider in the config.

Dated model names (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5-20250929`) take the price of their
longest listed prefix; the simulated models have their simulated prices. An unknown model has no
price: its cost is `None`, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Which table a provider's models are looked up in.
_TABLE_OF = {
    "openai": "openai",
    "openai-compatible": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "gemini": "google",
}


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Price:
        return cls(
            float(data["input_per_mtok"]),
            float(data["output_per_mtok"]),
            None if data.get("cached_input_per_mtok") is None else float(data["cached_input_per_mtok"]),
        )


@cache
def price_table() -> dict[str, Any]:
    """The built-in table: `{"version", "as_of", "models": {provider: {model: price}}}`."""
    text = resources.files("bakeoff.replay").joinpath("data/prices.json").read_text()
    table: dict[str, Any] = json.loads(text)
    return table


def price_for(provider: str, model: str, override: Price | None = None) -> Price | None:
    """The price of `model` on `provider`: the override, else the table's (longest prefix), else None."""
    if override is not None:
        return override
    models: dict[str, Any] = price_table()["models"].get(_TABLE_OF.get(provider, provider), {})
    if model in models:
        return Price.from_dict(models[model])
    prefixes = [name for name in models if model.startswith(name + "-")]
    if prefixes:
        return Price.from_dict(models[max(prefixes, key=len)])
    return _simulated_price(model)


def _simulated_price(model: str) -> Price | None:
    """The simulated models' prices (whatever provider they were recorded or replayed through)."""
    from bakeoff.replay.simulator.models import DEFAULT_MODELS

    for simulated in DEFAULT_MODELS:
        if simulated.name == model:
            return Price(simulated.input_per_mtok, simulated.output_per_mtok)
    return None


def cost(
    price: Price | None, input_tokens: int | None, output_tokens: int | None, cached_input_tokens: int = 0
) -> float | None:
    """USD for one request; None when the price or the token counts are unknown."""
    if price is None or input_tokens is None or output_tokens is None:
        return None
    cached = min(cached_input_tokens, input_tokens)
    cached_rate = (
        price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    )
    return (
        (input_tokens - cached) * price.input_per_mtok
        + cached * cached_rate
        + output_tokens * price.output_per_mtok
    ) / 1_000_000
