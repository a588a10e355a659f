"""Providers under test: a tiny protocol (`acomplete` / `aclose`) and the HTTP plumbing they share.

Replay speaks the providers' REST APIs directly over one lean HTTP client (see
:mod:`bakeoff.replay.http.client`; the official clients, and aiohttp, cost several times its CPU per
request). A provider turns a canonical request into its API's body, sends it (streaming when it can,
to measure time to first token), and assembles a
:class:`~bakeoff.replay.types.Completion`. Failures raise :class:`ProviderError` saying whether a retry
may help; retrying is the engine's job.

Whatever a provider answers is read here as untrusted input: a body that is not JSON, not UTF-8, of
the wrong shape, or a stream without its end marker raises :class:`BadResponseError` with a short
reason, so one misbehaving provider costs its own rows, never the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson

from bakeoff.replay.errors import BadResponseError, ProviderError, UntranslatableError
from bakeoff.replay.http import sse
from bakeoff.replay.http.client import HttpClient, HttpError, Response
from bakeoff.replay.http.retry_after import retry_delay
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.providers.translate import from_canonical
from bakeoff.replay.types import Completion

DEFAULT_TIMEOUT_S = 60.0
_RETRYABLE_STATUS = {408, 409, 429}
# What reading a malformed answer raises: orjson's and UTF-8's decode errors are ValueErrors; indexing,
# `.get` and joins on values of the wrong type raise the others.
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError)
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

        HTTP and connection failures become :class:`ProviderError`, an answer `read` cannot make sense
        of a :class:`BadResponseError`. The deadline is one `asyncio.timeout` around the whole exchange
        (a timer per request, not per read).
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
                except _MALFORMED as exc:
                    raise BadResponseError(_malformed(exc), status_code=response.status) from exc
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
            # A server that ignores `stream` and answers one JSON object is read as the plain answer.
            if streaming and not response.headers.get("content-type", "").startswith("application/json"):
                return await self.read_stream(response, started)
            return self.parse(json_object(await response.read(), response))

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


def json_object(data: bytes, response: Response) -> dict[str, Any]:
    """The JSON object a body holds; :class:`BadResponseError` saying what it holds instead."""
    kind = response.headers.get("content-type", "no content-type")
    if not data.strip():
        raise BadResponseError(f"an empty body ({kind})", status_code=response.status)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = "not UTF-8" if "UTF-8" in str(exc) else "not JSON"
        raise BadResponseError(f"{reason} ({kind}): {data[:60]!r}", status_code=response.status) from exc
    return expect(payload, dict, "the answer")


def event_object(data: str) -> dict[str, Any]:
    """The JSON object a stream event's data holds; :class:`BadResponseError` when it holds anything else."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadResponseError(f"a stream event that is not JSON: {data[:60]!r}") from exc
    return expect(payload, dict, "a stream event")


def stream_error(data: str) -> ProviderError:
    """The error of a stream whose provider reported a failure in it (overloaded, an internal error)."""
    return ProviderError(f"stream error: {data[:300]}", retryable=True, error_type="StreamError")


def unfinished(reader: sse.EventReader, end: str, response: Response) -> BadResponseError:
    """The error of a stream that stopped before its end marker `end` (or that was no stream at all)."""
    if not reader.count:
        kind = response.headers.get("content-type", "no content-type")
        return BadResponseError(
            f"no server-sent events in the body ({kind}): {reader.head!r}", status_code=response.status
        )
    return BadResponseError(
        f"the stream ended after {reader.count} events, without {end}",
        status_code=response.status,
        error_type="IncompleteStream",
    )


def _malformed(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 ({exc})"
    return f"an answer of an unexpected shape ({type(exc).__name__}: {exc})"[:300]


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number"}


def expect(value: Any, kind: type, what: str) -> Any:
    """`value` when it is a `kind` (dict, list or str), else :class:`BadResponseError` naming what it is."""
    if isinstance(value, kind):
        return value
    found = "missing" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)
    raise BadResponseError(f"{what} is {found}, not {_JSON_NAMES[kind]}")


def optional(container: dict[str, Any], key: str, kind: type, what: str) -> Any:
    """`container[key]` when it is absent (None) or a `kind`; else :class:`BadResponseError`."""
    value = container.get(key)
    return None if value is None else expect(value, kind, what)


def tokens(usage: Any, key: str) -> int | None:
    """A token count of a usage object (None when absent); a count that is not an integer is refused."""
    if not isinstance(usage, dict):
        return None
    value = usage.get(key)
    if value is None or (type(value) is int and value >= 0):
        return value
    raise BadResponseError(f"usage.{key} is {value!r}, not a token count")


async def _status_error(response: Response) -> ProviderError:
    text = (await response.read()).decode(errors="replace")[:500]
    try:
        detail = orjson.loads(text).get("error", {})
        message = detail.get("message", text) if isinstance(detail, dict) else str(detail)
    except (orjson.JSONDecodeError, AttributeError):
        message = text
    return ProviderError(
        f"HTTP {response.status}: {message}",
        status_code=response.status,
        retryable=response.status in _RETRYABLE_STATUS or response.status >= 500,
        retry_after=retry_delay(response.headers),
        error_type={429: "RateLimitError", 404: "NotFoundError", 401: "AuthenticationError"}.get(
            response.status, "APIStatusError" if response.status < 500 else "InternalServerError"
        ),
    )


def make_provider(config: ProviderConfig, client: HttpClient) -> Provider:
    """The provider for a config entry, built by the kind its `provider:` names."""
    return config.kind.create(config, client)
