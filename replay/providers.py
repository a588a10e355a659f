"""Providers under test: a tiny protocol (`acomplete` / `aclose`) and the HTTP plumbing they share.

Replay speaks the providers' REST APIs directly over one aiohttp session (the official clients cost
too much CPU per request at high concurrency). A provider turns a canonical request into its API's
body, sends it (streaming when it can, to measure time to first token), and assembles a
:class:`~bakeoff.replay.types.Completion`. Failures raise :class:`ProviderError` saying whether a retry
may help; retrying is the engine's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson

from bakeoff.replay.errors import ProviderError, UntranslatableError
from bakeoff.replay.provider_config import ProviderConfig
from bakeoff.replay.translate import from_canonical
from bakeoff.replay.types import Completion

DEFAULT_TIMEOUT_S = 60.0
_RETRYABLE_STATUS = {408, 409, 429}
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout()  # the deadline is an asyncio.timeout (see `exchange`)
# aiohttp pauses a connection whose unread buffer passes twice this; streams are read at their end
_READ_BUFFER_BYTES = 1 << 20
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


def make_session(limit: int = 256) -> aiohttp.ClientSession:
    """One shared session: keep-alive connections, at most `limit` at once."""
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit, keepalive_timeout=30, ttl_dns_cache=300
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # provider APIs are stateless; skip cookie bookkeeping
        read_bufsize=_READ_BUFFER_BYTES,
        json_serialize=lambda o: orjson.dumps(o).decode(),
    )


class HttpProvider:
    """Shared by the HTTP providers: body building, the POST, timing and error mapping."""

    path = ""

    def __init__(self, config: ProviderConfig, session: aiohttp.ClientSession) -> None:
        self.id = config.id
        self.config = config
        self.session = session

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
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        path: str | None = None,
    ) -> T:
        """POST the body (to the API's path, or `path`) and `read` the answer, all within the timeout.

        HTTP and connection failures become :class:`ProviderError`. The deadline is one
        `asyncio.timeout` around the whole exchange rather than aiohttp's own timers, which would cost
        a timer and a context per read.
        """
        seconds = timeout or self.config.timeout or DEFAULT_TIMEOUT_S
        try:
            async with asyncio.timeout(seconds):
                response = await self.session.post(
                    self.config.url + (self.path if path is None else path),
                    data=orjson.dumps(body),
                    headers=self.headers(),
                    timeout=_NO_CLIENT_TIMEOUT,
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
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"{type(exc).__name__}: {exc}", retryable=True, error_type="ConnectionError"
            ) from exc

    async def acomplete(
        self, canonical: dict[str, Any], *, stream: bool | None = None, timeout: float | None = None
    ) -> Completion:
        streaming = self.config.stream if stream is None else stream
        streaming = True if streaming is None else streaming
        started = time.perf_counter()

        async def read(response: aiohttp.ClientResponse) -> Completion:
            if streaming:
                return await self.read_stream(response, started)
            return self.parse(orjson.loads(await response.read()))

        completion = await self.exchange(self.body(canonical, streaming), timeout, read)
        completion.latency_ms = (time.perf_counter() - started) * 1000
        return completion

    async def read_stream(self, response: aiohttp.ClientResponse, started: float) -> Completion:
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


async def _status_error(response: aiohttp.ClientResponse) -> ProviderError:
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


def make_provider(config: ProviderConfig, session: aiohttp.ClientSession) -> Provider:
    """The provider for a config entry."""
    if config.provider == "simulated":
        from bakeoff.replay.provider_simulated import SimulatedProvider

        return SimulatedProvider(config)
    if config.provider == "anthropic":
        from bakeoff.replay.provider_anthropic import AnthropicProvider

        return AnthropicProvider(config, session)
    from bakeoff.replay.provider_openai import OpenAIChatProvider, OpenAIResponsesProvider

    if config.api == "responses":
        return OpenAIResponsesProvider(config, session)
    return OpenAIChatProvider(config, session)
