"""How one provider under test is configured: the `replay.providers[]` entries of the config file.

The `provider:` value names a kind in :data:`~bakeoff.replay.providers.kinds.PROVIDERS` (built-in or
installed by entry point); the kind decides which APIs the entry may use and its default address.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bakeoff.replay.pricing import Price
from bakeoff.replay.providers.kinds import PROVIDERS, ProviderKind
from bakeoff.replay.registry import RegistryError

Api = Literal["chat.completions", "responses", "messages"]


class PriceConfig(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)

    def to_price(self) -> Price:
        return Price(
            self.input_per_mtok, self.output_per_mtok, self.cached_input_per_mtok, self.cache_write_per_mtok
        )


class ProviderConfig(BaseModel):
    """One provider: where it is, which model, which parameters override the recorded ones, its limits."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    provider: str
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

    @field_validator("provider")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        kind_of(value)  # an unknown kind fails here, with the nearest name
        return value

    @model_validator(mode="after")
    def _api_fits_provider(self) -> ProviderConfig:
        kind = kind_of(self.provider)
        if self.api is None:
            self.api = kind.apis[0]  # type: ignore[assignment]  # a kind's APIs are among Api's
        if self.api not in kind.apis:
            raise ValueError(f"api {self.api!r} is not offered by provider {self.provider!r}")
        if kind.needs_base_url and not self.base_url:
            raise ValueError(f"{self.provider} providers need a base_url")
        return self

    @property
    def kind(self) -> type[ProviderKind]:
        """What `provider:` names: its APIs, default address and how its provider is built."""
        return kind_of(self.provider)

    @property
    def url(self) -> str:
        return (self.base_url or self.kind.default_base_url or "").rstrip("/")

    def api_key(self) -> str | None:
        """The key from the environment variable named in `api_key_env` (never from the config itself)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return key.strip() if key else None  # a key read from a file often ends with a newline


def kind_of(name: str) -> type[ProviderKind]:
    """The provider kind called `name`; a ValueError with a suggestion when there is none."""
    try:
        kind = PROVIDERS.get(name)
    except RegistryError as exc:
        raise ValueError(str(exc)) from None
    if not (isinstance(kind, type) and issubclass(kind, ProviderKind)):
        raise ValueError(f"provider {name!r} does not name a ProviderKind subclass")
    return kind
