"""Proxies for the replay's HTTP client: which one an origin goes through, and how to ask it.

The environment names them as other HTTP clients read it: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`
(either case) and `NO_PROXY`. Loopback hosts never go through an environment's proxy (as Go's
`net/http` does): a local model server is reached directly.

Four kinds of proxy URL are spoken to, credentials (percent-encoded) in the URL's user part:
- `http://` (port 80 by default): an `https` origin is reached through a `CONNECT` tunnel, an `http`
  one with absolute-form request lines; credentials go in `Proxy-Authorization: Basic`.
- `https://` (port 443): the same, over TLS to the proxy; an `https` origin is then TLS inside TLS.
- `socks5://` (port 1080): SOCKS5 (RFC 1928), username/password authentication (RFC 1929); the
  origin's name is resolved here and the proxy is given its address.
- `socks5h://`: the same, but the proxy resolves the name (for names only the proxy's network knows).
"""

from __future__ import annotations

import base64
import ipaddress
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


class ProxyError(ValueError):
    """A proxy URL this client cannot use."""


@dataclass(frozen=True)
class Proxy:
    """A proxy: its kind, where it listens, and the credentials its URL gave (never in its repr)."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # http(s): `Proxy-Authorization`
    scheme: str = "http"
    credentials: tuple[str, str] | None = field(default=None, repr=False)  # SOCKS5: user, password

    @property
    def socks(self) -> bool:
        """A SOCKS5 proxy: a plain tunnel for either kind of origin."""
        return self.scheme in ("socks5", "socks5h")

    @property
    def forwards_http(self) -> bool:
        """An HTTP proxy, which is sent `http` origins' requests in absolute form."""
        return not self.socks

    def header(self) -> str:
        """The `Proxy-Authorization` header line (with its leading CRLF), or nothing."""
        return f"\r\nProxy-Authorization: {self.authorization}" if self.authorization else ""

    def __str__(self) -> str:
        """The proxy's URL without its credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _shown(url: str) -> str:
    """`url` with any password masked, for messages."""
    scheme, _, rest = url.rpartition("://")
    user, at, address = rest.rpartition("@")
    if not at:
        return url
    name = user.partition(":")[0]
    return f"{scheme}://{name}:***@{address}" if scheme else f"{name}:***@{address}"


def proxy_from_url(url: str) -> Proxy:
    """A proxy URL (`http`, `https`, `socks5` or `socks5h`, see the module) as a Proxy.

    A URL without a scheme is taken as http. Raises :class:`ProxyError` (one line, password masked)
    for another scheme, a missing host, a bad port or SOCKS5 credentials longer than 255 bytes.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ProxyError(
            f"unsupported proxy {_shown(url)!r}: "
            "only http://, https://, socks5:// and socks5h:// proxies are spoken to"
        )
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ProxyError(f"proxy {_shown(url)!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ProxyError(f"proxy {_shown(url)!r} names no host")
    if parts.username is None:
        return Proxy(parts.hostname, port, scheme=scheme)
    user, password = unquote(parts.username), unquote(parts.password or "")
    if scheme in ("socks5", "socks5h"):
        if not 0 < len(user.encode()) <= 255 or len(password.encode()) > 255:
            raise ProxyError(f"proxy {_shown(url)!r}: SOCKS5 user names and passwords are 1 to 255 bytes")
        return Proxy(parts.hostname, port, scheme=scheme, credentials=(user, password))
    authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return Proxy(parts.hostname, port, authorization, scheme=scheme)


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


def authority(host: str, port: int) -> str:
    """`host:port` as a request target, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connect_request(target: str, proxy: Proxy) -> bytes:
    """The `CONNECT` request that opens a tunnel to `target` (`host:port`) through an HTTP proxy."""
    return f"CONNECT {target} HTTP/1.1\r\nHost: {target}{proxy.header()}\r\n\r\n".encode()


def tunnel_status(head: bytes) -> int:
    """The status code of a proxy's answer to `CONNECT` (0 when it is not an HTTP status line)."""
    fields = head.split(b"\r\n", 1)[0].split(b" ", 2)
    return int(fields[1]) if len(fields) > 1 and fields[0].startswith(b"HTTP/") and fields[1].isdigit() else 0
