"""The provider kinds a config can name (`provider: openai`), in one registry.

A kind says what it offers — the APIs it speaks (the first is the default), its default base URL,
whether it needs one — and builds the provider for a config entry. What is particular to a kind lives
on its class, so the config and the engine never test a kind by name. The built-ins are imported
lazily; a third party adds a kind with an entry point of the group ``bakeoff.providers`` pointing at a
:class:`ProviderKind` subclass::

    [bakeoff.providers]
    acme = acme_llm.bakeoff:AcmeKind
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from bakeoff.replay.registry import Registry

if TYPE_CHECKING:
    from bakeoff.replay.http.client import HttpClient
    from bakeoff.replay.providers.base import Provider
    from bakeoff.replay.providers.config import ProviderConfig

ENTRY_POINT_GROUP = "bakeoff.providers"


class ProviderKind:
    """What a `provider:` value stands for; subclasses set the class attributes and :meth:`create`."""

    apis: ClassVar[tuple[str, ...]] = ("chat.completions",)  # the first is the default
    default_base_url: ClassVar[str | None] = None  # None: the config must give a base_url
    needs_base_url: ClassVar[bool] = False
    simulated: ClassVar[bool] = False  # its answers are made up: reports say so

    @classmethod
    def create(cls, config: ProviderConfig, client: HttpClient) -> Provider:
        """The provider for one config entry, sharing the run's HTTP client."""
        raise NotImplementedError


class OpenAI(ProviderKind):
    """OpenAI's own API: chat completions or the responses API."""

    apis: ClassVar[tuple[str, ...]] = ("chat.completions", "responses")
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"

    @classmethod
    def create(cls, config: ProviderConfig, client: HttpClient) -> Provider:
        from bakeoff.replay.providers.openai import OpenAIChatProvider, OpenAIResponsesProvider

        if config.api == "responses":
            return OpenAIResponsesProvider(config, client)
        return OpenAIChatProvider(config, client)


class OpenAICompatible(OpenAI):
    """Any server speaking OpenAI's API (Ollama, vLLM, a gateway): the same wire, its own address."""

    default_base_url = None
    needs_base_url = True


class Anthropic(ProviderKind):
    """Anthropic messages."""

    apis = ("messages",)
    default_base_url = "https://api.anthropic.com"

    @classmethod
    def create(cls, config: ProviderConfig, client: HttpClient) -> Provider:
        from bakeoff.replay.providers.anthropic import AnthropicProvider

        return AnthropicProvider(config, client)


class Simulated(ProviderKind):
    """In-process models of known quality, speed and price; no network, any recorded API."""

    apis = ("chat.completions", "messages", "responses")
    simulated = True

    @classmethod
    def create(cls, config: ProviderConfig, client: HttpClient) -> Provider:
        from bakeoff.replay.providers.simulated import SimulatedProvider

        return SimulatedProvider(config)


PROVIDERS: Registry[type[ProviderKind]] = Registry(
    "provider",
    ENTRY_POINT_GROUP,
    {
        "openai": f"{__name__}:OpenAI",
        "anthropic": f"{__name__}:Anthropic",
        "openai-compatible": f"{__name__}:OpenAICompatible",
        "simulated": f"{__name__}:Simulated",
    },
)
