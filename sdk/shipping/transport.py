"""One HTTP POST of a JSON batch (gzip-compressed unless the collector is on loopback); never raises."""

from __future__ import annotations

import http.client
import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry import context as otel_context

# OpenTelemetry's HTTP instrumentations honour this key: our own HTTP is never recorded as a span.
_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY


_MAX_REPLY_BYTES = 4 * 1024 * 1024  # a partial-success answer lists a reason per refused event


@dataclass(frozen=True)
class Reply:
    """The collector's answer: `status` 0 when there was none (connection refused or lost, timeout)."""

    status: int
    body: bytes = b""
    retry_after_s: float | None = None


class Transport:
    """A keep-alive HTTP(S) connection to the collector, used from the shipping thread only."""

    def __init__(
        self, base_url: str, api_key: str | None, timeout: float, compress: bool | None = None
    ) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        # gzip costs ~6 us of CPU per event; over loopback it saves nothing: by default skipped there.
        self.compress = not _is_loopback(self._host) if compress is None else compress
        self._headers = {"Content-Type": "application/json"}
        if self.compress:
            self._headers["Content-Encoding"] = "gzip"
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

    def post(self, path: str, body: bytes) -> Reply:
        """POST `body` (gzipped when :attr:`compress`) to `path`; a broken keep-alive is retried once."""
        token = otel_context.attach(otel_context.set_value(_SUPPRESS, True))
        try:
            for attempt in range(2):
                try:
                    return self._post_once(path, body)
                except (OSError, http.client.HTTPException) as exc:
                    self.close()
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    if attempt == 1 or isinstance(exc, TimeoutError):
                        break
            return Reply(0)
        finally:
            otel_context.detach(token)

    def _post_once(self, path: str, body: bytes) -> Reply:
        connection = self._connect()
        connection.request("POST", self._prefix + path, body=body, headers=self._headers)
        response = connection.getresponse()
        detail = response.read(_MAX_REPLY_BYTES)
        if not response.isclosed():  # an answer longer than we read: the connection cannot be reused
            self.close()
        if response.status < 300:
            self.last_error = None
        else:
            self.last_error = f"HTTP {response.status}: {detail[:200].decode(errors='replace')}"
        return Reply(response.status, detail, _seconds(response.getheader("Retry-After")))

    def close(self) -> None:
        """Drop the connection (the next POST opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(header: str | None) -> float | None:
    """A `Retry-After` of seconds (the HTTP-date form is rare from a collector and taken as absent)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None
