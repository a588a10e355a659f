"""HTTP proxies for the replay's HTTP client: which one an origin goes through, and how to ask it.

The environment names them as other HTTP clients read it: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`
(either case) and `NO_PROXY`. Loopback hosts never go through an environment's proxy (as Go's
`net/http` does): a local model server is reached directly. Only `http://` proxies are spoken to; an
`https` origin is reached through a `CONNECT` tunnel, an `http` one with absolute-form request lines.
"""

from __future__ import annotations

import base64
import ipaddress
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class ProxyError(ValueError):
    """A proxy URL this client cannot use."""


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where it listens, and the `Proxy-Authorization` its URL's credentials give."""

    host: str
    port: int
    authorization: str | None = None

    def header(self) -> str:
        """The `Proxy-Authorization` header line (with its leading CRLF), or nothing."""
        return f"\r\nProxy-Authorization: {self.authorization}" if self.authorization else ""


def proxy_from_url(url: str) -> Proxy:
    """`http://[user:password@]host[:port]` as a Proxy; a URL without a scheme is taken as http."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ProxyError(f"unsupported proxy {url!r}: only http://host:port proxies are spoken to")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode()
    return Proxy(parts.hostname, parts.port or 80, authorization)


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def environment_proxy(scheme: str, host: str) -> Proxy | None:
    """The proxy the environment names for `scheme://host`, or None to connect directly."""
    if _loopback(host) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    url = proxies.get(scheme) or proxies.get("all")
    return proxy_from_url(url) if url else None


def connect_request(authority: str, proxy: Proxy) -> bytes:
    """The `CONNECT` request that opens a tunnel to `host:port` through `proxy`."""
    return f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}{proxy.header()}\r\n\r\n".encode()


def tunnel_status(head: bytes) -> int:
    """The status code of a proxy's answer to `CONNECT` (0 when it is not an HTTP status line)."""
    fields = head.split(b"\r\n", 1)[0].split(b" ", 2)
    return int(fields[1]) if len(fields) > 1 and fields[0].startswith(b"HTTP/") and fields[1].isdigit() else 0
