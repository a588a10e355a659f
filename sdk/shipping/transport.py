"""One HTTP POST of a gzip-compressed JSON batch to the collector; says how it went, never raises."""

from __future__ import annotations

import enum
import http.client
import ssl
from urllib.parse import urlsplit

from opentelemetry import context as otel_context

# OpenTelemetry's HTTP instrumentations honour this key: our own HTTP is never recorded as a span.
_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY


class Outcome(enum.Enum):
    """What became of a POST."""

    DELIVERED = "delivered"
    RETRY = "retry"  # collector down, overloaded or rate limiting: keep the batch and try later
    REJECTED = "rejected"  # the collector refused the batch itself (4xx): retrying would not help


class Transport:
    """A keep-alive HTTP(S) connection to the collector, used from the shipping thread only."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._connection: http.client.HTTPConnection | None = None
        self.last_error: str | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._connection

    def post(self, path: str, gzipped_body: bytes) -> Outcome:
        """POST `gzipped_body` to `path`; a broken keep-alive connection is retried once on a new one."""
        token = otel_context.attach(otel_context.set_value(_SUPPRESS, True))
        try:
            for attempt in range(2):
                try:
                    return self._post_once(path, gzipped_body)
                except (OSError, http.client.HTTPException) as exc:
                    self.close()
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    if attempt == 1 or isinstance(exc, TimeoutError):
                        return Outcome.RETRY
            return Outcome.RETRY
        finally:
            otel_context.detach(token)

    def _post_once(self, path: str, body: bytes) -> Outcome:
        connection = self._connect()
        connection.request("POST", self._prefix + path, body=body, headers=self._headers)
        response = connection.getresponse()
        detail = response.read(2048)
        if response.status < 300:
            self.last_error = None
            return Outcome.DELIVERED
        self.last_error = f"HTTP {response.status}: {detail.decode(errors='replace')[:200]}"
        if response.status in (408, 429) or response.status >= 500:
            return Outcome.RETRY
        return Outcome.REJECTED

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
