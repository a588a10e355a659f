"""The client's side of a SOCKS5 handshake (RFC 1928), with username/password authentication (RFC 1929).

Written against a small :class:`Channel` (write bytes, read exactly n) so that the HTTP client's
connection, which owns the socket, drives it before it starts speaking HTTP or TLS through the tunnel.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

_VERSION = 5
_NO_AUTHENTICATION = 0
_USER_PASSWORD = 2
_NO_ACCEPTABLE_METHOD = 0xFF
_CONNECT = 1
_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class SocksError(Exception):
    """The SOCKS5 proxy refused, or does not speak SOCKS5; the message is one line for the user."""


class Channel(Protocol):
    """The connection to the proxy, as the handshake uses it."""

    def write(self, data: bytes) -> None:
        """Send bytes to the proxy."""

    async def read_exactly(self, size: int) -> bytes:
        """The next `size` bytes from the proxy."""


def address(host: str) -> bytes:
    """The ATYP and address fields for `host`: an IPv4 or IPv6 address as such, else a domain name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) <= 255:
            raise SocksError(f"the host name {host!r} is too long for SOCKS5 (255 bytes)") from None
        return bytes([3, len(name)]) + name
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


def authentication(user: str, password: str) -> bytes:
    """The username/password request of RFC 1929."""
    name, secret = user.encode(), password.encode()
    return bytes([1, len(name)]) + name + bytes([len(secret)]) + secret


async def open_tunnel(
    channel: Channel, proxy: str, credentials: tuple[str, str] | None, host: str, port: int
) -> None:
    """Have the SOCKS5 proxy (named `proxy` in messages) connect to `host` (an address or a name it
    resolves) on `port`; once this returns, the channel's bytes are the origin's."""
    methods = bytes([_NO_AUTHENTICATION, _USER_PASSWORD]) if credentials else bytes([_NO_AUTHENTICATION])
    channel.write(bytes([_VERSION, len(methods)]) + methods)
    version, method = await channel.read_exactly(2)
    if version != _VERSION:
        raise SocksError(f"the proxy {proxy} does not answer as a SOCKS5 proxy")
    if method == _NO_ACCEPTABLE_METHOD:
        if credentials is None:
            raise SocksError(
                f"the SOCKS5 proxy {proxy} wants credentials: give them in the proxy URL "
                "(socks5://user:password@host:port)"
            )
        raise SocksError(f"the SOCKS5 proxy {proxy} accepts neither no authentication nor a password")
    if method == _USER_PASSWORD and credentials is not None:
        channel.write(authentication(*credentials))
        _, status = await channel.read_exactly(2)
        if status != 0:
            raise SocksError(f"the SOCKS5 proxy {proxy} refused the credentials of user {credentials[0]!r}")
    elif method != _NO_AUTHENTICATION:
        raise SocksError(f"the SOCKS5 proxy {proxy} chose an authentication method not offered ({method})")
    channel.write(bytes([_VERSION, _CONNECT, 0]) + address(host) + port.to_bytes(2, "big"))
    version, reply, _, kind = await channel.read_exactly(4)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if version != _VERSION:
        raise SocksError(f"the proxy {proxy} does not answer as a SOCKS5 proxy")
    if reply != 0:
        reason = _REPLIES.get(reply, f"reply {reply}")
        raise SocksError(f"the SOCKS5 proxy {proxy} refused a tunnel to {target}: {reason}")
    # The address the proxy bound follows; a client has no use for it, but must read past it.
    if kind == 3:
        (length,) = await channel.read_exactly(1)
    elif kind in (1, 4):
        length = 4 if kind == 1 else 16
    else:
        raise SocksError(f"the SOCKS5 proxy {proxy} answered with an unknown address type ({kind})")
    await channel.read_exactly(length + 2)
