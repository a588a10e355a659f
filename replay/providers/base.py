"""Providers under test: a tiny protocol (`acomplete` / `aclose`) and the HTTP plumbing they share.

Replay speaks the providers' REST APIs directly over one lean HTTP client (see
:mod:`bakeoff.replay.http.client`; the official clients, and aiohttp, cost several times its CPU per
request). A provider turns a canonical request into its API's body, sends it (streaming when it can,
to measure time to first token), and assembles a
:class:`~bakeoff.replay.types.Completion`. Failures raise :class:`ProviderError` saying whether a retry
may help; retrying is the engine's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson

from bakeoff.replay.errors import ProviderError, UntranslatableError
from bakeoff.replay.http.client import HttpClient, HttpError, Response
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.providers.translate import from_canonical
from bakeoff.replay.types import Completion

DEFAULT_TIMEOUT_S = 60.0
_RETRYABLE_STATUS = {408, 409, 429}
T = TypeVar("T")


class Provider(Protocol):
    """What the engine needs of a provider."""

    id: str
    config: ProviderConfig

    async def acomplete(
        self, canonical: dict[str, Any], *, stream: bool | None = None, timeout: float | None = None
    ) -> Completion:
        """Answer one canonical request."""

    async def aembed(
        self, texts: list[str], timeout: float | None = None
    ) -> tuple[list[list[float]], int | None]:
        """Embeddings of `texts` and the input tokens they cost."""

    async def aclose(self) -> None:
        """Release connections."""


def make_client(limit: int = 256) -> HttpClient:
    """One shared client: keep-alive connections, at most `limit` requests at once."""
    return HttpClient(limit=limit, keepalive_s=30.0)


class HttpProvider:
    """Shared by the HTTP providers: body building, the POST, timing and error mapping."""

    path = ""

    def __init__(self, config: ProviderConfig, client: HttpClient) -> None:
        self.id = config.id
        self.config = config
        self.client = client

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def body(self, canonical: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The API's request body: the translated request, the config's model and params on top."""
        assert self.config.api is not None
        body, _ = from_canonical(self.config.api, {**canonical, "model": self.config.model})
        body.update(self.config.params)
        if stream:
            body["stream"] = True
        return body

    async def exchange(
        self,
        body: dict[str, Any],
        timeout: float | None,
        read: Callable[[Response], Awaitable[T]],
        path: str | None = None,
    ) -> T:
        """POST the body (to the API's path, or `path`) and `read` the answer, all within the timeout.

        HTTP and connection failures become :class:`ProviderError`. The deadline is one
        `asyncio.timeout` around the whole exchange (a timer per request, not per read).
        """
        seconds = timeout or self.config.timeout or DEFAULT_TIMEOUT_S
        try:
            async with asyncio.timeout(seconds):
                response = await self.client.request(
                    "POST",
                    self.config.url + (self.path if path is None else path),
                    self.headers(),
                    orjson.dumps(body),
                )
                try:
                    if response.status >= 400:
                        raise await _status_error(response)
                    return await read(response)
                finally:
                    response.release()
        except TimeoutError as exc:
            raise ProviderError(
                f"no answer within {seconds:g} s", retryable=True, error_type="Timeout"
            ) from exc
        except HttpError as exc:
            raise ProviderError(str(exc), retryable=True, error_type="ConnectionError") from exc

    async def acomplete(
        self, canonical: dict[str, Any], *, stream: bool | None = None, timeout: float | None = None
    ) -> Completion:
        streaming = self.config.stream if stream is None else stream
        streaming = True if streaming is None else streaming
        started = time.perf_counter()

        async def read(response: Response) -> Completion:
            if streaming:
                return await self.read_stream(response, started)
            return self.parse(orjson.loads(await response.read()))

        completion = await self.exchange(self.body(canonical, streaming), timeout, read)
        completion.latency_ms = (time.perf_counter() - started) * 1000
        return completion

    async def read_stream(self, response: Response, started: float) -> Completion:
        raise NotImplementedError

    def parse(self, payload: dict[str, Any]) -> Completion:
        raise NotImplementedError

    async def aembed(
        self, texts: list[str], timeout: float | None = None
    ) -> tuple[list[list[float]], int | None]:
        """Embeddings of `texts` and the input tokens they cost; providers without an endpoint refuse."""
        raise UntranslatableError(
            f"provider {self.id!r} ({self.config.provider}) offers no embeddings endpoint"
        )

    async def aclose(self) -> None:
        return None


async def _status_error(response: Response) -> ProviderError:
    text = (await response.read()).decode(errors="replace")[:500]
    try:
        detail = orjson.loads(text).get("error", {})
        message = detail.get("message", text) if isinstance(detail, dict) else str(detail)
    except (orjson.JSONDecodeError, AttributeError):
        message = text
    retry_after = response.headers.get("retry-after")
    try:
        delay = float(retry_after) if retry_after is not None else None
    except ValueError:
        delay = None
    return ProviderError(
        f"HTTP {response.status}: {message}",
        status_code=response.status,
        retryable=response.status in _RETRYABLE_STATUS or response.status >= 500,
        retry_after=delay,
        error_type={429: "RateLimitError", 404: "NotFoundError", 401: "AuthenticationError"}.get(
            response.status, "APIStatusError" if response.status < 500 else "InternalServerError"
        ),
    )


def make_provider(config: ProviderConfig, client: HttpClient) -> Provider:
    """The provider for a config entry."""
    if config.provider == "simulated":
        from bakeoff.replay.providers.simulated import SimulatedProvider

        return SimulatedProvider(config)
    if config.provider == "anthropic":
        from bakeoff.replay.providers.anthropic import AnthropicProvider

        return AnthropicProvider(config, client)
    from bakeoff.replay.providers.openai import OpenAIChatProvider, OpenAIResponsesProvider

    if config.api == "responses":
        return OpenAIResponsesProvider(config, client)
    return OpenAIChatProvider(config, client)
