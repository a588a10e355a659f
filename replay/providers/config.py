"""How one provider under test is configured: the `replay.providers[]` entries of the config file."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bakeoff.replay.pricing import Price

ProviderKind = Literal["openai", "anthropic", "openai-compatible", "simulated"]
Api = Literal["chat.completions", "responses", "messages"]
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


class PriceConfig(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)

    def to_price(self) -> Price:
        return Price(self.input_per_mtok, self.output_per_mtok, self.cached_input_per_mtok)


class ProviderConfig(BaseModel):
    """One provider: where it is, which model, which parameters override the recorded ones, its limits."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    provider: ProviderKind
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    api: Api | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    price: PriceConfig | None = None
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    stream: bool | None = None
    latency_scale: float = Field(default=1.0, ge=0)  # simulated providers: how much of the latency to wait

    @model_validator(mode="after")
    def _api_fits_provider(self) -> ProviderConfig:
        if self.api is None:
            self.api = "messages" if self.provider == "anthropic" else "chat.completions"
        allowed = {"anthropic": {"messages"}, "simulated": {"chat.completions", "messages", "responses"}}.get(
            self.provider, {"chat.completions", "responses"}
        )
        if self.api not in allowed:
            raise ValueError(f"api {self.api!r} is not offered by provider {self.provider!r}")
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError("openai-compatible providers need a base_url")
        return self

    @property
    def url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS.get(self.provider, "")).rstrip("/")

    def api_key(self) -> str | None:
        """The key from the environment variable named in `api_key_env` (never from the config itself)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return key.strip() if key else None  # a key read from a file often ends with a newline
